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
#     quick: {second_model_path: "", n_rounds: 3, blocks: 4, block_iters: 3, warmup_iters: 3, n_create: 3}
#     expected_duration_s: 130
#     timeout_cell_s: 600
# ---

# %% [markdown]
# # Operator fusion: what onnxruntime's graph optimization levels do
#
# Before it runs a model, onnxruntime rewrites the graph. At level **basic** it folds
# constants, removes redundant nodes and merges batch normalization into the preceding
# convolution; at **extended** it fuses operators into larger kernels of its own
# (`FusedConv` = convolution + activation, `FusedMatMul`, `LayerNormalization`, `QuickGelu`,
# ...); at **all** it also changes the memory layout of convolutions to blocks sized for this
# CPU's vectors (the NCHWc transformer). You will learn how to save the graph each level
# produces (`SessionOptions.optimized_model_filepath`), how to count its nodes by operator type
# and see which fusions fired, and what each level does to latency (paired rounds against
# "disable", with an A/A noise floor), to session-creation time and to the outputs.
#
# The models are the PP-OCRv4 text detector and recognizer from the `rapidocr-onnxruntime`
# wheel. The quick mode (`--quick`) runs the detector only.

# %% tags=["parameters"]
model_path = "rapidocr:det"  # first model: an .onnx file, or rapidocr:det / rapidocr:rec / rapidocr:cls
input_shape = [1, 3, 320, 320]  # N, C, H, W of its image input (fed a rendered page of text)
second_model_path = "rapidocr:rec"  # optional second model ("" skips it)
second_input_shape = [1, 3, 48, 320]  # N, C, H, W of its input (fed a rendered line of text)
levels = ["disable", "basic", "extended", "all"]  # graph optimization levels, in order
deadline_ms = 50.0  # deadline of one inference
percentile = 0.9  # the SLO: the `percentile` latency must be <= deadline_ms (P99 would need 368 per round)
warmup_iters = 10  # timed and labelled warmup of each level in each round
n_rounds = 5  # rounds: fresh processes, each timing every level (and the A/A arm) interleaved
blocks = 4  # blocks per level per round, in randomised balanced order
block_iters = 10  # iterations per block (blocks x block_iters >= 36 per round for a valid P90)
n_create = 5  # session creations per model and level, timed in this process (interleaved)
output_tolerance = 1e-3  # largest allowed |output - output at level "disable"|
intra_op_threads = 0  # 0 lets onnxruntime choose
seed = 0

# %% [markdown]
# ## Save the graph of every level
#
# For each level, `save_optimized` opens the original file with `graph_optimization_level`
# set and `optimized_model_filepath` pointing into this recipe's working directory, so
# onnxruntime writes the graph it will run. Even at level "disable" onnxruntime turns
# `Constant` nodes into initializers, so the file's node count is shown apart.

# %%
import math
import os
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from IPython.display import Markdown, display

from edgetiming.measure import noise
from edgetiming.measure.rounds import Arm, run_rounds
from edgetiming.measure.session import SessionConfig, open_session, save_optimized
from edgetiming.results import figures, report
from edgetiming.stats.repeated import paired_ratio
from edgetiming.stats.variants import fastest, speed_verdict
from edgetiming.workload.models import resolve, sha256_file
from edgetiming.workload.ocrdata import det_input, line_dataset, rec_input, render_page

figures.use_style()
KNOWN = ("disable", "basic", "extended", "all")
if not levels or levels[0] != "disable" or set(levels) - set(KNOWN):
    raise ValueError(f"levels must start with 'disable' (the reference) and use only {KNOWN}")
threads = intra_op_threads or None
RUNNER = os.environ.get("EDGETIMING_RUNNER")  # set by `edgetiming run`; else "this runner"
workdir = Path("optimized-models").resolve()
workdir.mkdir(exist_ok=True)
models = {Path(str(resolve(p))).stem: (resolve(p), tuple(s)) for p, s in
          ((model_path, input_shape), (second_model_path, second_input_shape)) if p}
short: dict[str, str] = {}
for i, name in enumerate(models):
    guess = next((t for t in ("det", "rec", "cls") if t in name.lower()), f"model{i + 1}")
    short[name] = guess if guess not in short.values() else f"{guess}{i + 1}"
models_by_key = {short[name]: path for name, (path, _) in models.items()}


def feed_for(index: int, shape: tuple) -> dict:
    """A rendered page for the first model, a rendered text line for the second."""
    n, _, h, w = shape
    if index == 0:
        x = det_input(render_page(np.random.default_rng(seed), height=h, width=w).image, size=(h, w))
    else:
        x = rec_input(line_dataset(1, seed=seed)[0].image, height=h, width=w)
    return np.repeat(x, n, axis=0)


def op_label(node: onnx.NodeProto) -> str:
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.op_type} [{node.domain}]"


def config(level: str) -> SessionConfig:
    return SessionConfig(intra_op_num_threads=threads, graph_optimization_level=level)


feeds, node_counts, saved, save_s = {}, {}, {}, {}
for i, (name, (path, shape)) in enumerate(models.items()):
    key = short[name]
    original = onnx.load(str(path))
    node_counts[key, "file"] = Counter(op_label(n) for n in original.graph.node)
    feeds[key] = {original.graph.input[0].name: feed_for(i, shape).astype(np.float32)}
    print(f"{key}: {path.name} ({path.stat().st_size / 1e6:.2f} MB, sha256 {sha256_file(path)[:12]}...), "
          f"{sum(node_counts[key, 'file'].values())} nodes in the file")
    for level in levels:
        saved[key, level] = workdir / f"{key}-{level}.onnx"
        save_s[key, level] = save_optimized(path, saved[key, level], level)
        optimized = onnx.load(str(saved[key, level]))
        node_counts[key, level] = Counter(op_label(n) for n in optimized.graph.node)
        print(f"  {level:<9} {sum(node_counts[key, level].values()):4d} nodes, {len(optimized.graph.initializer):4d} "
              f"initializers, saved as {saved[key, level].name} ({saved[key, level].stat().st_size / 1e6:.2f} MB) "
              f"in {save_s[key, level]:.2f} s")
        report.metric(f"{key}.{level}.nodes", sum(node_counts[key, level].values()),
                      description=f"{key}: nodes in the graph onnxruntime runs at level {level}")
print("onnxruntime", ort.__version__)

# %% [markdown]
# ## Which fusions fired
#
# Between each level and the one before it: the operator types whose count went up (new, usually
# fused, operators) and down (folded away or absorbed). `com.microsoft` types are onnxruntime's
# own fused kernels; `com.microsoft.nchwc` marks the blocked memory layout of level "all".

# %%
fired: dict[tuple[str, str], tuple[dict, dict]] = {}
table = ["| model | level | nodes | appeared (+) | disappeared (-) |", "|---|---|---|---|---|"]
for key in short.values():
    table.append(f"| {key} | (file) | {sum(node_counts[key, 'file'].values())} | | |")
    for prev, level in pairwise(levels):
        before, after = node_counts[key, prev], node_counts[key, level]
        up = {op: after[op] - before[op] for op in sorted(after) if after[op] > before[op]}
        down = {op: before[op] - after[op] for op in sorted(before) if before[op] > after[op]}
        fired[key, level] = (up, down)
    for level in levels:
        up, down = fired.get((key, level), ({}, {}))
        table.append(f"| {key} | {level} | {sum(node_counts[key, level].values())} | "
                     + (", ".join(f"{op} +{k}" for op, k in up.items()) or "none") + " | "
                     + (", ".join(f"{op} -{k}" for op, k in down.items()) or "none") + " |")
display(Markdown("\n".join(table)))

# %%
fig, alt = figures.stacked_counts({k: {lv: node_counts[k, lv] for lv in levels} for k in short.values()})
report.figure(fig, "node-counts", alt=alt)

# %% [markdown]
# ## Session creation and first inference
#
# Optimizing is work done while the session is created. Each level's session is created
# `n_create` times in this process, the levels interleaved (each pass over the levels is one
# round of a paired ratio to "disable"), and the first inference after each creation is timed
# too (it pays for lazy allocations); its output is the one compared with level "disable". A
# fresh process pays more (imports, cold caches); the *cold-start* recipe measures that.

# %%
create_ns = {(k, lv): [] for k in short.values() for lv in levels}
first_ns = {(k, lv): [] for k in short.values() for lv in levels}
outputs = {}
for _ in range(n_create):
    for name, (path, _) in models.items():
        key = short[name]
        for level in levels:
            t0 = time.perf_counter_ns()
            sess = open_session(path, config(level))
            t1 = time.perf_counter_ns()
            outputs[key, level] = sess.run(None, feeds[key])[0]
            create_ns[key, level].append(t1 - t0)
            first_ns[key, level].append(time.perf_counter_ns() - t1)
            del sess
for (key, level), xs in create_ns.items():
    med_c, med_f = np.median(xs) / 1e6, np.median(first_ns[key, level]) / 1e6
    report.samples(f"{key}.{level}.session-create", np.array(xs, dtype=np.int64),
                   description=f"{key} session creation at level {level}, int64 ns, in this process")
    report.metric(f"{key}.{level}.session_create_ms", med_c, unit="ms", n=len(xs),
                  description=f"{key}: median session creation at level {level} (in-process)")
    report.metric(f"{key}.{level}.first_inference_ms", med_f, unit="ms", n=len(xs),
                  description=f"{key}: median first inference after creation at level {level}")
    print(f"{key} {level:<9} create median {med_c:7.1f} ms (range {min(xs) / 1e6:.1f}-{max(xs) / 1e6:.1f})"
          f"   first inference median {med_f:7.1f} ms")
create_ratio = {(k, lv): paired_ratio(create_ns[k, "disable"], create_ns[k, lv], label_a="disable", label_b=lv)
                for k in short.values() for lv in levels[1:]}

# %% [markdown]
# ## Steady-state latency per level, in rounds
#
# Per model, each round is a fresh process that opens the *original* file once per level plus
# an **A/A arm** (level "disable" a second time), and times them in blocks in a randomised,
# balanced order on the same seeded random input. The ratio of each level to "disable" is
# computed per round and its interval over the rounds (Student t on the log ratios); the A/A
# ratio is this run's noise floor, and a ratio inside it is "no detectable difference".

# %%
runs, verdicts = {}, {}
for name, (path, shape) in models.items():
    key = short[name]
    runs[key] = run = run_rounds([Arm(lv, path, config(lv)) for lv in levels],
                                 input_shapes={next(iter(feeds[key])): tuple(shape)}, rounds=n_rounds,
                                 blocks=blocks, block_iters=block_iters, warmup_iters=warmup_iters, seed=seed)
    run.report(key, percentiles=(0.5, percentile), ratios=False)
    for lv in levels[1:]:
        verdicts[key, lv] = speed_verdict(run.ratio("disable", lv, 0.5), run.aa(0.5), runner=RUNNER)

# %%
ratios = {}
for key, run in runs.items():
    ratios |= {f"{key} {lv}": verdicts[key, lv].ratio for lv in levels[1:]} | {f"{key} A/A": run.aa(0.5)}
fig, alt = figures.round_ratios(ratios, title="P50 of each level / disable, per round (A/A: disable twice)")
report.figure(fig, "median-by-level", alt=alt)
first = next(iter(runs))  # the first model's rounds
fig, alt = noise.figure(runs[first], title=f"{first}: the rounds in time, latency, sentinel units, other work")
report.figure(fig, "noise", alt=alt)

# %% [markdown]
# ## SLO checklist on this runner
#
# Per model and level: the P`percentile` deadline (PASS only when the whole deciding interval
# is under it, no verdict when the estimate is invalid), whether the outputs still match level
# "disable" within `output_tolerance`, and whether the level is faster than "disable" at the
# median beyond this run's A/A noise floor.

# %%
max_diff = {}
for key, run in runs.items():
    for level in levels:
        report.slo_check(f"{key}.{level}.p{percentile * 100:g}-within-deadline",
                         f"{key} at level {level}", run.estimate(level, percentile), deadline_ms)
        if level == "disable":
            continue
        max_diff[key, level] = float(np.max(np.abs(outputs[key, level] - outputs[key, "disable"])))
        report.check(f"{key}.{level}.outputs-match", "PASS" if max_diff[key, level] <= output_tolerance else "FAIL",
                     f"largest |difference| from level disable {max_diff[key, level]:.2e} "
                     f"(tolerance {output_tolerance:g})")
        report.check(f"{key}.{level}.faster-than-disable", verdicts[key, level].check, verdicts[key, level].sentence())

# %% [markdown]
# ## Conclusion on this runner
#
# Generated from the verdicts above: each sentence is produced from the ratio over rounds, its
# interval and the A/A noise floor, never written beside them.

# %%
lines = []
for key, run in runs.items():
    off = run.estimate("disable", 0.5)
    lines.append(f"**{key}**: {sum(node_counts[key, 'disable'].values())} nodes unoptimized, "
                 f"{sum(node_counts[key, levels[-1]].values())} at level {levels[-1]}; P50 {off.value:.2f} ms "
                 f"[{off.lower:.2f}, {off.upper:.2f}] with optimization off.")
    for level in levels[1:]:
        (up, down), v, cr = fired[key, level], verdicts[key, level], create_ratio[key, level]
        news = ", ".join(f"{op} ({k})" for op, k in up.items()) or "no new operator types"
        gone = ", ".join(f"{op} ({k})" for op, k in down.items()) or "nothing"
        text = (f"- {level}: adds {news}; removes {gone}. {v.sentence()} In-process session creation: "
                f"{cr.sentence('creation time', smaller_is='quicker to create', larger_is='slower to create')} "
                f"Outputs differ by at most {max_diff[key, level]:.1e}.")
        d_create = (np.median(create_ns[key, level]) - np.median(create_ns[key, "disable"])) / 1e6
        saved_ms = off.value - run.estimate(level, 0.5).value
        if v.outcome == "faster" and cr.direction == "higher" and saved_ms > 0:
            text += f" The extra creation time is repaid after about {math.ceil(d_create / saved_ms)} inferences."
        lines.append(text)
    if "all" in levels and any("nchwc" in op for op in node_counts[key, "all"]):
        lines.append("- The graph saved at level all uses the NCHWc layout (`com.microsoft.nchwc`), chosen for this "
                     "CPU's vector width: ship it only to identical hardware, or save at extended and let each "
                     "device apply the layout at load.")
    best, sentence = fastest([verdicts[key, lv] for lv in levels[1:]])
    lines.append(f"- {sentence[0].upper()}{sentence[1:]}")
    head = best.variant if best else min(levels[1:], key=lambda lv: verdicts[key, lv].ratio.ratio)
    bad = max_diff[key, head] > output_tolerance
    report.metric(f"headline.{key}_best_level_p50_ratio", unit="x", **verdicts[key, head].metric_fields(),
                  invalid_because=(f"outputs differ from level disable by {max_diff[key, head]:.1e} (tolerance "
                                   f"{output_tolerance:g})") if bad else (),
                  description=f"P50 of {models_by_key[key].name} at graph optimization level {head} / level disable, "
                              f"per round over {n_rounds} rounds (lower is faster); note: the verdict against the "
                              "A/A noise floor")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## On your own device
#
# ```bash
# pip install edgetiming   # or clone the repository and run ./scripts/build
# edgetiming run recipes/operator-fusion.py --runner my-board \
#     --param model_path=/path/to/model.onnx --param 'input_shape=[1, 3, 640, 640]' \
#     --param second_model_path="" --param deadline_ms=33.3
# ```
#
# Which fusions fire depends on the onnxruntime version and the model; which level is fastest
# depends on the CPU (the NCHWc layout of level "all" needs vector units it can use). The node
# table and the ratios over rounds above are what to compare with this page.
