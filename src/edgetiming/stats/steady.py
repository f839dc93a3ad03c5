"""Warmup and steady state: change-point classification and a drift test.

Follows Barrett et al., "Virtual machine warmup blows hot and cold" (OOPSLA
2017), as summarized in docs/guides/measurement/cold-start-and-warmup.md:

1. Outliers are the samples outside ``median +- 3*(P90 - P10)`` of their
   200-sample window; they are set aside (counted, never deleted from the run).
2. PELT (the ``ruptures`` package) with a Gaussian mean-and-variance cost and
   penalty ``15 * ln(n)`` finds change points in the remaining series.
3. The run is classified by comparing each segment with the last one:
   ``"flat"`` (every segment equivalent to the last), ``"warmup"`` (the steady
   segment is faster than the earlier, different ones), ``"slowdown"`` (some
   earlier segment was faster) or ``"no steady state"`` (the last change point
   falls in the final quarter of the run, so no steady segment can be vouched for).

ruptures' PELT keeps almost every candidate on such series and is quadratic in
pure Python, so the filtered series is first aggregated into block means of
``ceil(m / max_points)`` samples (at most ``max_points`` = 250 points); change
points are then located to within one block. A 10,000-sample run classifies in
about 0.1-0.2 s on a 2-core VM (a 250-point PELT takes most of it).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import ruptures as rpt
from numpy.typing import ArrayLike
from ruptures.base import BaseCost
from ruptures.exceptions import NotEnoughPoints
from scipy import stats as _sps

__all__ = [
    "DriftAttribution",
    "DriftResult",
    "LevelShift",
    "Segment",
    "SteadyState",
    "attribute_drift",
    "classify_steady_state",
    "drift_test",
    "filter_outliers",
    "level_shift",
]

_NS_PER_MS = 1e6
CLASSES = ("flat", "warmup", "slowdown", "no steady state")


class _FastNormalCost(BaseCost):
    """Gaussian mean+variance change cost ``n * ln(var)`` in O(1) via prefix sums.

    Same model as ruptures' ``CostNormal``; a variance floor of 1e-6 of the whole
    series' variance keeps constant segments finite, scale-free.
    """

    model = "fast_normal"
    min_size = 2

    def fit(self, signal: np.ndarray) -> _FastNormalCost:
        x = np.asarray(signal, dtype=np.float64).ravel()
        self.signal = x.reshape(-1, 1)
        self._s1 = np.concatenate(([0.0], np.cumsum(x)))
        self._s2 = np.concatenate(([0.0], np.cumsum(x * x)))
        self._floor = 1e-6 * float(np.var(x)) + 1e-300
        return self

    def error(self, start: int, end: int) -> float:
        n = end - start
        if n < self.min_size:
            raise NotEnoughPoints
        mean = (self._s1[end] - self._s1[start]) / n
        var = (self._s2[end] - self._s2[start]) / n - mean * mean
        return n * math.log(max(var, 0.0) + self._floor)


@dataclass(frozen=True)
class Segment:
    """A stretch between change points: ``[start, end)`` in original sample indices."""

    start: int
    end: int
    mean_ms: float
    median_ms: float
    n: int  # samples in the segment after outlier filtering


@dataclass(frozen=True)
class SteadyState:
    """Classification of a run's warmup behaviour.

    ``change_points`` are original sample indices where a new segment starts;
    ``steady_start`` is the index from which the run is in its steady state
    (0 when flat, ``None`` when there is no steady state).
    """

    classification: str
    change_points: tuple[int, ...]
    steady_start: int | None
    segments: tuple[Segment, ...]
    n: int
    n_outliers: int
    block_size: int
    penalty: float
    reason: str

    @property
    def warmup_iters(self) -> int | None:
        """Iterations before the steady state (``steady_start``)."""
        return self.steady_start

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["change_points"] = list(self.change_points)
        d["segments"] = [asdict(s) for s in self.segments]
        return d


def filter_outliers(latency_ms: ArrayLike, window: int = 200) -> np.ndarray:
    """Boolean mask of samples kept: within ``median +- 3*(P90 - P10)`` of their
    ``window``-sample block (a trailing block shorter than half a window joins
    the previous one).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.ones(400); x[7] = 50.0
    >>> int((~filter_outliers(x)).sum())
    1
    """
    x = np.asarray(latency_ms, dtype=np.float64).ravel()
    keep = np.ones(x.size, dtype=bool)
    starts = list(range(0, x.size, window))
    if len(starts) > 1 and x.size - starts[-1] < window // 2:
        starts.pop()
    bounds = starts[1:] + [x.size]
    for a, b in zip(starts, bounds):
        w = x[a:b]
        p10, med, p90 = np.percentile(w, [10, 50, 90])
        spread = 3.0 * (p90 - p10)
        keep[a:b] = np.abs(w - med) <= spread
    return keep


def classify_steady_state(
    latency_ns: ArrayLike,
    *,
    window: int = 200,
    penalty_factor: float = 15.0,
    max_points: int = 250,
    min_segment_points: int = 5,
    equivalence_rel: float = 0.02,
    min_steady_fraction: float = 0.25,
    min_n: int = 100,
) -> SteadyState:
    """Classify a run as ``flat``, ``warmup``, ``slowdown`` or ``no steady state``.

    Parameters
    ----------
    latency_ns
        Every iteration in measurement order, warmup included.
    window
        Outlier-filter window in samples.
    penalty_factor
        PELT penalty is ``penalty_factor * ln(points)``.
    max_points
        The filtered series is aggregated into block means so PELT sees at most
        this many points (change points are accurate to one block).
    min_segment_points
        Shortest segment PELT may return, in aggregated points.
    equivalence_rel
        Segments whose means differ from the last segment's by at most this
        fraction are equivalent to it (Barrett et al. use an absolute 1 ms on
        second-long benchmarks; a relative tolerance suits millisecond calls).
    min_steady_fraction
        The steady segment must cover at least this share of the run.
    min_n
        Shorter runs are reported as ``"no steady state"`` (too short to tell).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = np.r_[rng.normal(20e6, 1e6, 500), rng.normal(10e6, 5e5, 4500)]
    >>> s = classify_steady_state(x)
    >>> s.classification, abs(s.steady_start - 500) <= 40
    ('warmup', True)
    """
    x = np.asarray(latency_ns, dtype=np.float64).ravel() / _NS_PER_MS
    n = x.size
    if n == 0 or not np.all(np.isfinite(x)):
        raise ValueError("latency_ns must be a non-empty series of finite values")
    keep = filter_outliers(x, window)
    kept_idx = np.flatnonzero(keep)
    y = x[keep]
    m = y.size
    block = max(1, math.ceil(m / max_points))
    n_blocks = m // block
    if n < min_n or n_blocks < 2 * min_segment_points:
        seg = Segment(0, n, float(x.mean()), float(np.median(x)), m)
        return SteadyState(
            "no steady state",
            (),
            None,
            (seg,),
            n,
            n - m,
            block,
            math.nan,
            f"too few samples ({n}) to look for change points",
        )
    agg = y[: n_blocks * block].reshape(n_blocks, block).mean(axis=1)
    penalty = penalty_factor * math.log(n_blocks)
    algo = rpt.Pelt(custom_cost=_FastNormalCost(), min_size=min_segment_points, jump=1)
    bkps = algo.fit(agg).predict(pen=penalty)[:-1]  # last entry is the series end

    # Map change points back to original indices; the tail remainder joins the last block.
    cps = tuple(int(kept_idx[b * block]) for b in bkps)
    edges = [0, *cps, n]
    segments = []
    for a, b in itertools.pairwise(edges):
        seg_y = x[a:b][keep[a:b]]
        if seg_y.size == 0:
            seg_y = x[a:b]
        segments.append(
            Segment(a, b, float(seg_y.mean()), float(np.median(seg_y)), int(seg_y.size))
        )
    last = segments[-1]
    tol = equivalence_rel * abs(last.mean_ms)

    def same(s: Segment) -> bool:
        return abs(s.mean_ms - last.mean_ms) <= tol

    i = len(segments) - 1
    while i > 0 and same(segments[i - 1]):
        i -= 1
    steady_start = segments[i].start
    different = [s for s in segments[:i] if not same(s)]
    common = (n, n - m, block, penalty)
    if not different:
        reason = (
            "no change points"
            if not cps
            else f"{len(cps)} change point(s), every segment within "
            f"{equivalence_rel:.0%} of the last"
        )
        return SteadyState("flat", cps, 0, tuple(segments), *common, reason)
    if n - steady_start < min_steady_fraction * n:
        return SteadyState(
            "no steady state",
            cps,
            None,
            tuple(segments),
            *common,
            f"the last segment starts at {steady_start} of {n}: it covers "
            f"less than {min_steady_fraction:.0%} of the run",
        )
    faster = [s for s in different if s.mean_ms < last.mean_ms]
    if faster:
        f = min(faster, key=lambda s: s.mean_ms)
        return SteadyState(
            "slowdown",
            cps,
            steady_start,
            tuple(segments),
            *common,
            f"steady mean {last.mean_ms:.4g} ms is slower than the "
            f"{f.mean_ms:.4g} ms of samples {f.start}-{f.end}",
        )
    return SteadyState(
        "warmup",
        cps,
        steady_start,
        tuple(segments),
        *common,
        f"steady from sample {steady_start} at {last.mean_ms:.4g} ms after "
        f"slower segments (first at {segments[0].mean_ms:.4g} ms)",
    )


@dataclass(frozen=True)
class DriftResult:
    """Trend test over block medians (Mann-Kendall via Kendall's tau, Theil-Sen slope)."""

    blocks: int
    block_medians_ms: tuple[float, ...]
    tau: float
    p_value: float
    slope_ms_per_block: float
    relative_change: float  # fitted change over the whole run / overall median
    drift: bool
    alpha: float
    min_change: float

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["block_medians_ms"] = list(self.block_medians_ms)
        return d


def drift_test(
    latency_ns: ArrayLike, blocks: int = 10, *, alpha: float = 0.05, min_change: float = 0.01
) -> DriftResult:
    """Test for a monotone trend across ``blocks`` consecutive block medians.

    Kendall's tau between block index and block median (the Mann-Kendall test,
    exact p-value for small block counts) and the Theil-Sen slope in ms per
    block. ``drift`` is True when ``p_value < alpha`` *and* the fitted change
    across the run is at least ``min_change`` of the overall median, so a
    statistically clear but negligible trend is not reported as drift.

    Examples
    --------
    >>> import numpy as np
    >>> r = drift_test(np.linspace(10e6, 12e6, 1000))
    >>> r.drift, round(r.slope_ms_per_block, 3)
    (True, 0.2)
    """
    x = np.asarray(latency_ns, dtype=np.float64).ravel() / _NS_PER_MS
    if blocks < 3:
        raise ValueError("blocks must be >= 3 for a trend test")
    if x.size < 3 * blocks:
        raise ValueError(f"need at least {3 * blocks} samples for {blocks} blocks, got {x.size}")
    if not np.all(np.isfinite(x)):
        raise ValueError("latency_ns contains NaN or infinite entries")
    medians = np.array([np.median(c) for c in np.array_split(x, blocks)])
    idx = np.arange(blocks, dtype=np.float64)
    if np.ptp(medians) == 0:
        tau, p_value, slope = 0.0, 1.0, 0.0
    else:
        res = _sps.kendalltau(idx, medians)
        tau, p_value = float(res.statistic), float(res.pvalue)
        slope = float(_sps.theilslopes(medians, idx).slope)
    overall = float(np.median(x))
    rel = slope * (blocks - 1) / overall if overall > 0 else 0.0
    drift = bool(p_value < alpha and abs(rel) >= min_change)
    return DriftResult(
        blocks, tuple(float(v) for v in medians), tau, p_value, slope, rel, drift, alpha, min_change
    )


# --------------------------------------------------------------------------- late steps and attribution
@dataclass(frozen=True)
class LevelShift:
    """The run's final level against its main earlier level, from the change points of the whole run.

    A trend test on block medians cannot see a step in the last blocks (one block out of
    ten barely moves Kendall's tau); the change points can. ``reference`` is the longest
    segment before the last one, ``index`` the first sample of the final level; ``relative``
    is ``after_ms / before_ms - 1`` (medians); ``shift`` when ``|relative| >= min_change``.
    A run classified ``flat`` or ``warmup`` has no shift: it settled, it did not drift.
    """

    index: int
    n: int
    before_ms: float
    after_ms: float
    relative: float
    shift: bool
    reference: tuple[int, int]
    min_change: float
    classification: str

    @property
    def fraction(self) -> float:
        """Where the final level starts, as a share of the run (0.8: the last 20%)."""
        return self.index / self.n if self.n else 1.0

    def describe(self) -> str:
        if not self.shift:
            return (f"no step of at least {self.min_change:.0%} between the main level and the end of the run "
                    f"(class '{self.classification}')")
        return (f"a step of {self.relative:+.0%} ({self.before_ms:.4g} to {self.after_ms:.4g} ms, medians) at sample "
                f"{self.index:,} of {self.n:,}: the last {1 - self.fraction:.0%} of the run")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reference": list(self.reference), "fraction": self.fraction}


def level_shift(latency_ns: ArrayLike, *, min_change: float = 0.05, steady: SteadyState | None = None) -> LevelShift:
    """Whether the run ends at a level ``min_change`` away from its main earlier level.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = np.r_[rng.normal(40e6, 2e6, 4000), rng.normal(60e6, 3e6, 1000)]  # +50% in the last 20%
    >>> s = level_shift(x)
    >>> s.shift, round(s.relative, 1), abs(s.fraction - 0.8) < 0.02
    (True, 0.5, True)
    """
    x = np.asarray(latency_ns, dtype=np.float64).ravel()
    st = steady or classify_steady_state(x)
    med = float(np.median(x)) / _NS_PER_MS
    segs = st.segments
    if st.classification in ("flat", "warmup") or len(segs) < 2:
        return LevelShift(x.size, x.size, med, med, 0.0, False, (0, x.size), min_change, st.classification)
    last = segs[-1]
    ref = max(segs[:-1], key=lambda s: s.n)
    rel = last.median_ms / ref.median_ms - 1.0 if ref.median_ms > 0 else 0.0
    return LevelShift(last.start, x.size, ref.median_ms, last.median_ms, rel, bool(abs(rel) >= min_change),
                      (ref.start, ref.end), min_change, st.classification)


def _median_between(x: np.ndarray, a: int, b: int) -> float:
    part = x[a:b]
    return float(np.median(part)) if part.size else math.nan


@dataclass(frozen=True)
class DriftAttribution:
    """Drift of a model timed in blocks beside a fixed sentinel: trend, late step, and whose it is.

    ``model``/``sentinel``/``ratio`` are the trend tests (:func:`drift_test`) of the model,
    of the sentinel and of the model in sentinel units; ``step`` is the model's
    :func:`level_shift`; ``sentinel_step``/``ratio_step`` are the relative changes of the
    sentinel and of the ratio across the same split (the blocks of the model's reference
    level against the blocks of its final level).
    """

    model: DriftResult
    sentinel: DriftResult
    ratio: DriftResult
    step: LevelShift
    sentinel_step: float
    ratio_step: float
    attribution: str
    reason: str

    @property
    def drift(self) -> bool:
        return self.model.drift or self.step.shift

    @property
    def sentence(self) -> str:
        return f"{self.attribution}: {self.reason}"


ATTRIBUTIONS = ("no drift", "model drift", "machine drift", "machine and model drift", "unattributed drift", "machine drift the model did not feel")


def _attribute(model: float, m_found: bool, sent: float, s_found: bool, ratio: float, r_found: bool,
               what: str) -> tuple[str, str]:
    """Whose drift it is, from the model's, the sentinel's and the ratio's change over ``what``."""
    def sign(v: float) -> int:
        return 1 if v > 0 else -1

    moved = (f"over the {what} the model moved {model:+.1%}, the sentinel {sent:+.1%} and the model/sentinel "
             f"ratio {ratio:+.1%}")
    same_s, same_r = s_found and sign(sent) == sign(model), r_found and sign(ratio) == sign(model)
    if m_found and same_r and same_s:
        return "machine and model drift", (f"{moved}: the sentinel and the ratio both passed the drift rule the "
                                           "model's way, so the machine changed speed and the model changed beyond it")
    if m_found and same_r:
        return "model drift", f"{moved}: the ratio passed the drift rule the model's way, so the change is in the model's own work"
    if m_found and same_s:
        return "machine drift", (f"{moved}: the sentinel passed the drift rule the model's way and the ratio did not, "
                                 "so the machine changed speed")
    if m_found:
        return "unattributed drift", f"{moved}: neither the sentinel nor the ratio passed the drift rule the model's way"
    if s_found:
        return "machine drift the model did not feel", f"{moved}: only the sentinel passed the drift rule"
    return "no drift", ""


def attribute_drift(model_ns: ArrayLike, sentinel_ns: ArrayLike, n_blocks: int, *, trend_blocks: int = 10,
                    min_change: float = 0.05, alpha: float = 0.05) -> DriftAttribution:
    """Trend test and late-step detection on a model timed in ``n_blocks`` blocks beside a sentinel.

    ``model_ns`` and ``sentinel_ns`` hold ``n_blocks`` equal blocks each, in order (block k of
    the sentinel ran right after block k of the model). A late step of the model counts as
    drift like a trend does; either is attributed to the **model** when the model/sentinel
    ratio moved the same way by at least ``min_change``, to the **machine** when the sentinel
    moved with the model and the ratio did not.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(2)
    >>> m = rng.normal(40e6, 2e6, 5000); m[4000:] *= 1.5  # model-only step in the last 20%
    >>> s = rng.normal(1e6, 5e4, 2500)
    >>> attribute_drift(m, s, 50).attribution
    'model drift'
    """
    m = np.asarray(model_ns, dtype=np.float64).ravel()
    s = np.asarray(sentinel_ns, dtype=np.float64).ravel()
    if n_blocks < 3 or m.size % n_blocks or s.size % n_blocks:
        raise ValueError(f"model ({m.size}) and sentinel ({s.size}) samples must split into n_blocks={n_blocks} "
                         "equal blocks (n_blocks >= 3)")
    mb, sb = m.size // n_blocks, s.size // n_blocks
    sent_med = np.median(s.reshape(n_blocks, sb), axis=1)
    ratio = m / np.repeat(sent_med, mb) * _NS_PER_MS  # model in sentinel units, scaled so drift_test reads "ms"
    tb = max(3, min(trend_blocks, n_blocks, m.size // 3))  # drift_test needs three samples per block
    d_model = drift_test(m, blocks=tb, alpha=alpha, min_change=min_change)
    d_sent = drift_test(s, blocks=max(3, min(trend_blocks, s.size // 3)), alpha=alpha, min_change=min_change)
    d_ratio = drift_test(ratio, blocks=tb, alpha=alpha, min_change=min_change)
    step = level_shift(m, min_change=min_change)
    s_step = r_step = 0.0
    if step.shift:
        (ra, rb), final = step.reference, step.index
        # the sentinel blocks that ran beside the model's reference level and beside its final level
        sa, sb_, sf = ra // mb * sb, max(rb // mb, ra // mb + 1) * sb, min(final // mb, n_blocks - 1) * sb
        s_step = _median_between(s, sf, s.size) / _median_between(s, sa, sb_) - 1.0
        r_step = _median_between(ratio, final, m.size) / _median_between(ratio, ra, rb) - 1.0
    if step.shift:
        found = abs(s_step) >= min_change, abs(r_step) >= min_change
        what = f"step in the last {1 - step.fraction:.0%} of the run"
        attribution, reason = _attribute(step.relative, True, s_step, found[0], r_step, found[1], what)
        reason = f"{step.describe()}; " + reason
    else:
        attribution, reason = _attribute(d_model.relative_change, d_model.drift, d_sent.relative_change,
                                         d_sent.drift, d_ratio.relative_change, d_ratio.drift, "trend over the run")
        if attribution == "no drift":
            reason = (f"neither the model ({d_model.relative_change:+.1%}, p = {d_model.p_value:.2g}) nor the sentinel "
                      f"({d_sent.relative_change:+.1%}, p = {d_sent.p_value:.2g}) shows a trend with p < {alpha:g} and "
                      f"at least {min_change:.0%}, and {step.describe()}")
    return DriftAttribution(d_model, d_sent, d_ratio, step, s_step, r_step, attribution, reason)
