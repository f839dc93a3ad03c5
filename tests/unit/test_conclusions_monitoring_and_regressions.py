"""The release gate of monitoring-and-regressions: identical builds pass, a planted slowdown is caught.

Synthetic two-level data like the runner's: every process draws its own level
(process-to-process noise, log-normal), and its samples scatter around it; the
gate sees only each process's P50.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgetiming.measure.builds import Build, regression_verdict, run_builds
from edgetiming.stats.quantiles import quantile

RUNS = 5


def per_process_p50(rng: np.random.Generator, level: float, runs: int = RUNS, between: float = 0.10) -> np.ndarray:
    out = []
    for _ in range(runs):
        centre = level * np.exp(rng.normal(0.0, between))
        samples = centre * np.exp(rng.normal(0.0, 0.2, 300))
        out.append(quantile(samples, 0.5))
    return np.array(out)


def test_identical_builds_are_not_flagged_at_the_nominal_rate():
    flagged = any_difference = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        v = regression_verdict(per_process_p50(rng, 1.2), per_process_p50(rng, 1.2))
        flagged += v.flagged
        any_difference += v.verdict != "no detectable difference"
    assert 200 - flagged >= 190, f"{flagged} of 200 identical pairs flagged as slower"
    assert any_difference <= 20, f"{any_difference} of 200 identical pairs called different"


def test_a_planted_slowdown_is_found_with_its_direction():
    found = 0
    for seed in range(200):
        rng = np.random.default_rng(1000 + seed)
        v = regression_verdict(per_process_p50(rng, 1.2), per_process_p50(rng, 1.2 * 1.3))
        found += v.flagged
        assert v.verdict != "faster"
    assert found >= 160, f"a 1.3x slowdown found in only {found} of 200 trials"
    rng = np.random.default_rng(7)
    v = regression_verdict(per_process_p50(rng, 1.2), per_process_p50(rng, 1.2 / 1.5),
                           label_before="A", label_after="B")
    assert v.verdict == "faster"
    assert v.ratio.interval.contains(1 / 1.5)
    assert v.sentence("P50", runner="this runner").startswith(f"B was {1 / v.ratio.ratio:.2f}x faster than A on this runner")


def test_no_detectable_difference_sentence_for_an_aa_pair():
    rng = np.random.default_rng(3)
    v = regression_verdict(per_process_p50(rng, 1.2), per_process_p50(rng, 1.2), label_before="A", label_after="A'")
    assert v.verdict == "no detectable difference"
    assert "A' and A: no detectable difference on r1" in v.sentence("P50", runner="r1")
    assert "5 processes per build" in v.sentence("P50")


def test_too_few_processes_give_no_verdict():
    v = regression_verdict([1.0], [2.0])
    assert v.verdict == "no detectable difference" and not v.ratio.interval.known


@pytest.mark.slow
def test_run_builds_plants_a_slowdown_in_process():
    # a 4x planted slowdown (sleep 3x each call's time after it): a shared machine can slow one
    # process of A twofold (seen once: 2.69 ms against 2.40 ms for B's fastest at 2x), not fourfold
    builds = [Build("A", "rapidocr:cls"), Build("B", "rapidocr:cls", slowdown=3.0)]
    runs = run_builds(builds, input_shapes={"x": (1, 3, 48, 192)}, runs=2, iters=40, warmup_iters=5,
                      fresh_process=False)
    assert sorted(runs.order) == ["A", "A", "B", "B"]
    assert all(s.size == 40 for s in runs.samples["B"])
    assert runs.per_run("B", 0.5).min() > 1.5 * runs.per_run("A", 0.5).max()
