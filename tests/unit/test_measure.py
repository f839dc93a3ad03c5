"""Closed-loop timing: structure, stop rules, GC and affinity restored, overhead, isolation.

No test asserts a wall-clock time: the machine is shared. Counts, orderings,
ratios with wide slack and structure only.
"""

from __future__ import annotations

import gc
import json
import os
import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgetiming.measure.closedloop import (
    ClosedLoopRun,
    closed_loop,
    measure_overhead,
    pinned_affinity,
    session_loop,
    timing_gc_off,
)
from edgetiming.measure.session import SessionConfig, open_session
from edgetiming.results import report
from edgetiming.stats import quantiles as stats


def matmul_model(n: int = 64) -> bytes:
    """A tiny real model: y = x @ W with a constant 64x64 weight."""
    w = helper.make_tensor("w", TensorProto.FLOAT, [n, n],
                           np.random.default_rng(0).random(n * n, dtype=np.float32).tolist())
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "mm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def busy_wait(us: float) -> None:
    end = time.perf_counter_ns() + int(us * 1000)
    while time.perf_counter_ns() < end:
        pass


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("models") / "matmul.onnx"
    path.write_bytes(matmul_model())
    return str(path)


def test_count_mode_keeps_every_iteration_as_int64_with_warmup_labelled() -> None:
    run = closed_loop(lambda: busy_wait(20), warmup_iters=7, iters=150, overhead=False)
    assert run.latency_ns.dtype == np.int64
    assert run.latency_ns.size == 157
    assert run.is_warmup.sum() == 7 and run.is_warmup[:7].all() and not run.is_warmup[7:].any()
    assert run.steady_ns.size == 150
    assert run.stop_reason == "count"
    # every iteration includes at least the 20 us busy wait
    assert (run.latency_ns >= 20_000).all()
    assert run.resources.n_inferences == 150


@pytest.mark.parametrize("enabled_before", [True, False])
def test_gc_is_disabled_while_timing_and_restored_after(enabled_before: bool) -> None:
    seen = []
    (gc.enable if enabled_before else gc.disable)()
    try:
        run = closed_loop(lambda: seen.append(gc.isenabled()), iters=5, warmup_iters=1,
                          overhead=False)
        assert gc.isenabled() is enabled_before
        assert not any(seen) and run.gc["disabled_while_timing"]
        assert gc.get_freeze_count() == 0
    finally:
        gc.enable()


def test_gc_and_affinity_restored_when_the_workload_raises() -> None:
    gc.enable()
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None

    def boom() -> None:
        raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError, match="model crashed"):
        closed_loop(boom, iters=3, overhead=False, cpu_affinity=[0])
    assert gc.isenabled() and gc.get_freeze_count() == 0
    if before is not None:
        assert os.sched_getaffinity(0) == before


def test_timing_gc_off_keeps_a_callers_freeze() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with timing_gc_off():
            pass
        assert gc.get_freeze_count() >= frozen > 0
    finally:
        gc.unfreeze()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no sched_setaffinity here")
def test_affinity_is_applied_to_all_threads_and_restored() -> None:
    before = os.sched_getaffinity(0)
    inside = []
    run = closed_loop(lambda: inside.append(os.sched_getaffinity(0)), iters=3, warmup_iters=0,
                      overhead=False, cpu_affinity=[0])
    assert all(mask == {0} for mask in inside)
    assert run.affinity["applied"] == [0] and run.affinity["threads_pinned"] >= 1
    assert os.sched_getaffinity(0) == before
    with pinned_affinity(None) as info:
        assert info["applied"] == "none"


def test_duration_mode_stops_on_time() -> None:
    run = closed_loop(lambda: busy_wait(50), duration_s=0.2, overhead=False)
    assert run.stop_reason == "duration"
    assert run.resources.wall_s >= 0.2  # it only stops once the time has passed
    assert run.steady_ns.size > 10


def test_adaptive_stop_reaches_the_requested_ci_width_or_the_cap() -> None:
    run = closed_loop(lambda: busy_wait(30), target_percentile=0.9, target_rel_ci_width=2.0,
                      max_iters=20_000, overhead=False)
    assert run.stop_reason == "ci_width"
    q = run.quantile_ci(0.9)
    assert q.bounded and (q.upper - q.lower) / q.value <= 2.0
    assert run.steady_ns.size >= stats.min_samples(0.9, 0.95)  # never before the minimum
    capped = closed_loop(lambda: None, target_rel_ci_width=1e-12, max_iters=500,
                         overhead=False)
    assert capped.stop_reason == "max_iters" and capped.steady_ns.size == 500
    timed = closed_loop(lambda: busy_wait(20), target_rel_ci_width=1e-12, duration_s=0.1,
                        overhead=False)
    assert timed.stop_reason == "max_duration"


def test_a_stop_rule_is_required() -> None:
    with pytest.raises(ValueError, match="iters, duration_s or target_rel_ci_width"):
        closed_loop(lambda: None, overhead=False)


def test_overhead_is_measured_on_the_call_path_and_compared_with_p50() -> None:
    est = measure_overhead("session.run", iters=500)
    assert est.call_path == "session.run"
    assert 0 < est.timer_ns < est.per_iter_ns  # a run() costs more than two clock reads
    assert est.min_ns <= est.per_iter_ns <= est.p90_ns
    trivial = closed_loop(lambda: None, iters=2000)  # nothing to time: overhead dominates
    assert trivial.overhead is not None and trivial.overhead_flagged
    assert trivial.judgement().state.value == "invalid"
    assert any("overhead" in r for r in trivial.judgement().reasons)
    slow = closed_loop(lambda: busy_wait(500), iters=60, overhead=est)
    assert slow.overhead is est
    assert slow.overhead_fraction == pytest.approx(est.per_iter_ns / slow.p50_ns)
    assert closed_loop(lambda: None, iters=5, overhead=False).overhead_fraction is None
    with pytest.raises(ValueError):
        measure_overhead("grpc")


def test_session_loop_records_settings_and_runs_both_call_paths(model_file: str) -> None:
    cfg = SessionConfig(intra_op_num_threads=1, allow_spinning=False,
                        graph_optimization_level="basic")
    run = session_loop(model_file, iters=300, session_config=cfg)
    s = run.settings
    assert s["intra_op_num_threads"] == 1 and s["allow_spinning"] == "0"
    assert s["inter_op_num_threads"] == "default"
    assert s["graph_optimization_level"] == "ORT_ENABLE_BASIC"
    assert s["execution_mode"] == "ORT_SEQUENTIAL"
    assert s["providers"] == ["CPUExecutionProvider"]
    assert s["inputs"] == {"x": [[1, 64], "float32"]}
    assert run.call_path == "session.run" and run.overhead.call_path == "session.run"
    default = session_loop(open_session(model_file), {"x": np.ones((1, 64), np.float32)},
                           iters=50, io_binding=True)
    assert default.call_path == "io_binding" and default.overhead.call_path == "io_binding"
    assert default.settings["intra_op_num_threads"] == "default"
    assert default.settings["allow_spinning"] == "default"


def test_to_dict_is_json_without_raw_samples(model_file: str) -> None:
    run = session_loop(model_file, iters=400, target_percentile=0.99)
    d = run.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert "latency_ns" not in d and len(text) < 50_000
    assert d["n_total"] == 420 and d["warmup_iters"] == 20 and d["stop_reason"] == "count"
    assert d["summary"]["n"] == 400
    assert {"state", "reasons", "rule"} <= set(d["judgement"])
    assert d["resources"]["cpu_s_per_inference"] > 0
    assert d["resources"]["peak_rss_bytes"] > 0
    assert set(d["throttle"]) >= {"seen", "reasons", "before", "after"}
    assert d["throttle"]["seen"] is False  # this machine exposes no throttle signal
    assert d["overhead_fraction"] == pytest.approx(run.overhead.per_iter_ns / run.p50_ns)


def test_report_writes_raw_samples_and_metrics(model_file: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(report.OUTPUT_ENV, str(tmp_path))
    run = session_loop(model_file, iters=300)
    run.report("mm")
    saved = report.decode_samples((tmp_path / "samples" / "mm.npy.gz").read_bytes())
    assert saved.dtype == np.int64 and np.array_equal(saved, run.latency_ns)
    names = {json.loads(line)["name"] for line in (tmp_path / "metrics.jsonl").open()}
    assert {"mm.p50_ms", "mm.p90_ms", "mm.p99_ms", "mm.overhead_fraction",
            "mm.cpu_ms_per_inference", "mm.peak_rss_mb"} <= names


def test_isolated_run_happens_in_another_process(model_file: str) -> None:
    run = session_loop(model_file, iters=200, isolate=True,
                       session_config=SessionConfig(intra_op_num_threads=1))
    assert isinstance(run, ClosedLoopRun)
    assert run.isolated and run.pid != os.getpid()
    assert run.latency_ns.size == 220 and run.settings["intra_op_num_threads"] == 1
    # an in-memory model travels through a temporary file
    mem = session_loop(matmul_model(), iters=50, isolate=True, overhead=False)
    assert mem.isolated and mem.steady_ns.size == 50


def test_isolate_needs_a_model_path() -> None:
    sess = open_session(matmul_model())
    with pytest.raises(ValueError, match="model path"):
        session_loop(sess, iters=10, isolate=True)
