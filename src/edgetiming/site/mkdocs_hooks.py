"""MkDocs hook: pull measured numbers and figures from the results into hand-written pages.

A guide never types a measured number. It writes a placeholder, and this hook
replaces it at build time with the value from the primary runner's latest
result, the interval, the runner and a link to the recipe page:

- ``{{ metric("characterize-latency", "steady.p99_ms") }}``: value, unit, intervals, state, runner, link
- ``{{ value("characterize-latency", "steady.p99_ms") }}``: the value and unit alone (tables)
- ``{{ figure("characterize-latency", "histogram") }}``: the figure, its alt text and a caption
- ``{{ check("characterize-latency", "p99-within-deadline") }}``: the verdict and its detail
- ``{{ runner() }}``: the primary runner's name, linked to its fingerprint
- ``{{ headlines() }}``: a table of every recipe's ``headline.*`` metrics with their state (the home page)
- ``{{ architecture() }}``: the package's layers drawn from its imports (the contributor guide)
- ``{{ claim("recipe", "metric", "< 1", "sentence") }}``: a sentence bound to a measurement,
  evaluated on every runner (:mod:`edgetiming.site.claims`)

A placeholder whose recipe, metric, figure or check is missing fails the build
with a message naming the page and the placeholder, except that a quick run (small budgets,
sometimes fewer models) may lack items its full run reports: those render as "not measured in
the quick run". A recipe whose result exists
but is damaged renders as "result damaged" with the file, the reason and the
command that restores it (``edgetiming site --strict`` refuses such a build). ``edgetiming site``
writes the index this hook reads and names it in ``extra.edgetiming_results``.
"""

from __future__ import annotations

import html
import json
import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

from edgetiming.results.result import LEGACY_RULE_LABEL, Metric, Result, format_value
from edgetiming.site import architecture

__all__ = ["PLACEHOLDER", "on_config", "on_page_markdown", "render_placeholder"]

PLACEHOLDER = re.compile(
    r"\{\{\s*(metric|value|figure|check|runner|headlines|architecture|claim)\(\s*([^)]*?)\s*\)\s*\}\}")
_ARG = re.compile(r'"([^"]*)"')
_INDEX: dict[str, Any] = {}
#: recipe -> its result on the primary runner, read from the index ``edgetiming site`` wrote
_RESULTS: dict[str, Result] = {}


def on_config(config: Any) -> Any:
    path = (config.get("extra") or {}).get("edgetiming_results")
    _INDEX.clear()
    _RESULTS.clear()
    if path and Path(path).is_file():
        _INDEX.update(json.loads(Path(path).read_text(encoding="utf-8")))
        _RESULTS.update({slug: Result.from_dict(entry["result"]) for slug, entry in _INDEX["recipes"].items()})
    return config


def _rel(page_uri: str, target: str) -> str:
    return posixpath.relpath(target, posixpath.dirname(page_uri) or ".")


def _lookup(page_uri: str, kind: str, args: list[str], text: str) -> tuple[Result | None, Any]:
    runner = _INDEX.get("runner")
    if not runner:
        raise PluginError(f"{page_uri}: {text} needs results, but the site has none; run `edgetiming run` first")
    if kind in ("runner", "headlines"):
        return None, None
    if len(args) != 2:
        raise PluginError(f'{page_uri}: {text} must name a recipe and an item, e.g. {kind}("recipe", "name")')
    recipe_slug, name = args
    result = _RESULTS.get(recipe_slug)
    if result is None and recipe_slug in _INDEX.get("damaged", {}):
        return {"damaged": _INDEX["damaged"][recipe_slug]}, None
    if result is None:
        raise PluginError(
            f"{page_uri}: {text}: recipe {recipe_slug!r} has no result on runner {runner!r}; "
            f"run `edgetiming run recipes/{recipe_slug}.py` or fix the recipe name"
        )
    if not result.status.has_numbers:
        raise PluginError(f"{page_uri}: {text}: recipe {recipe_slug!r} ended {result.status} on runner {runner!r}")
    table: dict[str, Any] = {
        "metric": result.metrics, "value": result.metrics,
        "figure": {f["name"]: f for f in result.figures}, "check": {c["name"]: c for c in result.checks},
    }[kind]
    item = table.get(name)
    if item is None and result.quick:  # a quick run may measure less than the full run the page quotes
        return result, None
    if item is None:
        known = ", ".join(sorted(table)) or "none"
        raise PluginError(f"{page_uri}: {text}: recipe {recipe_slug!r} reported no {kind} {name!r} (it has: {known})")
    return result, item


def _state(metric: Metric) -> str:
    """The one-word state, its reasons (and the old rule, where it applies) in a tooltip."""
    reasons = metric.state_reasons()
    title = f' title="{html.escape(reasons, quote=True).replace("|", "&#124;")}"' if reasons else ""
    return f'<span class="et-state et-state-{metric.state.value}"{title}>{metric.state.value}</span>'


def _intervals(metric: Metric) -> list[str]:
    """The 95% interval and, when reported, the within-run and between-run ones."""
    parts = [f"95% CI {metric.interval()}"] if metric.ci else []
    if metric.ci_within:
        parts.append(f"within-run {metric.interval('ci_within')}")
    if metric.ci_between:
        parts.append(f"between-run {metric.interval('ci_between')}" + (f" over {metric.runs} runs" if metric.runs else ""))
    return parts


def _shown(metric: Metric) -> str:
    return metric.shown() if metric.numeric or metric.value is None else html.escape(metric.shown())


def render_placeholder(page_uri: str, kind: str, raw_args: str, text: str) -> str:
    """The Markdown that replaces one placeholder on the page ``page_uri``."""
    if kind == "architecture":  # drawn from the code, needs no results
        return architecture.markdown()
    args = _ARG.findall(raw_args)
    if kind == "claim":
        rendered = _INDEX.get("claims", {}).get(text)
        if rendered is None:
            raise PluginError(f"{page_uri}: {text}: malformed claim; write "
                              '{{ claim("recipe", "metric", "< 1", "the sentence") }} on one line')
        return rendered
    result, item = _lookup(page_uri, kind, args, text)
    runner = _INDEX["runner"]
    runner_link = f"[{runner}]({_rel(page_uri, f'runners/{runner}.md')})"
    if kind == "runner":
        return runner_link
    if kind == "headlines":
        return _headlines(page_uri, runner_link)
    if isinstance(result, dict) and "damaged" in result:  # the result exists but cannot be read: name the file
        d = result["damaged"]
        return (f"**result damaged**: the result of `{html.escape(args[0])}` on {runner_link} cannot be read "
                f"(`{html.escape(d['path'])}`: {html.escape(d['reason'])}); {html.escape(d['fix'])}")
    assert result is not None
    entry = _INDEX["recipes"][args[0]]
    recipe_link = f"[{args[0]}]({_rel(page_uri, entry['page'])})"
    provenance = f"{recipe_link} on {runner_link}" + (", quick run" if result.quick else "")
    if item is None:  # only for a quick run (see _lookup): say so instead of failing the build
        return f"*not measured in the quick run of {recipe_link} on {runner_link} (its full run measures it)*"
    if kind in ("metric", "value"):
        shown = _shown(item)
        if kind == "value":
            return shown + ("" if item.valid else f" ({_state(item)})")
        parts = _intervals(item)
        if item.n:
            parts.append(f"n = {format_value(item.n)}")
        parts.append(_state(item))
        parts.append(provenance)
        return f"**{shown}** ({'; '.join(parts)})"
    if kind == "figure":
        src = _rel(page_uri, entry["figure_paths"][args[1]])
        alt = item["alt"].replace("[", "(").replace("]", ")")
        return f"![{alt}]({src})\n\n*Figure: measured by {provenance}, {result.started_at[:10]}.*"
    verdict = item["verdict"]
    return f'<span class="et-verdict et-{verdict.lower()}">{verdict}</span> {html.escape(item["detail"])} ({provenance})'


def _headlines(page_uri: str, runner_link: str) -> str:
    """Every ``headline.*`` metric of every recipe that ran OK, as a Markdown table: the value, its
    intervals and its state (the reasons in a tooltip)."""
    rows, legacy = [], []
    for slug, result in sorted(_RESULTS.items()):
        if not result.status.has_numbers:
            continue
        for name, metric in sorted(result.metrics.items()):
            if not name.startswith("headline."):
                continue
            if metric.legacy and slug not in legacy:
                legacy.append(slug)
            intervals = "; ".join(_intervals(metric))
            extra = (f" ({intervals})" if intervals else "") + (" (quick run)" if result.quick else "")
            description = html.escape(metric.description, quote=False).replace("|", "\\|")
            shown = html.escape(_shown(metric), quote=False) if metric.numeric else _shown(metric)
            page = _INDEX["recipes"][slug]["page"]
            rows.append(f"| [{slug}]({_rel(page_uri, page)}) | {description} "
                        f"| **{shown}**{extra.replace('|', '&#124;')} | {_state(metric)} |")
    if not rows:
        return f"No recipe has reported a headline result on {runner_link} yet."
    table = "| Recipe | Result | On this runner | State |\n|---|---|---|---|\n" + "\n".join(rows)
    note = f" Results of {', '.join(legacy)} were {LEGACY_RULE_LABEL}." if legacy else ""
    return table + f"\n\nMeasured on {runner_link}.{note}"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    uri = page.file.src_uri
    return PLACEHOLDER.sub(lambda m: render_placeholder(uri, m.group(1), m.group(2), m.group(0)), markdown)
