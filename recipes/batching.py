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
from scipy.stats import spearmanr

from edgetiming.measure.batching import BatchPolicy, serve
from edgetiming.measure.closedloop import session_loop
from edgetiming.measure.openloop import Poisson
from edgetiming.measure.rounds import arm_key, interleaved_rounds
from edgetiming.measure.session import SessionConfig, open_session
from edgetiming.results import figures, report
from edgetiming.stats import quantiles as stats
from edgetiming.stats.loadcompare import (
    KEEP_UP_RULE,
    LoadComparison,
    comparison_sentence,
    deadline_verdict,
    headline_load,
    load_conclusions,
)
from edgetiming.stats.repeated import paired_ratio, repeated_quantile
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


c, h, w = item_shape
largest = max(max(batch_sizes), max_batch)
items = np.ascontiguousarray(np.concatenate([rec_input(line.image, height=h, width=w)
                                             for line in line_dataset(largest, seed=seed)]))
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
sweep_rows = {}
print(f"{'batch':>6}{'P50 ms':>9}{name + ' ms':>10}{'items/s':>10}{'n':>7}")
for b in batch_sizes:
    runs = sweep_runs[str(b)]
    e = {p: repeated_quantile([r.steady_ns for r in runs], p).scaled(1e-6) for p in (0.5, percentile)}
    per_round = [b / float(r.steady_ns.mean()) * 1e9 for r in runs]
    sweep_rows[b] = {"p50_ms": e[0.5].value, "p99_ms": e[percentile].value, "items_per_s": float(np.mean(per_round)),
                     "per_round": per_round, "n": sum(r.steady_ns.size for r in runs)}
    report.samples(f"sweep.b{b}", np.concatenate([r.steady_ns for r in runs]), description=f"batch {b}: latency "
                   f"per batch, int64 ns, {rounds} rounds concatenated")
    for p in (0.5, percentile):
        report.estimate(f"sweep.b{b}.p{p * 100:g}_ms", e[p], description=f"batch {b}: P{p * 100:g} of one batch "
                        f"over {rounds} rounds")
    report.metric(f"sweep.b{b}.items_per_s", sweep_rows[b]["items_per_s"], unit="1/s", n=sweep_rows[b]["n"],
                  runs=rounds, description=f"batch {b}: items per second, closed loop (batch size / mean batch "
                  "latency, mean over rounds)")
    print(f"{b:>6}{e[0.5].value:>9.2f}{e[percentile].value:>10.2f}{sweep_rows[b]['items_per_s']:>10.0f}"
          f"{sweep_rows[b]['n']:>7}")
capacity_hz = sweep_rows[1]["items_per_s"]
report.metric("capacity_one_at_a_time_hz", capacity_hz, unit="Hz",
              description="items per second one at a time (1 / mean latency at batch 1): load 1.0")


# %%
def sweep_figure() -> tuple[Figure, str]:
    fig = Figure(figsize=(10.0, 4.0), layout="constrained", facecolor=figures.STYLE["figure.facecolor"])
    ax1, ax2 = fig.subplots(1, 2)
    bs = list(sweep_rows)
    ax1.plot(bs, [sweep_rows[b]["p50_ms"] for b in bs], "o-", color=figures.PALETTE[0], label="P50")
    ax1.plot(bs, [sweep_rows[b]["p99_ms"] for b in bs], "s--", color=figures.PALETTE[1], label=name)
    ax1.axhline(deadline_ms, color=figures.PALETTE[3], linestyle=":", label=f"deadline {deadline_ms:g} ms")
    ax2.plot(bs, [sweep_rows[b]["items_per_s"] for b in bs], "o-", color=figures.PALETTE[2])
    ax2.set_ylim(bottom=0)
    for ax, ylabel, title in ((ax1, "latency per batch (ms)", "Latency of one batch"),
                              (ax2, "throughput (items/s)", "Per-item throughput")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(bs, [str(b) for b in bs])
        ax.set(xlabel="batch size (items)", ylabel=ylabel, title=title)
    ax1.legend()
    return fig, "Batch-size sweep: " + "; ".join(
        f"batch {b}: P50 {sweep_rows[b]['p50_ms']:.2f} ms, {name} {sweep_rows[b]['p99_ms']:.2f} ms, "
        f"{sweep_rows[b]['items_per_s']:.0f} items/s" for b in bs)


with matplotlib.rc_context(figures.STYLE):
    fig, alt = sweep_figure()
report.figure(fig, "batch-sweep", alt=alt)

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


def run_batch(k: int) -> None:
    session.run(None, {inp.name: x_batch[:k]})


def arm(key: str, load: float):
    return lambda r: serve(run_batch, Poisson(rate_hz=load * capacity_hz, seed=seed * 1000 + r),
                           policy=policies[key], n_requests=n_requests, deadline_ms=deadline_ms)


by_round, order = interleaved_rounds({f"{k}@{x:g}": arm(k, x) for x in loads for k in policies}, rounds, seed=seed)
served = {(k, x): by_round[f"{k}@{x:g}"] for x in loads for k in policies}  # (server, load) -> one run per round
print(f"{rounds} rounds of {len(policies) * len(loads)} runs; round 1 ran {', '.join(order[:len(policies) * len(loads)])}")


def p_per_round(key, load, p=percentile):
    return [stats.quantile(r.response_ns, p) / 1e6 for r in served[key, load]]


table = {}
print(f"{'server':<14}{'load':>5}{'offered/s':>10}{'served/s':>9}{'P50 ms':>9}{name + ' ms':>16}{'miss rate':>11}"
      f"{'mean batch':>11}")
for (key, load), runs in served.items():
    est = {p: repeated_quantile([r.response_ns for r in runs], p).scaled(1e-6) for p in (0.5, percentile)}
    resp = np.concatenate([r.response_ns for r in runs])
    k_miss = sum(r.miss_rate().misses for r in runs)
    table[key, load] = {"p50": est[0.5], "p99": est[percentile], "miss": k_miss / resp.size,
                        "miss_ci": stats.proportion_ci(k_miss, resp.size),
                        "offered": [r.offered_rate_hz for r in runs], "served": [r.throughput_hz for r in runs],
                        "mean_batch": float(np.concatenate([r.item_batch_size for r in runs]).mean())}
    t, slug = table[key, load], f"{arm_key(key)}.load-{load:g}"
    report.samples(f"{slug}.response", resp, description=f"{key}: per-item response time (done - intended arrival), "
                   f"int64 ns, rounds concatenated ({n_requests} per round)")
    report.estimate(f"{slug}.p{percentile * 100:g}_ms", t["p99"], description=f"{key} at load {load:g}: {name} "
                    f"response from the intended arrival, pooled over {rounds} rounds")
    report.metric(f"{slug}.served_hz", float(np.mean(t["served"])), unit="Hz", runs=rounds,
                  description=f"{key} at load {load:g}: items completed per second (mean over rounds), against "
                  f"{np.mean(t['offered']):.0f} offered")
    report.metric(f"{slug}.miss_rate", t["miss"], n=resp.size, ci=t["miss_ci"],
                  description=f"{key} at load {load:g}: share of items over {deadline_ms:g} ms (Clopper-Pearson)")
    print(f"{key:<14}{load:>5g}{np.mean(t['offered']):>10.0f}{np.mean(t['served']):>9.0f}{t['p50'].value:>9.2f}"
          f"{t['p99'].value:>7.2f} [{t['p99'].lower:.1f}, {t['p99'].upper:.1f}]{t['miss']:>11.1%}{t['mean_batch']:>11.2f}")

points = [LoadComparison(x, paired_ratio(p_per_round("single", x), p_per_round("dynamic", x),
                                         label_a="one at a time", label_b="the dynamic batcher"),
                         paired_ratio(p_per_round("single", x), p_per_round("single (A/A)", x),
                                      label_a="one at a time", label_b="one at a time (A/A)"),
                         {k: table[k, x]["offered"] for k in policies}, {k: table[k, x]["served"] for k in policies},
                         compared=("single", "dynamic")) for x in loads]
for pt in points:
    print(f"load {pt.load:g}: keeps up: " + ", ".join(f"{k} {'yes' if pt.kept_up(k) else 'NO'}" for k in policies)
          + f"; dynamic/single {name} {pt.ratio.ratio:.3g}, A/A {pt.aa.ratio:.3g}")


# %%
def serving_figure() -> tuple[Figure, str]:
    fig = Figure(figsize=(12.0, 4.2), layout="constrained", facecolor=figures.STYLE["figure.facecolor"])
    ax1, ax2, ax3 = fig.subplots(1, 3)
    parts = []
    for i, key in enumerate(k for k in policies if k != "single (A/A)"):
        color, marker, label = figures.PALETTE[i], "osD"[i], policies[key].label
        e = [table[key, x]["p99"] for x in loads]
        p99 = np.array([v.value for v in e])
        ax1.errorbar(loads, p99, yerr=[p99 - np.maximum([v.lower for v in e], 0),
                                       np.array([v.upper if np.isfinite(v.upper) else v.value for v in e]) - p99],
                     fmt=marker + "-", color=color, capsize=3, label=label)
        m = [table[key, x] for x in loads]
        ax2.errorbar(loads, [100 * t["miss"] for t in m], yerr=[[100 * (t["miss"] - t["miss_ci"][0]) for t in m],
                                                              [100 * (t["miss_ci"][1] - t["miss"]) for t in m]],
                     fmt=marker + "-", color=color, capsize=3, label=label)
        ax3.plot([np.mean(t["offered"]) for t in m], [np.mean(t["served"]) for t in m], marker + "-", color=color,
                 label=label)
        parts.append(f"{label}: " + ", ".join(f"load {x:g} {name} {t['p99'].value:.1f} ms, miss {t['miss']:.1%}, "
                                              f"served {np.mean(t['served']):.0f}/s" for x, t in zip(loads, m)))
    ax1.axhline(deadline_ms, color=figures.PALETTE[3], linestyle=":", label=f"deadline {deadline_ms:g} ms")
    ax1.set_yscale("log")
    figures.log_ticks(ax1)
    ax1.set(xlabel="offered load (fraction of one-at-a-time capacity)", ylabel=f"{name} response time (ms)",
            title=f"{name} from the intended arrival ({rounds} rounds)")
    ax1.legend(fontsize=8)
    ax2.set(xlabel="offered load (fraction of one-at-a-time capacity)", ylim=(-2, 102),
            ylabel=f"deadline misses (% of items over {deadline_ms:g} ms)", title="Deadline-miss rate (Clopper-Pearson 95%)")
    top = max(np.mean(table[k, x]["offered"]) for k in policies for x in loads) * 1.1
    ax3.plot([0, top], [0, top], color="#8c959f", linestyle=":", label="served = offered")
    ax3.set(xlabel="offered rate (items/s)", ylabel="served (items/s)", title="Throughput: who keeps up")
    ax3.legend(fontsize=8)
    return fig, "Three servers under Poisson arrivals: " + "; ".join(parts) + f"; deadline {deadline_ms:g} ms"


with matplotlib.rc_context(figures.STYLE):
    fig, alt = serving_figure()
report.figure(fig, "servers-under-load", alt=alt)

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
def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman rank correlation (average ranks for ties); None below 10 pairs or without spread."""
    return None if a.size < 10 or np.ptp(a) == 0 or np.ptp(b) == 0 else float(spearmanr(a, b).statistic)


def fmt_r(r: float | None) -> str:
    return "n/a" if r is None else f"{r:+.2f}"


class Pooled:
    """Per-item arrays of one server at one load, its rounds concatenated."""

    def __init__(self, runs):
        for attr, f in (("response_ns", lambda r: r.response_ns), ("item_batch_size", lambda r: r.item_batch_size),
                        ("idle", lambda r: r.found_idle()), ("later", lambda r: r.later_arrivals(timeout_ms))):
            setattr(self, attr, np.concatenate([f(r) for r in runs]))


pool = {(k, x): Pooled(served[k, x]) for k in ("single", "dynamic") for x in loads}

dependence, n_idle = {}, {}
for load in loads:
    for key in ("single", "dynamic"):
        run = pool[key, load]
        n_idle[(key, load)] = int(run.idle.sum())
        dependence[(key, load)] = spearman(run.later[run.idle], run.response_ns[run.idle])
    print(f"load {load:g}: items that found the server idle: single {n_idle[('single', load)]}, dynamic "
          f"{n_idle[('dynamic', load)]}; rank correlation of their response time with the number of items arriving "
          f"in the next {timeout_ms:g} ms: single {fmt_r(dependence[('single', load)])}, "
          f"dynamic {fmt_r(dependence[('dynamic', load)])}")
    report.metric(f"dynamic.load-{load:g}.future_arrival_correlation", dependence[("dynamic", load)],
                  n=n_idle[("dynamic", load)],
                  description="Spearman rank correlation, over items that found the server idle, between an item's "
                              f"response time and the number of items arriving within {timeout_ms:g} ms after it "
                              "(dynamic batcher)")

# the load where the dynamic batcher's latency is most spread out by batch size
spread = {}
for load in loads:
    run = pool["dynamic", load]
    by_size = {int(s): run.response_ns[run.item_batch_size == s] / 1e6 for s in np.unique(run.item_batch_size)}
    meds = [float(np.median(v)) for v in by_size.values() if v.size >= 5]
    spread[load] = (max(meds) - min(meds)) if len(meds) >= 2 else 0.0
focus = max(spread, key=spread.get)  # where the batch sizes spread latency most
# where the most items found the dynamic batcher idle (ties: the lower load)
focus_idle = max(loads, key=lambda x: (n_idle[("dynamic", x)], -x))
print(f"load {focus:g}: the dynamic batcher's medians by batch size differ by up to {spread[focus]:.2f} ms; "
      f"load {focus_idle:g}: most items that found it idle ({n_idle[('dynamic', focus_idle)]})")


def unpredictability_figure() -> tuple[Figure, str]:
    fig = Figure(figsize=(12.0, 4.2), layout="constrained", facecolor=figures.STYLE["figure.facecolor"])
    ax1, ax2, ax3 = fig.subplots(1, 3)
    # 1: which batch sizes the dynamic batcher formed, per load
    sizes = range(1, max_batch + 1)
    bottom = np.zeros(len(loads))
    cmap = matplotlib.colormaps["viridis"]
    for s in sizes:
        share = np.array([(pool["dynamic", x].item_batch_size == s).mean() * 100 for x in loads])
        ax1.bar([str(x) for x in loads], share, bottom=bottom, color=cmap((s - 1) / max(max_batch - 1, 1)),
                label=f"{s}" if s in (1, max_batch) or s == (max_batch + 1) // 2 else None)
        bottom += share
    ax1.set_xlabel("offered load")
    ax1.set_ylabel("items (% served in a batch of this size)")
    ax1.set_title("Batch sizes the dynamic batcher formed")
    ax1.legend(title="batch size", fontsize=8)
    # 2: response by batch size at the focus load
    run = pool["dynamic", focus]
    present = [int(s) for s in np.unique(run.item_batch_size)]
    data = [run.response_ns[run.item_batch_size == s] / 1e6 for s in present]
    ax2.boxplot(data, positions=range(len(present)), whis=(1, 99), showfliers=False)
    ax2.set_xticks(range(len(present)), [f"{s}\n(n={d.size})" for s, d in zip(present, data)])
    ax2.axhline(deadline_ms, color=figures.PALETTE[3], linestyle=":", label=f"deadline {deadline_ms:g} ms")
    ax2.set_xlabel("size of the batch the item was served in (items)")
    ax2.set_ylabel("response time (ms; box P25-P75, whiskers P1-P99)")
    ax2.set_title(f"Dynamic batcher at load {focus:g}")
    ax2.legend(fontsize=8)
    # 3: response against later arrivals for items that found the server idle, single vs dynamic
    parts = []
    for i, key in enumerate(("single", "dynamic")):
        run = pool[key, focus_idle]
        idle = run.idle
        later, resp = run.later[idle], run.response_ns[idle] / 1e6
        ks = [int(k) for k in np.unique(later) if (later == k).sum() >= 3]
        med = [float(np.median(resp[later == k])) for k in ks]
        p90 = [stats.quantile(resp[later == k], 0.9) for k in ks]
        ax3.plot(ks, med, "o-", color=figures.PALETTE[i], label=f"{policies[key].label}: median")
        ax3.plot(ks, p90, "s:", color=figures.PALETTE[i], label=f"{policies[key].label}: P90")
        parts.append(f"{policies[key].label} ({idle.sum()} idle-arrival items): median "
                     + (", ".join(f"{m:.1f} ms with {k} later" for k, m in zip(ks, med)) or "too few items"))
    ax3.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax3.set_xlabel(f"items arriving in the {timeout_ms:g} ms after this one (count)")
    ax3.set_ylabel("response time (ms)")
    ax3.set_title(f"Items that found the server idle (load {focus_idle:g})")
    ax3.legend(fontsize=7)
    mix = "; ".join(f"load {x:g}: " + ", ".join(
        f"{(pool['dynamic', x].item_batch_size == s).mean():.0%} in batches of {s}"
        for s in sizes if (pool["dynamic", x].item_batch_size == s).any()) for x in loads)
    by = ", ".join(f"batch {s}: median {np.median(d):.1f} ms" for s, d in zip(present, data))
    return fig, (f"Dynamic batching unpredictability. Batch-size mix per load: {mix}. At load {focus:g}, response by "
                 f"batch size: {by}. At load {focus_idle:g}, response against later arrivals: " + "; ".join(parts))


with matplotlib.rc_context(figures.STYLE):
    fig, alt = unpredictability_figure()
report.figure(fig, "dynamic-unpredictability", alt=alt)

# %% [markdown]
# ## SLO checklist on this runner
#
# The claim "P`percentile` of the response time <= `deadline_ms`" for every server at every
# load: PASS only when the whole confidence interval lies under the deadline.

# %%
verdicts = {}
for (key, load), t in table.items():
    verdicts[key, load] = deadline_verdict(t["p99"], deadline_ms, name)
    report.check(f"{name.lower()}-within-deadline.{arm_key(key)}.load-{load:g}", verdicts[key, load][0],
                 f"{policies[key].label} at load {load:g} ({np.mean(t['offered']):.0f} items/s offered, "
                 f"{np.mean(t['served']):.0f} served): {verdicts[key, load][1]}; miss rate {t['miss']:.1%}")
for pt in points:
    report.check(f"keeps-up.load-{pt.load:g}", "PASS" if pt.all_kept_up else "FAIL",
                 f"one at a time and dynamic batcher, {KEEP_UP_RULE}: " + ("; ".join(pt.saturated()) or "both did"))
report.check("batched-output-shapes", "PASS" if out[0].shape[0] == 2 else "FAIL",
             f"a batch of 2 gave outputs of shape {[o.shape for o in out]}")

# %% [markdown]
# ## Conclusion on this runner
#
# Computed from the measurements above, not written in advance.

# %%
runner = os.environ.get("EDGETIMING_RUNNER") or "this runner"
b_hi = max(sweep_rows)
gain = sweep_rows[b_hi]["items_per_s"] / sweep_rows[min(sweep_rows)]["items_per_s"]
lines = [f"- Closed loop: batch {b_hi} moves x{gain:.2f} the items per second of batch {min(sweep_rows)} "
         f"({sweep_rows[b_hi]['items_per_s']:.0f} against {sweep_rows[min(sweep_rows)]['items_per_s']:.0f}), "
         f"at a P50 of {sweep_rows[b_hi]['p50_ms']:.1f} ms per batch instead of {sweep_rows[min(sweep_rows)]['p50_ms']:.2f} ms."
         + (" Batching buys little throughput here." if gain < 1.2 else "")]
for key, policy in policies.items():
    ok = [x for x in loads if verdicts[key, x][0] == "PASS"]
    lines.append(f"- {policy.label}{' (A/A arm)' if 'A/A' in key else ''}: {name} <= {deadline_ms:g} ms shown (PASS, "
                 "deciding interval) at " + (", ".join(f"load {x:g}" for x in ok) if ok else "none of the loads tried") + ".")
head = headline_load(points)
lines += [f"- Dynamic batcher against one at a time, {name} per round: " + ln
          for ln in load_conclusions(points, name, runner=runner, smaller_is="lower", larger_is="higher")]
lines.append("- Headline: " + (f"load {head.load:g}, the highest load at which both servers kept up." if head else
                                "none: at no load tried did both servers keep up."))
low = min(loads)
lines.append(f"- At the lowest load ({low:g}) the fixed batcher's items waited for {max_batch - 1} others: median "
             f"{table[('fixed', low)]['p50'].value:.1f} ms against {table[('single', low)]['p50'].value:.1f} ms "
             "one at a time.")
dyn = pool["dynamic", focus]
alone = dyn.response_ns[dyn.item_batch_size == 1] / 1e6
full = dyn.response_ns[dyn.item_batch_size == dyn.item_batch_size.max()] / 1e6
lines.append(f"- Dynamic batcher at load {focus:g}: items formed batches of "
             f"{int(dyn.item_batch_size.min())} to {int(dyn.item_batch_size.max())}; "
             + (f"items served alone had a median of {np.median(alone):.1f} ms and items in the largest batches "
                f"{np.median(full):.1f} ms, " if alone.size and full.size else "")
             + "which batch an item lands in depends on when the others arrive.")
r_dyn, r_one = dependence[("dynamic", focus_idle)], dependence[("single", focus_idle)]
if r_dyn is not None:
    lines.append(f"- At load {focus_idle:g}, over the items that found the server idle (no queue ahead), the rank "
                 f"correlation of response time with the number of items arriving *after* them was {fmt_r(r_dyn)} for the "
                 f"dynamic batcher and {fmt_r(r_one)} one at a time"
                 + (": the dynamic batcher's latency moves with future traffic." if abs(r_dyn) > abs(r_one or 0) + 0.1
                    else ": on this run the dependence did not stand out from the one-at-a-time server's."))
else:
    lines.append("- Too few items found the server idle to measure how latency follows later arrivals.")
if max_batch in sweep_rows:
    bound_ms = timeout_ms + sweep_rows[max_batch]["p99_ms"]
    one_ms = sweep_rows[1]["p99_ms"]
    lines.append(f"- A hard real-time path must budget for the worst arrival pattern: without any queue, a dynamic "
                 f"batcher's item can take the timeout plus a full batch, {timeout_ms:g} + {sweep_rows[max_batch]['p99_ms']:.1f}"
                 f" = {bound_ms:.1f} ms ({name} of batch {max_batch} from the sweep), against {one_ms:.1f} ms for one "
                 f"item alone: x{bound_ms / one_ms:.1f}" + (f", over the {deadline_ms:g} ms deadline." if bound_ms > deadline_ms
                                                            else f", within the {deadline_ms:g} ms deadline."))
else:
    lines.append(f"- A hard real-time path must budget for the worst arrival pattern: the timeout ({timeout_ms:g} ms) "
                 f"plus a full batch of {max_batch} (add {max_batch} to `batch_sizes` to measure it).")

b_lo = min(sweep_rows)
g = paired_ratio(sweep_rows[b_lo]["per_round"], sweep_rows[b_hi]["per_round"], label_a=f"batch {b_lo}",
                 label_b=f"batch {b_hi}")
report.metric("headline.batch_throughput_gain", g.ratio, unit="x", runs=g.rounds,
              ci=(g.interval.lower, g.interval.upper) if g.interval.known else None,
              note=g.sentence("items per second", smaller_is="less throughput", larger_is="more throughput", runner=runner),
              description=f"Items per second at batch {b_hi} / batch {b_lo} in a closed loop on {path.name}, per "
                          f"round over {rounds} rounds (higher is more throughput)")
need = min_samples_two_sided(percentile)
for key, r in (("", head.ratio if head else None), ("_aa", head.aa if head else None)):
    iv = r.interval if r else None
    report.metric(f"headline.dynamic_vs_single_{name.lower()}_ratio{key}", r.ratio if r else None, unit="x",
                  runs=r.rounds if r else None, ci=(iv.lower, iv.upper) if iv and iv.known else None,
                  note=(comparison_sentence(head.ratio, head.aa, name, smaller_is="lower", larger_is="higher",
                                            runner=runner) if head else "no load at which both servers kept up"),
                  invalid_because=[] if head else [f"no load at which both servers kept up ({KEEP_UP_RULE})"]
                  + ([f"{n_requests} items per round: a per-round {name} needs >= {need}"] if n_requests < need else []),
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
