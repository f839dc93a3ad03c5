"""CPU time, peak memory, throttle signals and energy for a measurement run.

Every timing run records what it cost (CPU seconds per inference, user and
system, and peak resident memory) and whether the machine may have slowed
itself down while it ran (frequency, temperature, throttle counters). Energy is
read where the runner exposes a sensor: Intel RAPL under ``/sys/class/powercap``,
Jetson INA3221 rails under ``/sys/bus/i2c/drivers/ina3221*``, a Raspberry Pi 5
PMIC through ``vcgencmd pmic_read_adc``, or an NVIDIA GPU through
``nvidia-smi --query-gpu=power.draw``. Where a signal or sensor is missing the
value is the string ``"not available"`` with the reason; nothing is guessed,
nothing crashes. CPU time stays the proxy for energy that every machine has.

Example
-------
>>> with ResourceMeter() as meter:  # doctest: +SKIP
...     for _ in range(100):
...         session.run(None, feeds)
>>> meter.usage(n_inferences=100).cpu_s_per_inference  # doctest: +SKIP
0.0021
"""

from __future__ import annotations

import glob
import itertools
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import psutil

__all__ = [
    "NOT_AVAILABLE", "EnergyMeter", "EnergyReading", "ResourceMeter", "ResourceUsage", "Signal",
    "ThrottleSignals", "parse_nvidia_clock_reasons", "parse_nvidia_power", "parse_pmic_read_adc",
    "parse_vcgencmd_throttled", "peak_rss_bytes", "signal_series", "signal_table", "throttle_seen",
    "throttle_signals",
]

NOT_AVAILABLE = "not available"
RunCommand = Callable[[list[str]], "str | None"]

# vcgencmd get_throttled bits that mean "happening now" (Raspberry Pi documentation).
_PI_NOW_BITS = {0x1: "under-voltage", 0x2: "arm frequency capped", 0x4: "throttled",
                0x8: "soft temperature limit"}
_PI_SINCE_BOOT_BITS = {0x10000: "under-voltage", 0x20000: "arm frequency capped",
                       0x40000: "throttled", 0x80000: "soft temperature limit"}
# NVML clock-event reasons that slow the GPU down (0x1 GPU idle and 0x2 app clocks are benign).
_NVML_SLOWDOWN_BITS = {0x4: "SW power cap", 0x8: "HW slowdown", 0x20: "SW thermal slowdown",
                       0x40: "HW thermal slowdown", 0x80: "HW power brake slowdown"}


def _run(cmd: list[str]) -> str | None:
    """Run a command; its stdout, or None when it is missing or fails (never raises)."""
    if shutil.which(cmd[0]) is None:
        return None
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def _sys(root: str | Path, rel: str) -> str:
    return os.path.join(str(root), rel.lstrip("/"))


# --------------------------------------------------------------------------- CPU and memory
def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far, in bytes.

    On Linux this is ``VmHWM`` from ``/proc/self/status``: ``ru_maxrss`` would
    carry the parent's peak over a fork and exec, so a fresh child of a large
    notebook would report the notebook's peak. Elsewhere ``ru_maxrss`` (macOS
    reports bytes, other systems kilobytes). A run in a fresh process
    (``isolate=True``) thus gives the number that belongs to the model alone.

    Example
    -------
    >>> peak_rss_bytes() > 0
    True
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(maxrss if sys.platform == "darwin" else maxrss * 1024)


def _rss_now_bytes() -> int | None:
    try:
        return int(psutil.Process().memory_info().rss)
    except Exception:  # noqa: BLE001 - psutil missing or the platform refuses
        return None


@dataclass
class ResourceUsage:
    """What a run cost: CPU seconds of the whole process (all threads) and memory.

    ``user_s`` and ``system_s`` come from ``getrusage(RUSAGE_SELF)``, so the
    onnxruntime thread pool is included; ``cpu_utilization`` above 1.0 means
    more than one core was busy (spinning threads show up here).
    """

    user_s: float
    system_s: float
    wall_s: float
    n_inferences: int
    peak_rss_bytes: int
    rss_start_bytes: int | None = None
    rss_end_bytes: int | None = None

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.system_s

    def _per(self, seconds: float) -> float | None:
        return seconds / self.n_inferences if self.n_inferences else None

    @property
    def cpu_s_per_inference(self) -> float | None:
        return self._per(self.cpu_s)

    @property
    def cpu_utilization(self) -> float | None:
        return self.cpu_s / self.wall_s if self.wall_s > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {
            "cpu_s_per_inference": self.cpu_s_per_inference, "cpu_utilization":
            self.cpu_utilization, "user_s_per_inference": self._per(self.user_s),
            "system_s_per_inference": self._per(self.system_s)}


class ResourceMeter:
    """Context manager measuring CPU time, wall time and memory of a block.

    Example
    -------
    >>> with ResourceMeter() as m:
    ...     _ = sum(range(10_000))
    >>> m.usage(n_inferences=1).n_inferences
    1
    """

    _t1: int | None = None

    def __enter__(self) -> ResourceMeter:  # noqa: PYI034 - Self needs Python 3.11
        self._rss_start = _rss_now_bytes()
        self._ru0 = resource.getrusage(resource.RUSAGE_SELF)
        self._t0 = time.perf_counter_ns()
        self._t1 = None
        return self

    def __exit__(self, *exc: object) -> None:
        self._t1 = time.perf_counter_ns()
        self._ru1 = resource.getrusage(resource.RUSAGE_SELF)
        self._rss_end = _rss_now_bytes()

    def usage(self, n_inferences: int) -> ResourceUsage:
        """The usage of the block, divided over ``n_inferences`` calls."""
        if self._t1 is None:
            raise RuntimeError("ResourceMeter.usage() is only available after the with-block")
        # ru_maxrss is updated lazily by the kernel; never report a peak below a reading.
        peak = max(peak_rss_bytes(), self._rss_start or 0, self._rss_end or 0)
        return ResourceUsage(self._ru1.ru_utime - self._ru0.ru_utime,
                             self._ru1.ru_stime - self._ru0.ru_stime, (self._t1 - self._t0) / 1e9,
                             int(n_inferences), peak, self._rss_start, self._rss_end)


# --------------------------------------------------------------------------- throttle signals
@dataclass
class Signal:
    """One throttle-related reading: its value, or ``"not available"`` and why."""

    available: bool
    value: Any = NOT_AVAILABLE
    detail: str = ""
    flagged: bool = False


@dataclass
class ThrottleSignals:
    """A snapshot of every throttle signal this machine might expose."""

    signals: dict[str, Signal] = field(default_factory=dict)

    @property
    def throttled(self) -> bool:
        """True when any signal says the machine is slowing itself down now."""
        return any(s.flagged for s in self.signals.values())

    def to_dict(self) -> dict[str, Any]:
        out = {name: asdict(sig) for name, sig in self.signals.items()}
        return out | {"throttled": self.throttled}


def parse_vcgencmd_throttled(text: str) -> Signal:
    """Parse ``vcgencmd get_throttled`` output such as ``throttled=0x50005``.

    Flagged when a "now" bit (0x1, 0x2, 0x4, 0x8) is set; the since-boot bits
    are listed in ``detail`` only.

    Example
    -------
    >>> parse_vcgencmd_throttled("throttled=0x4").flagged
    True
    """
    match = re.search(r"throttled=(0x[0-9a-fA-F]+)", text or "")
    if not match:
        return Signal(False, NOT_AVAILABLE, f"unrecognised vcgencmd output {text!r}")
    bits = int(match.group(1), 16)
    now = [name for bit, name in _PI_NOW_BITS.items() if bits & bit]
    since = [name for bit, name in _PI_SINCE_BOOT_BITS.items() if bits & bit]
    detail = "now: " + (", ".join(now) or "none") + "; since boot: " + (", ".join(since) or "none")
    return Signal(True, hex(bits), detail, flagged=bool(now))


def parse_nvidia_clock_reasons(text: str) -> Signal:
    """Parse ``nvidia-smi --query-gpu=clocks_event_reasons.active --format=csv,noheader``.

    One hex bitmask per GPU line; flagged when a power or thermal slowdown bit
    (0x4, 0x8, 0x20, 0x40, 0x80) is set on any GPU.

    Example
    -------
    >>> parse_nvidia_clock_reasons("0x0000000000000040\\n").flagged
    True
    """
    masks = [int(m, 16) for m in re.findall(r"0x[0-9a-fA-F]+", text or "")]
    if not masks:
        return Signal(False, NOT_AVAILABLE, f"unrecognised nvidia-smi output {text!r}")
    reasons = sorted({n for m in masks for bit, n in _NVML_SLOWDOWN_BITS.items() if m & bit})
    return Signal(True, [hex(m) for m in masks], ", ".join(reasons) or "no slowdown reason",
                  flagged=bool(reasons))


def _per_cpu(root: str | Path, leaf: str, scale: int) -> dict[str, int]:
    """Integer sysfs values per CPU, e.g. ``cpufreq/scaling_cur_freq`` (kHz, scale 1000)."""
    out = {}
    for p in sorted(glob.glob(_sys(root, f"/sys/devices/system/cpu/cpu[0-9]*/{leaf}"))):
        text = _read(p)
        if text and text.isdigit():
            out[Path(p).parent.parent.name] = int(text) * scale
    return out


def _cpufreq(root: str | Path) -> Signal:
    freqs = _per_cpu(root, "cpufreq/scaling_cur_freq", 1000)  # kHz -> Hz
    if not freqs:
        return Signal(False, NOT_AVAILABLE, "no cpufreq scaling_cur_freq exposed")
    return Signal(True, freqs, "current frequency per CPU in Hz")


def _thermal(root: str | Path) -> Signal:
    zones = sorted(glob.glob(_sys(root, "/sys/class/thermal/thermal_zone[0-9]*")))
    temps: dict[str, float] = {}
    hot: list[str] = []
    for zone in zones:
        text = _read(os.path.join(zone, "temp"))
        if not text or not text.lstrip("-").isdigit():
            continue
        kind = _read(os.path.join(zone, "type")) or Path(zone).name
        temp_c = int(text) / 1000.0
        temps[f"{Path(zone).name}:{kind}"] = temp_c
        # A zone at or above a passive trip point is being cooled by throttling.
        for trip in glob.glob(os.path.join(zone, "trip_point_*_type")):
            if _read(trip) in ("passive", "hot", "critical"):
                limit = _read(trip.replace("_type", "_temp"))
                if limit and limit.lstrip("-").isdigit() and temp_c >= int(limit) / 1000.0:
                    hot.append(Path(zone).name)
    if not temps:
        return Signal(False, NOT_AVAILABLE, "no thermal zones exposed")
    detail = "degrees C per zone" + (f"; at a trip point: {', '.join(hot)}" if hot else "")
    return Signal(True, temps, detail, flagged=bool(hot))


def _core_throttle(root: str | Path) -> Signal:
    counts = _per_cpu(root, "thermal_throttle/core_throttle_count", 1)
    if not counts:
        return Signal(False, NOT_AVAILABLE, "no Intel thermal_throttle counters exposed")
    return Signal(True, counts, "throttle events since boot per CPU; compare before and after")


def throttle_signals(
    *, root: str | Path = "/", run_command: RunCommand | None = None
) -> ThrottleSignals:
    """Read every throttle signal; absent ones say ``"not available"``.

    Parameters
    ----------
    root : filesystem root for the ``/sys`` reads (tests point it at a fixture tree).
    run_command : runs ``["vcgencmd", ...]`` or ``["nvidia-smi", ...]`` and returns
        stdout or None; defaults to a real subprocess call with a 5 s timeout.

    Example
    -------
    >>> sig = throttle_signals()
    >>> len(sig.signals), isinstance(sig.throttled, bool)
    (5, True)
    """
    run = run_command or _run
    pi = run(["vcgencmd", "get_throttled"])
    nv = run(["nvidia-smi", "--query-gpu=clocks_event_reasons.active", "--format=csv,noheader"])
    if nv is None or "0x" not in nv:  # drivers before 535 call it clocks_throttle_reasons
        nv = run(["nvidia-smi", "--query-gpu=clocks_throttle_reasons.active",
                  "--format=csv,noheader"])
    return ThrottleSignals({
        "cpufreq": _cpufreq(root), "thermal_zones": _thermal(root),
        "core_throttle_count": _core_throttle(root),
        "vcgencmd_throttled": parse_vcgencmd_throttled(pi) if pi is not None
        else Signal(False, NOT_AVAILABLE, "vcgencmd not found"),
        "nvidia_clock_event_reasons": parse_nvidia_clock_reasons(nv) if nv is not None
        else Signal(False, NOT_AVAILABLE, "nvidia-smi not found")})


def throttle_seen(before: ThrottleSignals, after: ThrottleSignals) -> tuple[bool, list[str]]:
    """Whether throttling happened between two snapshots, and the reasons.

    A run is flagged when either snapshot is throttled now, or an Intel
    ``core_throttle_count`` grew in between.

    Example
    -------
    >>> throttle_seen(ThrottleSignals(), ThrottleSignals())
    (False, [])
    """
    reasons = [f"{name}: {sig.detail}" for snap in (before, after)
               for name, sig in snap.signals.items() if sig.flagged]
    b = before.signals.get("core_throttle_count")
    a = after.signals.get("core_throttle_count")
    if b and a and b.available and a.available:
        grew = [cpu for cpu, n in a.value.items() if n > b.value.get(cpu, n)]
        if grew:
            reasons.append(f"core_throttle_count grew on {', '.join(grew)}")
    return bool(reasons), sorted(set(reasons))


def signal_table(snapshots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per signal over a run's snapshots (:meth:`ThrottleSignals.to_dict`, in time order).

    A signal no snapshot had is ``"not available"`` with the first snapshot's reason; one that
    was read gives its first and last value (or one value, "unchanged") and whether any
    snapshot flagged it. Nothing is filled in for a signal this runner does not expose.

    Example
    -------
    >>> snap = ThrottleSignals({"cpufreq": Signal(True, {"cpu0": 2_000_000_000}, "Hz")}).to_dict()
    >>> signal_table([snap, snap])[0]["reading"]
    "{'cpu0': 2000000000} (unchanged)"
    """
    rows = []
    for name in (k for k in snapshots[0] if k != "throttled"):
        sigs = [s[name] for s in snapshots]
        seen = [g for g in sigs if g["available"]]
        if not seen:
            rows.append({"signal": name, "available": False, "reading": NOT_AVAILABLE, "detail": sigs[0]["detail"],
                         "flagged in any sample": False})
            continue
        first, last = seen[0]["value"], seen[-1]["value"]
        reading = f"first {first}, last {last}" if first != last else f"{first} (unchanged)"
        rows.append({"signal": name, "available": True, "reading": reading[:160], "detail": seen[0]["detail"],
                     "flagged in any sample": any(g["flagged"] for g in seen)})
    return rows


# what signal_series plots of each per-CPU or per-zone signal, and how one snapshot becomes one number
_SERIES: dict[str, tuple[str, Callable[[dict[str, float]], float]]] = {
    "cpufreq": ("mean CPU frequency (MHz)", lambda v: sum(v.values()) / len(v) / 1e6),
    "thermal_zones": ("hottest thermal zone (°C)", lambda v: max(v.values())),
    "core_throttle_count": ("throttle events since boot (count, all CPUs)", lambda v: sum(v.values())),
}


def signal_series(snapshots: list[dict[str, Any]]) -> dict[str, list[float | None]]:
    """One number per snapshot for each numeric signal any snapshot exposed, keyed by its axis label.

    Mean CPU frequency in MHz, the hottest thermal zone in °C and the sum of Intel
    ``core_throttle_count`` over CPUs; None where a snapshot lacks the signal. Signals no
    snapshot exposed are left out, so an empty result means there is nothing to plot.

    Example
    -------
    >>> snaps = [ThrottleSignals({"thermal_zones": Signal(True, {"z0": t})}).to_dict() for t in (40.0, 55.0)]
    >>> signal_series(snaps)
    {'hottest thermal zone (°C)': [40.0, 55.0]}
    """
    out = {}
    for name, (label, reduce) in _SERIES.items():
        ys = [reduce(s[name]["value"]) if name in s and s[name]["available"] and isinstance(s[name]["value"], dict)
              and s[name]["value"] else None for s in snapshots]
        if any(y is not None for y in ys):
            out[label] = ys
    return out


# --------------------------------------------------------------------------- energy
def parse_pmic_read_adc(text: str) -> float | None:
    """Board power in watts from ``vcgencmd pmic_read_adc`` (Raspberry Pi 5).

    The output lists each rail twice, ``NAME_A current(i)=...A`` and
    ``NAME_V volt(j)=...V``; power is the sum of current times voltage over the
    rails that have both. None when nothing parses.

    Example
    -------
    >>> parse_pmic_read_adc("VDD_CORE_A current(7)=2.0A\\nVDD_CORE_V volt(15)=0.8V")
    1.6
    """
    read: dict[str, dict[str, float]] = {"A": {}, "V": {}}
    pattern = r"(\S+)_([AV])\s+(?:current|volt)\(\d+\)=\s*([-+0-9.eE]+)\s*[AV]"
    for name, kind, value in re.findall(pattern, text or ""):
        read[kind][name] = float(value)
    rails = sorted(set(read["A"]) & set(read["V"]))
    return round(sum(read["A"][r] * read["V"][r] for r in rails), 9) if rails else None


def parse_nvidia_power(text: str) -> float | None:
    """Total GPU power in watts from ``nvidia-smi --query-gpu=power.draw`` (csv, no units).

    One number per GPU line; ``[N/A]`` lines are skipped. None when no GPU reports.

    Example
    -------
    >>> parse_nvidia_power("77.12\\n80.00\\n")
    157.12
    """
    found = re.findall(r"^\s*([-+]?[0-9.]+)\s*W?\s*$", text or "", flags=re.MULTILINE)
    return round(sum(float(v) for v in found), 6) if found else None


@dataclass
class EnergyReading:
    """Energy over a measured block, or ``"not available"`` with the reason."""

    available: bool
    source: str
    energy_j: float | str = NOT_AVAILABLE
    duration_s: float = 0.0
    n_inferences: int = 0
    reason: str = ""
    n_power_samples: int = 0

    @property
    def mean_power_w(self) -> float | str:
        if not self.available or self.duration_s <= 0:
            return NOT_AVAILABLE
        return float(self.energy_j) / self.duration_s

    @property
    def joules_per_inference(self) -> float | str:
        if not self.available or self.n_inferences <= 0:
            return NOT_AVAILABLE
        return float(self.energy_j) / self.n_inferences

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"mean_power_w": self.mean_power_w,
                               "joules_per_inference": self.joules_per_inference}


class EnergyMeter:
    """Context manager measuring energy with the first sensor this machine has.

    Sources, tried in order: ``"rapl"`` (Intel RAPL package counters,
    ``energy_uj`` read at start and end, wrap-around handled), ``"jetson_ina"``
    (INA3221 rails; the ``VDD_IN``/``POM_5V_IN`` input rail alone when present,
    because the others are part of it, else the sum), ``"pi_pmic"``
    (``vcgencmd pmic_read_adc``) and ``"nvidia_smi"`` (``power.draw``). The last
    three are power readings, sampled by a background thread every
    ``interval_s`` and integrated with the trapezoid rule; that thread wakes
    briefly each interval, so keep ``interval_s`` well above the latency you time.

    Example
    -------
    >>> with EnergyMeter() as em:
    ...     _ = sum(range(1000))
    >>> em.reading(n_inferences=1).available in (True, False)
    True
    """

    SOURCES = ("rapl", "jetson_ina", "pi_pmic", "nvidia_smi")

    def __init__(self, *, root: str | Path = "/", run_command: RunCommand | None = None,
                 sources: tuple[str, ...] = SOURCES, interval_s: float = 0.1) -> None:
        unknown = set(sources) - set(self.SOURCES)
        if unknown:
            raise ValueError(f"unknown energy sources {sorted(unknown)}; use {self.SOURCES}")
        self.root, self.sources, self.interval_s = root, sources, interval_s
        self._runcmd = run_command or _run
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._result: EnergyReading | None = None

    # -- sources -----------------------------------------------------------
    def _rapl_zones(self) -> list[str]:
        zones = glob.glob(_sys(self.root, "/sys/class/powercap/intel-rapl:*"))
        return sorted(z for z in zones if re.fullmatch(r"intel-rapl:\d+", Path(z).name))

    def _rapl_read(self, zones: list[str]) -> dict[str, int] | str:
        out = {}
        for z in zones:
            try:
                out[z] = int(Path(z, "energy_uj").read_text().strip())
            except PermissionError:
                return f"RAPL energy_uj under {z} is not readable (needs root)"
            except (OSError, ValueError):
                return f"RAPL energy_uj under {z} is unreadable"
        return out

    def _jetson_power(self) -> Callable[[], float | None] | str:
        base = _sys(self.root, "/sys/bus/i2c/drivers/ina3221*/*")
        rails: dict[str, Callable[[], float | None]] = {}
        for hw in glob.glob(os.path.join(base, "hwmon", "hwmon*")):
            for label in glob.glob(os.path.join(hw, "in*_label")):
                idx = re.search(r"in(\d+)_label$", label).group(1)  # type: ignore[union-attr]
                mv, ma = os.path.join(hw, f"in{idx}_input"), os.path.join(hw, f"curr{idx}_input")
                if os.path.exists(mv) and os.path.exists(ma):
                    rails[_read(label) or idx] = lambda mv=mv, ma=ma: _product_w(mv, ma, 1e-6)
        for iio in glob.glob(os.path.join(base, "iio:device*")):
            for pw in glob.glob(os.path.join(iio, "in_power*_input")):
                idx = re.search(r"in_power(\d+)_input$", pw).group(1)  # type: ignore[union-attr]
                name = _read(os.path.join(iio, f"rail_name_{idx}")) or idx
                rails[name] = lambda pw=pw: _product_w(pw, None, 1e-3)
        if not rails:
            return "no Jetson INA3221 sensors under /sys/bus/i2c/drivers/ina3221*"
        total = [r for r in rails if r.upper() in ("VDD_IN", "POM_5V_IN")]
        chosen = [rails[total[0]]] if total else list(rails.values())
        return lambda: _sum_or_none([f() for f in chosen])

    def _command_power(
        self, cmd: list[str], parse: Callable[[str], float | None]
    ) -> Callable[[], float | None] | str:
        if parse(self._runcmd(cmd) or "") is None:
            return f"`{' '.join(cmd)}` not available or gave no power reading"
        return lambda: parse(self._runcmd(cmd) or "")

    def _open(self, src: str) -> str | None:
        """Prepare one source: None when it is ready, else why it is not available."""
        if src == "rapl":
            zones = self._rapl_zones()
            if not zones:
                return "no Intel RAPL zones under /sys/class/powercap"
            first = self._rapl_read(zones)
            if isinstance(first, str):
                return first
            self._rapl, self._rapl0 = zones, first
            return None
        if src == "jetson_ina":
            got = self._jetson_power()
        elif src == "pi_pmic":
            got = self._command_power(["vcgencmd", "pmic_read_adc"], parse_pmic_read_adc)
        else:
            got = self._command_power(
                ["nvidia-smi", "--query-gpu=power.draw", "--format=csv,noheader,nounits"],
                parse_nvidia_power)
        if isinstance(got, str):
            return got
        self._power = got
        return None

    # -- context manager ---------------------------------------------------
    def __enter__(self) -> EnergyMeter:  # noqa: PYI034 - Self needs Python 3.11
        self._result, self.source, self._power = None, None, None
        self._why: list[str] = []
        self._samples: list[tuple[int, float]] = []
        for src in self.sources:
            why = self._open(src)
            if why is None:
                self.source = src
                break
            self._why.append(why)
        self._t0 = time.perf_counter_ns()
        if self._power is not None:
            self._sample()
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="EnergyMeter", daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        assert self._power is not None
        watts = self._power()
        if watts is not None:
            self._samples.append((time.perf_counter_ns(), watts))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __exit__(self, *exc: object) -> None:
        t1 = time.perf_counter_ns()
        duration_s = (t1 - self._t0) / 1e9
        if self.source is None:
            self._result = EnergyReading(False, NOT_AVAILABLE, duration_s=duration_s,
                                         reason="; ".join(self._why))
            return
        if self.source == "rapl":
            end = self._rapl_read(self._rapl)
            if isinstance(end, str):
                self._result = EnergyReading(False, "rapl", duration_s=duration_s, reason=end)
                return
            total_uj = sum(e1 - self._rapl0[z] + (_wrap(z) if e1 < self._rapl0[z] else 0)
                           for z, e1 in end.items())
            self._result = EnergyReading(True, "rapl", total_uj / 1e6, duration_s)
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        pts = self._samples
        if len(pts) < 2:
            self._result = EnergyReading(False, self.source, duration_s=duration_s,
                                         reason="fewer than two power samples")
            return
        energy = sum((b[0] - a[0]) / 1e9 * (a[1] + b[1]) / 2 for a, b in itertools.pairwise(pts))
        self._result = EnergyReading(True, self.source, energy, (pts[-1][0] - pts[0][0]) / 1e9,
                                     n_power_samples=len(pts))

    def reading(self, n_inferences: int = 0) -> EnergyReading:
        """The energy of the block, with ``n_inferences`` for joules per inference."""
        if self._result is None:
            raise RuntimeError("EnergyMeter.reading() is only available after the with-block")
        return replace(self._result, n_inferences=int(n_inferences))


def _sum_or_none(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else float(sum(values))  # type: ignore[arg-type]


def _wrap(zone: str) -> int:
    """The range a RAPL counter wraps around at (added when the end reads below the start)."""
    rng = _read(os.path.join(zone, "max_energy_range_uj"))
    return int(rng) if rng and rng.isdigit() else 0


def _number(path: str) -> float | None:
    text = _read(path)
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _product_w(path_a: str, path_b: str | None, scale: float) -> float | None:
    """Watts from one sysfs reading (mW) or the product of two (mV * mA), scaled."""
    a = _number(path_a)
    b = 1.0 if path_b is None else _number(path_b)
    return None if a is None or b is None else a * b * scale
