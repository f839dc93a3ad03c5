"""Ahead-of-time conclusions: start-up and steady phases paired over rounds, read against the A/A arm."""

import numpy as np

from edgetiming.measure.coldstart import (
    ColdRounds,
    ColdStartProcess,
    ColdStartRun,
    phase_conclusions,
)
from edgetiming.stats.repeated import NO_DIFFERENCE

PHASES = {"session create + first inference": "start-up", "steady inference": "steady P50"}


def _proc(rng, state, create_ms, steady_ms):
    f = np.exp(state + rng.normal(0, 0.05, 3))
    ms = 1_000_000
    create, first = int(create_ms * ms * f[0]), int(2 * steady_ms * ms * f[1])
    lat = (steady_ms * ms * f[2] * np.exp(rng.normal(0, 0.02, 41))).astype(np.int64)
    lat[0] = first
    total = 30 * ms + 150 * ms + 60 * ms + create + first
    return ColdStartProcess(0, 30 * ms, 150 * ms, 60 * ms, create, first, 1, 0, total, total, lat)


def _rounds(arms, rounds=6, seed=0):
    rng = np.random.default_rng(seed)
    states = rng.normal(0, 0.3, rounds)  # processes differ by ~30% round to round
    runs = {a: ColdStartRun("m", [_proc(rng, s, *v) for s in states], 20, 0.1, {}) for a, v in arms.items()}
    return ColdRounds(runs, [list(arms)] * rounds, "ONNX")


def test_an_offline_model_identical_to_the_baseline_is_no_detectable_difference():
    lines = phase_conclusions(_rounds({"ONNX": (90, 30), "ONNX (A/A)": (90, 30), "ORT": (90, 30)}), PHASES,
                              runner="epyc")
    assert [line for line in lines if line.startswith("ORT")] == [
        line for line in lines if line.startswith(f"ORT and ONNX: {NO_DIFFERENCE} on epyc")]
    assert len([line for line in lines if line.startswith("Noise floor on epyc")]) == 2


def test_a_planted_1_5x_faster_start_up_is_found_and_an_unchanged_steady_state_is_not(monkeypatch):
    monkeypatch.delenv("EDGETIMING_RUNNER", raising=False)
    cr = _rounds({"ONNX": (90, 30), "ONNX (A/A)": (90, 30), "ORT": (90 / 1.5, 30)})
    start, steady = (line for line in phase_conclusions(cr, PHASES, runner="epyc") if line.startswith("ORT"))
    assert start.startswith("ORT was") and "faster than ONNX on epyc (start-up ratio" in start
    assert steady.startswith(f"ORT and ONNX: {NO_DIFFERENCE}")
    slow = _rounds({"ONNX": (90, 30), "ONNX (A/A)": (90, 30), "ORT": (90, 45)})
    assert any(line.startswith("ORT was") and "slower than ONNX on this runner (steady P50" in line
               for line in phase_conclusions(slow, PHASES))
