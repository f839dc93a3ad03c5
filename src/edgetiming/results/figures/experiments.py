"""Figures of one kind of experiment each (re-exported by :mod:`edgetiming.results.figures`).

Pipeline stages against their budgets, fan-out, a model beside its sentinel, machine
signals, ranked and paired bars, memory by step, latency against accuracy, load curves,
coordinated-omission timelines and operator counts per optimization level. They use the
shared style and helpers of :mod:`edgetiming.results.figures.core`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from edgetiming.results.figures.core import (
    _BG,
    _MISS,
    _NS_PER_MS,
    _TEXT,
    PALETTE,
    STYLE,
    _count,
    _ms,
    _name,
    _new_figure,
    log_ticks,
)
from edgetiming.stats.quantiles import quantile_ci

__all__ = [
    "AccuracyPanel",
    "fanout",
    "latency_accuracy",
    "load_curve",
    "memory_steps",
    "model_vs_sentinel",
    "paired_bars",
    "ranked_bars",
    "signals",
    "stacked_counts",
    "stage_distributions",
    "stall_timelines",
]


def stage_distributions(
    samples_ns: Mapping[str, ArrayLike],
    limits_ms: Mapping[str, float],
    *,
    title: str = "Distribution per stage: box P25-P75, whiskers P1-P99, dashes the budget",
) -> tuple[Figure, str]:
    """Box plots of latency per stage (and the whole item) on a log scale, each with its budget dashed.

    ``samples_ns`` maps a stage name, in pipeline order, to its latencies (int64 ns);
    ``limits_ms`` the same names to their budgets (the deadline for the whole item).

    Examples
    --------
    >>> x = np.arange(1, 201) * 10_000
    >>> stage_distributions({"detect": x, "frame": 2 * x}, {"detect": 1.5, "frame": 5.0})[1][:70]
    'Box plots of latency per stage and per frame on a log scale: detect me'
    """
    names = list(samples_ns)
    data = [_ms(samples_ns[n]) for n in names]
    with matplotlib.rc_context(STYLE):
        fig, ax = _new_figure((8.0, 4.2))
        ax.boxplot(data, whis=(1, 99), showfliers=True, flierprops={"markersize": 2})
        ax.set_xticks(range(1, len(names) + 1), names)
        ax.set_yscale("log")
        log_ticks(ax)
        for i, n in enumerate(names):
            ax.plot([i + 0.65, i + 1.35], [limits_ms[n]] * 2, "--", color=_MISS, linewidth=1.2,
                    label="budget" if i == 0 else None)
        ax.set(ylabel="latency (ms, log scale)", xlabel="stage", title=title)
        ax.legend(loc="upper left")
    return fig, "Box plots of latency per stage and per frame on a log scale: " + "; ".join(
        f"{n} median {np.median(d):.2f} ms, P99 {quantile_ci(d, 0.99).value:.2f} ms "
        f"(budget {limits_ms[n]:.1f} ms)" for n, d in zip(names, data))


def fanout(check: Any) -> tuple[Figure, str]:
    """Share of requests with at least one slow call among their first k calls, measured (with its
    interval) against the independent-calls prediction ``1-(1-q)^k``; ``check`` is the
    :class:`~edgetiming.stats.jitter.FanoutCheck` that :func:`edgetiming.stats.jitter.fanout_check` returns.

    Examples
    --------
    >>> from edgetiming.stats.jitter import fanout_check
    >>> fanout(fanout_check([[1, 2, 3, 40]] * 30 + [[5, 6, 7, 8]] * 10, 0.2))[1][:60]
    'Share of frames with at least one slow recognizer call among'
    """
    c, ks = check, check.ks
    with matplotlib.rc_context(STYLE):
        fig, ax = _new_figure((7.0, 4.0))
        ax.plot(ks, c.predicted, "o--", color=PALETTE[1], label="predicted 1-(1-q)^k (independent calls)")
        ax.errorbar(ks, c.measured, yerr=[np.subtract(c.measured, c.lower), np.subtract(c.upper, c.measured)],
                    fmt="s-", color=PALETTE[0], capsize=3, label="measured, 95% Clopper-Pearson CI")
        ax.set_xticks(ks)
        ax.set(xlabel="recognizer calls per frame, k (first k lines)",
               ylabel="frames with at least one slow call (fraction)", ylim=(0, max(*c.upper, *c.predicted) * 1.15),
               title=f"Fan-out: slow call above {c.threshold_ns / _NS_PER_MS:.1f} ms (q = {c.q:.3f})")
        ax.legend(loc="upper left")
    return fig, (f"Share of frames with at least one slow recognizer call among their first k calls, k = 1..{ks[-1]}, "
                 f"measured [95% CI] vs the independent-calls prediction: {c.rows()}")
def model_vs_sentinel(
    t_s: Sequence[float],
    model_ms: Sequence[float],
    sentinel_ms: Sequence[float],
    *,
    step_at_s: float | None = None,
    step_label: str = "",
    duration_s: float | None = None,
    title: str = "",
) -> tuple[Figure, str]:
    """Block medians of a model and of a sentinel timed beside it, each over its run median, and
    their ratio below; a dashed line where the model's final level starts (``step_at_s``).
    ``t_s`` is each block's start; ``duration_s`` (the run's length, for the alt text)
    defaults to the span of ``t_s``.

    Examples
    --------
    >>> fig, alt = model_vs_sentinel([0, 3, 6], [10, 10, 12], [1, 1, 1], step_at_s=6, step_label="+20%")
    >>> alt
    'Block medians of the model and of the sentinel over 6 s (3 blocks), each divided by its run median: model from 1.00 to 1.20, sentinel from 1.00 to 1.00; the model/sentinel ratio ranges 1.00-1.20'
    """
    t = np.asarray(t_s, dtype=float)
    m, s = np.asarray(model_ms, dtype=float), np.asarray(sentinel_ms, dtype=float)
    if not (t.size == m.size == s.size) or t.size == 0:
        raise ValueError("t_s, model_ms and sentinel_ms need one value per block each")
    series = {"model block median": m, "sentinel block median": s, "model / sentinel": m / s}
    rel = {k: v / np.median(v) for k, v in series.items()}
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(8.0, 5.2), layout="constrained", facecolor=_BG)
        ax1, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
        for i, (ax, (label, v), style) in enumerate(zip((ax1, ax1, ax2), series.items(), ("o-", "s-", "d-"))):
            unit = "" if ax is ax2 else f" (run median {np.median(v):.2f} ms)"
            ax.plot(t, rel[label], style, markersize=3, color=PALETTE[i], label=label + unit)
        for ax in (ax1, ax2):
            ax.axhline(1.0, color="#57606a", linewidth=0.8)
            if step_at_s is not None:
                ax.axvline(step_at_s, color=PALETTE[3], linestyle="--",
                           label=f"model step {step_label}".strip() if ax is ax1 else None)
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax1.set_ylabel("block median / run median")
        ax1.set_title(title or "Model and sentinel, block by block")
        ax2.set_ylabel("ratio / run median")
        ax2.set_xlabel("time since the start of the run (s)")
    (m_rel, s_rel, r_rel), span = rel.values(), float(t[-1] - t[0]) if duration_s is None else duration_s
    alt = (f"Block medians of the model and of the sentinel over {span:.0f} s ({_count(t.size, 'block')}), each "
           f"divided by its run median: model from {m_rel.min():.2f} to {m_rel.max():.2f}, sentinel from "
           f"{s_rel.min():.2f} to {s_rel.max():.2f}; the model/sentinel ratio ranges {r_rel.min():.2f}-{r_rel.max():.2f}")
    return fig, alt


def signals(t_s: Sequence[float], series: Mapping[str, Sequence[float | None]], *,
            title: str = "Machine signals during the run") -> tuple[Figure, str]:
    """Machine signals against time, one panel per signal (keyed by its axis label, unit included);
    None values (a sample that lacked the signal) are skipped.

    Examples
    --------
    >>> signals([0, 1, 2], {"hottest thermal zone (°C)": [40, None, 55]})[1]
    'Machine signals sampled 3 times over 2 s: hottest thermal zone (°C) from 40 to 55'
    """
    if not series:
        raise ValueError("series is empty: no signal to plot")
    parts = []
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(8.0, 2.0 + 1.6 * len(series)), layout="constrained", facecolor=_BG)
        axes = np.atleast_1d(fig.subplots(len(series), 1, sharex=True))
        for ax, (label, ys) in zip(axes, series.items()):
            pts = np.array([(t, y) for t, y in zip(t_s, ys) if y is not None], dtype=float).reshape(-1, 2)
            ax.plot(pts[:, 0], pts[:, 1], "o-", markersize=3, color=PALETTE[3])
            ax.set_ylabel(label, fontsize=8)
            if len(pts):
                parts.append(f"{label} from {pts[:, 1].min():.4g} to {pts[:, 1].max():.4g}")
        axes[-1].set_xlabel("time since the start of the run (s)")
        axes[0].set_title(title)
    span = float(max(t_s) - min(t_s))
    return fig, f"Machine signals sampled {len(t_s)} times over {span:.0f} s: " + "; ".join(parts)


def ranked_bars(values: Mapping[str, float], shares: Sequence[float], *, what: str, ylabel: str,
                title: str = "", unit: str = "ms") -> tuple[Figure, str]:
    """Horizontal bars, largest on top, each labelled with its value and its share of the total.

    ``values`` is in display order (largest first); ``what`` names the x axis without its
    unit and starts the alt text.

    Examples
    --------
    >>> ranked_bars({"Conv": 8.0, "Add": 2.0}, [0.8, 0.2], what="mean time per inference", ylabel="operator type")[1]
    'Mean time per inference by operator type: Conv 8.00 ms (80%); Add 2.00 ms (20%)'
    """
    if not values or len(shares) != len(values):
        raise ValueError("values must be non-empty, with one share per value")
    names, v = list(values)[::-1], np.asarray(list(values.values()), dtype=float)[::-1]
    with matplotlib.rc_context(STYLE):
        fig, ax = _new_figure((7.5, 0.35 * len(names) + 1.8))
        ax.barh(names, v, color=PALETTE[0])
        for y, (x, s) in enumerate(zip(v, list(shares)[::-1])):
            ax.text(x, y, f" {x:.2f} {unit} ({s:.0%})", va="center", fontsize=8)
        ax.set(xlim=(0, v.max() * 1.3), xlabel=f"{what} ({unit})", ylabel=ylabel, title=title)
    return fig, f"{what[:1].upper()}{what[1:]} by {ylabel}: " + "; ".join(
        f"{k} {x:.2f} {unit} ({s:.0%})" for k, x, s in zip(values, values.values(), shares))


def paired_bars(labels: Sequence[str], a: Sequence[float], b: Sequence[float], *, label_a: str, label_b: str,
                what: str, ylabel: str, unit: str = "ms", title: str = "") -> tuple[Figure, str]:
    """Two horizontal bars per label (``a`` in blue, ``b`` in vermilion above it), first label on top;
    ``what`` names the x axis without its unit.

    Examples
    --------
    >>> paired_bars(["Conv"], [1.0], [1.5], label_a="median", label_b="slow", what="time", ylabel="operator type")[1]
    'Per operator type, time in median against slow: Conv 1.00 to 1.50 ms'
    """
    if not (len(labels) == len(a) == len(b)) or len(labels) == 0:
        raise ValueError("labels, a and b need one value per label each")
    y = np.arange(len(labels))
    with matplotlib.rc_context(STYLE):
        fig, ax = _new_figure((8.0, 0.45 * len(labels) + 1.9))
        ax.barh(y - 0.2, list(a)[::-1], height=0.4, color=PALETTE[0], label=label_a)
        ax.barh(y + 0.2, list(b)[::-1], height=0.4, color=PALETTE[3], label=label_b)
        ax.set_yticks(y, list(labels)[::-1])
        ax.set(xlabel=f"{what} ({unit})", ylabel=ylabel, title=title)
        ax.legend(loc="lower right")
    return fig, f"Per {ylabel}, {what} in {label_a} against {label_b}: " + "; ".join(
        f"{k} {x:.2f} to {z:.2f} {unit}" for k, x, z in zip(labels, a, b))


def memory_steps(steps: Mapping[str, Any], *, budget_mb: float | None = None,
                 title: str = "Resident memory of a fresh process, step by step") -> tuple[Figure, str]:
    """Resident memory after each step of a fresh process, one bar group per step and one bar per
    variant, with the peak so far as a tick and the budget as a line.

    ``steps`` maps a variant (e.g. "arena on") to a table indexed by step with columns
    ``rss_mb`` and ``peak_rss_mb`` (what :func:`edgetiming.measure.profile.fresh_process_memory`
    returns); every variant has the same steps.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"rss_mb": [50.0, 80.0], "peak_rss_mb": [50.0, 90.0]}, index=["imports", "run"])
    >>> memory_steps({"arena on": t}, budget_mb=512)[1]
    'Resident memory of a fresh process after each step: arena on: imports 50 MiB, run 80 MiB, peak 90 MiB; budget 512 MiB'
    """
    import textwrap  # stdlib; imported here so that this late addition leaves the module header alone

    if not steps:
        raise ValueError("steps is empty")
    first = next(iter(steps.values()))
    names = [str(s) for s in first.index]
    x, width = np.arange(len(names)), 0.76 / len(steps)
    with matplotlib.rc_context(STYLE):
        fig, ax = _new_figure((8.0, 4.2))
        for j, (k, d) in enumerate(steps.items()):
            pos = x + (j - (len(steps) - 1) / 2) * width
            ax.bar(pos, d["rss_mb"], width=width, color=PALETTE[j % len(PALETTE)], label=f"resident memory, {k}")
            ax.plot(pos, d["peak_rss_mb"], "_", markersize=18, markeredgewidth=2, color=PALETTE[3],
                    label="peak so far" if j == 0 else None)
        if budget_mb is not None:
            ax.axhline(budget_mb, color=_TEXT, linestyle="-.", linewidth=1.0, label=f"budget {budget_mb:g} MiB")
        ax.set_xticks(x, [textwrap.fill(s, 12) for s in names])
        ax.set(ylabel="memory (MiB)", xlabel="step in a fresh process", title=title)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    alt = "Resident memory of a fresh process after each step: " + "; ".join(
        f"{k}: " + ", ".join(f"{s} {r:.0f} MiB" for s, r in zip(names, d["rss_mb"]))
        + f", peak {float(np.max(d['peak_rss_mb'])):.0f} MiB" for k, d in steps.items())
    return fig, alt + (f"; budget {budget_mb:g} MiB" if budget_mb is not None else "")


@dataclass(frozen=True)
class AccuracyPanel:
    """One model's panel of :func:`latency_accuracy`.

    ``points`` holds ``(variant, estimate, accuracy, size_mb)`` per variant, the estimate with
    ``value``, ``lower`` and ``upper`` in ms (a ``RepeatedEstimate``) and the accuracy a fraction;
    ``metric`` names the accuracy in the alt text; ``guardrail`` is drawn as a dashed line.
    """

    title: str
    metric: str
    ylabel: str
    guardrail: float
    higher_is_better: bool
    points: Sequence[tuple[str, Any, float, float]]


def latency_accuracy(panels: Sequence[AccuracyPanel]) -> tuple[Figure, str]:
    """Latency against accuracy, one panel per model: each variant's P50 with its interval, the
    marker's area proportional to the model file's size, and the accuracy guardrail.

    Examples
    --------
    >>> from types import SimpleNamespace as E
    >>> p = AccuracyPanel("rec", "CER", "CER", 0.02, False, [("fp32", E(value=5.0, lower=4.8, upper=5.3), 0.01, 9.0)])
    >>> latency_accuracy([p])[1]
    'Latency-accuracy trade-off (marker area ~ model size): rec fp32: P50 5.00 ms, CER 0.010, 9.0 MB; guardrails rec CER <= 0.02'
    """
    if not panels:
        raise ValueError("panels is empty")
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(9.0, 4.0), layout="constrained")
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        parts = []
        for ax, panel in zip(axes, panels):
            for i, (variant, q, y, mb) in enumerate(panel.points):
                color = PALETTE[i % len(PALETTE)]
                ax.errorbar([q.value], [y], xerr=[[q.value - q.lower], [q.upper - q.value]], fmt="none",
                            ecolor=color, capsize=3)
                ax.scatter([q.value], [y], s=25 + 12 * mb, color=color, edgecolor=_TEXT, alpha=0.85, zorder=3)
                ax.plot([], [], "o", color=color, markeredgecolor=_TEXT, label=f"{variant} ({mb:.1f} MB)")
                parts.append(f"{panel.title} {variant}: P50 {q.value:.2f} ms, {panel.metric} {y:.3f}, {mb:.1f} MB")
            ax.axhline(panel.guardrail, color=_MISS, linestyle="--", linewidth=1.2, label="guardrail")
            ys = [y for _, _, y, _ in panel.points]
            if panel.higher_is_better:
                ax.set_ylim(min(0.5, min(ys, default=1.0) - 0.05), 1.02)
            else:
                worst = max(ys, default=0.0)
                ax.set_ylim(*((-0.03, 1.05) if worst > 0.3
                              else (-0.005, max(0.1, panel.guardrail * 1.5, worst * 1.3))))
            ax.set_ylabel(panel.ylabel)
            ax.set_xlim(left=0)
            ax.set_xlabel("P50 latency (ms), 95% CI")
            ax.set_title(f"{panel.title}: latency against accuracy")
            ax.legend(loc="best", fontsize=8)
    rails = ", ".join(f"{p.title} {p.metric} {'>=' if p.higher_is_better else '<='} {p.guardrail:.3g}" for p in panels)
    return fig, "Latency-accuracy trade-off (marker area ~ model size): " + "; ".join(parts) + f"; guardrails {rails}"




def load_curve(
    loads: Sequence[float],
    curves: Sequence[tuple[str, Sequence[Any], str, str]],
    *,
    lines: Sequence[tuple[str, float, str]] = (),
    deadline_ms: float | None = None,
    quantity: str = "P99",
    xlabel: str = "offered load (fraction of capacity)",
    title: str = "",
) -> tuple[Figure, str]:
    """A percentile against offered load, one curve per arm with its interval as error bars.

    ``curves`` holds ``(label, estimates, colour, fmt)`` with one estimate in ms per load
    (anything with ``value``, ``lower`` and ``upper``; an unbounded upper end is drawn
    to 1e6 ms); ``lines`` holds ``(label, value_ms, colour)`` drawn as dotted horizontal
    lines (a closed-loop reference), and ``deadline_ms`` a dash-dot one. Log y axis.

    Examples
    --------
    >>> from types import SimpleNamespace as E
    >>> est = [E(value=2.0, lower=1.5, upper=2.5), E(value=4.0, lower=3.0, upper=float("inf"))]
    >>> load_curve([0.3, 0.8], [("poisson", est, PALETTE[0], "o-")], lines=[("closed", 1.5, PALETTE[1])],
    ...            title="P99 as load rises")[1]
    'P99 as load rises: poisson: 30% 2.00 ms, 80% 4.00 ms; closed 1.50 ms'
    """
    parts = []
    with matplotlib.rc_context(STYLE):
        fig, ax = _new_figure((8.0, 4.5))
        for label, est, color, fmt in curves:
            ys = [e.value for e in est]
            ax.errorbar(loads, ys, yerr=[[y - e.lower for y, e in zip(ys, est)],
                                         [min(e.upper, 1e6) - y for y, e in zip(ys, est)]],
                        fmt=fmt, color=color, capsize=3, label=label)
            parts.append(f"{label}: " + ", ".join(f"{lv:.0%} {y:.2f} ms" for lv, y in zip(loads, ys)))
        for label, y, color in lines:
            ax.axhline(y, color=color, linestyle=":", linewidth=1.2, label=label)
            parts.append(f"{label} {y:.2f} ms")
        if deadline_ms is not None:
            ax.axhline(deadline_ms, color=_TEXT, linestyle="-.", linewidth=1.0, label=f"deadline {deadline_ms:g} ms")
            parts.append(f"deadline {deadline_ms:g} ms")
        ax.set_yscale("log")
        log_ticks(ax)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"response time {quantity} (ms, log scale)")
        ax.set_title(title or f"{quantity} response time as the load rises")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return fig, f"{title or quantity + ' against offered load'}: " + "; ".join(parts)


def stall_timelines(
    panels: Sequence[tuple[str, ArrayLike, int, str]],
    *,
    stall_ms: float,
    percentile: float = 0.99,
    deadline_ms: float | None = None,
    note: str = "",
) -> tuple[Figure, str]:
    """Latency in order, one panel per loop, around one injected stall (coordinated omission).

    ``panels`` holds ``(title, latency_ns, stall_index, xlabel)``; each panel marks the
    stalled sample and counts the samples at least half the stall long. ``note`` ends the alt text.

    Examples
    --------
    >>> x = np.full(100, 2_000_000); x[50:60] = 150_000_000
    >>> stall_timelines([("Open loop", x, 49, "request")], stall_ms=200.0)[1]
    'Latency per request with one injected 200 ms stall in the middle of each run. Open loop: P50 2.00 ms, P99 150.00 ms, 10 delayed by at least 100 ms.'
    """
    name, parts = _name(percentile), []
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(8.0, 2.5 * len(panels)), layout="constrained", facecolor=_BG)
        axes = fig.subplots(len(panels), 1, sharey=True, squeeze=False)[:, 0]
        for i, (ax, (title, latency_ns, at, xlabel)) in enumerate(zip(axes, panels)):
            x = _ms(latency_ns)
            hit = int((x >= stall_ms / 2).sum())
            p50, pq = quantile_ci(x, 0.5).value, quantile_ci(x, percentile).value
            ax.plot(x, ".", markersize=2, color=PALETTE[0 if i == 0 else 3])
            ax.axvline(at, color=PALETTE[4], linestyle="--", linewidth=1.0, label="stall injected")
            if deadline_ms is not None:
                ax.axhline(deadline_ms, color=_TEXT, linestyle="-.", linewidth=1.0, label=f"deadline {deadline_ms:g} ms")
            ax.set_title(f"{title} ({hit} >= {stall_ms / 2:g} ms; {name} {pq:.2f} ms)")
            ax.set_yscale("log")
            log_ticks(ax)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("latency (ms, log)")
            ax.legend(loc="upper right", fontsize=8)
            parts.append(f"{title.split(':')[0]}: P50 {p50:.2f} ms, {name} {pq:.2f} ms, {hit} delayed by at least "
                         f"{stall_ms / 2:g} ms.")
    alt = f"Latency per request with one injected {stall_ms:g} ms stall in the middle of each run. " + " ".join(parts)
    return fig, alt + (f" {note}" if note else "")



_OTHER_CHANGED, _UNCHANGED = "other changed types", "types no level changes"


def stacked_counts(
    panels: Mapping[str, Mapping[str, Mapping[str, int]]],
    *,
    top: int = 6,
    noun: str = "nodes",
    kind: str = "operator type",
    row_name: str = "level",
) -> tuple[Figure, str]:
    """Counts by type as stacked horizontal bars: one panel per group, one bar per row (a level).

    ``panels`` maps a panel (a model) to its rows in order, each row a count per type (a
    :class:`collections.Counter` of operator types). The ``top`` types whose count changes
    most between rows of any panel are coloured, largest change first; the other changed
    types and the types no row changes are one grey block each. Each bar ends with its total.

    Examples
    --------
    >>> from collections import Counter
    >>> rows = {"disable": Counter(Conv=4, Relu=4, Add=2), "extended": Counter(FusedConv=4, Add=2)}
    >>> stacked_counts({"det": rows})[1]
    'Nodes by operator type at each level: det disable: 10 nodes; det extended: 6 nodes'
    """
    change: dict[str, int] = {}
    for rows in panels.values():
        for op in set().union(*rows.values()):
            ks = [c.get(op, 0) for c in rows.values()]
            change[op] = max(change.get(op, 0), max(ks) - min(ks))
    changed = [op for op, d in sorted(change.items(), key=lambda t: (-t[1], t[0])) if d > 0]
    groups = changed[:top] + [_OTHER_CHANGED, _UNCHANGED]
    colors = list(PALETTE[:top]) + ["#8c959f", "#d0d7de"]

    def group_count(c: Mapping[str, int], g: str) -> int:
        if g == _OTHER_CHANGED:
            return sum(v for o, v in c.items() if o in changed[top:])
        if g == _UNCHANGED:
            return sum(v for o, v in c.items() if o not in changed)
        return c.get(g, 0)

    parts = []
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(9.0, 1.3 + 1.6 * len(panels)), layout="constrained", facecolor=_BG)
        axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
        for i, (ax, (panel, rows)) in enumerate(zip(axes, panels.items())):
            for j, (row, c) in enumerate(rows.items()):
                left = 0
                for g, color in zip(groups, colors):
                    k = group_count(c, g)
                    ax.barh(j, k, left=left, color=color, label=g if i == 0 and j == 0 else None)
                    left += k
                ax.text(left, j, f" {left}", va="center", fontsize=8)
                parts.append(f"{panel} {row}: {left} {noun}")
            ax.set_yticks(range(len(rows)), list(rows))
            ax.invert_yaxis()
            ax.set_title(f"{panel}: {noun} by {kind} at each {row_name}")
            ax.set_xlabel(f"{noun} (count)")
        axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return fig, f"{noun.capitalize()} by {kind} at each {row_name}: " + "; ".join(parts)
