"""Tests for edgetiming.results.figures: PNGs render, axes carry units, alt text has the numbers."""

from __future__ import annotations

import math
import re

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from edgetiming.results import figures
from edgetiming.results.figures import (
    PALETTE,
    STYLE,
    compare_configs,
    histogram,
    png_bytes,
    tail_plot,
    timeline,
    use_style,
    waterfall,
)
from edgetiming.stats.quantiles import format_number, quantile, quantile_ci, summarize

MS = 1_000_000
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
OKABE_ITO = {"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442"}


@pytest.fixture(scope="module")
def latency_ns() -> np.ndarray:
    rng = np.random.default_rng(2024)
    x = rng.lognormal(math.log(13.0), 0.3, 2000)
    x[rng.random(2000) < 0.01] += 30.0
    x[:150] *= 2.5  # a warmup
    return (x * MS).astype(np.int64)


def _check_png(fig: Figure) -> bytes:
    data = png_bytes(fig, dpi=60)
    assert data.startswith(PNG_MAGIC) and len(data) > 5_000
    return data


def _check_axes(fig: Figure, y_unit: str = "(") -> None:
    for ax in fig.axes:
        assert "(ms)" in ax.get_xlabel() or "(ms)" in ax.get_ylabel()
        assert ax.get_xlabel() and ax.get_ylabel()
        assert "(" in ax.get_xlabel() and y_unit in ax.get_ylabel()


def _ms(v: float) -> str:
    return f"{format_number(v)} ms"


def test_public_names() -> None:
    for name in figures.__all__:
        assert hasattr(figures, name), name


def test_style_is_readable_and_colourblind_safe() -> None:
    assert set(PALETTE) <= OKABE_ITO and "#000000" not in PALETTE
    assert to_rgba(STYLE["figure.facecolor"])[3] == 1.0  # opaque, never transparent
    assert not STYLE["savefig.transparent"]
    bg = np.array(to_rgba(STYLE["figure.facecolor"])[:3])
    text = np.array(to_rgba(STYLE["text.color"])[:3])
    assert bg.mean() > 0.9  # a light card on any page
    assert 0.0 < text.mean() < 0.3  # dark grey, not pure black
    old = dict(matplotlib.rcParams)
    try:
        use_style()
        assert matplotlib.rcParams["figure.facecolor"] == STYLE["figure.facecolor"]
    finally:
        matplotlib.rcParams.update(old)


def test_histogram(latency_ns: np.ndarray) -> None:
    fig, alt = histogram(latency_ns, percentiles=(0.5, 0.99), deadline_ms=40.0)
    _check_png(fig)
    _check_axes(fig)
    p50, p99 = quantile(latency_ns, 0.5) / MS, quantile(latency_ns, 0.99) / MS
    assert alt.startswith(f"Histogram of 2,000 latency samples; P50 {_ms(p50)}, P99 {_ms(p99)}")
    over = int((latency_ns / MS > 40.0).sum())
    assert f"{over:,} samples" in alt
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert f"P50 {_ms(p50)}" in labels and f"P99 {_ms(p99)}" in labels


def test_histogram_alt_text_example_format() -> None:
    x = np.r_[np.full(1980, 13.2), np.full(20, 31.0)] * MS
    _, alt = histogram(x)
    assert alt == "Histogram of 2,000 latency samples; P50 13.2 ms, P99 31.0 ms"


def test_tail_plot(latency_ns: np.ndarray) -> None:
    fig, alt = tail_plot(latency_ns, deadline_ms=40.0)
    _check_png(fig)
    _check_axes(fig)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    q99 = quantile_ci(latency_ns / MS, 0.99)
    assert f"P99 {_ms(q99.value)} (95% CI {format_number(q99.lower)}-{format_number(q99.upper)} ms)" in alt
    assert "P99.9 not shown" in alt  # 2,000 < 2,995 samples
    assert ax.collections, "the confidence band is drawn"


def test_timeline(latency_ns: np.ndarray) -> None:
    fig, alt = timeline(latency_ns, warmup_end=150, change_points=[150, 1200], deadline_ms=40.0)
    _check_png(fig)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "iteration (count)" and ax.get_ylabel() == "latency (ms)"
    steady_median = quantile(latency_ns[150:], 0.5) / MS
    assert "first 150 marked as warmup" in alt
    assert "change points at iterations 150, 1,200" in alt
    assert f"median {_ms(steady_median)} after warmup" in alt
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 2


def test_timeline_clips_stalls_to_the_edge() -> None:
    x = np.full(3000, 2 * MS, dtype=float)
    x[100:102] = 500 * MS  # two stalls: rarer than 1 in 1,000, so above P99.9
    _, alt = timeline(x)
    assert "2 samples above" in alt and "top edge" in alt


def test_waterfall() -> None:
    stages = {
        "preprocess": (2.0, 1.2),
        "detect": (7.0, 8.1),
        "classify": (3.0, 2.2),
        "postprocess": 0.4,
    }
    fig, alt = waterfall(stages, total_budget_ms=15.0)
    _check_png(fig)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "cumulative latency (ms)"
    assert alt.startswith("Per-stage latency waterfall, total 11.9 ms against a 15.0 ms budget")
    assert "detect 8.10 ms (budget 7.00 ms, over by 1.10 ms)" in alt
    assert "postprocess 0.400 ms" in alt
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "total"
    with pytest.raises(ValueError):
        waterfall({})


def test_compare_configs(latency_ns: np.ndarray) -> None:
    summaries = {
        "fp32": summarize(latency_ns),
        "int8": summarize(latency_ns * 0.6),
        "short": summarize(latency_ns[:200]),
    }
    fig, alt = compare_configs(summaries, percentile=0.99, deadline_ms=45.0)
    _check_png(fig)
    ax = fig.axes[0]
    assert "(ms)" in ax.get_xlabel()
    q = summaries["fp32"].estimate(0.99)
    assert f"fp32 {_ms(q.value)} [{format_number(q.lower)}, {format_number(q.upper)}]" in alt
    assert "short" in alt and "[" in alt and "unbounded] (invalid: n=200 < 299)" in alt
    assert alt.startswith("P99 latency of 3 configurations with 95% confidence intervals")
    with pytest.raises(KeyError):
        compare_configs(summaries, percentile=0.75)


def test_no_pyplot_state_is_left_behind(latency_ns: np.ndarray) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    histogram(latency_ns)
    tail_plot(latency_ns)
    assert plt.get_fignums() == before


def test_alt_text_numbers_are_well_formed(latency_ns: np.ndarray) -> None:
    _, alt = histogram(latency_ns)
    assert not re.search(r"e[+-]\d", alt) and "nan" not in alt.lower()


def test_stage_distributions(latency_ns: np.ndarray) -> None:
    fig, alt = figures.stage_distributions({"detect": latency_ns, "frame": latency_ns * 2},
                                           {"detect": 20.0, "frame": 50.0})
    _check_png(fig)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and "(ms" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["detect", "frame"]
    p99 = quantile(latency_ns, 0.99) / MS
    assert f"detect median {np.median(latency_ns) / MS:.2f} ms, P99 {p99:.2f} ms (budget 20.0 ms)" in alt


def test_fanout_figure() -> None:
    from edgetiming.stats.jitter import fanout_check

    rng = np.random.default_rng(3)
    fc = fanout_check((rng.lognormal(0, 0.3, (500, 3)) * MS).astype(np.int64).tolist(), 0.05)
    fig, alt = figures.fanout(fc)
    _check_png(fig)
    ax = fig.axes[0]
    assert [int(t) for t in ax.get_xticks()] == [1, 2, 3] and ax.get_ylim()[0] == 0
    assert alt.endswith(fc.rows()) and "k = 1..3" in alt


def test_latency_accuracy_panels_carry_guardrails_sizes_and_numbers() -> None:
    from types import SimpleNamespace

    est = lambda v: SimpleNamespace(value=v, lower=v * 0.9, upper=v * 1.1)
    det = figures.AccuracyPanel("det", "IoU with fp32", "IoU with fp32 (fraction, higher is better)", 0.8, True,
                                [("fp32", est(20.0), 1.0, 9.5), ("dynamic", est(25.0), 0.93, 2.6)])
    rec = figures.AccuracyPanel("rec", "CER", "character error rate (fraction, lower is better)", 0.03, False,
                                [("fp32", est(4.0), 0.02, 10.8), ("static-per-tensor", est(3.0), 0.6, 2.9)])
    fig, alt = figures.latency_accuracy([det, rec])
    _check_png(fig)
    assert len(fig.axes) == 2
    assert "det dynamic: P50 25.00 ms, IoU with fp32 0.930, 2.6 MB" in alt
    assert "rec static-per-tensor: P50 3.00 ms, CER 0.600, 2.9 MB" in alt
    assert alt.endswith("guardrails det IoU with fp32 >= 0.8, rec CER <= 0.03")
    d, r = fig.axes
    assert d.get_ylim()[1] == pytest.approx(1.02) and d.get_ylim()[0] <= 0.5
    assert r.get_ylim() == pytest.approx((-0.03, 1.05))  # a broken variant (CER 0.6) stays on the plot
    assert [line.get_ydata()[0] for line in d.get_lines() if line.get_linestyle() == "--"] == [0.8]
    assert "(ms)" in d.get_xlabel() and "fraction" in r.get_ylabel()
    with pytest.raises(ValueError, match="empty"):
        figures.latency_accuracy([])
