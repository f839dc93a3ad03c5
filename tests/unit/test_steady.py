"""Tests for edgetiming.stats.steady: warmup classification and the drift test."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from edgetiming.stats import steady
from edgetiming.stats.steady import classify_steady_state, drift_test, filter_outliers

MS = 1_000_000


def _noise(rng: np.random.Generator, median_ms: float, n: int, sigma: float = 0.2) -> np.ndarray:
    return rng.lognormal(math.log(median_ms), sigma, n) * MS


def test_public_names() -> None:
    for name in steady.__all__:
        assert hasattr(steady, name), name


@pytest.mark.parametrize("seed", range(5))
def test_flat_with_stalls_is_flat(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = _noise(rng, 10.0, 10_000, 0.3)
    x[rng.random(x.size) < 0.01] += 40 * MS  # rare stalls are outliers, not a new regime
    s = classify_steady_state(x)
    assert s.classification == "flat", s.reason
    assert s.steady_start == 0 and s.n_outliers > 0
    json.dumps(s.to_dict(), allow_nan=False)


@pytest.mark.parametrize("seed", range(3))
def test_step_warmup(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = np.r_[_noise(rng, 30.0, 300), _noise(rng, 15.0, 300), _noise(rng, 10.0, 9400)]
    s = classify_steady_state(x)
    assert s.classification == "warmup", s.reason
    assert abs(s.steady_start - 600) <= 2 * s.block_size
    assert s.segments[-1].median_ms == pytest.approx(10.0, rel=0.03)


def test_smooth_warmup() -> None:
    rng = np.random.default_rng(11)
    t = np.arange(5000)
    x = _noise(rng, 10.0, t.size) * (1 + 3 * np.exp(-t / 150))
    s = classify_steady_state(x)
    assert s.classification == "warmup", s.reason
    assert 150 <= s.steady_start <= 1500
    assert s.warmup_iters == s.steady_start


def test_slowdown() -> None:
    rng = np.random.default_rng(3)
    x = np.r_[_noise(rng, 10.0, 3000), _noise(rng, 13.0, 7000)]
    s = classify_steady_state(x)
    assert s.classification == "slowdown", s.reason
    assert abs(s.steady_start - 3000) <= 2 * s.block_size
    assert s.change_points


def test_late_change_means_no_steady_state() -> None:
    rng = np.random.default_rng(4)
    x = np.r_[_noise(rng, 10.0, 9000), _noise(rng, 14.0, 1000)]
    s = classify_steady_state(x)
    assert s.classification == "no steady state", s.reason
    assert s.steady_start is None


def test_small_shift_within_tolerance_is_flat() -> None:
    rng = np.random.default_rng(5)
    x = np.r_[_noise(rng, 10.0, 2000, 0.05), _noise(rng, 10.1, 2000, 0.05)]
    assert classify_steady_state(x).classification == "flat"


def test_too_short_and_degenerate_series() -> None:
    assert classify_steady_state(np.full(20, MS)).classification == "no steady state"
    assert classify_steady_state(np.full(5000, MS)).classification == "flat"
    with pytest.raises(ValueError):
        classify_steady_state([])


def test_filter_outliers_uses_windows() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(10.0, 0.5, 1000)
    x[[17, 500]] = 100.0
    keep = filter_outliers(x)
    assert not keep[17] and not keep[500] and keep.sum() >= 990


# ---------------------------------------------------------------- drift
def test_drift_on_a_trend() -> None:
    rng = np.random.default_rng(7)
    n = 5000
    x = _noise(rng, 10.0, n) * np.linspace(1.0, 1.1, n)  # 10% over the run
    r = drift_test(x)
    assert r.drift and r.p_value < 0.01 and r.tau > 0.8
    per_block = 10.0 * 0.1 / 9  # ms per block of the 10
    assert r.slope_ms_per_block == pytest.approx(per_block, rel=0.35)
    down = drift_test(x[::-1])
    assert down.drift and down.slope_ms_per_block < 0
    json.dumps(r.to_dict(), allow_nan=False)


def test_no_drift_on_stationary_noise() -> None:
    flagged = 0
    seeds = 100
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        flagged += drift_test(_noise(rng, 10.0, 2000, 0.3)).drift
    # a 5% test: stay within the binomial upper tail of 5% false alarms
    assert flagged <= sps.binom.ppf(0.999, seeds, 0.05)


def test_tiny_significant_trend_is_not_drift() -> None:
    x = np.linspace(10.0, 10.02, 1000) * MS  # perfectly monotone but 0.2% overall
    r = drift_test(x)
    assert r.p_value < 0.05 and not r.drift


def test_drift_input_checks() -> None:
    with pytest.raises(ValueError):
        drift_test(np.ones(20), blocks=10)
    with pytest.raises(ValueError):
        drift_test(np.ones(100), blocks=2)
    assert not drift_test(np.full(100, MS)).drift
