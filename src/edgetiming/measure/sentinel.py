"""A sentinel: a fixed pure-CPU workload timed between the blocks of the model under test.

The sentinel does the same work on every run and every device (a chain of
``SENTINEL_REPS`` 48x48 float64 matrix products with fixed, seeded inputs: about
1 ms on the 2-vCPU runner; 48x48 stays below OpenBLAS's threading threshold, so
it runs on one thread and leaves no spinning pool behind it). Whatever slows the
machine down (frequency scaling, thermal limits, another process, another guest)
slows it too. Timed at block granularity beside the model
(``closed_loop(..., sentinel=True)``), it gives each model block a reference of
the same moment, and the model's latency can be read in sentinel units:

- **per-block ratio**: model block median / sentinel block median; its median
  over blocks with the exact order-statistic interval over blocks
  (:func:`block_ratio`);
- **normalised percentiles**: every model sample divided by the sentinel median of
  its block, then the nearest-rank percentile with its exact interval
  (:func:`normalised_quantile`).

:func:`attribute` compares a before and an after run: a shift the sentinel shows
too is the machine's, one only the model shows is the model's. The intervals
there are the distribution-free Hodges-Lehmann/Moses interval for a shift
between two samples of block medians, on a log scale (so a shift is a factor),
with the normal approximation of the Mann-Whitney statistic for its ranks.

Example
-------
>>> s = Sentinel()
>>> s()  # one fixed unit of work
>>> s.describe()["size"]
48
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as _sps

from edgetiming.stats import quantiles as stats
from edgetiming.workload.sentinel import (
    SENTINEL_CALLS_PER_BLOCK,
    SENTINEL_REPS,
    SENTINEL_SIZE,
    Sentinel,
    time_calls,
)

__all__ = [
    "SENTINEL_CALLS_PER_BLOCK",
    "SENTINEL_REPS",
    "SENTINEL_SIZE",
    "Attribution",
    "BlockMedians",
    "BlockRatio",
    "BlockSentinel",
    "Sentinel",
    "SentinelSeries",
    "Shift",
    "attribute",
    "block_medians",
    "block_ratio",
    "normalised_quantile",
    "normalised_samples",
    "shift",
    "time_after",
]


@dataclass
class SentinelSeries:
    """Sentinel latencies in measurement order, each with the model block it followed.

    ``block[i]`` indexes the rows of the run's interference table (the model block
    ``iter_start[b]:iter_end[b]``); ``warmup_ns`` are the sentinel calls before the run.
    """

    latency_ns: np.ndarray
    block: np.ndarray
    description: dict[str, Any]
    warmup_ns: np.ndarray

    def medians_ns(self, n_blocks: int) -> np.ndarray:
        """Median sentinel latency per block (NaN where a block had no sentinel call)."""
        out = np.full(n_blocks, np.nan)
        for b in range(n_blocks):
            x = self.latency_ns[self.block == b]
            if x.size:
                out[b] = float(np.median(x))
        return out


class BlockSentinel:
    """The sentinel timed after each block of a measurement that owns its loop (a closed loop,
    a pipeline): 3 warm-up calls at construction, then :meth:`after` at every block boundary
    (``SENTINEL_CALLS_PER_BLOCK`` calls, each recorded with its block), and :meth:`series`.
    ``cpu_ns`` is the CPU time the sentinel took, to be taken out of the measured work's cost.

    Example
    -------
    >>> bs = BlockSentinel(lambda: None)
    >>> bs.after(0); bs.after(1)
    >>> s = bs.series(); s.block.tolist().count(1), s.warmup_ns.size
    (10, 3)
    """

    def __init__(self, fn: Any, warmup: int = 3) -> None:
        self.fn = fn
        perf = time.perf_counter_ns
        self.warmup_ns = np.empty(warmup, dtype=np.int64)
        for i in range(warmup):
            t = perf()
            fn()
            self.warmup_ns[i] = perf() - t
        self.ns: list[int] = []
        self.block: list[int] = []
        self.cpu_ns = 0

    def after(self, block: int) -> None:
        """Time the calls after block ``block`` (never inside one)."""
        perf, fn = time.perf_counter_ns, self.fn
        c0 = time.process_time_ns()
        for _ in range(SENTINEL_CALLS_PER_BLOCK):
            t = perf()
            fn()
            self.ns.append(perf() - t)
            self.block.append(block)
        self.cpu_ns += time.process_time_ns() - c0

    def series(self) -> SentinelSeries:
        fn = self.fn
        desc = fn.describe() if hasattr(fn, "describe") else {
            "kind": "callable", "callable": getattr(fn, "__qualname__", repr(fn))}
        return SentinelSeries(np.array(self.ns, dtype=np.int64), np.array(self.block, dtype=np.int64), desc,
                              self.warmup_ns)


def time_after(block: int, *, sentinel: Any = None, calls: int = SENTINEL_CALLS_PER_BLOCK,
               warmup: int = 3) -> SentinelSeries:
    """Time the sentinel ``calls`` times now, after ``warmup`` timed-apart calls, all as table row ``block``.

    For measurements that cannot pause between their blocks (an open-loop stream, a
    batching server, a fresh process's cold phases): the machine's speed right after
    the run, read against the run's last block. ``sentinel`` defaults to :class:`Sentinel`.

    Example
    -------
    >>> s = time_after(4, calls=3, warmup=1)
    >>> s.block.tolist(), s.latency_ns.size, s.warmup_ns.size
    ([4, 4, 4], 3, 1)
    """
    fn = Sentinel() if sentinel is None else sentinel
    warmup = max(warmup, 0)
    out = time_calls(fn, warmup + calls)
    desc = fn.describe() if hasattr(fn, "describe") else {"kind": getattr(fn, "__qualname__", repr(fn))}
    return SentinelSeries(out[warmup:], np.full(calls, int(block), dtype=np.int64), desc, out[:warmup])


@dataclass(frozen=True)
class BlockMedians:
    """Model and sentinel median per block (ms), the input of :func:`attribute`."""

    model_ms: np.ndarray
    sentinel_ms: np.ndarray

    def __post_init__(self) -> None:
        m, s = np.asarray(self.model_ms, float), np.asarray(self.sentinel_ms, float)
        if m.shape != s.shape or m.ndim != 1:
            raise ValueError(f"model_ms {m.shape} and sentinel_ms {s.shape} must be 1-D and of one length")
        keep = np.isfinite(m) & np.isfinite(s) & (m > 0) & (s > 0)
        object.__setattr__(self, "model_ms", m[keep])
        object.__setattr__(self, "sentinel_ms", s[keep])

    @property
    def ratio(self) -> np.ndarray:
        return self.model_ms / self.sentinel_ms


def block_medians(model_ns: np.ndarray, iter_start: np.ndarray, iter_end: np.ndarray,
                  sentinel: SentinelSeries, *, steady_from: int = 0) -> BlockMedians:
    """Per-block medians of the model samples ``iter_start[b]:iter_end[b]`` and of the
    sentinel calls of block ``b``, for the blocks from ``steady_from`` on.

    Example
    -------
    >>> s = SentinelSeries(np.array([10, 12, 20, 22]), np.array([0, 0, 1, 1]), {}, np.empty(0))
    >>> bm = block_medians(np.array([100, 100, 300, 300]), np.array([0, 2]), np.array([2, 4]), s)
    >>> [round(r, 3) for r in bm.ratio.tolist()]
    [9.091, 14.286]
    """
    n = int(iter_start.size)
    sent = sentinel.medians_ns(n)
    model = np.array([np.median(model_ns[a:b]) if b > a else np.nan
                      for a, b in zip(iter_start.tolist(), iter_end.tolist())], dtype=float)
    return BlockMedians(model[steady_from:] / 1e6, sent[steady_from:] / 1e6)


@dataclass(frozen=True)
class BlockRatio:
    """Median over blocks of (model block median / sentinel block median), exact interval over blocks."""

    value: float
    lower: float
    upper: float
    n_blocks: int
    confidence: float
    bounded: bool

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}


def block_ratio(medians: BlockMedians, confidence: float = 0.95) -> BlockRatio:
    """The model in sentinel units: median of the per-block ratios with its order-statistic interval.

    The blocks are treated as independent draws; with fewer than 6 blocks the 95%
    interval of a median is unbounded (``bounded`` False).

    Example
    -------
    >>> r = block_ratio(BlockMedians(np.full(20, 2.0), np.full(20, 1.0)))
    >>> (r.value, r.lower, r.upper, r.bounded)
    (2.0, 2.0, 2.0, True)
    """
    r = medians.ratio
    if r.size == 0:
        raise ValueError("no block has both a model and a sentinel median")
    q = stats.quantile_ci(r, 0.5, confidence)
    return BlockRatio(q.value, q.lower, q.upper, int(r.size), confidence, q.bounded)


def normalised_quantile(model_ns: np.ndarray, iter_start: np.ndarray, iter_end: np.ndarray,
                        sentinel: SentinelSeries, p: float, *, steady_from: int = 0,
                        confidence: float = 0.95) -> stats.QuantileEstimate:
    """Nearest-rank ``p`` quantile of the model samples, each divided by its block's sentinel
    median (a unitless ratio), with its exact interval. Blocks without a sentinel call are left out.

    Example
    -------
    >>> s = SentinelSeries(np.array([10, 20]), np.array([0, 1]), {}, np.empty(0))
    >>> q = normalised_quantile(np.array([10, 30, 20, 60]), np.array([0, 2]), np.array([2, 4]), s, 0.5)
    >>> q.value
    3.0
    """
    x = normalised_samples(model_ns, iter_start, iter_end, sentinel, steady_from=steady_from)
    if x.size == 0:
        raise ValueError("no steady block has both model samples and a sentinel median")
    return stats.quantile_ci(x, p, confidence)


def normalised_samples(model_ns: np.ndarray, iter_start: np.ndarray, iter_end: np.ndarray,
                       sentinel: SentinelSeries, *, steady_from: int = 0) -> np.ndarray:
    """The model samples of the blocks from ``steady_from`` on, each divided by its block's
    sentinel median (float64, in order; blocks without a sentinel call left out)."""
    sent = sentinel.medians_ns(int(iter_start.size))
    parts = [model_ns[a:b] / sent[i] for i, (a, b) in enumerate(zip(iter_start.tolist(), iter_end.tolist()))
             if i >= steady_from and b > a and np.isfinite(sent[i]) and sent[i] > 0]
    return np.concatenate(parts).astype(np.float64) if parts else np.empty(0)


@dataclass(frozen=True)
class Shift:
    """after / before as a factor (Hodges-Lehmann on log values) with its interval."""

    factor: float
    lower: float
    upper: float
    confidence: float

    def moved(self, min_effect: float) -> int:
        """+1 when the interval lies above 1 and the factor is at least ``1 + min_effect``;
        -1 for the mirror case (below 1, at most ``1 / (1 + min_effect)``); 0 otherwise."""
        if self.lower > 1.0 and self.factor >= 1.0 + min_effect:
            return 1
        if self.upper < 1.0 and self.factor <= 1.0 / (1.0 + min_effect):
            return -1
        return 0

    def text(self) -> str:
        return f"x{self.factor:.3f} [{self.lower:.3f}, {self.upper:.3f}]"


def shift(before: np.ndarray, after: np.ndarray, confidence: float = 0.95) -> Shift:
    """The factor by which ``after`` is larger than ``before`` with a distribution-free interval.

    On logs: the median of all pairwise differences ``log a_i - log b_j`` (Hodges-Lehmann)
    and the Moses interval, the ``k``-th smallest and largest of those differences with
    ``k`` from the Mann-Whitney statistic (normal approximation), exponentiated.

    Example
    -------
    >>> s = shift(np.full(10, 1.0) + np.arange(10) * 1e-3, np.full(10, 2.0) + np.arange(10) * 2e-3)
    >>> round(s.factor, 2), s.lower > 1.9
    (2.0, True)
    """
    b = np.log(np.asarray(before, float))
    a = np.log(np.asarray(after, float))
    if b.size < 2 or a.size < 2:
        raise ValueError(f"a shift needs at least 2 blocks on each side (got {b.size} and {a.size})")
    d = np.sort((a[:, None] - b[None, :]).ravel())
    n1, n2, m = a.size, b.size, d.size
    z = float(_sps.norm.ppf(0.5 + confidence / 2))
    k = math.floor(n1 * n2 / 2 - z * math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12.0))
    lo = math.exp(d[k]) if k >= 0 else 0.0
    hi = math.exp(d[m - 1 - k]) if k >= 0 else math.inf
    return Shift(math.exp(float(np.median(d))), lo, hi, confidence)


@dataclass(frozen=True)
class Attribution:
    """Whose a shift between two runs is: ``"machine"``, ``"model"``, ``"machine and model"``,
    ``"no shift"`` or ``"unclear"``, with the three factors it was decided from."""

    verdict: str
    model: Shift
    sentinel: Shift
    normalised: Shift
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reason": self.reason, "model": asdict(self.model),
                "sentinel": asdict(self.sentinel), "normalised": asdict(self.normalised)}


def attribute(before: BlockMedians, after: BlockMedians, *, min_effect: float = 0.05,
              confidence: float = 0.95) -> Attribution:
    """Say whether the model's shift from ``before`` to ``after`` is the machine's or the model's.

    Three factors, each after/before with its interval (:func:`shift`): the model's
    block medians, the sentinel's, and the model in sentinel units (per-block
    ratios). A factor *moved* when its interval excludes 1 and it is at least
    ``min_effect`` away from 1.

    - the model did not move: ``"no shift"``;
    - it moved, the ratio did not, the sentinel moved the same way: ``"machine"``
      (the sentinel moved by a similar factor);
    - it moved, the ratio moved the same way, the sentinel did not: ``"model"``;
    - it moved, the ratio and the sentinel both moved the same way: ``"machine and model"``;
    - anything else (the ratio did not move but neither did the sentinel, or they
      disagree in direction): ``"unclear"``; more blocks would separate them.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> base = BlockMedians(1 + 0.01 * rng.random(30), 0.5 + 0.005 * rng.random(30))
    >>> slow = BlockMedians(base.model_ms * 1.5, base.sentinel_ms * 1.5)
    >>> attribute(base, slow).verdict
    'machine'
    """
    m = shift(before.model_ms, after.model_ms, confidence)
    s = shift(before.sentinel_ms, after.sentinel_ms, confidence)
    r = shift(before.ratio, after.ratio, confidence)
    dm, ds, dr = m.moved(min_effect), s.moved(min_effect), r.moved(min_effect)
    detail = f"model {m.text()}, sentinel {s.text()}, model/sentinel {r.text()}"
    if dm == 0:
        verdict, why = "no shift", "the model's block medians did not move detectably"
    elif dr == 0 and ds == dm:
        verdict, why = "machine", "the sentinel moved with the model and the ratio did not"
    elif dr == dm and ds == 0:
        verdict, why = "model", "only the model moved; the sentinel held still"
    elif dr == dm and ds == dm:
        verdict, why = "machine and model", "the sentinel moved, and the model moved further still"
    else:
        verdict, why = "unclear", "the model moved but neither the sentinel nor the ratio explains it alone"
    return Attribution(verdict, m, s, r, f"{why}: {detail}")

