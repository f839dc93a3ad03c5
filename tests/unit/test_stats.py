"""Tests for edgetiming.stats.quantiles: ranks, exact intervals, coverage, verdicts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from scipy.optimize import brentq

from edgetiming.stats import quantiles as stats
from edgetiming.stats.quantiles import (
    min_samples,
    miss_rate,
    nearest_rank_index,
    quantile,
    quantile_ci,
    slo_verdict,
    summarize,
    upper_bound,
)
from edgetiming.stats.validity import min_samples_two_sided

MS = 1_000_000  # ns per ms


def test_public_names() -> None:
    for name in stats.__all__:
        assert hasattr(stats, name), name


# ---------------------------------------------------------------- ranks and quantiles
@pytest.mark.parametrize(
    ("n", "p", "expected"),
    [
        (1000, 0.99, 990),
        (1000, 0.5, 500),
        (10, 0.99, 9),
        (1, 0.5, 0),
        (100, 0.29, 29),
        (100, 0.57, 57),
        (5, 1.0, 4),
        (5, 0.0, 0),
        (3000, 0.999, 2997),
    ],
)
def test_nearest_rank_index(n: int, p: float, expected: int) -> None:
    assert nearest_rank_index(n, p) == expected


def test_quantile_is_nearest_rank_without_interpolation() -> None:
    x = np.arange(1, 11, dtype=float)  # 1..10
    assert quantile(x, 0.5) == 6.0  # index floor(5) = 5 -> 6, no interpolation to 5.5
    assert quantile(x, 0.99) == 10.0
    assert quantile(x[::-1], 0.1) == 2.0


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        quantile([], 0.5)
    with pytest.raises(ValueError):
        quantile([1.0, float("nan")], 0.5)
    with pytest.raises(ValueError):
        quantile_ci([1.0, 2.0], 1.0)
    with pytest.raises(ValueError):
        min_samples(0.99, confidence=1.0)


# ---------------------------------------------------------------- minimum sample counts
@pytest.mark.parametrize(
    ("p", "confidence", "expected"),
    [
        (0.99, 0.95, 299),
        (0.95, 0.95, 59),
        (0.999, 0.95, 2995),
        (0.95, 0.99, 90),
        (0.99, 0.99, 459),
        (0.999, 0.99, 4603),
        (0.5, 0.95, 5),
    ],
)
def test_min_samples_reference_numbers(p: float, confidence: float, expected: int) -> None:
    assert min_samples(p, confidence) == expected


@pytest.mark.parametrize("p", [0.9, 0.95, 0.99, 0.999])
def test_upper_bound_exists_from_min_samples_on(p: float) -> None:
    need = min_samples(p)
    assert math.isinf(upper_bound(np.arange(need - 1, dtype=float), p))
    assert upper_bound(np.arange(need, dtype=float), p) == need - 1  # the sample maximum


# ---------------------------------------------------------------- exact intervals
def test_reference_interval_p99_of_1000() -> None:
    q = quantile_ci(np.arange(1, 1001, dtype=float), 0.99)
    assert (q.lower_rank, q.upper_rank, q.rank) == (983, 997, 991)
    assert (q.lower, q.value, q.upper) == (983.0, 991.0, 997.0)
    b = sps.binom(1000, 0.99)
    assert q.coverage == pytest.approx(b.cdf(996) - b.cdf(982), abs=1e-12)
    assert q.coverage >= 0.95 and q.valid


def test_too_few_samples_leave_the_upper_bound_open() -> None:
    q = quantile_ci(np.arange(1, 101, dtype=float), 0.99)
    assert q.upper == math.inf and q.upper_rank is None and not q.valid
    assert q.lower_rank is not None and q.coverage >= 0.95
    assert q.to_dict()["upper"] is None
    tiny = quantile_ci([5.0], 0.5)
    assert tiny.lower == -math.inf and tiny.upper == math.inf


@pytest.mark.parametrize("n", [5, 20, 59, 100, 299, 1000, 5000])
@pytest.mark.parametrize("p", [0.5, 0.9, 0.95, 0.99, 0.999])
def test_achieved_coverage_matches_its_formula(n: int, p: float) -> None:
    q = quantile_ci(np.arange(n, dtype=float), p)
    b = sps.binom(n, p)
    lo = q.lower_rank or 0
    hi = q.upper_rank or n + 1
    expected = b.cdf(hi - 1) - (b.cdf(lo - 1) if lo else 0.0)
    assert q.coverage == pytest.approx(expected, abs=1e-12)
    assert q.coverage >= 0.95 - 1e-12
    # tightness: moving either finite end inwards would break the alpha/2 budget
    if q.lower_rank:
        assert b.cdf(q.lower_rank - 1) < 0.025 <= b.cdf(q.lower_rank)
    if q.upper_rank:
        assert b.cdf(q.upper_rank - 2) < 0.975 <= b.cdf(q.upper_rank - 1)


def _lognormal_truth(p: float, mu: float, s: float) -> float:
    return float(np.exp(mu + s * sps.norm.ppf(p)))


def _mixture_truth(p: float, mu: float, s: float, rate: float, stall: float) -> float:
    def cdf(x: float) -> float:
        base = sps.norm.cdf((math.log(x) - mu) / s)
        stalled = sps.norm.cdf((math.log(x - stall) - mu) / s) if x > stall else 0.0
        return (1 - rate) * base + rate * stalled

    return float(brentq(lambda x: cdf(x) - p, 1e-9, 1e4, xtol=1e-12))


@pytest.mark.parametrize("dist", ["lognormal", "stalls"])
def test_coverage_on_known_distributions(dist: str) -> None:
    """Across seeded repetitions the 95% CI covers the true P50/P99 at its exact rate."""
    reps, n, mu, s, rate, stall = 1000, 1000, math.log(10.0), 0.3, 0.02, 40.0
    rng = np.random.default_rng(20240603 if dist == "lognormal" else 7)
    for p in (0.5, 0.99):
        truth = (
            _lognormal_truth(p, mu, s)
            if dist == "lognormal"
            else _mixture_truth(p, mu, s, rate, stall)
        )
        hits = upper_hits = 0
        coverage = 0.0
        for _ in range(reps):
            x = rng.lognormal(mu, s, n)
            if dist == "stalls":  # a stall at a known rate adds a fixed 40 ms
                x = x + stall * (rng.random(n) < rate)
            q = quantile_ci(x, p)
            hits += q.lower <= truth <= q.upper
            upper_hits += upper_bound(x, p) >= truth
            coverage = q.coverage
        # hits ~ Binomial(reps, coverage) exactly for a continuous distribution
        lo, hi = sps.binom.ppf([0.0005, 0.9995], reps, coverage)
        assert lo <= hits <= hi, (dist, p, hits, coverage)
        assert upper_hits >= sps.binom.ppf(0.0005, reps, 0.95), (dist, p, upper_hits)


def test_verdict_rarely_passes_a_false_claim() -> None:
    """When the true P99 sits exactly at the deadline, PASS must be rare (<= 2.5%)."""
    reps, n, mu, s = 400, 1000, math.log(10.0), 0.3
    deadline = _lognormal_truth(0.99, mu, s)
    rng = np.random.default_rng(99)
    passes = sum(
        slo_verdict(rng.lognormal(mu, s, n) * MS, 0.99, deadline).verdict == "PASS"
        for _ in range(reps)
    )
    assert passes <= sps.binom.ppf(0.999, reps, 0.025)


# ---------------------------------------------------------------- property tests
finite = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)
samples = st.lists(finite, min_size=1, max_size=400)
levels = st.floats(min_value=0.001, max_value=0.999)
PROPS = settings(max_examples=80, derandomize=True, deadline=None)


@PROPS
@given(samples, levels, levels)
def test_quantile_monotone_in_p(x: list[float], p1: float, p2: float) -> None:
    lo, hi = sorted((p1, p2))
    assert quantile(x, lo) <= quantile(x, hi)


@PROPS
@given(samples, levels, st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_interval_contains_estimate(x: list[float], p: float, confidence: float) -> None:
    q = quantile_ci(x, p, confidence)
    assert q.lower <= q.value <= q.upper
    assert q.coverage >= confidence - 1e-9
    assert q.valid == (len(x) >= min_samples_two_sided(p, confidence))
    ub = upper_bound(x, p, confidence)
    assert ub >= q.value


@PROPS
@given(samples, levels, st.randoms(use_true_random=False))
def test_permutation_invariance(x: list[float], p: float, rnd) -> None:
    y = list(x)
    rnd.shuffle(y)
    assert quantile_ci(x, p) == quantile_ci(y, p)


@PROPS
@given(samples, levels, st.floats(min_value=1e-3, max_value=1e3))
def test_scale_equivariance(x: list[float], p: float, c: float) -> None:
    a, b = quantile_ci(x, p), quantile_ci(np.asarray(x) * c, p)
    assert b.value == np.float64(a.value) * c
    assert (b.lower_rank, b.upper_rank) == (a.lower_rank, a.upper_rank)
    if math.isfinite(a.upper):
        assert b.upper == np.float64(a.upper) * c


# ---------------------------------------------------------------- summary
def test_summarize_units_and_json() -> None:
    rng = np.random.default_rng(3)
    x = (rng.lognormal(math.log(10.0), 0.3, 500) * MS).astype(np.int64)
    s = summarize(x)
    assert s.n == 500
    assert s.mean_ms == pytest.approx(x.mean() / MS)
    assert s.median_ms == quantile(x, 0.5) / MS
    assert s.estimate(0.99).value == quantile(x, 0.99) / MS
    d = s.to_dict()
    text = json.dumps(d, allow_nan=False)  # no NaN or infinity anywhere
    assert json.loads(text)["p99_ms"] == d["p99_ms"]
    for key in ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "p99.9_ms"):
        assert key in d
    assert d["p99_valid"] is True and d["p99.9_valid"] is False
    assert d["p99.9_ci_ms"][1] is None and d["p99.9_ci_ranks"][1] is None
    single = summarize([2 * MS]).to_dict()
    json.dumps(single, allow_nan=False)
    assert single["std_ms"] == 0.0
    with pytest.raises(KeyError):
        s.estimate(0.42)


# ---------------------------------------------------------------- SLO verdict
@pytest.fixture
def ramp_ns() -> np.ndarray:
    """1..1000 ms: P99 = 991 ms, 95% CI [X(983), X(997)] = [983, 997] ms."""
    return np.arange(1, 1001, dtype=np.int64) * MS


@pytest.mark.parametrize(
    ("deadline_ms", "verdict"),
    [
        (997.0, "PASS"),
        (1000.0, "PASS"),
        (996.999, "INCONCLUSIVE"),
        (991.0, "INCONCLUSIVE"),
        (983.0, "INCONCLUSIVE"),
        (982.999, "FAIL"),
        (10.0, "FAIL"),
    ],
)
def test_verdict_boundaries(ramp_ns: np.ndarray, deadline_ms: float, verdict: str) -> None:
    v = slo_verdict(ramp_ns, 0.99, deadline_ms)
    assert v.verdict == verdict, v.reason
    assert v.reason
    if verdict != "INCONCLUSIVE":
        assert v.extra_samples_needed is None


def test_verdict_undecidable_when_quantile_equals_deadline(ramp_ns: np.ndarray) -> None:
    v = slo_verdict(ramp_ns, 0.99, 991.0)
    assert v.verdict == "INCONCLUSIVE" and v.extra_samples_needed is None
    assert "equals the deadline" in v.reason
    # share at or below the deadline is exactly p: no sample count can decide it either
    assert slo_verdict(ramp_ns, 0.99, 990.5).extra_samples_needed is None


def _stratified(sorted_ms: np.ndarray, total: int) -> np.ndarray:
    """A sample of size ``total`` with the same empirical distribution."""
    n = sorted_ms.size
    return sorted_ms[(np.arange(total) * n) // total]


@pytest.mark.parametrize(
    ("deadline_ms", "decides"), [(993.5, "PASS"), (995.5, "PASS"), (985.5, "FAIL"), (988.5, "FAIL")]
)
def test_extra_samples_decide_the_verdict(
    ramp_ns: np.ndarray, deadline_ms: float, decides: str
) -> None:
    v = slo_verdict(ramp_ns, 0.99, deadline_ms)
    assert v.verdict == "INCONCLUSIVE"
    extra = v.extra_samples_needed
    assert extra is not None and extra > 0
    base = np.sort(ramp_ns).astype(float)
    total = ramp_ns.size + extra
    # decided at the estimate and from there on (not just on a lucky rank)
    for size in (total, int(total * 1.1), int(total * 1.5), total * 2, total * 4):
        assert slo_verdict(_stratified(base, size), 0.99, deadline_ms).verdict == decides
    # and not wildly pessimistic: a third of the extra samples do not decide it
    third = _stratified(base, ramp_ns.size + extra // 3)
    assert slo_verdict(third, 0.99, deadline_ms).verdict == "INCONCLUSIVE"


def test_too_few_samples_cannot_pass_but_can_fail() -> None:
    fast = np.full(100, 1 * MS)
    v = slo_verdict(fast, 0.99, 50.0)
    assert v.verdict == "INCONCLUSIVE" and "below the 299 samples" in v.reason
    # with every sample under the deadline, the two-sided upper end needs
    # F_B(n-1) >= 0.975, i.e. the one-sided minimum at 97.5%
    assert v.extra_samples_needed == min_samples(0.99, 0.975) - 100
    slow = np.full(50, 100 * MS)
    assert slo_verdict(slow, 0.99, 10.0).verdict == "FAIL"


def test_dropped_requests_count_as_infinitely_late() -> None:
    x = np.full(1000, 5.0 * MS)
    x[::50] = math.inf  # 2% dropped: P99 cannot meet any deadline
    assert quantile(x, 0.99) == math.inf
    v = slo_verdict(x, 0.99, 100.0)
    assert v.verdict == "FAIL" and v.estimate.lower == math.inf
    assert slo_verdict(x, 0.95, 10.0).verdict == "PASS"
    with pytest.raises(ValueError):
        summarize(x)
    with pytest.raises(ValueError):
        quantile([1.0, -math.inf], 0.5)


def test_verdict_to_dict_is_json() -> None:
    v = slo_verdict(np.full(100, MS), 0.99, 50.0)
    json.dumps(v.to_dict(), allow_nan=False)


# ---------------------------------------------------------------- miss rate
def test_miss_rate_clopper_pearson_and_runs() -> None:
    x = np.full(200, 5 * MS, dtype=float)
    x[[3, 4, 5, 50, 51, 199]] = 25 * MS
    m = miss_rate(x, deadline_ms=20.0)
    assert (m.n, m.misses, m.longest_run) == (200, 6, 3)
    ci = sps.binomtest(6, 200).proportion_ci(0.95, method="exact")
    assert (m.lower, m.upper) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert m.lower <= m.rate <= m.upper


def test_miss_rate_edges() -> None:
    none = miss_rate(np.full(100, MS), deadline_ms=1.0)  # equal to the deadline is no miss
    assert none.misses == 0 and none.lower == 0.0 and none.longest_run == 0
    assert none.upper == pytest.approx(1 - 0.025 ** (1 / 100))
    dropped = miss_rate([MS, math.inf, math.inf, MS], deadline_ms=2.0)
    assert dropped.misses == 2 and dropped.longest_run == 2
    everything = miss_rate(np.full(10, 9 * MS), deadline_ms=1.0)
    assert everything.upper == 1.0 and everything.longest_run == 10
    json.dumps(everything.to_dict(), allow_nan=False)


@pytest.mark.parametrize("seed", range(4))
def test_extra_samples_estimate_is_robust_on_lognormal_data(seed: int) -> None:
    """Once the estimated size is reached the verdict stays decided as n keeps growing."""
    rng = np.random.default_rng(seed)
    x = rng.lognormal(math.log(10.0), 0.3, 1500)
    xs = np.sort(x)
    checked = 0
    for p in (0.5, 0.9, 0.99):
        for shift in (-0.004, -0.001, 0.001, 0.004):
            deadline = float(np.quantile(x, p + shift))
            v = slo_verdict(x * MS, p, deadline)
            if v.extra_samples_needed is None or v.extra_samples_needed > 100_000:
                continue  # keep the test fast: huge sizes add sorting time, not insight
            checked += 1
            total = x.size + v.extra_samples_needed
            want = "PASS" if shift > 0 else "FAIL"
            for size in (total, int(total * 1.03), int(total * 1.3), total * 3):
                assert slo_verdict(_stratified(xs, size) * MS, p, deadline).verdict == want
    assert checked >= 4
