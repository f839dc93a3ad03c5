"""Jitter metrics, each shipped with the one-sentence definition it was computed by.

"Jitter" means different things in different communities, so a number without
its definition is ambiguous (docs/guides/primers/jitter.md). Every metric here is a
:class:`JitterMetric` carrying ``name``, ``value``, ``unit`` and ``definition``;
print the definition next to the number. Percentiles are nearest-rank
(:func:`edgetiming.stats.quantiles.quantile`). Order-dependent metrics (successive
difference, RFC 3550 jitter, miss runs) use the samples in measurement order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from edgetiming.stats.quantiles import miss_rate, proportion_ci, quantile

__all__ = ["FanoutCheck", "JitterMetric", "fanout_check", "fanout_tail", "jitter_metrics", "rfc3550_jitter"]

_NS_PER_MS = 1e6
_MAD_TO_SIGMA = 1.4826  # MAD * 1.4826 estimates sigma for normal data


@dataclass(frozen=True)
class JitterMetric:
    """One jitter number with its unit and definition.

    ``lower``/``upper`` hold a confidence interval where one is computed (the
    deadline-miss rate); ``detail`` holds supporting numbers (counts, fences).
    """

    name: str
    value: float
    unit: str
    definition: str
    lower: float | None = None
    upper: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (non-finite values become ``None``)."""
        d = asdict(self)
        for key in ("value", "lower", "upper"):
            v = d[key]
            if v is not None and not math.isfinite(v):
                d[key] = None
        return d

    def __str__(self) -> str:
        return f"{self.name} = {self.value:.4g} {self.unit} ({self.definition})"


def rfc3550_jitter(latency_ms: ArrayLike) -> float:
    """RFC 3550 interarrival jitter over a latency sequence, in the input's unit.

    ``J += (|D| - J) / 16`` for each successive difference ``D = L_k - L_{k-1}``,
    starting from ``J = 0``; the final ``J`` is returned (0.0 for fewer than two
    samples).

    Examples
    --------
    >>> rfc3550_jitter([1.0, 2.0])
    0.0625
    """
    x = np.asarray(latency_ms, dtype=np.float64).ravel()
    if x.size < 2:
        return 0.0
    # J_k = (15/16) J_{k-1} + |D_k|/16 unrolls to a geometric weighting of |D|.
    d = np.abs(np.diff(x))
    m = d.size
    weights = (15.0 / 16.0) ** np.arange(m - 1, -1, -1, dtype=np.float64) / 16.0
    return float(np.dot(weights, d))


def fanout_tail(q: float, k: int) -> float:
    """Probability that a request fanning out to ``k`` independent calls hits at
    least one slow call when each is slow with probability ``q``: ``1-(1-q)^k``
    (Dean & Barroso, "The Tail at Scale", 2013).

    Examples
    --------
    >>> round(fanout_tail(0.01, 100), 3)
    0.634
    """
    q = float(q)
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be a probability in [0, 1], got {q!r}")
    if int(k) != k or k < 0:
        raise ValueError(f"k must be a non-negative integer, got {k!r}")
    if q == 1.0:
        return 1.0 if k > 0 else 0.0
    return float(-math.expm1(int(k) * math.log1p(-q)))


Share = tuple[float, float, float]  # (share, lower, upper), Clopper-Pearson


def _share(k: int, n: int, confidence: float) -> Share:
    return (k / n, *proportion_ci(k, n, confidence))


@dataclass(frozen=True)
class FanoutCheck:
    """Measured share of fanned-out requests with a slow call against ``1-(1-q)^k``.

    ``measured[i]`` (with ``lower[i]``, ``upper[i]``) is the share of requests with at least one
    slow call among their first ``ks[i]`` calls, over the requests that made that many;
    ``predicted[i]`` is :func:`fanout_tail` at the measured ``q``. ``by_position[i]`` is the
    share of slow calls at position ``i``; ``first`` and ``later`` compare the first call of a
    request with the later ones (calls that are not alike break the prediction).
    """

    threshold_ns: float
    q: float
    n_calls: int
    n_requests: int
    ks: list[int]
    measured: list[float]
    lower: list[float]
    upper: list[float]
    predicted: list[float]
    by_position: list[float]
    first: Share
    later: Share

    @property
    def k_max(self) -> int:
        return self.ks[-1]

    @property
    def misses(self) -> list[int]:
        """The k at which the prediction lies outside the measured share's interval."""
        return [k for k, a, b, p in zip(self.ks, self.lower, self.upper, self.predicted) if not a <= p <= b]

    @property
    def position_differs(self) -> bool:
        """The first call's slow share and the later calls' have disjoint intervals."""
        return self.first[1] > self.later[2] or self.first[2] < self.later[1]

    def rows(self) -> str:
        """"k=1 0.050 [0.030, 0.080] vs 0.050; ..." for alt texts and checks."""
        return "; ".join(f"k={k} {m:.3f} [{a:.3f}, {b:.3f}] vs {p:.3f}"
                         for k, m, a, b, p in zip(self.ks, self.measured, self.lower, self.upper, self.predicted))


def fanout_check(calls_ns: Sequence[Sequence[int]], slow_share: float, *, confidence: float = 0.95) -> FanoutCheck:
    """Test the independent-calls model :func:`fanout_tail` on measured fan-out.

    ``calls_ns[j]`` are the call times of request ``j`` in call order. A call is slow above the
    ``1 - slow_share`` quantile of all calls; k runs from 1 to the median number of calls per
    request.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> fc = fanout_check(rng.integers(1, 10**6, size=(2000, 4)).tolist(), 0.05)
    >>> fc.ks, round(fc.q, 2), fc.misses
    ([1, 2, 3, 4], 0.05, [])
    """
    frames = [list(c) for c in calls_ns]
    all_calls = np.concatenate([np.asarray(c, dtype=np.int64) for c in frames if c])
    thr = quantile(all_calls, 1.0 - slow_share)
    k_max = int(np.median([len(c) for c in frames]))
    ks = list(range(1, k_max + 1))
    hits = [[any(t > thr for t in c[:k]) for c in frames if len(c) >= k] for k in ks]
    shares = [_share(int(sum(h)), len(h), confidence) for h in hits]
    later = [t for c in frames for t in c[1:k_max]]
    return FanoutCheck(
        thr, float((all_calls > thr).mean()), int(all_calls.size), len(frames), ks,
        [s[0] for s in shares], [s[1] for s in shares], [s[2] for s in shares],
        [fanout_tail(float((all_calls > thr).mean()), k) for k in ks],
        [float(np.mean([c[i] > thr for c in frames if len(c) > i])) for i in range(k_max)],
        _share(sum(c[0] > thr for c in frames if c), sum(1 for c in frames if c), confidence),
        _share(sum(t > thr for t in later), max(len(later), 1), confidence))


def jitter_metrics(
    latency_ns: ArrayLike, deadline_ms: float | None = None, *, confidence: float = 0.95
) -> dict[str, JitterMetric]:
    """All jitter metrics of docs/guides/primers/jitter.md for latencies in nanoseconds.

    Keys: ``range``, ``p99_minus_p50``, ``p99_over_p50``, ``iqr``,
    ``tukey_outliers``, ``median``, ``mad``, ``cv``, ``mean_successive_difference``,
    ``rfc3550_jitter`` and, when ``deadline_ms`` is given, ``deadline_miss_rate``
    (Clopper-Pearson CI in ``lower``/``upper``) and ``longest_miss_run``.

    Examples
    --------
    >>> import numpy as np
    >>> m = jitter_metrics(np.array([1, 2, 3, 4]) * 1_000_000, deadline_ms=3.5)
    >>> m["range"].value, m["deadline_miss_rate"].value
    (3.0, 0.25)
    """
    x = np.asarray(latency_ns, dtype=np.float64).ravel() / _NS_PER_MS
    if x.size == 0:
        raise ValueError("latency_ns is empty: at least one sample is needed")
    if not np.all(np.isfinite(x)):
        raise ValueError("latency_ns contains NaN or infinite entries")
    n = x.size
    p50, p99 = quantile(x, 0.5), quantile(x, 0.99)
    q1, q3 = quantile(x, 0.25), quantile(x, 0.75)
    iqr = q3 - q1
    lo_fence, hi_fence = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    n_low, n_high = int((x < lo_fence).sum()), int((x > hi_fence).sum())
    mad = quantile(np.abs(x - p50), 0.5)
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if n > 1 else 0.0
    diffs = np.abs(np.diff(x))
    msd = float(diffs.mean()) if diffs.size else 0.0

    out: dict[str, JitterMetric] = {}

    def add(m: JitterMetric) -> None:
        out[m.name] = m

    add(
        JitterMetric(
            "range", float(x.max() - x.min()), "ms", "Largest minus smallest latency (max - min)."
        )
    )
    add(
        JitterMetric(
            "p99_minus_p50", p99 - p50, "ms", "Nearest-rank P99 minus nearest-rank P50 latency."
        )
    )
    add(
        JitterMetric(
            "p99_over_p50",
            p99 / p50 if p50 > 0 else math.inf,
            "ratio",
            "Nearest-rank P99 divided by nearest-rank P50 latency.",
        )
    )
    add(
        JitterMetric(
            "iqr",
            iqr,
            "ms",
            "Interquartile range: nearest-rank P75 minus P25 latency.",
            detail={"p25_ms": q1, "p75_ms": q3},
        )
    )
    add(
        JitterMetric(
            "tukey_outliers",
            float(n_low + n_high),
            "count",
            "Samples outside Tukey's fences P25 - 1.5*IQR and P75 + 1.5*IQR.",
            detail={
                "low": n_low,
                "high": n_high,
                "fraction": (n_low + n_high) / n,
                "low_fence_ms": lo_fence,
                "high_fence_ms": hi_fence,
            },
        )
    )
    add(JitterMetric("median", p50, "ms", "Nearest-rank median (P50) latency."))
    add(
        JitterMetric(
            "mad",
            mad,
            "ms",
            "Median absolute deviation: median of |latency - median| (unscaled).",
            detail={"sigma_equivalent_ms": _MAD_TO_SIGMA * mad},
        )
    )
    add(
        JitterMetric(
            "cv",
            std / mean if mean > 0 else 0.0,
            "ratio",
            "Coefficient of variation: sample standard deviation (n-1) over mean.",
            detail={"mean_ms": mean, "std_ms": std},
        )
    )
    add(
        JitterMetric(
            "mean_successive_difference",
            msd,
            "ms",
            "Mean of |L_k - L_(k-1)| over consecutive samples in measurement order.",
            detail={"max_ms": float(diffs.max()) if diffs.size else 0.0},
        )
    )
    add(
        JitterMetric(
            "rfc3550_jitter",
            rfc3550_jitter(x),
            "ms",
            "RFC 3550 smoothed jitter: J += (|L_k - L_(k-1)| - J)/16 from J = 0, final value.",
        )
    )
    if deadline_ms is not None:
        mr = miss_rate(latency_ns, deadline_ms, confidence)
        add(
            JitterMetric(
                "deadline_miss_rate",
                mr.rate,
                "fraction",
                f"Share of samples with latency > {deadline_ms:g} ms; "
                f"{confidence:.0%} Clopper-Pearson interval in lower/upper.",
                lower=mr.lower,
                upper=mr.upper,
                detail={
                    "misses": mr.misses,
                    "n": mr.n,
                    "deadline_ms": mr.deadline_ms,
                    "confidence": confidence,
                },
            )
        )
        add(
            JitterMetric(
                "longest_miss_run",
                float(mr.longest_run),
                "count",
                f"Longest run of consecutive samples over the {deadline_ms:g} ms deadline.",
                detail={"deadline_ms": mr.deadline_ms},
            )
        )
    return out
