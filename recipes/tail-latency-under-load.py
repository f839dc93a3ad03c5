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
#     quick: {n_requests: 120, closed_iters: 150, load_levels: [0.3, 0.8], stall_ms: 100.0, rounds: 2}
#     expected_duration_s: 120
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
#
# *Longer than 350 lines because it runs four experiments on one session and one stressor: the
# load sweep in rounds, coordinated omission, the mitigations in rounds, and their checks.*

# %% tags=["parameters"]
model_path = "rapidocr:cls"  # an .onnx file, or rapidocr:det / rapidocr:rec / rapidocr:cls
input_shape = [1, 3, 48, 192]
deadline_ms = 10.0  # per-request deadline, counted from the request's intended start
percentile = 0.99
load_levels = [0.3, 0.6, 0.8]  # offered rate as a fraction of the measured capacity
mitigation_load = 0.5  # offered load at which the mitigations are compared
n_requests = 400  # requests per open-loop run (a per-round P99 needs >= 368)
rounds = 5  # every arm at every load once per round, in a randomised balanced order
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
import time

import numpy as np
import onnxruntime as ort
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from edgetiming.host.stress import stress as host_stress
from edgetiming.measure.closedloop import closed_loop, pinned_affinity
from edgetiming.measure.openloop import Periodic, Poisson, open_loop
from edgetiming.measure.rounds import arm_key, interleaved_rounds
from edgetiming.measure.session import SessionConfig, make_feeds, open_session, session_settings
from edgetiming.results import figures, report
from edgetiming.stats import quantiles as stats
from edgetiming.stats.loadcompare import (
    KEEP_UP_RULE,
    LoadComparison,
    comparison_sentence,
    deadline_verdict,
    headline_load,
    load_conclusions,
)
from edgetiming.stats.repeated import paired_ratio, repeated_quantile
from edgetiming.stats.validity import min_samples_two_sided

figures.use_style()
runner = os.environ.get("EDGETIMING_RUNNER") or "this runner"
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
# Another process on the device (`edgetiming.host.stress`): `stressor_processes` Python
# processes that spin on the CPU or stream through a `stressor_array_mb` MB array. A fresh set
# starts for each stressed run; each exits by itself after `stressor_max_s` seconds and is
# terminated when the run ends, so a failing cell never leaves one behind.

# %%
stress_log: list[tuple[str, bool]] = []  # (what ran under stress, every stressor still alive at its end)


def stress(kind, pin_to=None, label=""):
    return host_stress(kind, processes=stressor_processes, array_mb=stressor_array_mb, max_s=stressor_max_s,
                       pin_to=pin_to, log=stress_log, label=label)


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
# ## Rising arrival rates, periodic and Poisson, with and without the stressor, in rounds
#
# At each load level `n_requests` requests arrive at `level x capacity` per second, evenly
# spaced (a camera) or at Poisson-random times (users, sensors), with the model alone or next
# to the stressor. Response time counts from the *intended* start, so time spent queued behind
# a slow request is counted. Every arm runs once per **round** at every load, the rounds in a
# randomised, balanced order (a slow period of the machine hits every arm alike), and the
# Poisson arms of a round share one seeded schedule. "Periodic, alone" runs twice, as an
# **A/A arm**: its ratio is the noise floor of this run. Latency is compared only where both
# arms keep up (served rate within 2% of offered in every round).

# %%
arms = {"periodic, alone": (Periodic, None), "periodic, alone (A/A)": (Periodic, None),
        "poisson, alone": (Poisson, None), f"periodic, {stressor}": (Periodic, stressor),
        f"poisson, {stressor}": (Poisson, stressor)}


def sweep_arm(name: str, level: float):
    kind, cond = arms[name]
    rate = level * base_hz

    def measure(r: int):
        arrivals = Periodic(period_ms=1000.0 / rate) if kind is Periodic else Poisson(rate_hz=rate, seed=seed * 1000 + r)
        with stress(cond, label=f"{name} at {level:.0%}"):  # a fresh stressor per run
            return open_loop(infer, arrivals, n_requests=n_requests, deadline_ms=deadline_ms)
    return measure


by_round, order = interleaved_rounds({f"{a}@{lv:g}": sweep_arm(a, lv) for lv in load_levels for a in arms},
                                     rounds, seed=seed)
sweep = {(a, lv): by_round[f"{a}@{lv:g}"] for lv in load_levels for a in arms}  # one run per round
est = {k: repeated_quantile([r.response_with_drops_ns for r in runs], percentile).scaled(1e-6)
       for k, runs in sweep.items()}
label = f"p{percentile * 100:g}"
print(f"{'arm':<24}{'load':>6}{'P' + label[1:] + ' ms (deciding interval)':>32}{'served/offered':>16}")
for (a, lv), runs in sweep.items():
    e = est[a, lv]
    print(f"{a:<24}{lv:>6.2f}{e.value:>12.2f} [{e.lower:.2f}, {e.upper:.2f}]".ljust(62)
          + f"{min(r.served_rate_hz / r.offered_rate_hz for r in runs):>8.1%}")
    cond = "alone" if arms[a][1] is None else stressor
    key = f"open.{cond}.{arm_key(a.split(',')[0])}{'-aa' if 'A/A' in a else ''}.load{round(lv * 100)}"
    report.estimate(f"{key}.{label}_ms", e, description=f"{a}: open-loop response P{percentile * 100:g} at {lv:.0%} "
                    f"of capacity, pooled over {rounds} rounds")


def per_round(a, lv):
    return [stats.quantile(r.response_with_drops_ns, percentile) / 1e6 for r in sweep[a, lv]]


def comparison(a, b, lv, label_a, label_b):
    rates = {x: ([r.offered_rate_hz for r in sweep[x, lv]], [r.served_rate_hz for r in sweep[x, lv]]) for x in (a, b)}
    return LoadComparison(lv, paired_ratio(per_round(a, lv), per_round(b, lv), label_a=label_a, label_b=label_b),
                          paired_ratio(per_round("periodic, alone", lv), per_round("periodic, alone (A/A)", lv)),
                          {x: v[0] for x, v in rates.items()}, {x: v[1] for x, v in rates.items()}, compared=(a, b))


arrival_cmp = [comparison("periodic, alone", "poisson, alone", lv, "evenly spaced arrivals", "Poisson arrivals")
               for lv in load_levels]
stress_cmp = [comparison("poisson, alone", f"poisson, {stressor}", lv, "the model alone",
                         f"the model next to the {stressor} stressor") for lv in load_levels]

# %%
fig = Figure(figsize=(8.0, 4.5), layout="constrained")
ax = fig.subplots()
colors = {"alone": "#0072B2", stressor: "#D55E00"}
parts = []
for a in [x for x in arms if "A/A" not in x]:
    cond = "alone" if arms[a][1] is None else stressor
    ys = [est[a, lv].value for lv in load_levels]
    ax.errorbar(load_levels, ys, yerr=[[y - est[a, lv].lower for y, lv in zip(ys, load_levels)],
                                       [min(est[a, lv].upper, 1e6) - y for y, lv in zip(ys, load_levels)]],
                fmt="o-" if a.startswith("periodic") else "s--", color=colors[cond], capsize=3, label=f"open loop, {a}")
    parts.append(f"{a}: " + ", ".join(f"{lv:.0%} {y:.2f} ms" for lv, y in zip(load_levels, ys)))
for cond in conditions:
    c99 = closed[cond].quantile_ci(percentile).value / 1e6
    ax.axhline(c99, color=colors[cond], linestyle=":", linewidth=1.2, label=f"closed loop, {cond}")
    parts.append(f"closed loop {cond} {c99:.2f} ms")
ax.axhline(deadline_ms, color="#24292f", linestyle="-.", linewidth=1.0, label=f"deadline {deadline_ms:g} ms")
ax.set_yscale("log")
figures.log_ticks(ax)
ax.set_xlabel("offered load (fraction of capacity, model alone)")
ax.set_ylabel(f"response time P{percentile * 100:g} (ms, log scale)")
ax.set_title(f"P{percentile * 100:g} response time as the arrival rate rises ({rounds} rounds, deciding interval)")
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
report.figure(fig, "load-curve", alt=f"P{percentile * 100:g} response time against offered load, pooled over "
              f"{rounds} rounds: " + "; ".join(parts) + f"; deadline {deadline_ms:g} ms")

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
    figures.log_ticks(ax)
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
# ## Mitigations under the stressor, in rounds
#
# With the stressor running and Poisson arrivals at `mitigation_load` of the capacity alone,
# each configuration has its own session: the baseline (onnxruntime's defaults, twice: the
# A/A arm), one intra-op thread, one thread pinned to one core with the stressor pinned to the
# others, and thread spinning off. The configurations run once per round, in a randomised
# balanced order, on the same seeded arrivals within a round; each is compared with the
# baseline by the ratio of its P`percentile` per round.

# %%
half = max(len(cpus) // 2, 1)
mitigations = {"baseline": ({}, None, None), "baseline (A/A)": ({}, None, None),
               "1 thread": ({"intra_op_num_threads": 1}, None, None),
               "1 thread, pinned": ({"intra_op_num_threads": 1}, cpus[:half], cpus[half:] or None),
               "spinning off": ({"allow_spinning": False}, None, None)}
mit_notes, mit_arms = {}, {}
for name, (kw, mine, theirs) in mitigations.items():
    if mine is not None and (not theirs or len(cpus) < 2):
        mit_notes[name] = "not measured: pinning needs at least 2 CPUs to split"
        continue
    fn = make_session(**kw)[2]

    def measure(r, fn=fn, mine=mine, theirs=theirs, name=name):
        with stress(stressor, pin_to=theirs, label=f"mitigation {name}"), pinned_affinity(mine) as aff:
            mit_notes[name] = f"affinity {aff['applied']}" if mine else "no pinning"
            return open_loop(fn, Poisson(rate_hz=mitigation_load * base_hz, seed=seed * 1000 + 500 + r),
                             n_requests=n_requests, deadline_ms=deadline_ms)
    mit_arms[name] = measure
mit_runs, _ = interleaved_rounds(mit_arms, rounds, seed=seed + 1)
mit_est = {n: repeated_quantile([r.response_with_drops_ns for r in runs], percentile).scaled(1e-6)
           for n, runs in mit_runs.items()}


def mit_round(n):
    return [stats.quantile(r.response_with_drops_ns, percentile) / 1e6 for r in mit_runs[n]]


mit_aa = paired_ratio(mit_round("baseline"), mit_round("baseline (A/A)"), label_a="baseline", label_b="baseline (A/A)")
mit_cmp = {n: paired_ratio(mit_round("baseline"), mit_round(n), label_a="onnxruntime's defaults", label_b=f"'{n}'")
           for n in mit_runs if not n.startswith("baseline")}
for name, e in mit_est.items():
    cpu = np.mean([r.resources.cpu_s_per_inference for r in mit_runs[name]]) * 1e3
    print(f"{name:<18} P{percentile * 100:g} {e.value:7.2f} ms [{e.lower:.2f}, {e.upper:.2f}]  CPU/request "
          f"{cpu:.2f} ms  ({mit_notes[name]})")
    report.estimate(f"mitigation.{arm_key(name)}.{label}_ms", e, description=f"under the {stressor} stressor, "
                    f"{name}: P{percentile * 100:g} response at {mitigation_load:.0%} load over {rounds} rounds")
for name, note in mit_notes.items():
    if name not in mit_runs:
        print(f"{name:<18} {note}")

# %%
mit_summ = {n: stats.summarize(np.concatenate([r.response_ns for r in runs])) for n, runs in mit_runs.items()}
fig, alt = figures.compare_configs(mit_summ, percentile, deadline_ms=deadline_ms, title=f"Under the {stressor} "
                                   f"stressor: P{percentile * 100:g} response by configuration ({rounds} rounds pooled)")
report.figure(fig, "mitigations", alt=alt)

# %% [markdown]
# ## SLO checklist on this runner
#
# Open-loop verdicts at the load nearest `mitigation_load` (Poisson arrivals), alone and under
# the stressor, and for the best mitigation, from the deciding interval over rounds (no
# verdict when the estimate is invalid); dropped requests would count as misses.

# %%
lvl = min(load_levels, key=lambda lv: abs(lv - mitigation_load))
for cond in conditions:
    v, why = deadline_verdict(est[f"poisson, {cond}", lvl], deadline_ms, f"P{percentile * 100:g}")
    report.check(f"{cond}-poisson-{round(lvl * 100)}pct-{label}", v,
                 f"{cond}, Poisson arrivals at {lvl:.0%} of capacity, deadline {deadline_ms:g} ms: {why}")
best = min(mit_est, key=lambda n: mit_est[n].value)
vb, why = deadline_verdict(mit_est[best], deadline_ms, f"P{percentile * 100:g}")
report.check(f"best-mitigation-{label}", vb, f"lowest pooled P{percentile * 100:g} under the {stressor} stressor: "
             f"'{best}', deadline {deadline_ms:g} ms: {why}")
c_over, o_over = co_rows["closed loop"][percentile], co_rows["open loop"][percentile]
c_hit, o_hit = co_rows["closed loop"]["hit"], co_rows["open loop"]["hit"]
report.check("open-loop-counts-the-stall", "PASS" if o_hit >= max(2, expected_hit // 2) else "FAIL",
             f"one injected {stall_ms:g} ms stall delayed {o_hit} open-loop requests by at least {stall_ms / 2:g} ms "
             f"(about {expected_hit} were scheduled in its first half) against {c_hit} closed-loop sample(s); "
             f"P{percentile * 100:g} open {o_over:.2f} ms vs closed {c_over:.2f} ms")
needed = min_samples_two_sided(percentile)
report.check("enough-requests", "PASS" if n_requests >= needed else "FAIL",
             f"{n_requests} requests per open-loop run; a two-sided P{percentile * 100:g} interval needs at least {needed}")
for cmp in (arrival_cmp, stress_cmp):
    for pt in cmp:
        report.check(f"keeps-up.{arm_key(pt.arms[1])}.load{round(pt.load * 100)}", "PASS" if pt.all_kept_up else "FAIL",
                     f"{' and '.join(pt.arms)} at {pt.load:.0%}, {KEEP_UP_RULE}: " + ("; ".join(pt.saturated()) or "both did"))
died = [what for what, alive in stress_log if not alive]
report.check("stressor-ran-throughout", "PASS" if not died else "FAIL",
             f"{len(stress_log) - len(died)} of {len(stress_log)} stressed runs had every stressor running at their end"
             + (f"; it had exited during: {', '.join(died)} (raise stressor_max_s)" if died else ""))
worst_lag = max(float(r.dispatch_lag_ns.max()) for runs in sweep.values() for r in runs) / 1e6
report.check("dispatcher-on-time", "PASS" if worst_lag < deadline_ms / 2 else "FAIL",
             f"the largest delay between a request's intended start and its dispatch was {worst_lag:.2f} ms "
             "(the harness itself must not be what is late)")

# %% [markdown]
# ## Conclusion on this runner
#
# Generated from the ratios over rounds above and their A/A noise floor, not written in advance.

# %%
q = f"P{percentile * 100:g}"
lines = [f"- Poisson against evenly spaced arrivals, model alone. {ln}" for ln in load_conclusions(
    arrival_cmp, q, runner=runner, load_label="load")]
lines += [f"- The {stressor} stressor, Poisson arrivals. {ln}" for ln in load_conclusions(
    stress_cmp, q, runner=runner, load_label="load")]
lines.append(f"- The closed loop reports P{percentile * 100:g} {closed['alone'].quantile_ci(percentile).value / 1e6:.2f} ms "
             f"alone whatever the load; the {stressor} stressor changed its capacity by a factor "
             f"{capacity_hz[stressor] / capacity_hz['alone']:.2f} ({capacity_hz['alone']:.0f} to "
             f"{capacity_hz[stressor]:.0f} requests/s, one run each).")
lines.append(f"- One {stall_ms:g} ms stall delayed {o_hit} open-loop requests by at least {stall_ms / 2:g} ms, but "
             f"only {c_hit} closed-loop sample(s); {q} {o_over:.2f} ms open vs {c_over:.2f} ms closed (one run each)."
             + (" A closed-loop benchmark would have hidden the stall's cost to the user." if o_hit > c_hit else ""))
lines += [f"- Mitigation under the stressor: {comparison_sentence(r, mit_aa, q, runner=runner)}" for r in mit_cmp.values()]
lines += [f"- Mitigation '{n}': {note}." for n, note in mit_notes.items() if n not in mit_runs]
for head_name, cmp, what in (("poisson_vs_periodic", arrival_cmp, "Poisson / evenly spaced arrivals, model alone"),
                             ("stressor_vs_alone", stress_cmp, f"with the {stressor} stressor / alone, Poisson arrivals")):
    h = headline_load(cmp)
    iv = h.ratio.interval if h else None
    report.metric(f"headline.{head_name}_{label}_ratio", h.ratio.ratio if h else None, unit="x",
                  runs=rounds, ci=(iv.lower, iv.upper) if iv and iv.known else None,
                  note=comparison_sentence(h.ratio, h.aa, q, runner=runner) if h else "",
                  invalid_because=([] if h else [f"no load at which both arms kept up ({KEEP_UP_RULE})"])
                  + ([f"{n_requests} requests per round: a per-round {q} needs >= {needed}"] if n_requests < needed else []),
                  description=f"{q} response {what}, per round over {rounds} rounds, at "
                  + (f"{h.load:.0%} of capacity, the highest load both kept up with" if h else "no load (none kept up)"))
    lines.append(f"- Headline ({what}): " + (f"{h.load:.0%} of capacity, the highest load at which both arms kept up."
                                             if h else "none; at no load did both arms keep up."))
if mit_cmp:
    head_mit = min(mit_cmp, key=lambda n: mit_cmp[n].ratio)
    r, iv = mit_cmp[head_mit], mit_cmp[head_mit].interval
    report.metric(f"headline.best_mitigation_{label}_ratio", r.ratio, unit="x", runs=r.rounds,
                  ci=(iv.lower, iv.upper) if iv.known else None, note=comparison_sentence(r, mit_aa, q, runner=runner),
                  invalid_because=[f"{n_requests} requests per round: a per-round {q} needs >= {needed}"]
                  if n_requests < needed else [],
                  description=f"{q} response under the {stressor} stressor with {head_mit} / onnxruntime defaults, "
                  f"Poisson arrivals at {mitigation_load:.0%} load, per round over {rounds} rounds (lower is faster)")
report.metric(f"headline.aa_{label}_ratio", arrival_cmp[0].aa.ratio, unit="x", runs=rounds,
              ci=(arrival_cmp[0].aa.interval.lower, arrival_cmp[0].aa.interval.upper)
              if arrival_cmp[0].aa.interval.known else None,
              invalid_because=[f"{n_requests} requests per round: a per-round {q} needs >= {needed}"]
              if n_requests < needed else [],
              description=f"A/A: {q} of evenly spaced arrivals alone measured twice in the same rounds, at "
              f"{load_levels[0]:.0%} load: the noise floor of this run")
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
