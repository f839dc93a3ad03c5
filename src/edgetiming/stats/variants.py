"""A model variant against its baseline: the verdict and the sentence, from paired rounds.

The recipes that compare variants of one model (INT8 against FP32, graph
optimization levels against "disable", pruned networks against the dense one)
measure every variant and the baseline in the same rounds, with an A/A arm (the
baseline measured twice). From the per-round ratio (:class:`RatioEstimate`, a
Student t interval on the per-round log ratios) and the A/A ratio,
:func:`speed_verdict` decides one of five outcomes:

- ``"faster"`` / ``"slower"``: the ratio's interval excludes 1 *and* the ratio lies
  outside the A/A ratio's interval (the effect is beyond this run's noise floor);
- ``"same"``: the interval lies inside ``[1/(1+min_effect), 1+min_effect]``, so
  any difference is smaller than ``min_effect``;
- ``"unstable"``: not decided, and the rounds disagree on the direction by more
  than :data:`~edgetiming.stats.validity.UNSTABLE_SPREAD` and than the A/A arm's
  rounds do (some round below ``1/1.1`` and below every A/A round, another above
  ``1.1`` and above every A/A round): the direction does not reproduce;
- ``"no detectable difference"``: anything else (the interval contains 1, or
  overlaps the A/A interval, or is unknown).

Why the ratio and not its whole interval must clear the A/A interval: both intervals
come from the same few rounds and are about as wide, so asking them not to overlap
is a far stricter test than the nominal one. Simulated with 5 rounds and 10%
round-to-round noise in the per-round ratio, a true 1.2x effect is called in 77%
of runs by this rule and in 28% by non-overlap; an A/A pair is called in 0.3%
and 0.1% of runs (an interval excluding 1 alone: 87% and 4%).

Every sentence a recipe prints about a comparison is generated here from those
objects, so it cannot contradict them. :func:`bootstrap_ci` and :func:`guardrail_verdict`
judge a variant's accuracy against a guardrail, a verdict separate from its speed. :func:`tradeoff`, :func:`fastest` and
:func:`against_work` are the conclusions of the quantization, operator-fusion
and pruning recipes, kept here so that they are unit-tested on synthetic data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgetiming.stats.repeated import NO_DIFFERENCE, RatioEstimate, RepeatedEstimate
from edgetiming.stats.validity import UNSTABLE_SPREAD, Judgement, State, judge

__all__ = ["OUTCOMES", "SpeedVerdict", "against_work", "bootstrap_ci", "deadline_check", "fastest", "guardrail_verdict",
           "headline_variant", "speed_verdict", "tradeoff"]

OUTCOMES = ("faster", "slower", "same", "unstable", NO_DIFFERENCE)
_CHECK = {"faster": "PASS", "slower": "FAIL", "same": "FAIL"}


def _span(r: RatioEstimate) -> str:
    iv = r.interval
    return f"[{iv.lower:.3g}, {iv.upper:.3g}]" if iv.known else "[interval unknown]"


def _flips(r: RatioEstimate, aa: RatioEstimate | None) -> bool:
    """Rounds on both sides of 1, each further out than UNSTABLE_SPREAD and than any A/A round."""
    if not r.per_round:
        return False
    low, high = 1 / (1 + UNSTABLE_SPREAD), 1 + UNSTABLE_SPREAD
    if aa is not None and aa.per_round:
        low, high = min(low, *aa.per_round), max(high, *aa.per_round)
    return min(r.per_round) < low and max(r.per_round) > high


def _beyond(r: RatioEstimate, aa: RatioEstimate | None) -> bool:
    """The interval excludes 1 and the ratio lies outside the A/A interval (when that is known)."""
    if r.direction == NO_DIFFERENCE:
        return False
    return aa is None or not aa.interval.known or not aa.interval.contains(r.ratio)


@dataclass(frozen=True)
class SpeedVerdict:
    """What a paired comparison of a variant (``ratio.label_b``) with its baseline (``label_a``) lets us say."""

    ratio: RatioEstimate
    aa: RatioEstimate | None
    outcome: str
    min_effect: float = 0.05
    quantity: str = "P50"
    runner: str = "this runner"

    @property
    def variant(self) -> str:
        return self.ratio.label_b

    @property
    def baseline(self) -> str:
        return self.ratio.label_a

    @property
    def check(self) -> str:
        """Verdict of "the variant is faster than the baseline": PASS, FAIL or INCONCLUSIVE."""
        return _CHECK.get(self.outcome, "INCONCLUSIVE")

    def noise_floor(self) -> str:
        if self.aa is None:
            return "no A/A arm, so the noise floor of this run is unknown"
        return f"A/A ratio {self.aa.ratio:.3g} {_span(self.aa)}, the noise floor of this run"

    def sentence(self) -> str:
        """One sentence: outcome, size, interval, rounds, runner, and the A/A noise floor."""
        r, a, b, where = self.ratio, self.baseline, self.variant, f"on {self.runner}"
        tail = (f"({self.quantity} ratio {r.ratio:.3g}, {r.interval.confidence:.0%} interval {_span(r)} "
                f"over {r.rounds} rounds; {self.noise_floor()})")
        if self.outcome == "faster":
            return f"{b} was {1 / r.ratio:.2f}x faster than {a} {where} {tail}."
        if self.outcome == "slower":
            return f"{b} was {r.ratio:.2f}x slower than {a} {where} {tail}."
        if self.outcome == "same":
            return (f"{b} was within {self.min_effect:.0%} of {a} {where}: the whole interval lies inside "
                    f"[{1 / (1 + self.min_effect):.3g}, {1 + self.min_effect:.3g}] {tail}.")
        if self.outcome == "unstable":
            return (f"{b} against {a} {where}: unstable, the rounds disagree on the direction (per-round ratios "
                    f"from {min(r.per_round):.2f} to {max(r.per_round):.2f}) {tail}.")
        why = "" if r.direction == NO_DIFFERENCE else ": the interval excludes 1 but the ratio lies inside the A/A interval"
        return f"{b} and {a}: {NO_DIFFERENCE} {where}{why} {tail}."

    def judgement(self) -> Judgement:
        """The state of the ratio as a metric: unstable when the rounds flip, the interval is unknown
        or the A/A arm differed from itself."""
        reasons = []
        if not self.ratio.interval.known:
            reasons.append("fewer than 2 rounds: no interval over rounds")
        if self.outcome == "unstable":
            reasons.append(f"per-round ratios on both sides of 1 ({min(self.ratio.per_round):.2f} to "
                           f"{max(self.ratio.per_round):.2f})")
        if self.aa is not None and self.aa.direction != NO_DIFFERENCE:
            reasons.append(f"the A/A ratio's interval {_span(self.aa)} excludes 1: the baseline differed from itself")
        return judge(unstable_because=reasons, notes=[self.outcome])

    def metric_fields(self) -> dict[str, Any]:
        """Keyword arguments for ``report.metric`` of the ratio: value, interval, rounds, state, outcome."""
        iv = self.ratio.interval
        return {"value": self.ratio.ratio, "ci": (iv.lower, iv.upper) if iv.known else None,
                "n": self.ratio.rounds, "runs": self.ratio.rounds, "judgement": self.judgement(),
                "note": self.outcome}


def speed_verdict(ratio: RatioEstimate, aa: RatioEstimate | None = None, *, min_effect: float = 0.05,
                  quantity: str = "P50", runner: str | None = None) -> SpeedVerdict:
    """Decide the outcome of ``ratio`` (variant / baseline, per round) against the A/A ratio ``aa``.

    Examples
    --------
    >>> from edgetiming.stats.repeated import paired_ratio
    >>> v = speed_verdict(paired_ratio([10, 11, 10, 12, 10], [15, 16.4, 15.2, 18, 14.9], label_a="fp32",
    ...                                label_b="int8"), paired_ratio([10, 11, 10, 12, 10], [10.1, 11, 9.9, 12.2, 10]))
    >>> v.outcome, v.check
    ('slower', 'FAIL')
    >>> speed_verdict(paired_ratio([10, 10], [15.2, 8.3])).outcome
    'unstable'
    """
    iv = ratio.interval
    if _beyond(ratio, aa):
        outcome = "faster" if iv.upper < 1 else "slower"  # type: ignore[operator]
    elif iv.known and 1 / (1 + min_effect) <= iv.lower and iv.upper <= 1 + min_effect:  # type: ignore[operator]
        outcome = "same"
    elif _flips(ratio, aa):
        outcome = "unstable"
    else:
        outcome = NO_DIFFERENCE
    return SpeedVerdict(ratio, aa, outcome, min_effect, quantity, runner or "this runner")


def deadline_check(est: RepeatedEstimate, deadline_ms: float, what: str) -> tuple[str, str]:
    """SLO verdict of a percentile over rounds: PASS when the deciding interval is under the deadline,
    FAIL when it is all above, INCONCLUSIVE otherwise, and no verdict (INCONCLUSIVE) when invalid."""
    p = f"P{est.p * 100:g}"
    where = (f"{p} {est.value:.2f} ms, deciding interval [{est.lower:.2f}, {est.upper:.2f}] ms "
             f"over {est.runs} rounds, deadline {deadline_ms:g} ms")
    if est.judgement.state is State.INVALID:
        return "INCONCLUSIVE", f"{what}: no verdict, the estimate is invalid ({'; '.join(est.judgement.reasons)}); {where}"
    verdict = "PASS" if est.upper <= deadline_ms else "FAIL" if est.lower > deadline_ms else "INCONCLUSIVE"
    return verdict, f"{what}: {where}"


def tradeoff(speed: Mapping[str, SpeedVerdict], accuracy: Mapping[str, str], model: str) -> tuple[str, str]:
    """Is post-training quantization enough for ``model``? ``(verdict, sentence)``.

    ``speed`` maps each INT8 variant to its verdict against FP32, ``accuracy`` to its
    guardrail verdict (PASS / FAIL / INCONCLUSIVE). The two are separate verdicts; a
    variant answers "yes" only when it is detectably faster *and* passes the guardrail.
    """
    if not speed:
        return "NOT_MEASURED", f"no INT8 variant of the {model} was made."
    runner = next(iter(speed.values())).runner
    ok = [v for v, s in speed.items() if s.outcome == "faster" and accuracy.get(v) == "PASS"]
    faster = [v for v, s in speed.items() if s.outcome == "faster"]
    open_ = [v for v, s in speed.items() if accuracy.get(v) != "FAIL" and s.outcome in ("faster", NO_DIFFERENCE,
                                                                                        "unstable")]
    each = "; ".join(f"{v}: {s.outcome}, guardrail {accuracy.get(v, 'not measured')}" for v, s in speed.items())
    if ok:
        best = min(ok, key=lambda v: speed[v].ratio.ratio)
        return "PASS", (f"post-training quantization is enough for the {model} on {runner}: {best} is "
                        f"{1 / speed[best].ratio.ratio:.2f}x faster than fp32 and inside the accuracy guardrail "
                        f"({each}).")
    if open_:
        return "INCONCLUSIVE", (f"not decided for the {model} on {runner}: {', '.join(open_)} may keep the accuracy "
                                f"but {'is' if len(open_) == 1 else 'are'} not shown to be both faster and accurate "
                                f"({each}). Measure more rounds, or on a quieter machine, before deciding.")
    if faster:
        best = min(faster, key=lambda v: speed[v].ratio.ratio)
        return "FAIL", (f"INT8 is faster for the {model} on {runner} ({best} {1 / speed[best].ratio.ratio:.2f}x) but "
                        f"no faster variant keeps the accuracy inside the guardrail ({each}): exclude the most "
                        "sensitive layers (`nodes_to_exclude`) or calibrate on more data; if the loss remains, "
                        "quantization-aware training is the next step.")
    return "FAIL", (f"no INT8 variant of the {model} was both faster than fp32 and accurate on {runner} ({each}): "
                    "here quantization buys only size, and quantization-aware training would not change the speed.")


def fastest(verdicts: Sequence[SpeedVerdict]) -> tuple[SpeedVerdict | None, str]:
    """The variant detectably faster than the baseline with the lowest ratio, and a sentence about it."""
    if not verdicts:
        return None, "nothing was compared."
    base, runner = verdicts[0].baseline, verdicts[0].runner
    faster = [v for v in verdicts if v.outcome == "faster"]
    if not faster:
        each = "; ".join(f"{v.variant}: {v.outcome}" for v in verdicts)
        return None, f"no option was detectably faster than {base} on {runner} ({each})."
    best = min(faster, key=lambda v: v.ratio.ratio)
    others = [v.variant for v in faster if v is not best]
    return best, (f"fastest on {runner}: {best.variant}, {1 / best.ratio.ratio:.2f}x faster than {base} "
                  f"(interval {_span(best.ratio)})" + (f"; also faster than {base}: {', '.join(others)}" if others
                                                       else "") + ".")


def against_work(v: SpeedVerdict, work_share: float) -> str:
    """What a pruned variant's time ratio says against its share of the baseline's nonzero work."""
    r = v.ratio
    if v.outcome == "faster" and work_share < 1:
        more = " (more than the work alone explains)" if r.interval.upper < work_share else ""  # type: ignore[operator]
        return (f"it turns {1 - work_share:.0%} less work into {1 - r.ratio:.0%} less time{more} "
                f"(ratio {r.ratio:.3g} {_span(r)}, ideal {work_share:.2f}).")
    if r.interval.known and r.interval.lower > work_share and not math.isclose(work_share, 1.0):  # type: ignore[operator]
        return (f"it takes at least {r.interval.lower:.2f} of the {v.baseline} time where its nonzero work would "
                f"allow {work_share:.2f}: the removed work bought at most a small part of the time it promises.")
    return f"its ratio {r.ratio:.3g} {_span(r)} is compatible with its share of the work ({work_share:.2f})."


def bootstrap_ci(stat: Callable[[np.ndarray], float], n: int, *, n_boot: int = 2000,
                 rng: np.random.Generator | None = None, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat(indices)`` over ``n`` items resampled with replacement.

    ``stat`` receives an index array (``n`` draws from ``range(n)``) and returns the statistic of
    those items, so a statistic of paired arrays (a variant's errors minus FP32's on the same
    lines) resamples the pairs together.

    Examples
    --------
    >>> x = np.arange(10.0)
    >>> lo, hi = bootstrap_ci(lambda i: x[i].mean(), x.size, rng=np.random.default_rng(0))
    >>> lo < 4.5 < hi
    True
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    draws = np.array([stat(rng.integers(0, n, n)) for _ in range(n_boot)])
    a = (1 - confidence) / 2
    return float(np.quantile(draws, a)), float(np.quantile(draws, 1 - a))


def guardrail_verdict(ci: tuple[float, float], limit: float, *, higher_is_better: bool) -> str:
    """PASS when the whole interval ``ci`` keeps the guardrail ``limit``, FAIL when none of it does,
    otherwise INCONCLUSIVE.

    Examples
    --------
    >>> guardrail_verdict((0.002, 0.008), 0.01, higher_is_better=False)
    'PASS'
    >>> guardrail_verdict((0.7, 0.85), 0.8, higher_is_better=True)
    'INCONCLUSIVE'
    """
    lo, hi = ci
    if higher_is_better:
        return "PASS" if lo >= limit else "FAIL" if hi < limit else "INCONCLUSIVE"
    return "PASS" if hi <= limit else "FAIL" if lo > limit else "INCONCLUSIVE"


def headline_variant(speed: Mapping[str, SpeedVerdict], accuracy: Mapping[str, str]) -> str | None:
    """The variant a headline reports: the fastest (lowest ratio) of those whose accuracy guardrail is
    PASS, else of those not FAIL, else of all; None when nothing was compared.

    Examples
    --------
    >>> from edgetiming.stats.repeated import paired_ratio
    >>> fp32 = [10, 11, 10, 12, 10]
    >>> s = {v: speed_verdict(paired_ratio(fp32, [x * k for x in fp32])) for v, k in (("a", 0.5), ("b", 0.8))}
    >>> headline_variant(s, {"a": "FAIL", "b": "INCONCLUSIVE"}), headline_variant(s, {"a": "FAIL", "b": "FAIL"})
    ('b', 'a')
    """
    made = list(speed)
    pool = ([v for v in made if accuracy.get(v) == "PASS"] or [v for v in made if accuracy.get(v) != "FAIL"]
            or made)
    return min(pool, key=lambda v: speed[v].ratio.ratio, default=None)
