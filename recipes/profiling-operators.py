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
# which operators the time is spent in. You will learn how to turn the profiler's JSON into a
# per-operator and per-operator-type table, which operators dominate, what the profiler costs
# (it slows what it measures), whether the *slow* iterations are slow because of particular
# operators or because everything slowed down at once (a machine-level cause such as another
# process or a preempted thread), and how much memory the session needs: the process's
# resident memory at each step in a fresh process, with onnxruntime's memory arena on and off,
# and the arena's own accounting as the profiler reports it.
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
unprofiled_iters = 400  # the same session settings without the profiler (P99 needs >= 299)
slow_share = 0.05  # the slowest share of profiled iterations, compared with the median ones
top_n = 10  # rows in the top-operator tables
profiler_tolerance = 0.10  # profiler overhead on P50 accepted as "small"
memory_iters = 20  # inferences each fresh memory-measuring process runs after the first
intra_op_threads = 0  # 0 lets onnxruntime choose
seed = 0

# %%
import json
import math
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from edgetiming.measure.closedloop import closed_loop, timing_gc_off
from edgetiming.measure.session import SessionConfig, open_session, session_settings
from edgetiming.results import figures, report
from edgetiming.stats import quantiles as stats
from edgetiming.stats.compare import compare_runs
from edgetiming.workload.models import resolve, sha256_file
from edgetiming.workload.ocrdata import det_input, render_page

figures.use_style()
path = resolve(model_path)
config = SessionConfig(intra_op_num_threads=intra_op_threads or None)
print(f"model: {path.name} ({path.stat().st_size / 1e6:.1f} MB, sha256 {sha256_file(path)[:12]}...)")


n, c, h, w = input_shape
image = np.repeat(det_input(render_page(np.random.default_rng(seed), height=h, width=w).image, size=(h, w)), n, axis=0).astype(np.float32)

# %% [markdown]
# ## Profiled and unprofiled runs
#
# Two sessions with the same settings: one with `SessionOptions.enable_profiling`, one
# without. They are timed in the closed loop in alternating blocks (unprofiled, profiled,
# unprofiled, ...), so a machine that speeds up or slows down during the run affects both
# alike; comparing their P50 then gives the profiler's own cost. The profiler writes one
# JSON event per operator per inference, plus one `model_run` event per inference;
# `session.end_profiling()` returns the file's path.

# %%
plain = open_session(path, config)
input_name = plain.get_inputs()[0].name
feeds = {input_name: image}
print(
    "settings:",
    {
        k: v
        for k, v in session_settings(plain).items()
        if k in ("intra_op_num_threads", "allow_spinning", "execution_mode", "graph_optimization_level")
    },
)
tmp = tempfile.TemporaryDirectory(prefix="edgetiming-profile-")
so = config.session_options()
so.enable_profiling = True
so.profile_file_prefix = str(Path(tmp.name) / "ort-profile")
profiled_sess = ort.InferenceSession(str(path), so, providers=list(config.providers))

rounds = 5
un_lat, pr_lat = [], []
with timing_gc_off():  # one freeze for all blocks: no full collection of the notebook between them
    un_warm = closed_loop(lambda: plain.run(None, feeds), warmup_iters=0, iters=warmup_iters, overhead=False)
    pr_warm = closed_loop(lambda: profiled_sess.run(None, feeds), warmup_iters=0, iters=warmup_iters, overhead=False)
    for r in range(rounds):
        k_un = unprofiled_iters // rounds + (r < unprofiled_iters % rounds)
        k_pr = profiled_iters // rounds + (r < profiled_iters % rounds)
        un_lat.append(
            closed_loop(lambda: plain.run(None, feeds), warmup_iters=0, iters=k_un, overhead=False).latency_ns
        )
        pr_lat.append(
            closed_loop(lambda: profiled_sess.run(None, feeds), warmup_iters=0, iters=k_pr, overhead=False).latency_ns
        )
profile_path = Path(profiled_sess.end_profiling())
unprofiled_ns, profiled_ns = np.concatenate(un_lat), np.concatenate(pr_lat)
report.samples(
    "unprofiled",
    np.r_[un_warm.latency_ns, unprofiled_ns],
    description=(
        f"latency per inference without the profiler, int64 ns; the first {warmup_iters} are warmup, then "
        f"{rounds} blocks alternating with the profiled ones"
    ),
)
report.samples(
    "profiled",
    np.r_[pr_warm.latency_ns, profiled_ns],
    description=(f"latency per inference with the profiler on, int64 ns; the first {warmup_iters} are warmup"),
)
for name, x in (("unprofiled", unprofiled_ns), ("profiled", profiled_ns)):
    for p in (0.5, percentile):
        q = stats.quantile_ci(x, p)
        report.metric(
            f"{name}.p{p * 100:g}_ms",
            q.value / 1e6,
            unit="ms",
            n=q.n,
            valid=q.valid,
            ci=(q.lower / 1e6, q.upper / 1e6) if q.bounded else None,
            description=f"closed-loop P{p * 100:g} "
            + ("without the profiler" if name == "unprofiled" else "with the profiler on"),
        )
print(f"profile: {profile_path.stat().st_size / 1e6:.1f} MB of JSON for {warmup_iters + profiled_ns.size} inferences")
overhead_cmp = compare_runs(unprofiled_ns, profiled_ns, percentile=0.5, min_effect=profiler_tolerance)
print(f"profiler overhead: {overhead_cmp.verdict} ({overhead_cmp.reason})")
report.metric(
    "profiler.p50_ratio",
    overhead_cmp.ratio,
    ci=(overhead_cmp.lower, overhead_cmp.upper) if math.isfinite(overhead_cmp.upper) else None,
    description="P50 with the profiler on / P50 without it",
)

# %% [markdown]
# ## From the profiler's JSON to tables
#
# Every event with `cat == "Node"` and a name ending in `_kernel_time` is one operator
# executing once; `args.op_name` is its type after graph optimization (fused operators such
# as `FusedConv` show up under their fused name). Each is assigned to the `model_run` that
# contains it, so the table has one row per operator per inference. The first `warmup_iters`
# inferences are left out of the tables. Time not inside any kernel (the executor moving
# between operators, allocation, thread hand-offs) is reported as "(between kernels)".

# %%
events = json.loads(profile_path.read_text())
profile_path.unlink()
runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"), key=lambda e: e["ts"])
run_start = np.array([e["ts"] for e in runs], dtype=np.int64)
run_dur_us = np.array([e["dur"] for e in runs], dtype=np.float64)
rows = []
for e in events:
    if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
        continue
    i = int(np.searchsorted(run_start, e["ts"], side="right")) - 1
    if i < 0:
        continue
    args = e.get("args", {})
    rows.append(
        (
            i,
            e["name"][: -len("_kernel_time")],
            args.get("op_name", "?"),
            float(e["dur"]),
            int(args.get("mem_arena_held", -1)),
            int(args.get("mem_in_use_peak", -1)),
            int(args.get("output_size", 0)),
        )
    )
del events
ops = pd.DataFrame(
    rows, columns=["iter", "node", "op_type", "dur_us", "arena_held_bytes", "in_use_peak_bytes", "output_bytes"]
)
assert len(runs) == warmup_iters + profiled_ns.size, (
    f"{len(runs)} model_run events for {warmup_iters + profiled_ns.size} calls"
)
steady_iters = np.arange(warmup_iters, len(runs))
st = ops[ops["iter"] >= warmup_iters]
n_steady = steady_iters.size
kernel_ms = st.groupby("iter")["dur_us"].sum().reindex(steady_iters, fill_value=0).to_numpy() / 1e3
run_ms = run_dur_us[steady_iters] / 1e3
wall_ms = profiled_ns / 1e6
coverage = float(np.median(kernel_ms / run_ms))
print(
    f"{ops['node'].nunique()} operator nodes, {ops['op_type'].nunique()} operator types, {n_steady} analysed inferences"
)
print(
    f"median per inference: wall (perf_counter) {np.median(wall_ms):.2f} ms, profiler model_run "
    f"{np.median(run_ms):.2f} ms, sum of kernels {np.median(kernel_ms):.2f} ms "
    f"({coverage:.1%} of model_run)"
)
report.metric("kernel_coverage", coverage, description="median share of each model_run spent inside operator kernels")

by_type = (
    st.groupby("op_type")
    .agg(total_us=("dur_us", "sum"), nodes=("node", "nunique"))
    .assign(ms_per_inference=lambda d: d["total_us"] / 1e3 / n_steady)
    .assign(share=lambda d: d["total_us"] / d["total_us"].sum())
    .sort_values("ms_per_inference", ascending=False)[["nodes", "ms_per_inference", "share"]]
)
by_node = st.groupby(["node", "op_type"])["dur_us"].agg(["median", "mean", "max"]) / 1e3
by_node = (
    by_node.rename(columns=lambda c: f"{c}_ms")
    .assign(share=lambda d: d["mean_ms"] / d["mean_ms"].sum())
    .sort_values("mean_ms", ascending=False)
)
for op_type, row in by_type.head(top_n).iterrows():
    report.metric(
        "op_type." + re.sub(r"[^a-z0-9_-]", "_", op_type.lower())[:50] + ".ms_per_inference",
        row["ms_per_inference"],
        unit="ms",
        description=f"mean time per inference in {op_type} kernels ({int(row['nodes'])} nodes)",
    )
by_type.head(top_n).round(3)

# %%
by_node.head(top_n).round(3)

# %%
top = by_type.head(top_n)[::-1]
fig = Figure(figsize=(7.5, 0.35 * len(top) + 1.8), layout="constrained")
ax = fig.subplots()
ax.barh(top.index, top["ms_per_inference"], color=figures.PALETTE[0])
for y, (v, s) in enumerate(zip(top["ms_per_inference"], top["share"])):
    ax.text(v, y, f" {v:.2f} ms ({s:.0%})", va="center", fontsize=8)
ax.set_xlim(0, top["ms_per_inference"].max() * 1.3)
ax.set_xlabel("mean time per inference (ms)")
ax.set_ylabel("operator type")
ax.set_title(f"Top operator types, {path.name} ({n_steady} profiled inferences)")
report.figure(
    fig,
    "op-types",
    alt=f"Mean time per inference by operator type over {n_steady} profiled inferences: "
    + "; ".join(f"{t} {r['ms_per_inference']:.2f} ms ({r['share']:.0%})" for t, r in by_type.head(top_n).iterrows()),
)

# %% [markdown]
# ## Are the slow iterations explained by particular operators?
#
# Take the slowest `slow_share` of the profiled inferences and the ones around the median
# (40th to 60th percentile) and compare, operator type by operator type, where the extra
# time went. Two patterns tell different stories:
#
# - the excess is **concentrated**: one operator type (or one node, again and again) takes a
#   share of the extra time far above its share of a normal inference. Look at that operator:
#   its kernel, its input, its memory;
# - the excess is **spread**: every operator is slower roughly in proportion to its normal
#   cost, and a different node takes the biggest hit in each slow inference. That is what a
#   preempted thread, another process or a frequency drop looks like: not the model's fault.

# %%
order = np.argsort(run_ms, kind="stable")
k_slow = max(1, math.ceil(slow_share * n_steady))
slow_iters = steady_iters[order[-k_slow:]]
lo, hi = int(0.4 * n_steady), max(int(0.6 * n_steady), int(0.4 * n_steady) + 1)
mid_iters = steady_iters[order[lo:hi]]
per_iter = st.pivot_table(index="iter", columns="op_type", values="dur_us", aggfunc="sum", fill_value=0.0)
per_iter = per_iter.reindex(steady_iters, fill_value=0.0)
per_iter["(between kernels)"] = run_dur_us[steady_iters] - per_iter.sum(axis=1).to_numpy()
slow_mean, mid_mean = per_iter.loc[slow_iters].mean() / 1e3, per_iter.loc[mid_iters].mean() / 1e3
excess = slow_mean - mid_mean
total_excess = float(excess.sum())
attrib = pd.DataFrame(
    {
        "median_iters_ms": mid_mean,
        "slow_iters_ms": slow_mean,
        "excess_ms": excess,
        "share_of_excess": excess / total_excess if total_excess > 0 else 0.0,
        "share_of_normal": mid_mean / mid_mean.sum(),
    }
)
attrib["concentration"] = attrib["share_of_excess"] / attrib["share_of_normal"].where(attrib["share_of_normal"] > 0)
attrib = attrib.sort_values("excess_ms", ascending=False)

# Per slow inference: which operator type and which single node lost the most time against the
# median inferences? A culprit that comes back in most slow inferences explains them; one that
# changes every time is whatever happened to be running when the machine stalled.
node_mid = st[st["iter"].isin(mid_iters)].groupby("node")["dur_us"].median()
worst = []
for it in slow_iters:
    it_excess = run_dur_us[it] - float(np.median(run_dur_us[mid_iters]))
    by_t = (per_iter.loc[it] - per_iter.loc[mid_iters].mean()).sort_values(ascending=False)
    d = st[st["iter"] == it].set_index("node")["dur_us"]
    gap = (d - node_mid.reindex(d.index).fillna(0.0)).sort_values(ascending=False)
    worst.append(
        {
            "iteration": int(it),
            "ms": run_dur_us[it] / 1e3,
            "worst_type": by_t.index[0],
            "worst_type_excess_ms": by_t.iloc[0] / 1e3,
            "worst_node": gap.index[0],
            "worst_node_excess_ms": gap.iloc[0] / 1e3,
            "node_share_of_excess": gap.iloc[0] / it_excess if it_excess > 0 else float("nan"),
        }
    )
worst = pd.DataFrame(worst)
type_counts, node_counts = worst["worst_type"].value_counts(), worst["worst_node"].value_counts()
same_type_share = float(type_counts.iloc[0] / len(worst))
same_node_share = float(node_counts.iloc[0] / len(worst))
min_slow = 3  # fewer slow inferences than this cannot show a culprit that comes back
if total_excess <= 0:
    explanation, explained_by = "no excess", []
elif len(worst) < min_slow:
    explanation, explained_by = "too few slow inferences", []
elif same_node_share >= 2 / 3 and (
    worst.loc[worst["worst_node"] == node_counts.index[0], "node_share_of_excess"].mean()
    >= 2.0 * node_mid.get(node_counts.index[0], 0.0) / node_mid.sum()
):
    explanation, explained_by = "concentrated", [f"node {node_counts.index[0]}"]
elif (
    same_type_share >= 2 / 3
    and type_counts.index[0] != "(between kernels)"
    and attrib.loc[type_counts.index[0], "concentration"] >= 2.0
):
    explanation, explained_by = "concentrated", [f"operator type {type_counts.index[0]}"]
else:
    explanation, explained_by = "spread", []
top3 = attrib.head(3)
print(
    f"{k_slow} slowest inferences (median {np.median(run_ms[order[-k_slow:]]):.2f} ms) against {mid_iters.size} "
    f"median ones ({np.median(run_ms[order[lo:hi]]):.2f} ms): {total_excess:.2f} ms extra on average"
)
print(
    f"excess is {explanation}"
    + (f": {', '.join(explained_by)}" if explained_by else "")
    + f"; the same operator type was the worst in {same_type_share:.0%} and the same node in "
    f"{same_node_share:.0%} of the slow inferences"
)
report.metric(
    "slow.excess_ms",
    total_excess,
    unit="ms",
    description=f"mean extra time of the slowest {slow_share:.0%} of profiled inferences over the median ones",
)
report.metric(
    "slow.explanation",
    explanation,
    description="; ".join(
        f"{t}: {r['share_of_excess']:.0%} of the excess, {r['share_of_normal']:.0%} of a normal inference"
        for t, r in top3.iterrows()
    ),
)
attrib.head(top_n).round(3)

# %%
worst.round(3)

# %%
show = attrib.head(min(top_n, 8))[::-1]
fig = Figure(figsize=(8.0, 0.45 * len(show) + 1.9), layout="constrained")
ax = fig.subplots()
y = np.arange(len(show))
ax.barh(
    y - 0.2,
    show["median_iters_ms"],
    height=0.4,
    color=figures.PALETTE[0],
    label=f"median inferences (n={mid_iters.size})",
)
ax.barh(
    y + 0.2, show["slow_iters_ms"], height=0.4, color=figures.PALETTE[3], label=f"slowest {slow_share:.0%} (n={k_slow})"
)
ax.set_yticks(y, show.index)
ax.set_xlabel("mean time per inference (ms)")
ax.set_ylabel("operator type")
ax.set_title(f"Where the slow inferences lose time: excess {explanation}")
ax.legend(loc="lower right")
report.figure(
    fig,
    "slow-vs-median",
    alt=(
        f"Per operator type, mean time in the {k_slow} slowest profiled inferences against the {mid_iters.size} median ones; "
        f"{total_excess:.2f} ms extra in total, {explanation}: "
        + "; ".join(
            f"{t} {r['median_iters_ms']:.2f} to {r['slow_iters_ms']:.2f} ms ({r['share_of_excess']:.0%} of the excess, "
            f"{r['share_of_normal']:.0%} of a normal inference)"
            for t, r in attrib.head(5).iterrows()
        )
    ),
)

# %% [markdown]
# ## Memory: the session's footprint
#
# Peak resident memory is a high-water mark for a whole process, so each measurement runs in
# a fresh Python process: resident memory (`psutil`) and the peak so far (the kernel's
# `VmHWM`; `ru_maxrss`, which `edgetiming.host.resources.peak_rss_bytes` reads, is inherited from
# the parent process on Linux and would report the notebook's own peak) after the imports, after the session is created,
# after the first inference and after `memory_iters` more. Once with onnxruntime's CPU memory
# arena (the default), once without it (`enable_cpu_mem_arena = False`). onnxruntime's Python
# API does not expose the arena's size directly; its profiler does, per operator
# (`mem_arena_held`, `mem_in_use_peak`), and those are shown next to the process numbers.

# %%
MEMORY_CHILD = r"""
import json, sys
import numpy as np
import onnxruntime as ort
import psutil
from edgetiming.host.resources import peak_rss_bytes

spec = json.loads(sys.argv[1])
proc, out = psutil.Process(), []


def peak_mb():
    # VmHWM is this process's own high-water mark; ru_maxrss (peak_rss_bytes) is carried over
    # from the parent across fork and exec on Linux, so in a child of a large notebook kernel it
    # reports the kernel's peak. Elsewhere, fall back to ru_maxrss.
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_bytes() / 2**20


def snap(stage):
    out.append({"stage": stage, "rss_mb": proc.memory_info().rss / 2**20, "peak_rss_mb": peak_mb()})


snap("imports")
so = ort.SessionOptions()
so.enable_cpu_mem_arena = spec["arena"]
if spec["threads"]:
    so.intra_op_num_threads = spec["threads"]
sess = ort.InferenceSession(spec["model"], so, providers=["CPUExecutionProvider"])
snap("session created")
x = np.random.default_rng(0).standard_normal(spec["shape"]).astype(np.float32)
feeds = {sess.get_inputs()[0].name: x}
sess.run(None, feeds)
snap("first inference")
for _ in range(spec["iters"]):
    sess.run(None, feeds)
snap(f"after {spec['iters']} more inferences")
print(json.dumps(out))
"""


def memory_profile(arena: bool) -> pd.DataFrame:
    spec = {
        "model": str(path),
        "arena": arena,
        "threads": intra_op_threads,
        "shape": list(input_shape),
        "iters": memory_iters,
    }
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, json.dumps(spec)], capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory child failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return pd.DataFrame(json.loads(done.stdout.strip().splitlines()[-1])).set_index("stage")


mem = {"arena on": memory_profile(True), "arena off": memory_profile(False)}
mem_table = pd.concat(mem, axis=1)
arena_held_mb = ops["arena_held_bytes"].max() / 2**20 if (ops["arena_held_bytes"] >= 0).any() else None
in_use_peak_mb = ops["in_use_peak_bytes"].max() / 2**20 if (ops["in_use_peak_bytes"] >= 0).any() else None
peak = {k: float(v["peak_rss_mb"].iloc[-1]) for k, v in mem.items()}
session_mb = {k: float(v.loc["session created", "rss_mb"] - v.loc["imports", "rss_mb"]) for k, v in mem.items()}
run_mb = {k: float(v["rss_mb"].iloc[-1] - v.loc["session created", "rss_mb"]) for k, v in mem.items()}
for k in mem:
    report.metric(
        f"memory.{k.replace(' ', '_')}.peak_rss_mb",
        peak[k],
        unit="MiB",
        description=f"peak resident memory of a fresh process running the model ({k})",
    )
    report.metric(
        f"memory.{k.replace(' ', '_')}.session_mb",
        session_mb[k],
        unit="MiB",
        description=f"resident memory added by creating the session ({k})",
    )
    report.metric(
        f"memory.{k.replace(' ', '_')}.inference_mb",
        run_mb[k],
        unit="MiB",
        description=f"resident memory added by running inferences after session creation ({k})",
    )
report.metric(
    "memory.profiler_arena_held_mb",
    arena_held_mb,
    unit="MiB",
    description="largest mem_arena_held the profiler reported (CPU arena, bytes reserved)",
    note="" if arena_held_mb is not None else "this onnxruntime's profiler does not report the arena",
)
report.metric(
    "memory.profiler_in_use_peak_mb",
    in_use_peak_mb,
    unit="MiB",
    description="largest mem_in_use_peak the profiler reported (bytes handed out by the arena)",
)
print(
    "arena as the profiler reports it:",
    "not exposed by this onnxruntime"
    if arena_held_mb is None
    else f"held up to {arena_held_mb:.1f} MiB, in use at most {in_use_peak_mb:.1f} MiB",
)
mem_table.round(1)

# %%
fig = Figure(figsize=(8.0, 4.2), layout="constrained")
ax = fig.subplots()
stages = list(mem["arena on"].index)
x = np.arange(len(stages))
for j, (k, d) in enumerate(mem.items()):
    ax.bar(x + (j - 0.5) * 0.38, d["rss_mb"], width=0.38, color=figures.PALETTE[j], label=f"resident memory, {k}")
    ax.plot(
        x + (j - 0.5) * 0.38,
        d["peak_rss_mb"],
        "_",
        markersize=18,
        markeredgewidth=2,
        color=figures.PALETTE[3],
        label="peak so far" if j == 0 else None,
    )
ax.axhline(memory_budget_mb, color="#24292f", linestyle="-.", linewidth=1.0, label=f"budget {memory_budget_mb:g} MiB")
ax.set_xticks(x, [textwrap.fill(s_, 12) for s_ in stages])
ax.set_ylabel("memory (MiB)")
ax.set_xlabel("step in a fresh process")
ax.set_title("Resident memory of a fresh process, step by step")
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
alt = (
    "Resident memory of a fresh process after each step, arena on and off: "
    + "; ".join(
        f"{k}: " + ", ".join(f"{s} {d.loc[s, 'rss_mb']:.0f} MiB" for s in stages) + f", peak {peak[k]:.0f} MiB"
        for k, d in mem.items()
    )
    + f"; budget {memory_budget_mb:g} MiB"
)
if arena_held_mb is not None:
    alt += f"; the profiler reports the arena holding up to {arena_held_mb:.1f} MiB"
report.figure(fig, "memory", alt=alt)

# %% [markdown]
# ## SLO checklist on this runner

# %%
verdict = stats.slo_verdict(unprofiled_ns, percentile, deadline_ms)
report.check(
    f"p{percentile * 100:g}-within-deadline",
    verdict.verdict,
    f"unprofiled P{percentile * 100:g} = {verdict.estimate.value:.2f} ms, 95% CI [{verdict.estimate.lower:.2f}, "
    f"{verdict.estimate.upper:.2f}] ms, deadline {deadline_ms:g} ms: {verdict.reason}",
)
worst_peak = max(peak.values())
report.check(
    "peak-memory-within-budget",
    "PASS" if peak["arena on"] <= memory_budget_mb else "FAIL",
    f"peak resident memory of a fresh process with the default arena {peak['arena on']:.0f} MiB "
    f"(without the arena {peak['arena off']:.0f} MiB) against a {memory_budget_mb:g} MiB budget",
)
report.check(
    "profiler-overhead-small",
    {"same": "PASS", "faster": "PASS", "slower": "FAIL"}.get(overhead_cmp.verdict, "INCONCLUSIVE"),
    f"profiled vs unprofiled P50: {overhead_cmp.reason}; the profile's times are "
    + (
        "representative"
        if overhead_cmp.verdict in ("same", "faster")
        else "inflated by the profiler"
        if overhead_cmp.verdict == "slower"
        else "not shown to be representative"
    ),
)
report.check(
    "kernels-cover-run",
    "PASS" if coverage >= 0.9 else "FAIL",
    f"operator kernels account for {coverage:.1%} (median) of each profiled model_run; below 90% the per-operator "
    "table misses a real part of the time (executor, allocation, thread hand-offs)",
)

# %% [markdown]
# ## Conclusion on this runner
#
# Computed from the measurements above, not written in advance.

# %%
t1 = by_type.index[0]
lines = [
    f"- The top operator type is **{t1}**: {by_type.loc[t1, 'ms_per_inference']:.2f} ms per inference, "
    f"{by_type.loc[t1, 'share']:.0%} of kernel time; the top {min(3, len(by_type))} types take "
    f"{by_type['share'].head(3).sum():.0%}. The single most expensive node is `{by_node.index[0][0]}` "
    f"({by_node.index[0][1]}, {by_node['mean_ms'].iloc[0]:.2f} ms, {by_node['share'].iloc[0]:.0%}).",
    f"- Kernels cover {coverage:.0%} of each inference the profiler saw; "
    + ("the rest is small." if coverage >= 0.9 else f"{1 - coverage:.0%} is spent between kernels, worth a look."),
    f"- The profiler's own cost: P50 ratio profiled/unprofiled {overhead_cmp.ratio:.2f} "
    f"({overhead_cmp.verdict} at a {profiler_tolerance:.0%} tolerance).",
]
if explanation == "concentrated":
    lines.append(
        f"- The slowest {slow_share:.0%} of inferences ({total_excess:.2f} ms extra on average) are "
        f"**explained by particular operators**: {', '.join(explained_by)}."
    )
elif explanation == "spread":
    lines.append(
        f"- The slowest {slow_share:.0%} of inferences ({total_excess:.2f} ms extra on average) are **not "
        f"explained by a particular operator**: each slow inference loses its time somewhere else (the "
        f"operator type that lost the most: {', '.join(worst['worst_type'])}; the same type in "
        f"{same_type_share:.0%} and the same node in {same_node_share:.0%} of them). A machine-level cause "
        "(preemption, another process, frequency) is the likelier reading."
    )
elif explanation == "too few slow inferences":
    lines.append(
        f"- Only {k_slow} inference(s) fall in the slowest {slow_share:.0%}: too few to tell whether an "
        f"operator explains them (at least {min_slow} needed); raise profiled_iters."
    )
else:
    lines.append("- The slowest inferences are no slower than the median ones here: nothing to explain.")
lines.append(
    f"- Memory: a fresh process peaks at {peak['arena on']:.0f} MiB with the arena and {peak['arena off']:.0f} "
    f"MiB without it; creating the session adds {session_mb['arena on']:.0f} MiB and running it "
    f"{run_mb['arena on']:.0f} MiB more"
    + (f"; the profiler reports the arena holding up to {arena_held_mb:.1f} MiB." if arena_held_mb is not None else ".")
)
lines.append(
    f"- SLO P{percentile * 100:g} <= {deadline_ms:g} ms (unprofiled): **{verdict.verdict}** ({verdict.reason})."
)
head_notes = []
if overhead_cmp.verdict == "slower":
    head_notes.append(f"the profiler slowed the inferences it measured (P50 ratio {overhead_cmp.ratio:.2f})")
if coverage < 0.9:
    head_notes.append(f"kernels cover only {coverage:.0%} of each profiled inference")
report.metric(
    "headline.top_op_type_share_pct",
    float(by_type.loc[t1, "share"]) * 100,
    unit="%",
    n=n_steady,
    note="; ".join(head_notes),
    description=f"Share of kernel time of {path.name} spent in its top operator type, {t1}, "
    f"over {n_steady} profiled inferences",
)
report.metric(
    "headline.peak_rss_mib",
    peak["arena on"],
    unit="MiB",
    description=f"Peak resident memory of a fresh process that loads and runs {path.name} "
    "with onnxruntime's default memory arena",
)
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
# Compare the operator table with this page's runner: an operator type that takes a much
# larger share on your device than here is where that device's kernels are weak (a missing
# vectorized kernel, a layout conversion) and the first place to try a different execution
# provider, a quantized model or a graph optimization level.
