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
import os
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from IPython.display import Markdown, display

from edgetiming.host.fingerprint import isa_flags
from edgetiming.measure import noise
from edgetiming.measure.rounds import Arm, run_rounds
from edgetiming.measure.session import SessionConfig, open_session
from edgetiming.results import figures, report
from edgetiming.stats.quantiles import proportion_ci
from edgetiming.stats.variants import (
    bootstrap_ci,
    guardrail_verdict,
    headline_variant,
    speed_verdict,
    tradeoff,
)
from edgetiming.workload.models import resolve, sha256_file
from edgetiming.workload.ocrdata import (
    CtcDecoder,
    det_input,
    line_dataset,
    rec_input,
    render_page,
    score_detector,
    score_recognizer,
)
from edgetiming.workload.quantize import VARIANTS, make_variants

figures.use_style()
if not variants or variants[0] != "fp32" or set(variants) - {"fp32", *VARIANTS}:
    raise ValueError(f"variants must start with 'fp32' (every INT8 variant is judged against it), then any of {VARIANTS}")

config = SessionConfig(intra_op_num_threads=intra_op_threads or None)
RUNNER = os.environ.get("EDGETIMING_RUNNER")  # set by `edgetiming run`; else "this runner"
workdir = Path("quantized-models").resolve()
workdir.mkdir(exist_ok=True)
models = {key: resolve(m) for key, m in (("det", det_model), ("rec", rec_model)) if m}
if not models:
    raise ValueError("det_model and rec_model are both empty: give at least one model")
MODEL_NAMES = {"det": "detector", "rec": "recognizer"}
shapes = {"det": tuple(det_input_shape), "rec": tuple(rec_input_shape)}
for key, path in models.items():
    print(f"{key}: {path.name} ({path.stat().st_size / 1e6:.2f} MB, sha256 {sha256_file(path)[:12]}...)")
int8_ext = [f for f in ("avx2", "avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm") if f in isa_flags()]
print("onnxruntime", ort.__version__, "| INT8 vector extensions:", ", ".join(int8_ext) or "none reported")


def feed(key: str, image: np.ndarray) -> np.ndarray:
    n, _, h, w = shapes[key]
    return np.repeat(det_input(image, size=(h, w)) if key == "det" else rec_input(image, height=h, width=w), n, 0)


rng_calib, rng_eval = np.random.default_rng(seed + 1000), np.random.default_rng(seed)
calib, evals = {}, {}
if "det" in models:
    page_h, page_w = shapes["det"][2], shapes["det"][3]
    calib["det"] = [feed("det", render_page(rng_calib, height=page_h, width=page_w).image) for _ in range(n_calib)]
    evals["det"] = [feed("det", render_page(rng_eval, height=page_h, width=page_w).image) for _ in range(n_pages)]
if "rec" in models:
    calib["rec"] = [feed("rec", line.image) for line in line_dataset(n_calib, seed=seed + 1000)]
    eval_lines = line_dataset(n_lines, seed=seed)
    evals["rec"], truth = [feed("rec", line.image) for line in eval_lines], [line.text for line in eval_lines]
    chars = np.array([len(t) for t in truth])
    decoder = CtcDecoder.from_model(models["rec"])
    print(f"evaluation lines, e.g. {truth[:4]}; dictionary of {decoder.n_classes} classes (blank first, space last)")
print(f"{n_calib} calibration inputs per model; {n_pages} evaluation pages, {n_lines} evaluation lines")

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
made = {key: make_variants(src, workdir, key, variants, calib[key]) for key, src in models.items()}
paths, size_mb = {k: m.paths for k, m in made.items()}, {k: m.size_mb for k, m in made.items()}
for key, m in made.items():
    print(f"{key} made in: " + ", ".join(f"{s} {t:.1f} s" for s, t in m.build_s.items()))
    for v, why in m.failed.items():
        print(f"  {v} FAILED: {why}")
    for v, mb in m.size_mb.items():
        report.metric(f"{key}.{v}.size_mb", mb, unit="MB", description=f"{key} model file size, {v}")

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
acc: dict[str, dict[str, dict]] = {k: {} for k in models}
rng_boot = np.random.default_rng(seed)
for key in models:
    for variant, path in paths[key].items():
        t0 = time.perf_counter()
        sess = open_session(path, config)
        report.metric(f"{key}.{variant}.session_create_ms", (time.perf_counter() - t0) * 1e3, unit="ms",
                      description=f"time to create the {key} {variant} session in this process")
        if key == "det":  # scored against FP32's text maps, FP32 first
            acc["det"][variant] = a = score_detector(sess, evals["det"], acc["det"].get("fp32"))
            a["iou_ci"] = bootstrap_ci(lambda i, x=a["iou"]: x[i].mean(), n_pages, n_boot=n_boot, rng=rng_boot)
            report.metric(f"det.{variant}.mean_iou_vs_fp32", a["mean_iou"], ci=a["iou_ci"], n=n_pages,
                          description="mean IoU of the binarized text map (0.3) with FP32's, per page")
            print(f"det {variant}: region counts equal to fp32's on {a['count_agree']:.0%} of pages")
            continue
        acc["rec"][variant] = a = score_recognizer(sess, evals["rec"], truth, decoder)
        a["exact"], a["exact_ci"] = a["n_exact"] / n_lines, proportion_ci(a["n_exact"], n_lines)
        ref = acc["rec"]["fp32"]["edits"]
        a["cer_increase"] = float((a["edits"].sum() - ref.sum()) / chars.sum())
        a["cer_increase_ci"] = bootstrap_ci(lambda i, e=a["edits"], r=ref: (e[i].sum() - r[i].sum()) / chars[i].sum(),
                                            n_lines, n_boot=n_boot, rng=rng_boot)
        report.metric(f"rec.{variant}.exact_match", a["exact"], ci=a["exact_ci"], n=n_lines,
                      description="share of rendered lines decoded exactly (Clopper-Pearson 95% CI)")
        report.metric(f"rec.{variant}.cer", a["cer"], n=n_lines,
                      description="character error rate: total edit distance / total characters")
if "rec" in acc:
    differ = [i for i in range(n_lines) if len({a["preds"][i] for a in acc["rec"].values()}) > 1]
    for i in differ[:5]:
        print(f"  truth {truth[i]!r}: " + ", ".join(f"{v} {a['preds'][i]!r}" for v, a in acc["rec"].items()))

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
runs, speed, ratios = {}, {}, {}
for key in models:
    name = onnx.load(str(models[key]), load_external_data=False).graph.input[0].name
    runs[key] = run = run_rounds([Arm(v, p, config) for v, p in paths[key].items()], input_shapes={name: shapes[key]},
                                 rounds=n_rounds, blocks=blocks, block_iters=block_iters, warmup_iters=warmup_iters,
                                 seed=seed)
    run.report(key, percentiles=(0.5, percentile), ratios=False)  # P50 and P`percentile` metrics
    for variant in list(paths[key])[1:]:
        speed[key, variant] = v = speed_verdict(run.ratio("fp32", variant), run.aa(), runner=RUNNER)
        ratios[f"{key} {variant}"] = v.ratio
    ratios[f"{key} A/A"] = run.aa()
fig, alt = figures.round_ratios(ratios, title="P50 of each INT8 variant / fp32, per round (A/A: fp32 twice)")
report.figure(fig, "ratio-to-fp32", alt=alt)
first = next(iter(runs))  # the first model's rounds
fig, alt = noise.figure(runs[first], title=f"{first}: the rounds in time, latency, sentinel units, other work")
report.figure(fig, "noise", alt=alt)

# %% [markdown]
# ## The trade-off
#
# Each point is one variant: its median latency (with the deciding 95% interval over rounds)
# against its accuracy, the marker's area proportional to the model file's size. The dashed
# line is the guardrail: for the recognizer, FP32's character error rate plus
# `max_cer_increase`; for the detector, `min_det_iou`.

# %%
fig, alt = figures.latency_accuracy([figures.AccuracyPanel(
    key, "CER" if key == "rec" else "IoU with fp32",
    "character error rate (fraction, lower is better)" if key == "rec"
    else "IoU of text map with fp32 (fraction, higher is better)",
    acc["rec"]["fp32"]["cer"] + max_cer_increase if key == "rec" else min_det_iou, key == "det",
    [(v, runs[key].estimate(v, 0.5), a["cer" if key == "rec" else "mean_iou"], size_mb[key][v])
     for v, a in acc[key].items()]) for key in models])
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
        return guardrail_verdict((lo, hi), max_cer_increase, higher_is_better=False), (
            f"CER {a['cer']:.3f} against fp32 {acc['rec']['fp32']['cer']:.3f}: increase {a['cer_increase']:+.3f}, "
            f"95% CI [{lo:+.3f}, {hi:+.3f}], guardrail {max_cer_increase:g}; exact match {a['exact']:.0%} on "
            f"{n_lines} lines")
    lo, hi = a["iou_ci"]
    return guardrail_verdict((lo, hi), min_det_iou, higher_is_better=True), (
        f"mean IoU with fp32 {a['mean_iou']:.3f}, 95% CI [{lo:.3f}, {hi:.3f}], guardrail >= {min_det_iou:g}; "
        f"region counts equal on {a['count_agree']:.0%} of {n_pages} pages")


acc_verdicts: dict[tuple[str, str], str] = {}
ptq: dict[str, tuple[str, str]] = {}
for key in models:
    if key == "rec":
        fp = acc["rec"]["fp32"]
        report.check("rec.fp32-reads-the-rendered-text", "PASS" if fp["cer"] <= 0.05 else "FAIL",
                     f"fp32 CER {fp['cer']:.3f}, exact match {fp['exact']:.0%} on {n_lines} lines: the "
                     "rendering and decoding are sound only if FP32 reads the lines (CER <= 0.05)")
    for variant in variants:
        if variant in made[key].failed:
            report.check(f"{key}.{variant}.quantized", "FAIL", made[key].failed[variant])
            continue
        report.slo_check(f"{key}.{variant}.p{percentile * 100:g}-within-deadline",
                         f"{MODEL_NAMES[key].capitalize()} {variant}", runs[key].estimate(variant, percentile), deadline_ms)
        if variant == "fp32":
            continue
        report.check(f"{key}.{variant}.faster-than-fp32", speed[key, variant].check, speed[key, variant].sentence())
        acc_verdicts[key, variant], detail = accuracy_verdict(key, variant)
        report.check(f"{key}.{variant}.accuracy-guardrail", acc_verdicts[key, variant], detail)
    int8 = list(paths[key])[1:]
    ptq[key] = tradeoff({v: speed[key, v] for v in int8}, {v: acc_verdicts[key, v] for v in int8}, MODEL_NAMES[key])
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
        if variant in made[key].failed:
            lines.append(f"- {variant}: could not be made or loaded here ({made[key].failed[variant]}).")
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
for key, model_name in MODEL_NAMES.items():
    int8 = list(paths.get(key, {}))[1:]
    head = headline_variant({v: speed[key, v] for v in int8}, {v: acc_verdicts[key, v] for v in int8})
    if head is None:
        why = (f"{key} was not run ({key}_model is empty, as in quick mode)" if key not in models
               else f"no INT8 variant of the {model_name} was made")
        report.metric(f"headline.{key}_int8_p50_ratio", None, unit="x", note=why,
                      description=f"P50 of the fastest INT8 variant / fp32 on the {model_name} (not measured)")
        continue
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
