"""Numbers from repeated processes: between-run intervals, paired ratios over rounds, regressions.

One process's exact order-statistic interval covers the quantile of *that
process's* distribution; a re-run draws from a shifted one (new memory layout,
other tenants, another time). Following Kalibera & Jones ("Rigorous benchmarking
in reasonable time", ISMM 2013), a headline number comes from R independent
processes ("runs" or "rounds"), and its uncertainty is estimated over them:

- :func:`repeated_quantile`: the pooled estimate, the within-run exact interval
  of the pooled samples, and a **between-run interval**: a Student t interval on
  the logarithms of the R per-run estimates (so it is a ratio-scale interval
  around their geometric mean). The interval that decides verdicts is the hull
  of the two (the wider one, on each side).
- :func:`paired_ratio`: B/A from rounds in which both were measured with the
  same inputs, interleaved; the ratio is computed per round and its interval is
  the t interval of the per-round log ratios ("log-ratio t interval"). When it
  contains 1 the answer is "no detectable difference".
- :func:`regression`: a before/after comparison from the per-run estimates of
  two separate runs (Welch's t interval on log estimates), so two identical
  builds are flagged at the nominal rate, not whenever one-run intervals miss.

Inputs are per-run arrays of samples (any unit) or per-run estimates; outputs
are in the same unit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as _sps

from edgetiming.stats.autocorr import (
    DEFAULT_BATCHES,
    MATERIAL_AUTOCORR,
    batch_quantile_ci,
    effective_sample_size,
    lag1_autocorrelation,
    regime_change,
)
from edgetiming.stats.quantiles import QuantileEstimate, quantile, quantile_ci
from edgetiming.stats.validity import Judgement, judge

__all__ = [
    "BETWEEN_METHOD",
    "RATIO_METHOD",
    "Interval",
    "RatioEstimate",
    "RepeatedEstimate",
    "balanced_order",
    "between_run_interval",
    "paired_ratio",
    "regression",
    "attribute_step",
    "repeated_quantile",
]

BETWEEN_METHOD = "Student t interval on the log of the per-run estimates"
RATIO_METHOD = "Student t interval on the per-round log ratios"
NO_DIFFERENCE = "no detectable difference"


@dataclass(frozen=True)
class Interval:
    """A two-sided interval with the method that produced it; ``None`` ends mean unknown."""

    lower: float | None
    upper: float | None
    confidence: float
    method: str

    @property
    def known(self) -> bool:
        return self.lower is not None and self.upper is not None

    def contains(self, x: float) -> bool:
        return self.known and self.lower <= x <= self.upper  # type: ignore[operator]

    @property
    def bounds(self) -> tuple[float, float] | None:
        """``(lower, upper)`` when both ends are known, else None: what ``report.metric(ci=...)`` takes.

        >>> Interval(0.9, 1.2, 0.95, "t").bounds, Interval(None, None, 0.95, "t").bounds
        ((0.9, 1.2), None)
        """
        return (self.lower, self.upper) if self.known else None  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        return {"lower": self.lower, "upper": self.upper, "confidence": self.confidence, "method": self.method}


def _t_interval_log(values: Sequence[float], confidence: float, method: str) -> Interval:
    x = np.asarray(values, dtype=float)
    if x.size < 2 or not np.all(np.isfinite(x)) or np.any(x <= 0):
        return Interval(None, None, confidence, method)
    logs = np.log(x)
    mean, sd = float(logs.mean()), float(logs.std(ddof=1))
    t = float(_sps.t.ppf(0.5 + confidence / 2.0, x.size - 1))
    half = t * sd / math.sqrt(x.size)
    return Interval(math.exp(mean - half), math.exp(mean + half), confidence, method)


def between_run_interval(estimates: Sequence[float], confidence: float = 0.95) -> Interval:
    """Interval for the typical per-run estimate from R >= 2 independent runs.

    A Student t interval on ``log(estimate)``: ``exp(mean ± t(R-1) * sd / sqrt(R))``.
    Fewer than 2 runs give an unknown interval (``lower``/``upper`` None).

    Examples
    --------
    >>> iv = between_run_interval([10.0, 11.0, 9.5, 10.4, 10.1])
    >>> round(iv.lower, 2), round(iv.upper, 2)
    (9.53, 10.89)
    """
    return _t_interval_log(estimates, confidence, BETWEEN_METHOD)


@dataclass(frozen=True)
class RepeatedEstimate:
    """A percentile from R runs: pooled value, within-run and between-run intervals, state."""

    p: float
    value: float
    within: QuantileEstimate
    between: Interval
    per_run: tuple[QuantileEstimate, ...]
    judgement: Judgement = field(default_factory=Judgement)

    @property
    def runs(self) -> int:
        return len(self.per_run)

    @property
    def lower(self) -> float:
        """Lower end of the deciding interval (the hull of within and between)."""
        ends = [self.within.lower] + ([self.between.lower] if self.between.known else [])
        return float(min(ends))

    @property
    def upper(self) -> float:
        ends = [self.within.upper] + ([self.between.upper] if self.between.known else [])
        return float(max(ends))

    @property
    def deciding(self) -> str:
        """Which interval set the deciding one's width: ``"between"`` or ``"within"``."""
        if not self.between.known:
            return "within"
        wb = self.between.upper - self.between.lower  # type: ignore[operator]
        ww = self.within.upper - self.within.lower
        return "between" if wb > ww else "within"

    def scaled(self, factor: float) -> RepeatedEstimate:
        b = self.between
        between = Interval(None if b.lower is None else b.lower * factor,
                           None if b.upper is None else b.upper * factor, b.confidence, b.method)
        return RepeatedEstimate(self.p, self.value * factor, self.within.scaled(factor), between,
                                tuple(q.scaled(factor) for q in self.per_run), self.judgement)

    def to_dict(self) -> dict[str, Any]:
        return {
            "p": self.p, "value": self.value, "runs": self.runs,
            "within": self.within.to_dict(), "between": self.between.to_dict(),
            "lower": self.lower if math.isfinite(self.lower) else None,
            "upper": self.upper if math.isfinite(self.upper) else None,
            "per_run": [q.value for q in self.per_run], "judgement": self.judgement.to_dict(),
        }


def repeated_quantile(samples_by_run: Sequence[ArrayLike], p: float, confidence: float = 0.95,
                      *, contiguous: bool = True, **judge_kwargs: Any) -> RepeatedEstimate:
    """The p-quantile from several independent runs, with both intervals and a state.

    ``samples_by_run`` holds one array of (steady) samples per run. The state is
    judged by :func:`edgetiming.stats.validity.judge` on the smallest run's
    sample count and the per-run intervals (runs that disagree beyond them make
    it *unstable*); ``judge_kwargs`` pass further evidence (throttle, overhead, ...).
    Each run's lag-1 autocorrelation and effective sample size are notes; when one
    exceeds :data:`~edgetiming.stats.autocorr.MATERIAL_AUTOCORR` the within-run
    interval is widened to the batch-means one, and a level shift inside a run
    (:func:`~edgetiming.stats.autocorr.regime_change`) makes the estimate unstable.

    ``contiguous=False`` says each run's samples are blocks that were interleaved with
    other configurations' blocks (:func:`edgetiming.measure.rounds.run_rounds`): a level
    difference between such blocks is carry-over from whatever ran before them, which the
    balanced order spreads over every arm alike, so it is a note, not a reason to call the
    estimate unstable; the between-run interval carries what remains of it.
    """
    runs = [np.asarray(s, dtype=float) for s in samples_by_run if np.asarray(s).size]
    if not runs:
        raise ValueError("repeated_quantile needs at least one run with samples")
    pooled = np.concatenate(runs)
    per_run = tuple(quantile_ci(r, p, confidence) for r in runs)
    within = quantile_ci(pooled, p, confidence)
    between = between_run_interval([q.value for q in per_run], confidence)
    intervals = [(q.lower, q.upper) for q in per_run if q.bounded]
    notes = list(judge_kwargs.pop("notes", ()))
    # samples inside a run are autocorrelated: say how much, widen by batch means when it matters
    rhos = [lag1_autocorrelation(r) for r in runs]
    notes.append("lag-1 autocorrelation of log latency per run " + ", ".join(f"{x:.2f}" for x in rhos)
                 + "; effective sample size " + ", ".join(f"{effective_sample_size(r.size, x):.0f} of {r.size}"
                                                          for r, x in zip(runs, rhos)))
    if max((x for x in rhos if math.isfinite(x)), default=0.0) > MATERIAL_AUTOCORR:
        bm = batch_quantile_ci(pooled, p, confidence, DEFAULT_BATCHES * len(runs))
        if bm is not None and (bm[0] < within.lower or bm[1] > within.upper):
            within = replace(within, lower=min(within.lower, max(bm[0], float(pooled.min()))),
                             upper=max(within.upper, min(bm[1], float(pooled.max()))))
            notes.append(f"within-run interval widened by batch means (autocorrelation above {MATERIAL_AUTOCORR:g})")
    if len(runs) < 2:
        notes.append("one process only: the between-run spread is unknown")
    shifts = [(i, regime_change(r)) for i, r in enumerate(runs)]
    shift_text = "; ".join(f"run {i + 1}: {rc.describe()}" for i, rc in shifts if rc.found)
    if shift_text and not contiguous:
        notes.append("level differences between this arm's interleaved blocks (carry-over from the blocks "
                     f"before them, balanced over arms by the order): {shift_text}")
    elif shift_text and not judge_kwargs.get("regime_change"):
        judge_kwargs["regime_change"] = shift_text
    j = judge(n=min(r.size for r in runs), percentiles=(p,), confidence=confidence,
              run_intervals=intervals if len(intervals) == len(runs) else (),
              run_values=[q.value for q in per_run], notes=notes, **judge_kwargs)
    return RepeatedEstimate(p, float(quantile(pooled, p)), within, between, per_run, j)


@dataclass(frozen=True)
class RatioEstimate:
    """A paired ratio B/A over rounds, with its interval and what it lets us say."""

    ratio: float
    interval: Interval
    per_round: tuple[float, ...]
    label_a: str = "A"
    label_b: str = "B"

    @property
    def rounds(self) -> int:
        return len(self.per_round)

    @property
    def n_lower(self) -> int:
        """Rounds in which B was below A (ratio < 1)."""
        return sum(1 for r in self.per_round if r < 1.0)

    @property
    def direction(self) -> str:
        """``"lower"``, ``"higher"`` or :data:`NO_DIFFERENCE` (the interval contains 1 or is unknown)."""
        iv = self.interval
        if not iv.known or iv.contains(1.0):
            return NO_DIFFERENCE
        return "lower" if iv.upper < 1.0 else "higher"  # type: ignore[operator]

    def sentence(self, quantity: str = "P50", *, smaller_is: str = "faster", larger_is: str = "slower",
                 runner: str | None = None) -> str:
        """One sentence generated from the numbers, e.g. "B was 1.42x slower than A [1.31, 1.55] ..."."""
        where = f" on {runner}" if runner else ""
        iv = self.interval
        span = f"[{iv.lower:.3g}, {iv.upper:.3g}]" if iv.known else "[interval unknown]"
        tail = f"({quantity} ratio {self.ratio:.3g}, {iv.confidence:.0%} interval {span} over {self.rounds} rounds)"
        if self.direction == NO_DIFFERENCE:
            return f"{self.label_b} and {self.label_a}: {NO_DIFFERENCE}{where} {tail}."
        if self.direction == "lower":
            return f"{self.label_b} was {1 / self.ratio:.2f}x {smaller_is} than {self.label_a}{where} {tail}."
        return f"{self.label_b} was {self.ratio:.2f}x {larger_is} than {self.label_a}{where} {tail}."

    def to_dict(self) -> dict[str, Any]:
        return {"ratio": self.ratio, "interval": self.interval.to_dict(), "per_round": list(self.per_round),
                "rounds": self.rounds, "direction": self.direction, "a": self.label_a, "b": self.label_b}


def paired_ratio(a_by_round: Sequence[float], b_by_round: Sequence[float], confidence: float = 0.95, *,
                 label_a: str = "A", label_b: str = "B") -> RatioEstimate:
    """B/A from per-round estimates measured in the same rounds (paired).

    The point estimate is the geometric mean of the per-round ratios; the
    interval is the t interval of their logs (:data:`RATIO_METHOD`). Ten of ten
    rounds in one direction give an interval that excludes 1; a ratio that flips
    between rounds gives one that contains it.

    Examples
    --------
    >>> r = paired_ratio([10, 11, 10.5, 9.8, 10.2], [7.1, 7.9, 7.4, 6.9, 7.3])
    >>> r.direction, round(r.ratio, 2)
    ('lower', 0.71)
    """
    a = np.asarray(a_by_round, dtype=float)
    b = np.asarray(b_by_round, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError("paired_ratio needs two equal-length, non-empty sequences of per-round estimates")
    per = b / a
    iv = _t_interval_log(per, confidence, RATIO_METHOD)
    ratio = float(np.exp(np.mean(np.log(per)))) if np.all(per > 0) else float("nan")
    return RatioEstimate(ratio, iv, tuple(float(x) for x in per), label_a, label_b)


def regression(before: Sequence[float], after: Sequence[float], confidence: float = 0.95) -> RatioEstimate:
    """after/before from the per-run estimates of two separate runs (not paired).

    Welch's t interval on the difference of mean log estimates, returned as a
    ratio interval. Identical builds are flagged (interval excluding 1) at about
    ``1 - confidence`` of the time; a regression is ``direction == "higher"``.
    """
    x = np.log(np.asarray(before, dtype=float))
    y = np.log(np.asarray(after, dtype=float))
    method = "Welch t interval on the log of the per-run estimates"
    ratio = float(math.exp(y.mean() - x.mean())) if x.size and y.size else float("nan")
    if x.size < 2 or y.size < 2:
        return RatioEstimate(ratio, Interval(None, None, confidence, method), (), "before", "after")
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(vx + vy)
    if se == 0:
        iv = Interval(ratio, ratio, confidence, method)
    else:
        dof = (vx + vy) ** 2 / ((vx ** 2 / (x.size - 1) if vx else 0) + (vy ** 2 / (y.size - 1) if vy else 0))
        t = float(_sps.t.ppf(0.5 + confidence / 2.0, dof))
        d = y.mean() - x.mean()
        iv = Interval(math.exp(d - t * se), math.exp(d + t * se), confidence, method)
    return RatioEstimate(ratio, iv, (), "before", "after")


def balanced_order(labels: Sequence[str], blocks: int, rng: np.random.Generator) -> list[str]:
    """A randomised, balanced interleaving of ``labels`` over ``blocks`` rounds of blocks.

    Each round holds every label once in a fresh random order, and every other
    round is reversed (ABBA-style), so each label runs equally often early and
    late. Returns ``blocks * len(labels)`` labels.
    """
    order: list[str] = []
    for i in range(blocks):
        perm = [labels[j] for j in rng.permutation(len(labels))]
        if i % 2 and order:
            # mirror the previous round so no label is always first
            perm = list(reversed(order[-len(labels):]))
        order.extend(perm)
    return order


def attribute_step(before: Sequence[float], before_sentinel: Sequence[float], after: Sequence[float],
                   after_sentinel: Sequence[float], *, min_effect: float = 0.05,
                   confidence: float = 0.95) -> tuple[str, str]:
    """Whose a step from ``before`` to ``after`` is, from a sentinel timed in the same processes.

    ``before``/``after`` are per-process estimates, ``*_sentinel`` the sentinel's median in
    each of those processes (same order). The raw values, the model in sentinel units
    (estimate / sentinel) and the sentinel itself are each compared with :func:`regression`
    (Welch's t on logs). A factor *moved* when its interval lies beyond ``1 + min_effect``
    (or below ``1 / (1 + min_effect)``); the sentinel moved when its interval excludes 1.

    - the raw values did not move: ``"no step"``;
    - the model in sentinel units moved the same way: ``"model"``;
    - it did not, and the sentinel moved the same way: ``"machine"``;
    - otherwise ``"unclear"`` (also when an interval cannot be formed).

    Returns ``(whose, because)``, ``because`` a clause with the intervals.

    Example
    -------
    >>> attribute_step([10, 10.2, 9.9], [1.0, 1.02, 0.99], [13, 13.3, 12.8], [1.3, 1.33, 1.28])[0]
    'machine'
    >>> attribute_step([10, 10.2, 9.9], [1.0, 1.02, 0.99], [13, 13.3, 12.8], [1.0, 1.01, 0.99])[0]
    'model'
    >>> attribute_step([10, 10.2, 9.9], [1.0, 1.02, 0.99], [10.1, 9.9, 10.0], [1.0, 1.01, 0.99])[0]
    'no step'
    """
    b, bs = np.asarray(before, dtype=float), np.asarray(before_sentinel, dtype=float)
    a, as_ = np.asarray(after, dtype=float), np.asarray(after_sentinel, dtype=float)
    if b.shape != bs.shape or a.shape != as_.shape:
        raise ValueError("each run needs one sentinel median: per-run estimates and sentinel medians differ in length")
    raw = regression(b, a, confidence).interval
    norm = regression(b / bs, a / as_, confidence).interval
    sent = regression(bs, as_, confidence).interval
    if not (raw.known and norm.known and sent.known):
        return "unclear", "too few runs for intervals of the model, the model in sentinel units and the sentinel"
    detail = (f"raw x{raw.lower:.2f}-x{raw.upper:.2f}, in sentinel units x{norm.lower:.2f}-x{norm.upper:.2f}, "
              f"the sentinel itself x{sent.lower:.2f}-x{sent.upper:.2f}")

    def moved(iv: Interval, effect: float) -> int:
        return 1 if iv.lower > 1 + effect else -1 if iv.upper < 1 / (1 + effect) else 0

    d = moved(raw, min_effect)
    if d == 0:
        return "no step", f"no step beyond {min_effect:.0%}: {detail}"
    if moved(norm, min_effect) == d:
        return "model", f"the model's own: {detail}"
    if moved(sent, 0.0) == d:
        return "machine", f"the machine's, not the model's: {detail}"
    return "unclear", f"neither the model in sentinel units nor the sentinel explains it: {detail}"
