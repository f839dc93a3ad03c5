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
#     quick: {n_iters: 60, warmup_iters: 5, n_rounds: 1, max_s_per_config: 1.0, isolate: false, width_multipliers: [1.0, 0.5]}
#     expected_duration_s: 80
#     timeout_cell_s: 600
# ---

# %% [markdown]
# # Pruning: fewer channels against more zeros
#
# Pruning removes weights. There are two ways to do it, and on a CPU they have very different
# effects on latency. **Structured** pruning removes whole channels: every convolution gets
# narrower, the tensors get smaller and the dense kernels have less work. **Unstructured**
# pruning (sparsity) sets individual weights to zero and keeps every shape: the model has as
# few nonzero weights as the narrow one, but a dense kernel multiplies by the zeros anyway.
# You will learn how to count parameters and FLOPs (dense and nonzero), how latency,
# its percentiles and its variation change with each kind of pruning at the same density,
# and, from this runner's data, when sparsity buys nothing on dense CPU kernels.
#
# The model is **built in this recipe** with `onnx.helper`, not taken from a model zoo: the
# comparison needs a network whose structure is controlled exactly (the same layers at
# several widths, and copies with a chosen share of zeros). It is a plain convolutional
# classifier: a stack of 3x3 convolutions with ReLU, global average pooling and a linear
# layer, with random weights (latency does not depend on what the weights have learned).
# What it does not show is the accuracy lost by pruning a trained model; that needs training.

# %% tags=["parameters"]
input_shape = [1, 3, 160, 160]  # N, C, H, W of the image input
base_channels = [32, 64, 64, 128, 128, 256, 256]  # output channels of each 3x3 convolution at full width
strides = [2, 2, 1, 2, 1, 2, 1]  # stride of each convolution
n_classes = 100  # outputs of the final linear layer
width_multipliers = [1.0, 0.75, 0.5, 0.25]  # structured pruning: share of channels kept (1.0 = dense baseline)
channel_multiple = 8  # pruned widths are rounded to a multiple of this (what vector kernels like)
deadline_ms = 20.0  # deadline of one inference
percentile = 0.99  # the SLO: the `percentile` latency must be <= deadline_ms
warmup_iters = 20  # timed and labelled warmup in each measuring process
n_iters = 600  # steady-state iterations per configuration, over all rounds
max_s_per_config = 10.0  # time cap per configuration over all rounds
n_rounds = 2  # rounds over all configurations, each in a fresh process per round
isolate = True  # time each configuration in a fresh process
min_effect = 0.05  # a change smaller than 5% counts as "no change"
intra_op_threads = 0  # 0 lets onnxruntime choose
seed = 0

# %% [markdown]
# ## Build the network at each width, and its sparse twins
#
# For each width multiplier `k` below 1, two models have the same number of nonzero weights:
#
# - **structured**: every convolution keeps `k` of its output channels (rounded to a multiple
#   of `channel_multiple`), so the next layer also loses inputs; parameters and FLOPs fall
#   roughly as `k^2`;
# - **sparse**: the full-width model with the smallest-magnitude weights of every layer set to
#   zero, so that its share of nonzero weights (its density) equals the structured model's
#   parameters over the full model's. Shapes, file layout and dense FLOPs stay those of the
#   full model; only the nonzero FLOPs fall.

# %%
import gzip
import math
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from IPython.display import Markdown, display
from matplotlib.figure import Figure
from onnx import TensorProto, helper, numpy_helper

from edgetiming.measure.closedloop import session_loop
from edgetiming.measure.session import SessionConfig
from edgetiming.results import figures, report
from edgetiming.stats import compare
from edgetiming.stats import quantiles as stats

figures.use_style()
if len(base_channels) != len(strides):
    raise ValueError("base_channels and strides must have one entry per convolution")
if 1.0 not in width_multipliers:
    raise ValueError("width_multipliers must include 1.0: the dense full-width model is the baseline")
config = SessionConfig(intra_op_num_threads=intra_op_threads or None)
workdir = Path("pruning-models").resolve()
workdir.mkdir(exist_ok=True)
rng = np.random.default_rng(seed)
n, c_in, height, width = input_shape


def pruned_width(c: int, k: float) -> int:
    return c if k >= 1.0 else max(channel_multiple, round(c * k / channel_multiple) * channel_multiple)


def full_weights(seed_: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """He-initialized weights of the full-width network: (W, b) per layer, the classifier last."""
    g = np.random.default_rng(seed_)
    params, cin = [], c_in
    for cout in base_channels:
        params.append((g.normal(0, math.sqrt(2 / (cin * 9)), (cout, cin, 3, 3)).astype(np.float32),
                       g.normal(0, 0.01, cout).astype(np.float32)))
        cin = cout
    params.append((g.normal(0, math.sqrt(1 / cin), (n_classes, cin)).astype(np.float32),
                   np.zeros(n_classes, np.float32)))
    return params


def structured(params: list, k: float) -> list:
    """Keep the k share of output channels with the largest L1 norm in each conv (and the
    matching input channels of the next layer): classic magnitude channel pruning."""
    out, keep_in = [], np.arange(c_in)
    for w, b in params[:-1]:
        w = w[:, keep_in]
        norms = np.abs(w).sum(axis=(1, 2, 3))
        keep = np.sort(np.argsort(-norms)[: pruned_width(w.shape[0], k)])
        out.append((w[keep].copy(), b[keep].copy()))
        keep_in = keep
    w, b = params[-1]
    out.append((w[:, keep_in].copy(), b.copy()))
    return out


def sparsify(params: list, density: float) -> list:
    """Zero the smallest-magnitude weights of every layer, keeping `density` of them nonzero."""
    out = []
    for w, b in params:
        flat = np.abs(w).ravel()
        n_keep = max(1, round(density * flat.size))
        cut = np.partition(flat, flat.size - n_keep)[flat.size - n_keep]
        out.append((np.where(np.abs(w) >= cut, w, 0).astype(np.float32), b.copy()))
    return out


def to_onnx(params: list, name: str) -> onnx.ModelProto:
    nodes, inits, x = [], [], "x"
    for i, ((w, b), s) in enumerate(zip(params[:-1], strides)):
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes += [helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"c{i}"], kernel_shape=[3, 3],
                                   pads=[1, 1, 1, 1], strides=[s, s]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        x = f"r{i}"
    w, b = params[-1]
    inits += [numpy_helper.from_array(w, "wf"), numpy_helper.from_array(b, "bf")]
    nodes += [helper.make_node("GlobalAveragePool", [x], ["gap"]),
              helper.make_node("Flatten", ["gap"], ["flat"]),
              helper.make_node("Gemm", ["flat", "wf", "bf"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n_classes])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    return model


def counts(params: list) -> dict[str, float]:
    """Parameters (all and nonzero) and FLOPs (dense and nonzero; 2 per multiply-add)."""
    h, w_ = height, width
    total = nnz = flops = flops_nz = 0
    for (w, b), s in zip(params[:-1], strides):
        h, w_ = (h + 2 - 3) // s + 1, (w_ + 2 - 3) // s + 1
        total += w.size + b.size
        nnz += int(np.count_nonzero(w)) + b.size
        flops += 2 * w.size * h * w_ * n
        flops_nz += 2 * int(np.count_nonzero(w)) * h * w_ * n
    w, b = params[-1]
    total += w.size + b.size
    nnz += int(np.count_nonzero(w)) + b.size
    flops += 2 * w.size * n
    flops_nz += 2 * int(np.count_nonzero(w)) * n
    return {"params": total, "nonzero_params": nnz, "gflops": flops / 1e9, "nonzero_gflops": flops_nz / 1e9}


full = full_weights(seed)
full_params = counts(full)["params"]
configs: dict[str, dict] = {}
for k in sorted(width_multipliers, reverse=True):
    s_params = structured(full, k)
    label = "dense" if k >= 1.0 else f"structured-{k:g}"
    configs[label] = {"kind": "dense" if k >= 1.0 else "structured", "k": k, "weights": s_params}
    if k < 1.0:
        density = counts(s_params)["params"] / full_params
        configs[f"sparse-{density:.2f}"] = {"kind": "sparse", "k": k, "density": density,
                                            "weights": sparsify(full, density)}
for label, cfg in configs.items():
    cfg.update(counts(cfg["weights"]))
    model = to_onnx(cfg["weights"], label)
    cfg["path"] = workdir / f"{label}.onnx"
    onnx.save(model, str(cfg["path"]))
    data = cfg["path"].read_bytes()
    cfg["size_mb"], cfg["gzip_mb"] = len(data) / 1e6, len(gzip.compress(data, 6)) / 1e6
    cfg["widths"] = [w.shape[0] for w, _ in cfg["weights"][:-1]]

print(f"{'config':<18}{'widths':<34}{'params':>10}{'nonzero':>10}{'GFLOPs':>8}{'nz GFLOPs':>10}{'MB':>7}{'gzip MB':>9}")
for label, cfg in configs.items():
    print(f"{label:<18}{cfg['widths']!s:<34}{cfg['params']:>10,}{cfg['nonzero_params']:>10,}"
          f"{cfg['gflops']:>8.3f}{cfg['nonzero_gflops']:>10.3f}{cfg['size_mb']:>7.2f}{cfg['gzip_mb']:>9.2f}")
    for key in ("params", "nonzero_params", "gflops", "nonzero_gflops", "size_mb", "gzip_mb"):
        report.metric(f"{label}.{key}", cfg[key], unit={"gflops": "GFLOP", "nonzero_gflops": "GFLOP", "size_mb": "MB",
                      "gzip_mb": "MB"}.get(key, ""), description=f"{label}: {key.replace('_', ' ')}")
print("onnxruntime", ort.__version__)

# %% [markdown]
# ## Latency of each configuration
#
# The configurations take turns over `n_rounds` rounds, each turn in a fresh process
# (`isolate`), so drift of the machine is spread over all of them; each stops after its share
# of `n_iters` or of `max_s_per_config`. The input is the same seeded image for all.

# %%
feeds = {"x": rng.standard_normal(input_shape).astype(np.float32)}
reference = ort.InferenceSession(str(configs["dense"]["path"]), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
iters_per_round = max(1, math.ceil(n_iters / n_rounds))
runs: dict[str, list] = {label: [] for label in configs}
for _ in range(n_rounds):
    for label, cfg in configs.items():
        runs[label].append(session_loop(str(cfg["path"]), feeds, session_config=config, isolate=isolate,
                                        warmup_iters=warmup_iters, iters=iters_per_round,
                                        duration_s=max_s_per_config / n_rounds, target_percentile=percentile))

pooled, summaries, valid = {}, {}, {}
for label, rs in runs.items():
    steady = np.concatenate([r.steady_ns for r in rs])
    pooled[label] = steady
    s = summaries[label] = stats.summarize(steady, percentiles=(0.5, 0.9, percentile))
    overhead = max((r.overhead.per_iter_ns for r in rs if r.overhead), default=None)
    valid[label] = stats.validity(s, claimed_percentiles=(percentile,), overhead_ns=overhead,
                                  throttle_seen=any(r.throttle_seen for r in rs))
    where = "each round in a fresh process" if isolate else "all rounds in this process"
    report.samples(label, steady, description=f"steady-state latency of {label}, int64 ns, {len(rs)} rounds "
                   f"pooled in order (warmup excluded; {where})")
    for p in (0.5, percentile):
        q = s.estimate(p)
        report.metric(f"{label}.{stats.percentile_label(p)}_ms", q.value, unit="ms", n=q.n,
                      ci=(q.lower, q.upper) if q.bounded else None, valid=valid[label].valid and q.valid,
                      note="; ".join(valid[label].reasons), description=f"{label}: nearest-rank "
                      f"{stats.percentile_label(p).upper()}")
    report.metric(f"{label}.cv", s.cv, description=f"{label}: coefficient of variation (std / mean)")
    configs[label]["jitter_ms"] = s.estimate(percentile).value - s.median_ms
    medians = ", ".join(f"{stats.quantile(r.steady_ns, 0.5) / 1e6:.2f}" for r in rs)
    print(f"{label:<18} n={s.n:<5} P50 {s.median_ms:7.3f} ms  P{percentile * 100:g} {s.estimate(percentile).value:7.3f} ms"
          f"  P{percentile * 100:g}-P50 {configs[label]['jitter_ms']:6.3f} ms  CV {s.cv:5.1%}  round medians {medians} ms"
          + ("" if valid[label].valid else "  INVALID: " + "; ".join(valid[label].reasons)))

vs_dense = {label: compare.compare_runs(pooled["dense"], pooled[label], percentile=0.5, min_effect=min_effect)
            for label in configs if label != "dense"}
for label, c in vs_dense.items():
    print(f"{label:<18} P50 ratio to dense {c.ratio:.3f} [{c.lower:.3f}, {c.upper:.3f}] -> {c.verdict}")

# %% [markdown]
# ## Latency against work
#
# If latency followed the arithmetic, each point would sit on the dotted line through the dense
# model: time proportional to the nonzero FLOPs. Structured models move left *and* down;
# sparse models move left only in the FLOP count.

# %%
def latency_vs_flops() -> tuple[Figure, str]:
    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.subplots()
    dense = summaries["dense"].estimate(0.5)
    parts = []
    for kind, color, marker in (("structured", figures.PALETTE[0], "o"), ("sparse", figures.PALETTE[1], "s")):
        labels = ["dense"] + [lb for lb, cfg in configs.items() if cfg["kind"] == kind]
        xs = [configs[lb]["nonzero_gflops"] for lb in labels]
        qs = [summaries[lb].estimate(0.5) for lb in labels]
        ax.errorbar(xs, [q.value for q in qs], yerr=[[q.value - q.lower for q in qs], [q.upper - q.value for q in qs]],
                    color=color, marker=marker, capsize=3, label=f"{kind} (P50, 95% CI)")
        for lb, x, q in zip(labels[1:], xs[1:], qs[1:]):
            ax.annotate(lb, (x, q.value), textcoords="offset points", fontsize=8,
                        xytext=(6, 6) if kind == "sparse" else (6, -12))
            parts.append(f"{lb}: {x:.3f} nonzero GFLOPs, P50 {q.value:.3f} ms")
    xmax = configs["dense"]["nonzero_gflops"]
    ax.plot([0, xmax], [0, dense.value], ":", color="#57606a", label="proportional to nonzero FLOPs")
    ax.set_xlim(0, xmax * 1.1)
    ax.set_ylim(0, max(summaries[lb].estimate(0.5).upper for lb in configs) * 1.15)
    ax.set_xlabel("nonzero work (GFLOP per inference)")
    ax.set_ylabel("P50 latency (ms)")
    ax.set_title("Latency against nonzero FLOPs: structured vs sparse")
    ax.legend(loc="upper left", fontsize=8)
    return fig, (f"P50 latency against nonzero GFLOPs; dense {xmax:.3f} GFLOPs at {dense.value:.3f} ms; "
                 + "; ".join(parts))


fig, alt = latency_vs_flops()
report.figure(fig, "latency-vs-flops", alt=alt)

# %%
fig, alt = figures.compare_configs(summaries, percentile, deadline_ms=deadline_ms,
                                   title=f"P{percentile * 100:g} latency of each configuration")
report.figure(fig, "tail-by-config", alt=alt)

# %%
def spread_figure() -> tuple[Figure, str]:
    """Every configuration's steady-state samples: box P25-P75, median bar, line P1-P99."""
    fig = Figure(figsize=(7.5, 0.5 * len(configs) + 1.8), layout="constrained")
    ax = fig.subplots()
    labels = list(configs)
    data = [pooled[lb] / 1e6 for lb in labels]
    for i, x in enumerate(data):  # drawn by hand: boxplot's keyword names differ across matplotlib versions
        p1, p25, p50, p75, p99 = np.percentile(x, [1, 25, 50, 75, 99])
        color = figures.PALETTE[i % len(figures.PALETTE)]
        ax.plot([p1, p99], [i, i], color=color, linewidth=1.2)
        ax.barh(i, p75 - p25, left=p25, height=0.5, color=color, alpha=0.35, edgecolor=color)
        ax.plot([p50, p50], [i - 0.25, i + 0.25], color=color, linewidth=2.2)
        out = x[(x < p1) | (x > p99)]
        ax.plot(out, np.full(out.size, i), ".", color=color, markersize=2, alpha=0.5)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("latency (ms); box P25-P75, bar P50, line P1-P99, dots beyond")
    ax.set_ylabel("configuration")
    ax.set_title("Latency spread of each configuration")
    parts = [f"{lb} IQR {np.percentile(d, 25):.3f}-{np.percentile(d, 75):.3f} ms, CV {summaries[lb].cv:.1%}"
             for lb, d in zip(labels, data)]
    return fig, "Spread of steady-state latency (box P25-P75, line P1-P99): " + "; ".join(parts)


fig, alt = spread_figure()
report.figure(fig, "spread", alt=alt)

# %% [markdown]
# ## SLO checklist on this runner
#
# The P`percentile` deadline for every configuration (PASS only when the whole interval is
# under it); for each pruned model, whether it is faster than the dense model at the median by
# more than `min_effect` (the ratio's whole interval must clear it); and whether its output
# is still finite.

# %%
for label, cfg in configs.items():
    v = stats.slo_verdict(pooled[label], percentile, deadline_ms)
    report.check(f"{label}.p{percentile * 100:g}-within-deadline", v.verdict,
                 f"{label}: {v.reason}" + ("" if valid[label].valid else "; result invalid: "
                                           + "; ".join(valid[label].reasons)))
for label, c in vs_dense.items():
    cfg = configs[label]
    flop_cut = 1 - cfg["nonzero_gflops"] / configs["dense"]["nonzero_gflops"]
    report.check(f"{label}.faster-than-dense", {"faster": "PASS", "inconclusive": "INCONCLUSIVE"}.get(c.verdict, "FAIL"),
                 f"{label} removes {flop_cut:.0%} of the nonzero FLOPs; at the median it is {c.verdict}: {c.reason}")
finite = all(np.isfinite(ort.InferenceSession(str(cfg["path"]), providers=["CPUExecutionProvider"])
                         .run(None, feeds)[0]).all() for cfg in configs.values())
report.check("outputs-finite", "PASS" if finite else "FAIL",
             "every configuration produces finite outputs" if finite else "a configuration produced NaN or inf")

# %% [markdown]
# ## Conclusion on this runner
#
# Computed from the measurements above, not written in advance.

# %%
d = summaries["dense"]
lines = [(f"- Dense baseline: {configs['dense']['params']:,} parameters, {configs['dense']['gflops']:.3f} GFLOPs, "
          f"P50 {d.median_ms:.3f} ms, P{percentile * 100:g} {d.estimate(percentile).value:.3f} ms.")]
for label, cfg in configs.items():
    if cfg["kind"] == "dense":
        continue
    c = vs_dense[label]
    work = cfg["nonzero_gflops"] / configs["dense"]["nonzero_gflops"]
    what = {"faster": f"**{1 / c.ratio:.2f}x faster**", "slower": f"**{c.ratio:.2f}x slower**",
            "same": f"**no faster** (within {min_effect:.0%} of dense)",
            "inconclusive": f"not clearly different (ratio {c.ratio:.2f})"}[c.verdict]
    detail = (f"P50 ratio to dense {c.ratio:.3f}, 95% CI [{c.lower:.3f}, {c.upper:.3f}]; "
              f"the ideal for its nonzero work would be {work:.2f}")
    size = (f"file {cfg['size_mb']:.2f} MB ({cfg['gzip_mb']:.2f} MB gzipped) against "
            f"{configs['dense']['size_mb']:.2f} MB ({configs['dense']['gzip_mb']:.2f} MB)")
    lines.append(f"- {label}: {work:.0%} of the dense nonzero FLOPs; {what} ({detail}); {size}.")
    if cfg["kind"] == "structured" and c.verdict == "faster":
        lines[-1] += f" It turns {1 - work:.0%} less work into {1 - c.ratio:.0%} less time."
sparse = {lb: vs_dense[lb].verdict for lb, cfg in configs.items() if cfg["kind"] == "sparse"}
same = [lb for lb, v in sparse.items() if v in ("same", "slower")]
unclear = [lb for lb, v in sparse.items() if v == "inconclusive"]
if same:
    zeros = ", ".join(f"{lb} ({1 - configs[lb]['density']:.0%} of weights zero)" for lb in same)
    lines.append(f"- **Sparsity bought nothing** for {zeros} on this runner: the median is within "
                 f"{min_effect:.0%} of the dense model's, or above it. "
                 "onnxruntime's CPU convolution and GEMM kernels are dense, so a zero costs as much as any other "
                 "weight; zeros only shrink the compressed file, unless a sparse kernel or a sparsity-aware "
                 "runtime executes them.")
far = [lb for lb in unclear
       if vs_dense[lb].lower > configs[lb]["nonzero_gflops"] / configs["dense"]["nonzero_gflops"]]
if unclear:
    lines.append(f"- For {', '.join(unclear)} no speed-up could be shown, and the intervals are too wide to show "
                 f"equivalence within {min_effect:.0%} either (more samples or a quieter machine would decide it).")
if far:
    lines.append("- Even so, each interval excludes the speed-up the nonzero work promises: "
                 + "; ".join(f"{lb} takes at least {vs_dense[lb].lower:.2f} of the dense time where its nonzero "
                             f"FLOPs would allow {configs[lb]['nonzero_gflops'] / configs['dense']['nonzero_gflops']:.2f}"
                             for lb in far)
                 + ". **Sparsity bought at most a small fraction of what its zeros promise on these dense kernels.**")
sparse_faster = [lb for lb, v in sparse.items() if v == "faster"]
if sparse_faster:
    lines.append(f"- Sparse models measured faster here: {', '.join(sparse_faster)}. Check why before relying on it "
                 "(a runtime with sparse kernels, denormal effects, or drift of the machine between runs).")
struct = [lb for lb, cfg in configs.items() if cfg["kind"] == "structured"]
if struct:
    best = min(struct, key=lambda lb: summaries[lb].median_ms)
    lines.append(f"- To cut latency by pruning on this runner, remove channels: {best} is the fastest, "
                 f"P50 {summaries[best].median_ms:.3f} ms; its accuracy has to be recovered by fine-tuning.")
cvs = {lb: summaries[lb].cv for lb in configs}
lines.append("- Variation (CV) ranges from " + f"{min(cvs.values()):.1%} ({min(cvs, key=cvs.get)}) to "
             f"{max(cvs.values()):.1%} ({max(cvs, key=cvs.get)}); shorter inferences are more exposed to "
             "scheduler noise in relative terms.")
invalid = [lb for lb, v in valid.items() if not v.valid]
if invalid:
    lines.append(f"- Marked invalid (see the checklist): {', '.join(invalid)}.")


def headline_ratio(name: str, label: str, description: str) -> None:
    """P50 ratio of `label` against the dense model, with the validity of both runs."""
    c = vs_dense[label]
    reasons = [f"{lb}: {r}" for lb in ("dense", label) for r in valid[lb].reasons]
    if not finite:
        reasons.append("a configuration produced NaN or inf")
    report.metric(name, c.ratio, unit="x", ci=(c.lower, c.upper) if c.lower > 0 and np.isfinite(c.upper) else None,
                  n=int(min(pooled["dense"].size, pooled[label].size)), valid=not reasons, note="; ".join(reasons),
                  description=description)


if struct:
    head_struct = min(struct, key=lambda lb: vs_dense[lb].ratio)
    headline_ratio("headline.structured_p50_ratio", head_struct,
                   f"P50 of the network with {configs[head_struct]['k']:.0%} of its channels kept (structured pruning) "
                   "/ the dense network (lower is faster)")
    twin = next((lb for lb, cfg in configs.items() if cfg["kind"] == "sparse" and cfg["k"] == configs[head_struct]["k"]),
                None)
    if twin is not None:
        headline_ratio("headline.sparse_p50_ratio", twin,
                       f"P50 of the full-width network with {1 - configs[twin]['density']:.0%} of its weights zero "
                       f"(unstructured pruning, as many nonzero weights as {head_struct}) / the dense network "
                       "(lower is faster)")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## On your own device
#
# ```bash
# pip install edgetiming   # or clone the repository and run ./scripts/build
# edgetiming run recipes/pruning.py --runner my-board \
#     --param 'input_shape=[1, 3, 224, 224]' --param 'width_multipliers=[1.0, 0.5, 0.25]' \
#     --param deadline_ms=33.3
# ```
#
# A runtime with sparse kernels (or an accelerator with structured 2:4 sparsity support) can
# change the sparse rows; run this recipe with that runtime's execution provider before
# assuming that zeros are free.
