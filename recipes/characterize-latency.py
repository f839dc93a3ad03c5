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
#     quick: {n_iters: 150, warmup_iters: 5, n_processes: 2, cold_iters: 30}
#     expected_duration_s: 90
#     timeout_cell_s: 600
# ---

# %% [markdown]
# # Characterize latency
#
# The first step of the cycle: measure how long one inference takes on this device, as a
# distribution rather than a single number. You will learn what a fresh process pays before
# its first result (import, session creation, first inference), what the steady state looks
# like (histogram and tail), how many samples a P99 claim needs, and whether the model meets
# a deadline at a percentile, with a verdict that can be PASS, FAIL or INCONCLUSIVE.
#
# The model is the PP-OCRv4 text detector shipped in the `rapidocr-onnxruntime` wheel; pass your
# own with `--param model_path=/path/to/model.onnx` and the input shape of your model.

# %% tags=["parameters"]
model_path = "rapidocr:det"  # an .onnx file, or rapidocr:det / rapidocr:rec / rapidocr:cls
input_shape = [1, 3, 320, 320]  # N, C, H, W of the model's image input
deadline_ms = 50.0  # the application's deadline for one inference
percentile = 0.99  # the SLO: the `percentile` latency must be <= deadline_ms
warmup_iters = 20  # iterations timed and labelled warmup, excluded from the statistics
n_iters = 1500  # steady-state iterations (P99 needs >= 299 just to be bounded)
n_processes = 5  # fresh processes for the cold-start phases
cold_iters = 100  # iterations each fresh process runs to find its steady state
intra_op_threads = 0  # 0 lets onnxruntime choose
seed = 0

# %% [markdown]
# ## The model and a realistic input
#
# A detector sees photos of text, so the input is an image of rendered text, scaled to the
# model's input and normalized the way PP-OCR's detector expects.

# %%
import numpy as np
import onnxruntime as ort

from edgetiming.measure.closedloop import session_loop
from edgetiming.measure.coldstart import cold_start
from edgetiming.measure.session import SessionConfig
from edgetiming.results import figures, report
from edgetiming.stats import quantiles as stats
from edgetiming.workload.models import resolve, sha256_file
from edgetiming.workload.ocrdata import det_input, render_page

figures.use_style()
path = resolve(model_path)
config = SessionConfig(intra_op_num_threads=intra_op_threads or None)
session = ort.InferenceSession(str(path), config.session_options(), providers=["CPUExecutionProvider"])
input_name = session.get_inputs()[0].name
print(f"model: {path.name} ({path.stat().st_size / 1e6:.1f} MB, sha256 {sha256_file(path)[:12]}...)")
print("inputs:", [(i.name, i.shape, i.type) for i in session.get_inputs()])
print("onnxruntime", ort.__version__, "providers", session.get_providers())

rng = np.random.default_rng(seed)
n, c, h, w = input_shape
page = render_page(rng, height=h, width=w)  # rendered text lines with known ground truth
feeds = {input_name: np.repeat(det_input(page.image, size=(h, w)), n, axis=0).astype(np.float32)}
outputs = session.run(None, feeds)
print("output shapes:", [o.shape for o in outputs])

# %% [markdown]
# ## Cold start: what a fresh process pays
#
# Each of `n_processes` fresh Python processes imports onnxruntime, creates a session, runs the
# first inference, then keeps running until its latency settles. The spread between processes
# matters as much as the median: a cold start is a single event, not an average.

# %%
cold = cold_start(model_path, n_processes=n_processes, feeds=feeds, session_config=config, iters=cold_iters)
cold.report("cold")
cold_summary = cold.summary()
for phase in ("import_onnxruntime_ns", "session_create_ns", "first_inference_ns", "time_to_steady_ns"):
    row = cold_summary[phase]
    if row["n"]:
        print(f"{phase[:-3]:<20} median {row['median_ms']:8.2f} ms   range {row['min_ms']:.2f}-{row['max_ms']:.2f} ms   (n={row['n']})")
    else:
        print(f"{phase[:-3]:<20} no process reached a steady state within {cold_iters} iterations")

# %% [markdown]
# ## Steady state
#
# The closed loop runs in a fresh process (`isolate=True`) so that the notebook's own threads
# cannot steal the interpreter lock from the timed loop. Every iteration is kept as int64
# nanoseconds; the first `warmup_iters` are labelled warmup and left out of the statistics.

# %%
run = session_loop(str(path), feeds, session_config=config, isolate=True,
                   warmup_iters=warmup_iters, iters=n_iters, target_percentile=percentile)
run.report("steady", percentiles=(0.5, 0.9, 0.99))
summary = run.summary
steady = run.steady_ns
print(f"{steady.size} steady-state samples, stop reason: {run.stop_reason}")
for est in summary.percentiles:
    bound = f"[{est.lower:.2f}, {est.upper:.2f}]" if est.bounded else "(too few samples to bound)"
    print(f"P{est.p * 100:g}: {est.value:.2f} ms  95% CI {bound}  needs n >= {stats.min_samples(est.p)}")
print(f"mean {summary.mean_ms:.2f} ms, CV {summary.cv:.1%}")
if run.overhead_fraction is not None:
    print(f"harness overhead: {run.overhead.per_iter_ns:.0f} ns per iteration = {run.overhead_fraction:.3%} of P50")

# %%
fig, alt = figures.histogram(steady, percentiles=(0.5, 0.9, 0.99), deadline_ms=deadline_ms,
                             title=f"{path.name}: steady-state latency")
report.figure(fig, "histogram", alt=alt)

# %%
fig, alt = figures.tail_plot(steady, deadline_ms=deadline_ms, title="Tail: probability of exceeding a latency")
report.figure(fig, "tail", alt=alt)

# %%
fig, alt = figures.timeline(run.latency_ns, warmup_end=run.warmup_iters, deadline_ms=deadline_ms,
                            title="Every iteration in order, warmup shaded")
report.figure(fig, "timeline", alt=alt)

# %% [markdown]
# ## SLO checklist on this runner
#
# The claim "P`percentile` <= `deadline_ms`" is PASS only when the whole confidence interval
# of that percentile lies under the deadline, FAIL when the whole interval lies above it, and
# INCONCLUSIVE otherwise.

# %%
verdict = stats.slo_verdict(steady, percentile, deadline_ms)
validity = run.validity()
report.metric("deadline_ms", deadline_ms, unit="ms", description="deadline of the SLO under test")
report.metric("slo_verdict", verdict.verdict, description=f"P{percentile * 100:g} <= {deadline_ms:g} ms")
report.check(
    f"p{percentile * 100:g}-within-deadline", verdict.verdict,
    f"P{percentile * 100:g} = {verdict.estimate.value:.2f} ms, 95% CI "
    f"[{verdict.estimate.lower:.2f}, {verdict.estimate.upper:.2f}] ms, deadline {deadline_ms:g} ms: {verdict.reason}",
)
needed = stats.min_samples(percentile)
report.check(
    "enough-samples", "PASS" if steady.size >= needed else "FAIL",
    f"{steady.size} steady-state samples; P{percentile * 100:g} needs at least {needed}",
)
report.check(
    "result-valid", "PASS" if validity.valid else "FAIL",
    "valid" if validity.valid else "; ".join(validity.reasons),
)
first_ms = cold_summary["first_inference_ns"].get("median_ms")
report.check(
    "first-inference-within-deadline",
    "NOT_MEASURED" if first_ms is None else ("PASS" if first_ms <= deadline_ms else "FAIL"),
    "no cold-start data" if first_ms is None else
    f"median first inference of a fresh process {first_ms:.1f} ms against the {deadline_ms:g} ms deadline",
)
print(verdict.verdict, "-", verdict.reason)
if not validity.valid:
    print("INVALID:", "; ".join(validity.reasons))

# %% [markdown]
# ## Conclusion on this runner
#
# Computed from the measurements above, not written in advance.

# %%
p50 = summary.estimate(0.5)
p99 = summary.estimate(0.99)
ratio = p99.value / p50.value
report.metric("headline.steady_p99_ms", p99.value, unit="ms", n=p99.n,
              ci=(p99.lower, p99.upper) if p99.bounded else None, valid=validity.valid,
              note="; ".join(validity.reasons),
              description=f"Steady-state P99 of one inference of {path.name} ({'x'.join(map(str, input_shape))})")
setup_ms = sum(cold_summary[k].get("median_ms") or 0.0 for k in ("import_onnxruntime_ns", "session_create_ns", "first_inference_ns"))
lines = [
    f"- Steady state: P50 {p50.value:.2f} ms and P99 {p99.value:.2f} ms from {steady.size} samples; "
    f"the tail is {ratio:.1f}x the median" + (", a wide tail worth investigating." if ratio > 2 else "."),
    f"- A fresh process needs about {setup_ms:.0f} ms (median) before its first result: "
    f"{'more' if setup_ms > deadline_ms else 'less'} than one {deadline_ms:g} ms deadline, so "
    + ("create the session and run a warm-up inference before the first real request." if setup_ms > deadline_ms
       else "cold start is not the bottleneck here."),
    f"- SLO P{percentile * 100:g} <= {deadline_ms:g} ms: **{verdict.verdict}** ({verdict.reason}).",
]
if verdict.verdict == "INCONCLUSIVE" and verdict.extra_samples_needed:
    lines.append(f"- About {verdict.extra_samples_needed} more samples would decide the verdict.")
if not validity.valid:
    lines.append("- This result is marked invalid: " + "; ".join(validity.reasons) + ".")
from IPython.display import Markdown, display  # noqa: E402

display(Markdown("\n".join(lines)))

# %% [markdown]
# ## On your own device
#
# ```bash
# pip install edgetiming   # or clone the repository and run ./scripts/build
# edgetiming run recipes/characterize-latency.py --runner my-board \
#     --param model_path=/path/to/model.onnx --param 'input_shape=[1, 3, 640, 640]' \
#     --param deadline_ms=33.3
# ```
#
# Then compare the P50, P99 and the verdict with this page's runner. If your P99 is far above
# your P50, look at the timeline figure for periodic spikes (another process, thermal limits)
# before you optimize the model.
