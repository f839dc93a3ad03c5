"""threads-and-kernels: the recommendation and the effect sentences from paired rounds and the A/A arm."""

import numpy as np

from edgetiming.stats.conclude import comparison_sentence, recommend
from edgetiming.stats.repeated import NO_DIFFERENCE, paired_ratio

SIMPLICITY = ["default threads", "1 thread", "default not spinning", "default denormals=0"]


def _per_round(effects, rounds=5, seed=0):
    """Per-round P99 (ms) of each setting: a shared round state (processes differ by ~30%) times the effect."""
    rng = np.random.default_rng(seed)
    state = np.exp(rng.normal(0, 0.3, rounds))
    return {k: 2.0 * f * state * np.exp(rng.normal(0, 0.03, rounds)) for k, f in effects.items()}


def _decide(effects):
    data = _per_round(effects)
    ratio = lambda a, b: paired_ratio(data[a], data[b], label_a=a, label_b=b)  # noqa: E731
    aa = ratio("default threads", "default threads (A/A)")
    labels = [k for k in effects if "(A/A)" not in k]
    return recommend(labels, ratio, aa, SIMPLICITY), ratio, aa


def test_aa_data_recommends_the_simplest_and_calls_every_effect_no_difference():
    effects = dict.fromkeys(SIMPLICITY + ["default threads (A/A)"], 1.0)
    (pick, unbeaten), ratio, aa = _decide(effects)
    assert pick == "default threads" and unbeaten == SIMPLICITY
    for other in SIMPLICITY[1:]:
        assert f": {NO_DIFFERENCE} on epyc" in comparison_sentence(ratio("default threads", other), aa, runner="epyc")


def test_a_planted_1_5x_faster_setting_is_recommended_and_its_effect_found():
    effects = dict.fromkeys(SIMPLICITY + ["default threads (A/A)"], 1.0) | {"default denormals=0": 1 / 1.5}
    (pick, unbeaten), ratio, aa = _decide(effects)
    assert pick == "default denormals=0" and unbeaten == ["default denormals=0"]
    text = comparison_sentence(ratio("default threads", "default denormals=0"), aa, "P99", runner="epyc")
    assert text.startswith("default denormals=0 was") and "faster than default threads on epyc" in text
    assert 1.35 < 1 / ratio("default threads", "default denormals=0").ratio < 1.65
    slower = dict.fromkeys(SIMPLICITY + ["default threads (A/A)"], 1.0) | {"1 thread": 1.5}
    (pick, unbeaten), ratio, aa = _decide(slower)
    assert pick == "default threads" and "1 thread" not in unbeaten
    assert "1 thread was 1." in comparison_sentence(ratio("default threads", "1 thread"), aa)
