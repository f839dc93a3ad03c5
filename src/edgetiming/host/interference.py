"""What else the machine was doing while a measurement ran: block-boundary telemetry from ``/proc``.

A latency number is only as quiet as the machine it came from. An
:class:`InterferenceMeter` takes one cheap snapshot at every block boundary of a
measurement (never per call: a snapshot reads four small ``/proc`` files, about
40 us on the 2-vCPU runner) and turns consecutive snapshots into a per-block
table (:class:`InterferenceTable`) of numpy arrays:

- ``t_start_ns``, ``t_end_ns``: the block's bounds, int64 ns from
  ``time.perf_counter_ns()``, the clock the latency samples are taken with;
- ``self_cpu_s``: CPU time of this process (all threads, ``utime + stime`` of
  ``/proc/self/stat``);
- ``others_cpu_s``: CPU time the measured CPUs spent on anything else: the busy
  time of those CPUs in ``/proc/stat`` (user, nice, system, irq, softirq) plus
  their steal time, minus this process's CPU time;
- ``steal_s``: time the hypervisor ran another guest while a measured CPU wanted to
  run (``/proc/stat`` steal);
- ``procs_running``: runnable tasks machine-wide at the block's end (``/proc/stat``);
- ``voluntary_ctxt``, ``involuntary_ctxt``: context switches of the measuring
  thread(s) during the block (``/proc/thread-self/status``, or the given threads
  under ``/proc/self/task``); an involuntary one means the scheduler took the CPU away;
- ``freq_mhz``: mean ``cpufreq/scaling_cur_freq`` of the measured CPUs at the block's
  end, NaN where it is not exposed;
- ``temp_c``: the hottest thermal zone at the block's end, NaN where none is exposed;
- ``busy_share``: ``others_cpu_s / (wall_s * cpus)`` clipped to [0, 1].

**busy_share**, the number a run is judged by
(:data:`edgetiming.stats.validity.INTERFERENCE_LIMIT`): the average fraction of
the CPUs this measurement could run on (its affinity mask, ``cpus``) that other
work held during the measuring window,

    busy_share = sum(others_cpu_s) / sum(wall_s * cpus), clipped to [0, 1],

summed over the steady blocks. Other work is everything but this process:
other processes, kernel work on their behalf, interrupts, and other guests of
the hypervisor (steal). On a 2-CPU machine one other process spinning on one
core gives 0.5; an idle machine gives a few thousandths. The CPU counters tick
at ``USER_HZ`` (100 per second on Linux), so one block of 0.1 s on 2 CPUs reads
in steps of 5%; the run-level sum is what is judged. Where ``/proc`` does not
exist (macOS, Windows) the meter records timestamps only and every summary
value is ``"not available"``.

Example
-------
>>> meter = InterferenceMeter()
>>> meter.mark()
>>> _ = sum(range(100_000))
>>> meter.mark()
>>> table = meter.table()
>>> table.n_blocks, bool(table.t_end_ns[0] > table.t_start_ns[0])
(1, True)
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FIELDS",
    "NOT_AVAILABLE",
    "InterferenceMeter",
    "InterferenceTable",
    "Snapshot",
    "parse_proc_stat",
    "parse_self_stat",
    "parse_status_ctxt",
    "snapshot",
    "snapshot_from",
]

NOT_AVAILABLE = "not available"
try:
    _CLK_TCK = float(os.sysconf("SC_CLK_TCK"))
except (ValueError, OSError, AttributeError):  # not POSIX: /proc is absent anyway
    _CLK_TCK = 100.0

#: the per-block columns, in the order they are stored beside the latency samples
FIELDS: tuple[str, ...] = (
    "t_start_ns", "t_end_ns", "iter_start", "iter_end", "self_cpu_s", "others_cpu_s", "steal_s",
    "busy_share", "procs_running", "voluntary_ctxt", "involuntary_ctxt", "freq_mhz", "temp_c")
_INT_FIELDS = {"t_start_ns", "t_end_ns", "iter_start", "iter_end", "procs_running", "voluntary_ctxt",
               "involuntary_ctxt"}


def _read(path: str | Path) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def parse_proc_stat(text: str, cpus: Sequence[int] | None = None) -> tuple[int, int, int, int] | None:
    """``(busy_ticks, steal_ticks, cpus_counted, procs_running)`` from ``/proc/stat``.

    ``busy`` is user + nice + system + irq + softirq summed over the ``cpuN`` lines
    of ``cpus`` (all CPUs when None); guest time is already inside user and is not
    added twice; idle and iowait are not busy. None when the text has no CPU line.

    Example
    -------
    >>> parse_proc_stat("cpu0 10 1 5 100 0 2 3 7 0 0\\ncpu1 1 0 1 50 0 0 0 0 0 0\\nprocs_running 3\\n", [0])
    (21, 7, 1, 3)
    """
    want = None if cpus is None else {int(c) for c in cpus}
    busy = steal = counted = 0
    running = -1
    for line in text.splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            parts = line.split()
            cpu = int(parts[0][3:])
            if want is not None and cpu not in want:
                continue
            v = [int(x) for x in parts[1:]] + [0] * 10
            busy += v[0] + v[1] + v[2] + v[5] + v[6]
            steal += v[7]
            counted += 1
        elif line.startswith("procs_running"):
            running = int(line.split()[1])
    return (busy, steal, counted, running) if counted else None


def parse_self_stat(text: str) -> int | None:
    """``utime + stime`` in clock ticks from ``/proc/<pid>/stat`` (fields 14 and 15).

    The command name (field 2) may hold spaces and parentheses, so fields are
    counted after its closing parenthesis.

    Example
    -------
    >>> parse_self_stat("12 (a b) R 1 1 1 0 -1 0 0 0 0 0 250 40 0 0")
    290
    """
    try:
        rest = text[text.rindex(")") + 2:].split()
        return int(rest[11]) + int(rest[12])
    except (ValueError, IndexError):
        return None


def parse_status_ctxt(text: str) -> tuple[int, int] | None:
    """``(voluntary, involuntary)`` context switches from a ``/proc/.../status`` text.

    Example
    -------
    >>> parse_status_ctxt("voluntary_ctxt_switches:\\t4\\nnonvoluntary_ctxt_switches:\\t2\\n")
    (4, 2)
    """
    vol = inv = None
    for line in text.splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            vol = int(line.split()[1])
        elif line.startswith("nonvoluntary_ctxt_switches:"):
            inv = int(line.split()[1])
    return None if vol is None or inv is None else (vol, inv)


@dataclass(frozen=True)
class Snapshot:
    """One block-boundary reading; counters are None where ``/proc`` does not give them."""

    t_ns: int
    iteration: int
    busy_ticks: int | None
    steal_ticks: int | None
    cpus: int
    procs_running: int | None
    self_ticks: int | None
    voluntary: int | None
    involuntary: int | None
    freq_mhz: float
    temp_c: float


def _freq_mhz(cpus: Sequence[int], root: str) -> float:
    vals = []
    for c in cpus:
        text = _read(f"{root}sys/devices/system/cpu/cpu{c}/cpufreq/scaling_cur_freq")
        if text and text.strip().isdigit():
            vals.append(int(text) / 1000.0)  # kHz -> MHz
    return float(np.mean(vals)) if vals else float("nan")


def _temp_c(zones: Sequence[str]) -> float:
    vals = []
    for zone in zones:
        text = _read(os.path.join(zone, "temp"))
        if text and text.strip().lstrip("-").isdigit():
            vals.append(int(text) / 1000.0)
    return max(vals) if vals else float("nan")


def _affinity() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def snapshot(iteration: int = 0, *, cpus: Sequence[int] | None = None, tids: Sequence[int] | None = None,
             root: str = "/", thermal_zones: Sequence[str] | None = None) -> Snapshot:
    """Read the counters once. ``tids``: native thread ids whose context switches to sum
    (default: the calling thread). ``root``: filesystem root (tests point it at a fixture)."""
    cpus = _affinity() if cpus is None else list(cpus)
    t_ns = time.perf_counter_ns()
    stat = _read(f"{root}proc/stat")
    self_text = _read(f"{root}proc/self/stat")
    paths = ([f"{root}proc/thread-self/status"] if not tids
             else [f"{root}proc/self/task/{t}/status" for t in tids])
    zones = (thermal_zones if thermal_zones is not None
             else sorted(glob.glob(f"{root}sys/class/thermal/thermal_zone[0-9]*")))
    return snapshot_from(t_ns, stat, self_text, [_read(p) for p in paths], cpus=cpus, iteration=iteration,
                         freq_mhz=_freq_mhz(cpus, root), temp_c=_temp_c(zones))


def snapshot_from(t_ns: int, proc_stat: str | None, self_stat: str | None, statuses: Sequence[str | None] = (),
                  *, cpus: Sequence[int], iteration: int = 0, freq_mhz: float = float("nan"),
                  temp_c: float = float("nan")) -> Snapshot:
    """A :class:`Snapshot` from texts read at ``t_ns`` and parsed later.

    A measurement that must not import or parse anything before its timed phases (a
    cold-start child) reads ``/proc/stat``, ``/proc/self/stat`` and its thread's
    ``status`` as plain text, and builds the snapshot once the phases are over.
    """
    parsed = parse_proc_stat(proc_stat, cpus) if proc_stat else None
    vol = inv = None
    for text in statuses:
        got = parse_status_ctxt(text) if text else None
        if got is not None:
            vol, inv = (vol or 0) + got[0], (inv or 0) + got[1]
    return Snapshot(
        int(t_ns), int(iteration), parsed[0] if parsed else None, parsed[1] if parsed else None,
        parsed[2] if parsed else len(cpus), parsed[3] if parsed and parsed[3] >= 0 else None,
        parse_self_stat(self_stat) if self_stat else None, vol, inv, freq_mhz, temp_c)


@dataclass
class InterferenceTable:
    """Per-block interference columns (see the module docstring) and a run summary.

    ``columns`` maps each name of :data:`FIELDS` to a numpy array with one entry per
    block (also readable as attributes, ``table.t_start_ns``; the per-block
    ``busy_share`` column only as ``table.columns["busy_share"]``, since the
    attribute ``busy_share`` is the run-level value); counters that ``/proc`` did not give are -1 (integers) or NaN (floats).
    ``available`` says which sources existed, ``cpus`` the CPU ids measured, and
    ``steady_from`` the first row whose samples are past warmup.
    """

    columns: dict[str, np.ndarray]
    cpus: list[int]
    available: dict[str, bool] = field(default_factory=dict)
    steady_from: int = 0

    def __getattr__(self, name: str) -> np.ndarray:
        cols = self.__dict__.get("columns")
        if cols is not None and name in cols:
            return cols[name]
        raise AttributeError(name)

    @property
    def n_blocks(self) -> int:
        return int(self.columns["t_start_ns"].size)

    def _steady(self) -> slice:
        return slice(min(self.steady_from, max(self.n_blocks - 1, 0)), None)

    @property
    def busy_share(self) -> float | None:
        """``sum(others_cpu_s) / sum(wall_s * cpus)`` over the steady blocks, in [0, 1];
        None where ``/proc/stat`` is not available."""
        if not self.available.get("proc_stat") or not self.n_blocks:
            return None
        s = self._steady()
        wall = (self.columns["t_end_ns"][s] - self.columns["t_start_ns"][s]).astype(np.float64) / 1e9
        cap = float(wall.sum()) * max(len(self.cpus), 1)
        others = float(np.nansum(self.columns["others_cpu_s"][s]))
        return float(min(max(others / cap, 0.0), 1.0)) if cap > 0 else None

    def summary(self) -> dict[str, Any]:
        """Run-level numbers, JSON-ready; a missing source reads ``"not available"``."""
        s = self._steady()
        c = {k: v[s] for k, v in self.columns.items()}
        wall = float((c["t_end_ns"] - c["t_start_ns"]).sum()) / 1e9 if self.n_blocks else 0.0

        def avail(key: str, value: Any) -> Any:
            return value if self.available.get(key) else NOT_AVAILABLE

        bs = self.busy_share
        per_block = c["busy_share"][np.isfinite(c["busy_share"])] if self.n_blocks else np.empty(0)
        freq = c["freq_mhz"][np.isfinite(c["freq_mhz"])] if self.n_blocks else np.empty(0)
        temp = c["temp_c"][np.isfinite(c["temp_c"])] if self.n_blocks else np.empty(0)
        return {
            "busy_share": bs if bs is not None else NOT_AVAILABLE,
            "definition": "other work's CPU time on the measured CPUs (busy + steal in /proc/stat minus "
                          "this process's utime+stime) / (wall time x measured CPUs), steady blocks",
            "blocks": self.n_blocks - s.start if self.n_blocks else 0,
            "wall_s": wall,
            "cpus": list(self.cpus),
            "max_block_busy_share": avail("proc_stat", float(per_block.max()) if per_block.size else None),
            "others_cpu_s": avail("proc_stat", float(np.nansum(c["others_cpu_s"]))),
            "self_cpu_s": avail("self_stat", float(np.nansum(c["self_cpu_s"]))),
            "steal_s": avail("proc_stat", float(np.nansum(c["steal_s"]))),
            "procs_running_max": avail("proc_stat", int(c["procs_running"].max()) if self.n_blocks else None),
            "voluntary_ctxt": avail("ctxt", int(c["voluntary_ctxt"].clip(0).sum())),
            "involuntary_ctxt": avail("ctxt", int(c["involuntary_ctxt"].clip(0).sum())),
            "freq_mhz_range": avail("cpufreq", [float(freq.min()), float(freq.max())] if freq.size else None),
            "temp_c_max": avail("thermal", float(temp.max()) if temp.size else None),
        }

    def busy_note(self, limit: float) -> str | None:
        """A sentence for a metric note when other work held more than ``limit`` of the CPUs, else None."""
        bs = self.busy_share
        if bs is None or bs <= limit:
            return None
        sm = self.summary()
        return (f"the machine was busy: other work held {bs:.0%} of the measured CPUs "
                f"({sm['others_cpu_s']:.2f} CPU-s over {sm['wall_s']:.1f} s on {len(self.cpus)} CPU(s); "
                f"up to {sm['procs_running_max']} runnable tasks; {sm['involuntary_ctxt']} involuntary "
                "context switches of the measuring thread)")

    def to_dict(self) -> dict[str, Any]:
        """The summary plus every column as a list (JSON-ready; NaN as None)."""
        cols = {k: [None if isinstance(x, float) and not np.isfinite(x) else x for x in v.tolist()]
                for k, v in self.columns.items()}
        return {"summary": self.summary(), "available": dict(self.available), "cpus": list(self.cpus),
                "steady_from": self.steady_from, "columns": cols}


class InterferenceMeter:
    """Call :meth:`mark` at every block boundary; :meth:`table` turns the marks into rows.

    Parameters
    ----------
    cpus : CPU ids the measurement may run on; default: this process's affinity mask
        at construction (call it after pinning).
    tids : native thread ids (``threading.get_native_id()``) whose context switches
        are counted; default: the thread that calls :meth:`mark`.
    root : filesystem root, for tests.
    """

    def __init__(self, *, cpus: Sequence[int] | None = None, tids: Sequence[int] | None = None,
                 root: str = "/") -> None:
        self.cpus = _affinity() if cpus is None else sorted(int(c) for c in cpus)
        self.tids = list(tids) if tids else None
        self.root = root if root.endswith("/") else root + "/"
        self.zones = sorted(glob.glob(f"{self.root}sys/class/thermal/thermal_zone[0-9]*"))
        self.snaps: list[Snapshot] = []

    def mark(self, iteration: int = 0) -> None:
        """Snapshot now; ``iteration`` is the index of the first latency sample after this mark."""
        self.snaps.append(snapshot(iteration, cpus=self.cpus, tids=self.tids, root=self.root,
                                   thermal_zones=self.zones))

    def table(self, *, steady_from_iter: int = 0) -> InterferenceTable:
        """One row per pair of consecutive marks; rows ending at or before ``steady_from_iter``
        are warmup (left out of the summary, kept in the table)."""
        a, b = self.snaps[:-1], self.snaps[1:]
        n = len(a)

        def diff(attr: str, scale: float = 1.0) -> np.ndarray:
            out = np.full(n, np.nan)
            for i, (x, y) in enumerate(zip(a, b)):
                u, v = getattr(x, attr), getattr(y, attr)
                if u is not None and v is not None:
                    out[i] = (v - u) / scale
            return out

        def ints(vals: list[int | None]) -> np.ndarray:
            return np.array([-1 if v is None else v for v in vals], dtype=np.int64)

        t0 = np.array([s.t_ns for s in a], dtype=np.int64)
        t1 = np.array([s.t_ns for s in b], dtype=np.int64)
        busy = diff("busy_ticks", _CLK_TCK)
        steal = diff("steal_ticks", _CLK_TCK)
        mine = diff("self_ticks", _CLK_TCK)
        others = busy + steal - np.nan_to_num(mine)
        wall = np.maximum((t1 - t0).astype(np.float64) / 1e9, 1e-12)
        share = np.clip(others / (wall * max(len(self.cpus), 1)), 0.0, 1.0)
        vol, inv = diff("voluntary"), diff("involuntary")
        cols = {
            "t_start_ns": t0, "t_end_ns": t1,
            "iter_start": np.array([s.iteration for s in a], dtype=np.int64),
            "iter_end": np.array([s.iteration for s in b], dtype=np.int64),
            "self_cpu_s": mine, "others_cpu_s": others, "steal_s": steal, "busy_share": share,
            "procs_running": ints([s.procs_running for s in b]),
            "voluntary_ctxt": np.nan_to_num(vol, nan=-1).astype(np.int64),
            "involuntary_ctxt": np.nan_to_num(inv, nan=-1).astype(np.int64),
            "freq_mhz": np.array([s.freq_mhz for s in b], dtype=np.float64),
            "temp_c": np.array([s.temp_c for s in b], dtype=np.float64),
        }
        first = self.snaps[0] if self.snaps else None
        available = {
            "proc_stat": first is not None and first.busy_ticks is not None,
            "self_stat": first is not None and first.self_ticks is not None,
            "ctxt": first is not None and first.voluntary is not None,
            "cpufreq": bool(n) and bool(np.isfinite(cols["freq_mhz"]).any()),
            "thermal": bool(n) and bool(np.isfinite(cols["temp_c"]).any()),
        }
        steady = int(np.searchsorted(cols["iter_end"], steady_from_iter, side="right")) if n else 0
        if n and steady_from_iter <= 0:
            steady = 0
        return InterferenceTable(cols, list(self.cpus), available, min(steady, max(n - 1, 0)))
