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
#     quick: {n_iters: 150, warmup_iters: 5, n_runs: 2, n_processes: 2, cold_iters: 30}
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
n_iters = 400  # steady-state iterations per process (a two-sided P99 interval needs >= 368)
n_runs = 5  # fresh processes timing the steady state; the headline's between-run interval comes from them
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
from IPython.display import Markdown, display

from edgetiming.measure.closedloop import session_loop
from edgetiming.measure import noise
from edgetiming.measure.coldstart import cold_start, largest_launch_phase
from edgetiming.measure.session import SessionConfig
from edgetiming.results import figures, report
from edgetiming.stats.autocorr import effective_sample_size, lag1_autocorrelation, regime_change
from edgetiming.stats.conclude import runner_name
from edgetiming.stats.repeated import repeated_quantile
from edgetiming.stats.validity import min_samples_two_sided
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
# Each of `n_processes` fresh Python processes starts, imports numpy and onnxruntime, creates a
# session, runs the first inference, then keeps running until its latency settles. Every phase
# from launch to the first result counts: the user waits for all of them.

# %%
cold = cold_start(model_path, n_processes=n_processes, feeds=feeds, session_config=config, iters=cold_iters)
cold.report("cold")
top, top_ms, phase_ms = largest_launch_phase(cold)
launch_ms = cold.phase_ns("spawn_to_first_result_ns") / 1e6
for phase, ms in phase_ms.items():
    print(f"{phase:<38} median {ms:8.1f} ms")
print(f"{'launch to first result':<38} median {np.median(launch_ms):8.1f} ms (range {launch_ms.min():.0f}-"
      f"{launch_ms.max():.0f} ms over {launch_ms.size} processes)")

# %% [markdown]
# ## Steady state
#
# The closed loop runs in `n_runs` fresh processes (`isolate=True`), so that the notebook's own
# threads cannot steal the interpreter lock from the timed loop and a re-run's shift shows.
# Every iteration is kept as int64 nanoseconds; the first `warmup_iters` of each are labelled
# warmup and left out of the statistics. Consecutive samples are not independent: the lag-1
# autocorrelation and the effective sample size say how much, the within-run interval is
# widened by batch means when it matters, and a level shift inside a run makes the result
# unstable. After every block a fixed sentinel workload is timed and the machine's interference
# read (other processes' CPU time, steal, context switches): the latency is also reported in
# sentinel units, and a run during which other work held more than 10% of the CPUs is unstable.

# %%
runs = [session_loop(str(path), feeds, session_config=config, isolate=True, warmup_iters=warmup_iters,
                     iters=n_iters, target_percentile=percentile, sentinel=True) for _ in range(n_runs)]
for i, r in enumerate(runs):
    r.report(f"steady.r{i}", percentiles=(0.5, 0.9, 0.99))
busy = max((r.busy_share for r in runs if r.busy_share is not None), default=None)
extra = {"throttle_seen": any(r.throttle_seen for r in runs), "interference": busy,
         "invalid_because": [w for r in runs for w in r.judgement().reasons if "overhead" in w]}
est = {p: repeated_quantile([r.steady_ns / 1e6 for r in runs], p, **extra) for p in (0.5, 0.9, 0.99)}
sentinel_ms = [r.sentinel_ms() for r in runs]
for p, e in est.items():
    report.estimate(f"steady.p{p * 100:g}_ms", e, per_run_sentinel=sentinel_ms, description=f"steady-state "
                    f"P{p * 100:g} pooled over {e.runs} fresh processes; interval: the wider of the within-run "
                    "and the between-run one")
    report.estimate(f"steady.p{p * 100:g}_per_sentinel", repeated_quantile([r.steady_per_sentinel() for r in runs],
                    p, **extra), unit="", description=f"steady-state P{p * 100:g} in sentinel units (each call / "
                    "the median of the sentinel calls after its block), pooled over the same processes")
overhead = max((r.overhead_fraction for r in runs if r.overhead_fraction is not None), default=None)
report.metric("steady.overhead_fraction", overhead, description="largest harness per-iteration overhead / P50 of the runs")
report.metric("steady.cpu_ms_per_inference", float(np.median([r.resources.cpu_s_per_inference * 1e3 for r in runs])),
              unit="ms", description="user+system CPU time of the process per inference (median of the runs)")
report.metric("steady.peak_rss_mb", max(r.resources.peak_rss_bytes for r in runs) / 2**20, unit="MiB",
              description="peak resident memory of the measuring processes")
first = runs[0].steady_ns
rho = lag1_autocorrelation(first)
ess = effective_sample_size(first.size, rho)
shift = regime_change(first)
report.metric("steady.lag1_autocorrelation", rho, description="lag-1 autocorrelation of log latency, first run")
report.metric("steady.effective_sample_size", ess, n=first.size,
              description="n (1 - rho) / (1 + rho): independent samples the first run is worth")
for p, e in est.items():
    print(f"P{p * 100:g}: {e.value:.2f} ms  deciding [{e.lower:.2f}, {e.upper:.2f}] (between runs "
          f"[{e.between.lower or float('nan'):.2f}, {e.between.upper or float('nan'):.2f}]), {e.judgement.state.value}")
print(f"first run: lag-1 autocorrelation {rho:.2f}, effective sample size {ess:.0f} of {first.size}; "
      + (shift.describe() if shift.found else "no level shift"))

# %%
steady = np.concatenate([r.steady_ns for r in runs])
fig, alt = figures.histogram(steady, percentiles=(0.5, 0.9, 0.99), deadline_ms=deadline_ms,
                             title=f"{path.name}: steady-state latency, {n_runs} processes pooled")
report.figure(fig, "histogram", alt=alt)

# %%
fig, alt = figures.tail_plot(steady, deadline_ms=deadline_ms, title="Tail: probability of exceeding a latency")
report.figure(fig, "tail", alt=alt)

# %%
cps = [warmup_iters + c for c in shift.change_samples]
fig, alt = figures.timeline(runs[0].latency_ns, warmup_end=warmup_iters, change_points=cps, deadline_ms=deadline_ms,
                            title="Every iteration of the first run in order, warmup shaded, level shifts marked")
report.figure(fig, "timeline", alt=alt + (f" Level shift: {shift.describe()}." if shift.found else " No level shift."))

# %%
fig, alt = noise.figure(runs, labels=[f"process {i + 1}" for i in range(n_runs)], deadline_ms=deadline_ms,
                        title="Each process in turn: latency, the model in sentinel units, other work on the machine")
report.figure(fig, "noise", alt=alt)

# %% [markdown]
# ## SLO checklist on this runner
#
# The claim "P`percentile` <= `deadline_ms`" is PASS only when the whole deciding interval of
# that percentile (the wider of the within-run and the between-run one) lies under the
# deadline, FAIL when it lies above it, and INCONCLUSIVE otherwise or when the estimate is
# invalid.

# %%
q = est[percentile]
state = q.judgement.state.value
verdict = ("INCONCLUSIVE" if state == "invalid" else "PASS" if q.upper <= deadline_ms else
           "FAIL" if q.lower > deadline_ms else "INCONCLUSIVE")
label = f"P{percentile * 100:g}"
report.metric("deadline_ms", deadline_ms, unit="ms", description="deadline of the SLO under test")
report.metric("slo_verdict", verdict, description=f"{label} <= {deadline_ms:g} ms")
report.check(f"p{percentile * 100:g}-within-deadline", verdict,
             f"{label} = {q.value:.2f} ms, deciding interval [{q.lower:.2f}, {q.upper:.2f}] ms over {q.runs} processes, "
             f"deadline {deadline_ms:g} ms ({state})")
needed = min_samples_two_sided(percentile)
n_min = min(r.steady_ns.size for r in runs)
report.check("enough-samples", "PASS" if n_min >= needed else "FAIL",
             f"{n_min} steady-state samples in the smallest run; a two-sided {label} interval needs at least {needed}")
report.check("result-valid", {"valid": "PASS", "unstable": "INCONCLUSIVE", "invalid": "FAIL"}[state],
             state + ("" if not q.judgement.reasons else ": " + "; ".join(q.judgement.reasons)))
first_ms = float(np.median(cold.phase_ns("first_inference_ns"))) / 1e6
report.check("first-inference-within-deadline", "PASS" if first_ms <= deadline_ms else "FAIL",
             f"median first inference of a fresh process {first_ms:.1f} ms against the {deadline_ms:g} ms deadline")

# %% [markdown]
# ## Conclusion on this runner
#
# Computed from the measurements above, not written in advance.

# %%
report.estimate("headline.steady_p99_ms", est[0.99], per_run_sentinel=sentinel_ms, description=f"Steady-state P99 of one inference of {path.name} "
                f"({'x'.join(map(str, input_shape))}) over {n_runs} fresh processes")
where = runner_name()
p50 = est[0.5]
lines = [
    (f"- Steady state on {where}: P50 {p50.value:.2f} ms [{p50.lower:.2f}, {p50.upper:.2f}] and P99 "
    f"{est[0.99].value:.2f} ms [{est[0.99].lower:.2f}, {est[0.99].upper:.2f}] over {n_runs} processes; the tail is "
    f"{est[0.99].value / p50.value:.1f}x the median."),
    f"- Inside one run the samples are not independent: lag-1 autocorrelation {rho:.2f}, so its {first.size} samples "
    f"are worth about {ess:.0f} independent ones"
    + (f"; the level shifted inside it ({shift.describe()}), see the timeline." if shift.found else "; no level shift."),
    (f"- A fresh process needs {np.median(launch_ms):.0f} ms (median of {launch_ms.size}) from launch to its first "
    f"result, everything included; its largest phase is {top} ({top_ms:.0f} ms). That is "
    f"{'more' if np.median(launch_ms) > deadline_ms else 'less'} than one {deadline_ms:g} ms deadline."),
    f"- SLO {label} <= {deadline_ms:g} ms: **{verdict}** ({state}"
    + ("" if not q.judgement.reasons else ": " + "; ".join(q.judgement.reasons)) + ").",
]
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
