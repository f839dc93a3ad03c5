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
#     quick: {n_iters: 150, warmup_iters: 10, repeats: 1}
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
# setting from the data: the lowest P99 that is not statistically beaten, ties broken by CPU
# cost.
#
# Every setting is timed in its own fresh process, so the notebook's threads cannot take the
# interpreter lock from the timed loop. The model is the PP-OCR mobile text-angle classifier
# from the `rapidocr-onnxruntime` wheel (small enough to time many settings).

# %% tags=["parameters"]
model_path = "rapidocr:cls"  # an .onnx file, or rapidocr:det / rapidocr:rec / rapidocr:cls
input_shape = [1, 3, 48, 192]  # N, C, H, W of the model's image input
deadline_ms = 10.0  # the application's deadline for one inference
percentile = 0.99  # the SLO: the `percentile` latency must be <= deadline_ms
warmup_iters = 30  # iterations per process labelled warmup, excluded from the statistics
n_iters = 1000  # timed iterations per setting and repeat (P99 needs >= 299)
repeats = 2  # fresh processes per setting, run in rounds, pooled
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

import matplotlib
import matplotlib.ticker
import numpy as np
import onnxruntime as ort
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from edgetiming.measure.closedloop import session_loop
from edgetiming.measure.session import SessionConfig, make_feeds, open_session
from edgetiming.results import figures, report
from edgetiming.stats import jitter
from edgetiming.stats import quantiles as stats
from edgetiming.workload.models import resolve, sha256_file

figures.use_style()
path = resolve(model_path)
probe = open_session(path)
input_name = probe.get_inputs()[0].name
feeds = make_feeds(probe, {input_name: tuple(input_shape)}, seed=seed)
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
# ## Timing every setting in a fresh process
#
# `repeats` rounds; in each round every setting runs once, in order, in its own process, so
# a slow spell of a shared machine spreads over all settings instead of hitting one. Each
# process runs `warmup_iters` labelled warmup iterations, then `n_iters` timed ones. The
# rounds are pooled per setting; the spread of P50 between rounds says how far one process's
# numbers can be trusted.

# %%
runs: dict[str, list] = {label: [] for label in settings}
for _ in range(repeats):
    for label, (config, affinity, _) in settings.items():
        runs[label].append(session_loop(str(path), feeds, session_config=config, isolate=True,
                                        cpu_affinity=affinity, warmup_iters=warmup_iters, iters=n_iters,
                                        target_percentile=percentile))

slug = {label: f"s{i}" for i, label in enumerate(settings)}
rows = {}
for label, rs in runs.items():
    pooled = np.concatenate([r.steady_ns for r in rs])
    summ = stats.summarize(pooled, percentiles=(0.5, 0.9, percentile))
    cpu_s = sum(r.resources.cpu_s for r in rs)
    n_inf = sum(r.resources.n_inferences for r in rs)
    wall_s = sum(r.resources.wall_s for r in rs)
    jit = jitter.jitter_metrics(pooled)
    p50s = [r.p50_ns / 1e6 for r in rs]
    # summarize() works in milliseconds: every estimate in `rows` is in ms
    rows[label] = {"samples": pooled, "summary": summ, "p50": summ.estimate(0.5), "p99": summ.estimate(percentile),
                   "cpu_ms": 1e3 * cpu_s / n_inf, "cores_busy": cpu_s / wall_s if wall_s > 0 else float("nan"),
                   "jitter": jit["p99_minus_p50"], "p50_spread": (max(p50s) - min(p50s)) / np.median(p50s),
                   "valid": all(r.validity().valid for r in rs),
                   "why": sorted({why for r in rs for why in r.validity().reasons}),
                   "providers": rs[0].settings["providers"]}
    for i, r in enumerate(rs):
        r.report(f"{slug[label]}.r{i}", percentiles=(0.5, 0.9, percentile))
    report.metric(f"{slug[label]}.cpu_ms_per_inference", rows[label]["cpu_ms"], unit="ms",
                  description=f"{label}: CPU seconds (user+system, all threads) per inference, pooled over rounds")
    report.metric(f"{slug[label]}.jitter_p99_minus_p50_ms", jit["p99_minus_p50"].value, unit="ms",
                  description=f"{label}: {jit['p99_minus_p50'].definition}")

def category(why: str) -> str:
    """A short label for a validity reason, to group settings by what went wrong."""
    low = why.lower()
    if low.startswith("cv"):
        return "CV above 10%"
    if "samples needed" in low or "below the" in low:
        return "too few samples for the percentile"
    if "overhead" in low:
        return "harness overhead above 1% of P50"
    if "throttl" in low:
        return "throttling seen"
    return why


invalid_by_reason: dict[str, list[str]] = {}
for label, row in rows.items():
    for why in row["why"]:
        invalid_by_reason.setdefault(category(why), []).append(label)
invalid = [k for k, r in rows.items() if not r["valid"]]
invalid_text = "; ".join(f"{reason}: {', '.join(dict.fromkeys(labels))}" for reason, labels in invalid_by_reason.items())

name = f"P{percentile * 100:g}"
print(f"{'setting':<26}{'P50 ms':>8}{name + ' ms':>9}{name + ' 95% CI':>18}{'jitter ms':>11}{'CPU ms/inf':>12}"
      f"{'cores busy':>12}{'P50 spread':>12}  valid")
for label, row in rows.items():
    q = row["p99"]
    ci = f"[{q.lower:.2f}, {q.upper:.2f}]" if q.bounded else "unbounded"
    print(f"{label:<26}{row['p50'].value:>8.2f}{q.value:>9.2f}{ci:>18}{row['jitter'].value:>11.2f}"
          f"{row['cpu_ms']:>12.2f}{row['cores_busy']:>12.2f}{row['p50_spread']:>12.1%}  "
          + ("yes" if row["valid"] else "NO: " + ", ".join(sorted({category(w) for w in row["why"]}))))
print(f"jitter = {rows[next(iter(rows))]['jitter'].definition} P50 spread = (max - min) / median of the "
      "per-process P50s.")

# %%
fig, alt = figures.compare_configs({k: r["summary"] for k, r in rows.items()}, percentile, deadline_ms=deadline_ms,
                                   title=f"{name} by setting, each in fresh processes (95% CI)")
report.figure(fig, "p99-by-setting", alt=alt)

# %% [markdown]
# ## Choosing the setting from the data
#
# The rule: among settings whose result is valid and whose P`percentile` is bounded, take the
# lowest P`percentile`; every setting whose confidence interval overlaps that one is tied with
# it (the data cannot tell them apart), and among the tied ones the lowest CPU time per
# inference wins. A setting is only recommended over onnxruntime's default when the data says
# so.

# %%
def overlaps(a, b) -> bool:
    return a.lower <= b.upper and b.lower <= a.upper


eligible = {k: r for k, r in rows.items() if r["valid"] and r["p99"].bounded}
bounded = {k: r for k, r in rows.items() if r["p99"].bounded}
if eligible:
    pool, decided_on = eligible, f"the {len(eligible)} valid settings"
elif bounded:
    pool, decided_on = bounded, "settings with a bounded interval, none of them fully valid: a provisional choice"
else:
    pool, decided_on = rows, f"point estimates only: no P{percentile * 100:g} interval is bounded, a provisional choice"
best_p99 = min(pool, key=lambda k: pool[k]["p99"].value)
# tied = the data cannot tell it from the best: its interval overlaps the best one's (point estimates if unbounded)
tied = [k for k, r in pool.items() if overlaps(r["p99"], pool[best_p99]["p99"])] if pool is not rows else [best_p99]
recommended = min(tied, key=lambda k: rows[k]["cpu_ms"])
print(f"lowest {name}: {best_p99}; tied with it: {', '.join(tied)}; lowest CPU among them: {recommended}")
report.metric("recommended_setting", recommended, description=f"lowest {name} not beaten with 95% confidence, "
              "ties broken by CPU time per inference")


def tradeoff_figure() -> tuple[Figure, str]:
    """CPU ms per inference against latency: P99 with its CI (filled) and P50 (hollow) per setting."""
    fig = Figure(figsize=(8.5, 5.0), layout="constrained", facecolor=figures.STYLE["figure.facecolor"])
    ax = fig.subplots()
    parts = []
    colors = list(figures.PALETTE) + ["#000000", "#8c959f", "#6e40c9", "#8a4600"]
    for i, (label, row) in enumerate(rows.items()):
        color = colors[i % len(colors)]
        marker = "os^Dv<>ph*"[i % 10]
        q, x = row["p99"], row["cpu_ms"]
        hi = q.upper if q.bounded else q.value
        lo = q.lower if q.bounded else q.value
        ax.errorbar([x], [q.value], yerr=[[q.value - lo], [hi - q.value]], fmt=marker, color=color,
                    markersize=8 if label == recommended else 6, capsize=3, label=label + (" (recommended)"
                                                                                           if label == recommended else ""))
        ax.plot([x], [row["p50"].value], marker, color=color, markerfacecolor="white", markersize=6)
        ax.plot([x, x], [row["p50"].value, q.value], color=color, linewidth=0.8, alpha=0.5)
        parts.append(f"{label}: {x:.2f} CPU ms, P50 {row['p50'].value:.2f} ms, {name} {q.value:.2f} ms")
    ax.axhline(deadline_ms, color=figures.PALETTE[3], linestyle="--", linewidth=1.2, label=f"deadline {deadline_ms:g} ms")
    ax.set_xlabel("CPU time per inference (ms, user + system, all threads)")
    ax.set_ylabel(f"latency (ms): {name} filled with 95% CI, P50 hollow")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.FuncFormatter(
        lambda v, _: f"{v:g}" if f"{v:g}"[0] in "25" else ""))
    ax.set_title("Latency against CPU cost: P50 (hollow) to P99 (filled) per setting")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return fig, (f"Latency-CPU trade-off of {len(rows)} settings; recommended: {recommended}. " + "; ".join(parts))


with matplotlib.rc_context(figures.STYLE):
    fig, alt = tradeoff_figure()
report.figure(fig, "latency-cpu-tradeoff", alt=alt)

# %% [markdown]
# ## SLO checklist on this runner

# %%
default_label = "default threads"
for label in dict.fromkeys((recommended, default_label)):
    v = stats.slo_verdict(rows[label]["samples"], percentile, deadline_ms)
    report.check(f"{name.lower()}-within-deadline.{slug[label]}", v.verdict,
                 f"{label}: {name} {v.estimate.value:.2f} ms, 95% CI [{v.estimate.lower:.2f}, {v.estimate.upper:.2f}] "
                 f"ms, deadline {deadline_ms:g} ms: {v.reason}")
needed = stats.min_samples(percentile)
rec_n = rows[recommended]["samples"].size
report.check("enough-samples", "PASS" if rec_n >= needed else "FAIL",
             f"{rec_n} pooled samples for the recommended setting; {name} needs at least {needed}")
report.check("results-valid", "PASS" if not invalid else ("FAIL" if len(invalid) == len(rows) else "INCONCLUSIVE"),
             "every setting valid" if not invalid else f"{len(invalid)} of {len(rows)} settings invalid: {invalid_text}")
others = [f"{k}: {v}" for k, v in provider_status.items() if k != "CPUExecutionProvider" and v != "not available"]
report.check("accelerator-providers", "PASS" if accelerators_timed else "NOT_MEASURED",
             ("timed: " + ", ".join(accelerators_timed)) if accelerators_timed else
             "no local accelerator provider on this runner" + (" (" + "; ".join(others) + ")" if others else
                                                               "; only CPUExecutionProvider is available"))

# %% [markdown]
# ## Conclusion on this runner
#
# Computed from the measurements above, not written in advance.

# %%
def ms(q) -> str:
    return f"{q.value:.2f} ms"


d, r = rows[default_label], rows[recommended]
lines = [(f"- Recommended here: **{recommended}** ({settings[recommended][2]}): {name} {ms(r['p99'])}, P50 "
          f"{ms(r['p50'])}, {r['cpu_ms']:.2f} CPU ms per inference (decided on {decided_on}).")]
if recommended == default_label:
    lines.append("- onnxruntime's default setting is already the right one on this runner.")
else:
    lines.append(f"- Against onnxruntime's default ({name} {ms(d['p99'])}, {d['cpu_ms']:.2f} CPU ms): "
                 f"x{r['p99'].value / d['p99'].value:.2f} the {name} at x{r['cpu_ms'] / d['cpu_ms']:.2f} the CPU time"
                 + ("; the two tail intervals overlap, so the gain is the CPU time." if overlaps(r["p99"], d["p99"])
                    else "."))
if len(tied) > 1:
    lines.append(f"- Statistically tied with the lowest {name} ({best_p99}): " + ", ".join(t for t in tied if t != best_p99)
                 + ". CPU time decided between them.")
for a, b, what in (("2 threads spinning", "2 threads not spinning", "Turning spinning off (2 threads)"),
                   ("default threads", "default not spinning", "Turning spinning off (default pool)"),
                   ("default threads", "default parallel", "Parallel instead of sequential execution"),
                   ("1 thread", "1 thread pinned", "Pinning the single-threaded process to one CPU"),
                   ("2 threads spinning", "2 threads ort affinity", "onnxruntime's own thread affinity (2 threads)"),
                   ("default threads", "default denormals=0", "Flushing denormals to zero"),
                   ("1 thread", "2 threads spinning", "A second thread (1 -> 2, spinning)")):
    if a in rows and b in rows:
        pa, pb = rows[a]["p50"], rows[b]["p50"]
        change = pb.value / pa.value
        sure = not overlaps(pa, pb)
        verb = ("cut" if change < 1 else "raised") if sure else "did not measurably change"
        lines.append(f"- {what}: {verb} P50 ({ms(pa)} -> {ms(pb)}{'' if sure else ', intervals overlap'}), "
                     f"CPU {rows[a]['cpu_ms']:.2f} -> {rows[b]['cpu_ms']:.2f} ms per inference.")
if invalid:
    lines.append(f"- {len(invalid)} of {len(rows)} results are invalid (shown, not dropped): {invalid_text}.")
for label, why in not_applicable.items():
    lines.append(f"- {label}: not applicable on this runner ({why}).")
lines.append("- Providers: " + "; ".join(f"{k.replace('ExecutionProvider', '')} {v}" for k, v in provider_status.items()
                                         if v != "not available") + "; every other known provider: not available.")

from edgetiming.stats.compare import compare_runs

head_cmp = compare_runs(d["samples"], r["samples"], percentile=percentile)
head_why = [f"{lb}: {w}" for lb in dict.fromkeys((default_label, recommended)) for w in rows[lb]["why"]]
report.metric(f"headline.recommended_vs_default_{name.lower()}_ratio", head_cmp.ratio, unit="x",
              ci=(head_cmp.lower, head_cmp.upper) if head_cmp.lower > 0 and np.isfinite(head_cmp.upper) else None,
              n=int(min(d["samples"].size, r["samples"].size)), valid=not head_why, note="; ".join(head_why),
              description=f"{name} of the recommended setting ({recommended}) / onnxruntime's default threads "
                          f"on {path.name} (lower is faster)")
report.metric("headline.recommended_vs_default_cpu_ratio", r["cpu_ms"] / d["cpu_ms"], unit="x",
              n=int(sum(rr.resources.n_inferences for rr in runs[recommended])),
              description=f"CPU time per inference of the recommended setting ({recommended}) / onnxruntime's "
                          f"default threads on {path.name} (lower is cheaper)")
display(Markdown("\n".join(lines)))

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
