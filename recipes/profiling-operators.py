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
#     quick: {warmup_iters: 3, profiled_iters: 25, unprofiled_iters: 40, memory_iters: 3, slow_share: 0.12}
#     expected_duration_s: 60
#     timeout_cell_s: 600
# ---

# %% [markdown]
# # Where the time goes: operators, slow iterations and memory
#
# A latency distribution says how long an inference takes; onnxruntime's own profiler says
# which operators the time is spent in. You will learn how to turn the profiler's JSON into
# per-operator and per-operator-type tables, what the profiler costs (it slows what it
# measures), whether the *slow* iterations are slow because of particular operators or because
# everything slowed down at once (a machine-level cause such as another process or a
# preempted thread), and how much memory the session needs in a fresh process, with
# onnxruntime's memory arena on and off. The parsing and the attribution live in
# `edgetiming.measure.profile`.
#
# The model is the PP-OCRv4 text detector shipped in the `rapidocr-onnxruntime` wheel; pass your
# own with `--param model_path=/path/to/model.onnx` and its input shape.

# %% tags=["parameters"]
model_path = "rapidocr:det"  # an .onnx file, or rapidocr:det / rapidocr:rec / rapidocr:cls
input_shape = [1, 3, 320, 320]  # N, C, H, W of the model's image input
deadline_ms = 50.0  # the application's deadline for one inference
percentile = 0.99  # the SLO: the `percentile` latency must be <= deadline_ms
memory_budget_mb = 512.0  # the peak resident memory the application can give the model
warmup_iters = 10  # iterations run (and profiled) before the ones analysed
profiled_iters = 150  # profiled iterations; the det model writes ~0.4 MB of profiler JSON each
unprofiled_iters = 400  # the same session settings without the profiler (P99 needs >= 368 for a verdict)
blocks = 5  # interleaved blocks per session: the rounds of the profiler-overhead ratio
slow_share = 0.05  # the slowest share of profiled iterations, compared with the median ones
top_n = 10  # rows in the top-operator tables
profiler_tolerance = 0.10  # profiler overhead on P50 accepted as "small"
memory_iters = 20  # inferences each fresh memory-measuring process runs after the first
intra_op_threads = 0  # 0 lets onnxruntime choose
seed = 0

# %%
import itertools
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from edgetiming.measure import noise
from edgetiming.measure.closedloop import closed_loop, timing_gc_off
from edgetiming.measure.profile import (
    FOOTPRINT,
    Profile,
    attribute_slow,
    fresh_process_memory,
    memory_footprint,
    overhead_verdict,
    profiled_session,
)
from edgetiming.measure.rounds import interleaved_rounds
from edgetiming.measure.session import SessionConfig, open_session
from edgetiming.results import figures, report
from edgetiming.stats import quantiles as stats
from edgetiming.stats.repeated import paired_ratio
from edgetiming.stats.validity import judge
from edgetiming.workload.models import resolve, sha256_file
from edgetiming.workload.ocrdata import det_batch

runner = os.environ.get("EDGETIMING_RUNNER") or "this runner"
path = resolve(model_path)
config = SessionConfig(intra_op_num_threads=intra_op_threads or None)
print(f"model: {path.name} ({path.stat().st_size / 1e6:.1f} MB, sha256 {sha256_file(path)[:12]}...)")
image = det_batch(input_shape, np.random.default_rng(seed))

# %% [markdown]
# ## Profiled and unprofiled runs
#
# Three sessions with the same settings: one with `SessionOptions.enable_profiling`, one without,
# and a second one without (the A/A arm: its ratio to the first is this run's noise floor). They are
# timed in `blocks` blocks each, in a randomised, balanced order, so a machine that speeds up or slows
# down during the run affects all alike; the profiler's cost is the P50 ratio profiled/unprofiled per
# block, with its interval over blocks. A fixed sentinel workload runs after each block, never inside one.

# %%
tmp = tempfile.TemporaryDirectory(prefix="edgetiming-profile-")
sessions = {"unprofiled": open_session(path, config), "profiled": profiled_session(path, config, Path(tmp.name) / "p"),
            "unprofiled (A/A)": open_session(path, config)}
feeds = {sessions["unprofiled"].get_inputs()[0].name: image}
iters = {"unprofiled": unprofiled_iters, "profiled": profiled_iters, "unprofiled (A/A)": unprofiled_iters}


def timed(k, m, sentinel=False):  # one block of back-to-back calls; a sentinel after it, never between its calls
    s = sessions[k]
    return closed_loop(lambda: s.run(None, feeds), warmup_iters=0, iters=m, overhead=False, sentinel=sentinel, blocks=1)


with timing_gc_off():  # one freeze for all blocks; block i of a session runs its share of that session's iters
    warm = {k: timed(k, warmup_iters).latency_ns for k in sessions}
    runs, _ = interleaved_rounds({k: lambda i, k=k: timed(k, iters[k] // blocks + (i < iters[k] % blocks), True)
                                  for k in sessions}, blocks, seed=seed)
profile = Profile.read(sessions["profiled"].end_profiling(), delete=True)
assert profile.runs == warmup_iters + profiled_iters, f"{profile.runs} model_run events for {warmup_iters + profiled_iters} calls"
for k, v in runs.items():
    x = np.concatenate([r.latency_ns for r in v])
    report.samples(k.replace(" (A/A)", "_aa"), np.r_[warm[k], x], description=(
        f"latency per inference, {k}, int64 ns; the first {warmup_iters} are warmup, then {blocks} interleaved blocks"))
    if k != "unprofiled (A/A)":
        for p in (0.5, percentile):
            report.estimate(f"{k}.p{p * 100:g}_ms", stats.quantile_ci(x, p).scaled(1e-6),
                            description=f"closed-loop P{p * 100:g} " + ("with the profiler on" if k == "profiled"
                                                                          else "without the profiler"))
block_p50 = {k: np.array([stats.quantile(r.latency_ns, 0.5) for r in v]) / 1e6 for k, v in runs.items()}
overhead = paired_ratio(block_p50["unprofiled"], block_p50["profiled"], label_a="unprofiled", label_b="profiled")
aa = paired_ratio(block_p50["unprofiled"], block_p50["unprofiled (A/A)"], label_a="unprofiled",
                  label_b="a second unprofiled session")
overhead_state, overhead_sentence = overhead_verdict(overhead, aa, profiler_tolerance, runner)
for name, r in (("profiler.p50_ratio", overhead), ("profiler.aa_p50_ratio", aa)):
    report.metric(name, r.ratio, n=r.rounds, note=r.direction, ci=(r.interval.lower, r.interval.upper)
                  if r.interval.known else None, description=f"P50 of {r.label_b} / P50 of {r.label_a}, per "
                  f"interleaved block; interval over {r.rounds} blocks (Student t on log ratios)")
fig, alt = noise.figure(sum(runs.values(), []), labels=[k for k, v in runs.items() for _ in v],
                        title="The interleaved blocks in time: latency, sentinel units, other work on the machine")
report.figure(fig, "noise", alt=alt)

# %% [markdown]
# ## From the profiler's JSON to tables
#
# One row per operator per inference (its `args.op_name` is the type after graph optimization:
# fused operators such as `FusedConv` under their fused name). The first `warmup_iters`
# inferences are left out. Time not inside any kernel (the executor moving between
# operators, allocation, thread hand-offs) is "(between kernels)".

# %%
by_type, by_node = profile.by_type(warmup_iters), profile.by_node(warmup_iters)
coverage = profile.kernel_coverage(warmup_iters)
print(f"{profile.ops['node'].nunique()} operator nodes, {len(by_type)} operator types, {profiled_iters} analysed "
      f"inferences; kernels cover {coverage:.1%} of each model_run (median)")
report.metric("kernel_coverage", coverage, description="median share of each model_run spent inside operator kernels")
for op_type, row in by_type.head(top_n).iterrows():
    report.metric("op_type." + re.sub(r"[^a-z0-9_-]", "_", op_type.lower())[:50] + ".ms_per_inference",
                  row["ms_per_inference"], unit="ms",
                  description=f"mean time per inference in {op_type} kernels ({int(row['nodes'])} nodes)")
display(by_type.head(top_n).round(3), by_node.head(top_n).round(3))

# %%
top = by_type.head(top_n)
fig, alt = figures.ranked_bars(top["ms_per_inference"].to_dict(), top["share"], what="mean time per inference",
                               ylabel="operator type", title=f"Top operator types, {path.name} ({profiled_iters} "
                               "profiled inferences)")
report.figure(fig, "op-types", alt=f"{alt} (over {profiled_iters} profiled inferences)")

# %% [markdown]
# ## Are the slow iterations explained by particular operators?
#
# The slowest `slow_share` of the profiled inferences against the ones around the median
# (40th to 60th percentile), operator type by operator type. The excess is **concentrated**
# when one node or operator type is the worst again and again and takes far more than its
# normal share of the extra time (look at that operator), and **spread** when every operator
# slows roughly in proportion and a different node takes the biggest hit each time (a
# preempted thread, another process or a frequency drop: not the model's fault).

# %%
slow = attribute_slow(profile, warmup_iters, slow_share)
print(f"{slow.k_slow} slowest inferences against {slow.k_mid} median ones: {slow.total_excess_ms:.2f} ms extra on "
      f"average, {slow.explanation}" + (f" ({', '.join(slow.explained_by)})" if slow.explained_by else "")
      + f"; the same type was the worst in {slow.same_type_share:.0%}, the same node in {slow.same_node_share:.0%}")
report.metric("slow.excess_ms", slow.total_excess_ms, unit="ms",
              description=f"mean extra time of the slowest {slow_share:.0%} of profiled inferences over the median ones")
report.metric("slow.explanation", slow.explanation, description="; ".join(
    f"{t}: {r['share_of_excess']:.0%} of the excess, {r['share_of_normal']:.0%} of a normal inference"
    for t, r in slow.table.head(3).iterrows()))
display(slow.table.head(top_n).round(3), slow.worst.round(3))

# %%
show = slow.table.head(min(top_n, 8))
fig, alt = figures.paired_bars(show.index, show["median_iters_ms"], show["slow_iters_ms"],
                               label_a=f"median inferences (n={slow.k_mid})", label_b=f"slowest {slow_share:.0%} "
                               f"(n={slow.k_slow})", what="mean time per inference", ylabel="operator type",
                               title=f"Where the slow inferences lose time: excess {slow.explanation}")
report.figure(fig, "slow-vs-median", alt=f"{alt}; {slow.total_excess_ms:.2f} ms extra in total, {slow.explanation}; "
              "share of the excess (and of a normal inference): " + ", ".join(
                  f"{t} {r['share_of_excess']:.0%} ({r['share_of_normal']:.0%})" for t, r in show.head(5).iterrows()))

# %% [markdown]
# ## Memory: the session's footprint
#
# Peak resident memory is a high-water mark for a whole process, so each measurement runs in
# a fresh process: resident memory and the peak so far (the kernel's `VmHWM`) after the
# imports, after the session is created, after the first inference and after `memory_iters`
# more; once with onnxruntime's CPU memory arena (the default), once without it. The arena's
# own accounting comes from the profiler (`mem_arena_held`, `mem_in_use_peak`).

# %%
mem = {f"arena {'on' if a else 'off'}": fresh_process_memory(path, arena=a, input_shape=input_shape,
                                                               iters=memory_iters, threads=intra_op_threads)
       for a in (True, False)}
arena_held_mb, in_use_peak_mb = profile.memory_mib("arena_held_bytes"), profile.memory_mib("in_use_peak_bytes")
foot = {k: memory_footprint(v) for k, v in mem.items()}
peak = {k: f["peak_rss_mb"] for k, f in foot.items()}
for (k, f), (field, what) in itertools.product(foot.items(), FOOTPRINT.items()):
    report.metric(f"memory.{k.replace(' ', '_')}.{field}", f[field], unit="MiB", description=f"{what} ({k})")
report.metric("memory.profiler_arena_held_mb", arena_held_mb, unit="MiB",
              description="largest mem_arena_held the profiler reported (CPU arena, bytes reserved)",
              note="" if arena_held_mb is not None else "this onnxruntime's profiler does not report the arena")
report.metric("memory.profiler_in_use_peak_mb", in_use_peak_mb, unit="MiB",
              description="largest mem_in_use_peak the profiler reported (bytes handed out by the arena)")
pd.concat(mem, axis=1).round(1)

# %%
fig, alt = figures.memory_steps(mem, budget_mb=memory_budget_mb)
report.figure(fig, "memory", alt=alt + (f"; the profiler reports the arena holding up to {arena_held_mb:.1f} MiB"
                                        if arena_held_mb is not None else ""))

# %% [markdown]
# ## SLO checklist on this runner

# %%
verdict = stats.slo_verdict(np.concatenate([r.latency_ns for r in runs["unprofiled"]]), percentile, deadline_ms)
ve = verdict.estimate
n_state = judge(n=ve.n, percentiles=(percentile,))  # no verdict from an invalid estimate
report.check(f"p{percentile * 100:g}-within-deadline", verdict.verdict if n_state.valid else "INCONCLUSIVE",
             f"unprofiled P{percentile * 100:g} = {ve.value:.2f} ms, 95% CI [{ve.lower:.2f}, {ve.upper:.2f}] ms over "
             f"{ve.n} inferences of one process, deadline {deadline_ms:g} ms: {verdict.reason}"
             + ("" if n_state.valid else f"; no verdict: {'; '.join(n_state.reasons)}"))
report.check("peak-memory-within-budget", "PASS" if peak["arena on"] <= memory_budget_mb else "FAIL",
             f"peak resident memory of a fresh process with the default arena {peak['arena on']:.0f} MiB (without "
             f"the arena {peak['arena off']:.0f} MiB) against a {memory_budget_mb:g} MiB budget")
report.check("profiler-overhead-small", overhead_state, overhead_sentence)
report.check("kernels-cover-run", "PASS" if coverage >= 0.9 else "FAIL",
             f"operator kernels account for {coverage:.1%} (median) of each profiled model_run; below 90% the "
             "per-operator table misses a real part of the time (executor, allocation, thread hand-offs)")

# %% [markdown]
# ## Conclusion on this runner
#
# Generated from the measurements above.

# %%
t1, n1 = by_type.index[0], by_node.index[0]
explain = {
    "concentrated": f"**explained by particular operators**: {', '.join(slow.explained_by)}.",
    "spread": "**not explained by a particular operator**: each slow inference loses its time somewhere else (the "
              f"type that lost the most: {', '.join(slow.worst['worst_type'])}); a machine-level cause is likelier.",
    "too few slow inferences": "too few to tell whether an operator explains them; raise profiled_iters.",
    "no excess": "no slower than the median ones here: nothing to explain.",
}
lines = [
    f"- The top operator type is **{t1}**: {by_type.loc[t1, 'ms_per_inference']:.2f} ms per inference, "
    f"{by_type.loc[t1, 'share']:.0%} of kernel time; the top {min(3, len(by_type))} types take "
    f"{by_type['share'].head(3).sum():.0%}. The most expensive node is `{n1[0]}` ({n1[1]}, "
    f"{by_node['mean_ms'].iloc[0]:.2f} ms, {by_node['share'].iloc[0]:.0%}). Kernels cover {coverage:.0%} of each run.",
    f"- The profiler's own cost ({overhead_state} at a {profiler_tolerance:.0%} tolerance): {overhead_sentence}",
    f"- The slowest {slow_share:.0%} of inferences ({slow.k_slow}, {slow.total_excess_ms:.2f} ms extra on average) "
    f"are {explain[slow.explanation]}",
    f"- Memory: a fresh process peaks at {peak['arena on']:.0f} MiB with the arena and {peak['arena off']:.0f} MiB "
    f"without it (one process each); creating the session adds {foot['arena on']['session_mb']:.0f} MiB and running "
    f"it {foot['arena on']['inference_mb']:.0f} MiB more.",
    f"- SLO P{percentile * 100:g} <= {deadline_ms:g} ms (unprofiled, one process): "
    + (f"**{verdict.verdict}** ({verdict.reason})." if n_state.valid else f"no verdict: {'; '.join(n_state.reasons)}."),
]
head_notes = [f"the profiler slowed the inferences it measured (P50 ratio {overhead.ratio:.2f})"] * (
    overhead_state == "FAIL") + [f"kernels cover only {coverage:.0%} of each profiled inference"] * (coverage < 0.9)
report.metric("headline.top_op_type_share_pct", float(by_type.loc[t1, "share"]) * 100, unit="%", n=profiled_iters,
              note="; ".join(head_notes), description=f"Share of kernel time of {path.name} spent in its top operator "
              f"type, {t1}, over {profiled_iters} profiled inferences")
report.metric("headline.peak_rss_mib", peak["arena on"], unit="MiB", runs=1,
              description=f"Peak resident memory of a fresh process that loads and runs {path.name} "
              "with onnxruntime's default memory arena")
tmp.cleanup()
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## On your own device
#
# ```bash
# edgetiming run recipes/profiling-operators.py --runner my-board \
#     --param model_path=/path/to/model.onnx --param 'input_shape=[1, 3, 640, 640]' \
#     --param deadline_ms=33.3 --param memory_budget_mb=256
# ```
#
# An operator type that takes a much larger share on your device than here is where that
# device's kernels are weak (a missing vectorized kernel, a layout conversion) and the first
# place to try a different execution provider, a quantized model or a graph optimization level.
