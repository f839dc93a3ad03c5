"""The figures of the drift and the profiling recipes: they render, and the alt text carries their numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from edgetiming.results.figures import (
    memory_steps,
    model_vs_sentinel,
    paired_bars,
    png_bytes,
    ranked_bars,
    signals,
)


def test_model_vs_sentinel_divides_each_series_by_its_run_median_and_marks_the_step():
    fig, alt = model_vs_sentinel([0.0, 3.0, 6.0, 9.0], [10, 10, 10, 15], [2, 2, 2, 2], step_at_s=9.0,
                                 step_label="+50%", duration_s=12.0)
    assert "over 12 s (4 blocks)" in alt
    assert "model from 1.00 to 1.50, sentinel from 1.00 to 1.00" in alt and "ratio ranges 1.00-1.50" in alt
    top, bottom = fig.axes[:2]
    assert "model step +50%" in [t.get_text() for t in top.get_legend().get_texts()]
    assert bottom.get_xlabel() == "time since the start of the run (s)"
    assert png_bytes(fig).startswith(b"\x89PNG")
    with pytest.raises(ValueError):
        model_vs_sentinel([0.0, 1.0], [1.0], [1.0])


def test_signals_skip_missing_samples_and_draw_one_panel_per_signal():
    fig, alt = signals([0, 10, 20], {"mean CPU frequency (MHz)": [2000, None, 1500],
                                      "hottest thermal zone (°C)": [50, 60, 70]})
    assert len(fig.axes) == 2
    assert alt == ("Machine signals sampled 3 times over 20 s: mean CPU frequency (MHz) from 1500 to 2000; "
                   "hottest thermal zone (°C) from 50 to 70")
    assert list(fig.axes[0].lines[0].get_xdata()) == [0, 20]
    with pytest.raises(ValueError):
        signals([0], {})


def test_ranked_bars_put_the_largest_on_top_with_value_and_share():
    fig, alt = ranked_bars({"Conv": 6.0, "Add": 1.5, "Mul": 0.5}, [0.75, 0.1875, 0.0625],
                           what="mean time per inference", ylabel="operator type")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Mul", "Add", "Conv"]  # bottom to top
    assert ax.get_xlabel() == "mean time per inference (ms)"
    assert alt == "Mean time per inference by operator type: Conv 6.00 ms (75%); Add 1.50 ms (19%); Mul 0.50 ms (6%)"


def test_paired_bars_keep_the_order_and_name_both_series():
    fig, alt = paired_bars(pd.Index(["Conv", "Add"]), [2.0, 0.5], [3.0, 0.6], label_a="median", label_b="slowest",
                           what="mean time per inference", ylabel="operator type")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["Add", "Conv"]
    assert alt == ("Per operator type, mean time per inference in median against slowest: Conv 2.00 to 3.00 ms; "
                   "Add 0.50 to 0.60 ms")


def test_memory_steps_one_bar_per_variant_and_step_with_the_peak_and_the_budget():
    steps = ["imports", "session created", "first inference"]
    mem = {"arena on": pd.DataFrame({"rss_mb": [40.0, 90.0, 120.0], "peak_rss_mb": [40.0, 95.0, 130.0]}, index=steps),
           "arena off": pd.DataFrame({"rss_mb": [40.0, 80.0, 100.0], "peak_rss_mb": [40.0, 82.0, 105.0]}, index=steps)}
    fig, alt = memory_steps(mem, budget_mb=512)
    ax = fig.axes[0]
    assert len(ax.patches) == 6 and any(np.allclose(line.get_ydata(), 512) for line in ax.lines)
    assert alt == ("Resident memory of a fresh process after each step: arena on: imports 40 MiB, session created 90 MiB, "
                   "first inference 120 MiB, peak 130 MiB; arena off: imports 40 MiB, session created 80 MiB, "
                   "first inference 100 MiB, peak 105 MiB; budget 512 MiB")
