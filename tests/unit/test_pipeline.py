"""Pipeline timing: per-stage and end-to-end, with a real onnxruntime stage."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from onnx import TensorProto, helper

from edgetiming.measure.pipeline import PipelineRun, run_pipeline
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
    assert {"ocr.infer.p50_ms", "ocr.e2e.p99_ms", "ocr.infer.share"} <= names
