"""Rounds on real onnxruntime sessions: interleaved arms, the A/A arm, ratios over rounds."""

import numpy as np
import pytest

from edgetiming.measure.rounds import AA_SUFFIX, Arm, run_rounds
from edgetiming.measure.session import SessionConfig
from edgetiming.results import report

SHAPE = {"x": (1, 3, 48, 192)}


@pytest.fixture(scope="module")
def run():
    return run_rounds([Arm("one", "rapidocr:cls", SessionConfig(intra_op_num_threads=1)),
                       Arm("one again", "rapidocr:cls", SessionConfig(intra_op_num_threads=1))],
                      input_shapes=SHAPE, rounds=3, blocks=4, block_iters=20, warmup_iters=5)


def test_every_round_is_a_fresh_process_with_every_arm_interleaved(run):
    assert run.arms == ["one", "one again", "one" + AA_SUFFIX]
    assert len({r.pid for r in run.rounds}) == 3
    for r in run.rounds:
        assert sorted(r.order) == sorted(run.arms * 4)
        for arm in run.arms:
            assert r.latency_ns[arm].shape == (80,) and np.all(r.latency_ns[arm] > 0)
            assert r.settings[arm]["intra_op_num_threads"] == 1
            # blocks are the positions in the order where this arm ran
            assert sorted(set(r.block_of[arm])) == [i for i, a in enumerate(r.order) if a == arm]


def test_estimates_have_both_intervals_and_ratios_are_over_rounds(run):
    e = run.estimate("one", 0.5)
    assert e.runs == 3 and e.between.known and e.lower <= e.value <= e.upper
    r = run.ratio("one", "one again")
    assert r.rounds == 3 and r.interval.known
    assert run.aa() is not None and run.aa().label_b == "one" + AA_SUFFIX


def test_report_writes_samples_with_round_and_block_and_ratio_metrics(run, tmp_path, monkeypatch):
    import json

    monkeypatch.setenv(report.OUTPUT_ENV, str(tmp_path))
    run.report("cls", percentiles=(0.5,))
    metrics = {m["name"]: m for m in map(json.loads, (tmp_path / report.METRICS_FILE).read_text().splitlines())}
    assert {"cls.one.p50_ms", "cls.one-again.p50_ratio", "cls.one-a-a.p50_ratio"} <= set(metrics)
    p50 = metrics["cls.one.p50_ms"]
    assert p50["runs"] == 3 and len(p50["ci_between"]) == 2 and p50["state"] in ("valid", "unstable", "invalid")
    samples = [json.loads(x)["name"] for x in (tmp_path / report.SAMPLES_FILE).read_text().splitlines()]
    assert {"cls.one", "cls.one.round", "cls.one.block"} <= set(samples)


def test_bad_arms_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="unique"):
        run_rounds([Arm("a", "rapidocr:cls"), Arm("a", "rapidocr:cls")], rounds=1)
    with pytest.raises(ValueError, match="baseline 'z' is not one of the arms"):
        run_rounds([Arm("a", "rapidocr:cls")], baseline="z", rounds=1)


def test_rounds_time_a_sentinel_after_every_block_and_read_the_machine(run, tmp_path, monkeypatch):
    import json

    for r in run.rounds:
        assert r.interference is not None and r.interference.n_blocks == len(r.order)
        assert r.sentinel.latency_ns.size == 10 * len(r.order)
        assert set(r.sentinel.block.tolist()) == set(range(len(r.order)))
        assert np.all(np.isfinite(r.sentinel_medians_ns()))
    per = run.per_sentinel("one")
    assert [p.size for p in per] == [s.size for s in run.samples("one")]
    # in sentinel units = each sample / the sentinel median after its block
    r0 = run.rounds[0]
    first_block = r0.block_of["one"][0]
    assert per[0][0] == r0.latency_ns["one"][0] / r0.sentinel_medians_ns()[first_block]
    monkeypatch.setenv(report.OUTPUT_ENV, str(tmp_path))
    run.report("cls", percentiles=(0.5,))
    metrics = {m["name"]: m for m in map(json.loads, (tmp_path / report.METRICS_FILE).read_text().splitlines())}
    assert {"cls.one.p50_per_sentinel", "cls.sentinel_ms", "cls.busy_share_max"} <= set(metrics)
    assert len(metrics["cls.one.p50_per_sentinel"]["per_run_sentinel"]) == 3
    assert metrics["cls.sentinel_ms"]["runs"] == 3


def test_the_noise_figure_draws_rounds_by_arm_on_one_time_axis(run):
    from edgetiming.measure import noise

    lat, rat, busy = noise.panels(run)
    assert set(lat) == set(run.arms) and set(rat) == set(run.arms)
    assert all(t.size == ms.size for t, ms in lat.values())
    assert busy[0].min() == 0 and np.all(busy[1] > busy[0])
    fig, alt = noise.figure(run, title="rounds")
    assert "in sentinel units one ran at" in alt and "of the measured CPUs" in alt


def test_a_busy_round_makes_the_estimates_unstable(run):
    import copy

    busy = copy.deepcopy(run)
    busy.rounds[1].interference.columns["others_cpu_s"][:] = 10.0  # other work held every CPU
    assert busy.busy_share() == 1.0
    est = busy.estimate("one", 0.5)
    assert est.judgement.state.value == "unstable"
    assert any("other work" in r or "busy" in r for r in est.judgement.reasons)
