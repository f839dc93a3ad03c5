"""The operator-fusion recipe's conclusions: each level against "disable" in paired rounds, the fastest level."""

import numpy as np

from edgetiming.results.figures import round_ratios
from edgetiming.stats.repeated import NO_DIFFERENCE, paired_ratio
from edgetiming.stats.variants import fastest, speed_verdict

LEVELS = ("basic", "extended", "all")


def _verdicts(rng, effects, *, rounds=5, between_sd=0.2, within_sd=0.03):
    offset = 30.0 * np.exp(rng.normal(0, between_sd, rounds))
    arm = lambda e: offset * e * np.exp(rng.normal(0, within_sd, rounds))
    off, twin = arm(1.0), arm(1.0)
    aa = paired_ratio(off, twin, label_a="disable", label_b="disable (A/A)")
    return [speed_verdict(paired_ratio(off, arm(effects[lv]), label_a="disable", label_b=lv), aa, runner="runner-x")
            for lv in LEVELS], aa


def test_on_synthetic_aa_data_no_level_is_the_fastest():
    rng = np.random.default_rng(21)
    picked = 0
    for _ in range(300):
        best, sentence = fastest(_verdicts(rng, dict.fromkeys(LEVELS, 1.0))[0])
        picked += best is not None
    assert picked / 300 <= 0.05, picked
    best, sentence = fastest(_verdicts(np.random.default_rng(1), dict.fromkeys(LEVELS, 1.0))[0])
    assert best is None
    assert sentence.startswith("no option was detectably faster than disable on runner-x")


def test_a_planted_1_5x_speedup_of_one_level_is_found():
    rng = np.random.default_rng(22)
    hits = 0
    for _ in range(200):
        best, _ = fastest(_verdicts(rng, {"basic": 1.0, "extended": 1.0, "all": 1 / 1.5})[0])
        hits += best is not None and best.variant == "all"
    assert hits >= 190, hits
    verdicts, _ = _verdicts(np.random.default_rng(2), {"basic": 1.0, "extended": 1 / 1.2, "all": 1 / 1.5})
    best, sentence = fastest(verdicts)
    assert best.variant == "all" and "1.5" in sentence and "fastest on runner-x: all" in sentence
    assert "also faster than disable: extended" in sentence


def test_the_issue_22_rounds_say_no_difference_and_unstable():
    # recognizer, two rounds: basic/disable 0.99 then 0.50, extended/disable 1.28 then 0.80
    off = [30.0, 30.0]
    aa = paired_ratio(off, [30.5, 29.0])
    basic = speed_verdict(paired_ratio(off, [29.7, 15.0], label_a="disable", label_b="basic"), aa)
    extended = speed_verdict(paired_ratio(off, [38.4, 24.0], label_a="disable", label_b="extended"), aa)
    assert basic.outcome == NO_DIFFERENCE and "faster" not in basic.sentence()
    assert extended.outcome == "unstable"
    assert fastest([basic, extended])[0] is None


def test_the_ratio_figure_shows_every_round_and_the_noise_floor():
    verdicts, aa = _verdicts(np.random.default_rng(3), {"basic": 1.0, "extended": 1.0, "all": 1 / 1.5})
    fig, alt = round_ratios({v.variant: v.ratio for v in verdicts}, aa)
    assert "(5 rounds)" in alt and "A/A (baseline twice)" in alt and "all 0.6" in alt
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_yticklabels()] == [*LEVELS, "A/A (baseline twice)"]
