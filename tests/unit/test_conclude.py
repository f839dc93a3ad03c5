"""Conclusion sentences against the A/A noise floor."""

from edgetiming.stats.conclude import (
    best_not_beaten,
    comparison_sentence,
    noise_floor_sentence,
    versus_noise,
)
from edgetiming.stats.repeated import NO_DIFFERENCE, paired_ratio

BASE = [10.0, 11.0, 10.5, 9.8, 10.2, 10.4]


def test_an_effect_inside_the_aa_interval_is_no_detectable_difference():
    small = paired_ratio(BASE, [b * f for b, f in zip(BASE, (0.95, 0.96, 0.94, 0.95, 0.96, 0.95))], label_b="B")
    assert small.direction == "lower"  # its own interval excludes 1 ...
    aa = paired_ratio(BASE, [b * f for b, f in zip(BASE, (0.9, 1.1, 0.92, 1.08, 0.95, 1.05))])
    assert versus_noise(small, aa) == NO_DIFFERENCE  # ... but the A/A arm drifts that far too
    text = comparison_sentence(small, aa, runner="epyc")
    assert text.startswith(f"B and A: {NO_DIFFERENCE} on epyc") and "inside the A/A noise floor" in text
    assert versus_noise(small, None) == "lower"


def test_noise_floor_sentence_and_runner_fallback(monkeypatch):
    monkeypatch.delenv("EDGETIMING_RUNNER", raising=False)
    aa = paired_ratio(BASE, BASE[::-1])
    assert "on this runner" in noise_floor_sentence(aa)
    monkeypatch.setenv("EDGETIMING_RUNNER", "pi5")
    assert "on pi5" in comparison_sentence(paired_ratio(BASE, [b * 1.5 for b in BASE]), aa)
    assert noise_floor_sentence(None).startswith("No A/A arm")


def test_best_not_beaten_prefers_the_simplest_among_the_unbeaten():
    better = {("fancy", "plain"): False, ("plain", "fancy"): False, ("fast", "plain"): True, ("fast", "fancy"): True}
    pick, unbeaten = best_not_beaten(["plain", "fancy", "fast"], lambda x, y: better.get((x, y), False),
                                     ["plain", "fancy", "fast"])
    assert (pick, unbeaten) == ("fast", ["fast"])
    pick, unbeaten = best_not_beaten(["plain", "fancy"], lambda x, y: False, ["plain", "fancy"])
    assert (pick, unbeaten) == ("plain", ["plain", "fancy"])
