"""The runner's fingerprint: what about this machine can change a timing.

``runner.json`` holds it. Everything a machine does not expose is recorded as
the string ``"not available"``, never guessed. :func:`cache_identity` is the
stable subset that enters the recipe cache key: it leaves out readings that
change from minute to minute (current frequency, temperatures, free memory).

Example
-------
>>> fp = collect()  # doctest: +SKIP
>>> fp["cpu"]["logical_cores"]  # doctest: +SKIP
2
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil

__all__ = [
    "NOT_AVAILABLE",
    "RUNNER_SCHEMA_VERSION",
    "cache_identity",
    "collect",
    "default_runner_name",
    "fingerprint_hash",
    "isa_flags",
]

NOT_AVAILABLE = "not available"
RUNNER_SCHEMA_VERSION = 1
_ISA_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni",
    "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16", "neon", "asimd", "asimddp", "sve",
    "i8mm", "bf16", "fp16", "asimdhp",
)


def default_runner_name() -> str:
    """A runner name that describes this machine (architecture, CPU family, cores, widest vector
    and int8 extensions, e.g. ``x86-epyc-2c-avx512vnni``; :mod:`edgetiming.host.runner_name`)."""
    from edgetiming.host.runner_name import this_machine

    return this_machine() or "local"


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def _cpu() -> dict[str, Any]:
    model: str = platform.processor() or NOT_AVAILABLE
    flags: list[str] = []
    cpuinfo = _read("/proc/cpuinfo") or ""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and model in ("", NOT_AVAILABLE, "x86_64"):
            model = value.strip()
        if key in ("flags", "features") and not flags:
            present = set(value.split())
            flags = [f for f in _ISA_FLAGS if f in present]
    if not model:
        model = NOT_AVAILABLE
    affinity: Any
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = NOT_AVAILABLE
    return {
        "model": model,
        "architecture": platform.machine() or NOT_AVAILABLE,
        "isa_flags": flags if cpuinfo else NOT_AVAILABLE,
        "logical_cores": os.cpu_count() or NOT_AVAILABLE,
        "usable_cores": affinity,
    }


def isa_flags() -> list[str]:
    """The vector and matrix extensions the kernel reports for this CPU (empty when it reports none)."""
    flags = _cpu()["isa_flags"]
    return flags if isinstance(flags, list) else []


def _memory_bytes() -> Any:
    meminfo = _read("/proc/meminfo") or ""
    match = re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.MULTILINE)
    if match:
        return int(match.group(1)) * 1024
    try:
        return int(psutil.virtual_memory().total)
    except Exception:  # noqa: BLE001 - any failure means the value is unknown
        return NOT_AVAILABLE


def _governor() -> dict[str, Any]:
    governors = sorted({_read(p) or "" for p in glob.glob("/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor")} - {""})
    max_khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    return {
        "governor": governors if governors else NOT_AVAILABLE,
        "max_frequency_khz": int(max_khz) if max_khz and max_khz.isdigit() else NOT_AVAILABLE,
    }


def _thermal() -> Any:
    zones = []
    for zone in sorted(glob.glob("/sys/class/thermal/thermal_zone*")):
        zones.append({"zone": Path(zone).name, "type": _read(f"{zone}/type") or NOT_AVAILABLE})
    return zones if zones else NOT_AVAILABLE


def _onnxruntime() -> dict[str, Any]:
    try:
        # imported here: onnxruntime costs ~150 ms to import; `edgetiming site` reads fingerprints without it
        import onnxruntime as ort
    except Exception as exc:  # noqa: BLE001
        return {"version": NOT_AVAILABLE, "providers": NOT_AVAILABLE, "error": str(exc)}
    return {"version": ort.__version__, "providers": list(ort.get_available_providers())}


def _gpus() -> Any:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return NOT_AVAILABLE
    gpus = [line.strip() for line in out.splitlines() if line.strip()]
    return gpus or NOT_AVAILABLE


def collect(runner: str | None = None) -> dict[str, Any]:
    """Read this machine's fingerprint into a ``runner.json`` record."""
    uname = platform.uname()
    fp: dict[str, Any] = {
        "schema_version": RUNNER_SCHEMA_VERSION,
        "runner": runner or default_runner_name(),
        "collected_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": _cpu(),
        "memory_bytes": _memory_bytes(),
        "os": {
            "system": uname.system,
            "release": uname.release,
            "version": uname.version,
            "distribution": _distribution(),
        },
        "python": {"version": platform.python_version(), "implementation": platform.python_implementation()},
        "onnxruntime": _onnxruntime(),
        "frequency": _governor(),
        "thermal_zones": _thermal(),
        "gpus": _gpus(),
        "virtualized": _virtualized(),
    }
    fp["identity_sha256"] = fingerprint_hash(fp)
    return fp


def _distribution() -> str:
    try:
        info = platform.freedesktop_os_release()
    except OSError:
        return NOT_AVAILABLE
    return info.get("PRETTY_NAME", NOT_AVAILABLE)


def _virtualized() -> Any:
    cpuinfo = _read("/proc/cpuinfo") or ""
    if not cpuinfo:
        return NOT_AVAILABLE
    return "hypervisor" in cpuinfo.split()


def cache_identity(fp: dict[str, Any]) -> dict[str, Any]:
    """The fields of a fingerprint that identify the hardware and software stack.

    Readings that vary between runs on the same machine (collection time, kernel
    build string) stay out, so the cache is not invalidated by the clock.
    """
    return {
        "cpu": fp.get("cpu"),
        "memory_bytes": fp.get("memory_bytes"),
        "os": {k: fp.get("os", {}).get(k) for k in ("system", "release", "distribution")},
        "python": fp.get("python"),
        "onnxruntime": fp.get("onnxruntime"),
        "frequency": fp.get("frequency"),
        "gpus": fp.get("gpus"),
    }


def fingerprint_hash(fp: dict[str, Any]) -> str:
    """sha256 of :func:`cache_identity`, as hex."""
    blob = json.dumps(cache_identity(fp), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


if __name__ == "__main__":  # pragma: no cover - manual inspection
    json.dump(collect(), sys.stdout, indent=2)
