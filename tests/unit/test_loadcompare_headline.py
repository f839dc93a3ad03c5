"""stats.loadcompare.headline_fields and repeated.Interval.bounds: what a headline ratio metric is built from."""

from __future__ import annotations

from edgetiming.stats.loadcompare import KEEP_UP_RULE, LoadComparison, headline_fields
from edgetiming.stats.repeated import Interval, paired_ratio


def _point(load: float, served_b: float, effect: float = 1.5) -> LoadComparison:
    a = [5.0, 5.3, 5.1, 5.4, 5.0]
    return LoadComparison(load, paired_ratio(a, [x * effect for x in a], label_a="A", label_b="B"),
                          paired_ratio(a, [5.05, 5.25, 5.1, 5.45, 5.0]), {"a": [100.0] * 5, "b": [100.0] * 5},
                          {"a": [100.0] * 5, "b": [served_b] * 5}, compared=("a", "b"))


def test_the_highest_load_where_both_kept_up_gives_the_value() -> None:
    low, mid, top = _point(0.3, 100.0, 1.2), _point(0.6, 99.0), _point(0.9, 80.0, 3.0)  # top saturated
    f = headline_fields([top, low, mid], "P99", runner="r1")
    assert f["value"] == mid.ratio.ratio and f["runs"] == 5 and f["invalid_because"] == []
    assert f["ci"] == (mid.ratio.interval.lower, mid.ratio.interval.upper)
    assert "slower" in f["note"] and "on r1" in f["note"] and "A/A" in f["note"]


def test_no_load_kept_up_gives_no_value_and_a_reason() -> None:
    f = headline_fields([_point(0.9, 80.0)])
    assert f["value"] is None and f["ci"] is None and f["note"] == ""
    assert f["invalid_because"] == [f"no load at which every compared arm kept up ({KEEP_UP_RULE})"]


def test_interval_bounds() -> None:
    assert Interval(0.5, 2.0, 0.95, "t").bounds == (0.5, 2.0)
    assert Interval(0.5, None, 0.95, "t").bounds is None
    assert paired_ratio([1.0], [2.0]).interval.bounds is None  # one round: no interval
