"""Case-study pages: an index that compares them, and one page per case study.

:func:`generate_pages` writes ``<docs>/case-studies/index.md`` (an overview
chart and a table readers can sort and filter with ``docs/javascripts/
case-studies.js``), one ``<docs>/case-studies/<slug>.md`` per valid case
study (setup, metrics with intervals recomputed from the raw samples, a
before/after chart, links to the guides of its techniques, to related recipes
and to related case studies, then its own text), and returns the MkDocs nav.

Contributed text reaches a page only through :func:`~edgetiming.casestudies.sanitize.md_text`,
:func:`~edgetiming.casestudies.sanitize.safe_title` or
:func:`~edgetiming.casestudies.sanitize.render_body_html`; numbers are formatted
from floats; figures carry no contributed text at all.

Example
-------
>>> nav = generate_pages(Path("case_studies"), Path("docs"))  # doctest: +SKIP
>>> nav[0]  # doctest: +SKIP
'case-studies/index.md'
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from edgetiming.casestudies.model import (
    CONFIDENCE,
    SLUG_RE,
    CaseStudy,
    load_dir,
)
from edgetiming.casestudies.sanitize import md_text, render_body_html, safe_title
from edgetiming.casestudies.schema import (
    HARDWARE_CLASSES,
    JITTER_DEFINITIONS,
    PERCENTILE_FIELDS,
    TECHNIQUES,
)
from edgetiming.results import figures
from edgetiming.stats import quantiles as stats
from edgetiming.stats.compare import compare_runs

__all__ = ["generate_pages"]

SECTION = "case-studies"
CONTRIBUTING_PAGE = "contributing/case-studies.md"  # hand-written, outside the generated folder


@dataclass
class _Row:
    """What the index and the related-links need to know of one case study."""

    study: CaseStudy
    title: str  # safe_title
    p99_before: float | None
    p99_after: float | None
    change: float | None  # after / before - 1 at P99
    ci: tuple[float, float] | None  # of the change, from the samples
    verdict: str | None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _fmt_ms(x: float | None) -> str:
    if x is None:
        return "not given"
    return stats.format_number(x)


def _fmt_pct(x: float) -> str:
    return f"{x * 100:+.1f}%".replace("-", "\u2212")


def _compare(study: CaseStudy, percentile: float) -> Any | None:
    if not {"before", "after"} <= set(study.samples_ms):
        return None
    a, b = study.samples_ms["before"], study.samples_ms["after"]
    try:
        return compare_runs(a * 1e6, b * 1e6, percentile=percentile, confidence=CONFIDENCE,
                            method="bootstrap", n_boot=2000, seed=0)
    except ValueError:  # a zero latency; the claims are still shown
        return None


def _row(study: CaseStudy) -> _Row:
    before, after = _num(study.get("before.p99_ms")), _num(study.get("after.p99_ms"))
    cmp = _compare(study, 0.99)
    if cmp is not None:
        change, ci, verdict = cmp.ratio - 1, (cmp.lower - 1, cmp.upper - 1), cmp.verdict
    else:
        change = after / before - 1 if before and after is not None else None
        ci, verdict = None, None
    return _Row(study, safe_title(study.get("title")), before, after, change, ci, verdict)


def _change_text(row: _Row) -> str:
    if row.change is None:
        return "not given"
    text = _fmt_pct(row.change)
    if row.ci is not None and all(math.isfinite(v) for v in row.ci):
        text += f" [{_fmt_pct(row.ci[0])}, {_fmt_pct(row.ci[1])}]"
    elif row.ci is None:
        text += " (claimed)"
    return text


# --------------------------------------------------------------------------- links
def _guide_link(docs_dir: Path, technique: str) -> tuple[str, bool]:
    """Link to the technique's guide from a case-study page; False when it is the guides index."""
    guide = TECHNIQUES[technique].guide
    if (docs_dir / "guides" / f"{guide}.md").is_file():
        return f"../guides/{guide}.md", True
    return "../guides/index.md", False


def _recipe_link(docs_dir: Path, recipes_dir: Path, slug: str) -> str | None:
    """The recipe's page, only when the project has ``recipes/<slug>.py``."""
    if not (recipes_dir / f"{slug}.py").is_file():
        return None
    for suffix in (".ipynb", ".md"):  # edgetiming site writes .md for a recipe without a result
        if (docs_dir / "recipes" / f"{slug}{suffix}").is_file():
            return f"../recipes/{slug}{suffix}"
    return f"../recipes/{slug}.ipynb"


def _recipes_of(study: CaseStudy) -> list[str]:
    named = study.get("related_recipes") or []
    slugs = [r for r in named if isinstance(r, str) and SLUG_RE.match(r)]
    for t in study.get("techniques") or []:
        if isinstance(t, str) and t in TECHNIQUES and TECHNIQUES[t].recipe:
            slugs.append(TECHNIQUES[t].recipe)
    return list(dict.fromkeys(slugs))


def _techniques(study: CaseStudy) -> list[str]:
    return [t for t in (study.get("techniques") or []) if isinstance(t, str) and t in TECHNIQUES]


def _hw(study: CaseStudy) -> str | None:
    hw = study.get("device.hardware_class")
    return hw if isinstance(hw, str) and hw in HARDWARE_CLASSES else None


# --------------------------------------------------------------------------- figures
def _overview_figure(rows: Sequence[_Row]) -> tuple[Figure, str]:
    """P99 before and after of every case study: one line per case study, arrow to 'after'."""
    items = [r for r in rows if r.p99_before is not None and r.p99_after is not None]
    with matplotlib.rc_context(figures.STYLE):
        fig = Figure(figsize=(7.0, 0.5 * max(len(items), 1) + 1.8), layout="constrained",
                     facecolor=figures.STYLE["figure.facecolor"])
        ax = fig.subplots()
        parts = []
        for i, r in enumerate(items):
            color = figures.PALETTE[2] if r.p99_after <= r.p99_before else figures.PALETTE[3]
            ax.annotate("", xy=(r.p99_after, i), xytext=(r.p99_before, i),
                        arrowprops={"arrowstyle": "->", "color": color, "linewidth": 1.8})
            ax.plot([r.p99_before], [i], "o", color=figures.PALETTE[0], markerfacecolor="white",
                    label="before" if i == 0 else None)
            verified = r.study.verified
            ax.plot([r.p99_after], [i], "o", color=figures.PALETTE[0],
                    markerfacecolor=figures.PALETTE[0] if verified else "white",
                    label="after" if i == 0 else None)
            parts.append(f"{r.study.slug}: {_fmt_ms(r.p99_before)} ms to {_fmt_ms(r.p99_after)} ms "
                         f"({_fmt_pct(r.change or 0.0)}{', verified from samples' if verified else ', claimed'})")
        if items:
            lo = min(min(r.p99_before, r.p99_after) for r in items)
            hi = max(max(r.p99_before, r.p99_after) for r in items)
            if lo > 0 and hi / lo > 20:
                ax.set_xscale("log")
            ax.set_yticks(range(len(items)), [r.study.slug for r in items])
            ax.set_ylim(len(items) - 0.5, -0.9)  # inverted, with room above the first row for the legend
            ax.legend(loc="upper center", ncols=2)
        else:
            ax.text(0.5, 0.5, "no case study gives P99 before and after", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_yticks([])
        ax.set_xlabel("P99 latency (ms)")
        ax.set_title("P99 before and after, per case study")
    alt = (f"P99 latency before and after in {len(items)} case studies: " + "; ".join(parts)) if items \
        else "No case study gives P99 before and after."
    return fig, alt


def _before_after_figure(study: CaseStudy) -> tuple[Figure, str]:
    """Exceedance curves of the raw samples; grouped bars of the claims when there are none."""
    deadline = _num(study.get("slo.deadline_ms"))
    p_slo = _num(study.get("slo.percentile"))
    with matplotlib.rc_context(figures.STYLE):
        fig = Figure(figsize=(7.0, 4.0), layout="constrained", facecolor=figures.STYLE["figure.facecolor"])
        ax = fig.subplots()
        if {"before", "after"} <= set(study.samples_ms):
            parts = []
            for i, side in enumerate(("before", "after")):
                xs = np.sort(study.samples_ms[side])
                n = xs.size
                ax.step(xs, (n - np.arange(n)) / n, where="pre", color=figures.PALETTE[i], linewidth=1.5,
                        label=f"{side} (n = {n:,})")
                for p, marker in ((0.5, "o"), (0.99, "s")):
                    if n >= stats.min_samples(p, CONFIDENCE):
                        q = stats.quantile(xs, p)
                        ax.plot([q], [1 - p], marker, color=figures.PALETTE[i])
                        parts.append(f"{side} P{p * 100:g} {_fmt_ms(q)} ms")
            ax.plot([], [], "o", color="#57606a", label="P50")
            ax.plot([], [], "s", color="#57606a", label="P99")
            ax.set_yscale("log")
            n_min = min(s.size for s in study.samples_ms.values())
            ax.set_ylim(0.5 / n_min, 1.2)
            ax.set_xlabel("latency (ms)")
            ax.set_ylabel("P(latency \u2265 x) (fraction, log scale)")
            ax.set_title("Before and after: latency tail from the raw samples")
            alt = "Exceedance curves of the raw samples before and after: " + ", ".join(parts)
        else:
            names = [(n, p) for n, p in PERCENTILE_FIELDS.items()
                     if _num(study.get(f"before.{n}")) is not None and _num(study.get(f"after.{n}")) is not None]
            x = np.arange(len(names))
            parts = []
            for i, side in enumerate(("before", "after")):
                vals = [_num(study.get(f"{side}.{n}")) or 0.0 for n, _ in names]
                ax.bar(x + (i - 0.5) * 0.38, vals, width=0.38, color=figures.PALETTE[i], label=f"{side} (claimed)")
                parts += [f"{side} P{p * 100:g} {_fmt_ms(v)} ms" for (_, p), v in zip(names, vals)]
            ax.set_xticks(x, [f"P{p * 100:g}" for _, p in names])
            top = max([_num(study.get(f"{s}.{n}")) or 0.0 for s in ("before", "after") for n, _ in names]
                      + [deadline or 0.0, 1e-3])
            ax.set_ylim(0, top * 1.3)  # headroom for the legend
            ax.set_ylabel("latency (ms)")
            ax.set_title("Before and after: claimed percentiles (no raw samples attached)")
            alt = "Claimed percentiles before and after, no raw samples: " + ", ".join(parts)
        if deadline is not None:
            if {"before", "after"} <= set(study.samples_ms):
                ax.axvline(deadline, color=figures.PALETTE[3], linestyle="--", label=f"deadline {_fmt_ms(deadline)} ms")
            else:
                ax.axhline(deadline, color=figures.PALETTE[3], linestyle="--", label=f"deadline {_fmt_ms(deadline)} ms")
            alt += f"; deadline {_fmt_ms(deadline)} ms" + (f" at P{p_slo * 100:g}" if p_slo else "")
        ax.legend(loc="upper right" if {"before", "after"} <= set(study.samples_ms) else "upper center",
                  ncols=1 if {"before", "after"} <= set(study.samples_ms) else 3)
    return fig, alt


def _save(fig: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(figures.png_bytes(fig))


# --------------------------------------------------------------------------- pages
def _table(rows: Sequence[tuple[str, str]]) -> list[str]:
    out = ["| Field | Value |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in rows]
    return out


def _setup_rows(study: CaseStudy, docs_dir: Path) -> list[tuple[str, str]]:
    g = study.get
    device = md_text(g("device.name"))
    for key, label in (("cpu", "CPU"), ("accelerator", "accelerator"), ("cores", "cores"),
                       ("memory_gib", "memory GiB")):
        if g(f"device.{key}") is not None:
            device += f"; {label}: {md_text(g(f'device.{key}'))}"
    if g("device.virtualized") is True:
        device += "; virtual machine"
    hw = _hw(study)
    runner = g("device.runner")
    runner_text = "not measured with an edgetiming runner"
    if isinstance(runner, str) and SLUG_RE.match(runner):
        runner_text = f"[{runner}](../runners/{runner}.md)" if (docs_dir / "runners" / f"{runner}.md").is_file() \
            else md_text(runner)
        if isinstance(g("device.fingerprint_sha256"), str):
            runner_text += f", fingerprint {md_text(g('device.fingerprint_sha256')[:12])}\u2026"
    model = md_text(g("model.name"))
    if isinstance(g("model.sha256"), str):
        model += f"; sha256 {md_text(g('model.sha256')[:16])}\u2026"
    if g("model.public_id"):
        model += f"; {md_text(g('model.public_id'))}"
    workload = md_text(g("workload.arrival"))
    if g("workload.rate_hz") is not None:
        workload += f" at {md_text(g('workload.rate_hz'))} Hz"
    if isinstance(g("workload.input_shape"), list):
        workload += f"; input shape {md_text(g('workload.input_shape'))}"
    if g("workload.description"):
        workload += f"; {md_text(g('workload.description'))}"
    p = _num(g("slo.percentile"))
    slo = (f"P{p * 100:g} \u2264 {md_text(g('slo.deadline_ms'))} ms" if p is not None else "not given")
    method = md_text(g("measurement.method"))
    method += (f"; {md_text(g('measurement.warmup_iters'))} warmup iterations, "
               f"{md_text(g('measurement.iterations'))} timed iterations")
    if g("measurement.processes") is not None:
        method += f", {md_text(g('measurement.processes'))} process(es)"
    if g("measurement.tool"):
        method += f"; tool: {md_text(g('measurement.tool'))}"
    if g("measurement.notes"):
        method += f"; {md_text(g('measurement.notes'))}"
    authors = g("authors")
    return [
        ("Device", device),
        ("Hardware class", md_text(HARDWARE_CLASSES.get(hw, g("device.hardware_class")))),
        ("Runner", runner_text),
        ("OS", md_text(g("os"))),
        ("Runtime", (f"{md_text(g('runtime.name'))} {md_text(g('runtime.version'))}, "
                     f"{md_text(g('runtime.execution_provider'))}")),
        ("Model", model),
        ("Batch size", md_text(g("batch_size"))),
        ("Workload", workload),
        ("SLO", slo),
        ("Measurement", method),
        ("Authors", ", ".join(md_text(a) for a in authors) if isinstance(authors, list) else md_text(authors)),
        ("Date", md_text(g("date"))),
    ]


def _metric_rows(study: CaseStudy) -> list[str]:
    g = study.get
    sizes = [x.size for x in study.samples_ms.values()]
    cmps = {p: _compare(study, p) for p in PERCENTILE_FIELDS.values()
            if sizes and min(sizes) >= stats.min_samples(p, CONFIDENCE)}
    out = ["| Metric | Before | After | Change (after vs before) |", "|---|---:|---:|---:|",
           _text_row("Configuration", md_text(g("before.label")), md_text(g("after.label"))),
           _text_row("Precision", md_text(g("before.precision")), md_text(g("after.precision")))]
    settings = [g(f"{side}.settings") for side in ("before", "after")]
    if any(isinstance(x, dict) and x for x in settings):
        out.append(_text_row("Settings", *("; ".join(f"{md_text(k)} {md_text(v)}" for k, v in x.items())
                                           if isinstance(x, dict) and x else "none given" for x in settings)))
    for name, p in PERCENTILE_FIELDS.items():
        a, b = _num(g(f"before.{name}")), _num(g(f"after.{name}"))
        if a is None and b is None:
            continue
        cells = []
        for side, v in (("before", a), ("after", b)):
            text = f"{_fmt_ms(v)}"
            xs = study.samples_ms.get(side)
            if xs is not None and v is not None and xs.size >= stats.min_samples(p, CONFIDENCE):
                q = stats.quantile_ci(xs, p, CONFIDENCE)
                if q.bounded:
                    text += f" [{_fmt_ms(q.lower)}, {_fmt_ms(q.upper)}]"
            cells.append(text)
        change = ""
        if cmps.get(p) is not None:
            c = cmps[p]
            change = f"{_fmt_pct(c.ratio - 1)} [{_fmt_pct(c.lower - 1)}, {_fmt_pct(c.upper - 1)}], {c.verdict}"
        elif a and b is not None:
            change = f"{_fmt_pct(b / a - 1)} (claimed)"
        else:
            change = _no_change(a, b, True)
        out.append(f"| P{p * 100:g} (ms) | {cells[0]} | {cells[1]} | {change} |")
    a, b = _num(g("before.jitter_ms")), _num(g("after.jitter_ms"))
    labels = [JITTER_DEFINITIONS.get(d, "definition not given") if isinstance(d, str) else "definition not given"
              for d in (g("before.jitter_definition"), g("after.jitter_definition"))]
    same = labels[0] == labels[1]
    out.append(f"| Jitter (ms): {md_text(labels[0]) if same else 'see each side'} | {_fmt_ms(a)}"
               f"{'' if same else ' (' + md_text(labels[0]) + ')'} | {_fmt_ms(b)}"
               f"{'' if same else ' (' + md_text(labels[1]) + ')'} | "
               f"{_fmt_pct(b / a - 1) if a and b is not None and same else _no_change(a, b, same)} |")
    for key, unit in (("energy_mj_per_inference", "mJ per inference"), ("power_w", "W")):
        a, b = _num(g(f"before.{key}")), _num(g(f"after.{key}"))
        if a is not None or b is not None:
            out.append(f"| {'Energy' if key.startswith('energy') else 'Power'} ({unit}) | {_fmt_ms(a)} | "
                       f"{_fmt_ms(b)} | {_fmt_pct(b / a - 1) if a and b is not None else _no_change(a, b, True)} |")
    counts = []
    for side in ("before", "after"):
        xs = study.samples_ms.get(side)
        counts.append(f"{xs.size:,} (attached)" if xs is not None else
                      f"{md_text(g(f'{side}.n_samples', g('measurement.iterations')))} (claimed)")
    out.append(_text_row("Samples", counts[0], counts[1]))
    deadline, p_slo = _num(g("slo.deadline_ms")), _num(g("slo.percentile"))
    if deadline and p_slo and 0 < p_slo < 1 and study.samples_ms:
        verdicts = []
        for side in ("before", "after"):
            xs = study.samples_ms.get(side)
            verdicts.append(stats.slo_verdict(xs * 1e6, p_slo, deadline, CONFIDENCE).verdict
                            if xs is not None else "no samples")
        out.append(_text_row(f"SLO P{p_slo * 100:g} \u2264 {_fmt_ms(deadline)} ms, from the samples", *verdicts))
    return out


def _text_row(name: str, before: str, after: str) -> str:
    """A row of the metrics table whose values are words: the change column says same or changed."""
    return f"| {name} | {before} | {after} | {'same' if before == after else 'changed'} |"


def _no_change(a: float | None, b: float | None, same_definition: bool) -> str:
    """What the change column says when no ratio can be computed."""
    if not same_definition:
        return "not comparable (different definitions)"
    if a is None or b is None:
        return "not given on both sides"
    return "not computable (before is 0)"


def _page(row: _Row, rows: Sequence[_Row], docs_dir: Path, recipes_dir: Path, out_dir: Path,
          draw: bool) -> str:
    study = row.study
    slug = study.slug
    asset_dir = out_dir / slug
    asset_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"# {md_text(study.get('title'))}", "", md_text(study.get("summary")), ""]
    if study.violations:
        lines += ['!!! danger "This case study does not pass validation"', ""]
        lines += [f"    - {md_text(v.field)}: {md_text(v.message)}" for v in study.violations[:20]]
        lines.append("")
    if study.verified:
        lines += ['!!! success "Verified from samples"', "",
                  ("    Every percentile and the jitter claimed below were recomputed from the attached raw "
                   "samples and agree within the stated tolerance."), ""]
    else:
        lines += ['!!! note "Claimed, not verified from samples"', "",
                  ("    No raw samples are attached for both sides, so the numbers below are the authors' "
                   "claims."), ""]
    lines += ["## Setup", "", *_table(_setup_rows(study, docs_dir)), ""]
    lines += ["## Metrics", "", ("Percentiles are nearest rank; brackets hold the exact 95% order-statistic "
                                 "interval where samples are attached, and the change column a 95% bootstrap "
                                 "interval of the after/before ratio (2,000 resamples, seed 0) with the "
                                 "verdict at a 5% minimum effect."), "",
              *_metric_rows(study), ""]
    if draw:
        fig, alt = _before_after_figure(study)
        _save(fig, asset_dir / "before-after.png")
        lines += [f"![{md_text(alt)}]({slug}/before-after.png)", ""]
    for side in ("before", "after"):
        ref = study.get(f"{side}.samples")
        if side in study.samples_ms and isinstance(ref, dict) and isinstance(ref.get("file"), str):
            shutil.copyfile(study.path / ref["file"], asset_dir / f"{side}.csv")
    if (asset_dir / "before.csv").exists() or (asset_dir / "after.csv").exists():
        links = [f"[{side}.csv]({slug}/{side}.csv)" for side in ("before", "after")
                 if (asset_dir / f"{side}.csv").exists()]
        lines += ["Raw samples (latency in ms, one per line, in measurement order): " + " · ".join(links), ""]

    lines += ["## Techniques", ""]
    for t in _techniques(study):
        href, exists = _guide_link(docs_dir, t)
        lines.append(f"- [{md_text(TECHNIQUES[t].label)}]({href})" +
                     ("" if exists else f" (guide `{TECHNIQUES[t].guide}` in preparation: see the guides index)"))
    lines.append("")
    recipe_links = [(r, _recipe_link(docs_dir, recipes_dir, r)) for r in _recipes_of(study)]
    recipe_links = [(r, href) for r, href in recipe_links if href]
    if recipe_links:
        lines += ["## Related recipes", "", "Measure the same thing on your own device:", ""]
        lines += [f"- [{r}]({href})" for r, href in recipe_links] + [""]
    related = []
    mine = set(_techniques(study))
    for other in rows:
        if other is row:
            continue
        shared = sorted(mine & set(_techniques(other.study)))
        same_hw = _hw(study) is not None and _hw(study) == _hw(other.study)
        if shared or same_hw:
            why = ", ".join(TECHNIQUES[t].label for t in shared) or f"same hardware class ({_hw(study)})"
            related.append(f"- [{md_text(other.title)}]({other.study.slug}.md): {md_text(why)}")
    if related:
        lines += ["## Related case studies", "", *related, ""]
    body_html, assets = render_body_html(study.body, case_dir=study.path, asset_prefix=slug)
    for asset in assets:
        target = asset_dir / asset.relative_to(study.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(asset, target)
    source = f"Source: `case_studies/{slug}/index.md`."
    if (docs_dir / CONTRIBUTING_PAGE).is_file():
        source += f" [How to contribute a case study](../{CONTRIBUTING_PAGE})."
    lines += ["## The case study", "", '<div class="et-cs-body">', body_html, "</div>", "", source, ""]
    return "\n".join(lines)


def _index(rows: Sequence[_Row], docs_dir: Path, overview_alt: str | None) -> str:
    lines = ["# Case studies", "",
             ("Case studies are contributed by pull request: each one states its device, runtime, model, "
              "workload, SLO and measurement method in typed front matter, and `edgetiming validate` checks "
              "it, including its claims against the raw samples when they are attached. "
              "**Verified** means every claimed percentile was recomputed from those samples."), ""]
    if (docs_dir / CONTRIBUTING_PAGE).is_file():
        lines += [f"To add yours, read [Contributing a case study](../{CONTRIBUTING_PAGE}).", ""]
    if not rows:
        return "\n".join(lines + ["No case study yet."]) + "\n"
    if overview_alt is not None:
        lines += [f"![{md_text(overview_alt)}](overview.png)", ""]
    lines += [("Sort by a column by clicking its header; filter with the fields above the table. The "
               "change is P99 after over P99 before, minus one, with its 95% bootstrap interval when both "
               "sides carry raw samples."), "",
              '<div class="et-cs-index" markdown="1">', "",
              ("| Case study | Hardware class | Techniques | Model | P99 before (ms) | P99 after (ms) "
               "| P99 change [95% CI] | Verified |"),
              "|---|---|---|---|---:|---:|---:|---|"]
    for r in rows:
        s = r.study
        techs = ", ".join(md_text(t) for t in _techniques(s)) or "none"
        verified = "\u2713 from samples" if s.verified else ("claimed" if s.valid else "invalid")
        lines.append(f"| [{md_text(r.title)}]({s.slug}.md) | {md_text(_hw(s) or 'unknown')} | {techs} | "
                     f"{md_text(s.get('model.name'))} | {_fmt_ms(r.p99_before)} | {_fmt_ms(r.p99_after)} | "
                     f"{_change_text(r)} | {verified} |")
    lines += ["", "</div>", ""]
    return "\n".join(lines)


def generate_pages(case_studies_dir: Path, docs_dir: Path, *, recipes_dir: Path | None = None,
                   include_invalid: bool = False, problems: list[str] | None = None,
                   draw_figures: bool = True) -> list[Any]:
    """Write the case-study pages under ``docs_dir/case-studies/``; return their MkDocs nav.

    Parameters
    ----------
    case_studies_dir : the ``case_studies/`` folder (folders starting with ``_`` are skipped).
    docs_dir : the MkDocs ``docs_dir``; ``case-studies/`` inside it is replaced.
    recipes_dir : where recipes live (default: ``case_studies_dir/../recipes``); a recipe is
        linked only when its ``.py`` exists there.
    include_invalid : also render case studies that fail validation, under a warning
        (the site leaves them out; tests use this to prove the sanitizing).
    problems : a list that receives one line per violation found.
    draw_figures : False leaves out the PNG charts (they take most of the time).

    Returns
    -------
    ``["case-studies/index.md", {"<title>": "case-studies/<slug>.md"}, ...]``; titles are
    plain text without HTML-significant characters (MkDocs does not escape nav titles).
    """
    case_studies_dir, docs_dir = Path(case_studies_dir), Path(docs_dir)
    recipes_dir = Path(recipes_dir) if recipes_dir is not None else case_studies_dir.parent / "recipes"
    out_dir = docs_dir / SECTION
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    studies = load_dir(case_studies_dir) if case_studies_dir.is_dir() else []
    shown = []
    for study in studies:
        if study.violations and problems is not None:
            problems.extend(str(v) for v in study.violations)
        if not SLUG_RE.match(study.slug) or (study.violations and not include_invalid):
            continue
        shown.append(study)
    rows = [_row(s) for s in shown]
    nav: list[Any] = [f"{SECTION}/index.md"]
    for row in rows:
        page = _page(row, rows, docs_dir, recipes_dir, out_dir, draw_figures)
        (out_dir / f"{row.study.slug}.md").write_text(page, encoding="utf-8")
        nav.append({row.title: f"{SECTION}/{row.study.slug}.md"})
    alt = None
    if rows and draw_figures:
        fig, alt = _overview_figure(rows)
        _save(fig, out_dir / "overview.png")
    (out_dir / "index.md").write_text(_index(rows, docs_dir, alt), encoding="utf-8")
    return nav
