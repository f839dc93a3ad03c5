"""A runner name that describes the machine, derived from what its kernel reports.

Two machines sold under the same CPU model name can run different kernels: one
EPYC VM exposes AVX2 only, another AVX-512 VNNI. A host name says nothing of
either, so the default runner name is built from ``/proc/cpuinfo``:

``<architecture>-<family>-<cores>c-<widest vector>[-<int8 extension>]``

* architecture: ``x86``, ``arm``, ``riscv`` (else the machine type, cleaned);
* family: the CPU line from the model name (``epyc``, ``xeon``, ``ryzen``,
  ``core``, ...), the Arm core from its part number (``cortex-a76``,
  ``neoverse-n1``, ...), else the vendor (``intel``, ``amd``);
* cores: the machine's logical cores (not the affinity of one process, so that the
  name does not change with ``taskset``);
* widest vector: ``avx512``, ``avx2``, ``avx``, ``sse4``; ``sve2``, ``sve``,
  ``neon``;
* int8 extension, when there is one: ``amx``, ``avx512vnni`` (then replacing
  ``avx512``), ``avxvnni``; ``i8mm``, ``dotprod``.

``edgetiming run --runner NAME`` overrides it. Results already committed under
other names (``reference/server-16c``) keep them.

Example
-------
>>> describe("vendor_id : AuthenticAMD\\nmodel name : AMD EPYC 7B13\\nflags : sse4_2 avx avx2 fma\\n",
...          "x86_64", 2)
'x86-epyc-2c-avx2'
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

__all__ = ["describe", "this_machine"]

_X86_FAMILIES = ("epyc", "ryzen", "threadripper", "opteron", "athlon", "xeon", "core", "atom", "celeron",
                 "pentium")
_ARM_IMPLEMENTERS = {"0x41": "arm", "0x42": "broadcom", "0x43": "cavium", "0x48": "hisilicon", "0x4e": "nvidia",
                     "0x51": "qualcomm", "0x61": "apple", "0xc0": "ampere"}
_ARM_PARTS = {  # (implementer, part) -> core, for implementer 0x41 (Arm Ltd)
    "0xd03": "cortex-a53", "0xd04": "cortex-a35", "0xd05": "cortex-a55", "0xd07": "cortex-a57",
    "0xd08": "cortex-a72", "0xd09": "cortex-a73", "0xd0a": "cortex-a75", "0xd0b": "cortex-a76",
    "0xd0c": "neoverse-n1", "0xd0d": "cortex-a77", "0xd40": "neoverse-v1", "0xd41": "cortex-a78",
    "0xd44": "cortex-x1", "0xd46": "cortex-a510", "0xd47": "cortex-a710", "0xd48": "cortex-x2",
    "0xd49": "neoverse-n2", "0xd4b": "cortex-a78c", "0xd4f": "neoverse-v2", "0xd80": "cortex-a520",
    "0xd81": "cortex-a720", "0xd82": "cortex-x4",
}


def _clean(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _architecture(machine: str) -> str:
    m = machine.lower()
    if m in ("x86_64", "amd64", "i386", "i686", "x86"):
        return "x86"
    if m.startswith(("aarch64", "arm")):
        return "arm"
    if m.startswith("riscv"):
        return "riscv"
    return _clean(m) or "cpu"


def _fields(cpuinfo: str) -> dict[str, str]:
    """The first value of each /proc/cpuinfo key (keys lower-cased)."""
    out: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out.setdefault(key.strip().lower(), value.strip())
    return out


def _family(arch: str, info: dict[str, str]) -> str | None:
    model = info.get("model name", "").lower()
    for family in _X86_FAMILIES:
        if re.search(rf"\b{family}\b", model):
            return family
    if arch == "arm":
        implementer, part = info.get("cpu implementer", "").lower(), info.get("cpu part", "").lower()
        if implementer == "0x41" and part in _ARM_PARTS:
            return _ARM_PARTS[part]
        if implementer in _ARM_IMPLEMENTERS:
            return _ARM_IMPLEMENTERS[implementer]
    vendor = info.get("vendor_id", "").lower()
    if "intel" in vendor:
        return "intel"
    if "amd" in vendor:
        return "amd"
    first = _clean(model).split("-")[0] if model else ""
    return first or None


def _extensions(arch: str, flags: set[str]) -> list[str]:
    if arch == "x86":
        vector = next((name for name, flag in (("avx512", "avx512f"), ("avx2", "avx2"), ("avx", "avx"),
                                               ("sse4", "sse4_2")) if flag in flags), None)
        int8 = next((name for name, flag in (("amx", "amx_int8"), ("avx512vnni", "avx512_vnni"),
                                             ("avxvnni", "avx_vnni")) if flag in flags), None)
    elif arch == "arm":
        vector = next((name for name, flag in (("sve2", "sve2"), ("sve", "sve"), ("neon", "asimd"),
                                               ("neon", "neon")) if flag in flags), None)
        int8 = next((name for name, flag in (("i8mm", "i8mm"), ("dotprod", "asimddp")) if flag in flags), None)
    else:
        vector = "rvv" if "v" in flags else None
        int8 = None
    if vector and int8 and int8.startswith(vector):
        return [int8]  # avx512 + avx512vnni reads as avx512vnni
    return [x for x in (vector, int8) if x]


def describe(cpuinfo: str, machine: str, cores: int | None) -> str:
    """The runner name for a machine with this ``/proc/cpuinfo`` text, machine type and core count.

    >>> describe("vendor_id : AuthenticAMD\\nmodel name : AMD EPYC 9B14\\n"
    ...          "flags : avx avx2 avx512f avx512_vnni avx512_bf16\\n", "x86_64", 2)
    'x86-epyc-2c-avx512vnni'
    >>> describe("CPU implementer : 0x41\\nCPU part : 0xd0b\\nFeatures : fp asimd asimddp\\n", "aarch64", 4)
    'arm-cortex-a76-4c-neon-dotprod'
    >>> describe("", "x86_64", None)
    'x86'
    """
    arch = _architecture(machine)
    info = _fields(cpuinfo)
    flags = set((info.get("flags") or info.get("features") or info.get("isa") or "").split())
    if arch == "riscv" and info.get("isa"):
        base = info["isa"].split("_")[0].lower()
        flags = {"v"} if re.match(r"rv\d+[a-z]*v", base) else set()
    parts = [arch, _family(arch, info), f"{cores}c" if cores else None, *_extensions(arch, flags)]
    return "-".join(_clean(p) for p in parts if p)


def this_machine() -> str:
    """:func:`describe` for the machine this runs on."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        cpuinfo = ""
    return describe(cpuinfo, platform.machine(), os.cpu_count())
