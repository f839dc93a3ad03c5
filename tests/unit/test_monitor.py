"""Bounded-memory monitoring: histogram accuracy, bounds, memory and quiet alert rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from edgetiming.measure.monitor import (
    AlertRule,
    LatencyMonitor,
    episodes,
    histogram_bytes,
    new_histogram,
    quantile_bounds,
    value_at_rank,
)
from edgetiming.stats import quantiles as stats
from edgetiming.stats.compare import compare_runs


def lognormal_ns(n: int, median_ms: float = 2.0, sigma: float = 0.25, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.lognormal(math.log(median_ms * 1e6), sigma, n)).astype(np.int64)


def filled(x: np.ndarray):
    h = new_histogram()
    for v in x.tolist():
        h.record_value(v)
    return h


def test_value_at_rank_matches_sorted_samples_within_precision():
    x = lognormal_ns(5000)
    h = filled(x)
    xs = np.sort(x)
    for rank in (1, 100, 2500, 4950, 5000):
        got = value_at_rank(h, rank)
        assert abs(got - xs[rank - 1]) <= 1e-3 * xs[rank - 1]  # 3 significant digits
        assert value_at_rank(h, rank, side="low") <= xs[rank - 1] <= got
    with pytest.raises(ValueError):
        value_at_rank(h, 0)


def test_quantile_bounds_agree_with_exact_order_statistics():
    x = lognormal_ns(2000, seed=3)
    lo, val, hi = quantile_bounds(filled(x), 0.99)
    exact = stats.quantile(x, 0.99)
    assert abs(val - exact) <= 1e-3 * exact
    assert lo <= exact <= hi
    # the one-sided upper bound is the harness's own upper_bound, to histogram precision
    assert abs(hi - stats.upper_bound(x, 0.99)) <= 1e-3 * hi


def test_lower_bound_coverage_is_at_least_the_confidence():
    # the true P99 of a lognormal is known; the lower bound must sit under it >= 95% of the time
    median_ms, sigma = 2.0, 0.3
    true_p99 = math.exp(math.log(median_ms * 1e6) + sigma * sps.norm.ppf(0.99))
    below = 0
    trials = 200
    for seed in range(trials):
        lo, _, _ = quantile_bounds(filled(lognormal_ns(500, median_ms, sigma, seed)), 0.99, 0.95)
        below += lo <= true_p99
    assert below / trials >= 0.92  # 0.95 nominal, binomial slack for 200 trials


def test_merged_windows_equal_one_histogram():
    x = lognormal_ns(3000, seed=5)
    mon = LatencyMonitor(window=500)
    mon.record_many(x)
    whole = filled(x)
    assert mon.total.get_total_count() == x.size
    assert np.array_equal(np.ctypeslib.as_array(mon.total.counts),
                          np.ctypeslib.as_array(whole.counts))


def test_memory_stays_bounded():
    mon = LatencyMonitor(window=1000, history=20, rules={"r": AlertRule(10.0)})
    mon.record_many(lognormal_ns(25_000))
    after_few = mon.memory_bytes()
    mon.record_many(lognormal_ns(100_000, seed=1))
    assert mon.memory_bytes() == after_few  # history full, histograms fixed: no growth
    assert len(mon.windows) == 20 and mon.windows_closed == 125
    assert histogram_bytes(mon.total) == histogram_bytes(new_histogram())


def test_values_beyond_the_range_are_clamped_and_counted():
    mon = LatencyMonitor(window=10, highest_ns=1_000_000_000)
    mon.record_many([5_000_000_000] + [1_000_000] * 9)
    assert mon.clamped == 1 and mon.windows_closed == 1


def test_robust_rule_stays_quiet_on_noise_and_naive_rule_does_not():
    # threshold at the true P99: half the windows' estimates exceed it by chance
    median_ms, sigma = 2.0, 0.3
    true_p99_ms = math.exp(math.log(median_ms) + sigma * sps.norm.ppf(0.99))
    rules = {"naive": AlertRule(true_p99_ms, consecutive=1, use_lower_bound=False),
             "robust": AlertRule(true_p99_ms, consecutive=3)}
    mon = LatencyMonitor(window=500, rules=rules, history=1000)
    closed = mon.record_many(lognormal_ns(60 * 500, median_ms, sigma, seed=11))
    assert episodes(w.firing["robust"] for w in closed) == []
    assert len(episodes(w.firing["naive"] for w in closed)) >= 5


def test_robust_rule_fires_on_a_real_shift_within_a_few_windows():
    median_ms, sigma = 2.0, 0.3
    base = lognormal_ns(20 * 500, median_ms, sigma, seed=2)
    slow = (lognormal_ns(20 * 500, median_ms, sigma, seed=3) * 1.5).astype(np.int64)
    threshold = 1.2 * math.exp(math.log(median_ms) + sigma * sps.norm.ppf(0.99))
    mon = LatencyMonitor(window=500, rules={"robust": AlertRule(threshold, consecutive=3)})
    closed = mon.record_many(np.r_[base, slow])
    starts = episodes(w.firing["robust"] for w in closed)
    assert starts and 20 <= starts[0] <= 20 + 3 + 2
    assert not any(w.firing["robust"] for w in closed[:20])


def test_alert_rule_validation_and_streaks():
    with pytest.raises(ValueError):
        AlertRule(1.0, consecutive=0)
    rule = AlertRule(1.0, consecutive=2)
    mon = LatencyMonitor(window=1, confidence=0.5, rules={"r": rule})
    fired = [w.firing["r"] for w in mon.record_many([2_000_000, 2_000_000, 500_000, 2_000_000])]
    assert fired == [False, True, False, False]


def test_compare_runs_catches_a_slowed_variant_and_not_an_identical_one():
    # the property the monitoring recipe checks on real runs, here on known distributions
    a = lognormal_ns(2000, seed=20)
    same = lognormal_ns(2000, seed=21)
    slowed = (lognormal_ns(2000, seed=22) * 1.3).astype(np.int64)
    assert compare_runs(a, slowed, percentile=0.5).verdict == "slower"
    assert compare_runs(a, same, percentile=0.5).verdict != "slower"
