"""The batching recipe's conclusion logic (edgetiming.stats.loadcompare) on synthetic rounds.

Issue 22 item 10: the headline P99 ratio was taken at a load where the one-at-a-time
server was saturated. Here: identical servers (A/A) give "no detectable difference"; a
planted 1.5x effect is found with its direction; a load where a server fell behind is
not compared and never becomes the headline.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from edgetiming.stats.loadcompare import (
    LoadComparison,
    beyond_noise,
    comparison_sentence,
    deadline_verdict,
    headline_load,
    keeps_up,
    load_conclusions,
)
from edgetiming.stats.repeated import NO_DIFFERENCE, paired_ratio, repeated_quantile

R = 6


def rounds(rng, factor=1.0, noise=0.1):
    """Per-round P99 (ms) of a server: a round effect shared by every arm, plus the arm's own noise."""
    shared = rng.lognormal(np.log(10.0), 0.2, R)
    return shared, shared * factor * rng.lognormal(0.0, noise, R)


def point(load, a, b, aa, served_b=1.0):
    offered = [100.0 * load] * R
    return LoadComparison(load, paired_ratio(a, b, label_a="one at a time", label_b="the dynamic batcher"),
                          paired_ratio(a, aa, label_a="one at a time", label_b="one at a time (A/A)"),
                          {"single": offered, "dynamic": offered},
                          {"single": offered, "dynamic": [o * served_b for o in offered]},
                          compared=("single", "dynamic"))


def test_identical_servers_give_no_detectable_difference():
    rng = np.random.default_rng(0)
    shared, a = rounds(rng)
    b, aa = shared * rng.lognormal(0, 0.1, R), shared * rng.lognormal(0, 0.1, R)
    s = comparison_sentence(paired_ratio(a, b, label_a="A", label_b="B"), paired_ratio(a, aa), "P99", runner="r1")
    assert s.startswith(f"B and A: {NO_DIFFERENCE} on r1") and "A/A" in s, s


def test_aa_flag_rate_is_near_nominal():
    rng = np.random.default_rng(100)
    flagged = 0
    for _ in range(400):
        shared, a = rounds(rng)
        b, aa = shared * rng.lognormal(0, 0.1, R), shared * rng.lognormal(0, 0.1, R)
        flagged += beyond_noise(paired_ratio(a, b), paired_ratio(a, aa))
    assert flagged / 400 <= 0.05


@pytest.mark.parametrize("factor, word", [(1.5, "higher"), (1 / 1.5, "lower")])
def test_planted_effect_is_found_with_its_direction(factor, word):
    rng = np.random.default_rng(7)
    shared, a = rounds(rng, noise=0.05)
    b = shared * factor * rng.lognormal(0, 0.05, R)
    aa = shared * rng.lognormal(0, 0.05, R)
    r = paired_ratio(a, b, label_a="one at a time", label_b="the dynamic batcher")
    assert r.direction == word and beyond_noise(r, paired_ratio(a, aa))
    s = comparison_sentence(r, paired_ratio(a, aa), "P99", smaller_is="lower", larger_is="higher", runner="r1")
    size = float(re.search(r"was ([0-9.]+)x", s).group(1))
    assert size == pytest.approx(1.5, abs=0.1) and f"x {word} than one at a time on r1" in s and "A/A" in s, s


def test_effect_inside_the_aa_interval_is_no_difference():
    a = [10.0, 11, 9, 10.5, 10, 9.5]
    b = [x * 1.05 for x in a]  # consistent 5%: excludes 1 ...
    aa = [x * f for x, f in zip(a, (0.9, 1.2, 0.95, 1.1, 1.08, 0.92))]  # ... but the A/A spread covers it
    r, raa = paired_ratio(a, b), paired_ratio(a, aa)
    assert r.direction == "higher" and not beyond_noise(r, raa)
    assert NO_DIFFERENCE in comparison_sentence(r, raa)


def test_saturated_load_is_not_compared_and_not_the_headline():
    rng = np.random.default_rng(3)
    shared, a = rounds(rng, noise=0.05)
    b = shared * 0.7 * rng.lognormal(0, 0.05, R)
    aa = shared * rng.lognormal(0, 0.05, R)
    ok, saturated = point(0.6, a, b, aa), point(0.9, a, b, aa, served_b=0.91)
    assert ok.all_kept_up and not saturated.all_kept_up
    assert headline_load([ok, saturated]) is ok
    lines = load_conclusions([saturated, ok], "P99", runner="r1")
    assert lines[0].startswith("At load 0.6") and "1.4" in lines[0]
    assert lines[1].startswith("At load 0.9") and "not compared" in lines[1] and "91%" in lines[1]
    assert headline_load([saturated]) is None


def test_keep_up_rule():
    assert keeps_up([100.0, 200.0], [98.0, 196.5])
    assert not keeps_up([100.0, 200.0], [98.0, 190.0])
    with pytest.raises(ValueError):
        keeps_up([100.0], [])


def test_deadline_verdict_uses_the_deciding_interval_and_refuses_invalid():
    rng = np.random.default_rng(0)
    runs = [rng.lognormal(np.log(5.0), 0.1, 400) for _ in range(5)]
    est = repeated_quantile(runs, 0.99)
    assert deadline_verdict(est, est.upper * 1.01)[0] == "PASS"
    assert deadline_verdict(est, est.lower * 0.99)[0] == "FAIL"
    assert deadline_verdict(est, est.value)[0] == "INCONCLUSIVE"
    small = repeated_quantile([r[:100] for r in runs], 0.99)
    v, why = deadline_verdict(small, 1e9)
    assert v == "INCONCLUSIVE" and "no verdict" in why
