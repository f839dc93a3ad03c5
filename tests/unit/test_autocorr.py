"""Within-run dependence: autocorrelation, effective sample size, batch means, regime changes."""

import math

import numpy as np

from edgetiming.stats.autocorr import (
    batch_quantile_ci,
    effective_sample_size,
    lag1_autocorrelation,
    regime_change,
)
from edgetiming.stats.quantiles import quantile_ci
from edgetiming.stats.repeated import repeated_quantile
from edgetiming.stats.validity import State

MEDIAN = 10.0


def _ar1(rng, n, phi, sd=0.2):
    """Log-AR(1) latency with stationary log-sd ``sd``: its median is exactly MEDIAN."""
    e = rng.normal(0.0, sd * math.sqrt(1.0 - phi * phi), n)
    x = np.empty(n)
    x[0] = rng.normal(0.0, sd)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    return MEDIAN * np.exp(x)


def test_lag1_autocorrelation_and_effective_sample_size_of_an_ar1_series():
    rng = np.random.default_rng(0)
    x = _ar1(rng, 20_000, 0.9)
    rho = lag1_autocorrelation(x)
    assert abs(rho - 0.9) < 0.02
    assert 900 < effective_sample_size(20_000, rho) < 1200  # 20,000 * 0.1 / 1.9 = 1,053
    assert abs(lag1_autocorrelation(rng.lognormal(0, 0.3, 5000))) < 0.05
    assert effective_sample_size(100, -0.3) == 100 and effective_sample_size(100, math.nan) == 100


def test_batch_means_covers_an_ar1_median_where_the_iid_interval_does_not():
    rng = np.random.default_rng(1)
    trials, batch_hits, iid_hits = 200, 0, 0
    for _ in range(trials):
        x = _ar1(rng, 1500, 0.9)
        lo, hi = batch_quantile_ci(x, 0.5)
        batch_hits += lo <= MEDIAN <= hi
        q = quantile_ci(x, 0.5)
        iid_hits += q.lower <= MEDIAN <= q.upper
    assert batch_hits / trials >= 0.88  # nominal 95%
    assert iid_hits / trials < 0.6  # the iid interval is about 4x too narrow at phi 0.9


def test_batch_means_needs_enough_samples_per_batch():
    assert batch_quantile_ci(np.arange(100.0), 0.99) is None  # a P99 batch needs 200 samples
    assert batch_quantile_ci(np.arange(1000.0), 0.5) is not None


def test_a_planted_level_shift_is_found_where_it_is_and_iid_noise_is_not():
    rng = np.random.default_rng(2)
    x = rng.lognormal(np.log(10.0), 0.1, 1500)
    x[1050:] *= 1.5
    rc = regime_change(x)
    assert rc.found and rc.change_samples == (1050,)
    assert 1.4 < rc.segment_medians[-1] / rc.segment_medians[0] < 1.6
    assert rc.describe().startswith("the block-median level changed +") and "at sample 1050" in rc.describe()
    false = sum(regime_change(rng.lognormal(np.log(10.0), 0.3, 1500)).found for _ in range(100))
    assert false <= 5
    small = rng.lognormal(np.log(10.0), 0.05, 1500)
    small[750:] *= 1.05  # real but below the 10% that matters
    assert not regime_change(small).found


def test_repeated_quantile_reports_autocorrelation_widens_and_flags_a_regime_change():
    rng = np.random.default_rng(3)
    runs = [_ar1(rng, 1500, 0.9) for _ in range(3)]
    est = repeated_quantile(runs, 0.5)
    iid = quantile_ci(np.concatenate(runs), 0.5)
    assert est.within.upper - est.within.lower > 2 * (iid.upper - iid.lower)
    assert any("lag-1 autocorrelation" in n and "effective sample size" in n for n in est.judgement.notes)
    assert any("batch means" in n for n in est.judgement.notes)
    flat = repeated_quantile([rng.lognormal(2.3, 0.1, 1500) for _ in range(3)], 0.5)
    assert not any("batch means" in n for n in flat.judgement.notes)
    assert flat.judgement.state is State.VALID
    shifted = [rng.lognormal(2.3, 0.1, 1500) for _ in range(3)]
    shifted[1][900:] *= 2.0
    j = repeated_quantile(shifted, 0.5).judgement
    assert j.state is State.UNSTABLE and any("level shifted inside the run" in r and "run 2" in r for r in j.reasons)
