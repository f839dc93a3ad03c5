"""Cold start in fresh processes, and the steady-state definition."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgetiming.measure.coldstart import (
    LAUNCH_PHASES,
    ColdStartRun,
    cold_start,
    cold_start_rounds,
    launch_breakdown,
    noise_panels,
    process_phase,
    steady_state_index,
)
from edgetiming.measure.noise import figure
from edgetiming.measure.session import SessionConfig
from edgetiming.results import report


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    n = 32
    w = helper.make_tensor("w", TensorProto.FLOAT, [n, n], np.ones(n * n).tolist())
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "mm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    path = tmp_path_factory.mktemp("models") / "mm.onnx"
    onnx.save(model, path)
    return str(path)


def test_steady_state_index_on_known_sequences() -> None:
    assert steady_state_index(np.array([50, 30, 20] + [10] * 40), window=5) == 3
    assert steady_state_index(np.full(50, 7), window=5) == 0
    # one lucky fast iteration inside the warmup does not count as steady
    lucky = np.array([50, 10, 50, 50, 50, 50, 50] + [10] * 40)
    assert steady_state_index(lucky, window=5) == 7
    assert steady_state_index(np.array([10, 10, 10]), window=5) is None  # too short
    # tolerance is relative to the reference median
    ramp = np.array([13] * 5 + [10] * 40)
    assert steady_state_index(ramp, window=5, tolerance=0.1) == 5
    assert steady_state_index(ramp, window=5, tolerance=0.5) == 0


def test_cold_start_splits_each_fresh_process_into_phases(model_file: str, tmp_path,
                                                          monkeypatch) -> None:
    run = cold_start(model_file, n_processes=2, input_shapes={"x": (1, 32)}, iters=60,
                     window=10, session_config=SessionConfig(intra_op_num_threads=1))
    assert isinstance(run, ColdStartRun) and len(run.processes) == 2
    pids = {p.pid for p in run.processes}
    assert len(pids) == 2 and os.getpid() not in pids
    for p in run.processes:
        phases = [p.interpreter_start_ns, p.import_numpy_ns, p.import_onnxruntime_ns,
                  p.session_create_ns, p.first_inference_ns]
        assert all(isinstance(v, int) and v > 0 for v in phases)
        # the first result cannot come before the phases that precede it
        assert p.spawn_to_first_result_ns >= sum(phases)
        assert p.latency_ns.dtype == np.int64 and p.latency_ns.size == 61
        if p.steady_iter is not None:
            assert p.time_to_steady_ns == int(p.latency_ns[: p.steady_iter].sum())
            assert p.spawn_to_steady_ns >= p.spawn_to_first_result_ns - p.first_inference_ns
    assert run.settings["intra_op_num_threads"] == 1
    assert run.phase_ns("session_create_ns").shape == (2,)
    summary = run.summary()
    assert summary["import_onnxruntime_ns"]["n"] == 2
    row = summary["session_create_ns"]
    assert row["min_ms"] <= row["median_ms"] <= row["max_ms"]
    d = run.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["n_processes"] == 2 and "latency_ns" not in d["processes"][0]
    monkeypatch.setenv(report.OUTPUT_ENV, str(tmp_path))
    run.report("cold")
    assert (tmp_path / "samples" / "cold.session_create.npy.gz").exists()
    names = {json.loads(line)["name"] for line in (tmp_path / "metrics.jsonl").open()}
    assert {"cold.import_onnxruntime_ms", "cold.first_inference_ms"} <= names


def test_cold_start_reports_a_broken_model_clearly(tmp_path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(RuntimeError, match="measurement child failed"):
        cold_start(str(bad), n_processes=1, iters=5)


def test_config_of_a_session_keeps_every_timing_setting():
    """A session reopened from its own settings (isolate=True, overhead session) keeps them all."""
    from edgetiming.measure.session import SessionConfig, config_of, open_session

    config = SessionConfig(intra_op_num_threads=1, allow_spinning=False, execution_mode="parallel",
                           graph_optimization_level="basic",
                           config_entries=(("session.set_denormal_as_zero", "1"),))
    again = config_of(open_session("rapidocr:cls", config))
    assert (again.intra_op_num_threads, again.allow_spinning, again.execution_mode,
            again.graph_optimization_level) == (1, False, "parallel", "basic")
    assert ("session.set_denormal_as_zero", "1") in again.config_entries


def test_cold_start_rounds_launch_every_variant_and_the_aa_arm_once_per_round_in_balanced_order(model_file: str):
    cfg = SessionConfig(intra_op_num_threads=1)
    cr = cold_start_rounds({"a": (model_file, cfg), "b": (model_file, cfg)}, rounds=2, input_shapes={"x": (1, 32)},
                           iters=10, window=5, seed=1)
    assert list(cr.runs) == ["a", "b", "a (A/A)"] and cr.aa_arm == "a (A/A)" and cr.variants == ["a", "b"]
    assert all(sorted(order) == sorted(cr.runs) for order in cr.orders)
    assert cr.orders[1] == cr.orders[0][::-1]  # every other round mirrored
    pids = {p.pid for run in cr.runs.values() for p in run.processes}
    assert len(pids) == 6  # a fresh process for each arm in each round
    for p in cr.runs["b"].processes:
        parts = launch_breakdown(p)
        assert list(parts) == list(LAUNCH_PHASES) and sum(parts.values()) == p.spawn_to_first_result_ns
        assert p.harness_import_ns > 0
    r = cr.ratio("a", "b", "session create")
    assert r.rounds == 2 and r.label_b == "b" and cr.aa("session create").label_b == "a (A/A)"


def test_each_fresh_process_carries_its_interference_window_and_a_sentinel(model_file: str) -> None:
    before = time.perf_counter_ns()
    run = cold_start(model_file, n_processes=1, input_shapes={"x": (1, 32)}, iters=10, window=5,
                     session_config=SessionConfig(intra_op_num_threads=1))
    after = time.perf_counter_ns()
    (p,) = run.processes
    assert p.busy_share is not None and 0.0 <= p.busy_share <= 1.0
    assert p.sentinel_ns.dtype == np.int64 and p.sentinel_ns.size == 10 and (p.sentinel_ns > 0).all()
    # one monotonic clock: the window opens after the child's imports, spans session creation and
    # the timed loop, and closes after the first result and before the parent had the result back
    assert before < p.t_start_ns < p.t_end_ns < after
    assert p.t_start_ns >= before + p.interpreter_start_ns + p.import_numpy_ns + p.import_onnxruntime_ns
    assert p.t_end_ns >= before + p.spawn_to_first_result_ns
    assert p.t_end_ns - p.t_start_ns >= p.session_create_ns + int(p.latency_ns.sum())
    d = p.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["busy_share"] == p.busy_share and d["sentinel_median_ns"] == float(np.median(p.sentinel_ns))
    assert "sentinel_ns" not in d


def test_noise_panels_draw_one_point_per_process_and_variant(model_file: str) -> None:
    cfg = SessionConfig(intra_op_num_threads=1)
    cr = cold_start_rounds({"a": (model_file, cfg), "b": (model_file, cfg)}, rounds=1, input_shapes={"x": (1, 32)},
                           iters=10, window=5)
    panels = noise_panels(cr, "session create")
    procs = [p for run in cr.runs.values() for p in run.processes]
    assert list(panels.lat) == list(panels.rat) == list(cr.runs)
    for label, run in cr.runs.items():
        (p,) = run.processes
        ((t, ms),) = panels.lat[label]
        ((tr, ratio),) = panels.rat[label]
        assert t.tolist() == tr.tolist() == [float(p.t_end_ns)]
        assert ms.tolist() == [process_phase(p, "session create") / 1e6]
        assert ratio.tolist() == [process_phase(p, "session create") / p.sentinel_median_ns]
    assert panels.t0 == [float(p.t_start_ns) for p in procs] and panels.t1 == [float(p.t_end_ns) for p in procs]
    assert panels.share == [p.busy_share for p in procs]
    fig, alt = figure(panels, title="cold")
    assert "in sentinel units a ran at" in alt and alt.startswith("3 processes of 3 configurations")
    assert "over 1 process)" in alt and fig.axes[0].get_ylabel() == "session create (ms)"
