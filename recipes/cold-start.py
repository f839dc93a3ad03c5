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
#     quick: {rounds: 3, iters: 15}
#     expected_duration_s: 60
#     timeout_cell_s: 600
# ---

# %% [markdown]
# # Cold start: from process launch to a steady first result
#
# A device that starts an inference process on demand (a wake-up, a crash restart, a
# serverless function) makes its first user wait for far more than one inference: the
# interpreter starts, onnxruntime is imported, the model is loaded and optimized, and the
# first few inferences are slower than the rest. You will learn how long each of those phases
# takes across rounds of fresh processes (a distribution, not one number), whether
# loading a model that was optimized ahead of time (a pre-optimized `.onnx` saved with
# `SessionOptions.optimized_model_filepath`, or the ORT format) shortens session creation on
# this runner, and what one warm-up inference at start-up buys the first real request.
#
# The model is the PP-OCRv4 text detector; pass your own with `--param model_path=...`.

# %% tags=["parameters"]
model_path = "rapidocr:det"  # an .onnx file, or rapidocr:det / rapidocr:rec / rapidocr:cls
input_shape = [1, 3, 320, 320]  # N, C, H, W of the model's image input
rounds = 8  # rounds; each launches one fresh process per variant (and the A/A arm) in random order
iters = 40  # inferences each process runs after the first, to find its steady state
startup_deadline_ms = 1000.0  # the app must answer its first request within this after launch
deadline_ms = 50.0  # the per-request deadline the first request is held to
optimization_level = "all"  # graph optimizations baked into the pre-optimized models
intra_op_threads = 0  # 0 lets onnxruntime choose
seed = 0

# %% [markdown]
# ## Three ways to ship the same model
#
# * **original**: the `.onnx` file as published; onnxruntime optimizes the graph every time a
#   session is created.
# * **pre-optimized .onnx**: the graph after onnxruntime's optimizations, saved once on this
#   runner with `SessionOptions.optimized_model_filepath`, then loaded with optimizations off.
# * **ORT format**: the same optimized graph in onnxruntime's own flatbuffer format
#   (`session.save_model_format = ORT`), the format meant for mobile and minimal builds.
#
# At level `all` the saved graph can hold layout transformations specific to this CPU: build it
# on the device, or with `optimization_level=extended` for a portable file.

# %%
from pathlib import Path

import numpy as np
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from edgetiming.measure import noise
from edgetiming.measure.coldstart import (
    LAUNCH_PHASES,
    cold_conclusions,
    cold_start_rounds,
    noise_panels,
)
from edgetiming.measure.session import SessionConfig, open_session, save_optimized
from edgetiming.results import figures, report
from edgetiming.stats import quantiles as stats
from edgetiming.stats.conclude import runner_name, versus_noise
from edgetiming.stats.validity import min_samples_two_sided
from edgetiming.workload.models import resolve, sha256_file
from edgetiming.workload.ocrdata import det_input, render_page

figures.use_style()
source = resolve(model_path)
out_dir = Path("cold-start-models")  # in the working directory (a temporary one under `edgetiming run`)
out_dir.mkdir(exist_ok=True)
files = {"pre-optimized .onnx": out_dir / f"{source.stem}.{optimization_level}.onnx",
         "ORT format": out_dir / f"{source.stem}.{optimization_level}.ort"}
for name, target in files.items():
    save_optimized(source, target, optimization_level, ort_format=target.suffix == ".ort")
threads = intra_op_threads or None
variants = {"original": (source, SessionConfig(intra_op_num_threads=threads))} | {
    name: (target, SessionConfig(intra_op_num_threads=threads, graph_optimization_level="disable"))
    for name, target in files.items()}
slug = {"original": "original", "pre-optimized .onnx": "preopt-onnx", "ORT format": "ort-format",
        "original (A/A)": "original-aa"}
for name, (path, _) in variants.items():
    print(f"{name:<20} {path.name:<45} {path.stat().st_size / 1e6:6.2f} MB  sha256 {sha256_file(path)[:12]}")
n, c, h, w = input_shape
probe = open_session(source)
page = render_page(np.random.default_rng(seed), height=h, width=w)
feeds = {probe.get_inputs()[0].name: np.repeat(det_input(page.image, size=(h, w)), n, axis=0)}
del probe

# %% [markdown]
# ## Rounds of fresh processes
#
# Each round launches one fresh Python process per variant, plus the original model a second
# time (the A/A arm), in a random order that is mirrored every other round, so a slow minute
# of this shared machine hits every variant alike. Each process imports numpy and
# onnxruntime, creates the session, runs the first inference and `iters` more, timing every
# phase. Ratios are computed per round and their interval is taken over rounds (Student t on
# the log ratios). The model file is in the page cache after the first process: these are
# warm-disk cold starts, the usual case for a restart.

# %%
cr = cold_start_rounds(variants, rounds=rounds, feeds=feeds, iters=iters, seed=seed, window=max(5, min(20, iters // 4)))
for name, run in cr.runs.items():
    run.report(f"cold.{slug[name]}")
PHASES = [*LAUNCH_PHASES, "launch to first result", "second inference", "steady inference", "time to steady"]
print(f"median over {cr.rounds} rounds (min-max), ms")
print(f"{'phase':<36}" + "".join(f"{v:>24}" for v in cr.runs))
for ph in PHASES:
    cells = []
    for v in cr.runs:
        x = cr.values(v, ph) / 1e6
        x = x[np.isfinite(x)]
        cells.append(f"{np.median(x):8.1f} ({x.min():.1f}-{x.max():.1f})" if x.size else "never steady")
    print(f"{ph:<36}" + "".join(f"{cell:>24}" for cell in cells))
never = sum(p.time_to_steady_ns is None for run in cr.runs.values() for p in run.processes)

# %%
show = [*LAUNCH_PHASES, "launch to first result", "second inference", "time to steady"]
fig, alt = figures.per_process({v: {ph: cr.values(v, ph) / 1e6 for ph in show} for v in cr.runs},
                               threshold_ms=startup_deadline_ms, threshold_label=f"startup deadline {startup_deadline_ms:g} ms",
                               title=f"Cold-start phases, one dot per fresh process ({cr.rounds} rounds), bar = median")
report.figure(fig, "phases", alt=alt)
fig, alt = noise.figure(noise_panels(cr, "session create"), title="Session creation of each fresh process and the machine")
report.figure(fig, "noise", alt=alt)

# %%
fig = Figure(figsize=(8.0, 4.2), layout="constrained")
ax = fig.subplots()
k_show = min(iters + 1, 40)
alt_parts = []
for j, v in enumerate(variants):
    traces = np.array([p.latency_ns[:k_show] for p in cr.runs[v].processes], dtype=np.float64) / 1e6
    ax.plot(range(k_show), traces.T, "-", color=figures.PALETTE[j], alpha=0.15, lw=0.8)
    med = np.median(traces, axis=0)
    ax.plot(range(k_show), med, "-", color=figures.PALETTE[j], lw=2.0, label=f"{v} (median of processes)")
    alt_parts.append(f"{v}: inference 1 {med[0]:.1f} ms, inference 2 {med[1]:.1f} ms, inference {k_show} {med[-1]:.1f} ms")
ax.axhline(deadline_ms, color="#D55E00", linestyle="--", lw=1.0, label=f"request deadline {deadline_ms:g} ms")
ax.set_yscale("log")
figures.log_ticks(ax)
ax.set_xlabel("inference number in the process (count, from 0)")
ax.set_ylabel("latency (ms, log scale)")
ax.set_title("The first inferences of each fresh process")
ax.legend(loc="upper right", fontsize=8)
report.figure(fig, "first-inferences", alt="Latency of the first inferences of every fresh process, per variant "
              "(median of processes): " + "; ".join(alt_parts))

# %% [markdown]
# ## Does the pre-optimized model load faster? Does a warm-up help?
#
# Session creation of each variant against the original, paired by round, beside the A/A arm's
# ratio (the noise floor). A warm-up inference moves the first inference's cost from the first
# real request to start-up: the first request then pays what the *second* inference costs.

# %%
aa = cr.aa("session create")
rows = {"original (A/A)": aa} | {v: cr.ratio("original", v, "session create") for v in cr.variants[1:]}
print(f"{'session create vs original':<28}{'ratio':>8}{'95% interval':>20}{'faster rounds':>15}  conclusion")
for v, r in rows.items():
    iv = r.interval
    print(f"{v:<28}{r.ratio:>8.3f}{f'[{iv.lower:.3f}, {iv.upper:.3f}]' if iv.known else 'unknown':>20}"
          f"{f'{r.n_lower} of {r.rounds}':>15}  {r.direction if v == 'original (A/A)' else versus_noise(r, aa)}")
    report.metric(f"cold.{slug[v]}.session_create_ratio", r.ratio, unit="x", runs=r.rounds,
                  ci=(iv.lower, iv.upper) if iv.known else None, note=r.direction if v == "original (A/A)"
                  else versus_noise(r, aa), description=f"session creation of {v} / original, paired over "
                  f"{r.rounds} rounds of fresh processes (Student t on log ratios); below 1 is faster")
for v in variants:
    for label, ph in (("no_warmup", "first inference"), ("warmup", "second inference")):
        x = cr.values(v, ph) / 1e6
        report.metric(f"cold.{slug[v]}.first_request_{label}_ms", float(np.median(x)), unit="ms", n=x.size,
                      description=f"median latency of the first request {'after one warm-up inference (2nd inference)' if label == 'warmup' else 'when no warm-up ran (1st inference)'}")

# %% [markdown]
# ## SLO checklist on this runner
#
# The claims are about the median process ("a typical launch answers within the startup
# deadline"), judged on the pooled processes' deciding interval.

# %%
def median_claim(v: str, ph: str, limit_ms: float):
    x = cr.values(v, ph)
    q = stats.quantile_ci(x[np.isfinite(x)] / 1e6, 0.5)  # one value per independent process
    verdict = "INCONCLUSIVE" if not q.valid else ("PASS" if q.upper <= limit_ms else
                                                  "FAIL" if q.lower > limit_ms else "INCONCLUSIVE")
    why = "" if q.valid else f"; {q.n} processes are fewer than the {min_samples_two_sided(0.5)} a median interval needs"
    span = f"[{q.lower:.1f}, {q.upper:.1f}]" if q.bounded else "unbounded"
    return q, verdict, f"median {q.value:.1f} ms, 95% interval {span} vs {limit_ms:g} ms{why}"


for v in variants:
    _, verdict, text = median_claim(v, "launch to first result", startup_deadline_ms)
    report.check(f"{slug[v]}-median-launch-to-first-result", verdict, f"{v}: launch to first result, {text}")
for label, ph in (("no-warmup", "first inference"), ("warmup", "second inference")):
    _, verdict, text = median_claim("original", ph, deadline_ms)
    report.check(f"first-request-{label}-within-deadline", verdict, f"original model, first request "
                 f"{'after one warm-up inference' if label == 'warmup' else 'with no warm-up'}: {text}")
report.check("every-process-reached-steady-state", "PASS" if never == 0 else "FAIL",
             f"{never} of {cr.rounds * len(cr.runs)} processes did not settle within {iters} inferences")
report.check("enough-rounds", "PASS" if cr.rounds >= 5 else "FAIL",
             f"{cr.rounds} rounds; an interval over rounds needs at least 5 to have power")

# %% [markdown]
# ## Conclusion on this runner
#
# Generated from the ratios and the A/A noise floor above.

# %%
launch_q, _, _ = median_claim("original", "launch to first result", startup_deadline_ms)
report.estimate("headline.launch_to_first_result_ms", launch_q,
                description=f"Median time from launching a fresh process to the first result of {source.name}, "
                            "original model (every phase: interpreter, imports, session, first inference)")
pre = rows["pre-optimized .onnx"]
report.metric("headline.preopt_session_create_ratio", pre.ratio, unit="x", runs=pre.rounds,
              ci=(pre.interval.lower, pre.interval.upper) if pre.interval.known else None, note=versus_noise(pre, aa),
              description=f"Session creation of the .onnx pre-optimized at level {optimization_level} / the original "
                          "model, paired over rounds of fresh processes (lower is faster)")
lines = cold_conclusions(cr, "session create", runner=runner_name())
w_first, w_second = (float(np.median(cr.values("original", ph))) / 1e6 for ph in ("first inference", "second inference"))
lines.append(f"One warm-up inference at start-up makes the first request take {w_second:.1f} ms instead of "
             f"{w_first:.1f} ms (medians over {cr.rounds} processes).")
if never:
    lines.append(f"{never} processes never settled within {iters} inferences: this runner was noisy.")
display(Markdown("\n".join(f"- {line}" for line in lines)))

# %% [markdown]
# ## On your own device
#
# ```bash
# edgetiming run recipes/cold-start.py --runner my-board \
#     --param model_path=/path/to/model.onnx --param 'input_shape=[1, 3, 640, 640]' \
#     --param startup_deadline_ms=2000 --param optimization_level=extended
# ```
#
# On a device with slow storage, also time a first boot (drop the page cache or reboot before
# the first process): reading the model file from flash can dominate everything measured here.
