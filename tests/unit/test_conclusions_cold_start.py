"""Cold-start conclusions come from paired rounds and the A/A noise floor (synthetic processes, no onnxruntime)."""

import numpy as np

from edgetiming.measure.coldstart import (
    LAUNCH_PHASES,
    ColdRounds,
    ColdStartProcess,
    ColdStartRun,
    cold_conclusions,
    launch_breakdown,
)
from edgetiming.stats.repeated import NO_DIFFERENCE


def _proc(rng, state, create_ms, numpy_ms=150.0):
    """One synthetic fresh process; ``state`` is the round's shared machine slowness (log scale)."""
    f = np.exp(state + rng.normal(0, 0.05))
    ms = 1_000_000
    phases = [30 * ms, int(numpy_ms * ms * f), int(60 * ms * f), int(create_ms * ms * f), int(20 * ms * f)]
    total = sum(phases) + 5 * ms
    lat = np.full(41, 10 * ms, dtype=np.int64)
    lat[0] = phases[-1]
    return ColdStartProcess(
        0, phases[0], phases[1], phases[2], phases[3], phases[4], 1, 0, total, total, lat)


def _rounds(create_b, rounds=8, seed=0, numpy_ms=150.0):
    rng = np.random.default_rng(seed)
    states = rng.normal(0, 0.3, rounds)  # rounds differ by ~30%, as processes on the shared runner do
    arms = {"original": 80.0, "original (A/A)": 80.0, "optimized": create_b}
    runs = {a: ColdStartRun("m", [_proc(rng, s, c, numpy_ms) for s in states], 20, 0.1, {}) for a, c in arms.items()}
    return ColdRounds(runs, [list(arms)] * rounds, "original")


def test_identical_variants_give_no_detectable_difference():
    lines = cold_conclusions(_rounds(80.0), runner="epyc")
    assert any(line.startswith(f"optimized and original: {NO_DIFFERENCE} on epyc") for line in lines)
    assert any(line.startswith("Noise floor on epyc") for line in lines)


def test_a_planted_1_5x_faster_session_creation_is_found_despite_round_to_round_noise():
    cr = _rounds(80.0 / 1.5)
    lines = cold_conclusions(cr, runner="epyc")
    assert any(line.startswith("optimized was") and "faster than original on epyc" in line for line in lines)
    assert 1.35 < 1 / cr.ratio("original", "optimized", "session create").ratio < 1.65
    slower = cold_conclusions(_rounds(80.0 * 1.5), runner="epyc")
    assert any(line.startswith("optimized was") and "slower than original" in line for line in slower)


def test_every_launch_phase_is_a_candidate_for_the_largest():
    cr = _rounds(80.0, numpy_ms=156.0)
    assert "the largest phase of that time was import numpy" in cold_conclusions(cr)[0]
    p = cr.runs["original"].processes[0]
    parts = launch_breakdown(p)
    assert list(parts) == list(LAUNCH_PHASES) and sum(parts.values()) == p.spawn_to_first_result_ns
