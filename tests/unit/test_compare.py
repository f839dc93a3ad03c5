"""Tests for edgetiming.stats.compare: quiet on noise, catches a real step."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest

from edgetiming.stats import compare
from edgetiming.stats.compare import compare_runs

MS = 1_000_000
METHODS = ("order-statistic", "bootstrap")


def _run(
    rng: np.random.Generator, n: int, median_ms: float = 10.0, sigma: float = 0.3
) -> np.ndarray:
    x = rng.lognormal(math.log(median_ms), sigma, n)
    x[rng.random(n) < 0.01] += 30.0  # rare stalls, as on a shared machine
    return x * MS


def test_public_names() -> None:
    for name in compare.__all__:
        assert hasattr(compare, name), name


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("percentile", "n"), [(0.5, 1000), (0.5, 200), (0.99, 2000)])
def test_quiet_on_same_distribution(method: str, percentile: float, n: int) -> None:
    verdicts: Counter[str] = Counter()
    for seed in range(60):
        rng = np.random.default_rng(seed)
        c = compare_runs(_run(rng, n), _run(rng, n), percentile=percentile, method=method)
        verdicts[c.verdict] += 1
    assert verdicts["slower"] == 0 and verdicts["faster"] == 0, verdicts


def test_quiet_on_a_drifting_machine() -> None:
    """Autocorrelated slow drift of a few percent must not read as a regression."""
    verdicts: Counter[str] = Counter()
    for seed in range(40):
        rng = np.random.default_rng(500 + seed)
        runs = []
        for _ in range(2):
            n = 1500
            drift = np.cumsum(rng.normal(0, 0.002, n))  # random walk, about +-3%
            drift -= drift.mean()
            runs.append(_run(rng, n) * np.exp(np.clip(drift, -0.04, 0.04)))
        verdicts[compare_runs(*runs).verdict] += 1
    assert verdicts["slower"] == 0 and verdicts["faster"] == 0, verdicts


@pytest.mark.parametrize("method", METHODS)
def test_catches_a_20_percent_step(method: str) -> None:
    covered = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        a, b = _run(rng, 1000), _run(rng, 1000, median_ms=12.0)
        c = compare_runs(a, b, method=method)
        assert c.verdict == "slower", c.reason
        assert c.lower > 1.05
        assert c.change == pytest.approx(0.2, abs=0.06)
        covered += c.lower <= 1.2 <= c.upper
        assert compare_runs(b, a, method=method).verdict == "faster"
    assert covered >= 16  # a 95% interval may miss the true 1.2 about once in 20


def test_catches_a_tail_regression_at_p99() -> None:
    rng = np.random.default_rng(42)
    a, b = _run(rng, 5000), _run(rng, 5000) * 1.3
    c = compare_runs(a, b, percentile=0.99)
    assert c.verdict == "slower", c.reason
    assert c.a.p == 0.99 and c.b.n == 5000


def test_same_when_interval_is_tight() -> None:
    rng = np.random.default_rng(8)
    a, b = _run(rng, 20000, sigma=0.1), _run(rng, 20000, sigma=0.1)
    c = compare_runs(a, b)
    assert c.verdict == "same", c.reason
    assert 1 / 1.05 <= c.lower <= c.ratio <= c.upper <= 1.05


def test_small_effect_is_not_slower() -> None:
    rng = np.random.default_rng(9)
    a, b = _run(rng, 20000, sigma=0.1), _run(rng, 20000, median_ms=10.3, sigma=0.1)
    c = compare_runs(a, b)  # a clear but 3% change: below min_effect
    assert c.verdict in {"same", "inconclusive"}
    assert c.lower > 1.0
    assert compare_runs(a, b, min_effect=0.01).verdict == "slower"


def test_too_few_samples_for_p99_is_inconclusive() -> None:
    rng = np.random.default_rng(10)
    c = compare_runs(_run(rng, 100), _run(rng, 100) * 2, percentile=0.99)
    assert c.verdict == "inconclusive" and math.isinf(c.upper)
    assert c.to_dict()["upper"] is None
    json.dumps(c.to_dict(), allow_nan=False)


def test_deterministic_and_symmetric() -> None:
    rng = np.random.default_rng(11)
    a, b = _run(rng, 800), _run(rng, 800, median_ms=11.0)
    for method in METHODS:
        assert compare_runs(a, b, method=method) == compare_runs(a, b, method=method)
    fwd, back = compare_runs(a, b), compare_runs(b, a)
    assert fwd.lower == pytest.approx(1 / back.upper) and fwd.upper == pytest.approx(1 / back.lower)
    boot = compare_runs(a, b, method="bootstrap", seed=1)
    assert boot.lower <= boot.ratio <= boot.upper


def test_input_checks() -> None:
    with pytest.raises(ValueError):
        compare_runs([], [MS])
    with pytest.raises(ValueError):
        compare_runs([MS], [MS], method="t-test")
    with pytest.raises(ValueError):
        compare_runs([MS], [-MS])
