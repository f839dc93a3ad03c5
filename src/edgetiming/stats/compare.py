"""Is run B slower than run A? A ratio of percentiles with a confidence interval.

The effect is ``ratio = Q_B(p) / Q_A(p)`` for nearest-rank quantiles. Two ways
to put an interval on it, both deterministic:

``"order-statistic"`` (default)
    Each run's exact distribution-free quantile interval at confidence
    ``sqrt(confidence)`` (the two runs are independent, so both hold together
    with probability ``confidence``); the ratio interval is
    ``[lo_B / hi_A, hi_B / lo_A]``. Conservative, no resampling, and unbounded
    when a run is too short for its percentile.
``"bootstrap"``
    Percentile bootstrap of the ratio with ``n_boot`` resamples from a seeded
    generator. The nearest-rank quantile of a resample is drawn exactly from its
    binomial law instead of materialising the resample, so it is cheap at any n.

Verdict: ``"slower"`` iff the interval's lower end exceeds ``1 + min_effect``;
``"faster"`` iff its upper end is below ``1 / (1 + min_effect)``; ``"same"`` iff
the whole interval lies within those two limits (an equivalence test);
otherwise ``"inconclusive"``. The limits are symmetric on a log scale, so
swapping A and B swaps "slower" and "faster". Iterations are autocorrelated
and a shared machine drifts, so the intervals are optimistic; ``min_effect``
is what keeps the comparison quiet on such noise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as _sps

from edgetiming.stats.quantiles import (
    QuantileEstimate,
    nearest_rank_index,
    percentile_label,
    quantile_ci,
)

__all__ = ["Comparison", "compare_runs"]

_NS_PER_MS = 1e6
VERDICTS = ("slower", "faster", "same", "inconclusive")


@dataclass(frozen=True)
class Comparison:
    """Result of :func:`compare_runs`; ``a`` and ``b`` are in milliseconds."""

    verdict: str
    ratio: float
    lower: float
    upper: float
    percentile: float
    confidence: float
    min_effect: float
    method: str
    a: QuantileEstimate
    b: QuantileEstimate
    reason: str

    @property
    def change(self) -> float:
        """Relative change of B over A (``ratio - 1``; 0.2 means 20% slower)."""
        return self.ratio - 1.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["a"], d["b"] = self.a.to_dict(), self.b.to_dict()
        for key in ("ratio", "lower", "upper"):
            if not math.isfinite(d[key]):
                d[key] = None
        return d


def _as_ms(values: ArrayLike, what: str) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64).ravel() / _NS_PER_MS
    if x.size == 0:
        raise ValueError(f"{what} is empty")
    if not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ValueError(f"{what} must hold finite, positive latencies")
    return x


def _bootstrap_quantiles(
    xs: np.ndarray, p: float, rng: np.random.Generator, n_boot: int
) -> np.ndarray:
    """Nearest-rank p-quantiles of ``n_boot`` bootstrap resamples of sorted ``xs``.

    The k-th order statistic of a resample is ``<= xs[j-1]`` iff at least k of
    the n draws land in the lowest j values: ``P = sf(k-1; n, j/n)``. Inverting
    this CDF with uniforms samples it exactly.
    """
    n = xs.size
    k = nearest_rank_index(n, p) + 1
    cdf = _sps.binom.sf(k - 1, n, np.arange(1, n + 1) / n)
    j = np.searchsorted(cdf, rng.random(n_boot), side="left")
    return xs[np.minimum(j, n - 1)]


def compare_runs(
    a_ns: ArrayLike,
    b_ns: ArrayLike,
    *,
    percentile: float = 0.5,
    confidence: float = 0.95,
    min_effect: float = 0.05,
    method: str = "order-statistic",
    n_boot: int = 4000,
    seed: int = 0,
) -> Comparison:
    """Compare the ``percentile`` latency of run B against run A (both in ns).

    Parameters
    ----------
    a_ns, b_ns
        Per-iteration latencies of the baseline (A) and the candidate (B).
    percentile
        Which quantile to compare (0.5 = median, 0.99 = P99).
    confidence
        Joint confidence of the ratio interval.
    min_effect
        Smallest relative change worth reporting; "slower" needs the whole
        interval above ``1 + min_effect``.
    method
        ``"order-statistic"`` or ``"bootstrap"`` (see the module docstring).
    n_boot, seed
        Bootstrap resamples and generator seed (bootstrap only).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> a = rng.lognormal(np.log(10e6), 0.2, 2000)
    >>> compare_runs(a, a * 1.2).verdict
    'slower'
    >>> compare_runs(a, rng.lognormal(np.log(10e6), 0.2, 2000)).verdict
    'same'
    """
    if not 0.0 < percentile < 1.0:
        raise ValueError(f"percentile must be in (0, 1), got {percentile!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if min_effect < 0:
        raise ValueError("min_effect must be >= 0")
    xa, xb = np.sort(_as_ms(a_ns, "a_ns")), np.sort(_as_ms(b_ns, "b_ns"))
    qa = quantile_ci(xa, percentile, confidence)
    qb = quantile_ci(xb, percentile, confidence)
    ratio = qb.value / qa.value

    if method == "order-statistic":
        each = math.sqrt(confidence)
        ia, ib = quantile_ci(xa, percentile, each), quantile_ci(xb, percentile, each)
        lower = ib.lower / ia.upper if math.isfinite(ia.upper) and ib.lower > 0 else 0.0
        upper = ib.upper / ia.lower if ia.lower > 0 and math.isfinite(ib.upper) else math.inf
        how = "order-statistic intervals at sqrt(confidence) each"
    elif method == "bootstrap":
        if n_boot < 100:
            raise ValueError("n_boot must be >= 100")
        rng = np.random.default_rng(seed)
        ra = _bootstrap_quantiles(xa, percentile, rng, n_boot)
        rb = _bootstrap_quantiles(xb, percentile, rng, n_boot)
        alpha = 1.0 - confidence
        lower, upper = (float(v) for v in np.quantile(rb / ra, [alpha / 2, 1 - alpha / 2]))
        how = f"percentile bootstrap, {n_boot} resamples, seed {seed}"
    else:
        raise ValueError(f"method must be 'order-statistic' or 'bootstrap', got {method!r}")

    hi_lim, lo_lim = 1.0 + min_effect, 1.0 / (1.0 + min_effect)
    name = percentile_label(percentile).upper()
    ci = f"{name} ratio B/A {ratio:.3f}, {confidence:.0%} CI [{lower:.3f}, {upper:.3f}] ({how})"
    if lower > hi_lim:
        verdict = "slower"
        why = f"B is slower by more than {min_effect:.0%}: {ci}"
    elif upper < lo_lim:
        verdict = "faster"
        why = f"B is faster by more than {min_effect:.0%}: {ci}"
    elif lo_lim <= lower and upper <= hi_lim:
        verdict = "same"
        why = f"any change is within {min_effect:.0%}: {ci}"
    else:
        verdict = "inconclusive"
        why = f"the interval reaches past the {min_effect:.0%} limit but does not clear it: {ci}"
    return Comparison(
        verdict, ratio, lower, upper, percentile, confidence, min_effect, method, qa, qb, why
    )
