"""``edgetiming site``: turn results bundles into pages, then run ``mkdocs build --strict``.

Generated pages go into ``docs/recipes/`` and ``docs/runners/`` (ignored by
git) and a generated MkDocs config ``build/mkdocs.yml`` extends the
project's ``mkdocs.yml`` with the nav of those pages. The executor never
imports this module; this module only reads bundles through
:mod:`edgetiming.results.store`.
"""

from __future__ import annotations

import html
import os
import posixpath
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import yaml

from edgetiming.casestudies import pages as casestudy_pages
from edgetiming.host import fingerprint
from edgetiming.results import bundlecompare, history, store
from edgetiming.results.report import figure_outputs
from edgetiming.results.result import LEGACY_RULE_LABEL, Metric, Result, typed_bundles
from edgetiming.run import recipe as recipes
from edgetiming.site import atomic, claims, damaged, fleet_pages, webbench
from edgetiming.stats.quantiles import format_number

__all__ = ["SiteError", "SiteReport", "build_site", "generate", "serve"]

GENERATED_DIRS = ("recipes", "runners", "case-studies", "webbench")
_STATUS_CLASS = {
    "OK": "ok", "CACHED": "ok", "EXPECTED_FAILURE": "warn", "FAILED": "bad", "TIMEOUT": "bad",
    "KERNEL_DIED": "bad", "UNEXPECTED_PASS": "bad",
}


class SiteError(Exception):
    """The site cannot be built; the message names the file and the fix."""


@dataclass
class SiteReport:
    config_path: Path
    primary_runner: str | None
    pages: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    regressions: list[str] = field(default_factory=list)
    #: steps between runs with the same cache key: variation, not regressions
    shifts: list[str] = field(default_factory=list)
    history_notes: list[str] = field(default_factory=list)
    history_runners: list[str] = field(default_factory=list)
    #: guide claims the primary runner contradicts or does not support (site.claims)
    claims: list[str] = field(default_factory=list)


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _choose_primary(bundles: list[store.RunnerBundle], requested: str | None) -> str | None:
    names = [b.runner for b in bundles]
    if requested:
        if requested not in names:
            raise SiteError(
                f"--primary {requested!r}: no results for that runner; runners with results: "
                + (", ".join(names) or "none (run `edgetiming run` first)")
            )
        return requested
    if not names:
        return None
    local = fingerprint.default_runner_name()
    if local in names:
        return local
    if len(names) == 1:
        return names[0]
    raise SiteError(f"results hold several runners ({', '.join(names)}): choose one with --primary")


def state_html(metric: Metric, footnote: int | None = None) -> str:
    """The one-word state with its reasons as a tooltip and, when ``footnote`` is given, a marker
    pointing at the footnote that spells them out."""
    word = fleet_pages.state_word(metric)
    if metric.state_reasons() and footnote is not None:
        word += f'<sup><a href="#et-reason-{footnote}">{footnote}</a></sup>'
    return word


def intervals_html(metric: Metric) -> str:
    """The metric's 95% interval and, when reported, its within-run and between-run intervals."""
    parts = [_esc(metric.interval()) if metric.ci else "none"]
    if metric.ci_within:
        parts.append(f"within-run {_esc(metric.interval('ci_within'))}")
    if metric.ci_between:
        runs = f" ({metric.runs} runs)" if metric.runs else ""
        parts.append(f"between-run {_esc(metric.interval('ci_between'))}{runs}")
    return "<br>".join(parts)


def metrics_table_html(metrics: dict[str, Metric]) -> str:
    """The table of reported metrics: value, intervals, n, state; the reasons as numbered footnotes."""
    rows, notes = [], []
    for name, metric in sorted(metrics.items()):
        footnote = None
        if metric.state_reasons():
            notes.append(metric.state_reasons())
            footnote = len(notes)
        n = format_number(metric.n) if metric.n is not None else "not given"
        rows.append(f"<tr><td><code>{_esc(name)}</code></td><td>{_esc(metric.shown())}</td>"
                    f"<td>{intervals_html(metric)}</td><td>{_esc(n)}</td><td>{state_html(metric, footnote)}</td></tr>")
    out = ['<table class="et-metrics"><tr><th>metric</th><th>value</th><th>95% CI</th><th>n</th><th>state</th></tr>',
           *rows, "</table>"]
    if notes:
        out.append('<ol class="et-state-reasons">')
        out += [f'<li id="et-reason-{i}">{_esc(text)}</li>' for i, text in enumerate(notes, start=1)]
        out.append("</ol>")
    return "".join(out)


def _header_html(result: Result, *, stale: bool, runner_href: str, downloads: dict[str, str]) -> str:
    """The result header box shown above a recipe's executed notebook."""
    status = result.status.value
    sha = (result.git.get("sha") or "unknown")[:10]
    if result.git.get("dirty"):
        sha += " (uncommitted changes)"
    mode = result.mode
    rows = [
        ("Runner", f'<a href="{_esc(runner_href)}">{_esc(result.runner)}</a>'),
        ("Run", f'{_esc(result.started_at)} in {result.duration_s:.0f} s'),
        ("Git", f"<code>{_esc(sha)}</code>"),
        ("Mode", f'<span class="et-mode et-{mode}">{mode}</span>'
                 + (" (small budgets: numbers are a preview, not a claim)" if mode == "quick" else "")),
        ("Status", f'<span class="et-status et-{_STATUS_CLASS.get(status, "warn")}">{_esc(status)}</span>'),
        ("Recipe version", f"<code>{_esc(result.recipe_version)}</code>"
                           + (" <strong>stale</strong>: the recipe changed since this run" if stale else "")),
        ("Download", " · ".join(f'<a href="{_esc(href)}" download>{_esc(label)}</a>' for label, href in downloads.items())),
    ]
    parts = ['<div class="et-result" data-status="' + _esc(status) + '">', "<table>"]
    parts += [f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows]
    parts.append("</table>")
    if result.error:
        parts.append(f'<p class="et-error"><strong>{_esc(result.error["kind"])}</strong>: '
                     f'{_esc(result.error["message"])}</p>')
    if result.checks:
        parts.append('<p><strong>SLO checklist on this runner</strong></p>')
        parts += checklist_html(result.checks)
    if result.metrics:
        legacy = f" ({LEGACY_RULE_LABEL})" if result.legacy else ""
        parts.append(f"<details><summary>Reported metrics{_esc(legacy)}</summary>"
                     + metrics_table_html(result.metrics) + "</details>")
    parts.append("</div>")
    return "\n".join(parts)


def _param_line(name: str, value: Any) -> str:
    return f"    --param {name}={value!r}" if isinstance(value, str) else f"    --param '{name}={value!r}'"


def _run_yourself_html(recipe: recipes.Recipe, result: Result, bundle_zip: str) -> str:
    """The box telling a reader how to run this recipe on their device and compare: the command
    carries the parameters of the run this page shows (and ``--quick`` when it was a quick run)."""
    quick = " --quick" if result.quick else ""
    params = "\n".join(_param_line(name, value) for name, value in result.parameters.items())
    run = (f"edgetiming run recipes/{recipe.slug}.py --runner my-board{quick} \\\n" + params.replace("\n", " \\\n"))
    return (
        '<details class="et-run-yourself" open><summary><strong>Run it yourself</strong></summary>'
        "<p>From a clone of this repository, on your device (Debian/Ubuntu, Python 3.10+), with the "
        f"parameters of the {result.mode} run shown on this page:</p>"
        "<pre><code>./scripts/test -q -x tests/unit/test_public_api.py   # sets up .venv with edgetiming\n"
        "source .venv/bin/activate\n"
        f"{html.escape(run)}</code></pre>"
        "<p>Change the values to your model (an <code>.onnx</code> path), its input shape and your deadline. "
        "Or open the <code>.ipynb</code> download in Jupyter and edit its <code>parameters</code> cell. "
        "Then compare your result with this page's:</p>"
        f'<pre><code>edgetiming compare {html.escape(Path(bundle_zip).name)} results/my-board/{recipe.slug}</code></pre>'
        f'<p>(download <a href="{html.escape(bundle_zip)}" download>{html.escape(Path(bundle_zip).name)}</a>: '
        f"this page's result and raw samples from runner <code>{html.escape(result.runner)}</code>).</p>"
        + webbench.recipe_link_html(result.parameters) + "</details>"
    )


def _link_figures(nb: nbformat.NotebookNode, result: Result) -> None:
    """Replace each reported figure's inline PNG by a link to the figure file, with its alt text.

    The figure files are copied next to the page (``recipes/figures/<recipe>/``);
    the image opens full size when clicked.
    """
    reported = {f["name"]: f for f in result.figures}
    for output, name in figure_outputs(nb):
        if name not in reported:
            continue
        src = f"figures/{result.recipe}/{name}.png"
        alt = html.escape(reported[name]["alt"], quote=True)
        output["data"] = {
            "text/html": f'<figure class="et-figure"><a href="{src}" title="open full size">'
                         f'<img src="{src}" alt="{alt}" loading="lazy"></a></figure>',
            "text/plain": reported[name]["alt"],
        }
        output["metadata"] = {}


def _recipe_notebook(result: Result, bundle_dir: Path, header: str) -> nbformat.NotebookNode:
    nb = nbformat.read(bundle_dir / result.run_dir / "notebook.ipynb", as_version=4)
    _link_figures(nb, result)
    at = 1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0
    nb.cells.insert(at, nbformat.v4.new_markdown_cell(header))
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    return nb


def generate(
    *, project_dir: Path, results_dir: Path | list[Path], primary_runner: str | None = None,
    build_dir: Path | None = None, site_dir: Path | None = None, history_sources: list[str] | None = None,
) -> SiteReport:
    """Write the generated pages and the MkDocs config; return what was generated.

    ``history_sources`` are earlier published sites (http(s) addresses or built
    site folders) whose runner histories are merged with the bundles' own, so
    the history survives ephemeral runners; see :func:`history.read_published`.
    """
    project_dir = project_dir.resolve()
    docs_dir = project_dir / "docs"
    base_config = project_dir / "mkdocs.yml"
    if not base_config.is_file() or not docs_dir.is_dir():
        raise SiteError(f"{project_dir}: needs mkdocs.yml and docs/; pass --project with the project root")
    build_dir = (build_dir or project_dir / "build").resolve()
    site_dir = (site_dir or project_dir / "site").resolve()
    results_dirs = results_dir if isinstance(results_dir, list) else [results_dir]
    existing = [Path(d) for d in results_dirs if Path(d).is_dir()]
    bundles, problems = store.merge_results_dirs(existing)
    bundles = typed_bundles(bundles)
    problems += [f"{d}: no results yet; recipe pages say so. Run `edgetiming run` to fill them"
                 for d in results_dirs if not Path(d).is_dir()]
    first_damage = damaged.strict_message([p for p in problems if getattr(p, "runner", None) == primary_runner])
    if primary_runner and primary_runner not in {b.runner for b in bundles} and first_damage:
        raise SiteError(f"--primary {primary_runner!r}: {first_damage}")
    primary = _choose_primary(bundles, primary_runner)
    damaged_results = damaged.by_recipe(problems, primary)
    earlier: dict[str, list[list[dict[str, Any]]]] = {}
    notes: list[str] = []
    for source in history_sources or []:
        try:
            found, note = history.read_published(source)
        except history.HistoryError as exc:
            raise SiteError(str(exc)) from None
        notes.append(note)
        for runner, entries in found.items():
            earlier.setdefault(runner, []).append(entries)
    for name in GENERATED_DIRS:
        shutil.rmtree(docs_dir / name, ignore_errors=True)
        (docs_dir / name).mkdir(parents=True)
    report = SiteReport(config_path=build_dir / "mkdocs.yml", primary_runner=primary, problems=problems,
                        history_notes=notes)

    recipe_paths = recipes.discover(project_dir / "recipes") if (project_dir / "recipes").is_dir() else []
    by_runner = {b.runner: b for b in bundles}
    results_index: dict[str, Any] = {"runner": primary, "recipes": {}}
    recipe_nav: list[Any] = ["recipes/index.md"]
    index_rows = []
    downloads_dir = docs_dir / "recipes" / "downloads"
    downloads_dir.mkdir()
    current_versions: dict[str, Any] = {}
    pages: dict[str, str] = {}
    for path in recipe_paths:
        try:
            recipe = recipes.load(path)
        except recipes.RecipeError as exc:
            problems.append(str(exc))
            continue
        current_versions[recipe.slug] = recipe.version
        shutil.copyfile(path, downloads_dir / f"{recipe.slug}.py")
        clean = jupytext.reads(path.read_text(encoding="utf-8"), fmt="py:percent")
        clean.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(clean, downloads_dir / f"{recipe.slug}.ipynb")
        downloads = {f"{recipe.slug}.py": f"downloads/{recipe.slug}.py", f"{recipe.slug}.ipynb": f"downloads/{recipe.slug}.ipynb"}
        result = by_runner[primary].results.get(recipe.slug) if primary else None
        if result is None and primary and recipe.slug in damaged_results:
            page = _text_page(docs_dir, recipe.slug, damaged.page_markdown(recipe.title, recipe.slug, primary,
                                                                           damaged_results[recipe.slug]))
            index_rows.append((recipe, None, page))
        elif result is None:
            page = _text_page(
                docs_dir, recipe.slug,
                f"# {recipe.title}\n\nThis recipe has no result on runner `{primary or 'none'}` yet. "
                f"Run it with `edgetiming run recipes/{recipe.slug}.py`.\n\n"
                f"Download: [{recipe.slug}.py](downloads/{recipe.slug}.py) · "
                f"[{recipe.slug}.ipynb](downloads/{recipe.slug}.ipynb)\n")
            index_rows.append((recipe, None, page))
        else:
            stale = recipe.version(result.parameters) != result.recipe_version
            bundle_zip = f"downloads/{recipe.slug}-{primary}.zip"
            bundle_dir = by_runner[primary].bundle_dir(recipe.slug)
            (docs_dir / "recipes" / bundle_zip).write_bytes(bundlecompare.zip_bundle(bundle_dir, result))
            downloads[Path(bundle_zip).name] = bundle_zip
            header = _header_html(result, stale=stale, runner_href=f"../runners/{primary}.html", downloads=downloads)
            header += "\n" + fleet_pages.cross_runner_html(
                recipe.slug, bundles, is_stale=lambda r, v=recipe.version: v(r.parameters) != r.recipe_version)
            header += "\n" + _run_yourself_html(recipe, result, bundle_zip)
            nb = _recipe_notebook(result, by_runner[primary].bundle_dir(recipe.slug), header)
            page = f"recipes/{recipe.slug}.ipynb"
            nbformat.write(nb, docs_dir / page)
            index_rows.append((recipe, result, page))
            results_index["recipes"][recipe.slug] = _index_entry(
                result, by_runner[primary].bundle_dir(recipe.slug), docs_dir, page)
        recipe_nav.append({recipe.title: page})
        pages[recipe.slug] = page
        report.pages.append(page)
    _write_recipes_index(docs_dir / "recipes" / "index.md", index_rows, primary, damaged_results)
    results_index["damaged"] = damaged.index_entries(damaged_results)

    runner_nav: list[Any] = ["runners/index.md"]
    published: dict[str, list[dict[str, Any]]] = {r: history.merge(h) for r, h in earlier.items()}
    for bundle in bundles:
        page = f"runners/{bundle.runner}.md"
        folders = {bundle.path, *bundle.sources.values()}
        entries = history.merge([history.load(folder, problems) for folder in sorted(folders)]
                                + earlier.get(bundle.runner, []))
        published[bundle.runner] = entries
        regressions = history.find_regressions(entries)
        report.regressions += [r.message(bundle.runner) for r in regressions if r.is_regression]
        report.shifts += [r.message(bundle.runner) for r in regressions if not r.is_regression]
        (docs_dir / page).write_text(
            fleet_pages.runner_page(bundle, current_versions=current_versions, pages=pages, docs_dir=docs_dir,
                                    history_entries=entries, regressions=regressions,
                                    others=[b.fingerprint for b in bundles if b is not bundle]), encoding="utf-8")
        runner_nav.append({bundle.runner: page})
        report.pages.append(page)
    (docs_dir / "runners" / "index.md").write_text(
        fleet_pages.runners_index(bundles, primary, pages=pages, current_versions=current_versions),
        encoding="utf-8")
    # every runner's history is published, also of runners absent from this build, so none is lost
    history.write_published(docs_dir, published)
    report.history_runners = sorted(published)

    case_nav: list[Any] = ["case-studies/index.md"]
    if (project_dir / "case_studies").is_dir():
        case_nav = casestudy_pages.generate_pages(project_dir / "case_studies", docs_dir,
                                                  recipes_dir=project_dir / "recipes", problems=problems)
        report.pages += [p for entry in case_nav[1:] for p in entry.values()]
    else:
        (docs_dir / "case-studies").mkdir(exist_ok=True)
        (docs_dir / "case-studies" / "index.md").write_text(
            "# Case studies\n\nNo case study has been contributed yet.\n", encoding="utf-8")

    try:  # the "Run it on this device" page: onnxruntime-web, the models, the runners' numbers
        webbench.write_assets(docs_dir, bundles, project_dir=project_dir)
    except webbench.WebbenchError as exc:
        raise SiteError(str(exc)) from None
    results_index["claims"] = _claims(docs_dir, bundles, primary, pages, report)
    config = _load_base_config(base_config)
    config["docs_dir"] = str(docs_dir)
    config["site_dir"] = str(site_dir)
    config["nav"] = _expand_nav(config.get("nav", []), {"recipes/index.md": recipe_nav, "runners/index.md": runner_nav,
                                                            "case-studies/index.md": case_nav})
    build_dir.mkdir(parents=True, exist_ok=True)
    index_path = build_dir / "results-index.json"
    store.atomic_write_json(index_path, results_index)
    config.setdefault("extra", {})["edgetiming_results"] = str(index_path)
    hooks = [str(Path(h) if Path(h).is_absolute() else project_dir / h) for h in config.get("hooks", [])]
    config["hooks"] = [str(Path(__file__).with_name("mkdocs_hooks.py")), *hooks]
    for plugin in config.get("plugins", []):
        if isinstance(plugin, dict) and "mkdocs-jupyter" in plugin:
            plugin["mkdocs-jupyter"]["cache_dir"] = str(build_dir / ".cache" / "mkdocs-jupyter")
    store.atomic_write_bytes(report.config_path, yaml.safe_dump(config, sort_keys=False).encode("utf-8"))
    return report


def _humanize(name: str) -> str:
    """A check's identifier as words: "det.fp32.p99-within-deadline" -> "Det fp32 p99 within deadline"."""
    words = name.replace(".", " ").replace("-", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def checklist_html(checks: list[dict[str, Any]]) -> list[str]:
    """SLO checklist items for people: the sentence first, then the evidence, the fine print folded.

    A state reason shared by two or more items is said once, above them. Items written before
    checks carried a sentence lead with their identifier in words and the verdict.
    """
    counts: dict[str, int] = {}
    for c in checks:
        for r in c.get("reasons", ()):
            counts[r] = counts.get(r, 0) + 1
    shared = [r for r, k in counts.items() if k > 1]
    out = []
    if shared:
        out.append('<p class="et-shared-reasons">Several items below rest on numbers with these reasons: '
                   + "; ".join(_esc(r) for r in shared) + ".</p>")
    out.append('<ul class="et-checks">')
    for c in checks:
        verdict = c["verdict"]
        badge = f'<span class="et-verdict et-{verdict.lower()}">{_esc(verdict.replace("_", " "))}</span>'
        sentence = c.get("sentence") or f"{_humanize(c['name'])}: {verdict.replace('_', ' ')}"
        evidence = c.get("evidence") or ("" if c.get("sentence") else c.get("detail", ""))
        own = [r for r in c.get("reasons", ()) if r not in shared]
        fine = [x for x in (c.get("fine_print", ""), "; ".join(own)) if x]
        fine.append(f"check <code>{_esc(c['name'])}</code>")
        out.append(f"<li>{badge} {_esc(sentence)}" + (f'<br><span class="et-evidence">{_esc(evidence)}</span>'
                                                         if evidence else "")
                   + '<details class="et-fine-print"><summary>How this was decided</summary>'
                   + "<br>".join(x if x.startswith("check <code>") else _esc(x) for x in fine)
                   + "</details></li>")
    out.append("</ul>")
    return out


def _text_page(docs_dir: Path, slug: str, markdown: str) -> str:
    """A recipe page without a result, as a one-cell notebook, so links to ``recipes/<slug>.ipynb`` hold."""
    page = f"recipes/{slug}.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(markdown)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, docs_dir / page)
    return page


def _claims(docs_dir: Path, bundles: list[store.RunnerBundle], primary: str | None, pages: dict[str, str],
            report: SiteReport) -> dict[str, str]:
    """Evaluate every guide claim on every runner; record the primary runner's contradictions in ``report``."""
    found, malformed = claims.find_claims(docs_dir)
    report.claims += malformed
    rendered: dict[str, str] = {}
    for claim in found:
        if claim.page.split("/")[0] in GENERATED_DIRS:
            continue
        by_runner = {}
        for bundle in bundles:
            result = bundle.results.get(claim.recipe)
            ok = result is not None and result.status.has_numbers
            by_runner[bundle.runner] = {n: m.to_dict() for n, m in result.metrics.items()} if ok else None
        findings = claims.evaluate(claim, by_runner)
        report.claims += claims.contradictions(claim, findings, primary)
        page = pages.get(claim.recipe)
        link = f"[{claim.recipe}]({posixpath.relpath(page, posixpath.dirname(claim.page) or '.')})" if page else claim.recipe
        rendered[claim.source] = claims.render(
            claim, findings, recipe_link=link,
            runner_link=lambda r, c=claim: f"[{r}]({posixpath.relpath(f'runners/{r}.md', posixpath.dirname(c.page) or '.')})")
    return rendered


def _index_entry(result: Result, bundle_dir: Path, docs_dir: Path, page: str) -> dict[str, Any]:
    """What the MkDocs hook needs to render a recipe's numbers and figures on other pages: the
    result itself, its page, and where its figures were copied."""
    figure_paths = {}
    for fig in result.figures:
        target = f"recipes/figures/{result.recipe}/{fig['name']}.png"
        (docs_dir / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bundle_dir / result.run_dir / fig["path"], docs_dir / target)
        figure_paths[fig["name"]] = target
    return {"page": page, "figure_paths": figure_paths, "result": result.to_dict()}


def _load_base_config(path: Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SiteError(f"{path}: not valid YAML ({exc}); tags like !!python/name are not supported here") from None
    if not isinstance(config, dict):
        raise SiteError(f"{path}: expected a mapping of MkDocs settings")
    return config


def _expand_nav(nav: list[Any], sections: dict[str, list[Any]]) -> list[Any]:
    """Replace a nav entry pointing at a generated section index by the whole section."""
    out: list[Any] = []
    for entry in nav:
        if isinstance(entry, dict) and len(entry) == 1:
            (title, target), = entry.items()
            if isinstance(target, str) and target in sections:
                out.append({title: sections[target]})
            elif isinstance(target, list):
                out.append({title: _expand_nav(target, sections)})
            else:
                out.append(entry)
        else:
            out.append(entry)
    return out


def _write_recipes_index(path: Path, rows: list[tuple[Any, Any, str]], primary: str | None,
                         damaged_results: dict[str, Any] | None = None) -> None:
    lines = [
        "# Recipes",
        "",
        "Each recipe is an executable experiment. The build runs it on a runner and this site shows",
        f"what it measured. Results below are from runner **{primary or 'none yet'}**"
        + (f" (see [its fingerprint](../runners/{primary}.md))." if primary else "."),
        "",
        "| Recipe | Status | Mode | Run | Duration |",
        "|---|---|---|---|---|",
    ]
    for recipe, result, page in rows:
        link = f"[{recipe.title}]({Path(page).name})"
        if result is None and recipe.slug in (damaged_results or {}):
            lines.append(f"| {link} | result damaged: `{damaged_results[recipe.slug].path}` | | | |")
        elif result is None:
            lines.append(f"| {link} | not run | | | |")
        else:
            lines.append(
                f"| {link} | {result.status} | {result.mode} | {result.started_at} | {result.duration_s:.0f} s |"
            )
    if not rows:
        lines.append("| (no recipes found in recipes/) | | | | |")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _mkdocs(args: list[str]) -> int:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    return subprocess.call([sys.executable, "-m", "mkdocs", *args], env=env)


def build_site(
    *, project_dir: Path, results_dir: Path | list[Path], site_dir: Path, primary_runner: str | None = None,
    run_mkdocs: bool = True, history_sources: list[str] | None = None, strict: bool = False,
) -> SiteReport:
    """Generate the pages, then ``mkdocs build --strict``; raise :class:`SiteError` when it fails.

    ``strict`` also fails when a guide claim is contradicted or unsupported on the primary runner.
    The site is built into a sibling folder and swapped in only when the build
    succeeded (:mod:`edgetiming.site.atomic`), so a failed or killed build leaves the
    previous site whole. With ``strict``, a damaged file in the store stops the build
    before anything is built, naming the file first.
    """
    report = generate(project_dir=project_dir, results_dir=results_dir, primary_runner=primary_runner, site_dir=site_dir,
                      history_sources=history_sources)
    if strict and (first := damaged.strict_message(report.problems)):
        raise SiteError(first)
    if strict and report.claims:
        raise SiteError(f"{len(report.claims)} guide claim(s) the numbers on {report.primary_runner} do not bear out:\n  "
                        + "\n  ".join(report.claims))
    if run_mkdocs:
        site_dir = Path(site_dir).resolve()
        staged = atomic.stage(site_dir)
        try:
            code = _mkdocs(["build", "--strict", "-f", str(report.config_path), "-d", str(staged)])
            if code != 0:
                raise SiteError(f"mkdocs build --strict failed (exit {code}); the messages above name the page and "
                                f"the link. The previous site in {site_dir} is unchanged")
            atomic.swap_in(staged, site_dir)
        finally:
            atomic.discard(staged)
    return report


def serve(*, project_dir: Path, results_dir: Path | list[Path], primary_runner: str | None = None, dev_addr: str = "127.0.0.1:8000") -> int:
    """Generate the pages and run ``mkdocs serve`` on them; edits under docs/ reload live."""
    report = generate(project_dir=project_dir, results_dir=results_dir, primary_runner=primary_runner)
    return _mkdocs(["serve", "-f", str(report.config_path), "--dev-addr", dev_addr])
