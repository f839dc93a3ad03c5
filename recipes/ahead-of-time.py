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
#     quick: {n_processes: 2, cold_iters: 10}
#     expected_duration_s: 100
#     timeout_cell_s: 600
# ---

# %% [markdown]
# # Ahead-of-time optimization: save the optimized model, load it with optimization off
#
# Every time onnxruntime opens an `.onnx` file it rewrites the graph (constant folding, operator
# fusions, layout changes) before it can run anything, and a fresh process pays that again.
# Doing the rewriting once, offline, and shipping the result moves that cost out of the
# device's start-up path. You will learn how to save an optimized model with
# `SessionOptions.optimized_model_filepath`, how to convert to the ORT format (with
# onnxruntime's own converter and with the equivalent API call), what each does to session
# creation, the first inference and the steady state across fresh processes on this runner,
# and why a model optimized at level "all" may only be valid on the hardware it was optimized
# on.
#
# The model is the PP-OCRv4 text detector from the `rapidocr-onnxruntime` wheel.

# %% tags=["parameters"]
model_path = "rapidocr:det"  # an .onnx file, or rapidocr:det / rapidocr:rec / rapidocr:cls
input_shape = [1, 3, 320, 320]  # N, C, H, W of the model's image input
offline_level = "all"  # optimization level baked in offline: "basic", "extended" or "all"
deadline_ms = 50.0  # the steady-state deadline of one inference
percentile = 0.99  # the SLO: the `percentile` latency must be <= deadline_ms
startup_budget_ms = 500.0  # budget for session creation + first inference of a fresh process
n_processes = 6  # fresh processes per variant
cold_iters = 60  # iterations each fresh process runs after its first inference
intra_op_threads = 0  # 0 lets onnxruntime choose
output_tolerance = 1e-3  # largest allowed |difference| between a variant's output and the baseline's
seed = 0

# %% [markdown]
# ## The model, a realistic input and this machine
#
# A detector sees photos of text, so the input is rendered text, normalized the way PP-OCR's
# detector expects. The CPU's vector extensions are printed because an offline model saved at
# level "all" may bake in a memory layout chosen for them.

# %%
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib
import numpy as np
import onnx
import onnxruntime as ort
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from edgetiming.measure.coldstart import ColdStartRun, cold_start
from edgetiming.measure.session import SessionConfig, open_session
from edgetiming.results import figures, report
from edgetiming.stats import compare
from edgetiming.stats import quantiles as stats
from edgetiming.workload.models import resolve, sha256_file
from edgetiming.workload.ocrdata import det_input, render_page

figures.use_style()
source = resolve(model_path)
threads = intra_op_threads or None
print(f"model: {source.name} ({source.stat().st_size / 1e6:.2f} MB, sha256 {sha256_file(source)[:12]}...)")
print("onnxruntime", ort.__version__, "| machine", platform.machine())


def cpu_vector_flags() -> list[str]:
    """The SIMD extensions the kernel reports (x86 /proc/cpuinfo flags or Arm features)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ["not available"]
    wanted = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8",
              "asimd", "asimddp", "sve", "sve2", "i8mm", "bf16")
    for line in text.splitlines():
        if line.lower().startswith(("flags", "features")):
            have = set(line.split(":", 1)[1].split())
            return [f for f in wanted if f in have]
    return ["not available"]


vector_flags = cpu_vector_flags()
print("vector extensions:", ", ".join(vector_flags) or "none reported")


rng = np.random.default_rng(seed)
probe = open_session(source)
input_name = probe.get_inputs()[0].name
n, c, h, w = input_shape
page = render_page(rng, height=h, width=w)  # rendered text lines with known ground truth
feeds = {input_name: np.repeat(det_input(page.image, size=(h, w)), n, axis=0).astype(np.float32)}
del probe

# %% [markdown]
# ## Optimize once, offline
#
# Three offline artefacts, each made once on this machine (the time it takes is an offline
# cost, paid at build time, not on the device):
#
# - **optimized ONNX**: open the model at level `offline_level` with
#   `SessionOptions.optimized_model_filepath` set; onnxruntime writes the rewritten graph;
# - **ORT format (API)**: the same, with the session config entry
#   `session.save_model_format = ORT`, so the file is onnxruntime's flatbuffer format;
# - **ORT format (converter)**: `python -m onnxruntime.tools.convert_onnx_models_to_ort
#   --optimization_style Fixed`, onnxruntime's own tool, at the same level
#   (`ORT_CONVERT_ONNX_MODELS_TO_ORT_OPTIMIZATION_LEVEL`). Unless told
#   `--target_platform amd64`, the converter leaves out the `NchwcTransformer` so that the file
#   runs on any CPU.
#
# At level "all" (and "layout") onnxruntime may apply the NCHWc transformer, which reorders
# convolution data into blocks sized for this CPU's vector width (AVX-512, AVX2, ...). A model
# saved that way is hardware specific: onnxruntime warns that it "should only be used in the
# same environment the model was optimized in". Ship an offline model saved at "all" only to
# devices with the same CPU features (and the same onnxruntime version), or save at "extended".

# %%
LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
          "all": "ORT_ENABLE_ALL"}
if offline_level not in ("basic", "extended", "all"):
    raise ValueError(f"offline_level={offline_level!r}: use 'basic', 'extended' or 'all'")
workdir = Path(tempfile.mkdtemp(prefix="edgetiming-aot-"))


def save_offline(target: Path, *, ort_format: bool) -> float:
    """Open the source model at ``offline_level`` and let onnxruntime write the result; seconds taken."""
    so = ort.SessionOptions()
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, LEVELS[offline_level])
    so.optimized_model_filepath = str(target)
    if ort_format:
        so.add_session_config_entry("session.save_model_format", "ORT")
    t0 = time.perf_counter()
    ort.InferenceSession(str(source), so, providers=["CPUExecutionProvider"])
    return time.perf_counter() - t0


offline_s: dict[str, float] = {}
offline_s["optimized ONNX"] = save_offline(workdir / "optimized.onnx", ort_format=False)
offline_s["ORT format (API)"] = save_offline(workdir / "optimized.ort", ort_format=True)

tool_dir = workdir / "converter"
t0 = time.perf_counter()
converted = subprocess.run(
    [sys.executable, "-m", "onnxruntime.tools.convert_onnx_models_to_ort", "--optimization_style", "Fixed",
     "--output_dir", str(tool_dir), str(source)],
    capture_output=True, text=True, check=False, timeout=300,
    env=os.environ | {"ORT_CONVERT_ONNX_MODELS_TO_ORT_OPTIMIZATION_LEVEL": offline_level})
offline_s["ORT format (converter)"] = time.perf_counter() - t0
tool_files = sorted(tool_dir.glob("*.ort")) if tool_dir.exists() else []
tool_error = "" if converted.returncode == 0 and tool_files else (converted.stderr or converted.stdout)[-800:]
if tool_error:
    print("the converter failed; its variant is left out:\n", tool_error)

# variant label -> (model file, how it was made)
variants: dict[str, tuple[Path, str]] = {
    "ONNX, optimized at load": (source, "original .onnx; onnxruntime optimizes it at level 'all' in every process"),
    f"optimized ONNX ({offline_level})": (workdir / "optimized.onnx",
                                          f"optimized_model_filepath at '{offline_level}', loaded with optimization off"),
    f"ORT format, API ({offline_level})": (workdir / "optimized.ort",
                                          f"save_model_format=ORT at '{offline_level}', loaded with optimization off"),
}
if tool_files:
    variants[f"ORT format, converter ({offline_level})"] = (
        tool_files[0], (f"convert_onnx_models_to_ort --optimization_style Fixed at '{offline_level}'"
                        " (NchwcTransformer excluded), loaded with optimization off"))

optimized = onnx.load(str(workdir / "optimized.onnx"))
nchwc_nodes = sum(1 for node in optimized.graph.node if node.domain == "com.microsoft.nchwc")
original_nodes = len(onnx.load(str(source)).graph.node)
hardware_specific = nchwc_nodes > 0
print(f"original graph: {original_nodes} nodes; optimized ONNX: {len(optimized.graph.node)} nodes, "
      f"{nchwc_nodes} of them in the NCHWc domain ({'hardware specific' if hardware_specific else 'portable layout'})")
for label, (path, how) in variants.items():
    print(f"{label:<34} {path.stat().st_size / 1e6:6.2f} MB  {how}")
for what, secs in offline_s.items():
    print(f"offline cost of {what}: {secs * 1e3:.0f} ms (once, at build time)")
report.metric("offline_nchwc_nodes", nchwc_nodes,
              description=f"NCHWc-layout nodes in the model optimized offline at '{offline_level}' "
                          "(more than 0 means the file is specific to this CPU's vector width)")
report.metric("offline_level", offline_level, description="graph optimization level baked into the offline models")

# %% [markdown]
# ## Same answers?
#
# An offline model must compute the same thing. Each variant runs once on the same input and
# its output is compared with the baseline's (reordered arithmetic may change the last bits).

# %%
def load_config(path: Path) -> SessionConfig:
    level = "all" if path == source else "disable"
    return SessionConfig(intra_op_num_threads=threads, graph_optimization_level=level)


baseline_out = open_session(source, load_config(source)).run(None, feeds)[0]
max_diff: dict[str, float] = {}
for label, (path, _) in variants.items():
    out = open_session(path, load_config(path)).run(None, feeds)[0]
    max_diff[label] = float(np.max(np.abs(out.astype(np.float64) - baseline_out))) if out.shape == baseline_out.shape else float("inf")
    print(f"{label:<34} max |output - baseline| = {max_diff[label]:.2e}")

# %% [markdown]
# ## Fresh processes: session creation, first inference, steady state
#
# For each variant, `n_processes` fresh Python processes each create a session, run the first
# inference and then `cold_iters` more. The variants take turns (one process of each, then the
# next round), so a slow spell of the machine does not land on one variant only. The baseline opens the
# `.onnx` with onnxruntime's default level ("all"); the offline variants are opened with
# optimization off, since the work is already done. The steady state pools, per variant, every
# iteration from the point where each process settled (or its last half if it never did).

# %%
window = max(5, min(20, cold_iters // 4))
rounds: dict[str, list] = {label: [] for label in variants}
for _ in range(n_processes):  # round robin, so a slow spell of a shared machine hits every variant alike
    for label, (path, _) in variants.items():
        rounds[label].append(cold_start(str(path), n_processes=1, feeds=feeds, session_config=load_config(path),
                                        iters=cold_iters, window=window))
cold = {label: ColdStartRun(runs[0].model, [p for r in runs for p in r.processes], window, runs[0].tolerance,
                            runs[0].settings) for label, runs in rounds.items()}


def steady_samples(run) -> np.ndarray:
    parts = []
    for proc in run.processes:
        lat = proc.latency_ns[1:]  # the first inference is its own phase
        start = lat.size // 2 if proc.steady_iter is None else max(proc.steady_iter - 1, 0)
        parts.append(lat[start:])
    return np.concatenate(parts)


slugs = {label: f"v{i}" for i, label in enumerate(variants)}
steady = {label: steady_samples(run) for label, run in cold.items()}
phase_ms = {label: {"session creation": run.phase_ns("session_create_ns") / 1e6,
                    "first inference": run.phase_ns("first_inference_ns") / 1e6,
                    "steady state (per-process median)": np.array(
                        [np.median(p.latency_ns[p.latency_ns.size // 2:]) for p in run.processes]) / 1e6}
            for label, run in cold.items()}
print(f"{'variant':<34}{'create ms':>11}{'first ms':>10}{'steady P50':>12}{'steady n':>10}")
for label, run in cold.items():
    run.report(f"cold.{slugs[label]}")
    report.samples(f"steady.{slugs[label]}", steady[label], description=(
        f"{label}: pooled steady-state iterations of {n_processes} fresh processes, int64 ns"))
    s = run.summary()
    print(f"{label:<34}{s['session_create_ns']['median_ms']:>11.1f}{s['first_inference_ns']['median_ms']:>10.1f}"
          f"{stats.quantile(steady[label], 0.5) / 1e6:>12.2f}{steady[label].size:>10}")
    for phase in ("session_create", "first_inference"):
        report.metric(f"{slugs[label]}.{phase}_ms", s[f"{phase}_ns"]["median_ms"], unit="ms", n=s[f"{phase}_ns"]["n"],
                      description=f"{label}: median {phase.replace('_', ' ')} over fresh processes")
    q = stats.quantile_ci(steady[label], 0.5)
    report.metric(f"{slugs[label]}.steady_p50_ms", q.value / 1e6, unit="ms", n=q.n,
                  ci=(q.lower / 1e6, q.upper / 1e6) if q.bounded else None,
                  description=f"{label}: steady-state P50 pooled over fresh processes")

# %%
def strip_figure(data: dict[str, dict[str, np.ndarray]]) -> tuple[Figure, str]:
    """One panel per phase: every fresh process as a dot, the median as a bar, per variant."""
    phases = list(next(iter(data.values())))
    labels = list(data)
    fig = Figure(figsize=(11.0, 0.5 * len(labels) + 2.6), layout="constrained", facecolor=figures.STYLE["figure.facecolor"])
    axes = fig.subplots(1, len(phases), sharey=True)
    jitter = np.random.default_rng(0)
    alt_parts = []
    for ax, phase in zip(axes, phases):
        for i, label in enumerate(labels):
            v = data[label][phase]
            color = figures.PALETTE[i % len(figures.PALETTE)]
            ax.plot(v, i + jitter.uniform(-0.15, 0.15, v.size), "o", color=color, alpha=0.7, markersize=5)
            med = float(np.median(v))
            ax.plot([med, med], [i - 0.3, i + 0.3], color=color, linewidth=2.5)
            alt_parts.append(f"{label} {phase} median {med:.1f} ms (range {v.min():.1f}-{v.max():.1f})")
        ax.set_title(phase)
        ax.set_xlabel("time (ms)")
        ax.set_xlim(left=0)
    axes[0].set_yticks(range(len(labels)), labels)
    axes[0].invert_yaxis()
    axes[0].set_ylabel("variant")
    fig.suptitle(f"{source.name}: one dot per fresh process ({n_processes} per variant), bar = median")
    return fig, "Per-process distribution of each phase by variant: " + "; ".join(alt_parts)


with matplotlib.rc_context(figures.STYLE):
    fig, alt = strip_figure(phase_ms)
report.figure(fig, "phases-by-variant", alt=alt)

# %%
summaries = {label: stats.summarize(steady[label], percentiles=(0.5, 0.9, percentile)) for label in variants}
fig, alt = figures.compare_configs(summaries, 0.5, title="Steady-state P50 pooled over fresh processes (95% CI)")
report.figure(fig, "steady-p50", alt=alt)

# %% [markdown]
# ## Did the offline work pay off?
#
# Each offline variant against the baseline, per phase. Session creation and first inference
# have one value per process, so their ratio of medians gets a seeded bootstrap interval;
# the steady state pools many iterations and uses the exact order-statistic interval.
# "faster"/"slower" need the whole interval beyond a 5% change.

# %%
base = "ONNX, optimized at load"
comparisons = {}
for label in variants:
    if label == base:
        continue
    row = {}
    for phase, key in (("session creation", "session_create_ns"), ("first inference", "first_inference_ns")):
        a, b = cold[base].phase_ns(key), cold[label].phase_ns(key)
        row[phase] = compare.compare_runs(a, b, percentile=0.5, method="bootstrap", seed=seed)
    row["steady state"] = compare.compare_runs(steady[base], steady[label], percentile=0.5)
    comparisons[label] = row
    for phase, cmp in row.items():
        print(f"{label:<34} {phase:<17} x{cmp.ratio:.2f} [{cmp.lower:.2f}, {cmp.upper:.2f}] -> {cmp.verdict}")

# %% [markdown]
# ## SLO checklist on this runner

# %%
def startup_ms(label: str) -> np.ndarray:
    run = cold[label]
    return (run.phase_ns("session_create_ns") + run.phase_ns("first_inference_ns")) / 1e6


startup_median = {label: float(np.median(startup_ms(label))) for label in variants}
fastest_start = min(startup_median, key=startup_median.get)
steady_p50 = {label: stats.quantile(steady[label], 0.5) / 1e6 for label in variants}
fastest_steady = min(steady_p50, key=steady_p50.get)

bad = {k: v for k, v in max_diff.items() if not v <= output_tolerance}
report.check("outputs-match-baseline", "FAIL" if bad else "PASS",
             "largest |output difference| per variant: " + ", ".join(f"{k} {v:.1e}" for k, v in max_diff.items())
             + f" (tolerance {output_tolerance:g})")
for label in dict.fromkeys((base, fastest_start)):
    worst = float(startup_ms(label).max())
    # PASS only when every process made it; FAIL when the typical one did not
    verdict = "PASS" if worst <= startup_budget_ms else ("FAIL" if startup_median[label] > startup_budget_ms else "INCONCLUSIVE")
    report.check(f"startup-within-budget.{slugs[label]}", verdict,
                 f"{label}: session creation + first inference median {startup_median[label]:.0f} ms, worst of "
                 f"{len(startup_ms(label))} processes {worst:.0f} ms, budget {startup_budget_ms:g} ms")
for label in dict.fromkeys((base, fastest_steady)):
    v = stats.slo_verdict(steady[label], percentile, deadline_ms)
    report.check(f"steady-p{percentile * 100:g}-within-deadline.{slugs[label]}", v.verdict,
                 f"{label}: P{percentile * 100:g} {v.estimate.value:.1f} ms from {steady[label].size} pooled "
                 f"steady-state iterations: {v.reason}")
report.check("offline-model-portable", "INCONCLUSIVE" if hardware_specific else "PASS",
             f"the model optimized offline at '{offline_level}' holds {nchwc_nodes} NCHWc-layout nodes: "
             + ("valid on CPUs with this machine's vector features only (" + ", ".join(vector_flags) + ")"
                if hardware_specific else "no layout tied to this CPU's vector width"))

# %% [markdown]
# ## Conclusion on this runner
#
# Computed from the measurements above, not written in advance.

# %%
MIN_PROCESSES = 5  # below this a bootstrap interval over processes is too optimistic to call


def verdict_text(cmp, n_each: int | None = None) -> str:
    if n_each is not None and n_each < MIN_PROCESSES:
        word = f"too few processes ({n_each}) to call"
    else:
        word = {"faster": "faster", "slower": "slower", "same": "the same within 5%",
                "inconclusive": "inconclusive: the interval does not clear a 5% change"}[cmp.verdict]
    return f"x{cmp.ratio:.2f} of the baseline ({word}; 95% interval {cmp.lower:.2f}-{cmp.upper:.2f})"


lines = [(f"- Baseline (`.onnx`, optimized in every process): session creation median "
          f"{np.median(phase_ms[base]['session creation']):.0f} ms, first inference "
          f"{np.median(phase_ms[base]['first inference']):.0f} ms, steady P50 {steady_p50[base]:.1f} ms.")]
for label, row in comparisons.items():
    lines.append(f"- **{label}**: session creation {verdict_text(row['session creation'], n_processes)}; first "
                 f"inference {verdict_text(row['first inference'], n_processes)}; steady state "
                 f"{verdict_text(row['steady state'])}.")
enough = n_processes >= MIN_PROCESSES
quicker = [k for k, row in comparisons.items() if enough and row["session creation"].verdict == "faster"]
slower = [k for k, row in comparisons.items() if row["steady state"].verdict == "slower"]
if fastest_start == base:
    lines.append(f"- The baseline had the lowest median time to a first result (session creation + first inference, "
                 f"{startup_median[base]:.0f} ms).")
else:
    lines.append(f"- Lowest median time to a first result: **{fastest_start}**, {startup_median[fastest_start]:.0f} ms "
                 f"against {startup_median[base]:.0f} ms for the baseline.")
lines.append("- Session creation measurably faster than the baseline: " + (", ".join(f"**{k}**" for k in quicker) if quicker
             else "none on this runner" + ("" if enough else f" (only {n_processes} processes per variant)")
             + ": offline optimization did not pay for itself at start-up here") + ".")
if slower:
    lines.append("- Steady state measurably slower than optimizing at load: " + ", ".join(f"**{k}**" for k in slower)
                 + ". An offline file is only as fast as the optimizations it kept.")
lines.append(f"- Lowest steady-state P50: **{fastest_steady}** ({steady_p50[fastest_steady]:.1f} ms).")
conv = next((k for k in comparisons if "converter" in k), None)
api = next((k for k in comparisons if "API" in k), None)
if conv and api:
    ratio = steady_p50[conv] / steady_p50[api]
    lines.append(f"- The converter's portable ORT file runs at x{ratio:.2f} the steady P50 of the API's ORT file "
                 + ("(the NCHWc layout it leaves out was worth having here)." if ratio > 1.05 else
                    "(leaving out the NCHWc layout cost nothing measurable here)." if ratio >= 0.95 else
                    "(it was faster here)."))
lines.append(f"- The offline models were saved at level '{offline_level}' and "
             + (f"contain {nchwc_nodes} NCHWc nodes: they are tied to this CPU's vector features; rebuild them per "
                "device class, or save at 'extended' for a portable file." if hardware_specific else
                "contain no CPU-specific layout."))
if bad:
    lines.append("- Outputs differ beyond the tolerance for: " + ", ".join(bad) + ". Do not ship those files.")

# headline: the offline variant (among those with matching outputs, if any) that cut session creation most
candidates = [k for k in comparisons if k not in bad] or list(comparisons)
best_offline = min(candidates, key=lambda k: comparisons[k]["session creation"].ratio)
head_create = comparisons[best_offline]["session creation"]
head_steady = comparisons[best_offline]["steady state"]
head_notes = []
if best_offline in bad:
    head_notes.append(f"outputs differ from the baseline by {max_diff[best_offline]:.1e} (tolerance {output_tolerance:g})")
create_note = head_notes + ([] if enough else [f"only {n_processes} fresh processes per variant, too few for an interval"])
report.metric("headline.aot_session_create_ratio", head_create.ratio, unit="x",
              ci=(head_create.lower, head_create.upper) if enough and np.isfinite(head_create.upper) else None,
              n=int(min(cold[base].phase_ns("session_create_ns").size, cold[best_offline].phase_ns("session_create_ns").size)),
              valid=best_offline not in bad, note="; ".join(create_note),
              description=f"Median session creation of {best_offline} / the .onnx optimized at load, "
                          f"over fresh processes (lower is faster)")
report.metric("headline.aot_steady_p50_ratio", head_steady.ratio, unit="x",
              ci=(head_steady.lower, head_steady.upper)
              if head_steady.lower > 0 and np.isfinite(head_steady.upper) else None,
              n=int(min(steady[base].size, steady[best_offline].size)),
              valid=best_offline not in bad, note="; ".join(head_notes),
              description=f"Steady-state P50 of {best_offline} / the .onnx optimized at load (lower is faster)")
display(Markdown("\n".join(lines)))

# %%
shutil.rmtree(workdir, ignore_errors=True)

# %% [markdown]
# ## On your own device
#
# ```bash
# edgetiming run recipes/ahead-of-time.py --runner my-board \
#     --param model_path=/path/to/model.onnx --param 'input_shape=[1, 3, 640, 640]' \
#     --param offline_level=extended --param startup_budget_ms=1000
# ```
#
# Build the offline model on the device itself (or one with the same CPU and onnxruntime
# version) when you use level "all". On a device that restarts the process often (a camera
# woken by motion, a serverless function), the session-creation column is the one that
# matters; on a device that runs for days, only the steady state does.
