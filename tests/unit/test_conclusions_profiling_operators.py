"""The conclusions of profiling-operators: the profiler-overhead verdict and the slow-iteration attribution."""

from __future__ import annotations

import numpy as np

from edgetiming.measure.profile import BETWEEN_KERNELS, Profile, attribute_slow, overhead_verdict
from edgetiming.stats.repeated import paired_ratio


def blocks(rng: np.random.Generator, factor: float = 1.0, n: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-block P50s of unprofiled, profiled (x factor) and A/A sessions sharing each block's machine state."""
    level = 28.0 * np.exp(rng.normal(0, 0.05, n))
    noise = lambda: np.exp(rng.normal(0, 0.01, n))
    return level * noise(), level * factor * noise(), level * noise()


def verdict(factor: float, seed: int) -> tuple[str, str, str]:
    un, pr, aa_ = blocks(np.random.default_rng(seed), factor)
    ratio = paired_ratio(un, pr, label_a="unprofiled", label_b="profiled")
    aa = paired_ratio(un, aa_, label_a="unprofiled", label_b="A/A")
    state, sentence = overhead_verdict(ratio, aa, tolerance=0.10, runner="r1")
    return state, sentence, ratio.direction


def test_no_overhead_passes_and_says_no_detectable_difference_mostly():
    states = [verdict(1.0, s) for s in range(200)]
    assert all(st == "PASS" for st, _, _ in states)
    no_diff = sum(d == "no detectable difference" for _, _, d in states)
    assert no_diff >= 180, f"an A/A-like pair was called different in {200 - no_diff} of 200 trials"
    _, sentence, _ = next(x for x in states if x[2] == "no detectable difference")
    assert sentence.startswith("profiled and unprofiled: no detectable difference on r1")
    assert "A/A noise floor" in sentence


def test_a_planted_1_5x_overhead_fails_with_its_direction():
    for seed in range(20):
        state, sentence, direction = verdict(1.5, seed)
        assert (state, direction) == ("FAIL", "higher")
        assert "x slower than unprofiled on r1" in sentence


def test_an_overhead_inside_the_tolerance_is_not_a_failure():
    state, _, _ = verdict(1.05, 0)
    assert state in ("PASS", "INCONCLUSIVE")


def synthetic_profile(rng: np.random.Generator, n: int, culprit: str | None) -> Profile:
    """n inferences of four nodes; the slowest 10% either lose time in `culprit` or everywhere in proportion."""
    base = {"conv_1": ("Conv", 900.0), "conv_2": ("Conv", 600.0), "add_1": ("Add", 300.0), "mul_1": ("Mul", 200.0)}
    events, t = [], 0
    slow = set(rng.choice(n, size=n // 10, replace=False).tolist())
    for i in range(n):
        durs = {k: d * np.exp(rng.normal(0, 0.02)) for k, (_, d) in base.items()}
        if i in slow:
            if culprit:
                durs[culprit] += 800.0
            else:
                durs = {k: d * rng.uniform(1.3, 1.8) for k, d in durs.items()}
        run = sum(durs.values()) + 50.0
        events.append({"cat": "Session", "name": "model_run", "ts": t, "dur": run})
        ts = t + 10
        for k, d in durs.items():
            events.append({"cat": "Node", "name": f"{k}_kernel_time", "ts": ts, "dur": d,
                           "args": {"op_name": base[k][0]}})
            ts += int(d) + 1
        t += int(run) + 100
    return Profile.from_events(events)


def test_profile_tables_from_events():
    p = synthetic_profile(np.random.default_rng(0), 40, None)
    assert p.runs == 40 and len(p.ops) == 160
    assert list(p.by_type(0).index[:1]) == ["Conv"]
    assert 0.9 < p.kernel_coverage(0) < 1.0
    assert BETWEEN_KERNELS in p.per_iter(0).columns


def test_slow_inferences_with_one_culprit_are_concentrated():
    s = attribute_slow(synthetic_profile(np.random.default_rng(1), 100, "add_1"), 0, 0.1)
    assert s.explanation == "concentrated" and s.explained_by == ["node add_1"]


def test_slow_inferences_slowed_everywhere_are_spread():
    s = attribute_slow(synthetic_profile(np.random.default_rng(2), 100, None), 0, 0.1)
    assert s.explanation == "spread"


def test_too_few_slow_inferences_say_so():
    s = attribute_slow(synthetic_profile(np.random.default_rng(3), 20, "add_1"), 0, 0.1)
    assert s.explanation == "too few slow inferences"


def test_memory_footprint_splits_a_fresh_process_into_session_and_inferences():
    import pandas as pd

    from edgetiming.measure.profile import FOOTPRINT, memory_footprint

    steps = pd.DataFrame({"rss_mb": [50.0, 90.0, 130.0, 135.0], "peak_rss_mb": [50.0, 92.0, 140.0, 141.0]},
                         index=["imports", "session created", "first inference", "after 20 more inferences"])
    assert memory_footprint(steps) == {"peak_rss_mb": 141.0, "session_mb": 40.0, "inference_mb": 45.0}
    assert set(FOOTPRINT) == set(memory_footprint(steps))
