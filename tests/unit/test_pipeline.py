"""Pipeline timing: per-stage and end-to-end, with a real onnxruntime stage; block telemetry and the sentinel."""

from __future__ import annotations

import json
import time

import matplotlib.pyplot as plt
import numpy as np
import pytest
from onnx import TensorProto, helper

from edgetiming.measure import noise, pipeline
from edgetiming.measure.closedloop import TARGET_BLOCKS
from edgetiming.measure.pipeline import PipelineRun, run_pipeline
from edgetiming.measure.sentinel import SENTINEL_CALLS_PER_BLOCK
from edgetiming.measure.session import open_session
from edgetiming.results import report


def busy_wait_us(us: float) -> None:
    end = time.perf_counter_ns() + int(us * 1000)
    while time.perf_counter_ns() < end:
        pass


def slow_stage(us: float):
    def stage(x):
        busy_wait_us(us)
        return x

    return stage


def test_each_stage_gets_the_previous_output() -> None:
    seen = []
    run = run_pipeline([("pre", lambda x: x * 10), ("spy", lambda x: seen.append(x) or x + 1)],
                       [1, 2, 3], repeat=2)
    assert seen == [10, 20, 30, 10, 20, 30]
    assert run.outputs == [11, 21, 31, 11, 21, 31]
    assert run.stage_ns.shape == (6, 2) and run.stage_ns.dtype == np.int64


def test_stages_add_up_and_ordering_matches_the_work() -> None:
    run = run_pipeline([("short", slow_stage(50)), ("long", slow_stage(400)),
                        ("mid", slow_stage(150))], range(120), warmup_items=10)
    assert isinstance(run, PipelineRun) and run.n_items == 120
    assert np.array_equal(run.stage_ns.sum(axis=1), run.e2e_ns)  # chained clock reads
    assert run.is_warmup.sum() == 10 and run.stage("long").size == 110
    med = {s: np.median(run.stage(s)) for s in run.stage_names}
    assert med["short"] < med["mid"] < med["long"]
    share = run.budget()
    assert sum(share.values()) == pytest.approx(1.0)
    assert share["long"] > 0.5  # 400 of 600 us, with slack for noise
    summ = run.summaries()
    assert set(summ) == {"short", "long", "mid", "e2e"} and summ["e2e"].n == 110
    json.dumps(run.to_dict(), allow_nan=False)
    with pytest.raises(KeyError):
        run.stage("postprocess")


def test_bad_stage_lists() -> None:
    with pytest.raises(ValueError, match="empty"):
        run_pipeline([], [1])
    with pytest.raises(ValueError, match="unique"):
        run_pipeline([("a", str), ("a", str)], [1])


def test_real_onnxruntime_stage_and_report(tmp_path, monkeypatch) -> None:
    n = 32
    w = helper.make_tensor("w", TensorProto.FLOAT, [n, n], np.ones(n * n).tolist())
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "mm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    sess = open_session(model.SerializeToString())
    stages = [
        ("preprocess", lambda v: {"x": np.full((1, n), v, dtype=np.float32)}),
        ("infer", lambda feeds: sess.run(None, feeds)[0]),
        ("postprocess", lambda y: float(y.sum())),
    ]
    run = run_pipeline(stages, range(60), warmup_items=5)
    assert run.outputs[3] == pytest.approx(3.0 * n * n)
    monkeypatch.setenv(report.OUTPUT_ENV, str(tmp_path))
    run.report("ocr")
    assert (tmp_path / "samples" / "ocr.e2e.npy.gz").exists()
    assert (tmp_path / "samples" / "ocr.infer.npy.gz").exists()
    names = {json.loads(line)["name"] for line in (tmp_path / "metrics.jsonl").open()}
    assert {"ocr.infer.p50_ms", "ocr.e2e.p99_ms", "ocr.infer.share", "ocr.busy_share", "ocr.e2e.per_sentinel"} <= names
    assert (tmp_path / "samples" / "ocr.sentinel.npy.gz").exists()
    assert (tmp_path / "samples" / "ocr.interference.busy_share.npy.gz").exists()


def test_blocks_tile_the_items_with_the_sentinel_after_each_and_never_inside_one() -> None:
    run = run_pipeline([("a", slow_stage(20)), ("b", slow_stage(20))], range(130), warmup_items=10)
    assert run.start_ns is not None and run.start_ns.shape == (130,) and run.start_ns.dtype == np.int64
    assert np.all(np.diff(run.start_ns) >= run.e2e_ns[:-1])  # items in order, on one clock
    t = run.interference
    # the warmup items are one block, then about TARGET_BLOCKS blocks tile the rest, in order
    assert t.iter_start[0] == 0 and t.iter_end[0] == 10 and t.steady_from == 1
    assert np.array_equal(t.iter_start[1:], t.iter_end[:-1]) and t.iter_end[-1] == 130
    assert 30 <= t.n_blocks - 1 <= TARGET_BLOCKS
    # SENTINEL_CALLS_PER_BLOCK sentinel calls after every steady block, none after the warmup
    s = run.sentinel
    assert np.array_equal(np.bincount(s.block, minlength=t.n_blocks),
                          [0] + [SENTINEL_CALLS_PER_BLOCK] * (t.n_blocks - 1))
    assert s.warmup_ns.size == 3 and np.all(s.latency_ns > 0)
    for b in range(t.n_blocks):
        a, e = t.iter_start[b], t.iter_end[b]
        end_of_last = run.start_ns[e - 1] + run.e2e_ns[e - 1]
        assert t.t_start_ns[b] <= run.start_ns[a] and end_of_last <= t.t_end_ns[b]
        if b + 1 < t.n_blocks:  # the sentinel ran between this block's last item and the next one's first
            assert run.start_ns[e] - end_of_last >= s.latency_ns[s.block == b].sum()
    bs = run.busy_share
    assert bs is None or 0.0 <= bs <= 1.0
    assert np.all((t.columns["busy_share"] >= 0) & (t.columns["busy_share"] <= 1))
    d = run.to_dict()
    assert d["sentinel"]["calls"] == s.latency_ns.size and d["sentinel"]["e2e_ratio"]["n_blocks"] == t.n_blocks - 1
    assert "busy_share" in d["interference"]
    json.dumps(d, allow_nan=False)


def test_noise_panels_hold_every_steady_item_and_one_ratio_and_strip_row_per_block() -> None:
    run = run_pipeline([("a", slow_stage(30)), ("b", slow_stage(30))], range(90), warmup_items=5)
    t = run.interference
    steady = t.n_blocks - t.steady_from
    p = run.noise_panels("frame")
    assert sum(x[0].size for x in p.lat["frame"]) == 85 and len(p.lat["frame"]) == steady
    assert sum(x[0].size for x in p.rat["frame"]) == steady and len(p.t0) == len(p.t1) == len(p.share) == steady
    np.testing.assert_allclose(np.concatenate([x[1] for x in p.lat["frame"]]), run.steady_e2e_ns / 1e6)
    np.testing.assert_array_equal(np.concatenate([x[0] for x in p.lat["frame"]]), run.start_ns[5:].astype(float))
    ratio = np.concatenate([x[1] for x in p.rat["frame"]])
    sent = run.sentinel.medians_ns(t.n_blocks)[t.steady_from:]
    med = [np.median(run.e2e_ns[a:e]) for a, e in zip(t.iter_start[t.steady_from:], t.iter_end[t.steady_from:])]
    np.testing.assert_allclose(ratio, np.array(med) / sent)
    assert run.sentinel_ratio().n_blocks == steady
    fig, alt = noise.figure(p, title="pipeline")
    assert alt.startswith("85 frames") and "frame ran at" in alt
    plt.close(fig)


def test_without_the_sentinel_no_sentinel_call_is_timed_but_telemetry_is_read(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(pipeline.Sentinel, "__call__", lambda self: calls.append(1))
    run = run_pipeline([("a", slow_stage(10))], range(50), sentinel=False)
    assert calls == [] and run.sentinel is None and run.to_dict()["sentinel"] is None
    t = run.interference
    assert t.steady_from == 0 and t.iter_start[0] == 0 and t.iter_end[-1] == 50 and t.n_blocks == 25
    p = run.noise_panels()
    assert p.rat == {} and sum(x[0].size for x in p.lat["frame end-to-end"]) == 50 and len(p.share) == 25
    run_pipeline([("a", slow_stage(10))], range(50))
    assert len(calls) == 3 + SENTINEL_CALLS_PER_BLOCK * 25  # the same run with it: warmup calls, then 10 a block
