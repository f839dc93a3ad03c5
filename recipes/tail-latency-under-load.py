# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   edgetiming:
#     quick: {n_requests: 120, closed_iters: 150, load_levels: [0.3, 0.8], stall_ms: 100.0}
#     expected_duration_s: 75
#     timeout_cell_s: 600
# ---

# %% [markdown]
# # Tail latency under load
#
# A benchmark that sends the next request only when the previous one has returned (a closed
# loop) measures the model; a device that receives frames on a schedule (an open loop) also
# queues them, and the user waits for the queue too. You will learn how the tail grows as the
# arrival rate approaches what the device can serve, for periodic (camera) and Poisson
# (random) arrivals; what another process on the device (a CPU or memory stressor this recipe
# starts and stops itself) does to that tail; how a closed loop hides a stall that an open
# loop exposes (coordinated omission, shown with an injected stall); and whether the usual
# mitigations (fewer threads, pinning to a core, no spinning) help on this runner.
#
# The model is the PP-OCRv4 angle classifier, whose service time of a few milliseconds
# leaves room for several arrival rates inside the time budget. Every rate is a fraction of
# the rate this runner can serve, measured first, so the recipe means the same on any device.

# %% tags=["parameters"]
model_path = "rapidocr:cls"  # an .onnx file, or rapidocr:det / rapidocr:rec / rapidocr:cls
input_shape = [1, 3, 48, 192]
deadline_ms = 10.0  # per-request deadline, counted from the request's intended start
percentile = 0.99
load_levels = [0.2, 0.4, 0.6, 0.8]  # offered rate as a fraction of the measured capacity
mitigation_load = 0.5  # offered load at which the mitigations are compared
n_requests = 600  # requests per open-loop run (P99 needs >= 299 to be bounded)
closed_iters = 600  # closed-loop iterations (capacity and the coordinated-omission run)
stressor = "memory"  # "memory": streams through a large array; "cpu": a spinning loop
stressor_processes = 1  # concurrent stressor processes
stressor_array_mb = 128  # array size of the memory stressor (bigger than any cache)
stressor_max_s = 60.0  # a stressor exits by itself after this long, whatever happens here
stall_ms = 200.0  # the injected stall for the coordinated-omission demonstration
intra_op_threads = 0  # 0 lets onnxruntime choose (the baseline configuration)
seed = 0

# %%
import os
import subprocess
import sys
import time
from contextlib import contextmanager

import onnxruntime as ort
from IPython.display import Markdown, display
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from edgetiming.measure.closedloop import closed_loop, pinned_affinity
from edgetiming.measure.openloop import Periodic, Poisson, open_loop
from edgetiming.measure.session import SessionConfig, make_feeds, open_session, session_settings
from edgetiming.results import figures, report
from edgetiming.stats import quantiles as stats

figures.use_style()


def log_ticks(ax) -> None:
    """Plain-number ticks at 1, 2 and 5 per decade on a log y axis."""
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(NullFormatter())
cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
print(f"onnxruntime {ort.__version__}; CPUs this process may use: {cpus or 'unknown'}")


def make_session(**kw):
    cfg = SessionConfig(intra_op_num_threads=kw.pop("intra_op_num_threads", intra_op_threads or None), **kw)
    sess = open_session(model_path, cfg)
    feeds = make_feeds(sess, {sess.get_inputs()[0].name: tuple(input_shape)}, seed=seed)
    return sess, feeds, (lambda: sess.run(None, feeds))


session, feeds, infer = make_session()
print("baseline settings:", {k: v for k, v in session_settings(session).items()
                             if k in ("intra_op_num_threads", "allow_spinning", "intra_op_thread_affinities")})

# %% [markdown]
# ## A stressor the recipe owns
#
# Another process on the device: `stressor_processes` Python processes that either spin on
# the CPU or stream through a `stressor_array_mb` MB array (memory bandwidth and cache). A
# fresh set starts for each stressed run; each exits by itself after `stressor_max_s` seconds
# and is terminated in a `finally` block, so a failing cell never leaves one behind.

# %%
STRESS_CODE = {
    "cpu": "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nprint('ready', flush=True)\n"
           "while time.monotonic() < end:\n    pass\n",
    "memory": "import sys, time\nimport numpy as np\nend = time.monotonic() + float(sys.argv[1])\n"
              "a = np.ones(int(sys.argv[2]) * 2**20 // 8)\nb = np.empty_like(a)\nprint('ready', flush=True)\n"
              "while time.monotonic() < end:\n    np.copyto(b, a)\n    np.copyto(a, b)\n",
}


stress_log: list[tuple[str, bool]] = []  # (what ran under stress, every stressor still alive at its end)


@contextmanager
def stress(kind: str | None, pin_to: list[int] | None = None, label: str = ""):
    """Run `stressor_processes` stressors of `kind` (None: nothing) for the block's duration."""
    procs: list[subprocess.Popen] = []
    try:
        for _ in range(stressor_processes if kind else 0):
            p = subprocess.Popen([sys.executable, "-c", STRESS_CODE[kind], str(stressor_max_s),
                                  str(stressor_array_mb)], stdout=subprocess.PIPE, text=True)
            procs.append(p)
            if pin_to and hasattr(os, "sched_setaffinity"):
                os.sched_setaffinity(p.pid, set(pin_to))
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError(f"the {kind} stressor did not start (exit code {p.poll()})")
        yield procs
        if procs:
            stress_log.append((label, all(p.poll() is None for p in procs)))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


conditions = {"alone": None, stressor: stressor}  # the model alone, then next to the stressor

# %% [markdown]
# ## Capacity: the closed loop
#
# The closed loop gives the service time and so the most requests a second one worker can
# serve (1 / mean service time), alone and with the stressor running. Every offered rate
# below is a fraction of the capacity of the model *alone*.

# %%
closed = {}
for cond, kind in conditions.items():
    with stress(kind, label=f"closed loop, {cond}"):
        closed[cond] = closed_loop(infer, warmup_iters=20, iters=closed_iters)
    closed[cond].report(f"closed.{cond}")
capacity_hz = {c: 1e9 / float(r.steady_ns.mean()) for c, r in closed.items()}
for c, r in closed.items():
    q50, q99 = r.quantile_ci(0.5), r.quantile_ci(0.99)
    print(f"{c:<8} closed loop P50 {q50.value / 1e6:.2f} ms, P99 {q99.value / 1e6:.2f} ms, "
          f"capacity {capacity_hz[c]:.0f} requests/s")
base_hz = capacity_hz["alone"]
report.metric("capacity_hz", base_hz, unit="Hz", description="1 / mean closed-loop service time, model alone")

# %% [markdown]
# ## Rising arrival rates, periodic and Poisson
#
# For each load level, `n_requests` requests arrive at `level x capacity` per second, either
# evenly spaced (a camera) or at Poisson-random times (users, sensors). Response time counts
# from the *intended* start, so time spent queued behind a slow request is counted.

# %%
sweep = {}  # (condition, arrivals, level) -> OpenLoopRun
for cond, kind in conditions.items():
    for level in load_levels:
        rate = level * base_hz
        for arr_name, arrivals in (("periodic", Periodic(period_ms=1000.0 / rate)),
                                   ("poisson", Poisson(rate_hz=rate, seed=seed))):
            with stress(kind, label=f"{arr_name} at {level:.0%}"):  # a fresh stressor per run
                sweep[cond, arr_name, level] = open_loop(infer, arrivals, n_requests=n_requests,
                                                         deadline_ms=deadline_ms)
print(f"{'condition':<9}{'arrivals':<10}{'load':>6}{'P50 ms':>9}{'P99 ms':>9}{'miss':>7}{'util':>6}")
for (cond, arr_name, level), r in sweep.items():
    resp = r.response_with_drops_ns
    print(f"{cond:<9}{arr_name:<10}{level:>6.2f}{stats.quantile(resp, 0.5) / 1e6:>9.2f}"
          f"{stats.quantile(resp, percentile) / 1e6:>9.2f}{r.miss_rate:>7.1%}{r.utilization:>6.2f}")
    key = f"open.{cond}.{arr_name}.load{round(level * 100)}"
    q = stats.quantile_ci(resp, percentile)
    report.metric(f"{key}.p{percentile * 100:g}_ms", q.value / 1e6, unit="ms", n=q.n, valid=q.valid,
                  ci=(q.lower / 1e6, q.upper / 1e6) if q.bounded else None,
                  description=f"open-loop response P{percentile * 100:g} at {level:.0%} of capacity")

# %%
fig = Figure(figsize=(8.0, 4.5), layout="constrained")
ax = fig.subplots()
colors = {"alone": "#0072B2", stressor: "#D55E00"}
parts = []
for cond in conditions:
    for arr_name, style in (("periodic", "o-"), ("poisson", "s--")):
        ys = [stats.quantile(sweep[cond, arr_name, lv].response_with_drops_ns, percentile) / 1e6
              for lv in load_levels]
        ax.plot(load_levels, ys, style, color=colors[cond], label=f"open loop, {arr_name}, {cond}")
        parts.append(f"{arr_name} {cond}: " + ", ".join(f"{lv:.0%} {y:.2f} ms" for lv, y in zip(load_levels, ys)))
    c99 = closed[cond].quantile_ci(percentile).value / 1e6
    ax.axhline(c99, color=colors[cond], linestyle=":", linewidth=1.2, label=f"closed loop, {cond}")
    parts.append(f"closed loop {cond} {c99:.2f} ms")
ax.axhline(deadline_ms, color="#24292f", linestyle="-.", linewidth=1.0, label=f"deadline {deadline_ms:g} ms")
ax.set_yscale("log")
log_ticks(ax)
ax.set_xlabel("offered load (fraction of capacity, model alone)")
ax.set_ylabel(f"response time P{percentile * 100:g} (ms, log scale)")
ax.set_title(f"P{percentile * 100:g} response time as the arrival rate rises")
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
report.figure(fig, "load-curve", alt=f"P{percentile * 100:g} response time against offered load: "
              + "; ".join(parts) + f"; deadline {deadline_ms:g} ms")

# %% [markdown]
# ## Coordinated omission, concretely
#
# The same model, with one injected `stall_ms` pause in the middle of the run (a page fault,
# a garbage collection, a preempted thread). The closed loop records it as one slow sample
# among hundreds; the open loop at `mitigation_load` of capacity keeps scheduling requests
# during the stall, and every one of them waits.

# %%
class Stalling:
    """`infer` with one pause of `stall_ms` before call number `at` (warmup calls included)."""

    def __init__(self, at: int):
        self.calls, self.at = 0, at

    def __call__(self):
        self.calls += 1
        if self.calls == self.at:
            time.sleep(stall_ms / 1000.0)
        return infer()


co_rate = mitigation_load * base_hz
co_closed = closed_loop(Stalling(20 + closed_iters // 2), warmup_iters=20, iters=closed_iters)
co_open = open_loop(Stalling(10 + n_requests // 2), Periodic(period_ms=1000.0 / co_rate),
                    n_requests=n_requests, deadline_ms=deadline_ms, warmup_iters=10)
co_closed.report("co.closed")
co_open.report("co.open")
co_rows = {}
half_stall_ns = stall_ms / 2 * 1e6
for name, x in (("closed loop", co_closed.steady_ns), ("open loop", co_open.response_with_drops_ns)):
    co_rows[name] = {p: stats.quantile(x, p) / 1e6 for p in (0.5, 0.9, percentile)}
    co_rows[name]["hit"] = int((x >= half_stall_ns).sum())
    print(f"{name:<12}" + "  ".join(f"P{p * 100:g} {co_rows[name][p]:7.2f} ms" for p in (0.5, 0.9, percentile))
          + f"  requests delayed >= {stall_ms / 2:g} ms: {co_rows[name]['hit']}")
# Requests intended during the first half of the stall wait at least half of it.
expected_hit = int(stall_ms / 2 / (1000.0 / co_rate))
print(f"one {stall_ms:g} ms stall at {co_rate:.0f} requests/s: about {expected_hit} requests were scheduled "
      f"during its first half")
report.metric("co.closed_delayed_requests", co_rows["closed loop"]["hit"], n=int(co_closed.steady_ns.size),
              description=f"closed-loop samples >= half the injected {stall_ms:g} ms stall")
report.metric("co.open_delayed_requests", co_rows["open loop"]["hit"], n=co_open.n_requests,
              description=f"open-loop requests delayed >= half the injected {stall_ms:g} ms stall")

# %%
fig = Figure(figsize=(8.0, 5.0), layout="constrained")
ax1, ax2 = fig.subplots(2, 1, sharey=True)
ax1.plot(co_closed.steady_ns / 1e6, ".", markersize=2, color="#0072B2")
ax1.axvline(closed_iters // 2 - 1, color="#CC79A7", linestyle="--", linewidth=1.0, label="stall injected")
ax1.set_title(f"Closed loop: the stall is one sample ({co_rows['closed loop']['hit']} >= {stall_ms / 2:g} ms; "
              f"P{percentile * 100:g} {co_rows['closed loop'][percentile]:.2f} ms)")
ax2.plot(co_open.response_with_drops_ns / 1e6, ".", markersize=2, color="#D55E00")
ax2.axvline(n_requests // 2 - 1, color="#CC79A7", linestyle="--", linewidth=1.0, label="stall injected")
ax2.set_title(f"Open loop at {mitigation_load:.0%} load: requests scheduled during the stall wait "
              f"({co_rows['open loop']['hit']} >= {stall_ms / 2:g} ms; P{percentile * 100:g} "
              f"{co_rows['open loop'][percentile]:.2f} ms)")
for ax in (ax1, ax2):
    ax.axhline(deadline_ms, color="#24292f", linestyle="-.", linewidth=1.0, label=f"deadline {deadline_ms:g} ms")
    ax.set_yscale("log")
    log_ticks(ax)
    ax.set_ylabel("latency (ms, log)")
    ax.legend(loc="upper right", fontsize=8)
ax1.set_xlabel("iteration (count, in order)")
ax2.set_xlabel("request (count, in order)")
report.figure(fig, "coordinated-omission", alt=(
    f"Latency per request with one injected {stall_ms:g} ms stall in the middle of each run. Closed loop: P50 "
    f"{co_rows['closed loop'][0.5]:.2f} ms, P{percentile * 100:g} {co_rows['closed loop'][percentile]:.2f} ms, "
    f"{co_rows['closed loop']['hit']} samples delayed by at least {stall_ms / 2:g} ms. Open loop: P50 "
    f"{co_rows['open loop'][0.5]:.2f} ms, P{percentile * 100:g} {co_rows['open loop'][percentile]:.2f} ms, "
    f"{co_rows['open loop']['hit']} requests delayed by at least {stall_ms / 2:g} ms (about {expected_hit} "
    "were scheduled during the first half of the stall)."))

# %% [markdown]
# ## Mitigations under the stressor
#
# With the stressor running, Poisson arrivals at `mitigation_load` of the capacity alone, each
# configuration gets its own session: the baseline (onnxruntime's defaults), one intra-op
# thread, one thread pinned to one core with the stressor pinned to the others, and thread
# spinning off. Each is compared by its P`percentile` with the exact confidence interval.

# %%
half = len(cpus) // 2
mitigations = {
    "baseline": ({}, None, None),
    "1 thread": ({"intra_op_num_threads": 1}, None, None),
    "1 thread, pinned": ({"intra_op_num_threads": 1}, cpus[:max(half, 1)], cpus[max(half, 1):] or None),
    "spinning off": ({"allow_spinning": False}, None, None),
}
mit_runs, mit_notes = {}, {}
for name, (kw, mine, theirs) in mitigations.items():
    if mine is not None and (not theirs or len(cpus) < 2):
        mit_notes[name] = "not measured: pinning needs at least 2 CPUs to split"
        continue
    _, _, fn = make_session(**kw)
    with stress(stressor, pin_to=theirs, label=f"mitigation {name}"), pinned_affinity(mine) as aff:
        mit_runs[name] = open_loop(fn, Poisson(rate_hz=mitigation_load * base_hz, seed=seed + 1),
                                   n_requests=n_requests, deadline_ms=deadline_ms)
    mit_notes[name] = f"affinity {aff['applied']}" if mine else "no pinning"
    mit_runs[name].report("mitigation." + name.replace(" ", "-").replace(",", ""))
for name, r in mit_runs.items():
    v = r.slo_verdict(percentile)
    print(f"{name:<18} P50 {stats.quantile(r.response_with_drops_ns, 0.5) / 1e6:6.2f} ms  "
          f"P{percentile * 100:g} {v.estimate.value:7.2f} ms [{v.estimate.lower:.2f}, {v.estimate.upper:.2f}]  "
          f"miss {r.miss_rate:.1%}  CPU/request {r.resources.cpu_s_per_inference * 1e3:.2f} ms  ({mit_notes[name]})")
for name, note in mit_notes.items():
    if name not in mit_runs:
        print(f"{name:<18} {note}")

# %%
mit_summ = {name: stats.summarize(r.response_ns) for name, r in mit_runs.items()}  # no queue limit: nothing is dropped
fig, alt = figures.compare_configs(mit_summ, percentile, deadline_ms=deadline_ms,
                                   title=f"Under the {stressor} stressor: P{percentile * 100:g} response by configuration")
report.figure(fig, "mitigations", alt=alt)

# %% [markdown]
# ## SLO checklist on this runner
#
# Open-loop verdicts at `mitigation_load` of capacity (Poisson arrivals), alone and under the
# stressor, and for the best mitigation; dropped requests would count as misses.

# %%
label = f"p{percentile * 100:g}"
lvl = min(load_levels, key=lambda lv: abs(lv - mitigation_load))
for cond in conditions:
    v = sweep[cond, "poisson", lvl].slo_verdict(percentile)
    report.check(f"{cond}-poisson-{round(lvl * 100)}pct-{label}", v.verdict,
                 f"{cond}, Poisson arrivals at {lvl:.0%} of capacity: P{percentile * 100:g} "
                 f"{v.estimate.value:.2f} ms vs deadline {deadline_ms:g} ms: {v.reason}")
best = min(mit_runs, key=lambda n: stats.quantile(mit_runs[n].response_with_drops_ns, percentile))
vb = mit_runs[best].slo_verdict(percentile)
report.check(f"best-mitigation-{label}", vb.verdict,
             f"best configuration under the {stressor} stressor is '{best}': P{percentile * 100:g} "
             f"{vb.estimate.value:.2f} ms vs deadline {deadline_ms:g} ms: {vb.reason}")
c_over, o_over = co_rows["closed loop"][percentile], co_rows["open loop"][percentile]
c_hit, o_hit = co_rows["closed loop"]["hit"], co_rows["open loop"]["hit"]
report.check("open-loop-counts-the-stall", "PASS" if o_hit >= max(2, expected_hit // 2) else "FAIL",
             f"one injected {stall_ms:g} ms stall delayed {o_hit} open-loop requests by at least {stall_ms / 2:g} ms "
             f"(about {expected_hit} were scheduled in its first half) against {c_hit} closed-loop sample(s); "
             f"P{percentile * 100:g} open {o_over:.2f} ms vs closed {c_over:.2f} ms")
needed = stats.min_samples(percentile)
report.check("enough-requests", "PASS" if n_requests >= needed else "FAIL",
             f"{n_requests} requests per open-loop run; P{percentile * 100:g} needs at least {needed}")
died = [what for what, alive in stress_log if not alive]
report.check("stressor-ran-throughout", "PASS" if not died else "FAIL",
             f"{len(stress_log) - len(died)} of {len(stress_log)} stressed runs had every stressor running at their end"
             + (f"; it had exited during: {', '.join(died)} (raise stressor_max_s)" if died else ""))
worst_lag = max(float(r.dispatch_lag_ns.max()) for r in sweep.values()) / 1e6
report.check("dispatcher-on-time", "PASS" if worst_lag < deadline_ms / 2 else "FAIL",
             f"the largest delay between a request's intended start and its dispatch was {worst_lag:.2f} ms "
             "(the harness itself must not be what is late)")

# %% [markdown]
# ## Conclusion on this runner
#
# Computed from the measurements above, not written in advance.

# %%
def p99(r):
    return stats.quantile(r.response_with_drops_ns, percentile) / 1e6


lines = []
top = max(load_levels)
for cond in conditions:
    lo_p, hi_p = p99(sweep[cond, "poisson", min(load_levels)]), p99(sweep[cond, "poisson", top])
    lines.append(f"- {cond}: Poisson P{percentile * 100:g} goes from {lo_p:.2f} ms at {min(load_levels):.0%} "
                 f"load to {hi_p:.2f} ms at {top:.0%} ({hi_p / lo_p:.1f}x); the closed loop reports "
                 f"{closed[cond].quantile_ci(percentile).value / 1e6:.2f} ms whatever the load.")
pp, po = p99(sweep["alone", "periodic", top]), p99(sweep["alone", "poisson", top])
lines.append(f"- At {top:.0%} load without the stressor, Poisson arrivals give P{percentile * 100:g} {po:.2f} ms against "
             f"{pp:.2f} ms for evenly spaced ones: random arrivals "
             + ("queue more, as queueing theory predicts." if po > pp else "did not queue more on this runner."))
ratio = capacity_hz["alone"] / capacity_hz[stressor]
lines.append(f"- The {stressor} stressor changed the closed-loop capacity by a factor {1 / ratio:.2f} "
             f"({capacity_hz['alone']:.0f} to {capacity_hz[stressor]:.0f} requests/s).")
lines.append(f"- One {stall_ms:g} ms stall delayed {o_hit} open-loop requests by at least {stall_ms / 2:g} ms, but "
             f"only {c_hit} closed-loop sample(s); P{percentile * 100:g} {o_over:.2f} ms open vs {c_over:.2f} ms "
             "closed. " + ("A closed-loop benchmark would have hidden the stall's cost to the user."
                           if o_hit > c_hit and o_over > c_over else
                           "Here the rest of the run's noise was as large as the stall, so both loops saw similar tails."))
base_p = p99(mit_runs["baseline"])
for name, r in mit_runs.items():
    if name == "baseline":
        continue
    d = p99(r)
    word = "better" if d < base_p * 0.9 else ("worse" if d > base_p * 1.1 else "about the same (within 10%)")
    lines.append(f"- Mitigation '{name}': P{percentile * 100:g} {d:.2f} ms vs {base_p:.2f} ms baseline: {word}.")
for name, note in mit_notes.items():
    if name not in mit_runs:
        lines.append(f"- Mitigation '{name}': {note}.")
lines.append(f"- Best configuration under the stressor: **{best}** ({vb.verdict} against {deadline_ms:g} ms).")

import math

from edgetiming.stats.compare import compare_runs

co_cmp = compare_runs(co_closed.steady_ns, co_open.response_with_drops_ns, percentile=percentile)
co_short = [f"{name} has {n} samples, P{percentile * 100:g} needs >= {needed}"
            for name, n in (("closed loop", co_closed.steady_ns.size), ("open loop", co_open.n_requests)) if n < needed]
report.metric(f"headline.stall_open_closed_{label}_ratio", co_cmp.ratio, unit="x",
              ci=(co_cmp.lower, co_cmp.upper) if co_cmp.lower > 0 and math.isfinite(co_cmp.upper) else None,
              n=int(min(co_closed.steady_ns.size, co_open.n_requests)), valid=not co_short, note="; ".join(co_short),
              description=f"P{percentile * 100:g} of an open loop at {mitigation_load:.0%} load / P{percentile * 100:g} "
                          f"of a closed loop, each with one injected {stall_ms:g} ms stall (what the closed loop hides)")
others = [n for n in mit_runs if n != "baseline"]
if "baseline" in mit_runs and others:
    head_mit = min(others, key=lambda n: p99(mit_runs[n]))
    mit_cmp = compare_runs(mit_runs["baseline"].response_with_drops_ns, mit_runs[head_mit].response_with_drops_ns,
                           percentile=percentile)
    mit_short = [f"{n_requests} requests per run, P{percentile * 100:g} needs >= {needed}"] if n_requests < needed else []
    report.metric(f"headline.best_mitigation_{label}_ratio", mit_cmp.ratio, unit="x",
                  ci=(mit_cmp.lower, mit_cmp.upper) if mit_cmp.lower > 0 and math.isfinite(mit_cmp.upper) else None,
                  n=int(min(mit_runs["baseline"].n_requests, mit_runs[head_mit].n_requests)),
                  valid=not mit_short, note="; ".join(mit_short),
                  description=f"P{percentile * 100:g} response under the {stressor} stressor with {head_mit} / "
                              f"onnxruntime defaults, Poisson arrivals at {mitigation_load:.0%} load (lower is faster)")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## On your own device
#
# ```bash
# edgetiming run recipes/tail-latency-under-load.py --runner my-board \
#     --param stressor=cpu --param stressor_processes=2 --param deadline_ms=5 \
#     --param 'load_levels=[0.3, 0.6, 0.9]'
# ```
#
# On a device with more cores, raise `stressor_processes` until the stressors cover the
# cores the inference would like to use; that is where pinning and thread counts matter.
