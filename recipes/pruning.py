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
#     quick: {n_rounds: 3, blocks: 4, block_iters: 5, warmup_iters: 5, width_multipliers: [1.0, 0.5]}
#     expected_duration_s: 60
#     timeout_cell_s: 600
# ---

# %% [markdown]
# # Pruning: fewer channels against more zeros
#
# **Structured** pruning removes whole channels: every convolution gets narrower and the dense
# kernels have less work. **Unstructured** pruning (sparsity) sets individual weights to zero
# and keeps every shape: as few nonzero weights as the narrow model, but a dense kernel
# multiplies by the zeros anyway. You will learn how to count parameters and FLOPs (dense and
# nonzero), how latency changes with each kind of pruning at the same density, measured in
# paired rounds against the dense model with an A/A noise floor, and, from this runner's data,
# whether sparsity buys anything on dense CPU kernels.
#
# The network is **built here** with `onnx.helper` (`edgetiming.workload.convnet`) so its
# structure is controlled exactly: 3x3 convolutions with ReLU, global average pooling and a
# linear layer, random weights (latency does not depend on what weights have learned). It says nothing about the accuracy pruning
# costs a trained model.

# %% tags=["parameters"]
input_shape = [1, 3, 160, 160]  # N, C, H, W of the image input
base_channels = [32, 64, 64, 128, 128, 256, 256]  # output channels of each 3x3 convolution at full width
strides = [2, 2, 1, 2, 1, 2, 1]  # stride of each convolution
n_classes = 100  # outputs of the final linear layer
width_multipliers = [1.0, 0.75, 0.5, 0.25]  # structured pruning: share of channels kept (1.0 = dense baseline)
channel_multiple = 8  # pruned widths are rounded to a multiple of this (what vector kernels like)
deadline_ms = 20.0  # deadline of one inference
percentile = 0.99  # the SLO: the `percentile` latency must be <= deadline_ms
warmup_iters = 20  # timed and labelled warmup of each configuration in each round
n_rounds = 5  # rounds: fresh processes, each timing every configuration (and the A/A arm) interleaved
blocks = 8  # blocks per configuration per round, in randomised balanced order
block_iters = 48  # iterations per block (blocks x block_iters >= 368 per round for a valid P99)
min_effect = 0.05  # a ratio whose whole interval is within 5% of 1 counts as "the same"
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
import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from edgetiming.measure import noise
from edgetiming.measure.rounds import Arm, run_rounds
from edgetiming.measure.session import SessionConfig
from edgetiming.results import figures, report
from edgetiming.stats.variants import against_work, fastest, speed_verdict
from edgetiming.workload.convnet import he_weights, to_onnx

figures.use_style()
if len(base_channels) != len(strides):
    raise ValueError("base_channels and strides must have one entry per convolution")
if 1.0 not in width_multipliers:
    raise ValueError("width_multipliers must include 1.0: the dense full-width model is the baseline")
config = SessionConfig(intra_op_num_threads=intra_op_threads or None)
workdir = Path("pruning-models").resolve()
workdir.mkdir(exist_ok=True)
n, c_in, height, width = input_shape
RUNNER = os.environ.get("EDGETIMING_RUNNER")  # set by `edgetiming run`; else "this runner"


def pruned_width(c: int, k: float) -> int:
    return c if k >= 1.0 else max(channel_multiple, round(c * k / channel_multiple) * channel_multiple)


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


def counts(params: list) -> dict[str, float]:
    """Parameters (all and nonzero) and FLOPs (dense and nonzero; 2 per multiply-add)."""
    c, h, w_ = dict.fromkeys(("params", "nonzero_params", "gflops", "nonzero_gflops"), 0), height, width
    for i, (w, b) in enumerate(params):
        if i < len(strides):  # a 3x3 convolution, padding 1: each weight is used once per output pixel
            h, w_ = (h - 1) // strides[i] + 1, (w_ - 1) // strides[i] + 1
        uses, nz = n * (h * w_ if i < len(strides) else 1), int(np.count_nonzero(w))
        c["params"] += w.size + b.size
        c["nonzero_params"] += nz + b.size
        c["gflops"] += 2 * w.size * uses / 1e9
        c["nonzero_gflops"] += 2 * nz * uses / 1e9
    return c


full = he_weights(c_in, base_channels, n_classes, seed=seed)  # (W, b) per layer, the classifier last
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
    cfg["path"] = workdir / f"{label}.onnx"
    onnx.save(to_onnx(cfg["weights"], strides, input_shape, label), str(cfg["path"]))
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
# ## Latency of each configuration, in rounds
#
# Each round is a fresh process that opens every configuration and an **A/A arm** (the dense
# model a second time), then times them in blocks in a randomised, balanced order on the same
# seeded input, so a slow period of the machine hits every configuration alike. A ratio to the
# dense model is computed per round and its interval over the rounds (Student t on the log
# ratios); the A/A ratio is this run's noise floor, and a ratio inside it is "no detectable
# difference".

# %%
run = run_rounds([Arm(label, cfg["path"], config) for label, cfg in configs.items()],
                 input_shapes={"x": tuple(input_shape)}, rounds=n_rounds, blocks=blocks, block_iters=block_iters,
                 warmup_iters=warmup_iters, seed=seed)
run.report("latency", percentiles=(0.5, percentile), ratios=False)  # per-configuration P50 and P99 metrics
aa = run.aa(0.5)
vs_dense = {lb: speed_verdict(run.ratio("dense", lb, 0.5), aa, min_effect=min_effect, runner=RUNNER)
            for lb in configs if lb != "dense"}
work = {lb: cfg["nonzero_gflops"] / configs["dense"]["nonzero_gflops"] for lb, cfg in configs.items()}
report.metric("noise.aa_p50_ratio", aa.ratio, n=aa.rounds, runs=aa.rounds, per_run=list(aa.per_round),
              ci=(aa.interval.lower, aa.interval.upper) if aa.interval.known else None,
              description="P50 of the dense network measured again in the same rounds over the dense network (A/A): "
                          "this run's noise floor, where 1 is no difference")

# %% [markdown]
# ## Latency against work
#
# If latency followed the arithmetic, each point would sit on the dotted line through the dense
# model: time proportional to the nonzero FLOPs. Structured models move left *and* down;
# sparse models move left only in the FLOP count. Error bars are the deciding interval (the
# wider of the within-round and between-round intervals).

# %%
def latency_vs_flops() -> tuple[Figure, str]:
    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.subplots()
    est = {lb: run.estimate(lb, 0.5) for lb in configs}
    parts = []
    for kind, color, marker in (("structured", figures.PALETTE[0], "o"), ("sparse", figures.PALETTE[1], "s")):
        labels = ["dense"] + [lb for lb, cfg in configs.items() if cfg["kind"] == kind]
        xs, qs = [configs[lb]["nonzero_gflops"] for lb in labels], [est[lb] for lb in labels]
        ax.errorbar(xs, [q.value for q in qs], yerr=[[q.value - q.lower for q in qs], [q.upper - q.value for q in qs]],
                    color=color, marker=marker, capsize=3, label=f"{kind} (P50, 95% CI)")
        for lb, x, q in zip(labels[1:], xs[1:], qs[1:]):
            ax.annotate(lb, (x, q.value), textcoords="offset points", fontsize=8,
                        xytext=(6, 6) if kind == "sparse" else (6, -12))
            parts.append(f"{lb}: {x:.3f} nonzero GFLOPs, P50 {q.value:.3f} ms")
    xmax = configs["dense"]["nonzero_gflops"]
    ax.plot([0, xmax], [0, est["dense"].value], ":", color="#57606a", label="proportional to nonzero FLOPs")
    ax.set_xlim(0, xmax * 1.1)
    ax.set_ylim(0, max(q.upper for q in est.values()) * 1.15)
    ax.set_xlabel("nonzero work (GFLOP per inference)")
    ax.set_ylabel("P50 latency (ms)")
    ax.set_title("Latency against nonzero FLOPs: structured vs sparse")
    ax.legend(loc="upper left", fontsize=8)
    return fig, (f"P50 latency against nonzero GFLOPs; dense {xmax:.3f} GFLOPs at {est['dense'].value:.3f} ms; "
                 + "; ".join(parts))


fig, alt = latency_vs_flops()
report.figure(fig, "latency-vs-flops", alt=alt)
fig, alt = figures.round_ratios({lb: v.ratio for lb, v in vs_dense.items()}, aa,
                                title="P50 of each pruned network / dense, per round")
report.figure(fig, "ratio-to-dense", alt=alt)
fig, alt = noise.figure(run, title="The rounds in time: latency, sentinel units, other work")
report.figure(fig, "noise", alt=alt)

# %% [markdown]
# ## SLO checklist on this runner
#
# The P`percentile` deadline for every configuration (PASS only when the whole deciding
# interval is under it, no verdict when the estimate is invalid); for each pruned network,
# whether it is faster than the dense one at the median beyond this run's A/A noise floor; and
# whether every output is finite.

# %%
for lb in configs:
    report.slo_check(f"{lb}.p{percentile * 100:g}-within-deadline", f"Network {lb}", run.estimate(lb, percentile),
                     deadline_ms)
for lb, v in vs_dense.items():
    report.check(f"{lb}.faster-than-dense", v.check,
                 f"{lb} removes {1 - work[lb]:.0%} of the nonzero FLOPs. {v.sentence()}")
finite = all(np.isfinite(ort.InferenceSession(str(cfg["path"]), providers=["CPUExecutionProvider"])
                         .run(None, {"x": np.ones(input_shape, np.float32)})[0]).all() for cfg in configs.values())
report.check("outputs-finite", "PASS" if finite else "FAIL",
             "every configuration produces finite outputs" if finite else "a configuration produced NaN or inf")

# %% [markdown]
# ## Conclusion on this runner
#
# Generated from the verdicts above: each sentence is produced from the ratio over rounds, its
# interval and the A/A noise floor, never written beside them.

# %%
d = run.estimate("dense", 0.5)
lines = [(f"- Dense baseline: {configs['dense']['params']:,} parameters, {configs['dense']['gflops']:.3f} GFLOPs, "
          f"P50 {d.value:.3f} ms [{d.lower:.3f}, {d.upper:.3f}] over {d.runs} rounds; noise floor: A/A ratio "
          f"{aa.ratio:.3f} [{aa.interval.lower:.3f}, {aa.interval.upper:.3f}].")]
for lb, v in vs_dense.items():
    cfg = configs[lb]
    lines.append(f"- {lb} ({work[lb]:.0%} of the dense nonzero FLOPs; file {cfg['size_mb']:.2f} MB, "
                 f"{cfg['gzip_mb']:.2f} MB gzipped, against {configs['dense']['size_mb']:.2f} MB and "
                 f"{configs['dense']['gzip_mb']:.2f} MB): {v.sentence()} For its work, {against_work(v, work[lb])}")
sparse = [v for lb, v in vs_dense.items() if configs[lb]["kind"] == "sparse"]
if sparse and not any(v.outcome == "faster" for v in sparse):
    lines.append("- No sparse copy was detectably faster than the dense network here. onnxruntime's CPU convolution "
                 "and GEMM kernels are dense, so a zero costs as much as any other weight; zeros shrink only the "
                 "compressed file unless a sparse kernel or a sparsity-aware runtime executes them.")
elif sparse:
    lines.append(f"- Sparse copies measured faster here ({', '.join(v.variant for v in sparse if v.outcome == 'faster')})"
                 ": check why before relying on it (a runtime with sparse kernels, or denormal effects).")
best, sentence = fastest([v for lb, v in vs_dense.items() if configs[lb]["kind"] == "structured"])
if best is not None:
    lines.append(f"- To cut latency by pruning, remove channels: {sentence} Its accuracy has to be recovered by "
                 "fine-tuning.")
display(Markdown("\n".join(lines)))

structured_ = [lb for lb, cfg in configs.items() if cfg["kind"] == "structured"]
if structured_:
    head = min(structured_, key=lambda lb: vs_dense[lb].ratio.ratio)
    twin = next((lb for lb, cfg in configs.items() if cfg["kind"] == "sparse" and cfg["k"] == configs[head]["k"]))
    for name, lb, what in (
            ("structured", head, f"the network with {configs[head]['k']:.0%} of its channels kept (structured pruning)"),
            ("sparse", twin, (f"the full-width network with {1 - configs[twin]['density']:.0%} of its weights zero "
                              f"(unstructured pruning, as many nonzero weights as {head})"))):
        report.metric(f"headline.{name}_p50_ratio", unit="x", **vs_dense[lb].metric_fields(),
                      invalid_because=() if finite else "a configuration produced NaN or inf",
                      description=f"P50 of {what} / the dense network, per round over {n_rounds} rounds "
                                  "(lower is faster); note: the verdict against the A/A noise floor")

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
