"""figures.load_curve, figures.stall_timelines and figures.stacked_counts: what they draw and say."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import numpy as np

from edgetiming.results import figures
from edgetiming.results.figures import PALETTE, load_curve, stacked_counts, stall_timelines

MS = 1_000_000


def test_load_curve_draws_each_arm_with_its_interval_and_the_reference_lines() -> None:
    est = [SimpleNamespace(value=2.0, lower=1.5, upper=2.5), SimpleNamespace(value=9.0, lower=7.0, upper=float("inf"))]
    fig, alt = load_curve([0.3, 0.8], [("open loop, poisson", est, PALETTE[0], "s--")],
                          lines=[("closed loop, alone", 1.2, PALETTE[3])], deadline_ms=10.0, quantity="P99",
                          title="P99 as load rises")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and "ms" in ax.get_ylabel()
    assert alt == ("P99 as load rises: open loop, poisson: 30% 2.00 ms, 80% 9.00 ms; closed loop, alone 1.20 ms; "
                   "deadline 10 ms")
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["closed loop, alone", "deadline 10 ms", "open loop, poisson"]
    # an unbounded upper end is drawn to a finite cap, so the PNG stays a normal size
    assert figures.png_bytes(fig)[:4] == b"\x89PNG"


def test_stall_timelines_count_the_delayed_samples_per_panel() -> None:
    closed = np.full(100, 2 * MS)
    closed[49] = 202 * MS
    opened = np.full(100, 2 * MS)
    opened[50:70] = 150 * MS
    fig, alt = stall_timelines([("Closed loop: one sample", closed, 49, "iteration"),
                                ("Open loop: they wait", opened, 49, "request")], stall_ms=200.0, deadline_ms=10.0,
                               note="About 20 were scheduled.")
    assert [ax.get_title() for ax in fig.axes] == ["Closed loop: one sample (1 >= 100 ms; P99 202.00 ms)",
                                                   "Open loop: they wait (20 >= 100 ms; P99 150.00 ms)"]
    assert "Closed loop: P50 2.00 ms, P99 202.00 ms, 1 delayed" in alt
    assert "Open loop: P50 2.00 ms, P99 150.00 ms, 20 delayed" in alt and alt.endswith("About 20 were scheduled.")


def test_stacked_counts_colours_the_types_that_change_and_totals_each_bar() -> None:
    rows = {"disable": Counter(Conv=4, Relu=4, Add=2, Shape=5), "extended": Counter(FusedConv=4, Add=2, Shape=5)}
    fig, alt = stacked_counts({"det": rows, "rec": {"disable": Counter(MatMul=3), "extended": Counter(MatMul=3)}})
    assert alt == ("Nodes by operator type at each level: det disable: 15 nodes; det extended: 11 nodes; "
                   "rec disable: 3 nodes; rec extended: 3 nodes")
    legend = fig.axes[0].get_legend_handles_labels()[1]
    assert legend[:3] == ["Conv", "FusedConv", "Relu"]  # change of 4 each, then by name
    assert legend[-1] == "types no level changes"
    assert [t.get_text() for t in fig.axes[0].texts] == [" 15", " 11"]
