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
# own with `--param model_path=/path/to/model.onnx` and its input shape. The tests live in
# `edgetiming.stats.steady`.

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
import os
import time

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from edgetiming.host.resources import NOT_AVAILABLE, signal_series, signal_table
from edgetiming.measure import noise
from edgetiming.measure.closedloop import closed_loop
from edgetiming.measure.interleaved import interleaved_run
from edgetiming.measure.session import SessionConfig, open_session, session_settings
from edgetiming.results import figures, report
from edgetiming.stats import quantiles as stats
from edgetiming.stats.steady import attribute_drift, classify_steady_state
from edgetiming.workload.models import resolve, sha256_file
from edgetiming.workload.ocrdata import det_batch
from edgetiming.workload.synthetic import matmul_relu_chain

config = SessionConfig(intra_op_num_threads=intra_op_threads or None)
path = resolve(model_path)
session = open_session(path, config)
settings = session_settings(session)
print(f"model: {path.name} ({path.stat().st_size / 1e6:.1f} MB, sha256 {sha256_file(path)[:12]}...); " + ", ".join(
    f"{k} {settings[k]}" for k in ("onnxruntime_version", "intra_op_num_threads", "allow_spinning", "providers")))
rng = np.random.default_rng(seed)
feeds = {session.get_inputs()[0].name: det_batch(input_shape, rng)}
sentinel = open_session(matmul_relu_chain(sentinel_rows, sentinel_width, seed=seed), config)
sentinel_feeds = {"x": rng.standard_normal((sentinel_rows, sentinel_width)).astype(np.float32)}

# The model call is one function for the whole run, so the call path is identical in both halves;
# `extra_ns` stays 0 unless `inject_model_slowdown` asks for a deliberate model-only drift.
extra_ns = 0


def run_model():
    session.run(None, feeds)
    if extra_ns:  # busy-wait after the inference
        end = time.perf_counter_ns() + extra_ns
        while time.perf_counter_ns() < end:
            pass


def run_sentinel():
    sentinel.run(None, sentinel_feeds)


# A short calibration sizes the blocks in iterations, so a block lasts about block_s on any device.
model_ms = np.median(closed_loop(run_model, warmup_iters=1, iters=3, overhead=False).steady_ns) / 1e6
sent_ms = np.median(closed_loop(run_sentinel, warmup_iters=3, iters=10, overhead=False).steady_ns) / 1e6
model_iters = max(2, round(block_s * 1e3 / model_ms))
sent_iters = max(2, round(block_s * sentinel_share * 1e3 / sent_ms))
block_est_s = (model_iters * model_ms + sent_iters * sent_ms) / 1e3
n_blocks = max(9, round(duration_s / block_est_s))  # at least 9 blocks, whatever the machine
print(f"calibration: model {model_ms:.2f} ms, sentinel {sent_ms:.2f} ms per call; {n_blocks} blocks of {model_iters} "
      f"model + {sent_iters} sentinel iterations (about {n_blocks * block_est_s:.0f} s)")

# %% [markdown]
# ## The long run
#
# Each block times the model for `model_iters` calls, then the sentinel for `sent_iters`
# calls, both in the closed loop with garbage collection off (`edgetiming.measure.interleaved`).
# Each timed loop reads every throttle signal before and after it
# (`edgetiming.host.resources.throttle_signals`), and the interference telemetry (the share of
# the CPUs other work held) is read at every block boundary, so both are sampled once per
# block, outside the timed calls. Nothing is trimmed: the first block's iterations are part
# of the series, and the classification below says whether they are a warmup.

# %%
def before_block(b, t_s):  # the deliberate model-only drift, if asked for: second half only
    global extra_ns
    extra_ns = int(inject_model_slowdown * model_ms * 1e6) if t_s >= duration_s / 2 else 0


# a machine busier than at calibration keeps the run's length (1.1 x duration_s), not its block count
run = interleaved_run(run_model, run_sentinel, model_iters=model_iters, sentinel_iters=sent_iters,
                      n_blocks=n_blocks, max_s=1.1 * duration_s, before_block=before_block)
elapsed_s, snaps, throttled, n_blocks = run.elapsed_s, run.snaps, run.throttled, run.n_blocks
if n_blocks < run.planned:
    print(f"stopped after {n_blocks} of {run.planned} planned blocks: the run reached its {duration_s:g} s length")
model_all, sent_all = np.concatenate(run.model_ns), np.concatenate(run.sentinel_ns)
df = pd.DataFrame(run.rows())
df["ratio"] = df["model_median_ms"] / df["sentinel_median_ms"]
report.samples("model", model_all, description=f"model latency per iteration in order, {n_blocks} blocks of "
               f"{model_iters}; no warmup removed")
report.samples("sentinel", sent_all, description=f"sentinel latency per iteration in order, {n_blocks} blocks of "
               f"{sent_iters}, each block run right after the model block of the same index")
report.metric("run_duration_s", elapsed_s, unit="s", description="wall time of the long run")
report.metric("blocks", n_blocks, description="interleaved model + sentinel blocks")
run.report_interference("long_run")  # the long_run.busy_share metric and its telemetry per block
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
print(f"change points at iterations {list(steady_state.change_points)}; {steady_state.n_outliers} outliers set aside",
      *(f"  iterations {g.start:>6}-{g.end:<6} mean {g.mean_ms:7.2f} ms  median {g.median_ms:7.2f} ms"
        for g in steady_state.segments), sep="\n")
report.metric("steady_class", steady_state.classification, description=steady_state.reason)
report.metric("change_points", len(steady_state.change_points), description="change points PELT found in the model series")
# with no steady state there is no steady part (never the whole run by default)
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
#
# The noise figure puts every model call, each block in sentinel units and the share of the
# CPUs other work held per block on one time axis.

# %%
drift = attribute_drift(model_all, sent_all, n_blocks, trend_blocks=drift_blocks, min_change=min_change)
step, attribution = drift.step, drift.attribution
step_change = step.relative if step.shift else 0.0
for name, d in (("model", drift.model), ("sentinel", drift.sentinel), ("model/sentinel", drift.ratio)):
    print(f"{name:<15} trend tau {d.tau:+.2f}  p {d.p_value:.3g}  change over the run {d.relative_change:+.1%}  "
          f"drift: {d.drift}  ({d.blocks} blocks)")
    report.metric(f"drift.{name.replace('/', '_per_')}.relative_change", d.relative_change,
                  description=f"Theil-Sen trend of the {name} block medians over the run / its median "
                  f"(p = {d.p_value:.3g}, {d.blocks} blocks)")
print(f"step: {step.describe()}" + (f"; across it the sentinel moved {drift.sentinel_step:+.1%}, the ratio "
                                    f"{drift.ratio_step:+.1%}" if step.shift else "") + f"\n=> {drift.sentence}")
report.metric("step.model.relative_change", step_change,
              description=f"the model's final level / its main earlier level - 1 (medians): {step.describe()}")
report.metric("step.model.start_fraction", step.fraction if step.shift else None,
              description="where the model's final level starts, as a share of the run (None: no step)")
report.metric("drift_attribution", attribution, description=drift.reason)

# %%
fig, alt = figures.model_vs_sentinel(
    df["t_s"], df["model_median_ms"], df["sentinel_median_ms"], duration_s=elapsed_s,
    step_at_s=df["t_s"].iloc[min(step.index // model_iters, n_blocks - 1)] if step.shift else None,
    step_label=f"{step.relative:+.0%}" if step.shift else "", title=f"Model and sentinel, block by block: {attribution}")
report.figure(fig, "sentinel-vs-model", alt=(
    f"{alt}. Trend over the run: model {drift.model.relative_change:+.1%}, sentinel {drift.sentinel.relative_change:+.1%}"
    f", ratio {drift.ratio.relative_change:+.1%}; step: {step.describe()}; verdict: {attribution}."))
fig, alt = noise.figure(run.noise_panels(path.name), deadline_ms=deadline_ms,
                        title="Every model call in time, the model in sentinel units, other work on the machine")
report.figure(fig, "noise", alt=alt)

# %% [markdown]
# ## Frequency, temperature and throttle signals
#
# Read from the runner once per block: CPU frequency (`cpufreq/scaling_cur_freq`), thermal
# zones, Intel `core_throttle_count`, Raspberry Pi `vcgencmd get_throttled` and NVIDIA clock
# event reasons. A signal this runner does not expose is shown as "not available" with the
# reason; it is never guessed.

# %%
signals = pd.DataFrame(signal_table(snaps))
available = signals.loc[signals["available"], "signal"].tolist()
reasons = sorted({x for r in throttled.values() for x in r})
print(f"{len(snaps)} samples of every signal; available on this runner: {available or 'none'}"
      + (f"; throttling seen around blocks {list(throttled)}: {reasons}" if throttled else ""))
report.metric("signals_available", ", ".join(available) or NOT_AVAILABLE,
              description="throttle-related signals this runner exposes")
signals

# %%
if series := signal_series(snaps):
    fig, alt = figures.signals([*df["t_s"], elapsed_s], series)
    report.figure(fig, "signals", alt=alt)
else:
    print("No frequency, temperature or throttle counter is exposed on this runner: no signal figure; the "
          "sentinel is the only witness of machine drift here.")

# %% [markdown]
# ## SLO checklist on this runner

# %%
label, cls = f"P{percentile * 100:g}", steady_state.classification
if steady is None:
    q = stats.quantile_ci(model_all, percentile)
    report.estimate(f"whole_run.p{percentile * 100:g}_ms", q.scaled(1e-6), invalid_because="the run reached no steady "
                    f"state ({steady_state.reason}): a percentile over it describes no stable level",
                    description=f"{label} over the whole long run (no steady part to take it from)")
    report.check(f"{label.lower()}-within-deadline", "INCONCLUSIVE",
                 f"no verdict: class '{steady_state.classification}' ({steady_state.reason}), so the run has no steady "
                 f"part; {label} over the whole run was {q.value / 1e6:.2f} ms, reported as invalid")
else:
    verdict = stats.slo_verdict(steady, percentile, deadline_ms)
    report.check(f"{label.lower()}-within-deadline", verdict.verdict,
                 f"{label} over the steady part of the long run (iterations {steady_state.steady_start:,} to the end, "
                 f"{steady.size:,}) = {verdict.estimate.value:.2f} ms, 95% CI [{verdict.estimate.lower:.2f}, "
                 f"{verdict.estimate.upper:.2f}] ms, deadline {deadline_ms:g} ms: {verdict.reason}")
report.check("steady-state-reached", "PASS" if cls in ("flat", "warmup") else
             ("INCONCLUSIVE" if steady_state.reason.startswith("too few") else "FAIL"), f"class '{cls}': {steady_state.reason}")
report.check("no-drift", "FAIL" if drift.drift else "PASS",
             f"trend {drift.model.relative_change:+.1%} (p = {drift.model.p_value:.2g}, {drift.model.blocks} block medians; "
             f"drift means p < {drift.model.alpha:g} and at least {min_change:.0%}); {step.describe()}: {drift.sentence}")
model_own = attribution in ("model drift", "machine and model drift")
report.check("no-model-specific-drift", "FAIL" if model_own and (step.relative if step.shift else drift.ratio.relative_change) > 0
             else "PASS", f"{attribution}; model/sentinel ratio: trend {drift.ratio.relative_change:+.1%} "
             f"(p = {drift.ratio.p_value:.2g})" + (f", across the step {drift.ratio_step:+.1%}" if step.shift else ""))
report.check("no-throttling", "NOT_MEASURED" if not available else "FAIL" if throttled else "PASS",
             "no frequency, thermal or throttle signal is exposed on this runner: " + "; ".join(signals["detail"])
             if not available else f"throttling seen around blocks {list(throttled)}: {'; '.join(reasons)}"
             if throttled else f"{len(snaps)} samples of {', '.join(available)}; none flagged throttling")

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
    f"throttling flagged around blocks {list(throttled)}." if throttled else "none flagged throttling.")
    if available else "- This runner exposes no frequency, temperature or throttle signal, so the sentinel is the "
    "only evidence about the machine's own speed.")
lines.append(f"- Other work held {run.busy_share:.0%} of the measured CPUs over the run." if run.busy_share
             is not None else "- The share of the CPUs other work held is not available on this runner.")
if inject_model_slowdown:
    lines.append(f"- A model-only slowdown of {inject_model_slowdown:.0%} was injected in the second half on purpose; "
                 f"the attribution reads '{attribution}'.")
for head_name, value, what, note in (
    ("headline.model_drift_pct", drift.model.relative_change, f"Theil-Sen trend of the block-median latency of {path.name}",
     f"Mann-Kendall p = {drift.model.p_value:.2g} over {drift.model.blocks} block medians"),
    ("headline.model_per_sentinel_drift_pct", drift.ratio.relative_change,
     f"Theil-Sen trend of the latency of {path.name} in sentinel units", f"Mann-Kendall p = {drift.ratio.p_value:.2g}"),
    ("headline.model_step_pct", step_change,
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
