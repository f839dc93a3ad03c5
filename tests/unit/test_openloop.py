"""Open loop: schedules, per-request timestamps, drops, and an injected stall.

The stall test is the point of this module: one 200 ms stall in a 2 ms
workload at 100 Hz delays about (stall - L) / period / (1 - utilization)
requests by more than L in the open loop, and exactly one in the closed loop.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from onnx import TensorProto, helper

from edgetiming.measure.closedloop import closed_loop
from edgetiming.measure.openloop import DROPPED_NS, OpenLoopRun, Periodic, Poisson, open_loop
from edgetiming.measure.session import open_session
from edgetiming.results import report

MS = 1_000_000


def busy_wait(ms: float) -> None:
    end = time.perf_counter_ns() + int(ms * MS)
    while time.perf_counter_ns() < end:
        pass


class StallingWorkload:
    """2 ms of CPU per call; call number ``stall_at`` first sleeps ``stall_ms``."""

    def __init__(self, service_ms: float = 2.0, stall_at: int = 30, stall_ms: float = 200.0):
        self.calls, self.service_ms = 0, service_ms
        self.stall_at, self.stall_ms = stall_at, stall_ms

    def __call__(self) -> None:
        if self.calls == self.stall_at:
            time.sleep(self.stall_ms / 1000)
        self.calls += 1
        busy_wait(self.service_ms)


def test_schedules() -> None:
    assert Periodic(10).offsets_ns(4).tolist() == [0, 10 * MS, 20 * MS, 30 * MS]
    assert Periodic(20).rate_hz == 50
    a, b = Poisson(200, seed=3).offsets_ns(2000), Poisson(200, seed=3).offsets_ns(2000)
    assert np.array_equal(a, b) and a[0] == 0 and (np.diff(a) >= 0).all()
    assert not np.array_equal(a, Poisson(200, seed=4).offsets_ns(2000))
    mean_gap_ms = np.diff(a).mean() / MS
    assert 4.0 < mean_gap_ms < 6.0  # 5 ms expected; 2000 gaps give about +-2%
    cv = np.diff(a).std() / np.diff(a).mean()
    assert 0.9 < cv < 1.1  # exponential gaps have CV 1
    with pytest.raises(ValueError):
        Periodic(0).offsets_ns(3)


def test_stall_shows_in_the_open_loop_tail_and_once_in_the_closed_loop() -> None:
    period_ms, service_ms, stall_ms, threshold_ms = 10.0, 2.0, 200.0, 50.0
    opened = open_loop(StallingWorkload(service_ms, stall_at=30, stall_ms=stall_ms),
                       Periodic(period_ms), n_requests=150, warmup_iters=0)
    closed = closed_loop(StallingWorkload(service_ms, stall_at=30, stall_ms=stall_ms),
                         iters=150, warmup_iters=0, overhead=False)
    # closed loop: the stall is one slow sample, the rest of the run looks clean
    assert int((closed.latency_ns > threshold_ms * MS).sum()) == 1
    # open loop: every request scheduled during the stall waits for it
    rho = service_ms / period_ms
    predicted = (stall_ms - threshold_ms) / period_ms / (1 - rho)  # ~19 requests
    delayed = int((opened.response_ns > threshold_ms * MS).sum())
    assert 0.6 * predicted <= delayed <= 1.6 * predicted, (delayed, predicted)
    assert opened.response_ns.max() >= stall_ms * MS
    # the tail moved: open-loop P90 sits far above the closed-loop P90
    assert np.percentile(opened.response_ns, 90) > 5 * np.percentile(closed.steady_ns, 90)
    # queueing, not service, carries the delay
    slow = opened.response_ns > threshold_ms * MS
    assert (opened.queueing_ns[slow] > opened.service_ns[slow]).sum() >= delayed - 1


def test_timestamps_are_ordered_and_add_up() -> None:
    run = open_loop(lambda: busy_wait(1), Poisson(200, seed=1), n_requests=100,
                    deadline_ms=50)
    assert isinstance(run, OpenLoopRun) and run.completed.all() and run.n_dropped == 0
    for arr in (run.intended_ns, run.dispatched_ns, run.issued_ns, run.done_ns):
        assert arr.dtype == np.int64 and arr.size == 100
    assert (run.dispatched_ns >= run.intended_ns).all()  # never issued early
    assert (run.issued_ns >= run.dispatched_ns).all() and (run.done_ns >= run.issued_ns).all()
    assert np.array_equal(run.response_ns, run.queueing_ns + run.service_ns)
    assert (run.service_ns >= 1 * MS).all()
    assert run.arrivals == {"kind": "poisson", "rate_hz": 200, "seed": 1}
    assert run.warmup_ns.size == 10
    assert 0 < run.utilization < 1


def test_queue_full_drops_count_as_misses() -> None:
    # 6 ms of work every 2 ms with room for one waiting request: most arrivals are dropped
    run = open_loop(lambda: busy_wait(6), Periodic(2), n_requests=60, max_queue=1,
                    deadline_ms=100, warmup_iters=0)
    assert run.n_dropped > 20
    assert (run.drop_kind[run.dropped] == 1).all()  # kind: queue full
    assert (run.done_ns[run.dropped] == -1).all()
    assert run.n_missed >= run.n_dropped and run.miss_mask[run.dropped].all()
    assert (run.response_with_drops_ns[run.dropped] == DROPPED_NS).all()
    assert run.longest_miss_run >= 1


def test_drop_late_camera_policy() -> None:
    # 4 ms of work per 3 ms frame: the backlog grows until frames are past their deadline
    run = open_loop(lambda: busy_wait(4), Periodic(3), n_requests=80, deadline_ms=10,
                    drop_late=True, warmup_iters=0)
    late = run.drop_kind == 2
    assert late.sum() > 0 and (run.issued_ns[late] == -1).all()
    # a frame that is started is started within its deadline
    assert (run.queueing_ns <= 10 * MS).all()
    assert run.n_missed >= run.n_dropped
    d = run.to_dict()
    assert d["dropped_late"] == int(late.sum()) and d["n_missed"] == run.n_missed
    with pytest.raises(ValueError, match="deadline_ms"):
        open_loop(lambda: None, Periodic(1), n_requests=1, drop_late=True)


def test_worker_errors_propagate() -> None:
    def boom() -> None:
        raise RuntimeError("inference failed")

    with pytest.raises(RuntimeError, match="inference failed"):
        open_loop(boom, Periodic(1), n_requests=5, warmup_iters=0)


def test_onnxruntime_session_with_two_workers(tmp_path, monkeypatch) -> None:
    n = 64
    w = helper.make_tensor("w", TensorProto.FLOAT, [n, n], np.ones(n * n).tolist())
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "mm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    sess = open_session(model.SerializeToString())
    feeds = {"x": np.ones((1, n), np.float32)}
    run = open_loop(lambda: sess.run(None, feeds), Poisson(500, seed=2), n_requests=300,
                    workers=2, deadline_ms=200)
    assert run.completed.all() and run.workers == 2
    v = run.slo_verdict(0.5)
    assert v.verdict in ("PASS", "INCONCLUSIVE")
    d = run.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["response"]["n"] == 300 and d["slo"]["verdict"] == run.slo_verdict(0.99).verdict
    monkeypatch.setenv(report.OUTPUT_ENV, str(tmp_path))
    run.report("ol")
    names = {json.loads(line)["name"] for line in (tmp_path / "metrics.jsonl").open()}
    assert {"ol.response_p99_ms", "ol.miss_rate", "ol.dropped"} <= names
    assert (tmp_path / "samples" / "ol.intended.npy.gz").exists()
    assert (tmp_path / "checks.jsonl").exists()
