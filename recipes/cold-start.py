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
#     quick: {n_processes: 2, iters: 40}
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
# takes across `n_processes` fresh processes (a distribution, not one number), whether
# loading a model that was optimized ahead of time (a pre-optimized `.onnx` saved with
# `SessionOptions.optimized_model_filepath`, or the ORT format) shortens session creation on
# this runner, and what one warm-up inference at start-up buys the first real request.
#
# The model is the PP-OCRv4 text detector; pass your own with `--param model_path=...`.

# %% tags=["parameters"]
model_path = "rapidocr:det"  # an .onnx file, or rapidocr:det / rapidocr:rec / rapidocr:cls
input_shape = [1, 3, 320, 320]  # N, C, H, W of the model's image input
n_processes = 10  # fresh processes per variant (interleaved across variants)
iters = 60  # inferences each process runs after the first, to find its steady state
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
#   runner with `SessionOptions.optimized_model_filepath`, then loaded with optimizations
#   off.
# * **ORT format**: the same optimized graph saved in onnxruntime's own flatbuffer format
#   (`session.save_model_format = ORT`), the format meant for mobile and minimal builds.
#
# At level `all` the saved graph can hold layout transformations specific to this CPU
# (onnxruntime warns about it): build it on the device, or with `optimization_level=extended`
# for a portable file.

# %%
from pathlib import Path

import numpy as np
import onnxruntime as ort
from IPython.display import Markdown, display
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from edgetiming.measure.coldstart import ColdStartRun, cold_start
from edgetiming.measure.session import SessionConfig
from edgetiming.results import figures, report
from edgetiming.stats import quantiles as stats
from edgetiming.stats.compare import compare_runs
from edgetiming.workload.models import resolve, sha256_file
from edgetiming.workload.ocrdata import det_input, render_page

figures.use_style()


def log_ticks(ax) -> None:
    """Plain-number ticks at 1, 2 and 5 per decade on a log y axis."""
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(NullFormatter())
source = resolve(model_path)
LEVELS = {"basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}
out_dir = Path("cold-start-models")  # in the working directory (a temporary one under `edgetiming run`)
out_dir.mkdir(exist_ok=True)


def save_optimized(target: Path, ort_format: bool) -> Path:
    so = ort.SessionOptions()
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, LEVELS[optimization_level])
    so.optimized_model_filepath = str(target)
    so.log_severity_level = 3  # the hardware-specific warning is explained above
    if ort_format:
        so.add_session_config_entry("session.save_model_format", "ORT")
    ort.InferenceSession(str(source), so, providers=["CPUExecutionProvider"])
    return target


optimized = save_optimized(out_dir / (source.stem + f".{optimization_level}.onnx"), ort_format=False)
ort_model = save_optimized(out_dir / (source.stem + f".{optimization_level}.ort"), ort_format=True)
threads = intra_op_threads or None
variants = {
    "original": (source, SessionConfig(intra_op_num_threads=threads)),
    "pre-optimized .onnx": (optimized, SessionConfig(intra_op_num_threads=threads, graph_optimization_level="disable")),
    "ORT format": (ort_model, SessionConfig(intra_op_num_threads=threads, graph_optimization_level="disable")),
}
for name, (path, _) in variants.items():
    print(f"{name:<20} {path.name:<45} {path.stat().st_size / 1e6:6.2f} MB  sha256 {sha256_file(path)[:12]}")


n, c, h, w = input_shape
probe = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
feeds = {probe.get_inputs()[0].name: np.repeat(det_input(render_page(np.random.default_rng(seed), height=h, width=w).image, size=(h, w)), n, axis=0)}
del probe

# %% [markdown]
# ## N fresh processes per variant
#
# Each process is a new Python interpreter that imports numpy and onnxruntime, creates the
# session, runs the first inference and then `iters` more, timing every phase. Variants are
# interleaved (A, B, C, A, B, C, ...) so a slow minute of this shared machine hits all of
# them alike. The model file is in the page cache after the first process: these are warm-disk
# cold starts, the usual case for a restart; a first boot also reads the file from storage.

# %%
per_variant: dict[str, list] = {name: [] for name in variants}
settings = {}
for _ in range(n_processes):
    for name, (path, cfg) in variants.items():
        one = cold_start(str(path), n_processes=1, feeds=feeds, session_config=cfg, iters=iters)
        per_variant[name].extend(one.processes)
        settings[name] = one.settings
runs = {name: ColdStartRun(str(variants[name][0]), procs, 20, 0.10, settings[name])
        for name, procs in per_variant.items()}
slug = {"original": "original", "pre-optimized .onnx": "preopt-onnx", "ORT format": "ort-format"}
for name, run in runs.items():
    run.report(f"cold.{slug[name]}")

PHASES = [("import onnxruntime", lambda p: p.import_onnxruntime_ns),
          ("session create", lambda p: p.session_create_ns),
          ("1st inference", lambda p: p.first_inference_ns),
          ("2nd inference", lambda p: int(p.latency_ns[1])),
          ("steady inference", lambda p: int(np.median(p.latency_ns[len(p.latency_ns) // 2:]))),
          ("time to steady", lambda p: p.time_to_steady_ns),
          ("launch to 1st result", lambda p: p.spawn_to_first_result_ns)]


def phase(name: str, variant: str) -> np.ndarray:
    fn = dict(PHASES)[name]
    vals = [fn(p) for p in runs[variant].processes]
    return np.array([v for v in vals if v is not None], dtype=np.int64)


def median_ns(x) -> float:
    """Nearest-rank median (the estimator every verdict here uses)."""
    return stats.quantile(x, 0.5)


print(f"median over {n_processes} processes (min-max), ms")
print(f"{'phase':<22}" + "".join(f"{v:>26}" for v in variants))
for ph, _ in PHASES:
    cells = []
    for v in variants:
        x = phase(ph, v) / 1e6
        cells.append(f"{median_ns(x):9.1f} ({x.min():.1f}-{x.max():.1f})" if x.size else "never steady")
    print(f"{ph:<22}" + "".join(f"{cell:>26}" for cell in cells))
never = {v: sum(p.time_to_steady_ns is None for p in runs[v].processes) for v in variants}
steady_iter = {v: [p.steady_iter for p in runs[v].processes if p.steady_iter is not None] for v in variants}
print("processes that never reached a steady state:", never)

# %%
fig = Figure(figsize=(9.0, 4.8), layout="constrained")
ax = fig.subplots()
colors = figures.PALETTE
width = 0.8 / len(variants)
jitter = np.random.default_rng(seed)
alt_parts = []
for j, v in enumerate(variants):
    for i, (ph, _) in enumerate(PHASES):
        x = np.maximum(phase(ph, v) / 1e6, 0.1)  # 0 ms (steady from the start) drawn at 0.1 ms
        if not x.size:
            continue
        pos = i - 0.4 + width * (j + 0.5)
        ax.plot(pos + jitter.uniform(-width / 4, width / 4, x.size), x, "o", markersize=3.5, alpha=0.7,
                color=colors[j], label=v if i == 0 else None)
        ax.plot([pos - width / 2.5, pos + width / 2.5], [median_ns(x)] * 2, "-", color=colors[j], linewidth=2.2)
    alt_parts.append(f"{v}: " + ", ".join(
        f"{ph} median {median_ns(phase(ph, v)) / 1e6:.1f} ms" for ph, _ in PHASES if phase(ph, v).size))
ax.set_yscale("log")
log_ticks(ax)
ax.set_xticks(range(len(PHASES)), [ph for ph, _ in PHASES], rotation=20, ha="right")
ax.axhline(startup_deadline_ms, color="#D55E00", linestyle="--", linewidth=1.0,
           label=f"startup deadline {startup_deadline_ms:g} ms")
ax.set_ylabel("time (ms, log scale)")
ax.set_xlabel("phase")
ax.set_title(f"Cold-start phases, one dot per fresh process ({n_processes} per variant), bar = median")
ax.legend(loc="upper left", fontsize=8)
report.figure(fig, "phases", alt=f"Cold-start phases of {n_processes} fresh processes per variant on a log scale. "
              + "; ".join(alt_parts))

# %%
fig = Figure(figsize=(8.0, 4.2), layout="constrained")
ax = fig.subplots()
k_show = min(iters + 1, 40)
alt_parts = []
for j, v in enumerate(variants):
    traces = np.array([p.latency_ns[:k_show] for p in runs[v].processes], dtype=np.float64) / 1e6
    for t in traces:
        ax.plot(range(k_show), t, "-", color=colors[j], alpha=0.15, linewidth=0.8)
    med = np.median(traces, axis=0)
    ax.plot(range(k_show), med, "-", color=colors[j], linewidth=2.0, label=f"{v} (median of processes)")
    alt_parts.append(f"{v}: inference 1 {med[0]:.1f} ms, inference 2 {med[1]:.1f} ms, "
                     f"inference {k_show} {med[-1]:.1f} ms")
ax.axhline(deadline_ms, color="#D55E00", linestyle="--", linewidth=1.0, label=f"request deadline {deadline_ms:g} ms")
ax.set_yscale("log")
log_ticks(ax)
ax.set_xlabel("inference number in the process (count, from 0)")
ax.set_ylabel("latency (ms, log scale)")
ax.set_title("The first inferences of each fresh process")
ax.legend(loc="upper right", fontsize=8)
report.figure(fig, "first-inferences", alt="Latency of the first inferences of every fresh process, per variant "
              "(median of processes): " + "; ".join(alt_parts))

# %% [markdown]
# ## Does the pre-optimized model load faster? Does a warm-up help?
#
# Session creation of each variant against the original, by the median over processes with
# an interval (`compare_runs`, order statistics; with few processes it may well be
# inconclusive). A warm-up inference moves the first inference's cost from the first real
# request to start-up: the first request then pays what the *second* inference costs, and the
# process is ready later by one first inference.

# %%
cmp = {}
for v in list(variants)[1:]:
    cmp[v] = compare_runs(phase("session create", "original"), phase("session create", v), percentile=0.5,
                          min_effect=0.05)
    print(f"session create, {v} vs original: {cmp[v].verdict} ({cmp[v].reason})")
    report.metric(f"cold.{slug[v]}.session_create_ratio", cmp[v].ratio, ci=(cmp[v].lower, min(cmp[v].upper, 1e9)),
                  description=f"median session creation of {v} / original")
warm = {}
for v in variants:
    first, second = phase("1st inference", v), phase("2nd inference", v)
    create = phase("session create", v)
    warm[v] = {"first_ms": median_ns(first) / 1e6, "second_ms": median_ns(second) / 1e6,
               "ready_no_warmup_ms": median_ns(create) / 1e6, "ready_warmup_ms": median_ns(create + first) / 1e6}
    print(f"{v:<20} first request without warm-up {warm[v]['first_ms']:7.1f} ms, with warm-up "
          f"{warm[v]['second_ms']:7.1f} ms; session ready {warm[v]['ready_no_warmup_ms']:.1f} ms without, "
          f"{warm[v]['ready_warmup_ms']:.1f} ms with warm-up")
    report.metric(f"cold.{slug[v]}.first_request_no_warmup_ms", warm[v]["first_ms"], unit="ms", n=first.size,
                  description="median latency of the first request when no warm-up ran (1st inference)")
    report.metric(f"cold.{slug[v]}.first_request_warmup_ms", warm[v]["second_ms"], unit="ms", n=second.size,
                  description="median latency of the first request after one warm-up inference (2nd inference)")

# %% [markdown]
# ## SLO checklist on this runner
#
# The claims are about the median process ("a typical launch answers within the startup
# deadline"); with `n_processes` processes a median claim needs at least 5 to be bounded.

# %%
for v in variants:
    launch = phase("launch to 1st result", v)
    vv = stats.slo_verdict(launch, 0.5, startup_deadline_ms)
    report.check(f"{slug[v]}-median-launch-to-first-result", vv.verdict,
                 f"{v}: median launch-to-first-result {vv.estimate.value:.1f} ms vs {startup_deadline_ms:g} ms: {vv.reason}")
for label, ph in (("no-warmup", "1st inference"), ("warmup", "2nd inference")):
    vv = stats.slo_verdict(phase(ph, "original"), 0.5, deadline_ms)
    report.check(f"first-request-{label}-within-deadline", vv.verdict,
                 f"original model, first request {'after one warm-up inference' if label == 'warmup' else 'with no warm-up'}:"
                 f" median {vv.estimate.value:.1f} ms vs {deadline_ms:g} ms: {vv.reason}")
total_never = sum(never.values())
report.check("every-process-reached-steady-state", "PASS" if total_never == 0 else "FAIL",
             f"{total_never} of {n_processes * len(variants)} processes did not settle within {iters} inferences "
             "(steady = within 10% of the late median, also over a 20-inference window)")
report.check("enough-processes", "PASS" if n_processes >= stats.min_samples(0.5) else "FAIL",
             f"{n_processes} processes per variant; a median claim needs at least {stats.min_samples(0.5)}")

# %% [markdown]
# ## Conclusion on this runner
#
# Computed from the measurements above, not written in advance.

# %%
def med(ph, v):
    return median_ns(phase(ph, v)) / 1e6


lines = []
o = "original"
launch_o = med("launch to 1st result", o)
parts = {ph: med(ph, o) for ph in ("import onnxruntime", "session create", "1st inference")}
biggest = max(parts, key=parts.get)
lines.append(f"- A fresh process with the original model answers its first request {launch_o:.0f} ms after launch "
             f"(median of {n_processes}; range {phase('launch to 1st result', o).min() / 1e6:.0f}-"
             f"{phase('launch to 1st result', o).max() / 1e6:.0f} ms). The largest single phase is **{biggest}** "
             f"({parts[biggest]:.0f} ms).")
for v, r in cmp.items():
    word = {"faster": "creates its session faster", "slower": "creates its session slower",
            "same": "creates its session in the same time (within 5%) as",
            "inconclusive": "shows no clear difference in session creation from"}[r.verdict]
    word += " than" if r.verdict in ("faster", "slower") else ""
    lines.append(f"- The {v} model {word} the original: median {med('session create', v):.0f} ms vs "
                 f"{med('session create', o):.0f} ms (ratio {r.ratio:.2f}, 95% CI [{r.lower:.2f}, "
                 f"{'inf' if not np.isfinite(r.upper) else f'{r.upper:.2f}'}]).")
w = warm[o]
lines.append(f"- One warm-up inference at start-up makes the first request take {w['second_ms']:.1f} ms instead of "
             f"{w['first_ms']:.1f} ms ({w['first_ms'] / w['second_ms']:.1f}x), at the price of being ready "
             f"{w['ready_warmup_ms'] - w['ready_no_warmup_ms']:.0f} ms later; "
             + ("worth it whenever the first request has a deadline." if w["first_ms"] > 1.2 * w["second_ms"] else
                "on this runner the first inference is hardly slower, so a warm-up buys little."))
if steady_iter[o]:
    lines.append(f"- Steady state arrives after a median of {int(stats.quantile(steady_iter[o], 0.5))} inferences "
                 f"({med('time to steady', o):.0f} ms of inference): a warm-up of that many inferences, not one, "
                 "gives steady latency from the first request.")
if total_never:
    lines.append(f"- {total_never} processes never settled within {iters} inferences: this runner was noisy.")

few = n_processes < stats.min_samples(0.5)
few_note = f"only {n_processes} processes per variant; a median claim needs at least {stats.min_samples(0.5)}" if few else ""
launch_q = stats.quantile_ci(phase("launch to 1st result", o), 0.5).scaled(1e-6)
report.metric("headline.launch_to_first_result_ms", launch_q.value, unit="ms", n=launch_q.n,
              ci=(launch_q.lower, launch_q.upper) if launch_q.bounded else None, valid=bool(launch_q.valid),
              note="" if launch_q.valid else (f"only {launch_q.n} processes; a median claim needs at least "
                                              f"{stats.min_samples(0.5)}"),
              description=f"Median time from launching a fresh process to the first result of {source.name}, "
                          "original model")
pre = cmp["pre-optimized .onnx"]
report.metric("headline.preopt_session_create_ratio", pre.ratio, unit="x", n=n_processes,
              ci=(pre.lower, pre.upper) if pre.lower > 0 and np.isfinite(pre.upper) else None,
              valid=not few, note=few_note,
              description=f"Median session creation of the .onnx pre-optimized at level {optimization_level} / "
                          "the original model, over fresh processes (lower is faster)")
display(Markdown("\n".join(lines)))

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
