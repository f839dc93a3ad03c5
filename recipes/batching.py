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
#     quick: {batch_sizes: [1, 2, 4, 8, 16, 32], sweep_s_per_size: 0.25, loads: [0.4, 1.1], n_requests: 150, rounds: 2}
#     expected_duration_s: 90
#     timeout_cell_s: 600
# ---

# %% [markdown]
# # Batching: throughput for latency, and why dynamic batching breaks a hard deadline
#
# Running several items through the model at once amortizes per-call overhead and uses wider
# kernels, so items per second go up; but an item that waits for others to arrive is late.
# You will learn how latency and per-item throughput grow with the batch size on this runner,
# then how three servers behave when single items arrive at random (Poisson) at several loads:
# one item at a time, fixed micro-batches (wait for B items), and dynamic batching (up to B
# items, or whatever is waiting T ms after the oldest arrived). Latency counts from each
# item's intended arrival, so waiting for a batch is part of it. Finally, the data shows why a
# dynamic batcher is a poor fit for a hard real-time path: the latency of an item depends on
# how many *other* items happen to arrive around it.
#
# The model is the PP-OCR mobile text-angle classifier from the `rapidocr-onnxruntime` wheel:
# OCR pipelines classify every detected text line, so batches of lines are its normal load.
#
# *Longer than 350 lines because it runs three experiments on one session: the batch-size
# sweep, three servers under load in rounds, and the analysis of what a dynamic batcher's
# latency depends on.*

# %% tags=["parameters"]
model_path = "rapidocr:cls"  # a model whose first input has a free batch dimension
item_shape = [3, 48, 192]  # C, H, W of one item; the batch dimension is added in front
batch_sizes = [1, 2, 4, 8, 16, 32]  # the closed-loop sweep
sweep_s_per_size = 1.5  # closed-loop seconds per batch size
max_batch = 8  # B for the fixed and dynamic batchers
timeout_ms = 2.0  # T of the dynamic batcher, counted from the oldest waiting item
loads = [0.3, 0.6, 0.9, 1.2]  # offered load as a fraction of the one-at-a-time capacity
n_requests = 400  # items per load, server and round (P99 of one round needs >= 368)
rounds = 5  # every server at every load once per round, rounds in a randomised balanced order
deadline_ms = 15.0  # per-item deadline from its arrival
percentile = 0.99  # the SLO: the `percentile` response time must be <= deadline_ms
intra_op_threads = 1  # 1 leaves the other cores to the dispatcher and the rest of the application
seed = 0

# %% [markdown]
# ## The model and a batch of realistic items
#
# Each item is a line of rendered text (`edgetiming.workload.ocrdata`), scaled and
# normalized the way PP-OCR's classifier expects. The model's input shape must have a free first dimension.

# %%
import os

import matplotlib
import matplotlib.ticker
import numpy as np
import onnxruntime as ort
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from edgetiming.measure import noise
from edgetiming.measure.batching import BatchPolicy, PooledItems, report_served, report_sweep, serve
from edgetiming.measure.closedloop import session_loop
from edgetiming.measure.openloop import Poisson
from edgetiming.measure.rounds import arm_key, interleaved_rounds
from edgetiming.measure.session import SessionConfig, open_session
from edgetiming.results import figures, report
from edgetiming.stats import loadcompare
from edgetiming.stats import quantiles as stats
from edgetiming.stats.repeated import paired_ratio
from edgetiming.stats.validity import min_samples_two_sided
from edgetiming.workload.models import resolve, sha256_file
from edgetiming.workload.ocrdata import line_dataset, rec_input

figures.use_style()
path = resolve(model_path)
config = SessionConfig(intra_op_num_threads=intra_op_threads or None)
session = open_session(path, config)
inp = session.get_inputs()[0]
print(f"model: {path.name} ({path.stat().st_size / 1e6:.2f} MB, sha256 {sha256_file(path)[:12]}...)")
print(f"input {inp.name}: {inp.shape}; onnxruntime {ort.__version__}, {intra_op_threads or 'default'} intra-op thread(s)")
if isinstance(inp.shape[0], int) and inp.shape[0] > 0:
    raise ValueError(f"{path.name} has a fixed batch dimension {inp.shape[0]}: batching needs a free one")
items = np.ascontiguousarray(np.concatenate([rec_input(line.image, height=item_shape[1], width=item_shape[2])
                                             for line in line_dataset(max(*batch_sizes, max_batch), seed=seed)]))
out = session.run(None, {inp.name: items[:2]})
print("output shapes for a batch of 2:", [o.shape for o in out])

# %% [markdown]
# ## Batch-size sweep (closed loop, in rounds)
#
# One batch at a time, back to back, in this process (the servers below run here too): each
# batch size runs for `sweep_s_per_size / rounds` seconds once per round, the sizes in a
# randomised balanced order. Latency is per batch; per-item throughput is the batch size over
# the mean batch latency, and the throughput gain is a ratio per round with its interval over
# rounds.

# %%
batch_sizes = sorted(set(batch_sizes) | {1})  # batch 1 defines load 1.0
sweep_runs, _ = interleaved_rounds({str(b): (lambda r, b=b: session_loop(
    session, {inp.name: items[:b]}, session_config=config, warmup_iters=3, duration_s=sweep_s_per_size / rounds,
    target_percentile=percentile, overhead=False)) for b in batch_sizes}, rounds, seed=seed)
name = f"P{percentile * 100:g}"
sweep = report_sweep({b: sweep_runs[str(b)] for b in batch_sizes}, percentile)  # samples, P50/P99, items/s
capacity_hz = sweep[1].items_per_s
report.metric("capacity_one_at_a_time_hz", capacity_hz, unit="Hz",
              description="items per second one at a time (1 / mean latency at batch 1): load 1.0")

# %%
fig = Figure(figsize=(10.0, 4.0), layout="constrained")
ax1, ax2 = fig.subplots(1, 2)
ax1.plot(batch_sizes, [sweep[b].p50.value for b in batch_sizes], "o-", color=figures.PALETTE[0], label="P50")
ax1.plot(batch_sizes, [sweep[b].tail.value for b in batch_sizes], "s--", color=figures.PALETTE[1], label=name)
ax1.axhline(deadline_ms, color=figures.PALETTE[3], linestyle=":", label=f"deadline {deadline_ms:g} ms")
ax2.plot(batch_sizes, [sweep[b].items_per_s for b in batch_sizes], "o-", color=figures.PALETTE[2])
ax2.set_ylim(bottom=0)
for ax, ylabel, title in ((ax1, "latency per batch (ms)", "Latency of one batch"),
                          (ax2, "throughput (items/s)", "Per-item throughput")):
    ax.set_xscale("log", base=2)
    ax.set_xticks(batch_sizes, [str(b) for b in batch_sizes])
    ax.set(xlabel="batch size (items)", ylabel=ylabel, title=title)
ax1.legend()
report.figure(fig, "batch-sweep", alt="Batch-size sweep: " + "; ".join(
    f"batch {b}: P50 {pt.p50.value:.2f} ms, {name} {pt.tail.value:.2f} ms, {pt.items_per_s:.0f} items/s"
    for b, pt in sweep.items()))

# %% [markdown]
# ## Poisson arrivals served three ways, in rounds
#
# For each load (a fraction of the one-at-a-time capacity measured above), `n_requests` items
# arrive at Poisson-random times and are served by each server; the one-at-a-time server runs
# twice, as an **A/A arm** whose ratio is the noise floor of this very run. Every server at
# every load runs once per **round**, the `rounds` rounds in a randomised, balanced order, and
# within a round every server sees the same seeded arrivals. One server thread runs the
# model; the calling thread only sleeps and enqueues. A fixed batcher flushes its last
# partial batch when the stream ends (those items are counted).
#
# A server **keeps up** at a load when it served at least 98% of the offered items per second
# in every round; a latency comparison between a server that keeps up and one whose queue
# grows for the whole run measures the run's length, not the server, so latency is compared
# only where both keep up, and saturation is reported separately with the served rate.

# %%
policies = {"single": BatchPolicy.single(), "single (A/A)": BatchPolicy.single(), "fixed": BatchPolicy.fixed(max_batch),
            "dynamic": BatchPolicy.dynamic(max_batch, timeout_ms=timeout_ms)}
x_batch = items[:max_batch]


def arm(key: str, load: float):  # round r: this server at this load, on the round's seeded arrivals
    return lambda r: serve(lambda k: session.run(None, {inp.name: x_batch[:k]}), Poisson(
        rate_hz=load * capacity_hz, seed=seed * 1000 + r), policy=policies[key], n_requests=n_requests,
        deadline_ms=deadline_ms)


by_round, order = interleaved_rounds({f"{k}@{x:g}": arm(k, x) for x in loads for k in policies}, rounds, seed=seed)
served = {(k, x): by_round[f"{k}@{x:g}"] for x in loads for k in policies}  # (server, load) -> one run per round
print(f"{rounds} rounds of {len(policies) * len(loads)} runs; round 1 ran {', '.join(order[:len(policies) * len(loads)])}")
# per (server, load): samples, pooled P99, served rate and miss rate reported; P50, mean batch size kept
table = {(k, x): report_served(f"{arm_key(k)}.load-{x:g}", runs, label=f"{k} at load {x:g}", percentile=percentile)
         for (k, x), runs in served.items()}

tails = {kx: [q.value for q in t.tail.per_run] for kx, t in table.items()}  # per-round P99s, ms
points = [loadcompare.LoadComparison(
    x, paired_ratio(tails["single", x], tails["dynamic", x], label_a="one at a time", label_b="the dynamic batcher"),
    paired_ratio(tails["single", x], tails["single (A/A)", x], label_a="one at a time",
                 label_b="one at a time (A/A)"),
    {k: table[k, x].offered_hz for k in policies}, {k: table[k, x].served_hz for k in policies},
    compared=("single", "dynamic")) for x in loads]

# %%
fig = Figure(figsize=(12.0, 4.2), layout="constrained")
ax1, ax2, ax3 = fig.subplots(1, 3)
parts = []
for i, key in enumerate(k for k in policies if k != "single (A/A)"):
    style = {"fmt": "osD"[i] + "-", "color": figures.PALETTE[i], "label": policies[key].label}
    m = [table[key, x] for x in loads]
    p99 = np.array([t.tail.value for t in m])
    ax1.errorbar(loads, p99, yerr=[p99 - np.maximum([t.tail.lower for t in m], 0), np.array(
        [t.tail.upper if np.isfinite(t.tail.upper) else t.tail.value for t in m]) - p99], capsize=3, **style)
    ax2.errorbar(loads, [100 * t.miss_rate for t in m], yerr=[[100 * (t.miss_rate - t.miss_ci[0]) for t in m],
                                                               [100 * (t.miss_ci[1] - t.miss_rate) for t in m]],
                 capsize=3, **style)
    ax3.plot([np.mean(t.offered_hz) for t in m], [np.mean(t.served_hz) for t in m], style.pop("fmt"), **style)
    parts.append(f"{policies[key].label}: " + ", ".join(f"load {x:g} {name} {t.tail.value:.1f} ms, miss "
                                                        f"{t.miss_rate:.1%}, served {np.mean(t.served_hz):.0f}/s"
                                                        for x, t in zip(loads, m)))
ax1.axhline(deadline_ms, color=figures.PALETTE[3], linestyle=":", label=f"deadline {deadline_ms:g} ms")
ax1.set_yscale("log")
figures.log_ticks(ax1)
ax1.set(xlabel="offered load (fraction of one-at-a-time capacity)", ylabel=f"{name} response time (ms)",
        title=f"{name} from the intended arrival ({rounds} rounds)")
ax2.set(xlabel="offered load (fraction of one-at-a-time capacity)", ylim=(-2, 102),
        ylabel=f"deadline misses (% of items over {deadline_ms:g} ms)", title="Deadline-miss rate (Clopper-Pearson 95%)")
top = max(np.mean(t.offered_hz) for t in table.values()) * 1.1
ax3.plot([0, top], [0, top], color="#8c959f", linestyle=":", label="served = offered")
ax3.set(xlabel="offered rate (items/s)", ylabel="served (items/s)", title="Throughput: who keeps up")
for ax in (ax1, ax3):
    ax.legend(fontsize=8)
report.figure(fig, "servers-under-load", alt="Three servers under Poisson arrivals: " + "; ".join(parts)
              + f"; deadline {deadline_ms:g} ms")
fig, alt = noise.figure([r for rs in served.values() for r in rs], labels=[k for (k, _), rs in served.items() for _ in rs],
                        deadline_ms=deadline_ms, title="The servers in time: response, sentinel units, other work")
report.figure(fig, "noise", alt=alt)

# %% [markdown]
# ## Why dynamic batching is unpredictable
#
# A one-at-a-time server's latency for an item depends only on what arrived *before* it (the
# queue ahead). A dynamic batcher's also depends on what arrives *after* it: if others come
# within T ms the batch leaves sooner but is bigger (slower to compute); if nobody comes, the
# item waits the full timeout alone. So the same item, at the same mean load, gets a different
# latency depending on its neighbours. Below: the batch sizes the dynamic batcher formed at each
# load, the latency of items by the size of the batch they landed in, and, for items that found
# the server idle with nothing waiting (so no queue ahead can explain their latency), latency
# against the number of items that arrived in the `timeout_ms` after them. A worst-case bound
# for a hard deadline has to assume the worst arrival pattern, not the average one.

# %%
pool = {(k, x): PooledItems.of(served[k, x], window_ms=timeout_ms) for k in ("single", "dynamic") for x in loads}
n_idle = {kx: int(p.idle.sum()) for kx, p in pool.items()}
dependence = {kx: p.future_dependence() for kx, p in pool.items()}  # Spearman over idle-arrival items, or None
shown_r = {kx: "n/a" if r is None else f"{r:+.2f}" for kx, r in dependence.items()}
for load in loads:
    report.metric(f"dynamic.load-{load:g}.future_arrival_correlation", dependence["dynamic", load],
                  n=n_idle["dynamic", load], description="Spearman rank correlation, over items that found the server "
                  f"idle, between an item's response time and the number of items arriving within {timeout_ms:g} ms "
                  "after it (dynamic batcher)")
focus = max(loads, key=lambda x: pool["dynamic", x].median_spread_ms())  # where batch sizes spread latency most
focus_idle = max(loads, key=lambda x: (n_idle["dynamic", x], -x))  # most idle-arrival items (ties: the lower load)

fig = Figure(figsize=(12.0, 4.2), layout="constrained")
ax1, ax2, ax3 = fig.subplots(1, 3)
# 1: which batch sizes the dynamic batcher formed, per load
sizes, bottom = range(1, max_batch + 1), np.zeros(len(loads))
for s in sizes:
    share = np.array([(pool["dynamic", x].item_batch_size == s).mean() * 100 for x in loads])
    ax1.bar([str(x) for x in loads], share, bottom=bottom, color=matplotlib.colormaps["viridis"](
        (s - 1) / max(max_batch - 1, 1)), label=f"{s}" if s in (1, max_batch, (max_batch + 1) // 2) else None)
    bottom += share
ax1.set(xlabel="offered load", ylabel="items (% served in a batch of this size)",
        title="Batch sizes the dynamic batcher formed")
ax1.legend(title="batch size", fontsize=8)
# 2: response by batch size at the focus load
by_size = pool["dynamic", focus].by_batch_ms()
ax2.boxplot(list(by_size.values()), positions=range(len(by_size)), whis=(1, 99), showfliers=False)
ax2.set_xticks(range(len(by_size)), [f"{s}\n(n={d.size})" for s, d in by_size.items()])
ax2.axhline(deadline_ms, color=figures.PALETTE[3], linestyle=":", label=f"deadline {deadline_ms:g} ms")
ax2.set(xlabel="size of the batch the item was served in (items)",
        ylabel="response time (ms; box P25-P75, whiskers P1-P99)", title=f"Dynamic batcher at load {focus:g}")
ax2.legend(fontsize=8)
# 3: response against later arrivals for items that found the server idle, single vs dynamic
parts = []
for i, key in enumerate(("single", "dynamic")):
    run = pool[key, focus_idle]
    later, resp = run.later[run.idle], run.response_ns[run.idle] / 1e6
    ks = [int(k) for k in np.unique(later) if (later == k).sum() >= 3]
    med = [float(np.median(resp[later == k])) for k in ks]
    ax3.plot(ks, med, "o-", color=figures.PALETTE[i], label=f"{policies[key].label}: median")
    ax3.plot(ks, [stats.quantile(resp[later == k], 0.9) for k in ks], "s:", color=figures.PALETTE[i],
             label=f"{policies[key].label}: P90")
    parts.append(f"{policies[key].label} ({run.idle.sum()} idle-arrival items): median "
                 + (", ".join(f"{m:.1f} ms with {k} later" for k, m in zip(ks, med)) or "too few items"))
ax3.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
ax3.set(xlabel=f"items arriving in the {timeout_ms:g} ms after this one (count)", ylabel="response time (ms)",
        title=f"Items that found the server idle (load {focus_idle:g})")
ax3.legend(fontsize=7)
mix = "; ".join(f"load {x:g}: " + ", ".join(f"{(pool['dynamic', x].item_batch_size == s).mean():.0%} in batches of {s}"
                                            for s in sizes if (pool["dynamic", x].item_batch_size == s).any())
                for x in loads)
by = ", ".join(f"batch {s}: median {np.median(d):.1f} ms" for s, d in by_size.items())
report.figure(fig, "dynamic-unpredictability", alt=f"Dynamic batching unpredictability. Batch-size mix per load: "
              f"{mix}. At load {focus:g}, response by batch size: {by}. At load {focus_idle:g}, response against "
              "later arrivals: " + "; ".join(parts))

# %% [markdown]
# ## SLO checklist on this runner
#
# The claim "P`percentile` of the response time <= `deadline_ms`" for every server at every
# load: PASS only when the whole confidence interval lies under the deadline.

# %%
verdicts = {kx: loadcompare.deadline_verdict(t.tail, deadline_ms, name) for kx, t in table.items()}
for (key, load), t in table.items():
    report.check(f"{name.lower()}-within-deadline.{arm_key(key)}.load-{load:g}", verdicts[key, load][0],
                 f"{policies[key].label} at load {load:g} ({np.mean(t.offered_hz):.0f} items/s offered, "
                 f"{np.mean(t.served_hz):.0f} served): {verdicts[key, load][1]}; miss rate {t.miss_rate:.1%}")
for pt in points:
    report.check(f"keeps-up.load-{pt.load:g}", "PASS" if pt.all_kept_up else "FAIL",
                 f"one at a time and dynamic batcher, {loadcompare.KEEP_UP_RULE}: "
                 + ("; ".join(pt.saturated()) or "both did"))
report.check("batched-output-shapes", "PASS" if out[0].shape[0] == 2 else "FAIL",
             f"a batch of 2 gave outputs of shape {[o.shape for o in out]}")

# %% [markdown]
# ## Conclusion on this runner
#
# Computed from the measurements above, not written in advance.

# %%
runner = os.environ.get("EDGETIMING_RUNNER") or "this runner"
lo, hi = sweep[min(sweep)], sweep[max(sweep)]
gain = hi.items_per_s / lo.items_per_s
lines = [f"- Closed loop: batch {hi.batch} moves x{gain:.2f} the items per second of batch {lo.batch} "
         f"({hi.items_per_s:.0f} against {lo.items_per_s:.0f}), at a P50 of {hi.p50.value:.1f} ms per batch instead "
         f"of {lo.p50.value:.2f} ms." + (" Batching buys little throughput here." if gain < 1.2 else "")]
for key, policy in policies.items():
    ok = [x for x in loads if verdicts[key, x][0] == "PASS"]
    lines.append(f"- {policy.label}{' (A/A arm)' if 'A/A' in key else ''}: {name} <= {deadline_ms:g} ms shown (PASS, "
                 "deciding interval) at " + (", ".join(f"load {x:g}" for x in ok) or "none of the loads tried") + ".")
head = loadcompare.headline_load(points)
lines += [f"- Dynamic batcher against one at a time, {name} per round: " + ln
          for ln in loadcompare.load_conclusions(points, name, runner=runner, smaller_is="lower",
                                                 larger_is="higher")]
lines.append("- Headline: " + (f"load {head.load:g}, the highest load at which both servers kept up." if head else
                                "none: at no load tried did both servers keep up."))
low = min(loads)
lines.append(f"- At the lowest load ({low:g}) the fixed batcher's items waited for {max_batch - 1} others: median "
             f"{table['fixed', low].p50.value:.1f} ms against {table['single', low].p50.value:.1f} ms one at a time.")
by_size = pool["dynamic", focus].by_batch_ms()
alone, full = by_size.get(1, np.array([])), by_size[max(by_size)]
lines.append(f"- Dynamic batcher at load {focus:g}: items formed batches of {min(by_size)} to {max(by_size)}; "
             + (f"items served alone had a median of {np.median(alone):.1f} ms and items in the largest batches "
                f"{np.median(full):.1f} ms, " if alone.size and full.size else "")
             + "which batch an item lands in depends on when the others arrive.")
r_dyn, r_one = dependence["dynamic", focus_idle], dependence["single", focus_idle]
lines.append("- Too few items found the server idle to measure how latency follows later arrivals." if r_dyn is None
             else f"- At load {focus_idle:g}, over the items that found the server idle (no queue ahead), the rank "
             f"correlation of response time with the number of items arriving *after* them was "
             f"{shown_r['dynamic', focus_idle]} for the dynamic batcher and {shown_r['single', focus_idle]} one at a time"
             + (": the dynamic batcher's latency moves with future traffic." if abs(r_dyn) > abs(r_one or 0) + 0.1
                else ": on this run the dependence did not stand out from the one-at-a-time server's."))
worst = "- A hard real-time path must budget for the worst arrival pattern: "
if max_batch in sweep:
    full_ms, one_ms = sweep[max_batch].tail.value, sweep[1].tail.value
    bound_ms = timeout_ms + full_ms
    lines.append(worst + f"without any queue, a dynamic batcher's item can take the timeout plus a full batch, "
                 f"{timeout_ms:g} + {full_ms:.1f} = {bound_ms:.1f} ms ({name} of batch {max_batch} from the sweep), "
                 f"against {one_ms:.1f} ms for one item alone: x{bound_ms / one_ms:.1f}, "
                 f"{'over' if bound_ms > deadline_ms else 'within'} the {deadline_ms:g} ms deadline.")
else:
    lines.append(worst + f"the timeout ({timeout_ms:g} ms) plus a full batch of {max_batch} (add {max_batch} to "
                 "`batch_sizes` to measure it).")

g = paired_ratio(lo.items_per_s_by_round, hi.items_per_s_by_round, label_a=f"batch {lo.batch}",
                 label_b=f"batch {hi.batch}")
report.metric("headline.batch_throughput_gain", g.ratio, unit="x", runs=g.rounds, ci=g.interval.bounds,
              note=g.sentence("items per second", smaller_is="less throughput", larger_is="more throughput", runner=runner),
              description=f"Items per second at batch {hi.batch} / batch {lo.batch} in a closed loop on {path.name}, "
                          f"per round over {rounds} rounds (higher is more throughput)")
need = min_samples_two_sided(percentile)
# without a load both kept up with, the ratio is not measured; a round too short for its percentile is a reason either way
why_not = ([] if head else [f"no load at which both servers kept up ({loadcompare.KEEP_UP_RULE})"]) + (
    [f"{n_requests} items per round: a per-round {name} needs >= {need}"] if n_requests < need else [])
for key, r in (("", head.ratio if head else None), ("_aa", head.aa if head else None)):
    report.metric(f"headline.dynamic_vs_single_{name.lower()}_ratio{key}", r.ratio if r else None, unit="x",
                  runs=r.rounds if r else None, ci=r.interval.bounds if r else None, invalid_because=why_not,
                  note=(loadcompare.comparison_sentence(head.ratio, head.aa, name, smaller_is="lower",
                                                        larger_is="higher", runner=runner)
                        if head else "no load at which both servers kept up"),
                  description=(f"{name} response of {'the one-at-a-time A/A arm' if key else 'the dynamic batcher'} "
                               f"/ one item at a time, per round over {rounds} rounds, Poisson arrivals at load "
                               f"{head.load:g}, the highest load both kept up with" if head else
                               f"{name} ratio dynamic / one at a time (not measured: no load both kept up with)"))
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## On your own device
#
# ```bash
# edgetiming run recipes/batching.py --runner my-board \
#     --param model_path=/path/to/model.onnx --param 'item_shape=[3, 224, 224]' \
#     --param deadline_ms=33.3 --param max_batch=4 --param timeout_ms=5
# ```
#
# Pick `max_batch` from the sweep (where per-item throughput stops growing) and `timeout_ms`
# from the deadline (timeout + one full batch must fit it with room for the queue); then check
# the miss rate at the load your device really sees.
