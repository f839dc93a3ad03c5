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
#     quick: {window: 150, baseline_windows: 5, regression_windows: 5, calibration_iters: 300, consecutive: 2, history: 4, compare_iters: 300}
#     expected_duration_s: 90
#     timeout_cell_s: 600
# ---

# %% [markdown]
# # Monitoring on the device and catching regressions
#
# Benchmarks end; a deployed model keeps running. You will learn how a device can watch its
# own latency for days in a fixed amount of memory (mergeable HdrHistograms, one per window,
# merged into a running total), how to read percentiles over rolling windows with their
# confidence bounds, and why an alert rule should fire on the window's *lower* confidence
# bound for several windows in a row rather than on the window's raw P99: the raw rule pages
# someone on noise, the bounded rule stays quiet on noise and still catches a real slowdown
# within a few windows. The second half turns to releases: comparing two builds of a model
# with a confidence interval on their latency ratio (`edgetiming.stats.compare.compare_runs`), a
# deliberately slowed build must be caught and an identical one must not.
#
# The model is the PP-OCRv4 angle classifier from the `rapidocr-onnxruntime` wheel: its
# millisecond calls give many monitoring windows within the time budget.

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
compare_percentile = 0.5  # the percentile the build comparison looks at
min_effect = 0.05  # changes smaller than this are "the same" build
compare_iters = 1500  # calls per build in the comparison
compare_block = 25  # calls per block; the builds take turns block by block
intra_op_threads = 0  # 0 lets onnxruntime choose
seed = 0

# %%
import time

import numpy as np
import onnxruntime as ort
import pandas as pd
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from edgetiming.measure.closedloop import closed_loop, timing_gc_off
from edgetiming.measure.monitor import (
    AlertRule,
    LatencyMonitor,
    episodes,
    histogram_bytes,
    quantile_bounds,
)
from edgetiming.measure.session import SessionConfig, make_feeds, open_session
from edgetiming.results import figures, report
from edgetiming.stats import quantiles as stats
from edgetiming.stats.compare import compare_runs
from edgetiming.workload.models import resolve, sha256_file

figures.use_style()
path = resolve(model_path)
config = SessionConfig(intra_op_num_threads=intra_op_threads or None)
session = open_session(path, config)
feeds = make_feeds(session, {session.get_inputs()[0].name: tuple(input_shape)}, seed=seed)
print(
    f"model: {path.name} ({path.stat().st_size / 1e6:.1f} MB, sha256 {sha256_file(path)[:12]}...), "
    f"onnxruntime {ort.__version__}"
)


def baseline_call():
    session.run(None, feeds)


def slowed(run):
    """The same call plus a sleep of `slowdown` x its own duration: a build that is that much slower.

    A sleep, not a busy wait: on a shared runner a busy wait loses its time slice and turns a
    2x slowdown into 10x, and it would also steal the CPU the other builds are timed on."""

    def call():
        t0 = time.perf_counter_ns()
        run()
        time.sleep(slowdown * (time.perf_counter_ns() - t0) / 1e9)

    return call


slowed_call = slowed(baseline_call)

# %% [markdown]
# ## The alert threshold
#
# A real deployment takes its threshold from the application's SLO. To mean the same on any
# device, this recipe sets it at `threshold_factor` times the P99 of a calibration run of the
# unchanged model, measured right before the stream.

# %%
calib = closed_loop(baseline_call, warmup_iters=50, iters=calibration_iters)
calib.report("calibration")
calib_p99_ms = calib.quantile_ci(percentile).value / 1e6
threshold_ms = threshold_factor * calib_p99_ms
print(f"calibration P{percentile * 100:g} {calib_p99_ms:.3f} ms -> alert threshold {threshold_ms:.3f} ms")
report.metric(
    "threshold_ms",
    threshold_ms,
    unit="ms",
    description=f"alert threshold: {threshold_factor:g} x the calibration P{percentile * 100:g}",
)

# %% [markdown]
# ## A monitored stream: the unchanged model, then a slowed build
#
# The model serves `baseline_windows` windows of `window` calls, then the slowed build is
# "deployed" and serves `regression_windows` more. Every latency goes into the monitor, which
# keeps one HdrHistogram for the open window (3 significant digits, 1 us to 60 s) and one for
# the merged total, plus the last `history` window summaries. Two rules watch it:
#
# - **naive**: the window's P99 estimate is above the threshold (one window is enough);
# - **bounded**: the window's P99 *lower* confidence bound is above the threshold for
#   `consecutive` windows in a row.
#
# The raw samples are kept here too, only to check the monitor against them.

# %%
rules = {
    "naive": AlertRule(threshold_ms, consecutive=1, use_lower_bound=False),
    "bounded": AlertRule(threshold_ms, consecutive=consecutive),
}
monitor = LatencyMonitor(window=window, percentile=percentile, confidence=confidence, rules=rules, history=history)
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
win = pd.DataFrame(
    [
        w.to_dict() | {f"over.{r}": w.over[r] for r in rules} | {f"firing.{r}": w.firing[r] for r in rules}
        for w in closed
    ]
).drop(columns=["over", "firing"])
win["upper_ms"] = win["upper_ms"].astype(float)  # None (no upper bound: window too short) -> NaN
win["phase"] = np.where(win["index"] < baseline_windows, "unchanged", "slowed")
alerts = {r: episodes(win[f"firing.{r}"]) for r in rules}
false_alarms = {r: [i for i in alerts[r] if i < baseline_windows] for r in rules}
caught = {r: win.loc[(win.phase == "slowed") & win[f"firing.{r}"], "index"].tolist() for r in rules}
delay = {r: (caught[r][0] - baseline_windows + 1) if caught[r] else None for r in rules}
for r, rule in rules.items():
    print(
        f"{r:<8} ({rule.describe()}): {len(false_alarms[r])} alert(s) on the unchanged model, "
        + (
            f"fired {delay[r]} window(s) after the slowed build arrived"
            if caught[r]
            else "never fired on the slowed build"
        )
    )
    report.metric(
        f"alerts.{r}.false_alarms",
        len(false_alarms[r]),
        description=f"alerts raised on the unchanged model's {baseline_windows} windows ({rule.describe()})",
    )
    report.metric(
        f"alerts.{r}.detection_windows",
        delay[r],
        description="windows after the slowed build's deployment until the rule fired (None: never)",
    )
report.samples(
    "stream",
    stream,
    description=f"latency per call of the monitored stream, int64 ns: {baseline_windows} "
    f"windows of {window} unchanged, then {regression_windows} windows of the slowed build",
)
win[["index", "phase", "n", "p50_ms", "value_ms", "lower_ms", "upper_ms"] + [f"firing.{r}" for r in rules]].round(3)

# %%
fig = Figure(figsize=(8.5, 4.6), layout="constrained")
ax = fig.subplots()
x = win["index"].to_numpy()
ax.fill_between(
    x,
    win["lower_ms"],
    win["upper_ms"].fillna(win["value_ms"]),
    step="mid",
    color=figures.PALETTE[5],
    alpha=0.35,
    label=f"P{percentile * 100:g} {confidence:.0%} one-sided bounds",
)
ax.step(x, win["value_ms"], where="mid", color=figures.PALETTE[0], label=f"window P{percentile * 100:g}")
ax.step(x, win["p50_ms"], where="mid", color=figures.PALETTE[2], label="window P50")
ax.axhline(threshold_ms, color="#24292f", linestyle="-.", linewidth=1.0, label=f"threshold {threshold_ms:.2f} ms")
ax.axvline(baseline_windows - 0.5, color=figures.PALETTE[4], linestyle="--", label="slowed build deployed")
over_naive = win[win["over.naive"]]
ax.plot(
    over_naive["index"], over_naive["value_ms"], "x", color=figures.PALETTE[1], markersize=7, label="naive rule over"
)
fire = win[win["firing.bounded"]]
ax.plot(fire["index"], fire["value_ms"], "v", color=figures.PALETTE[3], markersize=7, label="bounded rule firing")
ax.set_yscale("log")
ax.set_xlabel(f"window ({window} calls each)")
ax.set_ylabel("latency (ms, log scale)")
ax.set_title("Rolling percentiles and two alert rules")
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
report.figure(
    fig,
    "rolling-percentiles",
    alt=(
        f"P50 and P{percentile * 100:g} of {len(win)} windows of {window} calls with one-sided {confidence:.0%} bounds; "
        f"threshold {threshold_ms:.2f} ms; unchanged model in windows 0-{baseline_windows - 1} (window P{percentile * 100:g} "
        f"{win.loc[win.phase == 'unchanged', 'value_ms'].min():.2f}-{win.loc[win.phase == 'unchanged', 'value_ms'].max():.2f} ms), "
        f"slowed build from window {baseline_windows} ({win.loc[win.phase == 'slowed', 'value_ms'].min():.2f}-"
        f"{win.loc[win.phase == 'slowed', 'value_ms'].max():.2f} ms). Naive rule over the threshold in "
        f"{int(win['over.naive'].sum())} windows ({len(false_alarms['naive'])} false alarms); bounded rule: "
        f"{len(false_alarms['bounded'])} false alarms, "
        + (
            f"fired {delay['bounded']} windows after deployment."
            if caught["bounded"]
            else "did not fire on the slowed build."
        )
    ),
)

# %% [markdown]
# ## Is the histogram right, and does memory stay bounded?
#
# The merged histogram's percentiles are compared with the exact nearest-rank percentiles of
# the raw samples (3 significant digits means within 0.1%). The monitor's memory is tracked
# after every window against what keeping the raw int64 samples would cost.

# %%
total = monitor.total
rows = []
for p in (0.5, 0.9, 0.99, 0.999):
    if stream.size < stats.min_samples(p):
        continue
    _, hv, _ = quantile_bounds(total, p, confidence)
    exact = stats.quantile(stream, p)
    rows.append(
        {
            "percentile": f"P{p * 100:g}",
            "histogram_ms": hv / 1e6,
            "exact_ms": exact / 1e6,
            "relative_error": abs(hv - exact) / exact,
        }
    )
accuracy = pd.DataFrame(rows)
max_err = float(accuracy["relative_error"].max())
mem = pd.DataFrame(mem_track, columns=["samples", "monitor_bytes", "raw_bytes"])
encoded = len(monitor.total.encode())
hist_bytes = histogram_bytes(total)
growth_after_history = (
    int(mem["monitor_bytes"].iloc[-1] - mem["monitor_bytes"].iloc[history - 1]) if len(mem) > history else None
)
record_us = float(np.median(record_ns)) / 1e3
print(
    f"{total.get_total_count():,} samples in the merged histogram ({hist_bytes / 1024:.0f} KiB of counters, "
    f"{encoded:,} bytes compressed for shipping); largest percentile error {max_err:.3%}"
)
print(
    f"monitor memory {mem['monitor_bytes'].iloc[0] / 1024:.0f} KiB after one window, "
    f"{mem['monitor_bytes'].iloc[-1] / 1024:.0f} KiB after {mem['samples'].iloc[-1]:,} samples; raw samples would "
    f"take {mem['raw_bytes'].iloc[-1] / 1024:.0f} KiB; recording costs {record_us:.1f} us per sample"
)
report.metric("monitor.histogram_kib", hist_bytes / 1024, unit="KiB", description="one histogram's counter array")
report.metric(
    "monitor.encoded_bytes",
    encoded,
    unit="B",
    description="the merged histogram, compressed (HdrHistogram wire format), what a device would ship",
)
report.metric("monitor.record_us", record_us, unit="us", description="median cost of recording one sample (Python)")
report.metric(
    "monitor.max_percentile_error",
    max_err,
    description="largest relative error of a histogram percentile against the exact one",
)
accuracy.round(5)

# %%
rate_hz = 1e9 / float(np.median(stream))
crossover = int(mem["monitor_bytes"].iloc[-1] // 8)  # calls after which raw int64 samples take more memory
day = int(rate_hz * 86400)
fig = Figure(figsize=(7.5, 4.0), layout="constrained")
ax = fig.subplots()
ax.plot(
    mem["samples"],
    mem["raw_bytes"] / 1024,
    "o",
    markersize=3,
    color=figures.PALETTE[3],
    label="raw int64 samples (measured run)",
)
ax.plot(
    [mem["samples"].iloc[-1], day],
    [mem["raw_bytes"].iloc[-1] / 1024, 8 * day / 1024],
    "--",
    color=figures.PALETTE[3],
    label="raw samples, continued to one day (8 bytes each)",
)
ax.plot(
    mem["samples"],
    mem["monitor_bytes"] / 1024,
    "s-",
    markersize=3,
    color=figures.PALETTE[0],
    label=f"monitor, measured (2 histograms + up to {history} summaries)",
)
ax.plot(
    [mem["samples"].iloc[-1], day],
    [mem["monitor_bytes"].iloc[-1] / 1024] * 2,
    "--",
    color=figures.PALETTE[0],
    label="monitor, continued (fixed once its history is full)",
)
ax.axvline(day, color="#57606a", linestyle=":", linewidth=1.0, label=f"one day at this runner's rate ({day:,} calls)")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("samples recorded (count, log scale)")
ax.set_ylabel("memory (KiB, log scale)")
ax.set_title("Memory: the monitor stays flat, raw samples grow")
ax.legend(loc="upper left", fontsize=8)
report.figure(
    fig,
    "memory",
    alt=(
        f"Memory against samples recorded on log scales: raw samples grow linearly, {mem['raw_bytes'].iloc[-1] / 1024:.0f} KiB "
        f"after the {mem['samples'].iloc[-1]:,} samples of this run and {8 * day / 2**20:,.0f} MiB for one day of calls at "
        f"this runner's rate; the monitor measured {mem['monitor_bytes'].iloc[0] / 1024:.0f} KiB after one window and "
        f"{mem['monitor_bytes'].iloc[-1] / 1024:.0f} KiB at the end (two {hist_bytes / 1024:.0f} KiB histograms plus at most "
        f"{history} window summaries)."
    ),
)

# %% [markdown]
# ## Catching a regression between two builds
#
# Four builds, timed in many short blocks of `compare_block` calls in rotating order (A, A', B,
# 1 thread, then A', B, 1 thread, A, ...), so a machine that slows down or speeds up during
# the run affects them all alike. The first call of each block is timed but set aside: it pays
# for the previous build (its thread pool still spinning, its data in the caches). Alternating
# call by call instead would make every call pay for that, and turn an identical build into a
# "slower" one:
#
# - **A**, the baseline;
# - **A'**, an identical build: a second session from the same model file. It must *not* be
#   flagged;
# - **B**, the deliberately slowed build (the same injected sleep as in the stream). It must be
#   caught;
# - **1 thread**, a real configuration change: the same model with one intra-op thread.
#
# Each is compared with A at P`compare_percentile`; "slower" needs the whole confidence
# interval of the ratio above `1 + min_effect`, "same" needs it inside the equivalence band.

# %%
session_a2 = open_session(path, config)
session_1t = open_session(path, SessionConfig(intra_op_num_threads=1))
builds = {
    "A": baseline_call,
    "A'": lambda: session_a2.run(None, feeds),
    "B (slowed)": slowed_call,
    "1 thread": lambda: session_1t.run(None, feeds),
}
slug = {"A": "a", "A'": "identical", "B (slowed)": "slowed", "1 thread": "one_thread"}


def interleaved(fns, iters, block):
    """Time each function in blocks of 1 + `block` calls, taking turns, the order rotating every round.

    Returns the latencies (one row per function, in order) and a mask of each block's first call."""
    m, rounds = len(fns), max(1, -(-iters // block))
    out = np.empty((m, rounds * (block + 1)), dtype=np.int64)
    perf = time.perf_counter_ns
    with timing_gc_off():
        for r in range(rounds):
            for q in range(m):
                j, start = (r + q) % m, r * (block + 1)
                fn = fns[j]
                for i in range(start, start + block + 1):
                    t0 = perf()
                    fn()
                    out[j, i] = perf() - t0
    first = np.zeros(out.shape[1], dtype=bool)
    first[:: block + 1] = True
    return out, first


interleaved(list(builds.values()), 20, 20)  # warm every session up
all_lat, first_call = interleaved(list(builds.values()), compare_iters, compare_block)
lat = {k: all_lat[j][~first_call] for j, k in enumerate(builds)}
cmp = {
    k: compare_runs(lat["A"], lat[k], percentile=compare_percentile, min_effect=min_effect) for k in builds if k != "A"
}
for k, c in cmp.items():
    print(f"{k:<11} vs A: {c.verdict:<12} {c.reason}")
    report.metric(
        f"compare.{slug[k]}.ratio",
        c.ratio,
        ci=(c.lower, c.upper) if np.isfinite(c.upper) else None,
        description=f"P{compare_percentile * 100:g} of {k} / P{compare_percentile * 100:g} of A ({c.verdict})",
    )
for j, k in enumerate(builds):
    report.samples(
        f"build.{slug[k]}",
        all_lat[j],
        description=f"latency of every call of build {k}, int64 ns, in blocks of 1 + {compare_block} calls taking "
        f"turns with the other builds; every {compare_block + 1}th call from the first is a block's first call, "
        "set aside from the comparison",
    )

# %%
fig = Figure(figsize=(7.5, 3.4), layout="constrained")
ax = fig.subplots()
names = list(cmp)
lo_edge = min(0.5, min(c.ratio for c in cmp.values()) / 2)
for i, k in enumerate(names):
    c = cmp[k]
    hi = c.upper if np.isfinite(c.upper) else max(x.ratio for x in cmp.values()) * 3
    color = {"slower": figures.PALETTE[3], "same": figures.PALETTE[2], "faster": figures.PALETTE[0]}.get(
        c.verdict, "#57606a"
    )
    ax.plot([max(c.lower, lo_edge), hi], [i, i], color=color, linewidth=3, solid_capstyle="butt")
    ax.plot([c.ratio], [i], "o", color=color, markersize=7)
    ax.text(hi, i, f"  {c.verdict} ({c.ratio:.2f})", va="center", fontsize=9)
ax.axvspan(1 / (1 + min_effect), 1 + min_effect, color=figures.PALETTE[2], alpha=0.12, label=f"within {min_effect:.0%}")
ax.axvline(1.0, color="#57606a", linewidth=0.8)
ax.set_yticks(range(len(names)), names)
ax.invert_yaxis()
ax.set_xscale("log")
ax.set_xlim(lo_edge, max(max(c.upper if np.isfinite(c.upper) else 3 * c.ratio for c in cmp.values()) * 4, 2.0))
ax.set_xlabel(
    f"P{compare_percentile * 100:g} ratio against A, with its {cmp[names[0]].confidence:.0%} interval (log scale)"
)
ax.set_ylabel("build")
ax.set_title("Which builds are slower than A?")
ax.legend(loc="lower right")
report.figure(
    fig,
    "build-comparison",
    alt=f"P{compare_percentile * 100:g} latency ratio against build A with confidence "
    "intervals: "
    + "; ".join(f"{k} {c.ratio:.3f} [{c.lower:.3f}, {c.upper:.3f}] {c.verdict}" for k, c in cmp.items())
    + f"; equivalence band {1 / (1 + min_effect):.3f}-{1 + min_effect:.3f}",
)

# %% [markdown]
# ## Checklist on this runner

# %%
c_b, c_a2, c_1t = cmp["B (slowed)"], cmp["A'"], cmp["1 thread"]
report.check(
    "bounded-rule-quiet-on-noise",
    "PASS" if not false_alarms["bounded"] else "FAIL",
    f"bounded rule raised {len(false_alarms['bounded'])} alert(s) over the unchanged model's {baseline_windows} windows "
    f"(the naive rule raised {len(false_alarms['naive'])} and was over the threshold in "
    f"{int(win.loc[win.phase == 'unchanged', 'over.naive'].sum())} windows)",
)
report.check(
    "bounded-rule-catches-regression",
    "PASS" if caught["bounded"] else "FAIL",
    (
        f"fired {delay['bounded']} window(s) after the slowed build was deployed"
        if caught["bounded"]
        else f"did not fire in the slowed build's {regression_windows} windows"
    )
    + f"; threshold {threshold_ms:.2f} ms",
)
report.check(
    "slowed-build-caught", "PASS" if c_b.verdict == "slower" else "FAIL", f"B vs A: {c_b.verdict}: {c_b.reason}"
)
report.check(
    "identical-build-not-flagged",
    "FAIL" if c_a2.verdict == "slower" else "PASS",
    f"A' vs A: {c_a2.verdict}: {c_a2.reason}",
)
report.check(
    "histogram-accuracy",
    "PASS" if max_err <= 2e-3 else "FAIL",
    f"largest relative error of the merged histogram's percentiles against the exact ones: {max_err:.3%} "
    "(3 significant digits promise about 0.1%)",
)
report.check(
    "memory-bounded",
    "PASS"
    if growth_after_history is not None and growth_after_history == 0
    else ("INCONCLUSIVE" if growth_after_history is None else "FAIL"),
    (
        f"monitor memory grew by {growth_after_history} bytes after its {history}-window history filled"
        if growth_after_history is not None
        else f"only {len(mem)} windows, fewer than the {history}-window history: its ceiling was not reached"
    )
    + f"; {mem['monitor_bytes'].iloc[-1] / 1024:.0f} KiB for {mem['samples'].iloc[-1]:,} samples",
)

# %% [markdown]
# ## Conclusion on this runner
#
# Computed from the measurements above, not written in advance.

# %%
lines = [
    f"- Over {baseline_windows} windows of the unchanged model, the naive rule (raw window P{percentile * 100:g} above "
    f"{threshold_ms:.2f} ms) raised **{len(false_alarms['naive'])}** alert(s); the bounded rule (lower bound above it for "
    f"{consecutive} windows) raised **{len(false_alarms['bounded'])}**.",
    "- After the slowed build was deployed, the bounded rule "
    + (
        f"fired after **{delay['bounded']}** window(s) ({delay['bounded'] * window:,} calls)."
        if caught["bounded"]
        else f"**did not fire** within {regression_windows} windows: the slowdown did not lift the lower bound over "
        "the threshold here."
    ),
    f"- The monitor held {total.get_total_count():,} samples in {mem['monitor_bytes'].iloc[-1] / 1024:.0f} KiB "
    f"(raw samples: {mem['raw_bytes'].iloc[-1] / 1024:.0f} KiB), percentiles within {max_err:.2%} of exact, "
    f"{encoded:,} bytes to ship compressed; recording cost {record_us:.1f} us per sample in Python. Raw samples "
    f"would outgrow it after {crossover:,} calls, {crossover / rate_hz / 60:.1f} minutes at this runner's rate.",
    f"- Build comparison at P{compare_percentile * 100:g}: slowed build **{c_b.verdict}** (ratio {c_b.ratio:.2f}, "
    f"CI [{c_b.lower:.2f}, {c_b.upper:.2f}]); identical build **{c_a2.verdict}** (ratio {c_a2.ratio:.3f}).",
    f"- One intra-op thread against the default: **{c_1t.verdict}** (ratio {c_1t.ratio:.2f}, CI "
    f"[{c_1t.lower:.2f}, {c_1t.upper:.2f}])"
    + (
        ": on this runner the default thread pool does not pay off for this model."
        if c_1t.verdict in ("same", "faster")
        else "."
    ),
]
if c_a2.verdict == "inconclusive":
    lines.append(
        f"- The identical build was not flagged, but not shown equivalent either: the interval reaches past "
        f"{min_effect:.0%}. More iterations or a quieter runner would narrow it."
    )
report.metric(
    "headline.bounded_rule_detection_windows",
    delay["bounded"],
    n=regression_windows,
    note="" if caught["bounded"] else f"the rule did not fire within the slowed build's {regression_windows} windows",
    description=f"Windows of {window} calls the bounded alert rule took to fire after a {1 + slowdown:g}x slower build "
    f"was deployed" + ("" if caught["bounded"] else f" (it never fired in {regression_windows})")
    + f", with {len(false_alarms['bounded'])} false alarms on the unchanged model against "
    f"{len(false_alarms['naive'])} for the naive rule",
)
report.metric(
    f"headline.identical_build_p{compare_percentile * 100:g}_ratio",
    c_a2.ratio,
    unit="x",
    ci=(c_a2.lower, c_a2.upper) if c_a2.lower > 0 and np.isfinite(c_a2.upper) else None,
    n=int(min(lat["A"].size, lat["A'"].size)),
    note=f"verdict {c_a2.verdict}",
    description=f"P{compare_percentile * 100:g} of an identical build / the baseline build, timed in interleaved "
    f"blocks (the noise floor of a release comparison, ideally 1)",
)
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
# `slowdown=0.2` asks whether a 20% slower build is caught, by the alert rule and by the
# comparison; lower it until one of them stops catching it to learn the smallest regression
# your device's noise lets you see. On the device itself, keep one `LatencyMonitor` per model,
# ship `monitor.total.encode()` (a few KiB) with your telemetry and merge the histograms on the
# server with `decode_and_add`.
