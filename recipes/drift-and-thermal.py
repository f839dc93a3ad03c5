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
#     quick: {duration_s: 5.0, block_s: 0.4}
#     expected_duration_s: 240
#     timeout_cell_s: 900
# ---

# %% [markdown]
# # Drift, throttling and a sentinel workload
#
# A short benchmark answers "how fast is the model"; a device that runs for minutes or hours
# also asks "does it stay that fast". This recipe runs the model for several minutes as a time
# series and you will learn how to read that series: where its change points are and whether
# it has a warmup, a slowdown or no steady state at all (change-point classification after
# Barrett et al. 2017); whether the latency trends up or down over the run (a trend test on
# block medians); what the machine's own frequency, temperature and throttle signals said
# while it ran, where the runner exposes them; and, with a small fixed *sentinel* model timed
# between the blocks of the real model, whether a drift belongs to the machine (both slow
# down) or to the model (only the model slows down).
#
# The model is the PP-OCRv4 text detector shipped in the `rapidocr-onnxruntime` wheel; pass your
# own with `--param model_path=/path/to/model.onnx` and its input shape.
#
# *Longer than 350 lines because it builds its own sentinel model and reads five machine
# signals beside the long run; the tests themselves live in `edgetiming.stats.steady`.*

# %% tags=["parameters"]
model_path = "rapidocr:det"  # an .onnx file, or rapidocr:det / rapidocr:rec / rapidocr:cls
input_shape = [1, 3, 320, 320]  # N, C, H, W of the model's image input
deadline_ms = 50.0  # the application's deadline for one inference
percentile = 0.99  # the SLO: the `percentile` latency must be <= deadline_ms
duration_s = 210.0  # length of the long run: model blocks plus sentinel blocks
block_s = 3.0  # one block runs the model for about this long, then the sentinel
sentinel_share = 0.25  # sentinel time per block as a fraction of the model's block time
sentinel_rows = 64  # the sentinel: a fixed 4-layer MatMul+Relu model on a [rows, width] input
sentinel_width = 512
drift_blocks = 10  # block medians in the trend test (measurement.md: ~10)
min_change = 0.05  # a trend smaller than this fraction of the median over the run is not drift
inject_model_slowdown = 0.0  # e.g. 0.3: every model call in the second half busy-waits 30% longer
intra_op_threads = 0  # 0 lets onnxruntime choose
seed = 0

# %% [markdown]
# ## The model, the sentinel and the input
#
# The sentinel is a tiny ONNX model built here from fixed, seeded weights: four 512-wide
# matrix products with ReLU. It runs on the same onnxruntime, with the same thread settings,
# on the same cores as the model, so whatever slows the machine down (frequency scaling,
# thermal limits, another process) slows it too. It never changes between runs or devices,
# so a drift that appears in the model's latency but not in the sentinel's belongs to the
# model's own work (its memory, its inputs, its code path), not to the machine.

# %%
import math
import os
import time

import numpy as np
import onnxruntime as ort
import pandas as pd
from IPython.display import Markdown, display
from matplotlib.figure import Figure
from onnx import TensorProto, helper, numpy_helper

from edgetiming.host.resources import NOT_AVAILABLE
from edgetiming.measure.closedloop import closed_loop, timing_gc_off
from edgetiming.measure.session import SessionConfig, open_session, session_settings
from edgetiming.results import figures, report
from edgetiming.stats import quantiles as stats
from edgetiming.stats.steady import attribute_drift, classify_steady_state
from edgetiming.workload.models import resolve, sha256_file
from edgetiming.workload.ocrdata import det_input, render_page

figures.use_style()
config = SessionConfig(intra_op_num_threads=intra_op_threads or None)
path = resolve(model_path)
session = open_session(path, config)
input_name = session.get_inputs()[0].name
print(f"model: {path.name} ({path.stat().st_size / 1e6:.1f} MB, sha256 {sha256_file(path)[:12]}...)")
print("onnxruntime", ort.__version__, {k: v for k, v in session_settings(session).items()
                                     if k in ("intra_op_num_threads", "allow_spinning", "providers")})


def sentinel_model(rows: int, width: int, layers: int = 4, seed: int = 0) -> bytes:
    """A fixed MatMul+Relu chain with seeded weights, serialized: the same bytes on every device."""
    rng = np.random.default_rng(seed)
    nodes, inits, prev = [], [], "x"
    for i in range(layers):
        w = (rng.standard_normal((width, width)) / math.sqrt(width)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes += [helper.make_node("MatMul", [prev, f"w{i}"], [f"m{i}"]),
                  helper.make_node("Relu", [f"m{i}"], [f"r{i}" if i < layers - 1 else "y"])]
        prev = f"r{i}"
    io = [helper.make_tensor_value_info(v, TensorProto.FLOAT, [rows, width]) for v in ("x", "y")]
    graph = helper.make_graph(nodes, "sentinel", io[:1], io[1:], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8).SerializeToString()


rng = np.random.default_rng(seed)
n, c, h, w = input_shape
feeds = {input_name: np.repeat(det_input(render_page(rng, height=h, width=w).image, size=(h, w)), n, axis=0).astype(np.float32)}
sentinel = open_session(sentinel_model(sentinel_rows, sentinel_width, seed=seed), config)
sentinel_feeds = {"x": rng.standard_normal((sentinel_rows, sentinel_width)).astype(np.float32)}

# The model call is one function for the whole run, so the call path is identical in both halves;
# `extra_ns` stays 0 unless `inject_model_slowdown` asks for a deliberate model-only drift.
extra_ns = 0


def run_model():
    t0 = time.perf_counter_ns()
    session.run(None, feeds)
    if extra_ns:
        end = t0 + extra_ns + (time.perf_counter_ns() - t0)
        while time.perf_counter_ns() < end:
            pass


def run_sentinel():
    sentinel.run(None, sentinel_feeds)


# A short calibration sizes the blocks in iterations, so a block lasts about block_s on any device.
calib_model = closed_loop(run_model, warmup_iters=1, iters=3, overhead=False).steady_ns
calib_sent = closed_loop(run_sentinel, warmup_iters=3, iters=10, overhead=False).steady_ns
model_ms, sent_ms = np.median(calib_model) / 1e6, np.median(calib_sent) / 1e6
model_iters = max(2, round(block_s * 1e3 / model_ms))
sent_iters = max(2, round(block_s * sentinel_share * 1e3 / sent_ms))
block_est_s = (model_iters * model_ms + sent_iters * sent_ms) / 1e3
n_blocks = max(9, round(duration_s / block_est_s))  # at least 9 blocks, whatever the machine
print(f"calibration: model {model_ms:.2f} ms, sentinel {sent_ms:.2f} ms per call")
print(f"{n_blocks} blocks of {model_iters} model + {sent_iters} sentinel iterations (about {n_blocks * block_est_s:.0f} s)")

# %% [markdown]
# ## The long run
#
# Each block times the model for `model_iters` calls, then the sentinel for `sent_iters`
# calls, both in the closed loop with garbage collection off. Each timed loop reads every
# throttle signal before and after it (`edgetiming.host.resources.throttle_signals`), so the
# signals are sampled once per block, outside the timed calls. Nothing is trimmed: the
# first block's iterations are part of the series, and the classification below says
# whether they are a warmup.

# %%
model_lat, sent_lat, blocks = [], [], []
t_start = time.perf_counter()
# One outer gc freeze for the whole run: each closed_loop then skips a full collection of the
# notebook's objects between blocks (hundreds of ms on a busy 2-core runner).
with timing_gc_off():
    for b in range(n_blocks):
        if b >= 9 and time.perf_counter() - t_start > 1.1 * duration_s:
            break  # a busier machine than at calibration: keep the run's length, not its block count
        half = time.perf_counter() - t_start >= duration_s / 2
        extra_ns = int(inject_model_slowdown * model_ms * 1e6) if half else 0
        t_block = time.perf_counter() - t_start
        m = closed_loop(run_model, warmup_iters=0, iters=model_iters, overhead=False)
        s = closed_loop(run_sentinel, warmup_iters=0, iters=sent_iters, overhead=False)
        model_lat.append(m.latency_ns)
        sent_lat.append(s.latency_ns)
        blocks.append({"block": b, "t_s": t_block, "model_median_ms": np.median(m.latency_ns) / 1e6,
                       "sentinel_median_ms": np.median(s.latency_ns) / 1e6, "throttle_before": m.throttle["before"],
                       "throttle_after": s.throttle["after"], "throttle_seen": m.throttle["seen"] or s.throttle["seen"],
                       "throttle_reasons": m.throttle["reasons"] + s.throttle["reasons"]})
elapsed_s = time.perf_counter() - t_start
if len(blocks) < n_blocks:
    print(f"stopped after {len(blocks)} of {n_blocks} planned blocks: the run reached its {duration_s:g} s length")
    n_blocks = len(blocks)
model_all = np.concatenate(model_lat)
sent_all = np.concatenate(sent_lat)
df = pd.DataFrame([{k: v for k, v in r.items() if not k.startswith("throttle_")} for r in blocks])
df["ratio"] = df["model_median_ms"] / df["sentinel_median_ms"]
print(f"{n_blocks} blocks in {elapsed_s:.1f} s: {model_all.size} model and {sent_all.size} sentinel iterations")
report.samples("model", model_all, description=f"model latency per iteration in order, {n_blocks} blocks of "
               f"{model_iters}; no warmup removed")
report.samples("sentinel", sent_all, description=f"sentinel latency per iteration in order, {n_blocks} blocks of "
               f"{sent_iters}, each block run right after the model block of the same index")
report.metric("run_duration_s", elapsed_s, unit="s", description="wall time of the long run")
report.metric("blocks", n_blocks, description="interleaved model + sentinel blocks")
df.round(3).head(12)

# %% [markdown]
# ## Change points and warmup class
#
# PELT change-point detection on the whole model series (outliers set aside per 200-sample
# window, penalty `15 ln n`), then a class: `flat`, `warmup` (the run settles at a faster
# level), `slowdown` (the run settles at a slower level than it once had) or
# `no steady state`. The class is reported, not used to silently trim the run.

# %%
steady_state = classify_steady_state(model_all)
print(f"class: {steady_state.classification} ({steady_state.reason}); change points at iterations "
      f"{list(steady_state.change_points)}; {steady_state.n_outliers} outliers set aside for the detection")
for seg in steady_state.segments:
    print(f"  iterations {seg.start:>6}-{seg.end:<6} mean {seg.mean_ms:7.2f} ms  median {seg.median_ms:7.2f} ms")
report.metric("steady_class", steady_state.classification, description=steady_state.reason)
report.metric("change_points", len(steady_state.change_points), description="change points PELT found in the model series")
# The steady part is never the whole run by default: with no steady state there is none.
steady = None if steady_state.steady_start is None else model_all[steady_state.steady_start:]
fig, alt = figures.timeline(model_all, warmup_end=steady_state.steady_start or None,
                            change_points=steady_state.change_points, deadline_ms=deadline_ms,
                            title=f"{path.name}: {model_all.size:,} iterations, class '{steady_state.classification}'")
report.figure(fig, "timeline", alt=alt + f"; classified '{steady_state.classification}'")

# %% [markdown]
# ## Drift: a trend or a late step, and whose it is
#
# Two tests on the model series, each read beside the sentinel. A **trend** test
# (Mann-Kendall on `drift_blocks` block medians, Theil-Sen slope) sees a slow creep; it
# cannot see a step in the last blocks (one block in ten barely moves it), so a **step**
# test compares the run's final level (after its last change point, over the whole run)
# with its main earlier level (the longest segment before it). Either one of at least
# `min_change` is drift. Then the sentinel decides whose it is, over the same blocks:
#
# - the sentinel moved with the model and the model/sentinel ratio did not: **machine drift**;
# - the ratio moved the model's way: **model drift** (with the sentinel too: **machine and model drift**);
# - nothing moved by `min_change`: **no drift** over this run.

# %%
drift = attribute_drift(model_all, sent_all, n_blocks, trend_blocks=drift_blocks, min_change=min_change)
step, attribution = drift.step, drift.attribution
for name, d in (("model", drift.model), ("sentinel", drift.sentinel), ("model/sentinel", drift.ratio)):
    print(f"{name:<15} trend tau {d.tau:+.2f}  p {d.p_value:.3g}  change over the run {d.relative_change:+.1%}  "
          f"drift: {d.drift}  ({d.blocks} blocks)")
    report.metric(f"drift.{name.replace('/', '_per_')}.relative_change", d.relative_change,
                  description=f"Theil-Sen trend of the {name} block medians over the run / its median "
                  f"(p = {d.p_value:.3g}, {d.blocks} blocks)")
print(f"step: {step.describe()}" + (f"; across it the sentinel moved {drift.sentinel_step:+.1%}, the ratio "
                                    f"{drift.ratio_step:+.1%}" if step.shift else ""))
report.metric("step.model.relative_change", step.relative if step.shift else 0.0,
              description=f"the model's final level / its main earlier level - 1 (medians): {step.describe()}")
report.metric("step.model.start_fraction", step.fraction if step.shift else None,
              description="where the model's final level starts, as a share of the run (None: no step)")
print(f"=> {drift.sentence}")
report.metric("drift_attribution", attribution, description=drift.reason)

# %%
fig = Figure(figsize=(8.0, 5.2), layout="constrained")
ax1, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
rel = {k: df[k] / df[k].median() for k in ("model_median_ms", "sentinel_median_ms", "ratio")}
for ax, k, style, label in ((ax1, "model_median_ms", "o-", "model block median"),
                            (ax1, "sentinel_median_ms", "s-", "sentinel block median"),
                            (ax2, "ratio", "d-", "model / sentinel")):
    unit = "" if k == "ratio" else f" (run median {df[k].median():.2f} ms)"
    ax.plot(df["t_s"], rel[k], style, markersize=3, color=figures.PALETTE[len(ax.lines) + (ax is ax2) * 2],
            label=label + unit)
for ax in (ax1, ax2):
    ax.axhline(1.0, color="#57606a", linewidth=0.8)
    if step.shift:  # the final level of the model starts in this block
        ax.axvline(df["t_s"].iloc[min(step.index // model_iters, n_blocks - 1)], color=figures.PALETTE[3],
                   linestyle="--", label=f"model step {step.relative:+.0%}" if ax is ax1 else None)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
ax1.set_ylabel("block median / run median")
ax1.set_title(f"Model and sentinel, block by block: {attribution}")
ax2.set_ylabel("ratio / run median")
ax2.set_xlabel("time since the start of the run (s)")
m_rel, s_rel, r_rel = rel["model_median_ms"], rel["sentinel_median_ms"], rel["ratio"]
report.figure(fig, "sentinel-vs-model", alt=(
    f"Block medians of the model and of the sentinel over {elapsed_s:.0f} s ({n_blocks} blocks), each divided "
    f"by its run median: model from {m_rel.min():.2f} to {m_rel.max():.2f}, sentinel from {s_rel.min():.2f} "
    f"to {s_rel.max():.2f}; the model/sentinel ratio ranges {r_rel.min():.2f}-{r_rel.max():.2f}. Trend over the "
    f"run: model {drift.model.relative_change:+.1%}, sentinel {drift.sentinel.relative_change:+.1%}, ratio "
    f"{drift.ratio.relative_change:+.1%}; step: {step.describe()}; verdict: {attribution}."))

# %% [markdown]
# ## Frequency, temperature and throttle signals
#
# Read from the runner once per block: CPU frequency (`cpufreq/scaling_cur_freq`), thermal
# zones, Intel `core_throttle_count`, Raspberry Pi `vcgencmd get_throttled` and NVIDIA clock
# event reasons. A signal this runner does not expose is shown as "not available" with the
# reason; it is never guessed.

# %%
snaps = [r["throttle_before"] for r in blocks] + [blocks[-1]["throttle_after"]]
snap_t = list(df["t_s"]) + [elapsed_s]
rows = []
for name in snaps[0]:
    if name == "throttled":
        continue
    sigs = [s[name] for s in snaps]
    avail = [g for g in sigs if g["available"]]
    if not avail:
        rows.append({"signal": name, "available": False, "reading": NOT_AVAILABLE, "detail": sigs[0]["detail"],
                     "flagged in any sample": False})
        continue
    first, last = avail[0]["value"], avail[-1]["value"]
    reading = f"first {first}, last {last}" if first != last else f"{first} (unchanged)"
    rows.append({"signal": name, "available": True, "reading": reading[:160], "detail": avail[0]["detail"],
                 "flagged in any sample": any(g["flagged"] for g in avail)})
signals = pd.DataFrame(rows)
available = signals[signals["available"]]["signal"].tolist()
throttled_blocks = [r["block"] for r in blocks if r["throttle_seen"]]
reasons = sorted({x for r in blocks for x in r["throttle_reasons"]})
print(f"{len(snaps)} samples of every signal; available on this runner: {available or 'none'}")
if throttled_blocks:
    print(f"throttling seen around blocks {throttled_blocks}: {reasons}")
report.metric("signals_available", ", ".join(available) or NOT_AVAILABLE,
              description="throttle-related signals this runner exposes")
signals


# %%
def series(name, reduce):
    """One number per snapshot for an available signal (None where a snapshot lacks it)."""
    return [reduce(s[name]["value"]) if s[name]["available"] and isinstance(s[name]["value"], dict)
            and s[name]["value"] else None for s in snaps]


plots = []
if "cpufreq" in available:
    plots.append(("mean CPU frequency (MHz)", series("cpufreq", lambda v: np.mean(list(v.values())) / 1e6)))
if "thermal_zones" in available:
    plots.append(("hottest thermal zone (°C)", series("thermal_zones", lambda v: max(v.values()))))
if "core_throttle_count" in available:
    plots.append(("throttle events since boot (count, all CPUs)",
                  series("core_throttle_count", lambda v: sum(v.values()))))
if plots:
    fig = Figure(figsize=(8.0, 2.0 + 1.6 * len(plots)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(plots), 1, sharex=True))
    parts = []
    for ax, (label, ys) in zip(axes, plots):
        pts = [(t, y) for t, y in zip(snap_t, ys) if y is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", markersize=3, color=figures.PALETTE[3])
        ax.set_ylabel(label, fontsize=8)
        parts.append(f"{label} from {min(p[1] for p in pts):.4g} to {max(p[1] for p in pts):.4g}")
    axes[-1].set_xlabel("time since the start of the run (s)")
    axes[0].set_title("Machine signals during the run")
    report.figure(fig, "signals", alt=f"Machine signals sampled {len(snaps)} times over {elapsed_s:.0f} s: "
                  + "; ".join(parts))
else:
    print("No frequency, temperature or throttle counter is exposed on this runner: no signal figure; the "
          "sentinel is the only witness of machine drift here.")

# %% [markdown]
# ## SLO checklist on this runner

# %%
label = f"P{percentile * 100:g}"
if steady is None:
    q = stats.quantile_ci(model_all, percentile)
    report.estimate(f"whole_run.p{percentile * 100:g}_ms", q.scaled(1e-6), invalid_because="the run reached no steady "
                    f"state ({steady_state.reason}): a percentile over it describes no stable level",
                    description=f"{label} over the whole long run (no steady part to take it from)")
    report.check(f"p{percentile * 100:g}-within-deadline", "INCONCLUSIVE",
                 f"no verdict: class '{steady_state.classification}' ({steady_state.reason}), so the run has no steady "
                 f"part; {label} over the whole run was {q.value / 1e6:.2f} ms, reported as invalid")
else:
    verdict = stats.slo_verdict(steady, percentile, deadline_ms)
    report.check(f"p{percentile * 100:g}-within-deadline", verdict.verdict,
                 f"{label} over the steady part of the long run (iterations {steady_state.steady_start:,} to the end, "
                 f"{steady.size:,}) = {verdict.estimate.value:.2f} ms, 95% CI [{verdict.estimate.lower:.2f}, "
                 f"{verdict.estimate.upper:.2f}] ms, deadline {deadline_ms:g} ms: {verdict.reason}")
cls = steady_state.classification
report.check("steady-state-reached", "PASS" if cls in ("flat", "warmup") else
             ("INCONCLUSIVE" if steady_state.reason.startswith("too few") else "FAIL"), f"class '{cls}': {steady_state.reason}")
report.check("no-drift", "FAIL" if drift.drift else "PASS",
             f"trend {drift.model.relative_change:+.1%} (p = {drift.model.p_value:.2g}, {drift.model.blocks} block medians; "
             f"drift means p < {drift.model.alpha:g} and at least {min_change:.0%}); {step.describe()}: {drift.sentence}")
model_own = attribution in ("model drift", "machine and model drift")
report.check("no-model-specific-drift", "FAIL" if model_own and (step.relative if step.shift else drift.ratio.relative_change) > 0
             else "PASS", f"{attribution}; model/sentinel ratio: trend {drift.ratio.relative_change:+.1%} "
             f"(p = {drift.ratio.p_value:.2g})" + (f", across the step {drift.ratio_step:+.1%}" if step.shift else ""))
report.check("no-throttling", "NOT_MEASURED" if not available else ("FAIL" if throttled_blocks else "PASS"),
             "no frequency, thermal or throttle signal is exposed on this runner: " + "; ".join(signals["detail"])
             if not available else (f"throttling seen around blocks {throttled_blocks}: {'; '.join(reasons)}"
                                    if throttled_blocks else f"{len(snaps)} samples of {', '.join(available)}; "
                                    "none flagged throttling"))

# %% [markdown]
# ## Conclusion on this runner
#
# Computed from the measurements above, not written in advance.

# %%
runner = os.environ.get("EDGETIMING_RUNNER") or "this runner"
lines = [(f"- {model_all.size:,} model iterations over {elapsed_s:.0f} s, interleaved with {sent_all.size:,} "
          f"sentinel iterations. Class **{cls}**: {steady_state.reason}; {len(steady_state.change_points)} change point(s)."),
         f"- Drift on {runner}: **{attribution}**" + (f": {drift.reason}." if drift.reason else ".")]
if steady is None:
    lines.append(f"- No steady part: no {label} verdict against {deadline_ms:g} ms (the whole run's {label} is reported "
                 "as invalid, not as the device's latency).")
else:
    lines.append(f"- Steady part (from iteration {steady_state.steady_start:,}): P50 {stats.quantile(steady, 0.5) / 1e6:.2f} ms, "
                 f"{label} {stats.quantile(steady, percentile) / 1e6:.2f} ms; SLO {label} <= {deadline_ms:g} ms is "
                 f"**{verdict.verdict}** ({verdict.reason}).")
lines.append(f"- Signals read on this runner: {', '.join(available)}; " + (
    f"throttling flagged around blocks {throttled_blocks}." if throttled_blocks else "none flagged throttling.")
    if available else "- This runner exposes no frequency, temperature or throttle signal, so the sentinel is the "
    "only evidence about the machine's own speed.")
if inject_model_slowdown:
    lines.append(f"- A model-only slowdown of {inject_model_slowdown:.0%} was injected in the second half on purpose; "
                 f"the attribution reads '{attribution}'.")
for head_name, value, what, note in (
    ("headline.model_drift_pct", drift.model.relative_change, f"Theil-Sen trend of the block-median latency of {path.name}",
     f"Mann-Kendall p = {drift.model.p_value:.2g} over {drift.model.blocks} block medians"),
    ("headline.model_per_sentinel_drift_pct", drift.ratio.relative_change,
     f"Theil-Sen trend of the latency of {path.name} in sentinel units", f"Mann-Kendall p = {drift.ratio.p_value:.2g}"),
    ("headline.model_step_pct", step.relative if step.shift else 0.0,
     f"step of the latency of {path.name} from its main level to its final level (medians)", step.describe()),
):
    report.metric(head_name, value * 100, unit="%", note=f"{note}; attribution: {attribution}",
                  description=f"{what} over a {elapsed_s:.0f} s run, as a share of the earlier level")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## On your own device
#
# ```bash
# edgetiming run recipes/drift-and-thermal.py --runner my-board \
#     --param model_path=/path/to/model.onnx --param 'input_shape=[1, 3, 640, 640]' \
#     --param duration_s=600 --param deadline_ms=33.3
# ```
#
# Run it long enough for the device to heat up (ten minutes or more on a passively cooled
# board) and in the enclosure it will ship in. To see what a model-only drift looks like,
# add `--param inject_model_slowdown=0.3`: the second half of the model calls then busy-wait
# 30% longer, the sentinel does not, and the attribution should read "model drift".
