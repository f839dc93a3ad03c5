"""Standard latency figures with one shared style and data-derived alt text.

Every function returns ``(fig, alt_text)``: a :class:`matplotlib.figure.Figure`
built without pyplot (no global figure registry, no GUI backend, safe under
Agg and in worker processes) and a sentence describing what the figure shows,
computed from the same numbers it plots. Percentiles are nearest-rank with
exact intervals from :mod:`edgetiming.stats.quantiles`.

The style draws on an opaque light background with dark-grey text, so a PNG
reads the same on a white or a dark page, and uses the Okabe-Ito colour-blind
safe palette. Every axis names its unit.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter
from numpy.typing import ArrayLike

from edgetiming.host.interference import InterferenceTable
from edgetiming.stats.quantiles import (
    LatencySummary,
    format_number,
    min_samples,
    percentile_label,
    quantile_ci,
)
from edgetiming.stats.repeated import RatioEstimate
from edgetiming.stats.validity import INTERFERENCE_LIMIT

__all__ = [
    "PALETTE",
    "STYLE",
    "AccuracyPanel",
    "compare_configs",
    "fanout",
    "histogram",
    "latency_accuracy",
    "log_ticks",
    "memory_steps",
    "model_vs_sentinel",
    "paired_bars",
    "per_process",
    "png_bytes",
    "ranked_bars",
    "round_ratios",
    "stage_distributions",
    "signals",
    "tail_plot",
    "timeline",
    "timeline_with_interference",
    "noise_timeline",
    "use_style",
    "waterfall",
]

_NS_PER_MS = 1e6
# Okabe & Ito (2008) colour-blind safe palette, black left out on purpose.
PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
)
_TEXT, _BG, _MISS = "#24292f", "#f6f8fa", "#D55E00"

STYLE: dict[str, Any] = {
    "figure.facecolor": _BG,
    "savefig.facecolor": _BG,
    "savefig.transparent": False,
    "axes.facecolor": "#ffffff",
    "axes.edgecolor": "#57606a",
    "axes.labelcolor": _TEXT,
    "axes.titlecolor": _TEXT,
    "axes.prop_cycle": matplotlib.cycler(color=list(PALETTE)),
    "axes.grid": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "grid.color": "#d0d7de",
    "grid.linewidth": 0.6,
    "text.color": _TEXT,
    "xtick.color": _TEXT,
    "ytick.color": _TEXT,
    "legend.frameon": True,
    "legend.facecolor": "#ffffff",
    "legend.edgecolor": "#d0d7de",
    "legend.fontsize": 9,
    "font.size": 10,
    "figure.dpi": 100,
    "savefig.dpi": 150,
}


def use_style() -> None:
    """Apply the shared style to matplotlib's global rcParams (for ad-hoc plots
    in recipes; the functions here apply it themselves).

    Examples
    --------
    >>> use_style()
    >>> import matplotlib
    >>> matplotlib.rcParams["savefig.transparent"]
    False
    """
    matplotlib.rcParams.update(STYLE)


def log_ticks(ax: Any, axis: str = "y") -> None:
    """Plain-number ticks at 1, 2 and 5 per decade on a log ``axis`` ("y" or "x")."""
    a = ax.yaxis if axis == "y" else ax.xaxis
    a.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    a.set_major_formatter(FormatStrFormatter("%g"))
    a.set_minor_formatter(NullFormatter())


def png_bytes(fig: Figure, dpi: float | None = None) -> bytes:
    """Render ``fig`` to PNG bytes with the shared (opaque) background."""
    buf = io.BytesIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(buf, format="png", dpi=dpi, facecolor=fig.get_facecolor())
    return buf.getvalue()


def _ms(latency_ns: ArrayLike) -> np.ndarray:
    x = np.asarray(latency_ns, dtype=np.float64).ravel() / _NS_PER_MS
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError("latency_ns must be a non-empty array of finite values")
    return x


def _new_figure(figsize: tuple[float, float] = (7.0, 4.0)) -> tuple[Figure, Any]:
    fig = Figure(figsize=figsize, layout="constrained", facecolor=_BG)
    return fig, fig.subplots()


def _count(k: int, noun: str) -> str:
    return f"{k:,} {noun}" + ("" if k == 1 else "s")


def _name(p: float) -> str:
    return percentile_label(p).upper()


def histogram(
    latency_ns: ArrayLike,
    *,
    percentiles: Sequence[float] = (0.5, 0.99),
    deadline_ms: float | None = None,
    title: str = "",
    confidence: float = 0.95,
) -> tuple[Figure, str]:
    """Histogram of latencies with labelled percentile markers (and deadline).

    The axis stops a little past the largest marker or P99.9; samples beyond
    it are counted in the legend and the alt text.

    Examples
    --------
    >>> import numpy as np
    >>> fig, alt = histogram(np.full(100, 2e6))
    >>> alt
    'Histogram of 100 latency samples; P50 2.00 ms, P99 2.00 ms'
    """
    x = _ms(latency_ns)
    n = x.size
    with matplotlib.rc_context(STYLE):
        fig, ax = _new_figure()
        ests = [quantile_ci(x, p, confidence) for p in percentiles]
        marks = [q.value for q in ests] + ([deadline_ms] if deadline_ms is not None else [])
        view = max(max(marks), quantile_ci(x, 0.999, confidence).value) * 1.05
        view = min(view, float(x.max()))
        shown = x[x <= view]
        beyond = n - shown.size
        edges = np.histogram_bin_edges(shown, bins="auto")
        if edges.size > 201:
            edges = np.linspace(shown.min(), shown.max(), 201)
        ax.hist(shown, bins=edges, color=PALETTE[5], edgecolor=PALETTE[0], linewidth=0.4)
        for i, q in enumerate(ests):
            ax.axvline(
                q.value,
                color=PALETTE[(i + 1) % len(PALETTE)],
                linewidth=1.6,
                label=f"{_name(q.p)} {format_number(q.value)} ms",
            )
        parts = [f"{_name(q.p)} {format_number(q.value)} ms" for q in ests]
        alt = f"Histogram of {n:,} latency samples; " + ", ".join(parts)
        if deadline_ms is not None:
            over = int((x > deadline_ms).sum())
            ax.axvline(
                deadline_ms,
                color=_MISS,
                linestyle="--",
                linewidth=1.4,
                label=f"deadline {format_number(deadline_ms)} ms ({over:,} over)",
            )
            alt += f"; deadline {format_number(deadline_ms)} ms, {over:,} samples ({over / n:.1%}) over it"
        if beyond:
            ax.plot([], [], " ", label=f"{_count(beyond, 'sample')} > {format_number(view)} ms not shown")
            alt += f"; {_count(beyond, 'sample')} above {format_number(view)} ms beyond the axis"
        ax.set_xlabel("latency (ms)")
        ax.set_ylabel("samples (count)")
        ax.set_title(title or f"Latency distribution (n = {n:,})")
        ax.legend(loc="upper right")
    return fig, alt


def tail_plot(
    latency_ns: ArrayLike,
    *,
    percentiles: Sequence[float] = (0.5, 0.9, 0.99, 0.999),
    confidence: float = 0.95,
    deadline_ms: float | None = None,
    title: str = "",
) -> tuple[Figure, str]:
    """Log-scale exceedance plot ``P(latency >= x)`` with an exact CI band.

    The band is, for each exceedance level ``1 - p``, the order-statistic
    confidence interval of the p-quantile; it stops where n is too small for
    a finite upper bound.

    Examples
    --------
    >>> import numpy as np
    >>> fig, alt = tail_plot(np.arange(1, 1001) * 1e6, percentiles=(0.99,))
    >>> alt.split(":")[0]
    'Exceedance plot of 1,000 latency samples on a log scale'
    """
    xs = np.sort(_ms(latency_ns))
    n = xs.size
    with matplotlib.rc_context(STYLE):
        fig, ax = _new_figure()
        exceed = (n - np.arange(n)) / n  # P(X >= x_(k)) for rank k = 1..n
        ax.step(
            xs, exceed, where="pre", color=PALETTE[0], linewidth=1.4, label="empirical exceedance"
        )
        if n >= 2:
            levels = np.unique(np.clip(np.logspace(0, math.log10(1.0 / n), 160), 1e-12, 1))
            band = [quantile_ci(xs, 1.0 - e, confidence) for e in levels if 0 < 1 - e < 1]
            ok = [q for q in band if q.bounded]
            if ok:
                ax.fill_betweenx(
                    [1 - q.p for q in ok],
                    [q.lower for q in ok],
                    [q.upper for q in ok],
                    color=PALETTE[5],
                    alpha=0.3,
                    linewidth=0,
                    label=f"{confidence:.0%} CI (exact)",
                )
        parts, skipped = [], []
        for i, p in enumerate(percentiles):
            if n < min_samples(p, confidence):
                skipped.append(_name(p))
                continue
            q = quantile_ci(xs, p, confidence)
            ax.plot(
                [q.value],
                [1 - p],
                "o",
                color=PALETTE[(i + 1) % len(PALETTE)],
                label=f"{_name(p)} {format_number(q.value)} ms",
            )
            parts.append(
                f"{_name(p)} {format_number(q.value)} ms ({confidence:.0%} CI "
                f"{format_number(q.lower)}-{format_number(q.upper)} ms)"
            )
        alt = (
            f"Exceedance plot of {n:,} latency samples on a log scale: "
            + ("; ".join(parts) if parts else "no percentile has enough samples")
            + f"; largest sample {format_number(float(xs[-1]))} ms"
        )
        if skipped:
            alt += f"; {', '.join(skipped)} not shown (too few samples)"
        if deadline_ms is not None:
            share = float((xs > deadline_ms).mean())
            ax.axvline(
                deadline_ms, color=_MISS, linestyle="--", label=f"deadline {format_number(deadline_ms)} ms"
            )
            alt += f"; {share:.2%} of samples exceed the {format_number(deadline_ms)} ms deadline"
        ax.set_yscale("log")
        ax.set_ylim(0.5 / n, 1.2)
        ax.set_xlabel("latency (ms)")
        ax.set_ylabel("P(latency \u2265 x) (fraction, log scale)")
        ax.set_title(title or "Latency tail (exceedance)")
        ax.legend(loc="upper right")
    return fig, alt


def timeline(
    latency_ns: ArrayLike,
    *,
    warmup_end: int | None = None,
    change_points: Sequence[int] = (),
    deadline_ms: float | None = None,
    title: str = "",
) -> tuple[Figure, str]:
    """Latency against iteration index, with warmup shaded and change points marked.

    Points above 1.5 x P99.9 are drawn at the top edge as triangles so one stall
    does not flatten the plot; a block-median line shows the trend.

    Examples
    --------
    >>> import numpy as np
    >>> fig, alt = timeline(np.r_[np.full(50, 3e6), np.full(950, 1e6)], warmup_end=50)
    >>> "first 50 marked as warmup" in alt
    True
    """
    x = _ms(latency_ns)
    n = x.size
    idx = np.arange(n)
    with matplotlib.rc_context(STYLE):
        fig, ax = _new_figure((8.0, 4.0))
        top = quantile_ci(x, 0.999).value * 1.5 if n > 1 else float(x.max()) * 1.5
        top = max(top, float(np.median(x)) * 1.1, 1e-9)
        clipped = x > top
        ax.plot(
            idx[~clipped],
            x[~clipped],
            ".",
            markersize=2,
            alpha=0.45,
            color=PALETTE[0],
            rasterized=True,
            label="iteration",
        )
        if clipped.any():
            ax.plot(
                idx[clipped],
                np.full(int(clipped.sum()), top),
                "^",
                markersize=4,
                color=_MISS,
                label=f"{int(clipped.sum()):,} above {format_number(top)} ms",
            )
        block = max(1, n // 200)
        nb = n // block
        if nb >= 2:
            med = np.median(x[: nb * block].reshape(nb, block), axis=1)
            ax.plot(
                idx[: nb * block].reshape(nb, block).mean(axis=1),
                med,
                color=PALETTE[1],
                linewidth=1.6,
                label=f"median of {block}-iteration blocks",
            )
        alt = f"Latency of {n:,} iterations in measurement order"
        if warmup_end:
            ax.axvspan(0, warmup_end, color=PALETTE[4], alpha=0.15, label="warmup")
            alt += f"; first {warmup_end:,} marked as warmup"
        cps = [int(c) for c in change_points]
        for j, c in enumerate(cps):
            ax.axvline(
                c,
                color=PALETTE[2],
                linestyle="--",
                linewidth=1.2,
                label="change point" if j == 0 else None,
            )
        if cps:
            alt += "; change points at iterations " + ", ".join(f"{c:,}" for c in cps)
        start = int(warmup_end or 0)
        steady = x[start:] if start < n else x
        alt += f"; median {format_number(quantile_ci(steady, 0.5).value)} ms"
        if start and start < n:
            alt += f" after warmup ({format_number(quantile_ci(x[:start], 0.5).value)} ms during warmup)"
        if deadline_ms is not None:
            over = int((x > deadline_ms).sum())
            ax.axhline(deadline_ms, color=_MISS, linestyle=":", label="deadline")
            alt += f"; {_count(over, 'iteration')} over the {format_number(deadline_ms)} ms deadline"
        if clipped.any():
            alt += (
                f"; {_count(int(clipped.sum()), 'sample')} above {format_number(top)} ms drawn at "
                "the top edge"
            )
        ax.set_ylim(0, top * 1.04)
        ax.set_xlim(0, max(n - 1, 1))
        ax.set_xlabel("iteration (count)")
        ax.set_ylabel("latency (ms)")
        ax.set_title(title or "Latency over time")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), markerscale=2)
    return fig, alt


def _once(seen: set[str], label: str) -> str | None:
    """The label the first time it is asked for, then None (one legend entry each)."""
    if label in seen:
        return None
    seen.add(label)
    return label


def _stage(v: float | tuple[float | None, float] | Sequence[float]) -> tuple[float | None, float]:
    if isinstance(v, (int, float, np.floating, np.integer)):
        return None, float(v)
    budget, measured = v
    return (None if budget is None else float(budget)), float(measured)


def waterfall(
    stages: Mapping[str, float | tuple[float | None, float]],
    *,
    total_budget_ms: float | None = None,
    title: str = "",
) -> tuple[Figure, str]:
    """Per-stage latency waterfall against per-stage budgets, in milliseconds.

    ``stages`` maps a stage name (in pipeline order) to its measured ms, or to a
    ``(budget_ms, measured_ms)`` pair. The last row is the end-to-end total
    against ``total_budget_ms`` (default: the sum of the stage budgets, when
    every stage has one).

    Examples
    --------
    >>> fig, alt = waterfall({"pre": (2.0, 1.5), "detect": (5.0, 6.0)})
    >>> alt
    'Per-stage latency waterfall, total 7.50 ms against a 7.00 ms budget: pre 1.50 ms (budget 2.00 ms), detect 6.00 ms (budget 5.00 ms, over by 1.00 ms)'
    """
    if not stages:
        raise ValueError("stages is empty")
    rows = [(name, *_stage(v)) for name, v in stages.items()]
    total = sum(m for _, _, m in rows)
    budgets = [b for _, b, _ in rows]
    if total_budget_ms is None and all(b is not None for b in budgets):
        total_budget_ms = float(sum(b for b in budgets if b is not None))
    with matplotlib.rc_context(STYLE):
        fig, ax = _new_figure((7.0, 0.6 * len(rows) + 1.8))
        start, parts, seen = 0.0, [], set()
        labels = [name for name, _, _ in rows] + ["total"]
        for i, (name, budget, measured) in enumerate(rows):
            over = budget is not None and measured > budget
            ax.barh(
                i,
                measured,
                left=start,
                color=_MISS if over else PALETTE[0],
                alpha=0.9,
                height=0.6,
                label=_once(seen, "over budget" if over else "measured"),
            )
            text = f"{name} {format_number(measured)} ms"
            if budget is not None:
                ax.barh(
                    i,
                    budget,
                    left=start,
                    fill=False,
                    edgecolor=_TEXT,
                    linestyle="--",
                    linewidth=1.0,
                    height=0.8,
                    label=_once(seen, "budget"),
                )
                text += f" (budget {format_number(budget)} ms" + (
                    f", over by {format_number(measured - budget)} ms)" if over else ")"
                )
            ax.text(start + measured, i, f" {format_number(measured)}", va="center", fontsize=8)
            parts.append(text)
            start += measured
        t = len(rows)
        ax.barh(t, total, color=PALETTE[2], height=0.6, label="end-to-end")
        ax.text(total, t, f" {format_number(total)}", va="center", fontsize=8)
        head = f"Per-stage latency waterfall, total {format_number(total)} ms"
        if total_budget_ms is not None:
            ax.axvline(
                total_budget_ms,
                color=_MISS if total > total_budget_ms else PALETTE[2],
                linestyle=":",
                linewidth=1.4,
                label=f"budget {format_number(total_budget_ms)} ms",
            )
            head += f" against a {format_number(total_budget_ms)} ms budget"
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ends = [total, start] + ([total_budget_ms] if total_budget_ms is not None else [])
        offset = 0.0
        for _, budget, measured in rows:  # a dashed budget box may reach past the bars
            ends.append(offset + (budget or 0.0))
            offset += measured
        ax.set_xlim(0, max(ends) * 1.08)
        ax.set_yticks(range(len(labels)), labels)
        ax.invert_yaxis()
        ax.set_xlabel("cumulative latency (ms)")
        ax.set_ylabel("stage")
        ax.set_title(title or "Latency budget per stage")
    return fig, head + ": " + ", ".join(parts)


def compare_configs(
    summaries: Mapping[str, LatencySummary],
    percentile: float = 0.99,
    *,
    deadline_ms: float | None = None,
    title: str = "",
) -> tuple[Figure, str]:
    """One percentile of several configurations with their confidence intervals.

    Invalid estimates (n below :func:`~edgetiming.stats.quantiles.min_samples`) are drawn
    hollow and labelled invalid, never dropped; an unbounded upper end is drawn
    as an arrow to the edge.

    Examples
    --------
    >>> import numpy as np
    >>> from edgetiming.stats.quantiles import summarize
    >>> s = {"fp32": summarize(np.full(1000, 4e6)), "int8": summarize(np.full(1000, 2e6))}
    >>> compare_configs(s)[1]
    'P99 latency of 2 configurations with 95% confidence intervals: fp32 4.00 ms [4.00, 4.00]; int8 2.00 ms [2.00, 2.00]'
    """
    if not summaries:
        raise ValueError("summaries is empty")
    name = _name(percentile)
    items = [(label, s.estimate(percentile)) for label, s in summaries.items()]
    conf = items[0][1].confidence
    with matplotlib.rc_context(STYLE):
        fig, ax = _new_figure((7.0, 0.55 * len(items) + 1.8))
        finite_hi = [q.upper for _, q in items if math.isfinite(q.upper)]
        right = max(finite_hi + [q.value for _, q in items]) * 1.15
        parts, ylabels = [], []
        for i, (label, q) in enumerate(items):
            color = PALETTE[i % len(PALETTE)]
            lo = q.lower if math.isfinite(q.lower) else 0.0
            hi = q.upper if math.isfinite(q.upper) else right
            ax.plot([lo, hi], [i, i], color=color, linewidth=2.2, solid_capstyle="butt")
            if not math.isfinite(q.upper):
                ax.plot([right], [i], ">", color=color, markersize=7)
            ax.plot(
                [q.value],
                [i],
                "o",
                markersize=7,
                color=color,
                markerfacecolor=color if q.valid else "white",
            )
            text = f"{label} {format_number(q.value)} ms [{format_number(q.lower)}, {format_number(q.upper)}]"
            tick = label
            if not q.valid:
                need = min_samples(q.p, q.confidence)
                text += f" (invalid: n={q.n:,} < {need:,})"
                tick += f"\n(invalid: n={q.n:,} < {need:,})"
            parts.append(text)
            ylabels.append(tick)
        alt = (
            f"{name} latency of {len(items)} configurations with {conf:.0%} confidence "
            "intervals: " + "; ".join(parts)
        )
        if deadline_ms is not None:
            ax.axvline(
                deadline_ms, color=_MISS, linestyle="--", label=f"deadline {format_number(deadline_ms)} ms"
            )
            ax.legend(loc="lower right")
            alt += f"; deadline {format_number(deadline_ms)} ms"
            right = max(right, deadline_ms * 1.1)
        ax.set_yticks(range(len(items)), ylabels)
        ax.invert_yaxis()
        ax.set_xlim(0, right * 1.03)
        ax.set_xlabel(f"{name} latency (ms), {conf:.0%} CI")
        ax.set_ylabel("configuration")
        ax.set_title(title or f"{name} latency by configuration")
    return fig, alt


def _sample_times_ns(latency_ns: np.ndarray, table: InterferenceTable) -> np.ndarray:
    """End time of each closed-loop call: its block's start plus the calls before it in the block."""
    t = np.full(latency_ns.size, np.nan)
    for a, b, t0 in zip(table.iter_start.tolist(), table.iter_end.tolist(), table.t_start_ns.tolist()):
        b = min(b, latency_ns.size)
        if b > a:
            t[a:b] = t0 + np.cumsum(latency_ns[a:b], dtype=np.float64)
    return t


def timeline_with_interference(
    latency_ns: ArrayLike,
    table: InterferenceTable,
    *,
    sample_times_ns: ArrayLike | None = None,
    warmup_end: int | None = None,
    deadline_ms: float | None = None,
    limit: float = INTERFERENCE_LIMIT,
    title: str = "",
) -> tuple[Figure, str]:
    """Latency over time with the interference strip under it, on one time axis (s).

    ``table`` is a run's :class:`~edgetiming.host.interference.InterferenceTable`
    (``run.interference``). For a closed loop the time of each sample is its block's
    start plus the latencies before it in the block (the loop's own cost between
    calls, tens of ns, is left out); an open loop passes ``sample_times_ns`` (e.g.
    ``run.t0_ns + run.intended_ns``), on the same ``perf_counter_ns`` clock. The
    strip shows, per block, the share of the measured CPUs other work held, with
    the validity limit as a dashed line.

    Examples
    --------
    >>> import numpy as np
    >>> from edgetiming.host.interference import InterferenceTable
    >>> cols = {"t_start_ns": np.array([0, 10_000_000]), "t_end_ns": np.array([10_000_000, 20_000_000]),
    ...         "iter_start": np.array([0, 10]), "iter_end": np.array([10, 20]),
    ...         "busy_share": np.array([0.0, 0.5]), "others_cpu_s": np.array([0.0, 0.01]),
    ...         "involuntary_ctxt": np.array([0, 3])}
    >>> fig, alt = timeline_with_interference(np.full(20, 1e6), InterferenceTable(cols, [0, 1], {"proc_stat": True}))
    >>> alt.split(";")[1].strip()
    'other work held the measured CPUs for 25% of the run (limit 10%), at most 50% in one block'
    """
    x_all = np.asarray(latency_ns, dtype=np.float64).ravel()
    if x_all.size == 0 or table.n_blocks == 0:
        raise ValueError("latency_ns and the interference table must both be non-empty")
    t_ns = (np.asarray(sample_times_ns, dtype=np.float64).ravel() if sample_times_ns is not None
            else _sample_times_ns(x_all, table))
    if t_ns.size != x_all.size:
        raise ValueError(f"sample_times_ns has {t_ns.size} entries for {x_all.size} samples")
    origin = float(table.t_start_ns[0])
    keep = np.isfinite(t_ns) & np.isfinite(x_all)
    ts, x = (t_ns[keep] - origin) / 1e9, x_all[keep] / _NS_PER_MS
    t0 = (table.t_start_ns.astype(np.float64) - origin) / 1e9
    t1 = (table.t_end_ns.astype(np.float64) - origin) / 1e9
    share = np.nan_to_num(np.asarray(table.columns["busy_share"], dtype=np.float64), nan=0.0)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(8.0, 5.0), layout="constrained", facecolor=_BG)
        ax, strip = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
        top = max(quantile_ci(x, 0.999).value * 1.5 if x.size > 1 else float(x.max()) * 1.5,
                  float(np.median(x)) * 1.1, 1e-9)
        clipped = x > top
        ax.plot(ts[~clipped], x[~clipped], ".", markersize=2, alpha=0.45, color=PALETTE[0],
                rasterized=True, label="call")
        if clipped.any():
            ax.plot(ts[clipped], np.full(int(clipped.sum()), top), "^", markersize=4, color=_MISS,
                    label=f"{int(clipped.sum()):,} above {format_number(top)} ms")
        if warmup_end and sample_times_ns is None and warmup_end < x_all.size:
            w = (t_ns[warmup_end] - origin) / 1e9
            if np.isfinite(w):
                ax.axvspan(float(t0[0]), float(w), color=PALETTE[4], alpha=0.15, label="warmup")
        if deadline_ms is not None:
            ax.axhline(deadline_ms, color=_MISS, linestyle=":", label="deadline")
        ax.set_ylim(0, top * 1.04)
        ax.set_ylabel("latency (ms)")
        ax.set_title(title or "Latency over time, with what else the machine was doing")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), markerscale=2)
        over = share > limit
        strip.bar(t0, share * 100, width=t1 - t0, align="edge", color=np.where(over, _MISS, PALETTE[5]),
                  edgecolor="none", label="other work (% of measured CPUs)")
        strip.axhline(limit * 100, color=_TEXT, linestyle="--", linewidth=1.0,
                      label=f"limit {limit:.0%}")
        strip.set_ylim(0, 100)
        strip.set_xlim(float(t0[0]), float(t1[-1]))
        strip.set_ylabel("busy (%)")
        strip.set_xlabel("time since the start of the run (s)")
        strip.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        bs = table.busy_share
        alt = f"Latency of {x.size:,} calls over {float(t1[-1] - t0[0]):.1f} s, median {format_number(float(np.median(x)))} ms"
        if bs is None:
            alt += "; interference not available on this machine"
        else:
            alt += (f"; other work held the measured CPUs for {bs:.0%} of the run (limit {limit:.0%}), "
                    f"at most {float(share.max()):.0%} in one block")
            if over.any():
                alt += f"; {int(over.sum())} of {share.size} blocks over the limit, drawn in red"
        if "involuntary_ctxt" in table.columns:
            inv = int(np.clip(table.involuntary_ctxt, 0, None).sum())
            alt += f"; {inv:,} involuntary context switches of the measuring thread"
        if clipped.any():
            alt += f"; {_count(int(clipped.sum()), 'call')} above {format_number(top)} ms drawn at the top edge"
    return fig, alt


def noise_timeline(
    latency: Mapping[str, tuple[ArrayLike, ArrayLike]],
    per_sentinel: Mapping[str, tuple[ArrayLike, ArrayLike]],
    busy: tuple[ArrayLike, ArrayLike, ArrayLike],
    *,
    deadline_ms: float | None = None,
    limit: float = INTERFERENCE_LIMIT,
    title: str = "",
) -> tuple[Figure, str]:
    """A measurement and the machine beside it, on one time axis (s): three rows.

    - ``latency[label] = (t_s, ms)``: every call of each configuration, as dots;
    - ``per_sentinel[label] = (t_s, ratio)``: each block's model median / the median of the
      sentinel calls after it (the model in sentinel units: flat when only the machine moved);
    - ``busy = (t0_s, t1_s, share)``: per block, the share of the measured CPUs other work
      held (NaN where unknown), with ``limit`` dashed.

    :func:`edgetiming.measure.noise.figure` builds these from runs or rounds.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(100) * 0.01
    >>> fig, alt = noise_timeline({"model": (t, np.full(100, 2.0))}, {"model": (t[::10], np.full(10, 1.9))},
    ...                           (t[::10], t[::10] + 0.1, np.full(10, 0.02)))
    >>> alt.split("; ")[1]
    'in sentinel units model ran at 1.90x the sentinel (1.90-1.90x over 10 blocks)'
    """
    if not latency or not busy or np.asarray(busy[0]).size == 0:
        raise ValueError("noise_timeline needs latency samples and at least one block of telemetry")
    t0 = np.asarray(busy[0], dtype=np.float64)
    t1 = np.asarray(busy[1], dtype=np.float64)
    share = np.asarray(busy[2], dtype=np.float64)
    all_ms = np.concatenate([np.asarray(v[1], dtype=np.float64).ravel() for v in latency.values()])
    all_ms = all_ms[np.isfinite(all_ms)]
    top = max(quantile_ci(all_ms, 0.999).value * 1.5 if all_ms.size > 1 else float(all_ms.max()) * 1.5,
              float(np.median(all_ms)) * 1.1, 1e-9)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(8.0, 6.0), layout="constrained", facecolor=_BG)
        ax, rax, strip = fig.subplots(3, 1, sharex=True, height_ratios=(3, 1.6, 1))
        clipped_total = 0
        for i, (label, (ts, ms)) in enumerate(latency.items()):
            ts, ms = np.asarray(ts, dtype=np.float64), np.asarray(ms, dtype=np.float64)
            clip = ms > top
            clipped_total += int(clip.sum())
            ax.plot(ts[~clip], ms[~clip], ".", markersize=2, alpha=0.4, color=PALETTE[i % len(PALETTE)],
                    rasterized=True, label=label)
            if clip.any():
                ax.plot(ts[clip], np.full(int(clip.sum()), top), "^", markersize=4, color=PALETTE[i % len(PALETTE)])
        if deadline_ms is not None:
            ax.axhline(deadline_ms, color=_MISS, linestyle=":", label="deadline")
        ax.set_ylim(0, top * 1.04)
        ax.set_ylabel("latency (ms)")
        ax.set_title(title or "Latency, the model in sentinel units, and other work on the machine")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), markerscale=3)
        ratio_text = []
        for i, (label, (ts, r)) in enumerate(per_sentinel.items()):
            ts, r = np.asarray(ts, dtype=np.float64), np.asarray(r, dtype=np.float64)
            keep = np.isfinite(ts) & np.isfinite(r)
            if not keep.any():
                continue
            rax.plot(ts[keep], r[keep], "o", markersize=3, color=PALETTE[i % len(PALETTE)], label=label)
            med = float(np.median(r[keep]))
            ratio_text.append(f"{label} ran at {format_number(med)}x the sentinel ({format_number(float(r[keep].min()))}"
                              f"-{format_number(float(r[keep].max()))}x over {int(keep.sum())} blocks)")
        rax.set_ylabel("x sentinel")
        rax.set_ylim(bottom=0)
        over = np.nan_to_num(share, nan=0.0) > limit
        strip.bar(t0, np.nan_to_num(share, nan=0.0) * 100, width=t1 - t0, align="edge",
                  color=np.where(over, _MISS, PALETTE[5]), edgecolor="none", label="other work")
        strip.axhline(limit * 100, color=_TEXT, linestyle="--", linewidth=1.0, label=f"limit {limit:.0%}")
        strip.set_ylim(0, 100)
        strip.set_ylabel("busy (%)")
        strip.set_xlabel("time since the first block (s)")
        strip.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        span = float(np.nanmax(t1) - np.nanmin(t0))
        alt = (f"{all_ms.size:,} calls of {_count(len(latency), 'configuration')} over {span:.1f} s, median "
               f"{format_number(float(np.median(all_ms)))} ms")
        alt += "; " + ("in sentinel units " + ", ".join(ratio_text) if ratio_text else "no sentinel was timed")
        known = np.isfinite(share)
        if not known.any():
            alt += "; interference not available on this machine"
        else:
            alt += (f"; other work held at most {float(share[known].max()):.0%} of the measured CPUs in one block "
                    f"(limit {limit:.0%})")
            if over.any():
                alt += f", {int(over.sum())} of {share.size} blocks over the limit, drawn in red"
        if clipped_total:
            alt += f"; {_count(clipped_total, 'call')} above {format_number(top)} ms drawn at the top edge"
    return fig, alt


def per_process(
    values_ms: Mapping[str, Mapping[str, ArrayLike]],
    *,
    title: str = "",
    threshold_ms: float | None = None,
    threshold_label: str = "",
    seed: int = 0,
) -> tuple[Figure, str]:
    """One dot per fresh process for each phase (x) and variant (colour), a bar at the median, log y.

    ``values_ms[variant][phase]`` holds one value per process in ms (NaN where the
    phase did not happen, e.g. never steady); zeros are drawn at 0.1 ms.

    Examples
    --------
    >>> fig, alt = per_process({"a": {"create": [10.0, 12.0], "first": [3.0, 4.0]}})
    >>> alt
    'One dot per fresh process, bar at the median: a: create median 11 ms, first median 3.5 ms'
    """
    variants = list(values_ms)
    phases = list(dict.fromkeys(ph for v in variants for ph in values_ms[v]))
    width = 0.8 / max(len(variants), 1)
    rng = np.random.default_rng(seed)
    parts = []
    with matplotlib.rc_context(STYLE):
        fig, ax = _new_figure((max(7.0, 1.2 * len(phases) + 3.0), 4.8))
        for j, v in enumerate(variants):
            color = PALETTE[j % len(PALETTE)]
            meds = []
            for i, ph in enumerate(phases):
                x = np.asarray(values_ms[v].get(ph, []), dtype=float)
                x = np.maximum(x[np.isfinite(x)], 0.1)
                if not x.size:
                    continue
                pos = i - 0.4 + width * (j + 0.5)
                ax.plot(pos + rng.uniform(-width / 4, width / 4, x.size), x, "o", markersize=3.5, alpha=0.7,
                        color=color, label=v if not meds else None)
                med = float(np.median(x))
                ax.plot([pos - width / 2.5, pos + width / 2.5], [med, med], "-", color=color, linewidth=2.2)
                meds.append(f"{ph} median {med:.3g} ms")
            parts.append(f"{v}: " + ", ".join(meds))
        if threshold_ms is not None:
            ax.axhline(threshold_ms, color=PALETTE[5 % len(PALETTE)], linestyle="--", linewidth=1.0,
                       label=threshold_label or f"{threshold_ms:g} ms")
        ax.set_yscale("log")
        log_ticks(ax)
        ax.set_xticks(range(len(phases)), phases, rotation=20, ha="right")
        ax.set_ylabel("time (ms, log scale)")
        ax.set_title(title or "One dot per fresh process, bar = median")
        ax.legend(loc="upper left", fontsize=8)
    return fig, "One dot per fresh process, bar at the median: " + "; ".join(parts)


def round_ratios(
    ratios: Mapping[str, RatioEstimate],
    aa: RatioEstimate | None = None,
    *,
    quantity: str = "P50",
    title: str = "",
) -> tuple[Figure, str]:
    """Paired ratios to a baseline: one dot per round, the ratio with its interval over rounds,
    and the A/A ratio's interval as a grey band (the run's noise floor); log scale, 1 marked.

    Examples
    --------
    >>> from edgetiming.stats.repeated import paired_ratio
    >>> aa = paired_ratio([10, 11, 10, 12, 10], [10.1, 11.2, 9.8, 12.1, 10])
    >>> round_ratios({"int8": paired_ratio([10, 11, 10, 12, 10], [15, 16, 15, 18, 15])}, aa)[1][:60]
    'P50 ratio to the baseline per round (5 rounds) with 95% inte'
    """
    if not ratios:
        raise ValueError("ratios is empty")
    items = list(ratios.items()) + ([("A/A (baseline twice)", aa)] if aa is not None else [])
    rounds = max(r.rounds for _, r in items)
    conf = items[0][1].interval.confidence
    with matplotlib.rc_context(STYLE):
        fig, ax = _new_figure((7.0, 0.5 * len(items) + 1.9))
        if aa is not None and aa.interval.known:
            ax.axvspan(aa.interval.lower, aa.interval.upper, color="#d0d7de", alpha=0.6, zorder=0,
                       label=f"A/A {conf:.0%} interval (noise floor)")
        ax.axvline(1.0, color="#57606a", linewidth=1.0, zorder=1)
        parts, values = [], []
        for i, (label, r) in enumerate(items):
            color = "#57606a" if r is aa else PALETTE[i % len(PALETTE)]
            ax.plot(r.per_round, [i] * r.rounds, "o", color=color, alpha=0.45, markersize=5,
                    label="one round" if i == 0 else None)
            iv = r.interval
            if iv.known:
                ax.plot([iv.lower, iv.upper], [i, i], color=color, linewidth=2.4, solid_capstyle="butt")
                values += [iv.lower, iv.upper]
            ax.plot([r.ratio], [i], "D", color=color, markersize=7, markeredgecolor=_TEXT)
            values += [r.ratio, *r.per_round]
            span = f"[{iv.lower:.3g}, {iv.upper:.3g}]" if iv.known else "[unknown]"
            parts.append(f"{label} {r.ratio:.3g} {span} ({r.direction})")
        ax.set_xscale("log")
        lo, hi = min(values + [1.0]), max(values + [1.0])
        ax.set_xlim(lo / 1.08, hi * 1.08)
        log_ticks(ax, "x")
        ax.set_yticks(range(len(items)), [label for label, _ in items])
        ax.invert_yaxis()
        ax.set_xlabel(f"{quantity} ratio to the baseline (log scale; below 1 is faster)")
        ax.set_title(title or f"{quantity} ratio to the baseline, per round")
        ax.legend(loc="best", fontsize=8)
    alt = (f"{quantity} ratio to the baseline per round ({rounds} rounds) with {conf:.0%} intervals over rounds: "
           + "; ".join(parts))
    return fig, alt


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


__all__ += ["load_curve", "stall_timelines"]


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


__all__ += ["stacked_counts"]

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
