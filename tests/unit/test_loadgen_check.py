"""MLPerf LoadGen cross-check: log parsing on real-format text, and a real short run.

Agreement itself is not asserted: on a shared 2-core machine two runs can
drift apart, and saying so is the cross-check's job. What is asserted is that
both tools ran the same number of queries, that LoadGen's reported
percentiles are the nearest-rank values of its own per-query latencies (the
same estimator as ours), and the structure of the result.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import TensorProto, helper

from edgetiming.measure.loadgen_check import (
    CrossCheck,
    loadgen_crosscheck,
    parse_detail_log,
    parse_summary_log,
    parse_trace_latencies,
    run_loadgen,
)
from edgetiming.measure.session import open_session
from edgetiming.results import report
from edgetiming.stats import quantiles as stats

pytest.importorskip("mlperf_loadgen")

SUMMARY = """================================================
MLPerf Results Summary
================================================
SUT name : PySUT
Scenario : SingleStream
Mode     : PerformanceOnly
90.0th percentile latency (ns) : 1021126
Result is : VALID
  Min duration satisfied : Yes
Early Stopping Result:
 * Processed at least 64 queries (200).
"""
DETAIL = """:::MLLOG {"key": "loadgen_version", "value": "6.0.17 @ d6147c7eb7", "time_ms": 0.01}
:::MLLOG {"key": "result_validity", "value": "VALID", "time_ms": 213.9}
:::MLLOG {"key": "result_90.00_percentile_latency_ns", "value": 1021126, "time_ms": 213.9}
not a record
"""
TRACE = """{"traceEvents":[
{"name":"Sample","cat":"default","ph":"b","pid":1,"id":1,"ts":1278.5,"args":{"sample_seq":1,"query_seq":1,"sample_idx":0,"issue_start_ns":0,"complete_ns":1004775}},
{"name":"Sample","cat":"default","ph":"b","pid":1,"id":0,"ts":244.4,"args":{"sample_seq":0,"query_seq":0,"sample_idx":0,"issue_start_ns":0,"complete_ns":1026185}},
{"name":"QuerySamplesComplete","ph":"X","pid":1,"tid":1,"ts":1270.6,"dur":2.9,"args":{}},
"""


def test_log_parsers_read_the_real_formats() -> None:
    s = parse_summary_log(SUMMARY)
    assert s["Scenario"] == "SingleStream" and s["Result is"] == "VALID"
    assert s["90.0th percentile latency (ns)"] == "1021126"
    d = parse_detail_log(DETAIL)
    assert d["result_90.00_percentile_latency_ns"] == 1021126 and d["result_validity"] == "VALID"
    lat = parse_trace_latencies(TRACE)
    assert lat.dtype == np.int64 and lat.tolist() == [1026185, 1004775]  # sample_seq order


@pytest.mark.slow
def test_crosscheck_runs_both_tools_on_one_session(tmp_path, monkeypatch) -> None:
    n = 128
    w = helper.make_tensor("w", TensorProto.FLOAT, [n, n], np.ones(n * n).tolist())
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "mm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, n])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    sess = open_session(model.SerializeToString())
    cc = loadgen_crosscheck(sess, query_count=200, rounds=2, server_target_qps=200.0,
                            server_target_latency_ms=50.0, warmup_iters=5,
                            log_dir=tmp_path / "logs")
    assert isinstance(cc, CrossCheck) and set(cc.scenarios) == {"SingleStream", "Server"}
    for sc in cc.scenarios.values():
        assert len(sc.harness_runs) == len(sc.loadgen_runs) == 2
        assert sc.harness_ns.size == 200 and sc.loadgen_ns.size == 200
        for block in sc.loadgen_runs:
            # LoadGen's reported P90 is the nearest-rank value of its own latencies
            assert block.percentile_ns(0.9) == stats.quantile(block.latency_ns, 0.9)
            assert block.validity in ("VALID", "INVALID")
    assert cc.scenarios["Server"].loadgen_runs[0].target_qps == 200.0
    assert [(a.scenario, a.percentile) for a in cc.agreements] == [
        ("SingleStream", 0.9), ("SingleStream", 0.99), ("Server", 0.9), ("Server", 0.99)]
    for a in cc.agreements:
        assert a.loadgen_rank_consistent is True
        assert a.harness_ns > 0 and a.loadgen_ns > 0
        assert a.harness_ci_ns[0] <= a.harness_ns <= a.harness_ci_ns[1]
        (h_lo, h_hi), (l_lo, l_hi) = a.harness_ci_ns, a.loadgen_ci_ns
        overlap = h_lo <= l_hi and l_lo <= h_hi
        assert a.agree is overlap
    assert cc.all_agree is all(a.agree for a in cc.agreements)
    assert (tmp_path / "logs" / "Server-1" / "mlperf_log_summary.txt").exists()
    json.dumps(cc.to_dict(), allow_nan=False)
    monkeypatch.setenv(report.OUTPUT_ENV, str(tmp_path / "bundle"))
    cc.report("cc")
    checks = [json.loads(x) for x in (tmp_path / "bundle" / "checks.jsonl").open()]
    assert len(checks) == 4 and {c["verdict"] for c in checks} <= {"PASS", "FAIL"}
    assert (tmp_path / "bundle" / "samples" / "cc.server.loadgen.npy.gz").exists()


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="scenario"):
        run_loadgen(lambda: None, scenario="Offline")
