"""Resources, throttle signals and energy: real parsing on fixture trees and fixture text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgetiming.host.resources import (
    NOT_AVAILABLE,
    EnergyMeter,
    ResourceMeter,
    parse_nvidia_clock_reasons,
    parse_nvidia_power,
    parse_pmic_read_adc,
    parse_vcgencmd_throttled,
    throttle_seen,
    throttle_signals,
)

# `vcgencmd pmic_read_adc` on a Raspberry Pi 5 (format of the firmware's output, values made up).
PMIC_TEXT = """\
     3V7_WL_SW_A current(0)=0.00000000A
       3V3_SYS_A current(1)=0.05000000A
        1V8_SYS_A current(2)=0.20000000A
       VDD_CORE_A current(7)=2.00000000A
     3V7_WL_SW_V volt(8)=3.70000000V
       3V3_SYS_V volt(9)=3.30000000V
        1V8_SYS_V volt(10)=1.80000000V
       VDD_CORE_V volt(15)=0.80000000V
        EXT5V_V volt(24)=5.10000000V
"""


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def no_command(cmd: list[str]) -> None:
    return None


def test_this_machine_reports_not_available_without_crashing() -> None:
    sig = throttle_signals()  # the real machine: must not raise
    assert not sig.throttled or any(s.flagged for s in sig.signals.values())
    json.dumps(sig.to_dict())
    with EnergyMeter() as em:
        sum(range(1000))
    reading = em.reading(n_inferences=10)
    if not reading.available:  # this machine: no RAPL, INA, PMIC or nvidia-smi
        assert reading.energy_j == NOT_AVAILABLE == reading.joules_per_inference
        assert reading.reason
    json.dumps(reading.to_dict())


def test_empty_machine_says_not_available_for_everything(tmp_path: Path) -> None:
    sig = throttle_signals(root=tmp_path, run_command=no_command)
    assert set(sig.signals) == {"cpufreq", "thermal_zones", "core_throttle_count",
                                "vcgencmd_throttled", "nvidia_clock_event_reasons"}
    for s in sig.signals.values():
        assert not s.available and s.value == NOT_AVAILABLE and s.detail
    assert not sig.throttled
    with EnergyMeter(root=tmp_path, run_command=no_command) as em:
        pass
    r = em.reading(5)
    assert not r.available and r.source == NOT_AVAILABLE
    assert r.mean_power_w == NOT_AVAILABLE
    for word in ("RAPL", "INA3221", "pmic_read_adc", "power.draw"):
        assert word in r.reason


def test_sysfs_throttle_signals_parse(tmp_path: Path) -> None:
    write(tmp_path, "/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", "2400000\n")
    write(tmp_path, "/sys/devices/system/cpu/cpu1/cpufreq/scaling_cur_freq", "1200000\n")
    write(tmp_path, "/sys/class/thermal/thermal_zone0/temp", "45000\n")
    write(tmp_path, "/sys/class/thermal/thermal_zone0/type", "x86_pkg_temp\n")
    write(tmp_path, "/sys/class/thermal/thermal_zone1/temp", "96000\n")
    write(tmp_path, "/sys/class/thermal/thermal_zone1/type", "cpu-thermal\n")
    write(tmp_path, "/sys/class/thermal/thermal_zone1/trip_point_0_type", "passive\n")
    write(tmp_path, "/sys/class/thermal/thermal_zone1/trip_point_0_temp", "95000\n")
    write(tmp_path, "/sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_count", "3\n")
    sig = throttle_signals(root=tmp_path, run_command=no_command)
    assert sig.signals["cpufreq"].value == {"cpu0": 2_400_000_000, "cpu1": 1_200_000_000}
    temps = sig.signals["thermal_zones"].value
    assert temps == {"thermal_zone0:x86_pkg_temp": 45.0, "thermal_zone1:cpu-thermal": 96.0}
    assert sig.signals["thermal_zones"].flagged and sig.throttled
    assert sig.signals["core_throttle_count"].value == {"cpu0": 3}
    # a throttle counter that grows during a run flags the run
    write(tmp_path, "/sys/class/thermal/thermal_zone1/temp", "50000\n")
    before = throttle_signals(root=tmp_path, run_command=no_command)
    assert throttle_seen(before, before) == (False, [])
    write(tmp_path, "/sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_count", "5\n")
    after = throttle_signals(root=tmp_path, run_command=no_command)
    seen, reasons = throttle_seen(before, after)
    assert seen and "cpu0" in reasons[0]


def test_vcgencmd_and_nvidia_smi_outputs_parse() -> None:
    since_boot = parse_vcgencmd_throttled("throttled=0x50000\n")
    assert since_boot.available and not since_boot.flagged
    assert "since boot: under-voltage, throttled" in since_boot.detail
    now = parse_vcgencmd_throttled("throttled=0x4")
    assert now.flagged and "now: throttled" in now.detail
    assert not parse_vcgencmd_throttled("error=1 error_msg=...").available
    assert not parse_nvidia_clock_reasons("0x0000000000000001\n").flagged  # GPU idle
    hot = parse_nvidia_clock_reasons("0x0000000000000000\n0x0000000000000040\n")
    assert hot.flagged and "HW thermal slowdown" in hot.detail
    sig = throttle_signals(root="/nonexistent", run_command=lambda cmd: {
        "vcgencmd": "throttled=0x8\n", "nvidia-smi": "0x0000000000000020\n"}[cmd[0]])
    assert sig.signals["vcgencmd_throttled"].flagged
    assert sig.signals["nvidia_clock_event_reasons"].detail == "SW thermal slowdown"


def test_power_text_parses() -> None:
    # 0.05*3.3 + 0.2*1.8 + 2.0*0.8 = 2.125 W; the 5 V input has no current rail
    assert parse_pmic_read_adc(PMIC_TEXT) == pytest.approx(2.125)
    assert parse_pmic_read_adc("nothing") is None
    assert parse_nvidia_power("77.12\n[N/A]\n80.00\n") == pytest.approx(157.12)
    assert parse_nvidia_power("[N/A]\n") is None


def test_rapl_counters_give_energy_and_handle_wraparound(tmp_path: Path) -> None:
    write(tmp_path, "/sys/class/powercap/intel-rapl:0/energy_uj", "1000000\n")
    write(tmp_path, "/sys/class/powercap/intel-rapl:0/max_energy_range_uj", "262143328850\n")
    write(tmp_path, "/sys/class/powercap/intel-rapl:0:0/energy_uj", "5\n")  # sub-zone: ignored
    with EnergyMeter(root=tmp_path, run_command=no_command) as em:
        write(tmp_path, "/sys/class/powercap/intel-rapl:0/energy_uj", "3500000\n")
    r = em.reading(n_inferences=10)
    assert r.available and r.source == "rapl"
    assert r.energy_j == pytest.approx(2.5) and r.joules_per_inference == pytest.approx(0.25)
    with EnergyMeter(root=tmp_path, run_command=no_command) as em:  # counter wraps to 500000
        write(tmp_path, "/sys/class/powercap/intel-rapl:0/energy_uj", "500000\n")
    assert em.reading().energy_j == pytest.approx((262143328850 - 3500000 + 500000) / 1e6)


def test_jetson_ina3221_rails(tmp_path: Path) -> None:
    hw = "/sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3"
    for idx, (label, mv, ma) in enumerate([("VDD_IN", 5000, 1000), ("VDD_CPU_GPU_CV", 5000, 400)],
                                          start=1):
        write(tmp_path, f"{hw}/in{idx}_label", label)
        write(tmp_path, f"{hw}/in{idx}_input", str(mv))
        write(tmp_path, f"{hw}/curr{idx}_input", str(ma))
    with EnergyMeter(root=tmp_path, run_command=no_command, interval_s=0.01) as em:
        sum(range(100_000))
    r = em.reading(n_inferences=4)
    assert r.available and r.source == "jetson_ina" and r.n_power_samples >= 2
    # constant 5 W on the input rail (the CPU rail is part of it, not added)
    assert r.mean_power_w == pytest.approx(5.0)
    old = tmp_path / "old"
    iio = "/sys/bus/i2c/drivers/ina3221x/0-0040/iio:device0"
    write(old, f"{iio}/in_power0_input", "2500")
    write(old, f"{iio}/rail_name_0", "POM_5V_IN")
    write(old, f"{iio}/in_power1_input", "900")
    write(old, f"{iio}/rail_name_1", "POM_5V_GPU")
    with EnergyMeter(root=old, run_command=no_command) as em:
        pass
    assert em.reading().mean_power_w == pytest.approx(2.5)


def test_command_sampled_power(tmp_path: Path) -> None:
    def pi(cmd: list[str]) -> str | None:
        return PMIC_TEXT if cmd[:2] == ["vcgencmd", "pmic_read_adc"] else None

    with EnergyMeter(root=tmp_path, run_command=pi, interval_s=0.01) as em:
        sum(range(100_000))
    r = em.reading(n_inferences=2)
    assert r.source == "pi_pmic" and r.mean_power_w == pytest.approx(2.125)
    assert r.joules_per_inference == pytest.approx(r.energy_j / 2)

    def gpu(cmd: list[str]) -> str | None:
        return "77.0\n" if cmd[0] == "nvidia-smi" else None

    with EnergyMeter(root=tmp_path, run_command=gpu, sources=("nvidia_smi",)) as em:
        pass
    assert em.reading().source == "nvidia_smi" and em.reading().mean_power_w == pytest.approx(77)
    with pytest.raises(ValueError):
        EnergyMeter(sources=("wattmeter",))


def test_resource_meter_counts_cpu_and_memory() -> None:
    with pytest.raises(RuntimeError):
        ResourceMeter().usage(1)
    with ResourceMeter() as m:
        block = bytearray(20 * 2**20)
        sum(range(200_000))
    u = m.usage(n_inferences=4)
    assert len(block) and u.n_inferences == 4 and u.wall_s > 0
    assert u.user_s >= 0 and u.system_s >= 0
    assert u.cpu_s_per_inference == pytest.approx(u.cpu_s / 4)
    assert u.peak_rss_bytes >= (u.rss_end_bytes or 0)
    json.dumps(u.to_dict())


def test_peak_rss_of_a_child_is_its_own_not_the_parents():
    """A child of a large process reports its own high-water mark (ru_maxrss would carry the parent's)."""
    import subprocess
    import sys

    import numpy as np

    from edgetiming.host.resources import peak_rss_bytes

    ballast = np.ones(300 * 2**20 // 8)  # hold 300 MiB in this process
    assert peak_rss_bytes() > 300 * 2**20
    code = "from edgetiming.host.resources import peak_rss_bytes; print(peak_rss_bytes())"
    child = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert child < 200 * 2**20, child
    del ballast
