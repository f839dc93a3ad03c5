"""Percentiles, their exact confidence intervals and SLO verdicts.

Every percentile here is the *nearest-rank* estimator in the convention of MLPerf
LoadGen (``loadgen/results.cc``) and onnxruntime ``perf_test``: the sorted sample at
0-based index ``floor(n * p)`` (1-based rank ``floor(n * p) + 1``), never an
interpolation. It equals the textbook nearest rank, 1-based rank ``ceil(n * p)``,
unless ``n * p`` is a whole number, where it is one rank higher (n=1000, p=0.99:
the 991st smallest sample, not the 990th). Its confidence interval
is the exact, distribution-free order-statistic interval: with
``B ~ Binomial(n, p)`` the interval ``[X(l), X(u)]`` (1-based ranks) covers the
true p-quantile with probability ``F_B(u-1) - F_B(l-1)``. These intervals assume
independent samples; consecutive iterations are autocorrelated, so repeat runs
across processes too (Kalibera & Jones, ISMM 2013).

Inputs named ``latency_ns`` are nanoseconds (int64 as measured); results named
``*_ms`` are milliseconds. ``quantile``/``quantile_ci``/``upper_bound`` work in
whatever unit they are given. They, ``slo_verdict`` and ``miss_rate`` accept
``+inf`` for a dropped request (infinitely late); ``summarize`` needs finite values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as _sps

from edgetiming.stats.validity import min_samples_two_sided

__all__ = [
    "DEFAULT_PERCENTILES",
    "LatencySummary",
    "MissRate",
    "QuantileEstimate",
    "SloVerdict",
    "format_number",
    "min_samples",
    "miss_rate",
    "proportion_ci",
    "nearest_rank_index",
    "percentile_label",
    "quantile",
    "quantile_ci",
    "slo_verdict",
    "summarize",
    "upper_bound",
]

DEFAULT_PERCENTILES: tuple[float, ...] = (0.5, 0.9, 0.95, 0.99, 0.999)
_NS_PER_MS = 1e6
_MAX_TOTAL_SAMPLES = 10**9  # beyond this an SLO verdict is called undecidable


def _check_p(p: float) -> float:
    p = float(p)
    if not 0.0 < p < 1.0:
        raise ValueError(f"percentile p must be in (0, 1), got {p!r} (0.99 means P99)")
    return p


def _check_confidence(confidence: float) -> float:
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return confidence


def _as_array(values: ArrayLike, what: str = "values", *, inf_ok: bool = True) -> np.ndarray:
    """Float64 copy; ``+inf`` (a dropped request: infinitely late) is allowed where
    order statistics are all that is computed, NaN and ``-inf`` never."""
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError(f"{what} is empty: at least one sample is needed")
    if np.isnan(x).any() or np.isneginf(x).any() or (not inf_ok and np.isinf(x).any()):
        raise ValueError(f"{what} contains NaN or {'-inf' if inf_ok else 'infinite'} entries")
    return x


def format_number(x: float) -> str:
    """The one way every page, figure and verdict writes a number.

    About three significant figures without scientific notation for the usual
    latency range: ``1,234``, ``12.3``, ``1.23``, ``0.123``; whole numbers
    (``int``) with thousands separators; infinity as ``unbounded``. Pages reach it
    through :func:`edgetiming.results.result.format_value` and ``format_interval``.
    """
    if isinstance(x, int) and not isinstance(x, bool):
        return f"{x:,}"
    if not math.isfinite(x):
        return "unbounded"
    ax = abs(x)
    if ax >= 100:
        return f"{x:,.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:#.3g}"


def percentile_label(p: float) -> str:
    """Short label of a percentile: 0.5 -> ``"p50"``, 0.999 -> ``"p99.9"``.

    Examples
    --------
    >>> percentile_label(0.999)
    'p99.9'
    """
    return "p" + format(float(p) * 100, ".10g")


def nearest_rank_index(n: int, p: float) -> int:
    """0-based index of the nearest-rank p-quantile in a sorted sample of size n.

    ``floor(n * p)`` clipped to ``n - 1``, the convention of LoadGen and
    onnxruntime perf_test. The textbook nearest rank is the 1-based rank
    ``ceil(n * p)`` (0-based index ``ceil(n * p) - 1``); the two agree unless
    ``n * p`` is a whole number, where this index is one rank higher (the first
    example below: index 990 is the 991st value; the textbook takes the 990th).
    A relative tolerance of 1e-12 absorbs binary
    rounding so that ``n * p`` = 29 is not read as 28.999999999999996.

    Examples
    --------
    >>> nearest_rank_index(1000, 0.99)
    990
    >>> nearest_rank_index(10, 0.99)
    9
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    k = math.floor(n * p * (1 + 1e-12))
    return int(min(max(k, 0), n - 1))


def quantile(values: ArrayLike, p: float) -> float:
    """Nearest-rank p-quantile (no interpolation).

    Examples
    --------
    >>> quantile([5, 1, 4, 2, 3], 0.5)
    3.0
    """
    x = _as_array(values)
    k = nearest_rank_index(x.size, p)
    return float(np.partition(x, k)[k])


def min_samples(p: float, confidence: float = 0.95) -> int:
    """Smallest n for which the sample maximum bounds the p-quantile.

    The smallest integer ``n >= ln(alpha) / ln(p)``, ``alpha = 1 - confidence``: the
    one-sided minimum. A PASS/FAIL verdict from the two-sided interval needs more,
    :func:`edgetiming.stats.validity.min_samples_two_sided` (P99: 368 at 95%), and that
    is the minimum the validity rule applies.

    Examples
    --------
    >>> min_samples(0.99), min_samples(0.95), min_samples(0.999)
    (299, 59, 2995)
    """
    p, confidence = _check_p(p), _check_confidence(confidence)
    bound = math.log(1.0 - confidence) / math.log(p)
    n = math.ceil(bound)
    # guard against ceil of a value a hair above an integer through rounding
    if n - 1 >= bound * (1 - 1e-12):
        n -= 1
    return max(int(n), 1)


def _binom_inv(q: float, n: int, p: float) -> int:
    """Smallest k in [0, n] with F_B(k) >= q for B ~ Binomial(n, p), checked exactly."""
    k = int(np.clip(_sps.binom.ppf(q, n, p), 0, n))
    cdf = _sps.binom.cdf
    while k > 0 and cdf(k - 1, n, p) >= q:
        k -= 1
    while k < n and cdf(k, n, p) < q:
        k += 1
    return k


@lru_cache(maxsize=4096)
def _ci_ranks(n: int, p: float, confidence: float) -> tuple[int, int, float]:
    """1-based ranks (l, u) of the two-sided interval and its exact coverage.

    ``l == 0`` means no finite lower bound, ``u == n + 1`` no finite upper bound.
    """
    alpha = 1.0 - confidence
    lo = _binom_inv(alpha / 2, n, p)
    up = _binom_inv(1 - alpha / 2, n, p) + 1
    cdf = _sps.binom.cdf
    coverage = float(cdf(up - 1, n, p) - (cdf(lo - 1, n, p) if lo >= 1 else 0.0))
    return lo, up, coverage


@lru_cache(maxsize=4096)
def _upper_rank(n: int, p: float, confidence: float) -> int:
    """Smallest 1-based k with F_B(k-1) >= confidence; n + 1 when none exists."""
    return _binom_inv(confidence, n, p) + 1


@dataclass(frozen=True)
class QuantileEstimate:
    """A nearest-rank quantile with its exact order-statistic confidence interval.

    ``lower``/``upper`` are ``-inf``/``inf`` and their ranks ``None`` where n is
    too small for that side to be bounded. ``valid`` is ``n >= min_samples_two_sided(p)``,
    the samples a two-sided interval needs (:mod:`edgetiming.stats.validity`).
    ``coverage`` is the exact achieved coverage ``F_B(u-1) - F_B(l-1)`` (at least
    ``confidence``); ``rank`` is the 1-based rank of ``value``.
    """

    p: float
    value: float
    lower: float
    upper: float
    n: int
    confidence: float
    lower_rank: int | None
    upper_rank: int | None
    valid: bool
    coverage: float
    rank: int = 0

    @property
    def bounded(self) -> bool:
        """Both sides of the interval are finite."""
        return self.lower_rank is not None and self.upper_rank is not None

    def scaled(self, factor: float) -> QuantileEstimate:
        """The same estimate with values multiplied by ``factor`` (> 0), e.g. ns -> ms."""
        if factor <= 0:
            raise ValueError("factor must be > 0")
        return replace(
            self, value=self.value * factor, lower=self.lower * factor, upper=self.upper * factor
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; infinite bounds become ``None``."""
        d = asdict(self)
        for key in ("lower", "upper"):
            d[key] = d[key] if math.isfinite(d[key]) else None
        return d


def quantile_ci(values: ArrayLike, p: float, confidence: float = 0.95) -> QuantileEstimate:
    """Nearest-rank p-quantile with its exact distribution-free two-sided interval.

    Ranks ``l = F_B^-1(alpha/2)`` and ``u = F_B^-1(1 - alpha/2) + 1`` with
    ``B ~ Binomial(n, p)``. A side that would need a
    rank outside 1..n is reported unbounded (``-inf``/``inf``, rank ``None``).

    Examples
    --------
    >>> import numpy as np
    >>> q = quantile_ci(np.arange(1, 1001), 0.99)
    >>> (q.value, q.lower_rank, q.upper_rank)
    (991.0, 983, 997)
    """
    p, confidence = _check_p(p), _check_confidence(confidence)
    x = _as_array(values)
    n = x.size
    k = nearest_rank_index(n, p)
    lo, up, coverage = _ci_ranks(n, p, confidence)
    idx = sorted({k} | ({lo - 1} if lo >= 1 else set()) | ({up - 1} if up <= n else set()))
    part = np.partition(x, idx)
    lr, ur = (lo if lo >= 1 else None), (up if up <= n else None)
    lower = -math.inf if lr is None else float(part[lr - 1])
    upper = math.inf if ur is None else float(part[ur - 1])
    valid = n >= min_samples_two_sided(p, confidence)
    return QuantileEstimate(
        p, float(part[k]), lower, upper, n, confidence, lr, ur, valid, coverage, k + 1
    )


def upper_bound(values: ArrayLike, p: float, confidence: float = 0.95) -> float:
    """One-sided upper confidence bound ``X(k)`` of the p-quantile.

    ``k`` is the smallest rank with ``F_B(k-1) >= confidence``; ``inf`` when
    ``n < min_samples(p, confidence)``.

    Examples
    --------
    >>> import numpy as np
    >>> upper_bound(np.arange(1, 300), 0.99)  # n = 299: the maximum
    299.0
    >>> upper_bound(np.arange(1, 299), 0.99)
    inf
    """
    p, confidence = _check_p(p), _check_confidence(confidence)
    x = _as_array(values)
    k = _upper_rank(x.size, p, confidence)
    if k > x.size:
        return math.inf
    return float(np.partition(x, k - 1)[k - 1])


@dataclass(frozen=True)
class LatencySummary:
    """Moments, extremes and nearest-rank percentiles (with CIs) in milliseconds."""

    n: int
    mean_ms: float
    std_ms: float
    cv: float
    min_ms: float
    max_ms: float
    median_ms: float
    confidence: float
    percentiles: tuple[QuantileEstimate, ...] = field(default_factory=tuple)

    def estimate(self, p: float) -> QuantileEstimate:
        """The stored estimate for percentile ``p`` (KeyError if not summarized)."""
        for q in self.percentiles:
            if math.isclose(q.p, p, rel_tol=0, abs_tol=1e-12):
                return q
        raise KeyError(f"percentile {p} not in this summary; pass it to summarize(percentiles=...)")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict: ``n``, ``mean_ms``, ..., and per percentile
        ``p99_ms``, ``p99_ci_ms`` ([lower, upper], ``None`` where unbounded),
        ``p99_ci_ranks``, ``p99_rank``, ``p99_coverage``, ``p99_valid``,
        ``p99_min_samples``. No NaN or infinity anywhere."""

        def clean(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        d: dict[str, Any] = {"n": self.n}
        for key in ("mean_ms", "std_ms", "cv", "min_ms", "max_ms", "median_ms"):
            d[key] = clean(getattr(self, key))
        d["confidence"] = self.confidence
        d["estimator"] = "nearest rank, 0-based index floor(n*p)"
        d["ci_method"] = "exact order-statistic (binomial) interval"
        for q in self.percentiles:
            key = percentile_label(q.p)
            d[f"{key}_ms"] = clean(q.value)
            d[f"{key}_ci_ms"] = [clean(q.lower), clean(q.upper)]
            d[f"{key}_ci_ranks"] = [q.lower_rank, q.upper_rank]
            d[f"{key}_rank"] = q.rank
            d[f"{key}_coverage"] = q.coverage
            d[f"{key}_valid"] = q.valid
            d[f"{key}_min_samples"] = min_samples(q.p, q.confidence)
        return d


def summarize(
    latency_ns: ArrayLike,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    confidence: float = 0.95,
) -> LatencySummary:
    """Summarize latencies given in nanoseconds; every result is in milliseconds.

    Examples
    --------
    >>> import numpy as np
    >>> s = summarize(np.full(1000, 2_000_000))
    >>> s.to_dict()["p99_ms"], s.to_dict()["p99_valid"]
    (2.0, True)
    """
    confidence = _check_confidence(confidence)
    x = _as_array(latency_ns, "latency_ns", inf_ok=False) / _NS_PER_MS
    n = x.size
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if n > 1 else 0.0
    cv = std / abs(mean) if mean != 0 else (0.0 if std == 0 else math.inf)
    xs = np.sort(x)
    ests = [quantile_ci(xs, p, confidence) for p in percentiles]
    median = float(xs[nearest_rank_index(n, 0.5)])
    lo, hi = float(xs[0]), float(xs[-1])
    return LatencySummary(n, mean, std, cv, lo, hi, median, confidence, tuple(ests))


@dataclass(frozen=True)
class SloVerdict:
    """Verdict on the claim "pX <= deadline_ms" from the two-sided CI of pX."""

    verdict: str  # "PASS" | "FAIL" | "INCONCLUSIVE"
    percentile: float
    deadline_ms: float
    confidence: float
    estimate: QuantileEstimate  # in milliseconds
    extra_samples_needed: int | None
    reason: str

    @property
    def n(self) -> int:
        return self.estimate.n

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["estimate"] = self.estimate.to_dict()
        return d


def _extra_samples(
    xs_ms: np.ndarray, p: float, deadline_ms: float, confidence: float
) -> int | None:
    """Further samples after which the CI would clear the deadline if the empirical
    distribution held, or None when no sample count decides it.

    With a share ``c`` of samples at or below the deadline, PASS at size N needs
    ``u(N) <= N c`` and FAIL needs ``l(N) > N c``. The exact ranks jitter by one
    as N grows, which makes the exact condition flicker near its edge, so N is
    solved from the normal approximation ``u, l ~ N p +- z sqrt(N p (1-p))`` with
    a two-rank margin (one for each rounding), then checked against the exact ranks.
    """
    n = xs_ms.size
    c = np.searchsorted(xs_ms, deadline_ms, side="right") / n  # share of samples <= D
    gap = abs(c - p)
    if gap == 0:
        return None
    alpha = 1.0 - confidence
    if c == 1.0:  # every sample meets the deadline: PASS once the upper rank exists
        return max(min_samples(p, 1 - alpha / 2) - n, 1)
    if c == 0.0:  # every sample misses: FAIL once the lower rank exists
        return max(math.floor(math.log(alpha / 2) / math.log(1 - p)) + 1 - n, 1)
    z = float(_sps.norm.ppf(1 - alpha / 2))
    zs, margin = z * math.sqrt(p * (1 - p)), 2.0
    root = (zs + math.sqrt(zs * zs + 4 * gap * margin)) / (2 * gap)
    if root * root > _MAX_TOTAL_SAMPLES:
        return None
    total = max(n + 1, math.ceil(root * root))
    ppf = _sps.binom.ppf

    def decided(m: int) -> bool:
        if c > p:  # PASS: X(u) <= D needs at least u samples at or below D
            u = int(ppf(1 - alpha / 2, m, p)) + 1
            return u <= m and u <= math.floor(m * c)
        lo = int(ppf(alpha / 2, m, p))  # FAIL: fewer than l samples at or below D
        return lo >= 1 and lo > math.ceil(m * c)

    while not decided(total):
        total = math.ceil(total * 1.01) + 1
        if total > _MAX_TOTAL_SAMPLES:
            return None
    return total - n


def slo_verdict(
    latency_ns: ArrayLike, percentile: float, deadline_ms: float, confidence: float = 0.95
) -> SloVerdict:
    """PASS / FAIL / INCONCLUSIVE for the claim "the ``percentile`` latency <= deadline".

    PASS iff the CI's upper bound <= ``deadline_ms``; FAIL iff its lower bound >
    ``deadline_ms``; otherwise INCONCLUSIVE with ``extra_samples_needed``: how
    many more samples would decide it if the empirical distribution holds
    (``None`` when none would, e.g. the empirical quantile equals the deadline).
    The CI is two-sided, so each one-sided claim holds at ``(1 + confidence)/2``.

    Examples
    --------
    >>> import numpy as np
    >>> v = slo_verdict(np.linspace(1e6, 2e6, 1000), 0.99, deadline_ms=2.5)
    >>> v.verdict
    'PASS'
    """
    p, confidence = _check_p(percentile), _check_confidence(confidence)
    deadline_ms = float(deadline_ms)
    xs = np.sort(_as_array(latency_ns, "latency_ns") / _NS_PER_MS)
    est = quantile_ci(xs, p, confidence)
    name, conf_txt = percentile_label(p).upper(), f"{confidence:.0%}"
    d_txt, extra = f"{deadline_ms:g}", None
    if est.upper <= deadline_ms:
        verdict = "PASS"
        why = f"{name} upper {conf_txt} bound {format_number(est.upper)} ms (rank {est.upper_rank} of "
        why += f"{est.n}) <= deadline {d_txt} ms"
    elif est.lower > deadline_ms:
        verdict = "FAIL"
        low = f"{format_number(est.lower)} ms" if math.isfinite(est.lower) else "infinite (dropped requests)"
        why = f"{name} lower {conf_txt} bound {low} (rank {est.lower_rank} of "
        why += f"{est.n}) > deadline {d_txt} ms"
    else:
        verdict = "INCONCLUSIVE"
        why = f"{name} {conf_txt} CI [{format_number(est.lower)}, {format_number(est.upper)}] ms contains the "
        why += f"deadline {d_txt} ms; "
        if est.upper_rank is None and est.n < min_samples(p, confidence):
            why += f"n={est.n} is below the {min_samples(p, confidence)} samples {name} needs; "
        if est.value == deadline_ms:
            why += f"{name} equals the deadline, so no number of samples decides it"
        elif (extra := _extra_samples(xs, p, deadline_ms, confidence)) is None:
            why += "no feasible number of further samples decides it"
        else:
            why += f"about {extra:,} more samples would decide it if the distribution holds "
            why += f"({name} now {format_number(est.value)} ms)"
    return SloVerdict(verdict, p, deadline_ms, confidence, est, extra, why)


@dataclass(frozen=True)
class MissRate:
    """Deadline-miss rate with a Clopper-Pearson interval and the longest miss run."""

    n: int
    misses: int
    rate: float
    lower: float
    upper: float
    confidence: float
    longest_run: int
    deadline_ms: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def proportion_ci(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval for a proportion k/n, e.g. a deadline-miss or error rate.

    >>> tuple(round(x, 4) for x in proportion_ci(0, 50))
    (0.0, 0.0711)
    """
    if not 0 <= k <= n or n < 1:
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    alpha = 1.0 - confidence
    lo = 0.0 if k == 0 else float(_sps.beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(_sps.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


def _longest_run(flags: np.ndarray) -> int:
    if not flags.any():
        return 0
    padded = np.concatenate(([0], flags.astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max())


def miss_rate(latency_ns: ArrayLike, deadline_ms: float, confidence: float = 0.95) -> MissRate:
    """Share of samples over ``deadline_ms``, its exact Clopper-Pearson interval and
    the longest run of consecutive misses (in sample order).

    A sample misses when its latency is strictly greater than the deadline;
    ``+inf`` (a dropped frame) counts as a miss. NaN is refused.

    Examples
    --------
    >>> m = miss_rate([1e6, 3e6, 3e6, 1e6], deadline_ms=2.0)
    >>> m.misses, m.longest_run
    (2, 2)
    """
    confidence = _check_confidence(confidence)
    x = np.asarray(latency_ns, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("latency_ns is empty: at least one sample is needed")
    if np.isnan(x).any() or np.isneginf(x).any():
        raise ValueError("latency_ns contains NaN or -inf")
    miss = x / _NS_PER_MS > float(deadline_ms)
    k, n = int(miss.sum()), int(x.size)
    lo, hi = proportion_ci(k, n, confidence)
    return MissRate(n, k, k / n, lo, hi, confidence, _longest_run(miss), float(deadline_ms))
