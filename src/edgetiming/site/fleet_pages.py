"""Pages about the fleet: one per runner, the fleet overview, and cross-runner tables.

A runner's page shows its fingerprint, every result it holds (stale and
failed ones marked), every SLO check its recipes evaluated, and the site's
checklists evaluated against its results. A checklist item is evaluated when
its line in ``docs/guides/checklists/*.md`` names a check::

    - [ ] P99 meets the deadline with confidence <!-- evaluates: characterize-latency/p99-within-deadline -->

Items without that comment, or whose check has no result on the runner, are
shown as NOT MEASURED. An item spanning several lines is shown by its first line,
so the comment goes on that line.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from edgetiming.host import fingerprint
from edgetiming.results import figures, store
from edgetiming.results.result import Metric, Result, format_interval, format_value
from edgetiming.stats.quantiles import format_number

__all__ = ["checklist_items", "cross_runner_html", "runner_page", "runners_index", "selftest_section", "stale",
           "state_word"]

_EVALUATES = re.compile(r"<!--\s*evaluates:\s*([a-z0-9-]+)/([a-z0-9_.-]+)\s*-->")
_TASK = re.compile(r"^\s*[-*] \[[ xX]\] (.*)$")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt_fp(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) if not isinstance(v, dict) else json.dumps(v, sort_keys=True) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_fmt_fp(v)}" for k, v in value.items())
    return str(value)


def _cell(value: Any) -> str:
    return _esc(_fmt_fp(value)).replace("|", "\\|")


def stale(result: Result, current_versions: dict[str, Any]) -> bool:
    """True when the recipe changed since this result was measured (its version differs)."""
    version_of = current_versions.get(result.recipe)
    return version_of is not None and version_of(result.parameters) != result.recipe_version


def state_word(metric: Metric) -> str:
    """The state as one word, with the reasons as a tooltip (HTML)."""
    reasons = metric.state_reasons()
    title = f' title="{_esc(reasons)}"' if reasons else ""
    return f'<span class="et-state et-state-{metric.state.value}"{title}>{metric.state.value}</span>'


def checklist_items(docs_dir: Path) -> list[tuple[str, str, str | None]]:
    """(checklist page, item text, "recipe/check" or None) for every task item of every checklist."""
    items = []
    folder = docs_dir / "guides" / "checklists"
    for page in sorted(folder.glob("*.md")) if folder.is_dir() else []:
        title = page.stem.replace("-", " ").capitalize()
        for line in page.read_text(encoding="utf-8").splitlines():
            if line.startswith("# "):
                title = line[2:].strip()
            match = _TASK.match(line)
            if not match:
                continue
            evaluates = _EVALUATES.search(line)
            text = _LINK.sub(r"\1", _EVALUATES.sub("", match.group(1))).strip()
            items.append((title, text, f"{evaluates.group(1)}/{evaluates.group(2)}" if evaluates else None))
    return items


def _verdict_badge(verdict: str) -> str:
    return f'<span class="et-verdict et-{verdict.lower()}">{_esc(verdict.replace("_", " "))}</span>'


def _recipe_link(slug: str, title: str, pages: dict[str, str]) -> str:
    if slug not in pages:
        return f"{_esc(title)} (not in this project's recipes)"
    return f"[{_esc(title)}](../{pages[slug]})"


def runner_page(bundle: store.RunnerBundle, *, current_versions: dict[str, Any], pages: dict[str, str],
                docs_dir: Path, history_entries: list[dict[str, Any]] | None = None,
                regressions: list[Any] | None = None, others: list[dict[str, Any]] | None = None) -> str:
    """Markdown for ``runners/<runner>.md``; ``others`` are the other runners' fingerprints, and the
    page opens with how this one differs from them."""
    from edgetiming.site import runner_diff

    fp = bundle.fingerprint
    na = fingerprint.NOT_AVAILABLE
    rows = [
        ("CPU", fp["cpu"].get("model")),
        ("Architecture", fp["cpu"].get("architecture")),
        ("ISA flags", fp["cpu"].get("isa_flags")),
        ("Logical cores", fp["cpu"].get("logical_cores")),
        ("Usable cores", fp["cpu"].get("usable_cores", na)),
        ("Memory", f"{fp['memory_bytes'] / 2**30:.1f} GiB" if isinstance(fp["memory_bytes"], int) else fp["memory_bytes"]),
        ("OS", f"{fp['os'].get('distribution', '')} ({fp['os']['system']} {fp['os']['release']})"),
        ("Python", fp["python"]["version"]),
        ("onnxruntime", fp["onnxruntime"]["version"]),
        ("Execution providers", fp["onnxruntime"]["providers"]),
        ("Frequency governor", fp["frequency"]["governor"]),
        ("Max frequency (kHz)", fp["frequency"]["max_frequency_khz"]),
        ("Thermal zones", fp["thermal_zones"]),
        ("GPUs", fp.get("gpus", na)),
        ("Virtual machine", fp.get("virtualized", na)),
        ("Fingerprint collected", fp["collected_at"]),
    ]
    lines = [f"# Runner `{bundle.runner}`", "", *runner_diff.markdown(fp, others or []),
             "| Property | Value |", "|---|---|"]
    lines += [f"| {k} | {_cell(v)} |" for k, v in rows]
    lines += selftest_section(bundle.path / "selftest.json")
    lines += ["", "## Results on this runner", ""]
    if not bundle.results:
        lines.append("No results yet.")
    else:
        lines += ["| Recipe | Status | Mode | Run | Version |", "|---|---|---|---|---|"]
        for slug, result in sorted(bundle.results.items()):
            mark = " **stale**" if stale(result, current_versions) else ""
            lines.append(
                f"| {_recipe_link(slug, result.title, pages)} | {result.status} | {result.mode} | "
                f"{result.started_at} | `{result.recipe_version}`{mark} |"
            )
        checks = [(slug, c) for slug, r in sorted(bundle.results.items()) for c in r.checks]
        if checks:
            lines += ["", "## SLO checks evaluated on this runner", "", "| Recipe | Verdict | Item |",
                      "|---|---|---|"]
            lines += [f"| `{slug}` | {_verdict_badge(c['verdict'])} | {_cell(c.get('sentence') or c['detail'])} |"
                      for slug, c in checks]
    if history_entries:
        made = history_figures(bundle.runner, history_entries, docs_dir / "runners" / "history" / bundle.runner)
        lines += ["", "## History", "",
                  f"{len(history_entries)} executed run(s) recorded on this runner (cached runs add none)."]
        real = [r for r in regressions or [] if r.is_regression]
        shifts = [r for r in regressions or [] if not r.is_regression]
        if real:
            lines += ["", "Regressions (a later run's interval entirely above the earlier one's by more than 5%, "
                      "with the code or the inputs changed in between):", ""]
            lines += [f"- {_esc(r.message(bundle.runner))}" for r in real]
        if shifts:
            lines += ["", f"Shifts without a change ({len(shifts)}): steps as large, between runs with the same "
                      "cache key (same code, packages, models, parameters and fingerprint). They measure how much "
                      "this runner varies from one run, or one machine, to the next; a single run's intervals "
                      "do not include that variation, so compare runs against it before calling a step a "
                      "regression.", "", "<details markdown=\"1\"><summary>Show them</summary>", ""]
            lines += [f"- {_esc(r.message(bundle.runner))}" for r in shifts]
            lines += ["", "</details>"]
        for slug, (name, alt) in sorted(made.items()):
            alt_md = alt.replace("[", "(").replace("]", ")")
            lines += ["", f"![{alt_md}](history/{bundle.runner}/{name})"]
    items = checklist_items(docs_dir)
    if items:
        by_key = {f"{slug}/{c['name']}": c for slug, r in bundle.results.items() for c in r.checks}
        lines += ["", "## The checklists, evaluated against this runner's results", "",
                  "Items that no recipe measures are NOT MEASURED: check them by hand.", "",
                  "| Checklist | Item | Verdict |", "|---|---|---|"]
        for title, text, key in items:
            check = by_key.get(key) if key else None
            verdict = check["verdict"] if check else "NOT_MEASURED"
            lines.append(f"| {_esc(title)} | {_cell(text)} | {_verdict_badge(verdict)} |")
    return "\n".join(lines) + "\n"


def selftest_section(path: Path) -> list[str]:
    """Markdown lines for the runner's self-test (``edgetiming selftest``), or none when it has none."""
    if not path.is_file():
        return []
    try:
        rep = json.loads(path.read_text(encoding="utf-8"))
        v, e, c, i = rep["verdict"], rep["error_us"], rep["coverage"], rep["interference"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return ["", "## Self-test", "", f"{_esc(path)} is unreadable ({_esc(exc)}); re-run `edgetiming selftest`."]
    bs = i.get("busy_share")
    rows = [
        ("Verdict", v["text"]),
        ("Run", f"{rep['started_at']}, {rep['duration_s']:.0f} s, {rep['workload']['calls']:,} busy-waits of known length"),
        ("Timer", (f"{rep['timer']['clock']}: smallest step {rep['timer']['smallest_step_ns']} ns, "
                   f"cost {rep['timer']['cost_ns_p50']:.0f} ns")),
        ("Per-call error P50 / P99", f"{e['p50']:.1f} us / {e['p99']:.1f} us"),
        ("Interval coverage P50 / P90 / P99", (f"{c['p50']:.0%} / {c['p90']:.0%} / {c['p99']:.0%} of "
                                               f"{c['draws']} draws (nominal {c['nominal']:.0%})")),
        ("Other work on the CPUs", f"{bs:.1%}" if isinstance(bs, (int, float)) else bs),
    ]
    return ["", "## Self-test", "",
            ("`edgetiming selftest` timed busy-waits of known length on this runner before its recipes "
             "ran and checked the harness against the truth:"), "", "| Check | Result |", "|---|---|",
            *[f"| {k} | {_cell(val)} |" for k, val in rows]]


def history_figures(runner: str, entries: list[dict[str, Any]], out_dir: Path) -> dict[str, tuple[str, str]]:
    """One PNG per recipe with two or more runs of one mode: its P50/P99 metrics (ms, with intervals) over time.

    Quick and full runs are never drawn on one line: the mode with more runs is
    plotted (full on a tie) and the title says which. A dotted line marks where
    the recipe's version changed. Returns recipe -> (file name, alt text).
    """
    # imported here: matplotlib costs ~450 ms to import; only runner pages with history draw
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator


    made: dict[str, tuple[str, str]] = {}
    recipes_seen = sorted({e["recipe"] for e in entries})
    for slug in recipes_seen:
        ok = [e for e in entries if e["recipe"] == slug and e["status"] == "OK"]
        counts = {mode: sum(e["mode"] == mode for e in ok) for mode in ("full", "quick")}
        mode = "full" if counts["full"] >= counts["quick"] else "quick"
        runs = [e for e in ok if e["mode"] == mode]
        names = sorted({n for e in runs for n, m in e["metrics"].items() if _key_metric(n, m.get("unit"), m.get("ci"))})
        if len(runs) < 2 or not names:
            continue
        figures.use_style()
        fig = Figure(figsize=(7.0, 3.6))
        ax = fig.subplots()
        alt_parts = []
        for name in names[:6]:
            points = [(i, e["metrics"][name]) for i, e in enumerate(runs) if name in e["metrics"]]
            xs = [i for i, _ in points]
            ys = [m["value"] for _, m in points]
            lo = [m["value"] - m["ci"][0] if m.get("ci") else 0.0 for _, m in points]
            hi = [m["ci"][1] - m["value"] if m.get("ci") else 0.0 for _, m in points]
            ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=name)
            alt_parts.append(f"{name} from {format_number(ys[0])} to {format_value(ys[-1], 'ms')}")
        for i in range(1, len(runs)):
            if runs[i]["recipe_version"] != runs[i - 1]["recipe_version"]:
                ax.axvline(i - 0.5, color="0.5", linestyle=":", linewidth=1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(f"{mode} run (oldest first; dotted: the recipe changed)")
        ax.set_ylabel("latency (ms)")
        ax.set_title(f"{slug} on {runner}: history with 95% intervals")
        ax.legend(fontsize=7)
        name = f"{slug}.png"
        out_dir.mkdir(parents=True, exist_ok=True)
        fig.savefig(out_dir / name, dpi=100, bbox_inches="tight", metadata={"Software": None})
        made[slug] = (name, f"History of {slug} on {runner} over {len(runs)} {mode} runs: " + "; ".join(alt_parts))
    return made


def runners_index(bundles: list[store.RunnerBundle], primary: str | None, *, pages: dict[str, str],
                  current_versions: dict[str, Any]) -> str:
    """Markdown for ``runners/index.md``: the runners and which recipe ran where and when."""
    lines = ["# Runners", "",
             "A runner is a machine that executed the recipes. Its fingerprint records what can change a timing.", ""]
    if not bundles:
        lines.append("No runner has results yet: run `edgetiming run`.")
        return "\n".join(lines) + "\n"
    lines += ["| Runner | CPU | Cores | onnxruntime | Results |", "|---|---|---|---|---|"]
    for b in bundles:
        mark = " (primary)" if b.runner == primary else ""
        lines.append(
            f"| [{b.runner}]({b.runner}.md){mark} | {_cell(b.fingerprint['cpu'].get('model'))} | "
            f"{_cell(b.fingerprint['cpu'].get('logical_cores'))} | {_cell(b.fingerprint['onnxruntime']['version'])} | "
            f"{len(b.results)} |"
        )
    lines += ["", "## Fleet overview", "",
              "Which recipe ran on which runner, when, and how it ended. *stale*: the recipe changed since.", "",
              "| Recipe | " + " | ".join(b.runner for b in bundles) + " |",
              "|---|" + "---|" * len(bundles)]
    for slug in pages:
        cells = []
        for b in bundles:
            result = b.results.get(slug)
            if result is None:
                cells.append("not run")
                continue
            flag = ", *stale*" if stale(result, current_versions) else ""
            cells.append(f"{result.status} ({result.mode}, {result.started_at[:10]}{flag})")
        lines.append(f"| {_recipe_link(slug, slug, pages)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _key_metric(name: str, unit: str | None, ci: Any) -> bool:
    return unit == "ms" and bool(ci) and re.search(r"p(50|99)_ms$", name) is not None


def cross_runner_html(slug: str, bundles: list[store.RunnerBundle], *, max_rows: int = 10,
                      is_stale: Any = None) -> str:
    """An HTML table of the recipe's key metrics (P50 and P99 with CIs) on every runner that ran it.

    Each runner's column says the mode and date of its run, and *stale* when
    ``is_stale(result)`` says the recipe changed since.
    """
    ran = [b for b in bundles if slug in b.results]
    if len(ran) < 2:
        return ""
    names: list[str] = []
    for b in ran:
        for name, metric in sorted(b.results[slug].metrics.items()):
            if _key_metric(name, metric.unit, metric.ci) and name not in names:
                names.append(name)
    if not names:
        return ""
    def _head(b: store.RunnerBundle) -> str:
        r = b.results[slug]
        flag = ", stale" if is_stale is not None and is_stale(r) else ""
        return (f'<th><a href="../runners/{_esc(b.runner)}.html">{_esc(b.runner)}</a><br>'
                f"<small>{_esc(r.mode)}, {_esc(r.started_at[:10])}{flag}</small></th>")

    head = "".join(_head(b) for b in ran)
    rows = []
    for name in names[:max_rows]:
        cells = []
        for b in ran:
            m = b.results[slug].metrics.get(name)
            if m is None or m.value is None:
                cells.append("<td>-</td>")
                continue
            value = format_value(m.value)
            flag = "" if m.valid else f" ({state_word(m)})"
            if m.ci:
                cells.append(f"<td>{value} {format_interval(m.ci)}{flag}</td>")
            else:  # too few samples on this runner for an interval at this percentile
                cells.append(f"<td>{value} [no interval: too few samples]{flag}</td>")
        rows.append(f"<tr><td><code>{_esc(name)}</code> (ms)</td>{''.join(cells)}</tr>")
    return ('<details class="et-cross-runner" open><summary><strong>On every runner</strong> '
            "(value [95% CI] in ms)</summary><table><tr><th>metric</th>" + head + "</tr>" + "".join(rows)
            + "</table></details>")
