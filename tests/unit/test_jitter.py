"""Tests for edgetiming.stats.jitter: every metric against a hand computation."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from edgetiming.stats import jitter
from edgetiming.stats.jitter import fanout_check, fanout_tail, jitter_metrics, rfc3550_jitter

MS = 1_000_000

BASE_KEYS = {
    "range",
    "p99_minus_p50",
    "p99_over_p50",
    "iqr",
    "tukey_outliers",
    "median",
    "mad",
    "cv",
    "mean_successive_difference",
    "rfc3550_jitter",
}


def test_public_names() -> None:
    for name in jitter.__all__:
        assert hasattr(jitter, name), name


def test_every_metric_has_unit_and_one_sentence_definition() -> None:
    rng = np.random.default_rng(0)
    m = jitter_metrics(rng.lognormal(math.log(10.0), 0.3, 1000) * MS, deadline_ms=15.0)
    assert set(m) == BASE_KEYS | {"deadline_miss_rate", "longest_miss_run"}
    for name, metric in m.items():
        assert metric.name == name
        assert metric.unit in {"ms", "ratio", "count", "fraction"}
        assert metric.definition.endswith(".") and len(metric.definition) > 20
        assert math.isfinite(metric.value)
        assert metric.definition in str(metric)
    json.dumps({k: v.to_dict() for k, v in m.items()}, allow_nan=False)
    assert set(jitter_metrics(np.full(10, MS))) == BASE_KEYS


def test_values_on_a_small_series() -> None:
    x_ms = np.array([10.0, 12.0, 11.0, 30.0, 10.0, 11.0, 12.0, 10.0, 11.0, 13.0])
    m = jitter_metrics(x_ms * MS, deadline_ms=12.5)
    s = np.sort(x_ms)
    assert m["range"].value == pytest.approx(20.0)
    p50, p99 = s[5], s[9]  # nearest rank floor(10 p)
    assert m["median"].value == pytest.approx(p50)
    assert m["p99_minus_p50"].value == pytest.approx(p99 - p50)
    assert m["p99_over_p50"].value == pytest.approx(p99 / p50)
    q1, q3 = s[2], s[7]
    assert m["iqr"].value == pytest.approx(q3 - q1)
    fence = q3 + 1.5 * (q3 - q1)
    assert m["tukey_outliers"].value == int((x_ms > fence).sum()) == 1  # the 30 ms stall
    dev = np.sort(np.abs(x_ms - p50))
    assert m["mad"].value == pytest.approx(dev[5])
    assert m["cv"].value == pytest.approx(x_ms.std(ddof=1) / x_ms.mean())
    assert m["mean_successive_difference"].value == pytest.approx(np.abs(np.diff(x_ms)).mean())
    assert m["deadline_miss_rate"].value == pytest.approx(0.2)
    ci = sps.binomtest(2, 10).proportion_ci(0.95, method="exact")
    assert (m["deadline_miss_rate"].lower, m["deadline_miss_rate"].upper) == pytest.approx(
        (ci.low, ci.high)
    )
    assert m["longest_miss_run"].value == 1


def test_rfc3550_matches_its_recurrence() -> None:
    rng = np.random.default_rng(1)
    x = rng.lognormal(math.log(10.0), 0.2, 500)
    j = 0.0
    for a, b in itertools.pairwise(x):
        j += (abs(b - a) - j) / 16
    assert rfc3550_jitter(x) == pytest.approx(j, rel=1e-12)
    assert rfc3550_jitter([5.0]) == 0.0
    assert rfc3550_jitter(np.full(100, 3.0)) == 0.0
    m = jitter_metrics(x * MS)
    assert m["rfc3550_jitter"].value == pytest.approx(j, rel=1e-9)


def test_order_dependent_metrics_see_order() -> None:
    alternating = np.tile([10.0, 20.0], 50) * MS
    blocked = np.sort(alternating)
    a, b = jitter_metrics(alternating), jitter_metrics(blocked)
    assert a["range"].value == b["range"].value and a["iqr"].value == b["iqr"].value
    assert a["mean_successive_difference"].value == pytest.approx(10.0)
    assert b["mean_successive_difference"].value == pytest.approx(10.0 / 99)


def test_longest_miss_run() -> None:
    x = np.full(100, 5.0)
    x[[10, 11, 12, 13, 40, 41]] = 50.0
    m = jitter_metrics(x * MS, deadline_ms=20.0)
    assert m["longest_miss_run"].value == 4
    assert m["deadline_miss_rate"].detail["misses"] == 6


@pytest.mark.parametrize(
    ("q", "k", "expected"),
    [
        (0.01, 1, 0.01),
        (0.01, 100, 1 - 0.99**100),
        (0.0, 50, 0.0),
        (1.0, 3, 1.0),
        (0.5, 0, 0.0),
        (1e-12, 10, 1e-11),
    ],
)
def test_fanout_tail(q: float, k: int, expected: float) -> None:
    assert fanout_tail(q, k) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_fanout_tail_dean_barroso_example() -> None:
    # "if one call in 100 is slow, 63% of requests fanning out to 100 calls are slow"
    assert round(fanout_tail(0.01, 100), 2) == 0.63
    with pytest.raises(ValueError):
        fanout_tail(1.5, 3)
    with pytest.raises(ValueError):
        fanout_tail(0.1, 2.5)  # type: ignore[arg-type]


def test_refuses_bad_input() -> None:
    with pytest.raises(ValueError):
        jitter_metrics([])
    with pytest.raises(ValueError):
        jitter_metrics([1.0, float("nan")])


def test_fanout_check_holds_for_independent_calls_and_sees_unlike_positions() -> None:
    rng = np.random.default_rng(7)
    calls = rng.lognormal(0.0, 0.3, size=(3000, 4))
    fc = fanout_check((calls * MS).astype(np.int64).tolist(), 0.05)
    assert fc.ks == [1, 2, 3, 4] and fc.k_max == 4 and fc.n_calls == 12000 and fc.n_requests == 3000
    assert fc.q == pytest.approx(0.05, abs=0.002)
    assert fc.predicted == pytest.approx([fanout_tail(fc.q, k) for k in fc.ks])
    assert not fc.misses and not fc.position_differs
    assert all(lo <= m <= hi for m, lo, hi in zip(fc.measured, fc.lower, fc.upper))
    assert fc.rows().startswith("k=1 ")
    # the first call of every request is the slow one: shares by position differ, and k > 1 misses
    calls[:, 0] *= 3.0
    skewed = fanout_check((calls * MS).astype(np.int64).tolist(), 0.05)
    assert skewed.position_differs and skewed.first[0] > 0.15 > skewed.later[0]
    assert skewed.by_position[0] > 0.15 and skewed.misses
    # requests with fewer calls count only where they made k calls; k stops at the median count
    short = fanout_check([[1, 2, 100]] * 10 + [[1, 2]] * 5 + [[]] * 2, 0.2)
    assert short.k_max == 3 and short.n_requests == 17
