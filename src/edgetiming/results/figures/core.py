"""The standard latency figures and the one shared style (re-exported by :mod:`edgetiming.results.figures`).

Distributions (histogram, tail, timeline), per-stage waterfalls, configuration
comparisons, ratios per round, per-process phases, and the machine's noise beside a
measurement (interference strip, sentinel units).
"""


from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
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
    "compare_configs",
    "histogram",
    "log_ticks",
    "per_process",
    "png_bytes",
    "round_ratios",
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
    return f"{k:,} {noun}" + ("" if k == 1 else "es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def _name(p: float) -> str:
    return percentile_label(p).upper()


def _top_ms(x: np.ndarray) -> float:
    """Where a latency axis ends: 1.5 x the P99.9 (calls above it are drawn at the edge), never
    below 1.1 x the median."""
    top = quantile_ci(x, 0.999).value * 1.5 if x.size > 1 else float(x.max()) * 1.5
    return max(top, float(np.median(x)) * 1.1, 1e-9)


def _dots_clipped(ax: Any, ts: np.ndarray, ms: np.ndarray, top: float, *, color: str, label: str,
                  alpha: float, clip_color: str, clip_label: str | None = None, markersize: float = 2) -> int:
    """Calls as dots; those above ``top`` drawn as triangles at the top edge. Returns how many were."""
    clip = ms > top
    ax.plot(ts[~clip], ms[~clip], ".", markersize=markersize, alpha=alpha, color=color, rasterized=True, label=label)
    if clip.any():
        ax.plot(ts[clip], np.full(int(clip.sum()), top), "^", markersize=4, color=clip_color, label=clip_label)
    return int(clip.sum())


def _busy_strip(strip: Any, t0: np.ndarray, t1: np.ndarray, share: np.ndarray, limit: float, *,
                label: str, xlabel: str) -> np.ndarray:
    """Per-block share of the measured CPUs other work held (%), over-limit blocks in red, the
    limit dashed. Returns the over-limit mask (NaN counts as 0)."""
    share = np.nan_to_num(share, nan=0.0)
    over = share > limit
    strip.bar(t0, share * 100, width=t1 - t0, align="edge", color=np.where(over, _MISS, PALETTE[5]),
              edgecolor="none", label=label)
    strip.axhline(limit * 100, color=_TEXT, linestyle="--", linewidth=1.0, label=f"limit {limit:.0%}")
    strip.set_ylim(0, 100)
    strip.set_ylabel("busy (%)")
    strip.set_xlabel(xlabel)
    strip.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return over


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
        top = _top_ms(x)
        clipped = x > top
        _dots_clipped(ax, idx, x, top, color=PALETTE[0], label="iteration", alpha=0.45, clip_color=_MISS,
                      clip_label=f"{int(clipped.sum()):,} above {format_number(top)} ms")
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
        top = _top_ms(x)
        n_clipped = _dots_clipped(ax, ts, x, top, color=PALETTE[0], label="call", alpha=0.45, clip_color=_MISS,
                                  clip_label=f"{int((x > top).sum()):,} above {format_number(top)} ms")
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
        over = _busy_strip(strip, t0, t1, share, limit, label="other work (% of measured CPUs)",
                           xlabel="time since the start of the run (s)")
        strip.set_xlim(float(t0[0]), float(t1[-1]))
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
        if n_clipped:
            alt += f"; {_count(n_clipped, 'call')} above {format_number(top)} ms drawn at the top edge"
    return fig, alt


def noise_timeline(
    latency: Mapping[str, tuple[ArrayLike, ArrayLike]],
    per_sentinel: Mapping[str, tuple[ArrayLike, ArrayLike]],
    busy: tuple[ArrayLike, ArrayLike, ArrayLike],
    *,
    deadline_ms: float | None = None,
    limit: float = INTERFERENCE_LIMIT,
    title: str = "",
    point: str = "call",
    per: str = "block",
    block: str = "block",
    ylabel: str = "latency (ms)",
) -> tuple[Figure, str]:
    """A measurement and the machine beside it, on one time axis (s): three rows.

    - ``latency[label] = (t_s, ms)``: every call of each configuration, as dots;
    - ``per_sentinel[label] = (t_s, ratio)``: each block's model median / the median of the
      sentinel calls after it (the model in sentinel units: flat when only the machine moved);
    - ``busy = (t0_s, t1_s, share)``: per block, the share of the measured CPUs other work
      held (NaN where unknown), with ``limit`` dashed.

    ``point``, ``per`` and ``block`` name what a dot, a point in sentinel units and a strip
    row are in the alt text ("call", "block", "block" by default; a stream has one point in
    sentinel units per "run", a cold start one of each per "process"); ``ylabel`` labels
    the top row. :func:`edgetiming.measure.noise.figure` builds these from runs or rounds.

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
    top = _top_ms(all_ms)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(8.0, 6.0), layout="constrained", facecolor=_BG)
        ax, rax, strip = fig.subplots(3, 1, sharex=True, height_ratios=(3, 1.6, 1))
        clipped_total = 0
        size, alpha = (2, 0.4) if all_ms.size >= 500 else (5, 0.85)  # few points: each one visible
        for i, (label, (ts, ms)) in enumerate(latency.items()):
            color = PALETTE[i % len(PALETTE)]
            clipped_total += _dots_clipped(ax, np.asarray(ts, dtype=np.float64), np.asarray(ms, dtype=np.float64),
                                           top, color=color, label=label, alpha=alpha, clip_color=color,
                                           markersize=size)
        if deadline_ms is not None:
            ax.axhline(deadline_ms, color=_MISS, linestyle=":", label="deadline")
        ax.set_ylim(0, top * 1.04)
        ax.set_ylabel(ylabel)
        ax.set_title(title or "Latency, the model in sentinel units, and other work on the machine")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), markerscale=6 / size)
        ratio_text = []
        for i, (label, (ts, r)) in enumerate(per_sentinel.items()):
            ts, r = np.asarray(ts, dtype=np.float64), np.asarray(r, dtype=np.float64)
            keep = np.isfinite(ts) & np.isfinite(r)
            if not keep.any():
                continue
            color = PALETTE[list(latency).index(label) % len(PALETTE)] if label in latency else PALETTE[i % len(PALETTE)]
            rax.plot(ts[keep], r[keep], "o", markersize=3, color=color, label=label)  # the label's colour above
            med = float(np.median(r[keep]))
            ratio_text.append(f"{label} ran at {format_number(med)}x the sentinel ({format_number(float(r[keep].min()))}"
                              f"-{format_number(float(r[keep].max()))}x over {_count(int(keep.sum()), per)})")
        if not ratio_text:
            rax.text(0.5, 0.5, "no sentinel was timed in this measurement", transform=rax.transAxes,
                     ha="center", va="center", color=_TEXT)
        rax.set_ylabel("x sentinel")
        rax.set_ylim(bottom=0)
        over = _busy_strip(strip, t0, t1, share, limit, label="other work", xlabel=f"time since the first {block} (s)")
        span = float(np.nanmax(t1) - np.nanmin(t0))
        alt = (f"{_count(all_ms.size, point)} of {_count(len(latency), 'configuration')} over {span:.1f} s, median "
               f"{format_number(float(np.median(all_ms)))} ms")
        alt += "; " + ("in sentinel units " + ", ".join(ratio_text) if ratio_text else "no sentinel was timed")
        known = np.isfinite(share)
        if not known.any():
            alt += "; interference not available on this machine"
        else:
            alt += (f"; other work held at most {float(share[known].max()):.0%} of the measured CPUs in one {block} "
                    f"(limit {limit:.0%})")
            if over.any():
                alt += f", {int(over.sum())} of {_count(share.size, block)} over the limit, drawn in red"
        if clipped_total:
            alt += f"; {_count(clipped_total, point)} above {format_number(top)} ms drawn at the top edge"
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

