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

import numpy as np
import onnxruntime as ort
from IPython.display import Markdown, display

from edgetiming.host.stress import stress as host_stress
from edgetiming.measure.closedloop import closed_loop, pinned_affinity
from edgetiming.measure import noise, omission
from edgetiming.measure.openloop import Periodic, Poisson, open_loop
from edgetiming.measure.rounds import arm_key, interleaved_rounds
from edgetiming.measure.session import SessionConfig, make_feeds, open_session, session_settings
from edgetiming.results import figures, report
from edgetiming.stats import loadcompare as lc
from edgetiming.stats import quantiles as stats
from edgetiming.stats.repeated import paired_ratio, repeated_quantile
from edgetiming.stats.validity import min_samples_two_sided

figures.use_style()
runner = os.environ.get("EDGETIMING_RUNNER") or "this runner"
cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
q, label = f"P{percentile * 100:g}", f"p{percentile * 100:g}"  # for sentences, for metric names
needed = min_samples_two_sided(percentile)
too_few = [f"{n_requests} requests per round: a per-round {q} needs >= {needed}"] if n_requests < needed else []
print(f"onnxruntime {ort.__version__}; CPUs this process may use: {cpus or 'unknown'}")


def make_session(**kw):
    cfg = SessionConfig(intra_op_num_threads=kw.pop("intra_op_num_threads", intra_op_threads or None), **kw)
    sess = open_session(model_path, cfg)
    feeds = make_feeds(sess, {sess.get_inputs()[0].name: tuple(input_shape)}, seed=seed)
    return sess, (lambda: sess.run(None, feeds))


def pooled(runs):  # the P`percentile` in ms over rounds: pooled value, deciding interval, state
    return repeated_quantile([r.response_with_drops_ns for r in runs], percentile).scaled(1e-6)


def per_round(runs):  # one P`percentile` in ms per round, for the paired ratios
    return [stats.quantile(r.response_with_drops_ns, percentile) / 1e6 for r in runs]


session, infer = make_session()
print("baseline settings:", {k: v for k, v in session_settings(session).items()
                             if k in ("intra_op_num_threads", "allow_spinning", "intra_op_thread_affinities")})

# %% [markdown]
# ## A stressor the recipe owns
#
# Another process on the device (`edgetiming.host.stress`): `stressor_processes` processes that
# spin on the CPU or stream through a `stressor_array_mb` MB array. A fresh set starts for each
# stressed run, ends with it, and exits by itself after `stressor_max_s` seconds in any case.

# %%
stress_log: list[tuple[str, bool]] = []  # (what ran under stress, every stressor still alive at its end)


def stress(kind, pin_to=None, label=""):  # a fresh set of stressors (none when kind is None)
    return host_stress(kind, processes=stressor_processes, array_mb=stressor_array_mb, max_s=stressor_max_s,
                       pin_to=pin_to, log=stress_log, label=label)


conditions = {"alone": None, stressor: stressor}  # the model alone, then next to the stressor

# %% [markdown]
# ## Capacity: the closed loop
#
# The closed loop gives the service time and so the most requests a second one worker can serve
# (1 / mean service time), alone and next to the stressor. Every offered rate below is a fraction
# of the capacity of the model *alone*.

# %%
closed = {}
for cond, kind in conditions.items():
    with stress(kind, label=f"closed loop, {cond}"):
        closed[cond] = closed_loop(infer, warmup_iters=20, iters=closed_iters)
    closed[cond].report(f"closed.{cond}")
capacity_hz = {c: 1e9 / float(r.steady_ns.mean()) for c, r in closed.items()}
base_hz = capacity_hz["alone"]
report.metric("capacity_hz", base_hz, unit="Hz", description="1 / mean closed-loop service time, model alone")

# %% [markdown]
# ## Rising arrival rates, periodic and Poisson, with and without the stressor, in rounds
#
# At each load level `n_requests` requests arrive at `level x capacity` per second, evenly spaced
# (a camera) or at Poisson-random times (users, sensors), with the model alone or next to the
# stressor. Response time counts from the *intended* start, so time queued behind a slow request
# counts. Every arm runs once per **round** at every load, in a randomised, balanced order (a slow
# period of the machine hits every arm alike); the Poisson arms of a round share one seeded
# schedule. "Periodic, alone" runs twice, as an **A/A arm**: its ratio is this run's noise floor.
# Latency is compared only where both arms keep up (served within 2% of offered in every round).

# %%
arms = {"periodic, alone": (Periodic, None), "periodic, alone (A/A)": (Periodic, None),
        "poisson, alone": (Poisson, None), f"periodic, {stressor}": (Periodic, stressor),
        f"poisson, {stressor}": (Poisson, stressor)}
cond_of = {a: "alone" if c is None else stressor for a, (_, c) in arms.items()}


def sweep_arm(name: str, level: float):
    kind, cond = arms[name]
    rate = level * base_hz

    def measure(r: int):
        arrivals = Periodic(period_ms=1000.0 / rate) if kind is Periodic else Poisson(rate_hz=rate, seed=seed * 1000 + r)
        with stress(cond, label=f"{name} at {level:.0%}"):  # a fresh stressor per run
            return open_loop(infer, arrivals, n_requests=n_requests, deadline_ms=deadline_ms)
    return measure


by_round, _ = interleaved_rounds({f"{a}@{lv:g}": sweep_arm(a, lv) for lv in load_levels for a in arms},
                                 rounds, seed=seed)
sweep = {(a, lv): by_round[f"{a}@{lv:g}"] for lv in load_levels for a in arms}  # one run per round
est = {k: pooled(runs) for k, runs in sweep.items()}
for (a, lv), e in est.items():
    key = f"open.{cond_of[a]}.{arm_key(a.split(',')[0])}{'-aa' if 'A/A' in a else ''}.load{round(lv * 100)}"
    report.estimate(f"{key}.{label}_ms", e, description=f"{a}: open-loop response {q} at {lv:.0%} "
                    f"of capacity, pooled over {rounds} rounds")
fig, alt = noise.figure([r for rs in sweep.values() for r in rs], labels=[a for (a, _), rs in sweep.items() for _ in rs],
                        deadline_ms=deadline_ms, title="The sweep in time: response per arm; other work includes our stressor")
report.figure(fig, "noise", alt=alt)


def comparison(a, b, lv, label_a, label_b):
    rs = {x: sweep[x, lv] for x in (a, b)}
    ratio = paired_ratio(per_round(rs[a]), per_round(rs[b]), label_a=label_a, label_b=label_b)
    aa = paired_ratio(per_round(sweep["periodic, alone", lv]), per_round(sweep["periodic, alone (A/A)", lv]))
    return lc.LoadComparison(lv, ratio, aa, {x: [r.offered_rate_hz for r in v] for x, v in rs.items()},
                             {x: [r.served_rate_hz for r in v] for x, v in rs.items()}, compared=(a, b))


arrival_cmp = [comparison("periodic, alone", "poisson, alone", lv, "evenly spaced arrivals", "Poisson arrivals")
               for lv in load_levels]
stress_cmp = [comparison("poisson, alone", f"poisson, {stressor}", lv, "the model alone",
                         f"the model next to the {stressor} stressor") for lv in load_levels]

# %%
colors = {"alone": "#0072B2", stressor: "#D55E00"}
fig, alt = figures.load_curve(
    load_levels, [(f"open loop, {a}", [est[a, lv] for lv in load_levels], colors[cond_of[a]],
                   "o-" if a.startswith("periodic") else "s--") for a in arms if "A/A" not in a],
    lines=[(f"closed loop, {c}", closed[c].quantile_ci(percentile).value / 1e6, colors[c]) for c in conditions],
    deadline_ms=deadline_ms, quantity=q, xlabel="offered load (fraction of capacity, model alone)",
    title=f"{q} response time as the arrival rate rises ({rounds} rounds, deciding interval)")
report.figure(fig, "load-curve", alt=alt)

# %% [markdown]
# ## Coordinated omission, concretely
#
# The same model, with one injected `stall_ms` pause in the middle of the run (a page fault,
# a garbage collection, a preempted thread). The closed loop records it as one slow sample
# among hundreds; the open loop at `mitigation_load` of capacity keeps scheduling requests
# during the stall, and every one of them waits (`edgetiming.measure.omission.stall_demo`).

# %%
co = omission.stall_demo(infer, stall_ms=stall_ms, rate_hz=mitigation_load * base_hz, closed_iters=closed_iters,
                         n_requests=n_requests, deadline_ms=deadline_ms)
co.closed.report("co.closed")
co.open.report("co.open")
c_hit, o_hit = co.delayed("closed loop"), co.delayed("open loop")
c_over, o_over = co.quantile_ms("closed loop", percentile), co.quantile_ms("open loop", percentile)
report.metric("co.closed_delayed_requests", c_hit, n=int(co.closed.steady_ns.size),
              description=f"closed-loop samples >= half the injected {stall_ms:g} ms stall")
report.metric("co.open_delayed_requests", o_hit, n=co.open.n_requests,
              description=f"open-loop requests delayed >= half the injected {stall_ms:g} ms stall")
fig, alt = figures.stall_timelines(
    [("Closed loop: the stall is one sample", co.closed.steady_ns, closed_iters // 2 - 1, "iteration (count, in order)"),
     (f"Open loop at {mitigation_load:.0%} load: requests scheduled during the stall wait",
      co.open.response_with_drops_ns, n_requests // 2 - 1, "request (count, in order)")],
    stall_ms=stall_ms, percentile=percentile, deadline_ms=deadline_ms,
    note=f"About {co.expected_delayed} requests were scheduled during the first half of the stall.")
report.figure(fig, "coordinated-omission", alt=alt)

# %% [markdown]
# ## Mitigations under the stressor, in rounds
#
# With the stressor running and Poisson arrivals at `mitigation_load` of the capacity alone, each
# configuration has its own session: the baseline (onnxruntime's defaults, twice: the A/A arm),
# one intra-op thread, one thread pinned to one core with the stressor pinned to the others, and
# thread spinning off. They run once per round in a randomised balanced order, on the same seeded
# arrivals within a round; each is compared with the baseline by its P`percentile` ratio per round.

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
    fn = make_session(**kw)[1]

    def measure(r, fn=fn, mine=mine, theirs=theirs, name=name):
        with stress(stressor, pin_to=theirs, label=f"mitigation {name}"), pinned_affinity(mine) as aff:
            mit_notes[name] = f"affinity {aff['applied']}" if mine else "no pinning"
            return open_loop(fn, Poisson(rate_hz=mitigation_load * base_hz, seed=seed * 1000 + 500 + r),
                             n_requests=n_requests, deadline_ms=deadline_ms)
    mit_arms[name] = measure
mit_runs, _ = interleaved_rounds(mit_arms, rounds, seed=seed + 1)
mit_est = {n: pooled(runs) for n, runs in mit_runs.items()}
mit_aa = paired_ratio(per_round(mit_runs["baseline"]), per_round(mit_runs["baseline (A/A)"]), label_a="baseline",
                      label_b="baseline (A/A)")
mit_cmp = {n: paired_ratio(per_round(mit_runs["baseline"]), per_round(runs), label_a="onnxruntime's defaults",
                           label_b=f"'{n}'") for n, runs in mit_runs.items() if not n.startswith("baseline")}
for name, e in mit_est.items():
    report.estimate(f"mitigation.{arm_key(name)}.{label}_ms", e, description=f"under the {stressor} stressor, "
                    f"{name}: {q} response at {mitigation_load:.0%} load over {rounds} rounds")
    mit_notes[name] += f", CPU/request {np.mean([r.resources.cpu_s_per_inference for r in mit_runs[name]]) * 1e3:.2f} ms"
print(mit_notes)

# %%
mit_summ = {n: stats.summarize(np.concatenate([r.response_ns for r in runs])) for n, runs in mit_runs.items()}
fig, alt = figures.compare_configs(mit_summ, percentile, deadline_ms=deadline_ms, title=f"Under the {stressor} "
                                   f"stressor: {q} response by configuration ({rounds} rounds pooled)")
report.figure(fig, "mitigations", alt=alt)

# %% [markdown]
# ## SLO checklist on this runner
#
# Open-loop verdicts at the load nearest `mitigation_load` (Poisson arrivals), alone and under
# the stressor, and for the best mitigation, from the deciding interval over rounds (no
# verdict when the estimate is invalid); dropped requests would count as misses.

# %%
lvl = min(load_levels, key=lambda lv: abs(lv - mitigation_load))
best = min(mit_est, key=lambda n: mit_est[n].value)
for name, e, what in [(f"{c}-poisson-{round(lvl * 100)}pct-{label}", est[f"poisson, {c}", lvl],
                       f"{c}, Poisson arrivals at {lvl:.0%} of capacity") for c in conditions] + [
        (f"best-mitigation-{label}", mit_est[best], f"lowest pooled {q} under the {stressor} stressor: '{best}'")]:
    v, why = lc.deadline_verdict(e, deadline_ms, q)
    report.check(name, v, f"{what}, deadline {deadline_ms:g} ms: {why}")
report.check("open-loop-counts-the-stall", "PASS" if co.open_loop_counts_stall else "FAIL",
             f"one injected {stall_ms:g} ms stall delayed {o_hit} open-loop requests by at least {stall_ms / 2:g} ms "
             f"(about {co.expected_delayed} were scheduled in its first half) against {c_hit} closed-loop sample(s); "
             f"{q} open {o_over:.2f} ms vs closed {c_over:.2f} ms")
report.check("enough-requests", "PASS" if n_requests >= needed else "FAIL",
             f"{n_requests} requests per open-loop run; a two-sided {q} interval needs at least {needed}")
for pt in arrival_cmp + stress_cmp:
    report.check(f"keeps-up.{arm_key(pt.arms[1])}.load{round(pt.load * 100)}", "PASS" if pt.all_kept_up else "FAIL",
                 f"{' and '.join(pt.arms)} at {pt.load:.0%}, {lc.KEEP_UP_RULE}: {'; '.join(pt.saturated()) or 'both did'}")
died = [what for what, alive in stress_log if not alive]
report.check("stressor-ran-throughout", "PASS" if not died else "FAIL",
             f"{len(stress_log) - len(died)} of {len(stress_log)} stressed runs had every stressor running at their end"
             + (f"; it had exited during: {', '.join(died)} (raise stressor_max_s)" if died else ""))
worst_lag = max(float(r.dispatch_lag_ns.max()) for runs in sweep.values() for r in runs) / 1e6
report.check("dispatcher-on-time", "PASS" if worst_lag < deadline_ms / 2 else "FAIL",
             f"the largest delay between a request's intended start and its dispatch was {worst_lag:.2f} ms "
             "(the harness itself must not be what is late)")

# %% [markdown]
# ## Conclusion on this runner (from the ratios over rounds and their A/A floor, not written in advance)

# %%
lines = [f"- Poisson against evenly spaced arrivals, model alone. {ln}"
         for ln in lc.load_conclusions(arrival_cmp, q, runner=runner)]
lines += [f"- The {stressor} stressor, Poisson arrivals. {ln}" for ln in lc.load_conclusions(stress_cmp, q, runner=runner)]
lines.append(f"- The closed loop reports {q} {closed['alone'].quantile_ci(percentile).value / 1e6:.2f} ms alone whatever "
             f"the load; the {stressor} stressor changed its capacity by a factor {capacity_hz[stressor] / base_hz:.2f} "
             f"({base_hz:.0f} to {capacity_hz[stressor]:.0f} requests/s, one run each).")
lines.append(f"- One {stall_ms:g} ms stall delayed {o_hit} open-loop requests by at least {stall_ms / 2:g} ms, but "
             f"only {c_hit} closed-loop sample(s); {q} {o_over:.2f} ms open vs {c_over:.2f} ms closed (one run each)."
             + (" A closed-loop benchmark would have hidden the stall's cost to the user." if o_hit > c_hit else ""))
lines += [f"- Mitigation under the stressor: {lc.comparison_sentence(r, mit_aa, q, runner=runner)}"
          for r in mit_cmp.values()] + [f"- Mitigation '{n}': {m}." for n, m in mit_notes.items() if n not in mit_runs]
for head_name, cmp, what in (("poisson_vs_periodic", arrival_cmp, "Poisson / evenly spaced arrivals, model alone"),
                             ("stressor_vs_alone", stress_cmp, f"with the {stressor} stressor / alone, Poisson arrivals")):
    h, fields = lc.headline_load(cmp), lc.headline_fields(cmp, q, runner=runner)
    where = f"{h.load:.0%} of capacity, the highest load at which both arms kept up" if h else "no load (none kept up)"
    report.metric(f"headline.{head_name}_{label}_ratio", unit="x", **fields | {"invalid_because": fields[
        "invalid_because"] + too_few}, description=f"{q} response {what}, per round over {rounds} rounds, at {where}")
    lines.append(f"- Headline ({what}): {where}.")
if mit_cmp:
    head_mit = min(mit_cmp, key=lambda n: mit_cmp[n].ratio)
    r = mit_cmp[head_mit]
    report.metric(f"headline.best_mitigation_{label}_ratio", r.ratio, unit="x", runs=r.rounds, ci=r.interval.bounds,
                  note=lc.comparison_sentence(r, mit_aa, q, runner=runner), invalid_because=too_few,
                  description=f"{q} response under the {stressor} stressor with {head_mit} / onnxruntime defaults, "
                  f"Poisson arrivals at {mitigation_load:.0%} load, per round over {rounds} rounds (lower is faster)")
aa = arrival_cmp[0].aa
report.metric(f"headline.aa_{label}_ratio", aa.ratio, unit="x", runs=rounds, ci=aa.interval.bounds,
              invalid_because=too_few, description=f"A/A: {q} of evenly spaced arrivals alone measured twice in the "
              f"same rounds, at {load_levels[0]:.0%} load: the noise floor of this run")
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
