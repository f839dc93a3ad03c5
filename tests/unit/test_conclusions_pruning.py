"""The pruning recipe's conclusions: each pruned network against the dense one in paired rounds, and against
its share of the nonzero work."""

import numpy as np

from edgetiming.stats.repeated import NO_DIFFERENCE, paired_ratio
from edgetiming.stats.variants import against_work, speed_verdict


def _verdict(rng, effect, *, rounds=5, between_sd=0.2, within_sd=0.03):
    offset = 4.0 * np.exp(rng.normal(0, between_sd, rounds))
    arm = lambda e: offset * e * np.exp(rng.normal(0, within_sd, rounds))
    dense, twin = arm(1.0), arm(1.0)
    aa = paired_ratio(dense, twin, label_a="dense", label_b="dense (A/A)")
    return speed_verdict(paired_ratio(dense, arm(effect), label_a="dense", label_b="sparse-0.26"), aa,
                         runner="runner-x")


def test_on_synthetic_aa_data_a_sparse_twin_is_neither_faster_nor_slower():
    rng = np.random.default_rng(31)
    outcomes = [_verdict(rng, 1.0).outcome for _ in range(300)]
    assert sum(o in ("faster", "slower") for o in outcomes) / 300 <= 0.05
    v = _verdict(np.random.default_rng(1), 1.0)
    assert v.outcome in (NO_DIFFERENCE, "same") and v.check in ("INCONCLUSIVE", "FAIL")
    assert "slower" not in v.sentence() and "faster" not in v.sentence()
    # the same shapes and work: the interval excludes the speed-up that a quarter of the work would promise
    assert "takes at least" in against_work(v, 0.26)


def test_a_planted_1_5x_speedup_is_found_and_set_against_the_work():
    rng = np.random.default_rng(32)
    assert sum(_verdict(rng, 1 / 1.5).outcome == "faster" for _ in range(200)) >= 190
    v = _verdict(np.random.default_rng(2), 1 / 1.5)
    assert v.check == "PASS" and "1.5" in v.sentence() and "faster than dense on runner-x" in v.sentence()
    assert against_work(v, 0.26).startswith("it turns 74% less work into 3")


def test_a_planted_1_5x_slowdown_is_found_slower():
    v = _verdict(np.random.default_rng(3), 1.5)
    assert v.outcome == "slower" and v.check == "FAIL" and "slower than dense" in v.sentence()


def test_the_issue_22_interleaved_ratios_are_not_a_slowdown():
    # sparse-0.26 / dense interleaved in random order: median 0.96, range 0.67-1.74
    dense = np.full(5, 4.0)
    v = speed_verdict(paired_ratio(dense, dense * [0.67, 0.96, 1.74, 0.9, 1.1], label_a="dense",
                                   label_b="sparse-0.26"), paired_ratio(dense, dense * [1.02, 0.97, 1.0, 1.01, 0.99]))
    assert v.outcome == "unstable" and "slower" not in v.sentence()
