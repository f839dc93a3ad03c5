"""Claims in guides, bound to the measurements they rest on, evaluated on every runner.

A guide sentence that states a measured direction or size is written as a claim::

    {{ claim("quantization", "headline.det_int8_p50_ratio", "< 1", "INT8 ran faster than FP32 on the detector") }}

naming the recipe, the metric (a ratio or any number with an interval), the
comparison (``"< 1"``, ``"> 1"``, ``"~ 1"`` for "no detectable difference", any
reference value), and the wording. At build time each claim is evaluated on
every runner from the metric's interval (the deciding one, the wider of the
within-run and between-run intervals):

- ``< x`` holds when the interval's upper end is below ``x``; ``> x`` when its lower
  end is above; ``~ x`` when the interval contains ``x``;
- otherwise it is contradicted on that runner (an interval that contains ``x``
  contradicts a directional claim: the data show no detectable difference);
- a metric that is missing, has no interval or is invalid leaves the claim
  unsupported on that runner.

The page shows the wording followed by what was found on each runner, so a
sentence that is true on one machine and false on another says so, and sends
the reader to the recipe. ``edgetiming site`` lists every claim that its
primary runner contradicts or does not support; ``--strict`` fails on them.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgetiming.stats.quantiles import format_number

__all__ = ["CLAIM", "Claim", "Finding", "contradictions", "evaluate", "find_claims", "render"]

CLAIM = re.compile(r'\{\{\s*claim\(\s*"([^"]*)"\s*,\s*"([^"]*)"\s*,\s*"([<>~])\s*([-+0-9.eE]+)"\s*,\s*"([^"]*)"\s*\)\s*\}\}')
_ANY_CLAIM = re.compile(r"\{\{\s*claim\(")


@dataclass(frozen=True)
class Claim:
    """One ``{{ claim(...) }}`` on a page."""

    page: str
    line: int
    recipe: str
    metric: str
    op: str
    ref: float
    text: str
    source: str

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


@dataclass(frozen=True)
class Finding:
    """A claim on one runner: ``holds`` is True, False, or None when it could not be evaluated."""

    runner: str
    holds: bool | None
    value: float | None = None
    lower: float | None = None
    upper: float | None = None
    state: str = ""
    why: str = ""

    def shown(self, unit: str = "") -> str:
        if self.value is None:
            return self.why
        span = f" [{_fmt(self.lower)}, {_fmt(self.upper)}]" if self.lower is not None else ""
        return f"{_fmt(self.value)}{(' ' + unit) if unit else ''}{span}"


def _fmt(x: float | None) -> str:
    return "?" if x is None else format_number(x)


def find_claims(docs_dir: Path) -> tuple[list[Claim], list[str]]:
    """Every claim in the Markdown under ``docs_dir``, and every malformed one as a problem."""
    claims: list[Claim] = []
    problems: list[str] = []
    for path in sorted(docs_dir.rglob("*.md")):
        rel = path.relative_to(docs_dir).as_posix()
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            good = list(CLAIM.finditer(line))
            for m in good:
                claims.append(Claim(rel, lineno, m.group(1), m.group(2), m.group(3), float(m.group(4)), m.group(5),
                                    m.group(0)))
            if len(_ANY_CLAIM.findall(line)) > len(good):
                problems.append(f"docs/{rel}:{lineno}: a claim must read "
                                '{{ claim("recipe", "metric", "< 1", "the sentence") }} on one line '
                                "(comparison one of <, >, ~ and a number)")
    return claims, problems


def _judge(claim: Claim, runner: str, metric: dict[str, Any] | None) -> Finding:
    if metric is None:
        return Finding(runner, None, why="not measured")
    value = metric.get("value")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return Finding(runner, None, why="not measured")
    state = metric.get("state") or ("valid" if metric.get("valid", True) else "invalid")
    ci = metric.get("ci")
    if not ci or ci[0] is None or ci[1] is None or not all(math.isfinite(v) for v in ci):
        return Finding(runner, None, float(value), state=state, why="no interval")
    lo, hi = float(ci[0]), float(ci[1])
    if state == "invalid":
        return Finding(runner, None, float(value), lo, hi, state, why="invalid: " + "; ".join(metric.get("reasons", [])))
    if claim.op == "<":
        holds = hi < claim.ref
    elif claim.op == ">":
        holds = lo > claim.ref
    else:
        holds = lo <= claim.ref <= hi
    if lo <= claim.ref <= hi:
        why = "no detectable difference"
    else:
        why = "below" if hi < claim.ref else "above"
    return Finding(runner, holds, float(value), lo, hi, state, why)


def evaluate(claim: Claim, metrics_by_runner: dict[str, dict[str, dict[str, Any]] | None]) -> list[Finding]:
    """The claim on each runner; ``metrics_by_runner[runner]`` is that runner's recipe metrics (or None)."""
    out = []
    for runner, metrics in sorted(metrics_by_runner.items()):
        out.append(_judge(claim, runner, None if metrics is None else metrics.get(claim.metric)))
    return out


def contradictions(claim: Claim, findings: list[Finding], primary: str | None) -> list[str]:
    """A message for the primary runner's finding when it contradicts or does not support the claim."""
    for f in findings:
        if f.runner != primary or f.holds is True:
            continue
        if f.holds is False:
            return [f"docs/{claim.where}: claim \"{claim.text}\" is contradicted on {primary}: "
                    f"{claim.recipe} {claim.metric} = {f.shown()} ({f.why}), not {claim.op} {claim.ref:g}; "
                    "reword the sentence or fix the comparison"]
        return [f"docs/{claim.where}: claim \"{claim.text}\" is not supported on {primary}: "
                f"{claim.recipe} {claim.metric}: {f.why}; run `edgetiming run recipes/{claim.recipe}.py` or "
                "name a metric with an interval"]
    return []


def render(claim: Claim, findings: list[Finding], *, recipe_link: str, runner_link: Any) -> str:
    """The wording, then what each runner measured, as Markdown."""
    marks = {True: "as stated", False: "not as stated", None: "not evaluated"}
    parts = []
    for f in findings:
        detail = f.shown() if f.value is not None else f.why
        tail = "" if f.value is None else (f": {f.why}" if f.holds is not True else "")
        parts.append(f"on {runner_link(f.runner)} {html.escape(detail)}{html.escape(tail)} ({marks[f.holds]})")
    decided = {f.holds for f in findings if f.holds is not None}
    advice = ""
    if len(decided) > 1:
        advice = f" The runners disagree: run {recipe_link} on your device to decide for it."
    return (f"{html.escape(claim.text)} <span class=\"et-claim\">(measured by {recipe_link}: "
            + "; ".join(parts) + f".{advice})</span>")
