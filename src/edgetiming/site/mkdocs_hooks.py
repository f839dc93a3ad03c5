"""MkDocs hook: pull measured numbers and figures from the results into hand-written pages.

A guide never types a measured number. It writes a placeholder, and this hook
replaces it at build time with the value from the primary runner's latest
result, the interval, the runner and a link to the recipe page:

- ``{{ metric("characterize-latency", "steady.p99_ms") }}``: value, unit, CI, runner, link
- ``{{ value("characterize-latency", "steady.p99_ms") }}``: the value and unit alone (tables)
- ``{{ figure("characterize-latency", "histogram") }}``: the figure, its alt text and a caption
- ``{{ check("characterize-latency", "p99-within-deadline") }}``: the verdict and its detail
- ``{{ runner() }}``: the primary runner's name, linked to its fingerprint
- ``{{ headlines() }}``: a table of every recipe's ``headline.*`` metrics (the home page)
- ``{{ claim("recipe", "metric", "< 1", "sentence") }}``: a sentence bound to a measurement,
  evaluated on every runner (:mod:`edgetiming.site.claims`)

A placeholder whose recipe, metric, figure or check is missing fails the build
with a message naming the page and the placeholder. A recipe whose result exists
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

__all__ = ["PLACEHOLDER", "on_config", "on_page_markdown", "render_placeholder"]

PLACEHOLDER = re.compile(r"\{\{\s*(metric|value|figure|check|runner|headlines|claim)\(\s*([^)]*?)\s*\)\s*\}\}")
_ARG = re.compile(r'"([^"]*)"')
_INDEX: dict[str, Any] = {}


def on_config(config: Any) -> Any:
    path = (config.get("extra") or {}).get("edgetiming_results")
    _INDEX.clear()
    if path and Path(path).is_file():
        _INDEX.update(json.loads(Path(path).read_text(encoding="utf-8")))
    return config


def _fmt(x: float) -> str:
    if isinstance(x, int):
        return f"{x:,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"


def _rel(page_uri: str, target: str) -> str:
    return posixpath.relpath(target, posixpath.dirname(page_uri) or ".")


def _lookup(page_uri: str, kind: str, args: list[str], text: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    runner = _INDEX.get("runner")
    if not runner:
        raise PluginError(f"{page_uri}: {text} needs results, but the site has none; run `edgetiming run` first")
    if kind in ("runner", "headlines"):
        return {}, None
    if len(args) != 2:
        raise PluginError(f'{page_uri}: {text} must name a recipe and an item, e.g. {kind}("recipe", "name")')
    recipe_slug, name = args
    recipe = _INDEX["recipes"].get(recipe_slug)
    if recipe is None and recipe_slug in _INDEX.get("damaged", {}):
        return {"damaged": _INDEX["damaged"][recipe_slug]}, None
    if recipe is None:
        raise PluginError(
            f"{page_uri}: {text}: recipe {recipe_slug!r} has no result on runner {runner!r}; "
            f"run `edgetiming run recipes/{recipe_slug}.py` or fix the recipe name"
        )
    if recipe["status"] not in ("OK", "CACHED"):
        raise PluginError(f"{page_uri}: {text}: recipe {recipe_slug!r} ended {recipe['status']} on runner {runner!r}")
    table = {"metric": "metrics", "value": "metrics", "figure": "figures", "check": "checks"}[kind]
    item = recipe[table].get(name)
    if item is None:
        known = ", ".join(sorted(recipe[table])) or "none"
        raise PluginError(f"{page_uri}: {text}: recipe {recipe_slug!r} reported no {kind} {name!r} (it has: {known})")
    return recipe, item


def render_placeholder(page_uri: str, kind: str, raw_args: str, text: str) -> str:
    """The Markdown that replaces one placeholder on the page ``page_uri``."""
    args = _ARG.findall(raw_args)
    if kind == "claim":
        rendered = _INDEX.get("claims", {}).get(text)
        if rendered is None:
            raise PluginError(f"{page_uri}: {text}: malformed claim; write "
                              '{{ claim("recipe", "metric", "< 1", "the sentence") }} on one line')
        return rendered
    recipe, item = _lookup(page_uri, kind, args, text)
    runner = _INDEX["runner"]
    runner_link = f"[{runner}]({_rel(page_uri, f'runners/{runner}.md')})"
    if kind == "runner":
        return runner_link
    if kind == "headlines":
        return _headlines(page_uri, runner_link)
    if "damaged" in recipe:  # the result exists but cannot be read: say so and name the file
        d = recipe["damaged"]
        return (f"**result damaged**: the result of `{html.escape(args[0])}` on {runner_link} cannot be read "
                f"(`{html.escape(d['path'])}`: {html.escape(d['reason'])}); {html.escape(d['fix'])}")
    assert item is not None
    recipe_link = f"[{args[0]}]({_rel(page_uri, recipe['page'])})"
    provenance = f"{recipe_link} on {runner_link}" + (", quick run" if recipe["mode"] == "quick" else "")
    if kind in ("metric", "value"):
        value = item["value"]
        unit = item.get("unit", "")
        shown = "not measured" if value is None else (_fmt(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else html.escape(str(value)))
        shown = f"{shown} {unit}".strip() if value is not None else shown
        if kind == "value":
            return shown + ("" if item.get("valid", True) else " (invalid)")
        parts = []
        if item.get("ci"):
            lo, hi = item["ci"]
            parts.append(f"95% CI {_fmt(lo)}–{_fmt(hi)} {unit}".strip())
        if item.get("n"):
            parts.append(f"n = {item['n']:,}")
        if not item.get("valid", True):
            parts.append(f"**invalid**: {html.escape(item.get('note', ''))}")
        parts.append(provenance)
        return f"**{shown}** ({'; '.join(parts)})"
    if kind == "figure":
        src = _rel(page_uri, item["page_path"])
        alt = item["alt"].replace("[", "(").replace("]", ")")
        return f"![{alt}]({src})\n\n*Figure: measured by {provenance}, {recipe['started_at'][:10]}.*"
    verdict = item["verdict"]
    return f'<span class="et-verdict et-{verdict.lower()}">{verdict}</span> {html.escape(item["detail"])} ({provenance})'


def _headlines(page_uri: str, runner_link: str) -> str:
    """Every ``headline.*`` metric of every recipe that ran OK, as a Markdown table."""
    rows = []
    for slug, recipe in sorted(_INDEX["recipes"].items()):
        if recipe["status"] not in ("OK", "CACHED"):
            continue
        for name, metric in sorted(recipe["metrics"].items()):
            if not name.startswith("headline."):
                continue
            value = metric["value"]
            shown = "not measured" if value is None else (
                _fmt(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value))
            unit = metric.get("unit", "") if value is not None else ""
            ci = f" (95% CI {_fmt(metric['ci'][0])}–{_fmt(metric['ci'][1])})" if metric.get("ci") else ""
            quick = " (quick run)" if recipe["mode"] == "quick" else ""
            note = html.escape(metric.get("note", ""), quote=False).replace("|", "\\|")
            invalid = "" if metric.get("valid", True) else f" **invalid**: {note}"
            description = html.escape(metric.get("description", ""), quote=False).replace("|", "\\|")
            rows.append(f"| [{slug}]({_rel(page_uri, recipe['page'])}) | {description} "
                        f"| **{f'{html.escape(shown, quote=False)} {unit}'.strip()}**{ci}{quick}{invalid} |")
    if not rows:
        return f"No recipe has reported a headline result on {runner_link} yet."
    return "| Recipe | Result | On this runner |\n|---|---|---|\n" + "\n".join(rows) + f"\n\nMeasured on {runner_link}."


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    uri = page.file.src_uri
    return PLACEHOLDER.sub(lambda m: render_placeholder(uri, m.group(1), m.group(2), m.group(0)), markdown)
