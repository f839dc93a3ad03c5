"""A run's throttle snapshots summarised: one table row per signal and the plottable series."""

from __future__ import annotations

from edgetiming.host.resources import (
    NOT_AVAILABLE,
    Signal,
    ThrottleSignals,
    signal_series,
    signal_table,
)


def snap(freq_hz: int | None, temp_c: float, flagged: bool = False) -> dict:
    sigs = {"cpufreq": Signal(True, {"cpu0": freq_hz, "cpu1": freq_hz}, "Hz") if freq_hz
            else Signal(False, NOT_AVAILABLE, "no cpufreq scaling_cur_freq exposed"),
            "thermal_zones": Signal(True, {"zone0:x86_pkg_temp": temp_c}, "degrees C", flagged=flagged),
            "vcgencmd_throttled": Signal(False, NOT_AVAILABLE, "vcgencmd not found")}
    return ThrottleSignals(sigs).to_dict()


def test_the_table_says_first_and_last_reading_and_any_flag_and_never_fills_in_a_missing_signal():
    rows = {r["signal"]: r for r in signal_table([snap(2_000_000_000, 50.0), snap(None, 70.0, flagged=True),
                                                  snap(1_500_000_000, 60.0)])}
    assert set(rows) == {"cpufreq", "thermal_zones", "vcgencmd_throttled"}  # "throttled" is not a signal
    assert rows["cpufreq"]["available"] and rows["cpufreq"]["reading"].startswith("first {'cpu0': 2000000000")
    assert rows["thermal_zones"]["flagged in any sample"] and not rows["cpufreq"]["flagged in any sample"]
    assert rows["vcgencmd_throttled"] == {"signal": "vcgencmd_throttled", "available": False, "reading": NOT_AVAILABLE,
                                          "detail": "vcgencmd not found", "flagged in any sample": False}
    assert signal_table([snap(None, 40.0)] * 2)[1]["reading"] == "{'zone0:x86_pkg_temp': 40.0} (unchanged)"


def test_the_series_has_one_value_per_snapshot_with_gaps_and_only_the_exposed_signals():
    series = signal_series([snap(2_000_000_000, 50.0), snap(None, 70.0), snap(1_500_000_000, 60.0)])
    assert series == {"mean CPU frequency (MHz)": [2000.0, None, 1500.0], "hottest thermal zone (°C)": [50.0, 70.0, 60.0]}
    assert signal_series([ThrottleSignals().to_dict()]) == {}  # nothing exposed: nothing to plot
