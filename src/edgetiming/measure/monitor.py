"""On-device latency monitoring with bounded memory: windowed histograms and quiet alerts.

A device that serves inferences for days cannot keep every sample. It records each
latency into an HdrHistogram (the ``hdrhistogram`` package, import ``hdrh``: a
fixed array of counters with 3 significant digits, so its size does not depend
on how many values it holds, and two histograms merge by adding counters). Every
``window`` samples the window's histogram is summarized, merged into a running
total and reset; only a bounded history of window summaries is kept.

Each window's percentile comes with one-sided, distribution-free confidence
bounds from order statistics (docs/guides/measurement/percentiles-and-confidence.md): with ``B ~ Binomial(n,
p)`` the ``l``-th smallest sample is below the true p-quantile with probability
``P(B >= l)``. An :class:`AlertRule` fires when the window's *lower* bound (or,
for the naive rule, the estimate itself) exceeds a threshold for ``consecutive``
windows in a row: a window whose P99 only looks high by chance does not page
anyone, a real shift does within a few windows.

Example
-------
>>> import numpy as np
>>> rule = AlertRule(threshold_ms=3.0, consecutive=2)
>>> mon = LatencyMonitor(window=500, rules={"p99": rule})
>>> closed = mon.record_many(np.full(1000, 2_000_000))
>>> [w.firing["p99"] for w in closed]
[False, False]
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram
from scipy import stats as _sps

__all__ = [
    "AlertRule",
    "LatencyMonitor",
    "WindowStats",
    "episodes",
    "histogram_bytes",
    "new_histogram",
    "quantile_bounds",
    "value_at_rank",
]

LOWEST_NS = 1_000  # 1 us: nothing an inference takes is shorter, and it keeps the array small
HIGHEST_NS = 60_000_000_000  # 60 s; longer values are clamped and counted
SIGNIFICANT_FIGURES = 3
_NS_PER_MS = 1e6


def new_histogram(
    lowest_ns: int = LOWEST_NS,
    highest_ns: int = HIGHEST_NS,
    significant_figures: int = SIGNIFICANT_FIGURES,
) -> HdrHistogram:
    """An empty HdrHistogram for latencies in nanoseconds.

    Example
    -------
    >>> new_histogram().get_total_count()
    0
    """
    return HdrHistogram(int(lowest_ns), int(highest_ns), int(significant_figures))


def histogram_bytes(hist: HdrHistogram) -> int:
    """Bytes of the histogram's counter array: its whole size, whatever it holds.

    Example
    -------
    >>> h = new_histogram()
    >>> before = histogram_bytes(h)
    >>> h.record_value(5_000_000)
    True
    >>> histogram_bytes(h) == before
    True
    """
    return int(hist.counts_len * hist.word_size)


def _counts(hist: HdrHistogram) -> np.ndarray:
    return np.ctypeslib.as_array(hist.counts)[: hist.counts_len]


def value_at_rank(hist: HdrHistogram, rank: int, *, side: str = "high") -> float:
    """The ``rank``-th smallest recorded value (1-based), in the histogram's unit.

    A histogram keeps each value only to within its bucket, so ``side`` says which end
    of the bucket to return: ``"high"`` (HdrHistogram's convention for percentiles,
    and the conservative end for an upper bound) or ``"low"`` (the conservative end
    for a lower bound).

    Example
    -------
    >>> h = new_histogram()
    >>> for v in (1_000_000, 2_000_000, 3_000_000):
    ...     _ = h.record_value(v)
    >>> round(value_at_rank(h, 2) / 1e6, 2)
    2.0
    """
    n = int(hist.get_total_count())
    if not 1 <= rank <= n:
        raise ValueError(f"rank {rank} is outside 1..{n}")
    idx = int(np.searchsorted(np.cumsum(_counts(hist)), rank, side="left"))
    v = hist.get_value_from_index(idx)
    if side == "high":
        return float(hist.get_highest_equivalent_value(v))
    if side == "low":
        return float(hist.get_lowest_equivalent_value(v))
    raise ValueError(f"side must be 'high' or 'low', got {side!r}")


def quantile_bounds(
    hist: HdrHistogram, p: float, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Nearest-rank p-quantile of a histogram with one-sided lower and upper bounds.

    Returns ``(lower, value, upper)`` in the histogram's unit. ``lower`` is the
    ``l``-th smallest value with the largest ``l`` such that ``P(B <= l - 1) <=
    1 - confidence`` for ``B ~ Binomial(n, p)`` (so the true quantile is above it with
    probability at least ``confidence``), 0.0 when no rank qualifies; ``upper`` is the
    ``k``-th smallest with the smallest ``k`` such that ``P(B <= k - 1) >=
    confidence``, ``inf`` when ``k > n``.

    Example
    -------
    >>> h = new_histogram()
    >>> for v in range(1, 1001):
    ...     _ = h.record_value(v * 10_000)
    >>> lo, val, hi = quantile_bounds(h, 0.5)
    >>> lo < val < hi
    True
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    n = int(hist.get_total_count())
    if n == 0:
        raise ValueError("the histogram is empty")
    alpha = 1.0 - confidence
    value = value_at_rank(hist, min(n, math.floor(n * p) + 1))
    j = int(_sps.binom.ppf(alpha, n, p))  # smallest j with F(j) >= alpha
    if _sps.binom.cdf(j, n, p) > alpha:
        j -= 1  # largest j with F(j) <= alpha
    lower = value_at_rank(hist, j + 1, side="low") if j >= 0 else 0.0
    k = int(_sps.binom.ppf(confidence, n, p)) + 1
    upper = value_at_rank(hist, k) if k <= n else math.inf
    return lower, value, upper


@dataclass(frozen=True)
class AlertRule:
    """Fire when a window's percentile is over ``threshold_ms`` for ``consecutive`` windows.

    With ``use_lower_bound`` (the default) a window counts as over only when the
    lower confidence bound of its percentile is over the threshold: the window
    shows, at ``confidence``, that the true percentile is above it. Without it, the
    point estimate is compared (the naive rule, which noise trips).

    Example
    -------
    >>> AlertRule(threshold_ms=10.0).over(lower_ms=11.0, value_ms=12.0)
    True
    """

    threshold_ms: float
    consecutive: int = 3
    use_lower_bound: bool = True

    def __post_init__(self) -> None:
        if self.consecutive < 1:
            raise ValueError("consecutive must be >= 1")
        if not self.threshold_ms > 0:
            raise ValueError("threshold_ms must be > 0")

    def over(self, *, lower_ms: float, value_ms: float) -> bool:
        """Whether one window counts as over the threshold."""
        return (lower_ms if self.use_lower_bound else value_ms) > self.threshold_ms

    def describe(self) -> str:
        what = "lower confidence bound of" if self.use_lower_bound else ""
        return (f"{what} the window percentile above {self.threshold_ms:g} ms "
                f"for {self.consecutive} consecutive window(s)").strip()


@dataclass(frozen=True)
class WindowStats:
    """Summary of one closed window (latencies in ms)."""

    index: int
    n: int
    p50_ms: float
    value_ms: float  # the monitored percentile
    lower_ms: float
    upper_ms: float
    max_ms: float
    percentile: float
    over: dict[str, bool] = field(default_factory=dict)
    firing: dict[str, bool] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not math.isfinite(d["upper_ms"]):
            d["upper_ms"] = None
        return d


class LatencyMonitor:
    """Windowed percentiles and alert rules over a latency stream, in bounded memory.

    Parameters
    ----------
    window : samples per window.
    percentile : the monitored percentile (0.99 = P99).
    confidence : one-sided confidence of each window's bounds.
    rules : named alert rules evaluated on every closed window.
    history : window summaries kept (older ones are dropped).
    lowest_ns, highest_ns, significant_figures : the histograms' range and precision.

    Memory is two histograms (the open window and the merged total, each of fixed
    size) plus at most ``history`` window summaries: it does not grow with the
    number of samples recorded.
    """

    def __init__(
        self,
        *,
        window: int = 1000,
        percentile: float = 0.99,
        confidence: float = 0.95,
        rules: Mapping[str, AlertRule] | None = None,
        history: int = 100,
        lowest_ns: int = LOWEST_NS,
        highest_ns: int = HIGHEST_NS,
        significant_figures: int = SIGNIFICANT_FIGURES,
    ) -> None:
        if window < 1:
            raise ValueError("window must be >= 1")
        self.window = int(window)
        self.percentile = float(percentile)
        self.confidence = float(confidence)
        self.rules = dict(rules or {})
        self.highest_ns = int(highest_ns)
        self._spec = (int(lowest_ns), int(highest_ns), int(significant_figures))
        self.current = new_histogram(*self._spec)
        self.total = new_histogram(*self._spec)
        self.windows: deque[WindowStats] = deque(maxlen=int(history))
        self.clamped = 0
        self._closed = 0
        self._streak = dict.fromkeys(self.rules, 0)

    def record(self, latency_ns: int) -> WindowStats | None:
        """Record one latency; returns the window's summary when this sample closes it."""
        v = int(latency_ns)
        if v > self.highest_ns:
            v, self.clamped = self.highest_ns, self.clamped + 1
        self.current.record_value(max(v, 1))
        if self.current.get_total_count() >= self.window:
            return self._close()
        return None

    def record_many(self, latency_ns: Iterable[int]) -> list[WindowStats]:
        """Record many latencies in order; returns the summaries of the windows they closed."""
        closed = []
        for v in np.asarray(latency_ns, dtype=np.int64).tolist():
            w = self.record(v)
            if w is not None:
                closed.append(w)
        return closed

    def _close(self) -> WindowStats:
        h = self.current
        lo, val, hi = quantile_bounds(h, self.percentile, self.confidence)
        over, firing = {}, {}
        for name, rule in self.rules.items():
            over[name] = rule.over(lower_ms=lo / _NS_PER_MS, value_ms=val / _NS_PER_MS)
            self._streak[name] = self._streak[name] + 1 if over[name] else 0
            firing[name] = self._streak[name] >= rule.consecutive
        stats = WindowStats(
            self._closed, int(h.get_total_count()), value_at_rank(h, h.get_total_count() // 2 + 1)
            / _NS_PER_MS, val / _NS_PER_MS, lo / _NS_PER_MS, hi / _NS_PER_MS,
            h.get_max_value() / _NS_PER_MS, self.percentile, over, firing)
        self.total.add(h)
        h.reset()
        self.windows.append(stats)
        self._closed += 1
        return stats

    @property
    def windows_closed(self) -> int:
        return self._closed

    def memory_bytes(self) -> int:
        """Approximate bytes held: both histograms' counters plus the kept summaries."""
        per_summary = 8 * 8 + 2 * 64 * max(1, len(self.rules))  # floats + two small dicts
        return (histogram_bytes(self.current) + histogram_bytes(self.total)
                + len(self.windows) * per_summary)


def episodes(firing: Iterable[bool]) -> list[int]:
    """Indices where an alert starts (``False -> True`` edges): the pages a person receives.

    Example
    -------
    >>> episodes([False, True, True, False, True])
    [1, 4]
    """
    out, prev = [], False
    for i, f in enumerate(firing):
        if f and not prev:
            out.append(i)
        prev = bool(f)
    return out
