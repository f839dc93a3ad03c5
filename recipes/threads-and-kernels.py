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
#     quick: {rounds: 2, blocks: 4, block_iters: 25, warmup_iters: 10}
#     expected_duration_s: 90
#     timeout_cell_s: 600
# ---

# %% [markdown]
# # Threads and kernels: which onnxruntime settings this device should run
#
# onnxruntime's defaults are tuned for throughput on a big machine: a thread pool as wide as
# the physical cores, threads that spin while they wait for work, nodes run one after another.
# On an edge device those choices trade latency against CPU time (and so energy and the
# headroom left for the rest of the application). You will learn what the intra-op thread
# count (1, 2 and onnxruntime's default), spinning on and off, sequential and parallel
# execution, CPU pinning (by the harness, and by onnxruntime's own
# `session.intra_op_thread_affinities`), flushing denormals to zero and the execution providers
# this runner has do to P50, P99, jitter and CPU seconds per inference, and how to pick the
# setting from the data: the simplest setting that no other beats beyond the noise floor.
#
# Every setting is timed in the same fresh processes (rounds), interleaved in random blocks,
# beside an A/A arm that shows this runner's noise floor. The model is the PP-OCR mobile text-angle classifier
# from the `rapidocr-onnxruntime` wheel (small enough to time many settings).

# %% tags=["parameters"]
model_path = "rapidocr:cls"  # an .onnx file, or rapidocr:det / rapidocr:rec / rapidocr:cls
input_shape = [1, 3, 48, 192]  # N, C, H, W of the model's image input
deadline_ms = 10.0  # the application's deadline for one inference
percentile = 0.99  # the SLO: the `percentile` latency must be <= deadline_ms
rounds = 5  # fresh processes; each times every setting, interleaved in random blocks
blocks = 10  # blocks per setting per round
block_iters = 50  # timed iterations per block (P99 per round needs >= 368 in all)
warmup_iters = 30  # untimed-for-statistics iterations per setting and round
seed = 0

# %% [markdown]
# ## The settings under test
#
# Each setting is a `SessionConfig` (threads, spinning, execution mode, session config
# entries, providers) plus, for one of them, the harness pinning the process to one CPU
# (`cpu_affinity`). Spinning matters only when there is a thread pool, so it is varied at 2
# threads and at the default. onnxruntime's own affinity string is 1-based logical processor
# ids, one entry per pool thread besides the caller's; it is tried where this runner has a
# second CPU to put the pool thread on.

# %%
import os

import numpy as np
import onnxruntime as ort
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from edgetiming.measure import noise
from edgetiming.measure.rounds import Arm, run_rounds
from edgetiming.measure.session import SessionConfig, open_session
from edgetiming.results import figures, report
from edgetiming.stats.conclude import (
    comparison_sentence,
    noise_floor_sentence,
    recommend,
    runner_name,
    versus_noise,
)
from edgetiming.workload.models import resolve, sha256_file

figures.use_style()
path = resolve(model_path)
probe = open_session(path)
input_name = probe.get_inputs()[0].name
del probe
cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
print(f"model: {path.name} ({path.stat().st_size / 1e6:.2f} MB, sha256 {sha256_file(path)[:12]}...), input {input_shape}")
print(f"onnxruntime {ort.__version__}; CPUs this process may use: {cpus} ({os.cpu_count()} online)")

CPU = ("CPUExecutionProvider",)
# label -> (SessionConfig, cpu_affinity for the harness, what it means)
settings: dict[str, tuple[SessionConfig, list[int] | None, str]] = {
    "1 thread": (SessionConfig(intra_op_num_threads=1, providers=CPU), None, "no thread pool"),
    "2 threads spinning": (SessionConfig(intra_op_num_threads=2, allow_spinning=True, providers=CPU), None,
                        "pool threads spin while waiting"),
    "2 threads not spinning": (SessionConfig(intra_op_num_threads=2, allow_spinning=False, providers=CPU), None,
                               "pool threads sleep while waiting"),
    "default threads": (SessionConfig(providers=CPU), None,
                        "onnxruntime's defaults (threads = physical cores, spinning, its own affinity)"),
    "default not spinning": (SessionConfig(allow_spinning=False, providers=CPU), None, "default pool, no spinning"),
    "default parallel": (SessionConfig(execution_mode="parallel", providers=CPU), None,
                          "independent nodes run concurrently (inter-op pool)"),
    "1 thread pinned": (SessionConfig(intra_op_num_threads=1, providers=CPU), cpus[:1],
                         f"the harness pins the process to CPU {cpus[0]}"),
    "default denormals=0": (SessionConfig(config_entries=(("session.set_denormal_as_zero", "1"),), providers=CPU),
                             None, "denormal floats flushed to zero"),
}
not_applicable: dict[str, str] = {}
if len(cpus) >= 2:
    settings["2 threads ort affinity"] = (
        SessionConfig(intra_op_num_threads=2, providers=CPU,
                      config_entries=(("session.intra_op_thread_affinities", str(cpus[1] + 1)),)),
        None, f"onnxruntime pins its pool thread to logical processor {cpus[1] + 1} (CPU {cpus[1]})")
else:
    not_applicable["2 threads ort affinity"] = "only one CPU available: nothing to pin a second thread to"

# %% [markdown]
# ## Execution providers on this runner
#
# `onnxruntime.get_available_providers()` lists what this build of onnxruntime can use. Every
# local compute provider besides the CPU one is tried: a session is opened with it first and
# the CPU provider as fallback; if the session really uses it, it is timed like the CPU
# settings (inputs stay in host memory, so copies are part of its latency).

# %%
available = ort.get_available_providers()
KNOWN = ["CUDAExecutionProvider", "TensorrtExecutionProvider", "ROCMExecutionProvider",
         "MIGraphXExecutionProvider", "OpenVINOExecutionProvider", "DmlExecutionProvider",
         "CoreMLExecutionProvider", "QNNExecutionProvider", "NnapiExecutionProvider",
         "XnnpackExecutionProvider", "ACLExecutionProvider", "ArmNNExecutionProvider",
         "AzureExecutionProvider"]
# The Azure provider forwards its own custom operators to a remote endpoint; it computes nothing here.
REMOTE = {"AzureExecutionProvider": "runs its custom operators on a remote endpoint, not on this device"}
provider_status: dict[str, str] = {}
for name in dict.fromkeys(KNOWN + available):
    if name not in available:
        provider_status[name] = "not available"
    elif name == "CPUExecutionProvider":
        provider_status[name] = "available (every setting above)"
    elif name in REMOTE:
        provider_status[name] = "available, not timed: " + REMOTE[name]
    else:
        try:
            used = open_session(path, SessionConfig(providers=(name, *CPU))).get_providers()
        except Exception as exc:  # noqa: BLE001 - a provider that fails to start is a result
            provider_status[name] = f"available but failed to start: {str(exc).splitlines()[0][:160]}"
            continue
        if name in used:
            provider_status[name] = "available, timed"
            settings[f"{name.replace('ExecutionProvider', '')} provider"] = (
                SessionConfig(providers=(name, *CPU)), None, f"{name} first, CPU as fallback")
        else:
            provider_status[name] = f"available, but the session fell back to {used}"
for name, status in provider_status.items():
    print(f"{name:<28} {status}")
accelerators_timed = [k for k, v in provider_status.items() if v == "available, timed"]
for label, why in not_applicable.items():
    print(f"setting '{label}': not applicable here ({why})")
report.metric("providers_available", ", ".join(available), description="onnxruntime.get_available_providers()")

# %% [markdown]
# ## Every setting in the same rounds
#
# `rounds` fresh processes; each opens a session per setting (plus onnxruntime's default a
# second time, the A/A arm), warms each up, then times them in blocks of `block_iters` in a
# random order mirrored every other block round, with identical inputs. A slow spell of this
# shared machine then hits every setting alike, and every ratio is computed within a round
# and its interval taken over rounds (Student t on the log ratios). The A/A ratio is the noise
# floor: two processes of the same setting can differ by a third on this runner, two sessions
# of it in the same rounds far less.

# %%
default_label = "default threads"
arms = [Arm(default_label, path, *settings[default_label][:2])] + [
    Arm(label, path, cfg, tuple(aff) if aff else None) for label, (cfg, aff, _) in settings.items() if label != default_label]
run = run_rounds(arms, input_shapes={input_name: tuple(input_shape)}, rounds=rounds, blocks=blocks,
                 block_iters=block_iters, warmup_iters=warmup_iters, seed=seed)
labels = [a.name for a in arms]
slug = {label: f"s{i}" for i, label in enumerate(settings)} | {run.aa_arm: "s-aa"}
run.report("threads", percentiles=(0.5, percentile), slug=slug.get)
est = {label: {p: run.estimate(label, p) for p in (0.5, percentile)} for label in run.arms}
cpu = {label: run.cpu_ms_per_inference(label) for label in run.arms}
name = f"P{percentile * 100:g}"
print(f"{'setting':<26}{'P50 ms':>8}{name + ' ms':>9}{name + ' deciding interval':>24}{'CPU ms/inf':>12}  state")
for label in run.arms:
    q = est[label][percentile]
    print(f"{label:<26}{est[label][0.5].value:>8.3f}{q.value:>9.3f}{f'[{q.lower:.3f}, {q.upper:.3f}]':>24}"
          f"{cpu[label]:>12.3f}  {q.judgement.state.value}")
invalid = [k for k in labels if est[k][percentile].judgement.state.value == "invalid"]
unstable = [k for k in labels if est[k][percentile].judgement.state.value == "unstable"]

# %% [markdown]
# ## Choosing the setting from the data
#
# One setting *beats* another when its `percentile` latency is lower in a ratio paired over
# rounds whose interval excludes 1 and whose value lies outside the A/A interval. Among the
# settings no other setting beats, the recommendation is the simplest (onnxruntime's default
# first, then one thread, then one change at a time): a setting is preferred over a simpler one
# only when the data says it is better.

# %%
SIMPLICITY = [default_label, "1 thread", "default not spinning", "2 threads spinning", "2 threads not spinning",
              "default parallel", "default denormals=0", "1 thread pinned", "2 threads ort affinity"]
aa_tail = run.aa(percentile)
recommended, not_beaten = recommend(labels, lambda a, b: run.ratio(a, b, percentile), aa_tail, SIMPLICITY + labels)
print(f"not beaten at {name}: {', '.join(not_beaten)}; simplest of them: {recommended}")
report.metric("recommended_setting", recommended, description=f"the simplest setting whose {name} no other setting "
              "beats beyond the A/A noise floor (paired over rounds)")


def tradeoff_figure() -> tuple[Figure, str]:
    """CPU ms per inference against latency: the deciding P99 interval (filled) and P50 (hollow) per setting."""
    fig = Figure(figsize=(8.5, 5.0), layout="constrained")
    ax = fig.subplots()
    parts = []
    for i, label in enumerate(run.arms):
        color = (list(figures.PALETTE) + ["#000000", "#8c959f", "#6e40c9", "#8a4600"])[i % 12]
        q, p50, x = est[label][percentile], est[label][0.5].value, cpu[label]
        lo, hi = (q.lower, q.upper) if np.isfinite(q.lower) and np.isfinite(q.upper) else (q.value, q.value)
        ax.errorbar([x], [q.value], yerr=[[q.value - lo], [hi - q.value]], fmt="os^Dv<>ph*x"[i % 11], color=color,
                    capsize=3, label=label + (" (recommended)" if label == recommended else ""))
        ax.plot([x], [p50], "os^Dv<>ph*x"[i % 11], color=color, markerfacecolor="white")
        parts.append(f"{label}: {x:.2f} CPU ms, P50 {p50:.2f} ms, {name} {q.value:.2f} ms")
    ax.axhline(deadline_ms, color=figures.PALETTE[3], linestyle="--", linewidth=1.2, label=f"deadline {deadline_ms:g} ms")
    ax.set_xlabel("CPU time per inference (ms, user + system, all threads)")
    ax.set_ylabel(f"latency (ms): {name} filled with its interval, P50 hollow")
    ax.set_yscale("log")
    shown = [v for label in run.arms for v in (est[label][percentile].value, est[label][0.5].value) if v > 0]
    ax.set_ylim(min(shown + [deadline_ms]) / 2, max(shown + [deadline_ms]) * 2)  # errorbars to 0 stretch a log axis
    figures.log_ticks(ax)
    ax.set_title(f"Latency against CPU cost, {len(run.rounds)} rounds of interleaved settings")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return fig, f"Latency-CPU trade-off of {len(run.arms)} settings; recommended: {recommended}. " + "; ".join(parts)


fig, alt = tradeoff_figure()
report.figure(fig, "latency-cpu-tradeoff", alt=alt)
fig, alt = noise.figure(run, deadline_ms=deadline_ms, title="The rounds in time: latency, sentinel units, other work")
report.figure(fig, "noise", alt=alt)

# %% [markdown]
# ## SLO checklist on this runner

# %%
for label in dict.fromkeys((recommended, default_label)):
    q = est[label][percentile]
    verdict = ("INCONCLUSIVE" if label in invalid else "PASS" if q.upper <= deadline_ms else
               "FAIL" if q.lower > deadline_ms else "INCONCLUSIVE")
    report.check(f"{name.lower()}-within-deadline.{slug[label]}", verdict,
                 f"{label}: {name} {q.value:.2f} ms, deciding interval [{q.lower:.2f}, {q.upper:.2f}] ms over "
                 f"{q.runs} rounds, deadline {deadline_ms:g} ms ({q.judgement.state.value}"
                 + (": " + "; ".join(q.judgement.reasons) if q.judgement.reasons else "") + ")")
report.check("results-valid", "PASS" if not invalid and not unstable else ("FAIL" if len(invalid) == len(labels)
             else "INCONCLUSIVE"), "every setting valid" if not invalid and not unstable else
             f"{name}: {len(invalid)} of {len(labels)} settings invalid ({', '.join(invalid) or 'none'}), "
             f"{len(unstable)} unstable ({', '.join(unstable) or 'none'})")
others = [f"{k}: {v}" for k, v in provider_status.items() if k != "CPUExecutionProvider" and v != "not available"]
report.check("accelerator-providers", "PASS" if accelerators_timed else "NOT_MEASURED",
             ("timed: " + ", ".join(accelerators_timed)) if accelerators_timed else
             "no local accelerator provider on this runner" + (" (" + "; ".join(others) + ")" if others else
                                                               "; only CPUExecutionProvider is available"))

# %% [markdown]
# ## Conclusion on this runner
#
# Generated from the paired ratios and the A/A noise floor above.

# %%
where = runner_name()
aa50 = run.aa(0.5)
lines = [(f"Recommended on {where}: **{recommended}** ({settings[recommended][2]}), the simplest of the settings "
         f"whose {name} no other beat beyond the noise floor ({', '.join(not_beaten)})."),
         noise_floor_sentence(aa50, "P50", runner=where), noise_floor_sentence(aa_tail, name, runner=where)]
for a, b in (("2 threads spinning", "2 threads not spinning"), (default_label, "default not spinning"),
             (default_label, "default parallel"), ("1 thread", "1 thread pinned"),
             ("2 threads spinning", "2 threads ort affinity"), (default_label, "default denormals=0"),
             ("1 thread", "2 threads spinning")):
    if a in labels and b in labels:
        lines.append(comparison_sentence(run.ratio(a, b, 0.5), aa50, "P50", runner=where)
                     + f" CPU {cpu[a]:.2f} -> {cpu[b]:.2f} ms per inference.")
if invalid or unstable:
    lines.append(f"{name} invalid for: {', '.join(invalid) or 'none'}; unstable for: {', '.join(unstable) or 'none'} "
                 "(shown, not dropped; the reasons are on each metric).")
lines += [f"{label}: not applicable on this runner ({why})." for label, why in not_applicable.items()]
lines.append("Providers: " + "; ".join(f"{k.replace('ExecutionProvider', '')} {v}" for k, v in provider_status.items()
                                       if v != "not available") + "; every other known provider: not available.")
head = run.ratio(default_label, recommended, percentile)
report.metric(f"headline.recommended_vs_default_{name.lower()}_ratio", head.ratio, unit="x", runs=head.rounds,
              ci=(head.interval.lower, head.interval.upper) if head.interval.known else None,
              note=versus_noise(head, aa_tail), judgement=est[recommended][percentile].judgement,
              description=f"{name} of the recommended setting ({recommended}) / onnxruntime's default threads on "
                          f"{path.name}, paired over rounds (lower is faster)")
report.metric("headline.recommended_vs_default_cpu_ratio", cpu[recommended] / cpu[default_label], unit="x",
              description=f"CPU time per inference of the recommended setting ({recommended}) / onnxruntime's "
                          f"default threads on {path.name} (lower is cheaper)")
display(Markdown("\n".join(f"- {line}" for line in lines)))

# %% [markdown]
# ## On your own device
#
# ```bash
# edgetiming run recipes/threads-and-kernels.py --runner my-board \
#     --param model_path=/path/to/model.onnx --param 'input_shape=[1, 3, 224, 224]' \
#     --param deadline_ms=33.3 --param n_iters=2000
# ```
#
# Put the recommended setting in your application's `SessionOptions`, then re-measure with the
# rest of the application running: spinning threads that win alone can lose when they compete
# with a camera thread for the same cores.
