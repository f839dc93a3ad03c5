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
#     quick: {window: 150, baseline_windows: 5, regression_windows: 5, calibration_iters: 300, consecutive: 2, history: 4, build_iters: 100, build_runs: 3}
#     expected_duration_s: 90
#     timeout_cell_s: 600
# ---

# %% [markdown]
# # Monitoring on the device and catching regressions
#
# Benchmarks end; a deployed model keeps running. You will learn how a device can watch its
# own latency for days in a fixed amount of memory (mergeable HdrHistograms, one per window,
# merged into a running total), and why an alert rule should fire on the window's *lower*
# confidence bound for several windows in a row rather than on the window's raw P99: the raw
# rule pages someone on noise, the bounded rule stays quiet on noise and still catches a real
# slowdown within a few windows. The second half is the release gate: each build is timed in
# several fresh processes and compared over processes, so an identical build is flagged at
# about the nominal 5% and a deliberately slowed one is caught.
# The model, the PP-OCRv4 angle classifier, answers in milliseconds: many windows per minute.

# %% tags=["parameters"]
model_path = "rapidocr:cls"  # an .onnx file, or rapidocr:det / rapidocr:rec / rapidocr:cls
input_shape = [1, 3, 48, 192]  # N, C, H, W of the model's image input
percentile = 0.99  # the monitored percentile
confidence = 0.95  # one-sided confidence of each window's bounds
window = 500  # samples per monitoring window
baseline_windows = 20  # windows of the unchanged model
regression_windows = 20  # windows after the deliberately slowed build is deployed
calibration_iters = 1000  # closed-loop run that sets the alert threshold
threshold_factor = 1.25  # alert threshold = threshold_factor x the calibration run's P99
consecutive = 3  # windows in a row the bounded rule needs before it fires
history = 10  # window summaries the monitor keeps (older ones are dropped)
slowdown = 1.0  # the slowed build: each call sleeps slowdown x its own duration more (1.0 = 2x)
compare_percentile = 0.5  # the percentile the release gate compares
build_runs = 5  # fresh processes per build in the release gate (R >= 5)
build_iters = 300  # timed calls per process
intra_op_threads = 0  # 0 lets onnxruntime choose
seed = 0

# %%
import os
import time

import numpy as np
import onnxruntime as ort
import pandas as pd
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from edgetiming.measure import monitor as mon
from edgetiming.measure import noise
from edgetiming.measure.builds import Build, run_builds
from edgetiming.measure.closedloop import closed_loop, timing_gc_off
from edgetiming.measure.session import SessionConfig, make_feeds, open_session
from edgetiming.results import figures, report
from edgetiming.stats import quantiles as stats
from edgetiming.stats import validity
from edgetiming.workload.models import resolve, sha256_file

figures.use_style()
runner = os.environ.get("EDGETIMING_RUNNER") or "this runner"
P, PC = f"P{percentile * 100:g}", f"P{compare_percentile * 100:g}"
path = resolve(model_path)
config = SessionConfig(intra_op_num_threads=intra_op_threads or None)
session = open_session(path, config)
feeds = make_feeds(session, {session.get_inputs()[0].name: tuple(input_shape)}, seed=seed)
print(f"model: {path.name} (sha256 {sha256_file(path)[:12]}...), onnxruntime {ort.__version__}")


def baseline_call():
    session.run(None, feeds)


def slowed_call():
    """The same call plus a sleep of `slowdown` x its own duration (a sleep: a busy wait would steal the CPU)."""
    t0 = time.perf_counter_ns()
    baseline_call()
    time.sleep(slowdown * (time.perf_counter_ns() - t0) / 1e9)


# %% [markdown]
# ## The alert threshold
#
# A real deployment takes its threshold from the application's SLO. To mean the same on any
# device, this recipe sets it at `threshold_factor` times the P99 of a calibration run of the
# unchanged model, measured right before the stream.

# %%
calib = closed_loop(baseline_call, warmup_iters=50, iters=calibration_iters)
calib.report("calibration")
threshold_ms = threshold_factor * calib.quantile_ci(percentile).value / 1e6
report.metric("threshold_ms", threshold_ms, unit="ms",
              description=f"alert threshold: {threshold_factor:g} x the calibration {P}")

# %% [markdown]
# ## A monitored stream: the unchanged model, then a slowed build
#
# The model serves `baseline_windows` windows of `window` calls, then the slowed build is
# "deployed" and serves `regression_windows` more. Every latency goes into the monitor: one
# HdrHistogram for the open window (3 significant digits, 1 us to 60 s), one for the merged
# total, and the last `history` window summaries. Two rules watch it: **naive** (the window's
# P99 estimate above the threshold, one window is enough) and **bounded** (the window's P99
# *lower* confidence bound above it for `consecutive` windows in a row). The raw samples are
# kept too, only to check the monitor against them.

# %%
rules = {"naive": mon.AlertRule(threshold_ms, consecutive=1, use_lower_bound=False),
         "bounded": mon.AlertRule(threshold_ms, consecutive=consecutive)}
monitor = mon.LatencyMonitor(window=window, percentile=percentile, confidence=confidence, rules=rules, history=history)
raw, closed, mem_track, record_ns = [], [], [], []
with timing_gc_off():
    for k in range(baseline_windows + regression_windows):
        fn = baseline_call if k < baseline_windows else slowed_call
        lat = closed_loop(fn, warmup_iters=0, iters=window, overhead=False).latency_ns
        t0 = time.perf_counter_ns()
        closed += monitor.record_many(lat)
        record_ns.append((time.perf_counter_ns() - t0) / lat.size)
        raw.append(lat)
        mem_track.append((sum(x.size for x in raw), monitor.memory_bytes(), 8 * sum(x.size for x in raw)))
stream = np.concatenate(raw)
win = pd.DataFrame([w.to_dict() | {f"{kind}.{r}": getattr(w, kind)[r] for r in rules for kind in ("over", "firing")}
                    for w in closed]).drop(columns=["over", "firing"])
win["upper_ms"] = win["upper_ms"].astype(float)  # None (window too short to bound) -> NaN
win["phase"] = np.where(win["index"] < baseline_windows, "unchanged", "slowed")
false_alarms = {r: [i for i in mon.episodes(win[f"firing.{r}"]) if i < baseline_windows] for r in rules}
caught = {r: win.loc[(win.phase == "slowed") & win[f"firing.{r}"], "index"].tolist() for r in rules}
delay = {r: (caught[r][0] - baseline_windows + 1) if caught[r] else None for r in rules}
for r, rule in rules.items():
    print(f"{r:<8} ({rule.describe()}): {len(false_alarms[r])} alert(s) on the unchanged model, "
          + (f"fired {delay[r]} window(s) after the slowed build arrived" if caught[r] else "never fired"))
    report.metric(f"alerts.{r}.false_alarms", len(false_alarms[r]),
                  description=f"alerts raised on the unchanged model's {baseline_windows} windows ({rule.describe()})")
    report.metric(f"alerts.{r}.detection_windows", delay[r],
                  description="windows after the slowed build's deployment until the rule fired (None: never)")
report.samples("stream", stream, description=f"latency per call of the monitored stream, int64 ns: {baseline_windows} "
               f"windows of {window} unchanged, then {regression_windows} windows of the slowed build")

# %%
ax = (fig := Figure(figsize=(8.5, 4.6), layout="constrained")).subplots()
x = win["index"].to_numpy()
ax.fill_between(x, win["lower_ms"], win["upper_ms"].fillna(win["value_ms"]), step="mid", color=figures.PALETTE[5],
                alpha=0.35, label=f"{P} {confidence:.0%} one-sided bounds")
ax.step(x, win["value_ms"], where="mid", color=figures.PALETTE[0], label=f"window {P}")
ax.step(x, win["p50_ms"], where="mid", color=figures.PALETTE[2], label="window P50")
ax.axhline(threshold_ms, color="#24292f", linestyle="-.", linewidth=1.0, label=f"threshold {threshold_ms:.2f} ms")
ax.axvline(baseline_windows - 0.5, color=figures.PALETTE[4], linestyle="--", label="slowed build deployed")
for col, mk, c, label in (("over.naive", "x", 1, "naive rule over"), ("firing.bounded", "v", 3, "bounded rule firing")):
    ax.plot(win.loc[win[col], "index"], win.loc[win[col], "value_ms"], mk, color=figures.PALETTE[c], markersize=7, label=label)
ax.set(yscale="log", xlabel=f"window ({window} calls each)", ylabel="latency (ms, log scale)",
       title="Rolling percentiles and two alert rules")
figures.log_ticks(ax)
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
rng_ms = {ph: win.loc[win.phase == ph, "value_ms"].agg(["min", "max"]).tolist() for ph in ("unchanged", "slowed")}
report.figure(fig, "rolling-percentiles", alt=(
    f"P50 and {P} of {len(win)} windows of {window} calls with one-sided {confidence:.0%} bounds; threshold "
    f"{threshold_ms:.2f} ms; unchanged model in windows 0-{baseline_windows - 1} (window {P} "
    f"{rng_ms['unchanged'][0]:.2f}-{rng_ms['unchanged'][1]:.2f} ms), slowed build from window {baseline_windows} "
    f"({rng_ms['slowed'][0]:.2f}-{rng_ms['slowed'][1]:.2f} ms). Naive rule over the threshold in "
    f"{int(win['over.naive'].sum())} windows ({len(false_alarms['naive'])} false alarms); bounded rule: "
    f"{len(false_alarms['bounded'])} false alarms, "
    + (f"fired {delay['bounded']} windows after deployment." if caught["bounded"] else "did not fire.")))

# %% [markdown]
# ## Is the histogram right, and does memory stay bounded?
#
# The merged histogram's percentiles against the exact nearest-rank percentiles of the raw
# samples (3 significant digits means within 0.1%), and the monitor's memory after every
# window against what keeping the raw int64 samples would cost.

# %%
total = monitor.total
accuracy = pd.DataFrame([
    {"percentile": f"P{p * 100:g}", "histogram_ms": hv / 1e6, "exact_ms": ex / 1e6, "relative_error": abs(hv - ex) / ex}
    for p in (0.5, 0.9, 0.99, 0.999) if stream.size >= stats.min_samples(p)
    for hv, ex in [(mon.quantile_bounds(total, p, confidence)[1], stats.quantile(stream, p))]])
max_err = float(accuracy["relative_error"].max())
mem = pd.DataFrame(mem_track, columns=["samples", "monitor_bytes", "raw_bytes"])
encoded, hist_bytes = len(total.encode()), mon.histogram_bytes(total)
growth = int(mem["monitor_bytes"].iloc[-1] - mem["monitor_bytes"].iloc[history - 1]) if len(mem) > history else None
record_us = float(np.median(record_ns)) / 1e3
kib = {k: mem[k].iloc[-1] / 1024 for k in ("monitor_bytes", "raw_bytes")}
print(f"{total.get_total_count():,} samples in {hist_bytes / 1024:.0f} KiB of counters ({encoded:,} bytes compressed); "
      f"largest percentile error {max_err:.3%}; monitor {kib['monitor_bytes']:.0f} KiB, raw samples "
      f"{kib['raw_bytes']:.0f} KiB; recording costs {record_us:.1f} us per sample")
for name, value, unit, desc in (
        ("histogram_kib", hist_bytes / 1024, "KiB", "one histogram's counter array"),
        ("encoded_bytes", encoded, "B", "the merged histogram, compressed (HdrHistogram wire format)"),
        ("record_us", record_us, "us", "median cost of recording one sample (Python)"),
        ("max_percentile_error", max_err, "", "largest relative error of a histogram percentile")):
    report.metric(f"monitor.{name}", value, unit=unit, description=desc)
accuracy.round(5)

# %%
rate_hz = 1e9 / float(np.median(stream))
crossover = int(mem["monitor_bytes"].iloc[-1] // 8)  # calls after which raw int64 samples take more memory
day, last = int(rate_hz * 86400), mem["samples"].iloc[-1]
ax = (fig := Figure(figsize=(7.5, 4.0), layout="constrained")).subplots()
for col, color, marker, what in (("raw_bytes", 3, "o", "raw int64 samples"), ("monitor_bytes", 0, "s-",
                                                                             f"monitor (2 histograms + {history} summaries)")):
    ax.plot(mem["samples"], mem[col] / 1024, marker, markersize=3, color=figures.PALETTE[color], label=f"{what}, measured")
    end = 8 * day if col == "raw_bytes" else mem[col].iloc[-1]
    ax.plot([last, day], [mem[col].iloc[-1] / 1024, end / 1024], "--", color=figures.PALETTE[color],
            label=f"{what}, continued to one day")
ax.axvline(day, color="#57606a", linestyle=":", linewidth=1.0, label=f"one day at this runner's rate ({day:,} calls)")
ax.set(xscale="log", yscale="log", xlabel="samples recorded (count, log scale)", ylabel="memory (KiB, log scale)",
       title="Memory: the monitor stays flat, raw samples grow")
ax.legend(loc="upper left", fontsize=8)
report.figure(fig, "memory", alt=(
    f"Memory against samples recorded on log scales: raw samples grow linearly, {kib['raw_bytes']:.0f} KiB after the "
    f"{last:,} samples of this run and {8 * day / 2**20:,.0f} MiB for one day of calls at this runner's rate; the "
    f"monitor measured {mem['monitor_bytes'].iloc[0] / 1024:.0f} KiB after one window and {kib['monitor_bytes']:.0f} "
    f"KiB at the end (two {hist_bytes / 1024:.0f} KiB histograms plus at most {history} window summaries)."))

# %% [markdown]
# ## The release gate: is a new build slower?
#
# A release gate compares two separate measurements, so its evidence must be over
# *processes*: the samples of one process are not independent, and a fresh process draws from
# a shifted distribution. Each build is timed in `build_runs` fresh processes of
# `build_iters` calls, the processes of all builds in a randomised, balanced order, and each
# build's per-process P`compare_percentile`s are compared with the baseline's (Welch's t
# interval on their logarithms, `edgetiming.stats.repeated.regression`). "Slower" needs the
# whole 95% interval above 1. The builds: **A** (the baseline), **A'** (an identical build:
# the A/A pair, the gate's noise floor; it must not be flagged), **B** (slowed, the same
# injected sleep as in the stream; it must be caught) and **1 thread** (a real configuration
# change). After every tenth of its calls each process also times a fixed sentinel workload (a
# step the sentinel shows too is the machine's, one that remains in sentinel units is the build's)
# and reads the share of the CPUs other work held; the noise figure draws both beside every call.

# %%
builds = [Build("A", path, config), Build("A'", path, config), Build("B (slowed)", path, config, slowdown=slowdown),
          Build("1 thread", path, SessionConfig(intra_op_num_threads=1))]
slug = {"A'": "identical", "B (slowed)": "slowed", "1 thread": "one_thread"}
gate = run_builds(builds, input_shapes={session.get_inputs()[0].name: tuple(input_shape)}, runs=build_runs,
                  iters=build_iters, seed=seed)
verdicts = {k: gate.verdict("A", k, compare_percentile) for k in slug}
whose = {k: gate.whose("A", k, compare_percentile) for k in slug}  # the sentinel timed in the same processes
for k, v in verdicts.items():
    report.metric(f"compare.{slug[k]}.whose", whose[k][0], description=f"whose the step from A to {k} is, from the "
                  f"sentinel timed in the same processes (model, machine or unclear): {whose[k][1]}")
    report.metric(f"compare.{slug[k]}.ratio", v.ratio.ratio, runs=build_runs, note=v.verdict, ci=v.ratio.interval.bounds,
                  unstable_because="" if v.ratio.interval.known else "fewer than 2 processes per build: no interval",
                  description=f"{PC} of {k} / {PC} of A over {build_runs} processes each (Welch t on log estimates)")
report.metric("gate.busy_share", (bs := gate.busy_share()), judgement=validity.judge(interference=bs), description="share "
              "of the CPUs other work held while the gate's processes timed their calls (CPU time / (wall time x CPUs))")
for b in builds:
    report.samples(f"build.{slug.get(b.name, 'a')}", np.concatenate(gate.samples[b.name]),
                   description=f"latency of build {b.name}, int64 ns, {build_runs} processes of {build_iters} calls "
                               f"concatenated in order (process order: {', '.join(gate.order)})")
pd.DataFrame({b.name: gate.per_run(b.name, compare_percentile) for b in builds}).rename_axis("process").round(3)

# %%
ax = (fig := Figure(figsize=(7.5, 3.4), layout="constrained")).subplots()
colors = {"slower": figures.PALETTE[3], "faster": figures.PALETTE[0]}
for i, (k, v) in enumerate(verdicts.items()):
    iv, c = v.ratio.interval, colors.get(v.verdict, figures.PALETTE[2])
    ax.scatter(v.ratio.per_round, [i + 0.2] * len(v.ratio.per_round), s=10, color="#57606a")
    if iv.known:
        ax.plot([iv.lower, iv.upper], [i, i], color=c, linewidth=3, solid_capstyle="butt")
    ax.plot([v.ratio.ratio], [i], "o", color=c, markersize=7)
    ax.text(iv.upper if iv.known else v.ratio.ratio, i, f"  {v.verdict} ({v.ratio.ratio:.2f})", va="center", fontsize=9)
ax.axvline(1.0, color="#57606a", linewidth=0.8)
ax.set_yticks(range(len(verdicts)), list(verdicts))
ax.invert_yaxis()
ax.set(xscale="log", ylabel="build", title="Which builds are slower than A?",
       xlabel=f"{PC} ratio against A, 95% interval over processes; dots: each process / A (log scale)")
ax.set_xlim(0.5, max(4.0, 2 * max(max(v.ratio.per_round) for v in verdicts.values())))
report.figure(fig, "build-comparison", alt=f"{PC} ratio against build A over {build_runs} processes per build: " + "; ".join(
    f"{k} {v.ratio.ratio:.3f} [{v.ratio.interval.lower:.3f}, {v.ratio.interval.upper:.3f}] {v.verdict}"
    for k, v in verdicts.items() if v.ratio.interval.known))
fig, alt = noise.figure(gate.noise_panels(), title="The gate's processes in turn: latency, sentinel units, other work")
report.figure(fig, "noise", alt=alt)

# %% [markdown]
# ## Checklist on this runner

# %%
v_b, v_aa, v_1t = verdicts["B (slowed)"], verdicts["A'"], verdicts["1 thread"]
report.check("bounded-rule-quiet-on-noise", "PASS" if not false_alarms["bounded"] else "FAIL",
             f"bounded rule raised {len(false_alarms['bounded'])} alert(s) over the unchanged model's "
             f"{baseline_windows} windows (the naive rule raised {len(false_alarms['naive'])} and was over the "
             f"threshold in {int(win.loc[win.phase == 'unchanged', 'over.naive'].sum())} windows)")
report.check("bounded-rule-catches-regression", "PASS" if caught["bounded"] else "FAIL",
             (f"fired {delay['bounded']} window(s) after the slowed build was deployed" if caught["bounded"]
              else f"did not fire in the slowed build's {regression_windows} windows")
             + f"; threshold {threshold_ms:.2f} ms")
for name, v, good in (("slowed-build-caught", v_b, v_b.flagged), ("identical-build-not-flagged", v_aa, not v_aa.flagged)):
    report.check(name, ("PASS" if good else "FAIL") if v.ratio.interval.known else "INCONCLUSIVE", v.sentence(PC, runner))
report.check("slowed-build-is-the-models", {"model": "PASS", "machine": "FAIL"}.get(whose["B (slowed)"][0], "INCONCLUSIVE"),
             f"the slowed build's step is {whose['B (slowed)'][1]}")
report.check("histogram-accuracy", "PASS" if max_err <= 2e-3 else "FAIL", f"largest relative error of the merged "
             f"histogram's percentiles against the exact ones: {max_err:.3%} (3 significant digits promise ~0.1%)")
report.check("memory-bounded", "INCONCLUSIVE" if growth is None else ("PASS" if growth == 0 else "FAIL"),
             (f"monitor memory grew by {growth} bytes after its {history}-window history filled" if growth is not None
              else f"only {len(mem)} windows, fewer than the {history}-window history: its ceiling was not reached")
             + f"; {kib['monitor_bytes']:.0f} KiB for {last:,} samples")

# %% [markdown]
# ## Conclusion on this runner (generated from the measurements and verdicts above)

# %%
aa_iv = v_aa.ratio.interval
lines = [
    f"- Over {baseline_windows} windows of the unchanged model, the naive rule (raw window {P} above "
    f"{threshold_ms:.2f} ms) raised **{len(false_alarms['naive'])}** alert(s); the bounded rule (lower bound above "
    f"it for {consecutive} windows) raised **{len(false_alarms['bounded'])}**.",
    "- After the slowed build was deployed, the bounded rule "
    + (f"fired after **{delay['bounded']}** window(s) ({delay['bounded'] * window:,} calls)." if caught["bounded"]
       else f"**did not fire** within {regression_windows} windows."),
    f"- The monitor held {total.get_total_count():,} samples in {kib['monitor_bytes']:.0f} KiB (raw samples: "
    f"{kib['raw_bytes']:.0f} KiB), percentiles within {max_err:.2%} of exact, {encoded:,} bytes to ship compressed; "
    f"raw samples would outgrow it after {crossover:,} calls, {crossover / rate_hz / 60:.1f} minutes at this rate.",
    "",
    "| build against A | release-gate verdict | whose step (sentinel in the same processes) |", "|---|---|---|",
    *(f"| {k + (' (A/A: the noise floor)' if v is v_aa else '')} | {v.sentence(PC, runner)} | {whose[k][1]} |"
      for k, v in verdicts.items()),
]
report.metric("headline.bounded_rule_detection_windows", delay["bounded"], n=regression_windows,
              note="" if caught["bounded"] else f"the rule did not fire within {regression_windows} windows",
              description=f"Windows of {window} calls the bounded alert rule took to fire after a {1 + slowdown:g}x "
                          f"slower build was deployed, with {len(false_alarms['bounded'])} false alarms on the "
                          f"unchanged model against {len(false_alarms['naive'])} for the naive rule")
report.metric(f"headline.identical_build_p{compare_percentile * 100:g}_ratio", v_aa.ratio.ratio, unit="x",
              ci=aa_iv.bounds, runs=build_runs, note=v_aa.verdict,
              unstable_because="" if aa_iv.known else "fewer than 2 processes per build: no interval",
              description=f"{PC} of an identical build / the baseline build, {build_runs} fresh processes each, "
                          "interval over processes (the noise floor of a release comparison, ideally 1)")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## On your own device
#
# ```bash
# edgetiming run recipes/monitoring-and-regressions.py --runner my-board \
#     --param model_path=/path/to/model.onnx --param 'input_shape=[1, 3, 224, 224]' \
#     --param window=1000 --param threshold_factor=1.2 --param slowdown=0.2
# ```
#
# Lower `slowdown` until the rule or the gate stops catching it: that is the smallest
# regression your device's noise lets you see (more `build_runs` narrow the gate). On the
# device, ship `monitor.total.encode()` (a few KiB) and merge on the server with `decode_and_add`.
