"""Interference telemetry and the noise figure's panels for the release gate and the long interleaved run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgetiming.measure import noise
from edgetiming.measure.builds import Build, run_builds
from edgetiming.measure.interleaved import interleaved_run
from edgetiming.results import report

ITERS, WARMUP = 30, 3  # ten blocks of 3 calls per process


@pytest.fixture(scope="module")
def gate():
    """Two builds, one fresh process each: the telemetry crosses the process boundary (pickle)."""
    builds = [Build("A", "rapidocr:cls"), Build("B", "rapidocr:cls", slowdown=1.0)]
    return run_builds(builds, input_shapes={"x": (1, 3, 48, 192)}, runs=1, iters=ITERS, warmup_iters=WARMUP)


def test_every_process_carries_telemetry_whose_blocks_tile_its_timed_calls(gate):
    for name in gate.builds:
        (t,), (sent,), (where,) = gate.interference[name], gate.sentinel[name], gate.sentinel_block[name]
        assert t.n_blocks == 10
        assert t.iter_start[0] == 0 and t.iter_end[-1] == ITERS == gate.samples[name][0].size
        assert np.array_equal(t.iter_start[1:], t.iter_end[:-1])  # no call left out, none twice
        assert np.array_equal(t.t_start_ns[1:], t.t_end_ns[:-1]) and (t.t_end_ns > t.t_start_ns).all()
        share = t.columns["busy_share"]
        assert ((share >= 0) & (share <= 1)).all()
        assert sent.size == where.size == 30 and np.array_equal(np.bincount(where), np.full(10, 3))
    a, b = gate.interference["A"][0], gate.interference["B"][0]
    first, second = (a, b) if gate.order[0] == "A" else (b, a)
    assert second.t_start_ns[0] > first.t_end_ns[-1]  # one clock across processes, one after another
    for build in (None, "A", "B"):
        assert 0.0 <= gate.busy_share(build) <= 1.0


def test_noise_panels_give_each_build_its_calls_ratios_and_strip_rows(gate):
    p = gate.noise_panels()
    assert list(p.lat) == list(p.rat) == ["A", "B"]
    for name in gate.builds:
        t_ns = np.concatenate([x[0] for x in p.lat[name]])
        ms = np.concatenate([x[1] for x in p.lat[name]])
        assert t_ns.size == ms.size == ITERS
        assert np.allclose(np.sort(ms), np.sort(gate.samples[name][0] / 1e6))
        assert sum(x[0].size for x in p.rat[name]) == 10
    assert len(p.t0) == len(p.t1) == len(p.share) == 20
    slowed = np.median(np.concatenate([x[1] for x in p.rat["B"]]))
    assert slowed > 1.2 * np.median(np.concatenate([x[1] for x in p.rat["A"]]))  # B sleeps as long as it computes
    _fig, alt = noise.figure(p, title="gate")
    assert f"{2 * ITERS} calls of 2 configurations" in alt and "in sentinel units A ran at" in alt


def test_a_gate_without_sentinel_draws_no_ratio_but_its_strip():
    builds = [Build("A", "rapidocr:cls")]
    g = run_builds(builds, input_shapes={"x": (1, 3, 48, 192)}, runs=1, iters=25, warmup_iters=2,
                   fresh_process=False, sentinel=False)
    t = g.interference["A"][0]
    assert t.n_blocks == 13 and t.iter_end[-1] == 25  # 12 blocks of 2 calls, then the last call alone
    p = g.noise_panels()
    assert not p.rat and sum(x[0].size for x in p.lat["A"]) == 25 and len(p.share) == 13


def test_interleaved_run_marks_every_block_and_draws_it(tmp_path, monkeypatch):
    seen = []
    run = interleaved_run(lambda: sum(range(3000)), lambda: sum(range(1000)), model_iters=12, sentinel_iters=5,
                          n_blocks=4, before_block=lambda b, t: seen.append((b, t)))
    t = run.interference
    assert run.n_blocks == t.n_blocks == 4 == run.planned and len(run.snaps) == 5
    assert t.iter_start.tolist() == [0, 12, 24, 36] and t.iter_end.tolist() == [12, 24, 36, 48]
    assert [b for b, _ in seen] == [0, 1, 2, 3] and seen == sorted(seen, key=lambda x: x[1])
    assert [r["t_s"] for r in run.rows()] == [s for _, s in seen]
    assert all(m.size == 12 for m in run.model_ns) and all(s.size == 5 for s in run.sentinel_ns)
    assert 0.0 <= run.busy_share <= 1.0 and ((t.columns["busy_share"] >= 0) & (t.columns["busy_share"] <= 1)).all()
    p = run.noise_panels("m")
    assert sum(x[0].size for x in p.lat["m"]) == 48 and sum(x[0].size for x in p.rat["m"]) == 4 and len(p.share) == 4
    row = run.rows()[1]
    assert p.rat["m"][1][1][0] == pytest.approx(row["model_median_ms"] / row["sentinel_median_ms"])
    monkeypatch.setenv(report.OUTPUT_ENV, str(tmp_path))
    run.report_interference("long_run")
    metrics = [json.loads(x) for x in (tmp_path / report.METRICS_FILE).read_text().splitlines()]
    assert [m["name"] for m in metrics] == ["long_run.busy_share"]


def test_interleaved_run_stops_at_its_time_cap_after_the_minimum_blocks():
    run = interleaved_run(lambda: None, lambda: None, model_iters=2, sentinel_iters=2, n_blocks=50, max_s=0.0,
                          min_blocks=3)
    assert run.n_blocks == 3 and run.planned == 50 and run.interference.n_blocks == 3
    with pytest.raises(ValueError):
        interleaved_run(lambda: None, lambda: None, model_iters=0, sentinel_iters=1, n_blocks=1)
