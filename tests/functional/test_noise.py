"""Know the machine's noise: interference telemetry, the sentinel and `edgetiming selftest` (issue 21)."""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
import pytest

from edgetiming import cli
from edgetiming.host import interference as itf
from edgetiming.measure import selftest
from edgetiming.measure import sentinel as snt
from edgetiming.measure.closedloop import TARGET_BLOCKS, closed_loop
from edgetiming.measure.openloop import Periodic, open_loop
from edgetiming.results import figures, report
from edgetiming.run import executor
from edgetiming.site import fleet_pages
from edgetiming.stats import validity

HAS_PROC = Path("/proc/stat").is_file()


# --------------------------------------------------------------------------- /proc parsing
def test_proc_stat_counts_only_the_measured_cpus_and_keeps_steal_apart():
    text = ("cpu  99 9 9 999 9 9 9 9 0 0\n"
            "cpu0 100 10 50 1000 70 3 2 40 30 0\n"
            "cpu1 7 0 1 2000 0 0 0 5 0 0\n"
            "intr 1 2 3\nprocs_running 4\nprocs_blocked 0\n")
    # busy = user + nice + system + irq + softirq; idle, iowait and guest (already in user) excluded
    assert itf.parse_proc_stat(text, [0]) == (165, 40, 1, 4)
    assert itf.parse_proc_stat(text, [0, 1]) == (173, 45, 2, 4)
    assert itf.parse_proc_stat(text) == (173, 45, 2, 4)  # the aggregate "cpu " line is not added
    assert itf.parse_proc_stat("intr 1\n") is None


def test_self_stat_survives_a_command_name_with_spaces_and_parentheses():
    line = "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 100 0 0 0 731 69 0 0 20 0 3 0 100 0 0"
    assert itf.parse_self_stat(line) == 800
    assert itf.parse_self_stat("garbage") is None


def _snap(t_ns, it, busy, steal, mine, vol, inv, running=1):
    return itf.Snapshot(t_ns, it, busy, steal, 2, running, mine, vol, inv, float("nan"), float("nan"))


def test_table_turns_counters_into_other_work_and_a_clipped_busy_share():
    meter = itf.InterferenceMeter(cpus=[0, 1])
    tick = itf._CLK_TCK
    # block 0: 1 s, 2 CPUs; CPUs busy 150 ticks + 10 steal, this process 100 ticks -> others 0.6 s
    # block 1: 1 s; CPUs busy 100 ticks, this process 100 ticks -> others 0
    meter.snaps = [_snap(0, 0, 0, 0, 0, 0, 0),
                   _snap(10**9, 100, int(1.5 * tick), int(0.1 * tick), int(1.0 * tick), 3, 1, running=5),
                   _snap(2 * 10**9, 200, int(2.5 * tick), int(0.1 * tick), int(2.0 * tick), 4, 1)]
    table = meter.table(steady_from_iter=0)
    assert table.n_blocks == 2
    np.testing.assert_allclose(table.others_cpu_s, [0.6, 0.0])
    np.testing.assert_allclose(table.columns["busy_share"], [0.3, 0.0])
    assert table.busy_share == pytest.approx(0.6 / (2 * 2))
    assert table.voluntary_ctxt.tolist() == [3, 1] and table.involuntary_ctxt.tolist() == [1, 0]
    assert table.procs_running.tolist() == [5, 1]
    s = table.summary()
    assert s["procs_running_max"] == 5 and s["freq_mhz_range"] == itf.NOT_AVAILABLE
    assert s["temp_c_max"] == itf.NOT_AVAILABLE
    # the first row as warmup: only block 1 counts
    assert meter.table(steady_from_iter=100).busy_share == pytest.approx(0.0)
    assert table.busy_note(validity.INTERFERENCE_LIMIT).startswith("the machine was busy: other work held 15%")
    assert meter.table(steady_from_iter=100).busy_note(validity.INTERFERENCE_LIMIT) is None


def test_a_machine_without_proc_reads_not_available(tmp_path):
    meter = itf.InterferenceMeter(cpus=[0], root=str(tmp_path))
    meter.mark(0)
    meter.mark(10)
    table = meter.table()
    assert table.busy_share is None
    assert table.summary()["busy_share"] == itf.NOT_AVAILABLE
    assert table.summary()["involuntary_ctxt"] == itf.NOT_AVAILABLE


def test_frequency_and_thermal_zones_are_read_where_a_fixture_exposes_them(tmp_path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "stat").write_text("cpu0 10 0 0 100 0 0 0 0 0 0\nprocs_running 2\n")
    freq = tmp_path / "sys/devices/system/cpu/cpu0/cpufreq"
    freq.mkdir(parents=True)
    (freq / "scaling_cur_freq").write_text("2400000\n")
    zone = tmp_path / "sys/class/thermal/thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "temp").write_text("61500\n")
    meter = itf.InterferenceMeter(cpus=[0], root=str(tmp_path))
    meter.mark(0)
    meter.mark(1)
    s = meter.table().summary()
    assert s["freq_mhz_range"] == [2400.0, 2400.0] and s["temp_c_max"] == 61.5


# --------------------------------------------------------------------------- validity
def test_interference_above_the_limit_makes_a_run_unstable_with_its_reason():
    quiet = validity.judge(interference=validity.INTERFERENCE_LIMIT / 2)
    busy = validity.judge(interference=0.5)
    assert quiet.state is validity.State.VALID
    assert busy.state is validity.State.UNSTABLE
    assert "other work used the CPU for 50% of the run" in busy.reasons[0]


# --------------------------------------------------------------------------- helpers
def _busy_wait(ns_ref):
    perf = time.perf_counter_ns

    def f():
        end = perf() + ns_ref[0]
        while perf() < end:
            pass
    return f


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        x += 1


class _Load:
    """A Python busy loop on every core, bounded in time and always terminated."""

    def __init__(self, procs: int = 2, seconds: float = 60.0) -> None:
        ctx = mp.get_context("spawn")
        self.procs = [ctx.Process(target=_spin, args=(seconds,), daemon=True) for _ in range(procs)]

    def __enter__(self):
        for p in self.procs:
            p.start()
        time.sleep(0.3)  # let them get going
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.join(5)


# --------------------------------------------------------------------------- closed loop
@pytest.mark.skipif(not HAS_PROC, reason="needs /proc")
def test_closed_loop_carries_a_block_table_on_the_latency_clock():
    t_before = time.perf_counter_ns()
    run = closed_loop(_busy_wait([100_000]), warmup_iters=10, iters=400, overhead=False)
    t = run.interference
    assert t.n_blocks == TARGET_BLOCKS + 1  # the warmup row, then the blocks
    assert t.steady_from == 1 and t.iter_start[1] == 10 and t.iter_end[-1] == 410
    assert (t.iter_end[:-1] == t.iter_start[1:]).all()
    assert t_before <= t.t_start_ns[0] and (t.t_end_ns > t.t_start_ns).all()
    # each block spans at least the calls it timed
    for a, b, t0, t1 in zip(t.iter_start, t.iter_end, t.t_start_ns, t.t_end_ns):
        assert t1 - t0 >= run.latency_ns[a:b].sum()
    assert t.summary()["self_cpu_s"] > 0
    assert run.to_dict()["interference"]["blocks"] == TARGET_BLOCKS


@pytest.mark.skipif(not HAS_PROC, reason="needs /proc")
def test_a_closed_loop_of_one_block_keeps_its_calls_back_to_back_and_times_the_sentinel_after_them():
    run = closed_loop(_busy_wait([100_000]), warmup_iters=0, iters=30, overhead=False, sentinel=True, blocks=1)
    t = run.interference
    assert t.n_blocks == 1 and (t.iter_start[0], t.iter_end[0]) == (0, 30)
    assert run.sentinel.block.tolist() == [0] * 10  # ten sentinel calls, all after the one block
    # the block's window holds its 30 calls and the sentinel after them
    assert t.t_end_ns[0] - t.t_start_ns[0] >= run.latency_ns.sum() + run.sentinel.latency_ns.sum()
    many = closed_loop(_busy_wait([100_000]), warmup_iters=0, iters=30, overhead=False, sentinel=True)
    assert many.interference.n_blocks == 30  # the default cuts even a short run into blocks of one call


def test_a_busy_table_makes_the_runs_judgement_unstable():
    run = closed_loop(_busy_wait([20_000]), iters=400, overhead=False)
    meter = itf.InterferenceMeter(cpus=[0, 1])
    tick = itf._CLK_TCK
    meter.snaps = [_snap(0, 0, 0, 0, 0, 0, 0), _snap(10**9, 400, int(1.8 * tick), 0, int(1.0 * tick), 0, 9)]
    run.interference = meter.table()
    j = run.judgement()
    assert j.state is validity.State.UNSTABLE and "other work used the CPU for 40%" in j.reasons[0]


@pytest.mark.skipif(not HAS_PROC, reason="needs /proc")
def test_report_stores_the_table_beside_the_samples_and_notes_a_busy_machine(tmp_path, monkeypatch):
    monkeypatch.setenv(report.OUTPUT_ENV, str(tmp_path))
    run = closed_loop(_busy_wait([50_000]), iters=400, overhead=False, sentinel=snt.Sentinel(reps=20))
    meter = itf.InterferenceMeter(cpus=[0, 1])
    tick = itf._CLK_TCK
    meter.snaps = [_snap(0, 0, 0, 0, 0, 0, 0), _snap(10**9, 400, int(1.8 * tick), 0, int(1.0 * tick), 0, 9)]
    busy = meter.table()
    busy.columns["iter_end"][:] = 400  # one block covering the run
    run.interference, run.sentinel.block[:] = busy, 0
    run.report("m")
    names = {json.loads(line)["name"] for line in (tmp_path / "samples.jsonl").read_text().splitlines()}
    for col in ("t_start_ns", "busy_share", "involuntary_ctxt", "others_cpu_s", "freq_mhz"):
        assert f"m.interference.{col}" in names
    assert {"m", "m.sentinel", "m.sentinel_block"} <= names
    metrics = {m["name"]: m for m in map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines())}
    p99 = metrics["m.p99_ms"]
    assert p99["state"] == "unstable"
    assert p99["note"].startswith("the machine was busy")
    assert metrics["m.busy_share"]["value"] == pytest.approx(0.4)
    assert "m.p99_per_sentinel" in metrics and "m.per_sentinel" in metrics


@pytest.mark.skipif(not HAS_PROC, reason="needs /proc")
def test_open_loop_marks_blocks_by_request_and_keeps_its_clock():
    run = open_loop(lambda: time.sleep(0.0005), Periodic(10), n_requests=80)
    t = run.interference
    # 790 ms of schedule: blocks of at least 200 ms (a /proc tick is 2.5% of one), so 3 of them
    assert t.n_blocks == 3 and t.iter_start.tolist() == [0, 27, 54] and t.iter_end[-1] == 80
    assert (t.t_end_ns - t.t_start_ns).min() >= 0.2e9
    assert t.t_start_ns[0] <= run.t0_ns + run.intended_ns[0]
    assert t.summary()["voluntary_ctxt"] >= 80  # the worker slept once per request
    assert run.to_dict()["interference"]["busy_share"] == t.busy_share


@pytest.mark.skipif(not HAS_PROC, reason="needs /proc")
def test_figure_draws_the_strip_under_the_timeline_on_one_time_axis():
    run = closed_loop(_busy_wait([100_000]), warmup_iters=10, iters=400, overhead=False)
    fig, alt = figures.timeline_with_interference(run.latency_ns, run.interference, warmup_end=10)
    top, strip = fig.axes[:2]
    assert top.get_shared_x_axes().joined(top, strip)
    assert strip.get_ylabel() == "busy (%)" and len(strip.patches) == run.interference.n_blocks
    # the last call ends inside the last block, so the time axis covers all samples
    xmax = max(line.get_xdata().max() for line in top.get_lines() if len(line.get_xdata()))
    assert xmax <= strip.get_xlim()[1] + 1e-9
    assert alt.startswith("Latency of 410 calls") and "other work held the measured CPUs" in alt


@pytest.mark.skipif(not HAS_PROC, reason="needs /proc")
def test_noise_figure_of_closed_loop_runs_has_latency_sentinel_units_and_the_strip():
    from edgetiming.measure import noise

    runs = [closed_loop(_busy_wait([200_000]), warmup_iters=5, iters=200, overhead=False,
                        sentinel=_busy_wait([100_000])) for _ in range(2)]
    lat, rat, busy = noise.panels(runs, labels=["first", "second"])
    assert list(lat) == ["first", "second"] and [lat[k][0].size for k in lat] == [200, 200]
    # in sentinel units, every steady call once (the warmup is its own block and is left out)
    assert runs[0].steady_per_sentinel().size == 200 and 1.6 < float(np.median(runs[0].steady_per_sentinel())) < 2.5
    # each block in sentinel units: a 200 us model beside a 100 us sentinel reads about 2
    assert all(1.6 < float(np.median(r)) < 2.5 for _, r in rat.values())
    # the strip: the steady blocks, short ones merged until a row spans 200 ms (a /proc tick is 10 ms)
    raw = [(t.t_start_ns[t.steady_from:], t.t_end_ns[t.steady_from:]) for t in (r.interference for r in runs)]
    assert busy[0].min() == 0 and 1 <= busy[0].size < sum(a.size for a, _ in raw)
    assert (busy[1] - busy[0]).sum() * 1e9 >= sum(float((b - a).sum()) for a, b in raw) - 1e3
    fig, alt = noise.figure(runs, labels=["first", "second"])
    assert len(fig.axes) == 3 and fig.axes[0].get_shared_x_axes().joined(fig.axes[0], fig.axes[2])
    assert "in sentinel units first ran at" in alt and "of the measured CPUs" in alt


@pytest.mark.skipif(not HAS_PROC, reason="needs /proc")
def test_noise_figure_of_open_loop_runs_has_the_strip_and_one_sentinel_point_per_run():
    from edgetiming.measure import noise

    runs = [open_loop(lambda: time.sleep(0.0005), Periodic(2), n_requests=60) for _ in range(2)]
    lat, rat, busy = noise.panels(runs, labels=["a", "b"])
    assert [v[0].size for v in lat.values()] == [60, 60]
    assert np.all(np.diff(lat["a"][0]) > 0)  # intended starts, in order, on one clock
    assert lat["a"][0].max() < lat["b"][0].min()  # the second run came after the first
    # the sentinel was timed after each stream, never inside it: one point per run, at its end
    for run, label in zip(runs, ("a", "b")):
        assert run.sentinel is not None and set(run.sentinel.block.tolist()) == {run.interference.n_blocks - 1}
        t_s, r = rat[label]
        assert r.size == 1 and t_s[0] >= lat[label][0].max()
        resp = run.response_ns[run.completed]
        assert r[0] == pytest.approx(np.median(resp) / np.median(run.sentinel.latency_ns))
    quiet = [open_loop(lambda: time.sleep(0.0005), Periodic(2), n_requests=30, sentinel=False)]
    assert quiet[0].sentinel is None and noise.panels(quiet)[1] == {}
    assert "no sentinel was timed" in noise.figure(quiet)[1]


@pytest.mark.skipif(not HAS_PROC, reason="needs /proc")
def test_a_batching_server_carries_telemetry_and_a_sentinel_and_draws_its_noise():
    from edgetiming.measure import noise
    from edgetiming.measure.batching import BatchPolicy, serve

    run = serve(lambda k: time.sleep(0.0003 * k), Periodic(10), policy=BatchPolicy.dynamic(4, timeout_ms=1.0),
                n_requests=80)
    t = run.interference
    assert t.n_blocks == 3 and t.iter_start[0] == 0 and t.iter_end[-1] == 80
    assert t.t_start_ns[0] <= run.t0_ns + run.intended_ns[0]
    assert t.summary()["voluntary_ctxt"] > 0  # the server thread waited on the queue: its switches are counted
    assert run.to_dict()["interference"]["busy_share"] == t.busy_share
    assert run.to_dict()["sentinel_ms_after"] > 0
    lat, rat, busy = noise.panels([run], labels=["dynamic"])
    assert lat["dynamic"][0].size == 80 and rat["dynamic"][1].size == 1 and busy[2].size == 3


def test_short_strip_rows_are_merged_by_wall_time_and_never_across_a_gap():
    from edgetiming.measure.noise import merge_strip

    ms = 1e6
    t0 = np.array([0, 50, 100, 150, 1000, 1100]) * ms  # four contiguous 50 ms rows, a gap, two more
    t1 = t0 + np.array([50, 50, 50, 50, 100, 100]) * ms
    a, b, share = merge_strip(t0[::-1], t1[::-1], np.array([np.nan, 0.2, 0.0, 0.0, 0.5, 1.0])[::-1])
    assert (a / ms).tolist() == [0, 1000] and (b / ms).tolist() == [200, 1200]
    # NaN rows are unknown, not idle: the first window is the mean of its three known rows
    np.testing.assert_allclose(share, [0.2 / 3, 0.75])
    one = merge_strip(np.array([0.0]), np.array([300 * ms]), np.array([0.4]))
    assert [x.tolist() for x in one] == [[0.0], [300 * ms], [0.4]]


def test_panels_filled_by_hand_draw_like_any_other_source():
    from edgetiming.measure import noise

    p = noise.Panels()
    t = np.arange(5, dtype=float) * 1e9
    p.calls("cold", t, np.full(5, 3e6))
    p.ratio("cold", t, [3.0, 3.1, np.nan, 2.9, 0.0])  # NaN and non-positive ratios are left out
    p.strip(t, t + 5e8, [0.0, 0.1, 0.6, 0.0, 0.0])
    lat, rat, busy = noise.panels(p)
    assert rat["cold"][1].tolist() == [3.0, 3.1, 2.9] and busy[2].max() == 0.6
    fig, alt = noise.figure(p)
    assert "in sentinel units cold ran at" in alt and len(fig.axes) == 3
    # a series drawn in sentinel units keeps its colour from the latency row, even when the
    # series before it has no sentinel (a cross-check's single-stream blocks)
    q = noise.Panels()
    q.calls("first", t, np.full(5, 1e6))  # no sentinel: nothing in the middle row
    q.calls("cold", t, np.full(5, 3e6))
    q.ratio("cold", t, np.full(5, 3.0))
    q.strip(t, t + 5e8, np.zeros(5))
    fig, _ = noise.figure(q)
    lat_colors = {ln.get_label(): ln.get_color() for ln in fig.axes[0].get_lines()}
    (ratio_line,) = [ln for ln in fig.axes[1].get_lines() if ln.get_label() == "cold"]
    assert ratio_line.get_color() == lat_colors["cold"]


# --------------------------------------------------------------------------- sentinel
def test_sentinel_does_fixed_work():
    a, b = snt.Sentinel(), snt.Sentinel()
    a()
    b()
    np.testing.assert_array_equal(a._c, b._c)  # the same arithmetic every time
    assert np.isfinite(a._c).all()
    assert a.describe() == {"kind": "numpy matmul chain", "size": 48, "reps": 240, "seed": 0,
                            "dtype": "float64"}


def _blocks(rng, n, model_ms, sent_ms):
    return snt.BlockMedians(model_ms * (1 + 0.02 * rng.standard_normal(n)),
                            sent_ms * (1 + 0.02 * rng.standard_normal(n)))


@pytest.mark.parametrize("model_f, sent_f, expected", [
    (1.4, 1.4, "machine"), (1.4, 1.0, "model"), (1.0, 1.0, "no shift"), (1.8, 1.3, "machine and model"),
    (0.7, 0.7, "machine"), (0.7, 1.0, "model")])
def test_attribution_on_planted_block_medians(model_f, sent_f, expected):
    rng = np.random.default_rng(1)
    before = _blocks(rng, 30, 2.0, 1.0)
    after = _blocks(rng, 30, 2.0 * model_f, 1.0 * sent_f)
    a = snt.attribute(before, after)
    assert a.verdict == expected, a.reason
    assert a.model.lower <= model_f * 1.03 and a.model.upper >= model_f * 0.97


def test_shift_interval_covers_the_true_factor():
    rng = np.random.default_rng(2)
    hits = 0
    for _ in range(200):
        s = snt.shift(np.exp(rng.standard_normal(20) * 0.1), 1.2 * np.exp(rng.standard_normal(20) * 0.1))
        hits += s.lower <= 1.2 <= s.upper
    assert 0.9 <= hits / 200 <= 0.99


def _measured(model_ns, sent_ns):
    return closed_loop(_busy_wait([model_ns]), warmup_iters=5, iters=400, overhead=False,
                       sentinel=_busy_wait([sent_ns]))


@pytest.mark.skipif(not HAS_PROC, reason="needs /proc")
def test_planted_slowdowns_are_attributed_end_to_end():
    base = _measured(200_000, 100_000)
    r = base.sentinel_ratio()
    assert r.bounded and r.n_blocks == TARGET_BLOCKS and r.lower <= 2.0 * 1.05 and r.upper >= 2.0 * 0.95
    q = base.normalised_quantile_ci(0.5)
    assert 1.9 < q.value < 2.2
    machine = _measured(300_000, 150_000)  # the machine got 1.5x slower: both slow down
    model = _measured(300_000, 100_000)  # only the model got 1.5x slower
    assert snt.attribute(base.block_medians(), machine.block_medians()).verdict == "machine"
    assert snt.attribute(base.block_medians(), model.block_medians()).verdict == "model"
    # the model's CPU cost leaves the sentinel's out
    assert base.resources.cpu_s_per_inference < 0.2e-3 * 1.5


# --------------------------------------------------------------------------- selftest
def test_verdict_names_what_disturbed_the_run():
    ok = selftest.verdict(busy_share=0.01, error_p99_us=20, median_us=1000, throttle_seen=False,
                          coverage={"p99": 0.95, "lowest_plausible": 0.88, "draws": 100},
                          timer={"cost_ns_p50": 50})
    assert ok["state"] == "quiet" and ok["text"] == selftest.QUIET and ok["first_try"] is None
    hot = selftest.verdict(busy_share=0.01, error_p99_us=20, median_us=1000, throttle_seen=True,
                           coverage={"p99": 0.95, "lowest_plausible": 0.88}, timer={"cost_ns_p50": 50})
    assert hot["state"] == "throttled" and "turbo" in hot["first_try"]
    off = selftest.verdict(busy_share=0.02, error_p99_us=900, median_us=1000, throttle_seen=False,
                           coverage={"p99": 0.4, "lowest_plausible": 0.88, "draws": 50},
                           timer={"cost_ns_p50": 50})
    assert off["state"] == "disturbed" and len(off["reasons"]) == 2 and "taskset" in off["first_try"]


@pytest.mark.skipif(not HAS_PROC, reason="needs /proc")
def test_selftest_says_busy_under_a_load_it_started_and_less_interference_without(tmp_path):
    # This machine is shared: other sessions may load it too, so "quiet" is not asserted; the runs
    # without our load come before and after the loaded one, and the least disturbed of them must
    # show less interference than the run beside our own busy loop on both cores.
    assert cli.main(["selftest", "--duration-s", "3", "--json", str(tmp_path / "quiet.json")]) == 0
    quiet = [json.loads((tmp_path / "quiet.json").read_text())]
    with _Load(procs=2, seconds=60):
        loaded = selftest.run_selftest(3.0)
    quiet.append(selftest.run_selftest(3.0))
    assert loaded["verdict"]["state"] == "busy", loaded["verdict"]
    assert "other work held" in loaded["verdict"]["text"] and "taskset" in loaded["verdict"]["text"]
    assert loaded["interference"]["busy_share"] > min(q["interference"]["busy_share"] for q in quiet)
    for rep in (*quiet, loaded):
        assert rep["timer"]["pairs"] == 200_000 and rep["coverage"]["draws"] >= 5
        assert set(rep["error_us"]) >= {"p50", "p99", "max"}
        assert set(rep["coverage"]) >= {"p50", "p90", "p99"}
        assert (rep["verdict"]["state"] == "quiet") == (rep["verdict"]["text"] == selftest.QUIET)


def test_runner_page_section_shows_a_selftest(tmp_path):
    assert fleet_pages.selftest_section(tmp_path / "selftest.json") == []
    rep = {"verdict": selftest.verdict(busy_share=0.6, error_p99_us=5400, median_us=1000, throttle_seen=False,
                                       coverage={"p99": 0.01, "lowest_plausible": 0.8}, timer={"cost_ns_p50": 50}),
           "error_us": {"p50": 1.4, "p99": 5400.0},
           "coverage": {"p50": 0.9, "p90": 0.64, "p99": 0.01, "draws": 22, "nominal": 0.95},
           "interference": {"busy_share": 0.6}, "started_at": "2026-12-07T10:00:00+00:00", "duration_s": 10.2,
           "workload": {"calls": 8800}, "timer": {"clock": "clock_gettime", "smallest_step_ns": 40,
                                                   "cost_ns_p50": 44.0}}
    selftest.write_json(rep, tmp_path / "selftest.json")
    text = "\n".join(fleet_pages.selftest_section(tmp_path / "selftest.json"))
    assert "## Self-test" in text and "not quiet (busy)" in text
    assert "| Interval coverage P50 / P90 / P99 | 90% / 64% / 1% of 22 draws (nominal 95%) |" in text
    (tmp_path / "selftest.json").write_text("{")
    assert "unreadable" in "\n".join(fleet_pages.selftest_section(tmp_path / "selftest.json"))


@pytest.mark.skipif(not HAS_PROC, reason="needs /proc")
def test_run_with_a_selftest_stores_it_in_the_runners_bundle(tmp_path):
    recipe = Path(__file__).parent.parent / "fixtures" / "recipes" / "passes.py"
    code = cli.main(["run", str(recipe), "--results", str(tmp_path / "r"), "--runner", "noisy",
                     "--selftest-s", "1"])
    assert code == 0
    rep = json.loads((tmp_path / "r" / "noisy" / "selftest.json").read_text())
    assert rep["requested_duration_s"] == 1.0 and rep["verdict"]["state"] in ("quiet", "busy", "throttled",
                                                                              "disturbed")
    assert executor.RunOptions().selftest_s is None  # opt-in: plain `edgetiming run` runs none
