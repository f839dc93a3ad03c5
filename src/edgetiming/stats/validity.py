"""Whether a number may be used: the one place that decides a metric's state.

Three states, each with its reasons (the rules of the guide
``docs/guides/measurement/percentiles-and-confidence.md``, restated here):

- **invalid**: the method was violated, so the number must not be used. Too few
  samples for the two-sided interval of the percentile claimed; a throttle
  signal during the run; harness overhead above 1% of P50; no steady state
  reached; configurations not interleaved.
- **unstable**: the method was followed but the number does not reproduce.
  Independent runs (fresh processes) disagree by more than their intervals
  allow, a regime change happened inside a run, or the machine was busy beyond
  the interference limits. The between-run spread is the honest uncertainty.
- **valid**: neither.

Jitter is the subject of the site, not a defect: a wide distribution (high
coefficient of variation, long tail) is reported as a jitter statistic and is
never a reason on its own. Every limit lives here; a recipe may add a reason
(which can only make a state worse) but cannot mark a metric valid.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "INTERFERENCE_LIMIT",
    "OVERHEAD_LIMIT",
    "RULE",
    "UNSTABLE_SPREAD",
    "Judgement",
    "State",
    "judge",
    "min_samples_two_sided",
    "runs_disagree",
    "worst",
]

# The rule a result was judged under; stored with every judged metric so a
# bundle judged under an older rule says so on its page.
RULE = "three-state/2026-12"
RULE_LEGACY = "cv-10pct"  # results written before the three states: valid/invalid with "CV > 10%"

OVERHEAD_LIMIT = 0.01  # harness overhead above 1% of P50 invalidates
STEADY_INVALID = ("no steady state",)  # warmup classes that invalidate
# Interference: share of the measuring window during which other processes held a
# CPU the measurement needed, above which a run is unstable (host.interference).
INTERFERENCE_LIMIT = 0.10
# Runs that disagree beyond their intervals are unstable when their estimates also
# differ materially: the largest per-run estimate more than 10% above the smallest.
# Below that the between-run interval (which the verdicts use) absorbs the spread.
UNSTABLE_SPREAD = 0.10
DEFAULT_CONFIDENCE = 0.95


class State(str, enum.Enum):
    """A metric's state, worst last."""

    VALID = "valid"
    UNSTABLE = "unstable"
    INVALID = "invalid"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {State.VALID: 0, State.UNSTABLE: 1, State.INVALID: 2}


def worst(states: Iterable[State]) -> State:
    """The worst of ``states`` (VALID when empty)."""
    out = State.VALID
    for s in states:
        if _RANK[State(s)] > _RANK[out]:
            out = State(s)
    return out


@dataclass(frozen=True)
class Judgement:
    """A state with the reasons for it; ``notes`` never change the state."""

    state: State = State.VALID
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    rule: str = RULE

    @property
    def valid(self) -> bool:
        return self.state is State.VALID

    def worsened(self, state: State, reason: str) -> Judgement:
        """This judgement with one more reason; the state only gets worse."""
        return Judgement(worst((self.state, state)), (*self.reasons, reason), self.notes, self.rule)

    def combined(self, other: Judgement) -> Judgement:
        reasons = self.reasons + tuple(r for r in other.reasons if r not in self.reasons)
        notes = self.notes + tuple(n for n in other.notes if n not in self.notes)
        return Judgement(worst((self.state, other.state)), reasons, notes, self.rule)

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state.value, "reasons": list(self.reasons), "notes": list(self.notes),
                "rule": self.rule}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Judgement:
        return cls(State(d["state"]), tuple(d.get("reasons", ())), tuple(d.get("notes", ())),
                   d.get("rule", RULE))


def min_samples_two_sided(p: float, confidence: float = DEFAULT_CONFIDENCE) -> int:
    """Smallest n whose two-sided ``confidence`` interval bounds the p-quantile on both sides.

    ``n >= ln(alpha/2) / ln(p)``: P95 72, P99 368, P99.9 3,688 at 95%. This is the
    minimum a PASS/FAIL verdict from the two-sided interval needs.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    alpha = 1.0 - confidence
    # the upper side needs P(all n samples below the quantile) = p**n <= alpha/2;
    # the lower side needs (1-p)**n <= alpha/2, which is the binding one for p < 0.5
    q = max(p, 1.0 - p)
    return math.ceil(math.log(alpha / 2.0) / math.log(q) - 1e-9)


def _label(p: float) -> str:
    return f"P{p * 100:g}"


def runs_disagree(estimates: Sequence[tuple[float, float]]) -> bool:
    """True when per-run intervals ``(lower, upper)`` share no common value.

    Each run's interval should cover the same quantile if the runs draw from one
    distribution; when the largest lower end is above the smallest upper end,
    no single value lies in all of them and the runs disagree.
    """
    if len(estimates) < 2:
        return False
    return max(lo for lo, _ in estimates) > min(hi for _, hi in estimates)


def judge(
    *,
    n: int | None = None,
    percentiles: Iterable[float] = (),
    confidence: float = DEFAULT_CONFIDENCE,
    overhead_ns: float | None = None,
    p50_ns: float | None = None,
    throttle_seen: bool = False,
    steady_class: str | None = None,
    interleaved: bool | None = None,
    run_intervals: Sequence[tuple[float, float]] = (),
    run_values: Sequence[float] = (),
    regime_change: str | None = None,
    interference: float | None = None,
    invalid_because: Iterable[str] = (),
    unstable_because: Iterable[str] = (),
    notes: Iterable[str] = (),
) -> Judgement:
    """Decide a metric's state from what is known about how it was measured.

    Parameters
    ----------
    n : samples the metric is computed from (per run when several runs are pooled).
    percentiles : the percentiles the metric claims (e.g. ``(0.99,)``).
    overhead_ns, p50_ns : harness overhead per call and the metric's P50, both in ns.
    throttle_seen : a throttle signal was seen during the run.
    steady_class : the warmup class of the run (``"no steady state"`` invalidates).
    interleaved : for a comparison, whether its configurations were interleaved.
    run_intervals, run_values : the per-run ``(lower, upper)`` intervals and estimates of the
        same quantity in independent processes; runs that disagree beyond their intervals, with
        estimates more than :data:`UNSTABLE_SPREAD` apart, make the metric unstable.
    regime_change : a description of a level shift inside the run, if one was found.
    interference : share of the measuring window the machine was busy with other work.
    invalid_because, unstable_because : reasons a recipe adds; they can only worsen the state.
    notes : context that does not change the state (for example the CV as a jitter statistic).
    """
    j = Judgement(notes=tuple(notes))
    for p in percentiles:
        need = min_samples_two_sided(p, confidence)
        if n is not None and n < need:
            j = j.worsened(State.INVALID, f"{n} samples are fewer than the {need} a two-sided "
                                          f"{confidence:.0%} interval for {_label(p)} needs")
    if throttle_seen:
        j = j.worsened(State.INVALID, "a throttle signal was seen during the run")
    if overhead_ns is not None and p50_ns is not None:
        if p50_ns <= 0 or overhead_ns > OVERHEAD_LIMIT * p50_ns:
            share = overhead_ns / p50_ns if p50_ns > 0 else math.inf
            j = j.worsened(State.INVALID, f"harness overhead {overhead_ns:,.0f} ns is {share:.1%} of P50 "
                                          f"(limit {OVERHEAD_LIMIT:.0%})")
    if steady_class in STEADY_INVALID:
        j = j.worsened(State.INVALID, "the run reached no steady state")
    if interleaved is False:
        j = j.worsened(State.INVALID, "the configurations compared were not interleaved")
    for reason in invalid_because:
        j = j.worsened(State.INVALID, reason)
    spread = (max(run_values) / min(run_values) - 1.0) if len(run_values) > 1 and min(run_values) > 0 else None
    if runs_disagree(run_intervals) and (spread is None or spread > UNSTABLE_SPREAD):
        size = "" if spread is None else f" (largest {spread:.0%} above smallest)"
        j = j.worsened(State.UNSTABLE, f"{len(run_intervals)} independent runs disagree beyond their "
                                       f"intervals{size}: the machine's noise dominates, so the between-run "
                                       "interval is the uncertainty")
    if regime_change:
        j = j.worsened(State.UNSTABLE, f"the level shifted inside the run ({regime_change})")
    if interference is not None and interference > INTERFERENCE_LIMIT:
        j = j.worsened(State.UNSTABLE, f"other work used the CPU for {interference:.0%} of the run "
                                       f"(limit {INTERFERENCE_LIMIT:.0%})")
    for reason in unstable_because:
        j = j.worsened(State.UNSTABLE, reason)
    return j
