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
#     quick: {rec_model: "", n_rounds: 3, blocks: 4, block_iters: 2, warmup_iters: 3, n_calib: 2, n_lines: 8, n_pages: 3, n_boot: 400}
#     expected_duration_s: 180
#     timeout_cell_s: 600
# ---

# %% [markdown]
# # Quantization: INT8 against FP32, speed and accuracy measured together
#
# Quantization stores weights (and, for static quantization, activations) as 8-bit integers.
# It shrinks the model about fourfold, and it may or may not make it faster: that depends on
# the kernels this CPU has for the quantized operators. It also changes the model's answers.
# You will learn how to make the three post-training variants onnxruntime offers (dynamic
# INT8; static INT8 in the QDQ format with per-tensor and with per-channel weight scales,
# calibrated on realistic inputs), how each changes the median latency, the model size
# and the session-creation time on this runner, and how much accuracy each costs, measured on
# inputs whose right answer is known: text lines rendered with the DejaVu fonts for the
# recognizer (exact match and character error rate), and agreement with the FP32 text map for
# the detector. Speed is measured in paired rounds against FP32 with an A/A noise floor; speed
# and accuracy are separate verdicts, a trade-off plot puts them side by side, and the
# conclusion says, from this runner's numbers, whether post-training quantization is enough or
# whether quantization-aware training is the next step. (Over 350 lines: it makes the INT8
# models and measures accuracy on data with known answers as well as speed.)
#
# The models are the PP-OCRv4 text detector and recognizer from the `rapidocr-onnxruntime`
# wheel; the quantized copies are written to this recipe's working directory. Making a static
# INT8 model takes seconds of pure-Python graph rewriting per variant, so the quick mode
# (`--quick`) quantizes the detector only; the full run, shown on the site, does both.

# %% tags=["parameters"]
det_model = "rapidocr:det"  # text detector (DB, probability map output): an .onnx file or rapidocr:det; "" skips it
det_input_shape = [1, 3, 320, 320]  # N, C, H, W the detector runs at
rec_model = "rapidocr:rec"  # text recognizer (CTC, dictionary in metadata "character"); "" skips it
rec_input_shape = [1, 3, 48, 320]  # N, C, H, W of one text line
variants = ["fp32", "dynamic", "static-per-tensor", "static-per-channel"]  # any subset; fp32 first
deadline_ms = 50.0  # deadline of one inference of either model
percentile = 0.9  # the SLO: the `percentile` latency must be <= deadline_ms (P99 would need 368 per round)
warmup_iters = 10  # timed and labelled warmup of each variant in each round
n_rounds = 5  # rounds: fresh processes, each timing every variant (and the A/A arm) interleaved
blocks = 4  # blocks per variant per round, in randomised balanced order
block_iters = 10  # iterations per block (blocks x block_iters >= 36 per round for a valid P90)
n_calib = 16  # rendered calibration inputs per model (static quantization)
n_lines = 48  # rendered text lines with known text, for recognition accuracy
n_pages = 12  # rendered pages, for detection agreement with FP32
max_cer_increase = 0.01  # guardrail: INT8 may raise the character error rate by at most this
min_det_iou = 0.8  # guardrail: mean IoU of the INT8 and FP32 binarized text maps
n_boot = 2000  # bootstrap resamples for the accuracy intervals
intra_op_threads = 0  # 0 lets onnxruntime choose
seed = 0

# %% [markdown]
# ## Models, data with known answers, and this machine
#
# Calibration and evaluation use different renderings (different seeds): a quantized model is
# never scored on the images it was calibrated on. Ink and paper are grey levels, so the same
# arrays are valid RGB and BGR.

# %%
import inspect
import os
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from edgetiming.host.fingerprint import isa_flags
from edgetiming.measure.rounds import Arm, run_rounds
from edgetiming.measure.session import SessionConfig, open_session
from edgetiming.results import figures, report
from edgetiming.stats.quantiles import proportion_ci
from edgetiming.stats.variants import speed_verdict, tradeoff
from edgetiming.workload.models import resolve, sha256_file
from edgetiming.workload.ocrdata import (
    CtcDecoder,
    count_regions,
    det_input,
    edit_distance,
    line_dataset,
    mask_iou,
    rec_input,
    render_page,
    text_mask,
)

figures.use_style()
if not variants or variants[0] != "fp32":
    raise ValueError("variants must start with 'fp32': every INT8 variant is judged against it")
KNOWN = {"fp32", "dynamic", "static-per-tensor", "static-per-channel"}
if set(variants) - KNOWN:
    raise ValueError(f"unknown variants {sorted(set(variants) - KNOWN)}; use {sorted(KNOWN)}")

config = SessionConfig(intra_op_num_threads=intra_op_threads or None)
RUNNER = os.environ.get("EDGETIMING_RUNNER")  # set by `edgetiming run`; else "this runner"
workdir = Path("quantized-models").resolve()
workdir.mkdir(exist_ok=True)
models = {key: resolve(m) for key, m in (("det", det_model), ("rec", rec_model)) if m}
if not models:
    raise ValueError("det_model and rec_model are both empty: give at least one model")
MODEL_NAMES = {"det": "Detector", "rec": "Recognizer"}
shapes = {"det": tuple(det_input_shape), "rec": tuple(rec_input_shape)}
for key, path in models.items():
    print(f"{key}: {path.name} ({path.stat().st_size / 1e6:.2f} MB, sha256 {sha256_file(path)[:12]}...)")
int8_ext = [f for f in ("avx2", "avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm") if f in isa_flags()]
print("onnxruntime", ort.__version__, "| INT8 vector extensions:", ", ".join(int8_ext) or "none reported")


def det_feed(page_image: np.ndarray) -> np.ndarray:
    n, _, h, w = shapes["det"]
    return np.repeat(det_input(page_image, size=(h, w)), n, axis=0)


def rec_feed(line_image: np.ndarray) -> np.ndarray:
    n, _, h, w = shapes["rec"]
    return np.repeat(rec_input(line_image, height=h, width=w), n, axis=0)


rng_calib, rng_eval = np.random.default_rng(seed + 1000), np.random.default_rng(seed)
calib = {}
if "det" in models:
    page_h, page_w = shapes["det"][2], shapes["det"][3]
    calib["det"] = [det_feed(render_page(rng_calib, height=page_h, width=page_w).image) for _ in range(n_calib)]
    eval_pages = [render_page(rng_eval, height=page_h, width=page_w) for _ in range(n_pages)]
    print(f"{n_pages} evaluation pages of {page_h}x{page_w}")
if "rec" in models:
    calib["rec"] = [rec_feed(line.image) for line in line_dataset(n_calib, seed=seed + 1000)]
    eval_lines = line_dataset(n_lines, seed=seed)
    decoder = CtcDecoder.from_model(models["rec"])
    print(f"{n_lines} evaluation lines, e.g. {[line.text for line in eval_lines[:4]]}; "
          f"dictionary of {decoder.n_classes} classes (blank first, space last)")
print(f"{n_calib} calibration inputs per model")

# %% [markdown]
# ## Make the INT8 variants
#
# - **dynamic**: `quantize_dynamic`. Weights are INT8 ahead of time; each activation's scale is
#   computed at run time from its current range (`DynamicQuantizeLinear`), and convolutions
#   become `ConvInteger`. No calibration data is needed.
# - **static, QDQ**: `quantize_static` with `QuantFormat.QDQ`, activations UINT8 and weights
#   INT8 (onnxruntime's advice for x86), MinMax calibration on `n_calib` rendered inputs. Each
#   quantized tensor gets a `QuantizeLinear`/`DequantizeLinear` pair, which onnxruntime fuses
#   into integer kernels when the CPU has them. **Per-tensor** uses one scale per weight
#   tensor; **per-channel** one per output channel, which matters for depthwise convolutions
#   whose channels have very different ranges.
#
# Before quantizing, `quant_pre_process` folds and fuses the FP32 graph (symbolic shape
# inference is skipped: it fails on these models), and the opset is raised to 13 where it is
# lower, because per-channel `DequantizeLinear` needs the `axis` attribute of opset 13. The
# FP32 baseline is the original file. The time each step takes is an offline cost, shown for
# completeness.

# %%
from onnxruntime.quantization import quantize_static

from edgetiming.workload.quantize import prepare, quantize_variant

has_cache = "calibration_cache_path" in inspect.signature(quantize_static).parameters
paths: dict[str, dict[str, Path]] = {k: {"fp32": p} for k, p in models.items()}
build_s: dict[str, dict[str, float]] = {k: {} for k in models}
failed: dict[str, dict[str, str]] = {k: {} for k in models}
for key, src in models.items():
    if len(variants) == 1:
        break
    t0 = time.perf_counter()
    pre = prepare(src, workdir, key)  # opset raised to 13 where lower, then quant_pre_process
    build_s[key]["pre-process"] = time.perf_counter() - t0
    cache = workdir / f"{key}-calibration.json"
    cache.unlink(missing_ok=True)
    for variant in variants[1:]:
        out = workdir / f"{key}-{variant}.onnx"
        t0 = time.perf_counter()
        try:
            quantize_variant(pre, out, variant, calib[key], cache=cache)
            ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])  # it must load
            paths[key][variant] = out
        except Exception as exc:  # noqa: BLE001 (a variant this onnxruntime cannot make or load is reported)
            failed[key][variant] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        build_s[key][variant] = time.perf_counter() - t0

size_mb = {k: {v: p.stat().st_size / 1e6 for v, p in vs.items()} for k, vs in paths.items()}
for key in models:
    steps = ", ".join(f"{s} {t:.1f} s" for s, t in build_s[key].items())
    print(f"{key}: " + ", ".join(f"{v} {mb:.2f} MB" for v, mb in size_mb[key].items()) + f"  (made in: {steps})")
    for v, why in failed[key].items():
        print(f"  {v} FAILED: {why}")
    for v, mb in size_mb[key].items():
        report.metric(f"{key}.{v}.size_mb", mb, unit="MB", description=f"{key} model file size, {v}")
if has_cache:
    print("static per-tensor and per-channel share one calibration pass (calibration cache)")

# %% [markdown]
# ## Accuracy on inputs with known answers
#
# **Recognizer**: each evaluation line goes through the model and a greedy CTC decoder that
# follows rapidocr (`CTCLabelDecode`): arg-max per time step, repeats merged, then the blank
# (class 0) dropped; the dictionary comes from the model's metadata and a space is its last
# class. The decoded text is compared with the rendered text exactly as decoded (no
# normalization): exact match with its Clopper-Pearson interval, and the character error rate
# (total edit distance over total characters).
#
# **Detector**: the output is a per-pixel text probability; rapidocr binarizes it at 0.3 and
# turns regions into boxes. INT8 is compared with FP32 on each page by the IoU of the two
# binarized maps and by the number of text regions (rapidocr's filters: short side >= 3 px,
# mean probability >= 0.5).
#
# The guardrail intervals are percentile bootstraps over lines (or pages), seeded.

# %%
def open_variant(path: Path) -> tuple[ort.InferenceSession, float]:
    t0 = time.perf_counter()
    return open_session(path, config), time.perf_counter() - t0


def boot_ci(stat, n: int, rng: np.random.Generator, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap over item indices of a statistic of an index array."""
    draws = np.array([stat(rng.integers(0, n, n)) for _ in range(n_boot)])
    a = (1 - confidence) / 2
    return float(np.quantile(draws, a)), float(np.quantile(draws, 1 - a))


create_s: dict[str, dict[str, float]] = {k: {} for k in models}
acc: dict[str, dict[str, dict]] = {k: {} for k in models}
det_ref = None
for variant in variants if "det" in models else []:
    if variant not in paths["det"]:
        continue
    sess, create_s["det"][variant] = open_variant(paths["det"][variant])
    name = sess.get_inputs()[0].name
    probs = [sess.run(None, {name: det_feed(p.image)})[0] for p in eval_pages]
    masks = [text_mask(p) for p in probs]
    counts = np.array([count_regions(m, probs=p) for m, p in zip(masks, probs)])
    if det_ref is None:
        det_ref = (masks, counts)
    ious = np.array([mask_iou(a, b) for a, b in zip(det_ref[0], masks)])
    acc["det"][variant] = {"iou": ious, "mean_iou": float(ious.mean()), "counts": counts,
                           "count_agree": float(np.mean(counts == det_ref[1]))}
if "rec" in models:
    truth = [line.text for line in eval_lines]
    chars = np.array([len(t) for t in truth])
    for variant in variants:
        if variant not in paths["rec"]:
            continue
        sess, create_s["rec"][variant] = open_variant(paths["rec"][variant])
        name = sess.get_inputs()[0].name
        preds = [decoder.decode(sess.run(None, {name: rec_feed(line.image)})[0])[0][0] for line in eval_lines]
        edits = np.array([edit_distance(p, t) for p, t in zip(preds, truth)])
        exact = int(sum(p == t for p, t in zip(preds, truth)))
        acc["rec"][variant] = {"preds": preds, "edits": edits, "exact": exact / len(truth),
                               "exact_ci": proportion_ci(exact, len(truth)),
                               "cer": float(edits.sum() / chars.sum())}

rng_boot = np.random.default_rng(seed)
for key, by_variant in acc.items():
    for variant, a in by_variant.items():
        report.metric(f"{key}.{variant}.session_create_ms", create_s[key][variant] * 1e3, unit="ms",
                      description=f"time to create the {key} {variant} session in this process")
        if key == "det":
            a["iou_ci"] = boot_ci(lambda i, x=a["iou"]: x[i].mean(), len(eval_pages), rng_boot)
            report.metric(f"det.{variant}.mean_iou_vs_fp32", a["mean_iou"], ci=a["iou_ci"], n=len(eval_pages),
                          description="mean IoU of the binarized text map (0.3) with FP32's, per page")
            print(f"det {variant:<19} IoU vs fp32 {a['mean_iou']:.3f} [{a['iou_ci'][0]:.3f}, "
                  f"{a['iou_ci'][1]:.3f}]  region counts equal on {a['count_agree']:.0%} of pages  "
                  f"(session created in {create_s['det'][variant] * 1e3:.0f} ms)")
        else:
            ref = acc["rec"]["fp32"]["edits"]
            a["cer_increase"] = float((a["edits"].sum() - ref.sum()) / chars.sum())
            a["cer_increase_ci"] = boot_ci(
                lambda i, e=a["edits"], r=ref: (e[i].sum() - r[i].sum()) / chars[i].sum(), len(truth), rng_boot)
            report.metric(f"rec.{variant}.exact_match", a["exact"], ci=a["exact_ci"], n=len(truth),
                          description="share of rendered lines decoded exactly (Clopper-Pearson 95% CI)")
            report.metric(f"rec.{variant}.cer", a["cer"], n=len(truth),
                          description="character error rate: total edit distance / total characters")
            print(f"rec {variant:<19} exact {a['exact']:.0%} [{a['exact_ci'][0]:.0%}, {a['exact_ci'][1]:.0%}]"
                  f"  CER {a['cer']:.3f}  (+{a['cer_increase']:.3f} vs fp32)"
                  f"  (session created in {create_s['rec'][variant] * 1e3:.0f} ms)")
if "rec" in acc:
    shown = 0
    for i, t in enumerate(truth):
        outs = {v: a["preds"][i] for v, a in acc["rec"].items()}
        if len(set(outs.values())) > 1 and shown < 5:
            print(f"  truth {t!r}: " + ", ".join(f"{v} {p!r}" for v, p in outs.items()))
            shown += 1

# %% [markdown]
# ## Latency of every variant, in rounds
#
# Per model, each round is a fresh process that opens every variant plus an **A/A arm** (FP32
# a second time), and times them in blocks in a randomised, balanced order on the same seeded
# input, so a slow period of the machine hits every variant alike. The ratio of each INT8
# variant to FP32 is computed per round and its interval over the rounds (Student t on the
# log ratios); the A/A ratio is this run's noise floor, and a ratio inside it is "no
# detectable difference". A ratio whose rounds disagree on the direction is "unstable".

# %%
runs, speed = {}, {}
for key in models:
    name = onnx.load(str(models[key]), load_external_data=False).graph.input[0].name
    runs[key] = run = run_rounds([Arm(v, p, config) for v, p in paths[key].items()], input_shapes={name: shapes[key]},
                                 rounds=n_rounds, blocks=blocks, block_iters=block_iters, warmup_iters=warmup_iters,
                                 seed=seed)
    run.report(key, percentiles=(0.5, percentile), ratios=False)
    for variant in paths[key]:
        if variant != "fp32":
            speed[key, variant] = speed_verdict(run.ratio("fp32", variant), run.aa(), runner=RUNNER)
    for arm in run.arms:
        e = run.estimate(arm, 0.5)
        print(f"{key} {arm:<19} P50 {e.value:7.2f} ms [{e.lower:.2f}, {e.upper:.2f}]  round P50s "
              + ", ".join(f"{q.value:.2f}" for q in e.per_run) + f"  {e.judgement.state.value}")
    for variant in paths[key]:
        if variant != "fp32":
            v = speed[key, variant]
            print(f"{key} {variant:<19} {v.outcome:<26} per-round ratios "
                  + ", ".join(f"{x:.3f}" for x in v.ratio.per_round))

# %%
ratios = {}
for key, run in runs.items():
    ratios |= {f"{key} {v}": speed[key, v].ratio for v in paths[key] if v != "fp32"} | {f"{key} A/A": run.aa()}
fig, alt = figures.round_ratios(ratios, title="P50 of each INT8 variant / fp32, per round (A/A: fp32 twice)")
report.figure(fig, "ratio-to-fp32", alt=alt)

# %% [markdown]
# ## The trade-off
#
# Each point is one variant: its median latency (with the deciding 95% interval over rounds)
# against its accuracy,
# the marker's area proportional to the model file's size. The dashed line is the guardrail:
# for the recognizer, FP32's character error rate plus `max_cer_increase`; for the detector,
# `min_det_iou`.

# %%
def tradeoff_figure() -> tuple[Figure, str]:
    fig = Figure(figsize=(9.0, 4.0), layout="constrained")
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    parts = []
    for ax, key in zip(axes, models):
        limit = (acc["rec"]["fp32"]["cer"] + max_cer_increase) if key == "rec" else min_det_iou
        for i, variant in enumerate(v for v in paths[key] if v in acc[key]):
            q = runs[key].estimate(variant, 0.5)
            a = acc[key][variant]
            y = a["cer"] if key == "rec" else a["mean_iou"]
            ax.errorbar([q.value], [y], xerr=[[q.value - q.lower], [q.upper - q.value]], fmt="none",
                        ecolor=figures.PALETTE[i % 7], capsize=3)
            ax.scatter([q.value], [y], s=25 + 12 * size_mb[key][variant], color=figures.PALETTE[i % 7],
                       edgecolor="#24292f", alpha=0.85, zorder=3)
            ax.plot([], [], "o", color=figures.PALETTE[i % 7], markeredgecolor="#24292f",
                    label=f"{variant} ({size_mb[key][variant]:.1f} MB)")
            parts.append(f"{key} {variant}: P50 {q.value:.2f} ms, "
                         + (f"CER {y:.3f}" if key == "rec" else f"IoU with fp32 {y:.3f}")
                         + f", {size_mb[key][variant]:.1f} MB")
        ax.axhline(limit, color="#D55E00", linestyle="--", linewidth=1.2, label="guardrail")
        if key == "rec":
            worst = max(a["cer"] for a in acc["rec"].values())
            ax.set_ylabel("character error rate (fraction, lower is better)")
            ax.set_ylim(*((-0.03, 1.05) if worst > 0.3 else (-0.005, max(0.1, limit * 1.5, worst * 1.3))))
        else:
            ax.set_ylabel("IoU of text map with fp32 (fraction, higher is better)")
            ax.set_ylim(min(0.5, min(a["mean_iou"] for a in acc["det"].values()) - 0.05), 1.02)
        ax.set_xlim(left=0)
        ax.set_xlabel("P50 latency (ms), 95% CI")
        ax.set_title(f"{key}: latency against accuracy")
        ax.legend(loc="best", fontsize=8)
    return fig, ("Latency-accuracy trade-off (marker area ~ model size): " + "; ".join(parts)
                 + f"; guardrails CER <= fp32 + {max_cer_increase:g}, detector IoU >= {min_det_iou:g}")


fig, alt = tradeoff_figure()
report.figure(fig, "tradeoff", alt=alt)

# %% [markdown]
# ## SLO checklist on this runner
#
# Per model and variant: the P`percentile` deadline (PASS only when the whole deciding interval
# is under it, no verdict when the estimate is invalid); for each INT8 variant, whether it is
# faster than FP32 at the median beyond this run's A/A noise floor, and, as a separate verdict,
# whether its accuracy stays inside the guardrail (PASS when the whole bootstrap interval does,
# FAIL when none of it does, otherwise INCONCLUSIVE); and per model, whether post-training
# quantization delivers a variant that is both.

# %%
def accuracy_verdict(key: str, variant: str) -> tuple[str, str]:
    a = acc[key][variant]
    if key == "rec":
        lo, hi = a["cer_increase_ci"]
        v = "PASS" if hi <= max_cer_increase else "FAIL" if lo > max_cer_increase else "INCONCLUSIVE"
        return v, (f"CER {a['cer']:.3f} against fp32 {acc['rec']['fp32']['cer']:.3f}: increase "
                   f"{a['cer_increase']:+.3f}, 95% CI [{lo:+.3f}, {hi:+.3f}], guardrail {max_cer_increase:g}; "
                   f"exact match {a['exact']:.0%} on {len(truth)} lines")
    lo, hi = a["iou_ci"]
    v = "PASS" if lo >= min_det_iou else "FAIL" if hi < min_det_iou else "INCONCLUSIVE"
    return v, (f"mean IoU with fp32 {a['mean_iou']:.3f}, 95% CI [{lo:.3f}, {hi:.3f}], guardrail "
               f">= {min_det_iou:g}; region counts equal on {a['count_agree']:.0%} of {len(eval_pages)} pages")


acc_verdicts: dict[tuple[str, str], str] = {}
ptq: dict[str, tuple[str, str]] = {}
for key in models:
    if key == "rec":
        fp = acc["rec"]["fp32"]
        report.check("rec.fp32-reads-the-rendered-text", "PASS" if fp["cer"] <= 0.05 else "FAIL",
                     f"fp32 CER {fp['cer']:.3f}, exact match {fp['exact']:.0%} on {len(truth)} lines: the "
                     "rendering and decoding are sound only if FP32 reads the lines (CER <= 0.05)")
    for variant in variants:
        if variant in failed[key]:
            report.check(f"{key}.{variant}.quantized", "FAIL", failed[key][variant])
            continue
        report.slo_check(f"{key}.{variant}.p{percentile * 100:g}-within-deadline",
                         f"{MODEL_NAMES[key]} {variant}", runs[key].estimate(variant, percentile), deadline_ms)
        if variant == "fp32":
            continue
        report.check(f"{key}.{variant}.faster-than-fp32", speed[key, variant].check, speed[key, variant].sentence())
        acc_verdicts[key, variant], detail = accuracy_verdict(key, variant)
        report.check(f"{key}.{variant}.accuracy-guardrail", acc_verdicts[key, variant], detail)
    made = [v for v in paths[key] if v != "fp32"]
    ptq[key] = tradeoff({v: speed[key, v] for v in made}, {v: acc_verdicts[key, v] for v in made},
                        {"det": "detector", "rec": "recognizer"}[key])
    report.check(f"{key}.post-training-quantization-enough", *ptq[key])

# %% [markdown]
# ## Conclusion on this runner
#
# Generated from the verdicts above: each sentence is produced from the ratio over rounds, its
# interval, the A/A noise floor and the accuracy verdicts, never written beside them.

# %%
lines = []
for key in models:
    fp, aa = runs[key].estimate("fp32", 0.5), runs[key].aa()
    lines.append(f"**{key}** (fp32 P50 {fp.value:.2f} ms [{fp.lower:.2f}, {fp.upper:.2f}] over {fp.runs} rounds, "
                 f"{size_mb[key]['fp32']:.1f} MB; noise floor: A/A ratio {aa.ratio:.3f} "
                 f"[{aa.interval.lower:.3f}, {aa.interval.upper:.3f}]):")
    for variant in variants[1:]:
        if variant in failed[key]:
            lines.append(f"- {variant}: could not be made or loaded here ({failed[key][variant]}).")
            continue
        a, f = acc[key][variant], acc[key]["fp32"]
        quality = (f"CER {a['cer']:.3f} vs {f['cer']:.3f}, exact match {a['exact']:.0%} vs {f['exact']:.0%}"
                   if key == "rec" else
                   f"text-map IoU with fp32 {a['mean_iou']:.2f}, region counts equal on {a['count_agree']:.0%} of pages")
        lines.append(f"- {variant}: speed: {speed[key, variant].sentence()} Size: "
                     f"{size_mb[key]['fp32'] / size_mb[key][variant]:.1f}x smaller. Accuracy: {quality}; guardrail "
                     f"**{acc_verdicts[key, variant]}**.")
    slower = [v for v in variants[1:] if (key, v) in speed and speed[key, v].outcome == "slower"]
    if slower:
        lines.append(f"- On this CPU {', '.join(slower)} made {key} slower: quantized weights alone do not buy "
                     "speed when the integer kernels (or the per-call activation quantization) cost more than "
                     "the FP32 ones.")
    if {"static-per-tensor", "static-per-channel"} <= set(acc[key]):
        pt, pc = acc_verdicts[key, "static-per-tensor"], acc_verdicts[key, "static-per-channel"]
        if pt == "FAIL" and pc != "FAIL":
            lines.append(f"- Per-tensor weight scales broke {key} where per-channel scales did not: one scale per "
                         "tensor cannot fit convolutions (depthwise ones especially) whose output channels have "
                         "very different ranges. Prefer per-channel for such models.")
    verdict, sentence = ptq[key]
    lines.append(f"- Verdict ({verdict}): {sentence}")
display(Markdown("\n".join(lines)))

VARIANT_NAMES = {"dynamic": "dynamic INT8", "static-per-tensor": "static INT8 per-tensor",
                 "static-per-channel": "static INT8 per-channel"}
for key, model_name in (("det", "detector"), ("rec", "recognizer")):
    made = [v for v in variants[1:] if v in paths.get(key, {})]
    if not made:
        why = (f"{key} was not run ({key}_model is empty, as in quick mode)" if key not in models
               else f"no INT8 variant of the {model_name} was made")
        report.metric(f"headline.{key}_int8_p50_ratio", None, unit="x", note=why,
                      description=f"P50 of the fastest INT8 variant / fp32 on the {model_name} (not measured)")
        continue
    # the fastest variant that keeps the accuracy (PASS, else not FAIL); the fastest of all if none does
    pool = ([v for v in made if acc_verdicts[key, v] == "PASS"]
            or [v for v in made if acc_verdicts[key, v] != "FAIL"] or made)
    head = min(pool, key=lambda v: speed[key, v].ratio.ratio)
    report.metric(f"headline.{key}_int8_p50_ratio", unit="x", **speed[key, head].metric_fields(),
                  description=f"P50 of {VARIANT_NAMES[head]} / fp32 on the {model_name}, per round over {n_rounds} "
                              f"rounds (lower is faster), accuracy guardrail {acc_verdicts[key, head]}; note: the "
                              "speed verdict against the A/A noise floor")

# %% [markdown]
# ## On your own device
#
# ```bash
# pip install edgetiming   # or clone the repository and run ./scripts/build
# edgetiming run recipes/quantization.py --runner my-board \
#     --param det_model=/path/to/detector.onnx --param 'det_input_shape=[1, 3, 640, 640]' \
#     --param rec_model="" --param deadline_ms=33.3 --param max_cer_increase=0.02
# ```
#
# Whether INT8 is faster depends on the CPU's integer dot-product instructions (x86 VNNI or
# AMX, Arm `sdot`/`i8mm`) and on onnxruntime's kernels for them: the same model can be faster
# on one board and slower on another. The accuracy part does not depend on the device, but the
# guardrail does depend on your application: set `max_cer_increase` and `min_det_iou` to what
# your users can tolerate, and calibrate (`n_calib`) on images like the ones your device sees.
