"""The tuner's pure logic: elimination only on separated intervals, the accuracy floor, the space."""

import numpy as np
import pytest

from edgetiming.stats.repeated import repeated_quantile
from edgetiming.tune.accuracy import FloorError, parse_floor
from edgetiming.tune.race import best_of, eliminate, round_order
from edgetiming.tune.space import Candidate, knobs_for


def _runs(rng, scale, runs=5, n=400, sd=0.2):
    return [scale * np.exp(rng.normal(0, 0.03) + rng.normal(0, sd, n)) for _ in range(runs)]


def test_separated_intervals_eliminate_the_slower_one():
    rng = np.random.default_rng(1)
    est = {"fast": repeated_quantile(_runs(rng, 10.0), 0.99), "slow": repeated_quantile(_runs(rng, 30.0), 0.99)}
    assert est["slow"].lower > est["fast"].upper  # the premise: separated
    best, gone = eliminate(est, 3)
    assert best == "fast"
    assert [e.key for e in gone] == ["slow"]
    assert gone[0].round == 3 and gone[0].kind == "latency" and "fast" in gone[0].reason


def test_overlapping_intervals_never_eliminate_even_with_different_points():
    rng = np.random.default_rng(2)
    a = repeated_quantile(_runs(rng, 10.0), 0.99)
    b = repeated_quantile(_runs(rng, 10.6), 0.99)
    assert a.value != b.value and b.lower <= a.upper and a.lower <= b.upper  # overlapping
    best, gone = eliminate({"a": a, "b": b}, 0)
    assert gone == []
    assert best in ("a", "b")


def test_unbounded_intervals_cannot_be_the_reference():
    rng = np.random.default_rng(3)
    short = repeated_quantile(_runs(rng, 5.0, runs=1, n=50), 0.99)  # too few samples: upper end inf
    assert not np.isfinite(short.upper)
    assert best_of({"short": short}) is None
    assert eliminate({"short": short}, 0) == (None, [])
    long = repeated_quantile(_runs(rng, 50.0), 0.99)
    best, gone = eliminate({"short": short, "long": long}, 0)
    assert best == "long" and gone == []  # short's lower end is far below long's upper end


def test_round_order_is_balanced_and_reproducible():
    keys = ["a", "b", "c", "d"]
    r0, r1 = round_order(keys, 0, 7), round_order(keys, 1, 7)
    assert sorted(r0) == keys and sorted(r1) == keys
    assert r1 == list(reversed(r0))  # ABBA: the odd round mirrors the even one
    assert round_order(keys, 0, 7) == r0  # a resumed run measures in the same order
    firsts = {round_order(keys, r, 7)[0] for r in range(0, 40, 2)}
    assert len(firsts) > 1  # the order is randomised across round pairs


@pytest.mark.parametrize("text,measured,ok", [("iou=0.95", 0.96, True), ("iou=0.95", 0.94, False),
                                              ("cer=0.05", 0.04, True), ("cer=0.05", 0.06, False),
                                              ("acc=1", 1.0, True)])
def test_accuracy_floor_direction(text, measured, ok):
    assert parse_floor(text).met(measured) is ok


@pytest.mark.parametrize("text", ["iou", "foo=0.5", "iou=high", "cer=5"])
def test_bad_floor_names_the_fix(text):
    with pytest.raises(FloorError, match="--accuracy-floor"):
        parse_floor(text)


def test_candidates_fold_knobs_that_cannot_matter():
    a = Candidate(intra_threads=1, spinning=False, affinity=True, execution_mode="sequential", inter_threads=2)
    assert a.key == "intra1"
    assert Candidate(graph_level="all").key == "defaults"
    assert Candidate(precision="int8-dynamic", denormal_as_zero=True).accuracy_variant == "int8-dynamic|all|daz"
    cfg = Candidate(intra_threads=2, affinity=True, spinning=False).session_config()
    assert dict(cfg.config_entries)["session.intra_op_thread_affinities"] == "2"
    assert cfg.allow_spinning is False and cfg.intra_op_num_threads == 2
    k = knobs_for(1, ["fp32"], ["CPUExecutionProvider"])
    assert k["affinity"] == [False] and k["intra_threads"] == [None, 1]
