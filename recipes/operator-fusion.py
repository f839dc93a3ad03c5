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
#     quick: {second_model_path: "", n_iters: 60, warmup_iters: 5, n_rounds: 1, max_s_per_level: 1.0, isolate: false, n_create: 3}
#     expected_duration_s: 100
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
# and see which fusions fired, and what each level does to latency (with intervals), to
# session-creation time and to the outputs, on real models.
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
percentile = 0.99  # the SLO: the `percentile` latency must be <= deadline_ms
warmup_iters = 20  # timed and labelled warmup in each measuring process
n_iters = 400  # steady-state iterations per model and level, over all rounds
max_s_per_level = 6.0  # time cap per model and level over all rounds
n_rounds = 2  # rounds over all levels, each level in a fresh process per round
isolate = True  # time each level in a fresh process
n_create = 5  # session creations per model and level, timed in this process (interleaved)
output_tolerance = 1e-3  # largest allowed |output - output at level "disable"|
intra_op_threads = 0  # 0 lets onnxruntime choose
seed = 0

# %% [markdown]
# ## Save the graph of every level
#
# Each level opens the original file with `graph_optimization_level` set and
# `optimized_model_filepath` pointing into this recipe's working directory; onnxruntime writes
# the graph it will run. Even at level "disable" onnxruntime turns `Constant` nodes into
# initializers when it loads a model, so the original file's node count is shown apart from
# the levels' counts.

# %%
import math
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from edgetiming.measure.closedloop import session_loop
from edgetiming.measure.session import SessionConfig
from edgetiming.results import figures, report
from edgetiming.stats import compare
from edgetiming.stats import quantiles as stats
from edgetiming.workload.models import resolve, sha256_file
from edgetiming.workload.ocrdata import det_input, line_dataset, rec_input, render_page

figures.use_style()
KNOWN = ("disable", "basic", "extended", "all")
if not levels or levels[0] != "disable" or set(levels) - set(KNOWN):
    raise ValueError(f"levels must start with 'disable' (the reference) and use only {KNOWN}")
threads = intra_op_threads or None
workdir = Path("optimized-models").resolve()
workdir.mkdir(exist_ok=True)
models = {Path(str(resolve(p))).stem: (resolve(p), tuple(s)) for p, s in
          ((model_path, input_shape), (second_model_path, second_input_shape)) if p}
short: dict[str, str] = {}
for i, name in enumerate(models):
    guess = next((t for t in ("det", "rec", "cls") if t in name.lower()), f"model{i + 1}")
    short[name] = guess if guess not in short.values() else f"{guess}{i + 1}"


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


def options(level: str, save_to: Path | None = None) -> ort.SessionOptions:
    so = SessionConfig(intra_op_num_threads=threads, graph_optimization_level=level).session_options()
    so.log_severity_level = 3  # the NCHWc warning is reported on the page instead
    if save_to is not None:
        so.optimized_model_filepath = str(save_to)
    return so


feeds, node_counts, outputs, saved = {}, {}, {}, {}
for i, (name, (path, shape)) in enumerate(models.items()):
    key = short[name]
    original = onnx.load(str(path))
    node_counts[key, "file"] = Counter(op_label(n) for n in original.graph.node)
    input_name = original.graph.input[0].name
    feeds[key] = {input_name: feed_for(i, shape).astype(np.float32)}
    print(f"{key}: {path.name} ({path.stat().st_size / 1e6:.2f} MB, sha256 {sha256_file(path)[:12]}...), "
          f"{sum(node_counts[key, 'file'].values())} nodes in the file")
    for level in levels:
        saved[key, level] = workdir / f"{key}-{level}.onnx"
        sess = ort.InferenceSession(str(path), options(level, saved[key, level]), providers=["CPUExecutionProvider"])
        outputs[key, level] = sess.run(None, feeds[key])[0]
        optimized = onnx.load(str(saved[key, level]))
        node_counts[key, level] = Counter(op_label(n) for n in optimized.graph.node)
        print(f"  {level:<9} {sum(node_counts[key, level].values()):4d} nodes, {len(optimized.graph.initializer):4d} "
              f"initializers, saved as {saved[key, level].name} ({saved[key, level].stat().st_size / 1e6:.2f} MB)")
        report.metric(f"{key}.{level}.nodes", sum(node_counts[key, level].values()),
                      description=f"{key}: nodes in the graph onnxruntime runs at level {level}")
print("onnxruntime", ort.__version__)

# %% [markdown]
# ## Which fusions fired
#
# Between each level and the one before it: the operator types whose count went up (new,
# usually fused, operators) and down (operators folded away or absorbed). Types in the
# `com.microsoft` domain are onnxruntime's own fused kernels; `com.microsoft.nchwc` marks the
# blocked memory layout of level "all".

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
def node_figure() -> tuple[Figure, str]:
    keys = list(short.values())
    fig = Figure(figsize=(9.0, 1.3 + 1.6 * len(keys)), layout="constrained")
    axes = fig.subplots(len(keys), 1, squeeze=False)[:, 0]
    # Colour the operator types whose count changes between levels (the fusions), largest change
    # first; types no level touches are one grey block.
    change: Counter = Counter()
    for key in keys:
        for op in set().union(*(node_counts[key, lv] for lv in levels)):
            ks = [node_counts[key, lv].get(op, 0) for lv in levels]
            change[op] = max(change[op], max(ks) - min(ks))
    changed = [op for op, d in change.most_common() if d > 0]
    top = changed[:6]
    groups = top + ["other changed types", "types no level changes"]
    colors = list(figures.PALETTE[:6]) + ["#8c959f", "#d0d7de"]

    def group_count(c: Counter, g: str) -> int:
        if g == "other changed types":
            return sum(v for o, v in c.items() if o in changed and o not in top)
        if g == "types no level changes":
            return sum(v for o, v in c.items() if o not in changed)
        return c.get(g, 0)

    parts = []
    for ax, key in zip(axes, keys):
        for j, level in enumerate(levels):
            c, left = node_counts[key, level], 0
            for g, color in zip(groups, colors):
                k = group_count(c, g)
                ax.barh(j, k, left=left, color=color, label=g if (key == keys[0] and j == 0) else None)
                left += k
            ax.text(left, j, f" {left}", va="center", fontsize=8)
            parts.append(f"{key} {level}: {left} nodes")
        ax.set_yticks(range(len(levels)), levels)
        ax.invert_yaxis()
        ax.set_title(f"{key}: nodes by operator type at each level")
        ax.set_xlabel("nodes (count)")
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return fig, "Node counts by operator type at each optimization level: " + "; ".join(parts)


fig, alt = node_figure()
report.figure(fig, "node-counts", alt=alt)

# %% [markdown]
# ## Session creation and first inference
#
# Optimizing is work done while the session is created. Each level's session is created
# `n_create` times in this process, levels interleaved, and the first inference after each
# creation is timed too (it pays for lazy allocations). A fresh process pays more (imports,
# cold caches); the *ahead-of-time* recipe measures that.

# %%
create_ns = {(k, lv): [] for k in short.values() for lv in levels}
first_ns = {(k, lv): [] for k in short.values() for lv in levels}
for _ in range(n_create):
    for name, (path, _) in models.items():
        key = short[name]
        for level in levels:
            so = options(level)
            t0 = time.perf_counter_ns()
            sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
            t1 = time.perf_counter_ns()
            sess.run(None, feeds[key])
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


def creation_figure() -> tuple[Figure, str]:
    keys = list(short.values())
    fig = Figure(figsize=(8.0, 1.2 + 0.45 * len(keys) * len(levels)), layout="constrained")
    ax = fig.subplots()
    labels, parts, y = [], [], 0
    for key in keys:
        for i, level in enumerate(levels):
            for series, color, dy, what in ((create_ns, figures.PALETTE[0], -0.12, "creation"),
                                            (first_ns, figures.PALETTE[1], 0.12, "first inference")):
                xs = np.array(series[key, level]) / 1e6
                ax.plot(xs, np.full(xs.size, y + dy), "o", color=color, alpha=0.6, markersize=4,
                        label=what if y == 0 else None)
                ax.plot([np.median(xs)] * 2, [y + dy - 0.15, y + dy + 0.15], color=color, linewidth=2.2)
            labels.append(f"{key} {level}")
            parts.append(f"{key} {level}: creation median {np.median(create_ns[key, level]) / 1e6:.1f} ms, "
                         f"first inference {np.median(first_ns[key, level]) / 1e6:.1f} ms")
            y += 1
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlim(left=0)
    ax.set_xlabel("time (ms); dots = each creation, bar = median")
    ax.set_title(f"Session creation and first inference per level ({n_create} each, in-process)")
    ax.legend(loc="lower right", fontsize=8)
    return fig, "Session creation and first inference time per level: " + "; ".join(parts)


fig, alt = creation_figure()
report.figure(fig, "session-creation", alt=alt)

# %% [markdown]
# ## Steady-state latency per level
#
# The levels take turns over `n_rounds` rounds, each turn in a fresh process (`isolate`), all
# opening the *original* file with the level set; each stops after its share of `n_iters` or
# of `max_s_per_level`.

# %%
iters_per_round = max(1, math.ceil(n_iters / n_rounds))
runs = {(k, lv): [] for k in short.values() for lv in levels}
for _ in range(n_rounds):
    for name, (path, _) in models.items():
        key = short[name]
        for level in levels:
            cfg = SessionConfig(intra_op_num_threads=threads, graph_optimization_level=level)
            runs[key, level].append(session_loop(str(path), feeds[key], session_config=cfg, isolate=isolate,
                                                 warmup_iters=warmup_iters, iters=iters_per_round,
                                                 duration_s=max_s_per_level / n_rounds,
                                                 target_percentile=percentile))
pooled, summaries, valid = {}, {}, {}
for (key, level), rs in runs.items():
    steady = np.concatenate([r.steady_ns for r in rs])
    pooled[key, level] = steady
    s = summaries[key, level] = stats.summarize(steady, percentiles=(0.5, 0.9, percentile))
    overhead = max((r.overhead.per_iter_ns for r in rs if r.overhead), default=None)
    valid[key, level] = stats.validity(s, claimed_percentiles=(percentile,), overhead_ns=overhead,
                                       throttle_seen=any(r.throttle_seen for r in rs))
    where = "each round in a fresh process" if isolate else "all rounds in this process"
    report.samples(f"{key}.{level}", steady, description=f"steady-state latency of {key} at level {level}, "
                   f"int64 ns, {len(rs)} rounds pooled in order (warmup excluded; {where})")
    for p in (0.5, percentile):
        q = s.estimate(p)
        report.metric(f"{key}.{level}.{stats.percentile_label(p)}_ms", q.value, unit="ms", n=q.n,
                      ci=(q.lower, q.upper) if q.bounded else None, valid=valid[key, level].valid and q.valid,
                      note="; ".join(valid[key, level].reasons),
                      description=f"{key} at level {level}: nearest-rank {stats.percentile_label(p).upper()}")
    medians = ", ".join(f"{stats.quantile(r.steady_ns, 0.5) / 1e6:.2f}" for r in rs)
    print(f"{key} {level:<9} n={s.n:<4} P50 {s.median_ms:7.2f} ms  P{percentile * 100:g} "
          f"{s.estimate(percentile).value:7.2f} ms  CV {s.cv:5.1%}  round medians {medians} ms"
          + ("" if valid[key, level].valid else "  INVALID: " + "; ".join(valid[key, level].reasons)))
vs_off = {(k, lv): compare.compare_runs(pooled[k, "disable"], pooled[k, lv], percentile=0.5)
          for k in short.values() for lv in levels[1:]}
for (key, level), c in vs_off.items():
    print(f"{key} {level}: P50 ratio to disable {c.ratio:.3f} [{c.lower:.3f}, {c.upper:.3f}] -> {c.verdict}")

# %%
fig, alt = figures.compare_configs({f"{k} {lv}": s for (k, lv), s in summaries.items()}, 0.5,
                                   title="P50 latency by model and optimization level")
report.figure(fig, "median-by-level", alt=alt)

# %%
fig, alt = figures.compare_configs({f"{k} {lv}": s for (k, lv), s in summaries.items()}, percentile,
                                   deadline_ms=deadline_ms,
                                   title=f"P{percentile * 100:g} latency by model and optimization level")
report.figure(fig, "tail-by-level", alt=alt)

# %% [markdown]
# ## SLO checklist on this runner
#
# Per model and level: the P`percentile` deadline (PASS only when the whole interval is under
# it), whether the outputs still match level "disable" within `output_tolerance`, and whether
# the level is faster than "disable" at the median (by more than 5%, the ratio's whole interval
# clearing it).

# %%
max_diff = {}
for key in short.values():
    for level in levels:
        v = stats.slo_verdict(pooled[key, level], percentile, deadline_ms)
        report.check(f"{key}.{level}.p{percentile * 100:g}-within-deadline", v.verdict,
                     f"{key} at {level}: {v.reason}" + ("" if valid[key, level].valid else
                     "; result invalid: " + "; ".join(valid[key, level].reasons)))
        if level == "disable":
            continue
        max_diff[key, level] = float(np.max(np.abs(outputs[key, level] - outputs[key, "disable"])))
        report.check(f"{key}.{level}.outputs-match", "PASS" if max_diff[key, level] <= output_tolerance else "FAIL",
                     f"largest |difference| from level disable {max_diff[key, level]:.2e} "
                     f"(tolerance {output_tolerance:g})")
        c = vs_off[key, level]
        report.check(f"{key}.{level}.faster-than-disable",
                     {"faster": "PASS", "inconclusive": "INCONCLUSIVE"}.get(c.verdict, "FAIL"),
                     f"{key} at {level} is {c.verdict}: {c.reason}")

# %% [markdown]
# ## Conclusion on this runner
#
# Computed from the measurements above, not written in advance.

# %%
lines = []
for key in short.values():
    off = summaries[key, "disable"]
    best = min(levels, key=lambda lv: summaries[key, lv].median_ms)
    lines.append(f"**{key}**: {sum(node_counts[key, 'disable'].values())} nodes unoptimized, "
                 f"{sum(node_counts[key, levels[-1]].values())} at level {levels[-1]}; "
                 f"P50 {off.median_ms:.2f} ms with optimization off.")
    for level in levels[1:]:
        up, down = fired[key, level]
        c = vs_off[key, level]
        how = {"faster": f"**{1 / c.ratio:.2f}x faster** than", "slower": f"**{c.ratio:.2f}x slower** than",
               "same": "within 5% of", "inconclusive": "not clearly different from"}[c.verdict]
        d_create = (np.median(create_ns[key, level]) - np.median(create_ns[key, "disable"])) / 1e6
        saved_ms = off.median_ms - summaries[key, level].median_ms
        news = ", ".join(f"{op} ({k})" for op, k in up.items()) or "no new operator types"
        gone = ", ".join(f"{op} ({k})" for op, k in down.items()) or "nothing"
        text = (f"- {level}: adds {news}; removes {gone}. At the median it is {how} disable "
                f"(ratio {c.ratio:.3f}, 95% CI [{c.lower:.3f}, {c.upper:.3f}]); session creation "
                f"{d_create:+.0f} ms; outputs differ by at most {max_diff[key, level]:.1e}.")
        if c.verdict == "faster" and d_create > 0 and saved_ms > 0:
            text += f" The extra creation time is repaid after about {math.ceil(d_create / saved_ms)} inferences."
        lines.append(text)
    if "all" in levels and any("nchwc" in op for op in node_counts[key, "all"]):
        lines.append("- The graph saved at level all uses the NCHWc layout (`com.microsoft.nchwc`), chosen for this "
                     "CPU's vector width: ship it only to identical hardware, or save at extended and let each "
                     "device apply the layout at load.")
    verdict = vs_off[key, best].verdict if best != "disable" else "same"
    lines.append(f"- Fastest here: **{best}** (P50 {summaries[key, best].median_ms:.2f} ms)"
                 + ("" if verdict == "faster" or best == "disable" else
                    f", though its difference from disable is {verdict} at this sample size") + ".")
invalid = [f"{k} {lv}" for (k, lv), v in valid.items() if not v.valid]
if invalid:
    lines.append(f"\nMarked invalid (see the checklist): {', '.join(invalid)}.")
for key in short.values():
    head_level = min(levels[1:], key=lambda lv: vs_off[key, lv].ratio)
    c = vs_off[key, head_level]
    reasons = [f"{lv}: {r}" for lv in ("disable", head_level) for r in valid[key, lv].reasons]
    if not max_diff[key, head_level] <= output_tolerance:
        reasons.append(f"outputs differ from level disable by {max_diff[key, head_level]:.1e} "
                       f"(tolerance {output_tolerance:g})")
    report.metric(f"headline.{key}_best_level_p50_ratio", c.ratio, unit="x",
                  ci=(c.lower, c.upper) if c.lower > 0 and np.isfinite(c.upper) else None,
                  n=int(min(pooled[key, "disable"].size, pooled[key, head_level].size)),
                  valid=not reasons, note="; ".join(reasons),
                  description=f"P50 of {next(pth.name for n, (pth, _) in models.items() if short[n] == key)} at graph optimization "
                              f"level {head_level} / level disable (lower is faster)")
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
# table and the latency intervals above are what to compare with this page.
