"""Samples inside one run are not independent: autocorrelation, effective sample size, batch means, regime changes.

The exact order-statistic interval of :func:`edgetiming.stats.quantiles.quantile_ci`
assumes independent samples. Consecutive latencies of one process are not: a
slow spell of the machine lasts many iterations. On the 2-vCPU runner one run's
steady samples had lag-1 autocorrelation 0.88 in log latency, so its 1,500
samples carried about as much information as 100 independent ones.

- :func:`lag1_autocorrelation` of log latency (logs, because latency is
  multiplicative noise on a floor and a few spikes should not dominate).
- :func:`effective_sample_size`: ``n (1 - rho) / (1 + rho)``, the AR(1)
  approximation (the variance of a mean of an AR(1) series is ``(1 + rho) /
  (1 - rho)`` times the iid one).
- :func:`batch_quantile_ci`: a batch-means ("sectioning") interval for a
  quantile: the run is cut into ``b`` contiguous batches, the quantile is
  computed in each, and a Student t interval with ``b - 1`` degrees of freedom
  on the spread of the batch quantiles is put around the whole run's estimate.
  Batches much longer than the correlation time are nearly independent, so
  the interval keeps close to its nominal coverage where the iid one does not
  (batch means from simulation output analysis: Schmeiser, "Batch size effects
  in the analysis of simulation output", Operations Research 30(3), 1982; the
  block bootstrap, the resampling analogue, is Künsch, "The jackknife and the
  bootstrap for general stationary observations", Annals of Statistics 17(3),
  1989).
- :func:`regime_change`: a level shift inside one run, found by PELT
  (``ruptures``) over the logs of block medians; a shift larger than
  :data:`REGIME_SHIFT` makes the run *unstable* (``validity.judge(regime_change=...)``).

When is autocorrelation *material*? At lag-1 autocorrelation ``rho`` the iid
interval of a mean is ``sqrt((1 + rho) / (1 - rho))`` times too narrow: 1.10x at
``rho = 0.095``. :data:`MATERIAL_AUTOCORR` = 0.1 is where the iid interval is
about 10% too narrow; above it the within-run interval is widened to the
batch-means one (the wider of the two is kept).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import ruptures as rpt
from numpy.typing import ArrayLike
from scipy import stats as _sps

from edgetiming.stats.quantiles import quantile

__all__ = [
    "BATCH_METHOD",
    "MATERIAL_AUTOCORR",
    "REGIME_SHIFT",
    "RegimeChange",
    "batch_quantile_ci",
    "effective_sample_size",
    "lag1_autocorrelation",
    "regime_change",
]

MATERIAL_AUTOCORR = 0.1  # above it the iid interval is more than ~10% too narrow
# A level shift between segments of one run larger than this makes it unstable: the
# same 10% that makes independent runs disagree materially (validity.UNSTABLE_SPREAD).
REGIME_SHIFT = 0.10
BATCH_METHOD = "batch means: Student t on the quantiles of contiguous batches"
DEFAULT_BATCHES = 10
MIN_BATCHES = 5


def lag1_autocorrelation(samples: ArrayLike, *, log: bool = True) -> float:
    """Lag-1 autocorrelation of ``samples`` (of their logarithms when ``log``); NaN below 3 samples.

    Examples
    --------
    >>> round(lag1_autocorrelation(np.tile([1.0, 2.0], 50)), 2)
    -0.99
    """
    x = np.asarray(samples, dtype=float).ravel()
    if log:
        x = np.log(x[x > 0])
    if x.size < 3:
        return math.nan
    d = x - x.mean()
    den = float(np.dot(d, d))
    return float(np.dot(d[:-1], d[1:]) / den) if den > 0 else 0.0


def effective_sample_size(n: int, rho: float) -> float:
    """``n (1 - rho) / (1 + rho)``, clipped to ``[1, n]``; ``n`` when ``rho`` is NaN or <= 0.

    Examples
    --------
    >>> round(effective_sample_size(1500, 0.88))
    96
    """
    if n <= 0:
        return 0.0
    if not math.isfinite(rho) or rho <= 0:
        return float(n)
    return float(min(n, max(1.0, n * (1.0 - rho) / (1.0 + rho))))


def batch_quantile_ci(samples: ArrayLike, p: float, confidence: float = 0.95,
                      batches: int | None = None) -> tuple[float, float] | None:
    """Batch-means interval ``(lower, upper)`` for the p-quantile of one run, or None.

    ``batches`` contiguous batches (default :data:`DEFAULT_BATCHES`, fewer when a
    batch would hold too few samples to estimate the quantile: each needs
    ``2 / min(p, 1 - p)`` samples); below :data:`MIN_BATCHES` there is no
    interval. The interval is ``q ± t(b-1) * sd(batch quantiles) / sqrt(b)``
    around the whole run's nearest-rank quantile ``q``.
    """
    x = np.asarray(samples, dtype=float).ravel()
    need = math.ceil(2.0 / min(p, 1.0 - p))
    b = min(batches or DEFAULT_BATCHES, x.size // need)
    if b < MIN_BATCHES:
        return None
    qs = np.array([quantile(part, p) for part in np.array_split(x, b)])
    t = float(_sps.t.ppf(0.5 + confidence / 2.0, b - 1))
    half = t * float(qs.std(ddof=1)) / math.sqrt(b)
    q = quantile(x, p)
    return q - half, q + half


@dataclass(frozen=True)
class RegimeChange:
    """Level shifts inside one run: block indices where a new level starts and the segment medians."""

    blocks: int
    block_medians: tuple[float, ...]
    change_blocks: tuple[int, ...]
    change_samples: tuple[int, ...]
    segment_medians: tuple[float, ...]
    largest_shift: float  # largest |ratio - 1| between neighbouring segments

    @property
    def found(self) -> bool:
        return bool(self.change_blocks)

    def describe(self) -> str:
        """One line for ``validity.judge(regime_change=...)``; empty when no change was found."""
        if not self.found:
            return ""
        steps = ", ".join(f"{b / a - 1:+.0%} at sample {at}" for a, b, at in
                          zip(self.segment_medians, self.segment_medians[1:], self.change_samples))
        return f"the block-median level changed {steps}"

    def to_dict(self) -> dict[str, Any]:
        return {"blocks": self.blocks, "block_medians": list(self.block_medians),
                "change_blocks": list(self.change_blocks), "change_samples": list(self.change_samples),
                "segment_medians": list(self.segment_medians), "largest_shift": self.largest_shift}


def regime_change(samples: ArrayLike, *, blocks: int = 20, min_shift: float = REGIME_SHIFT,
                  penalty_factor: float = 3.0) -> RegimeChange:
    """Find level shifts in one run from the medians of ``blocks`` contiguous blocks.

    PELT (``ruptures``, least-squares cost, segments of at least 2 blocks) runs
    over the logs of the block medians with penalty ``penalty_factor * s^2 *
    ln(blocks)``, where ``s`` is a robust scale of the block-to-block noise (MAD
    of the first differences / sqrt(2)), so noise between blocks alone is not a
    shift. Neighbouring segments whose medians differ by less than ``min_shift``
    are merged: a change is kept only when it is material.

    Examples
    --------
    >>> x = np.r_[np.full(500, 10.0), np.full(500, 20.0)] + np.tile([0.0, 0.1], 500)
    >>> regime_change(x).change_samples
    (500,)
    """
    x = np.asarray(samples, dtype=float).ravel()
    b = min(blocks, x.size // 5)
    if b < 6:
        return RegimeChange(max(b, 0), (), (), (), (), 0.0)
    parts = np.array_split(np.arange(x.size), b)
    med = np.array([np.median(x[idx]) for idx in parts])
    y = np.log(np.maximum(med, np.finfo(float).tiny))
    diffs = np.diff(y)
    s = 1.4826 * float(np.median(np.abs(diffs - np.median(diffs)))) / math.sqrt(2.0)
    s = max(s, 1e-3 * max(float(np.abs(y).mean()), 1e-12), 1e-9)
    bkps = rpt.Pelt(model="l2", min_size=2, jump=1).fit(y.reshape(-1, 1)).predict(
        pen=penalty_factor * s * s * math.log(b))[:-1]
    edges = [0, *bkps, b]
    # merge neighbours whose levels are within min_shift until every step is material
    while len(edges) > 2:
        levels = [float(np.median(med[a:c])) for a, c in itertools.pairwise(edges)]
        steps = [abs(levels[i + 1] / levels[i] - 1.0) for i in range(len(levels) - 1)]
        i = int(np.argmin(steps))
        if steps[i] >= min_shift:
            break
        del edges[i + 1]
    levels = [float(np.median(med[a:c])) for a, c in itertools.pairwise(edges)]
    steps = [abs(levels[i + 1] / levels[i] - 1.0) for i in range(len(levels) - 1)]
    cps = tuple(int(e) for e in edges[1:-1])
    return RegimeChange(b, tuple(float(m) for m in med), cps, tuple(int(parts[c][0]) for c in cps),
                        tuple(levels), max(steps, default=0.0))
