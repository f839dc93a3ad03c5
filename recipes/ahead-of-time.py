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
#     quick: {rounds: 3, cold_iters: 10}
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
# on. Every comparison is paired over rounds of fresh processes with an A/A arm.
#
# The model is the PP-OCRv4 text detector from the `rapidocr-onnxruntime` wheel.

# %% tags=["parameters"]
model_path = "rapidocr:det"  # an .onnx file, or rapidocr:det / rapidocr:rec / rapidocr:cls
input_shape = [1, 3, 320, 320]  # N, C, H, W of the model's image input
offline_level = "all"  # optimization level baked in offline: "basic", "extended" or "all"
deadline_ms = 50.0  # the steady-state deadline of one inference
startup_budget_ms = 500.0  # budget for session creation + first inference of a fresh process
rounds = 6  # rounds; each launches one fresh process per variant (and the A/A arm) in random order
cold_iters = 40  # iterations each fresh process runs after its first inference
intra_op_threads = 0  # 0 lets onnxruntime choose
output_tolerance = 1e-3  # largest allowed |difference| between a variant's output and the baseline's
seed = 0

# %% [markdown]
# ## Optimize once, offline
#
# Three offline artefacts, each made once on this machine (an offline cost, paid at build time):
#
# - **optimized ONNX**: open the model at level `offline_level` with
#   `SessionOptions.optimized_model_filepath` set; onnxruntime writes the rewritten graph;
# - **ORT format (API)**: the same, with `session.save_model_format = ORT`;
# - **ORT format (converter)**: `python -m onnxruntime.tools.convert_onnx_models_to_ort
#   --optimization_style Fixed` at the same level. Unless told `--target_platform amd64`, the
#   converter leaves out the `NchwcTransformer` so that the file runs on any CPU.
#
# At level "all" onnxruntime may apply the NCHWc transformer, which reorders convolution data
# into blocks sized for this CPU's vector width: such a file "should only be used in the same
# environment the model was optimized in". Ship it only to devices with the same CPU features
# (and onnxruntime version), or save at "extended".

# %%
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from IPython.display import Markdown, display

from edgetiming.measure import noise
from edgetiming.measure.coldstart import cold_start_rounds, noise_panels, phase_conclusions
from edgetiming.measure.session import SessionConfig, open_session, save_optimized
from edgetiming.results import figures, report
from edgetiming.stats.conclude import (
    runner_name,
    versus_noise,
)
from edgetiming.stats.repeated import repeated_quantile
from edgetiming.workload.models import resolve, sha256_file
from edgetiming.workload.ocrdata import det_input, render_page

figures.use_style()
source = resolve(model_path)
flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
              if line.lower().startswith(("flags", "features"))), []) if Path("/proc/cpuinfo").exists() else []
vector_flags = [f for f in ("avx2", "avx512f", "avx512_vnni", "amx_int8", "asimd", "asimddp", "sve", "i8mm")
                if f in flags]
print(f"model: {source.name} ({source.stat().st_size / 1e6:.2f} MB, sha256 {sha256_file(source)[:12]}...), "
      f"onnxruntime {ort.__version__}, vector extensions: {', '.join(vector_flags) or 'none reported'}")
if offline_level not in ("basic", "extended", "all"):
    raise ValueError(f"offline_level={offline_level!r}: use 'basic', 'extended' or 'all'")
workdir = Path(tempfile.mkdtemp(prefix="edgetiming-aot-"))
offline_s = {"optimized ONNX": save_optimized(source, workdir / "optimized.onnx", offline_level),
             "ORT format (API)": save_optimized(source, workdir / "optimized.ort", offline_level, ort_format=True)}
converted = subprocess.run(
    [sys.executable, "-m", "onnxruntime.tools.convert_onnx_models_to_ort", "--optimization_style", "Fixed",
     "--output_dir", str(workdir / "converter"), str(source)], capture_output=True, text=True, check=False,
    timeout=300, env=os.environ | {"ORT_CONVERT_ONNX_MODELS_TO_ORT_OPTIMIZATION_LEVEL": offline_level})
tool_files = sorted((workdir / "converter").glob("*.ort"))
if converted.returncode or not tool_files:
    print("the converter failed; its variant is left out:\n", (converted.stderr or converted.stdout)[-800:])

base = "ONNX, optimized at load"
variants = {base: source, f"optimized ONNX ({offline_level})": workdir / "optimized.onnx",
            f"ORT format, API ({offline_level})": workdir / "optimized.ort"}
if tool_files:
    variants[f"ORT format, converter ({offline_level})"] = tool_files[0]
slugs = {label: f"v{i}" for i, label in enumerate(variants)} | {base + " (A/A)": "v0-aa"}
nchwc_nodes = sum(node.domain == "com.microsoft.nchwc" for node in onnx.load(str(workdir / "optimized.onnx")).graph.node)
print(f"optimized ONNX holds {nchwc_nodes} NCHWc-layout nodes; offline cost: "
      + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in offline_s.items()))
report.metric("offline_nchwc_nodes", nchwc_nodes, description=f"NCHWc-layout nodes in the model optimized offline "
              f"at '{offline_level}' (more than 0 means the file is specific to this CPU's vector width)")
report.metric("offline_level", offline_level, description="graph optimization level baked into the offline models")

# %% [markdown]
# ## Same answers?
#
# Each variant runs once on the same rendered-text input; its output is compared with the
# baseline's (reordered arithmetic may change the last bits).

# %%
def load_config(path: Path) -> SessionConfig:
    return SessionConfig(intra_op_num_threads=intra_op_threads or None,
                         graph_optimization_level="all" if path == source else "disable")


probe = open_session(source, load_config(source))
n, c, h, w = input_shape
page = render_page(np.random.default_rng(seed), height=h, width=w)
feeds = {probe.get_inputs()[0].name: np.repeat(det_input(page.image, size=(h, w)), n, axis=0).astype(np.float32)}
baseline_out = probe.run(None, feeds)[0]
max_diff = {}
for label, path in variants.items():
    out = open_session(path, load_config(path)).run(None, feeds)[0]
    max_diff[label] = float(np.max(np.abs(out - baseline_out))) if out.shape == baseline_out.shape else float("inf")
    print(f"{label:<36} {path.stat().st_size / 1e6:6.2f} MB  max |output - baseline| = {max_diff[label]:.2e}")

# %% [markdown]
# ## Rounds of fresh processes
#
# Each round launches one fresh process per variant, plus the baseline a second time (the A/A
# arm), in a random order mirrored every other round. Each process creates its session, runs
# the first inference and `cold_iters` more. The baseline opens the `.onnx` at onnxruntime's
# default level ("all"); the offline variants are opened with optimization off. Every ratio is
# computed per round and its interval taken over rounds (Student t on the log ratios).

# %%
cr = cold_start_rounds({k: (p, load_config(p)) for k, p in variants.items()}, rounds=rounds, feeds=feeds,
                       iters=cold_iters, seed=seed, window=max(5, min(20, cold_iters // 4)))
PHASES = ("session create", "first inference", "session create + first inference", "steady inference")
for label, run in cr.runs.items():
    run.report(f"cold.{slugs[label]}")
    for ph in PHASES[:2]:
        x = cr.values(label, ph) / 1e6
        report.metric(f"{slugs[label]}.{ph.replace(' ', '_')}_ms", float(np.median(x)), unit="ms", n=x.size,
                      description=f"{label}: median {ph} over {x.size} fresh processes")
print(f"{'variant':<40}" + "".join(f"{ph[:22]:>24}" for ph in PHASES) + "   (median ms over rounds)")
for label in cr.runs:
    print(f"{label:<40}" + "".join(f"{np.nanmedian(cr.values(label, ph)) / 1e6:>24.1f}" for ph in PHASES))

# %%
fig, alt = figures.per_process({v: {ph: cr.values(v, ph) / 1e6 for ph in PHASES} for v in cr.runs},
                               title=f"{source.name}: one dot per fresh process ({cr.rounds} rounds), bar = median")
report.figure(fig, "phases-by-variant", alt=alt)
fig, alt = noise.figure(noise_panels(cr, "session create"), title="Session creation of each fresh process and the machine")
report.figure(fig, "noise", alt=alt)

# %% [markdown]
# ## Did the offline work pay off?
#
# Each offline variant against the baseline, per phase, paired by round, read against the A/A
# arm's ratio of the same phase (the noise floor on this runner).

# %%
ratios = {ph: {v: cr.ratio(base, v, ph) for v in cr.variants if v != base} for ph in PHASES}
floors = {ph: cr.aa(ph) for ph in PHASES}
for ph in PHASES:
    aa = floors[ph]
    print(f"{ph}: A/A {aa.ratio:.3f} [{aa.interval.lower:.3f}, {aa.interval.upper:.3f}]")
    for v, r in ratios[ph].items():
        iv = r.interval
        print(f"  {v:<36} x{r.ratio:.3f} [{iv.lower:.3f}, {iv.upper:.3f}]  {r.n_lower} of {r.rounds} rounds lower"
              f"  -> {versus_noise(r, aa)}")
        report.metric(f"{slugs[v]}.{ph.replace(' + ', '_plus_').replace(' ', '_')}_ratio", r.ratio, unit="x",
                      runs=r.rounds, ci=(iv.lower, iv.upper) if iv.known else None, note=versus_noise(r, aa),
                      description=f"{ph} of {v} / {base}, paired over rounds (Student t on log ratios)")

# %% [markdown]
# ## SLO checklist on this runner

# %%
bad = {k: v for k, v in max_diff.items() if not v <= output_tolerance}
report.check("outputs-match-baseline", "FAIL" if bad else "PASS",
             "largest |output difference| per variant: " + ", ".join(f"{k} {v:.1e}" for k, v in max_diff.items())
             + f" (tolerance {output_tolerance:g})")
startup = {v: cr.values(v, "session create + first inference") / 1e6 for v in variants}
fastest_start = min(startup, key=lambda v: np.median(startup[v]))
for label in dict.fromkeys((base, fastest_start)):
    worst, med = float(startup[label].max()), float(np.median(startup[label]))
    verdict = "PASS" if worst <= startup_budget_ms else ("FAIL" if med > startup_budget_ms else "INCONCLUSIVE")
    report.check(f"startup-within-budget.{slugs[label]}", verdict,
                 f"{label}: session creation + first inference median {med:.0f} ms, worst of {startup[label].size} "
                 f"processes {worst:.0f} ms, budget {startup_budget_ms:g} ms")
steady = repeated_quantile([p.latency_ns[p.latency_ns.size // 2:] / 1e6 for p in cr.runs[base].processes], 0.5)
verdict = ("INCONCLUSIVE" if steady.judgement.state.value == "invalid" else
           "PASS" if steady.upper <= deadline_ms else "FAIL" if steady.lower > deadline_ms else "INCONCLUSIVE")
report.check(f"steady-p50-within-deadline.{slugs[base]}", verdict,
             f"{base}: steady P50 {steady.value:.1f} ms [{steady.lower:.1f}, {steady.upper:.1f}] over "
             f"{steady.runs} processes, deadline {deadline_ms:g} ms ({steady.judgement.state.value})")
report.check("offline-model-portable", "INCONCLUSIVE" if nchwc_nodes else "PASS",
             f"the model optimized offline at '{offline_level}' holds {nchwc_nodes} NCHWc-layout nodes: "
             + ("valid on CPUs with this machine's vector features only (" + ", ".join(vector_flags) + ")"
                if nchwc_nodes else "no layout tied to this CPU's vector width"))

# %% [markdown]
# ## Conclusion on this runner
#
# Generated from the paired ratios and their A/A noise floor above.

# %%
lines = phase_conclusions(cr, {"session create": "session creation",
                               "session create + first inference": "start-up (session creation + first inference)",
                               "steady inference": "steady P50"}, runner=runner_name())
if nchwc_nodes:
    lines.append(f"The offline models saved at '{offline_level}' hold {nchwc_nodes} NCHWc nodes: they are tied to "
                 "this CPU's vector features; rebuild them per device class, or save at 'extended'.")
if bad:
    lines.append("Outputs differ beyond the tolerance for: " + ", ".join(bad) + ". Do not ship those files.")
# the headline is one fixed variant, named before the data (picking the best measured one would
# choose a different file from run to run): the converter's ORT file, else the API's
best = next(k for k in reversed(list(ratios["session create"])) if k.startswith("ORT format"))
for key, ph in (("aot_session_create_ratio", "session create"), ("aot_steady_p50_ratio", "steady inference")):
    r = ratios[ph][best]
    report.metric(f"headline.{key}", r.ratio, unit="x", runs=r.rounds,
                  ci=(r.interval.lower, r.interval.upper) if r.interval.known else None, note=versus_noise(r, floors[ph]),
                  invalid_because=[f"outputs differ from the baseline by {max_diff[best]:.1e}"] if best in bad else (),
                  description=f"{ph} of {best} / the .onnx optimized at load, paired over {r.rounds} rounds of "
                              "fresh processes (lower is faster)")
display(Markdown("\n".join(f"- {line}" for line in lines)))

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
