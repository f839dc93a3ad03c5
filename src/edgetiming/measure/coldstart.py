"""Cold start: from launching a fresh process to its first result and to steady state.

:func:`cold_start` starts N fresh Python processes one after another; each
reports, as int64 nanoseconds, how long the interpreter took to start, the
imports (``numpy``, then ``onnxruntime``), session creation, the first
inference and every following iteration, from which the time to steady state
is computed (definition in :func:`steady_state_index`). Reporting the spread
between processes is the honest answer to "how long until the first result".

Each process also records the share of the CPUs other work held from just before
its session was created to the end of its timed loop (``busy_share``, that window
in ``t_start_ns``/``t_end_ns``) and the sentinel timed after it (``sentinel_ns``);
:func:`noise_panels` draws them with :func:`edgetiming.measure.noise.figure`.

Example
-------
>>> run = cold_start("rapidocr:cls", n_processes=3,
...                  input_shapes={"x": (1, 3, 48, 192)})  # doctest: +SKIP
>>> run.phase_ns("session_create_ns").shape  # doctest: +SKIP
(3,)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgetiming.measure.closedloop import RUN_SCHEMA_VERSION
from edgetiming.measure.isolation import run_child
from edgetiming.measure.session import (
    SessionConfig,
)
from edgetiming.results import report
from edgetiming.stats.conclude import comparison_sentence, noise_floor_sentence, runner_name
from edgetiming.stats.quantiles import quantile
from edgetiming.stats.repeated import RatioEstimate, balanced_order, paired_ratio
from edgetiming.workload.models import resolve

if TYPE_CHECKING:
    from edgetiming.measure.noise import Panels

__all__ = [
    "LAUNCH_PHASES",
    "ColdRounds",
    "ColdStartProcess",
    "ColdStartRun",
    "cold_conclusions",
    "cold_start",
    "cold_start_rounds",
    "largest_launch_phase",
    "launch_breakdown",
    "noise_panels",
    "phase_conclusions",
    "steady_state_index",
]

PHASES = ("interpreter_start_ns", "import_numpy_ns", "import_onnxruntime_ns",
          "session_create_ns", "first_inference_ns", "time_to_steady_ns", "spawn_to_steady_ns")

# The child times its own imports, so nothing may be imported before the clock starts; its
# body lives in the light module measure.coldchild, whose import is timed as the harness's.
_COLD_CHILD = """import time
_t_start = time.perf_counter_ns()
import sys
_t0 = time.perf_counter_ns()
import numpy
_t1 = time.perf_counter_ns()
import onnxruntime
_t2 = time.perf_counter_ns()
from edgetiming.measure.coldchild import cold_main
_t3 = time.perf_counter_ns()
cold_main(sys.argv[1], sys.argv[2], _t_start, _t1 - _t0, _t2 - _t1, _t3 - _t2)
"""


# --------------------------------------------------------------------------- cold start
def steady_state_index(
    latency_ns: np.ndarray, *, window: int = 20, tolerance: float = 0.10
) -> int | None:
    """Index of the first steady iteration, or None when the run never settles.

    Definition: let ``M`` be the median of the last half of the run (the
    steady reference). Iteration ``i`` is the start of steady state when
    ``L[i]`` is within ``tolerance * M`` of ``M`` and so is the median of the
    ``window`` iterations ``L[i] .. L[i+window-1]``. The first condition puts
    the start on a steady iteration; the second stops one lucky fast
    iteration in the middle of warmup from counting. Iterations before
    ``i`` are the warmup; their summed latency is the time to steady state.

    Example
    -------
    >>> steady_state_index(np.array([50, 30, 20] + [10] * 40), window=5)
    3
    """
    lat = np.asarray(latency_ns, dtype=np.float64)
    if lat.size < 2 * window:
        return None
    ref = float(np.median(lat[lat.size // 2:]))
    band = tolerance * ref
    near = np.abs(lat - ref) <= band
    for i in range(lat.size - window + 1):
        if near[i] and abs(float(np.median(lat[i:i + window])) - ref) <= band:
            return i
    return None


@dataclass
class ColdStartProcess:
    """One fresh process, phases in int64 ns (``time_to_steady_ns`` None if never steady).

    ``interpreter_start_ns`` runs from the parent's spawn to the child's first
    statement (both read the system-wide monotonic clock); ``latency_ns[0]`` is
    the first inference; ``spawn_to_steady_ns`` is what a user waits in total.
    ``busy_share`` is the share of the CPUs other work held between ``t_start_ns``
    (before session creation) and ``t_end_ns`` (the end of the timed loop), both on
    ``perf_counter_ns`` (None where ``/proc`` is absent); ``sentinel_ns`` are the
    sentinel calls timed in the same process after that window.
    """

    pid: int
    interpreter_start_ns: int
    import_numpy_ns: int
    import_onnxruntime_ns: int
    session_create_ns: int
    first_inference_ns: int
    steady_iter: int | None
    time_to_steady_ns: int | None
    spawn_to_first_result_ns: int
    spawn_to_steady_ns: int | None
    latency_ns: np.ndarray = field(repr=False)
    harness_import_ns: int = 0  # importing the harness's child module (not the application's cost)
    busy_share: float | None = None
    t_start_ns: int = 0
    t_end_ns: int = 0
    sentinel_ns: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64), repr=False)

    @property
    def sentinel_median_ns(self) -> float:
        """Median sentinel latency of this process (NaN when none was timed)."""
        return float(np.median(self.sentinel_ns)) if self.sentinel_ns.size else math.nan

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("latency_ns")
        out.pop("sentinel_ns")
        med = self.sentinel_median_ns
        out["sentinel_median_ns"] = med if math.isfinite(med) else None
        return out


@dataclass
class ColdStartRun:
    """N fresh processes with their phases; spread across processes is the point."""

    model: str
    processes: list[ColdStartProcess]
    window: int
    tolerance: float
    settings: dict[str, Any]

    def phase_ns(self, phase: str) -> np.ndarray:
        """One phase across processes as int64 ns (processes that never settled left out)."""
        vals = [getattr(p, phase) for p in self.processes]
        return np.array([v for v in vals if v is not None], dtype=np.int64)

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per phase: n, median, min, max (ms) and spread = (max - min) / median."""
        out = {}
        for phase in PHASES + ("spawn_to_first_result_ns",):
            v = self.phase_ns(phase)
            if v.size == 0:
                out[phase] = {"n": 0}
                continue
            med = float(np.median(v))
            out[phase] = {"n": int(v.size), "median_ms": med / 1e6, "min_ms": v.min() / 1e6,
                          "max_ms": v.max() / 1e6,
                          "spread": (v.max() - v.min()) / med if med > 0 else None}
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "cold_start", "schema_version": RUN_SCHEMA_VERSION, "model": self.model,
                "n_processes": len(self.processes),
                "steady_window": self.window, "steady_tolerance": self.tolerance,
                "settings": self.settings, "summary": self.summary(),
                "processes": [p.to_dict() for p in self.processes]}

    def report(self, name: str) -> None:
        """Report each phase's median across processes and the raw per-process values."""

        for phase, row in self.summary().items():
            if not row["n"]:
                report.metric(f"{name}.{phase[:-3]}_ms", None, unit="ms", note="never steady")
                continue
            report.samples(f"{name}.{phase[:-3]}", self.phase_ns(phase), description=(
                f"{phase} of each fresh process, int64 ns"))
            report.metric(f"{name}.{phase[:-3]}_ms", row["median_ms"], unit="ms",
                          n=row["n"], description=f"median over fresh processes of {phase[:-3]}"
                          f" (range {row['min_ms']:.3g}-{row['max_ms']:.3g} ms)")


def cold_start(
    model_path: str | Path,
    *,
    n_processes: int = 5,
    feeds: dict[str, np.ndarray] | None = None,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    session_config: SessionConfig | None = None,
    iters: int = 200,
    window: int = 20,
    tolerance: float = 0.10,
    timeout_s: float = 120.0,
) -> ColdStartRun:
    """Start ``n_processes`` fresh Python processes, one at a time, and time their start.

    Parameters
    ----------
    model_path : an .onnx path or ``rapidocr:*`` alias.
    feeds, input_shapes : the inputs (arrays) or the shapes of seeded random inputs.
    session_config : onnxruntime settings for the session each child opens.
    iters : iterations after the first inference, for the steady-state search.
    window, tolerance : see :func:`steady_state_index`.

    Example
    -------
    >>> run = cold_start("rapidocr:cls", n_processes=2,
    ...                  input_shapes={"x": (1, 3, 48, 192)})  # doctest: +SKIP
    >>> run.summary()["session_create_ns"]["n"]  # doctest: +SKIP
    2
    """

    model = str(resolve(model_path))
    spec = {"model": model, "feeds": feeds, "input_shapes": input_shapes,
            "config": session_config or SessionConfig(), "iters": int(iters)}
    procs, settings = [], {}
    for _ in range(n_processes):
        res, t_spawn = run_child(_COLD_CHILD, spec, timeout_s)
        lat = res["latency_ns"]
        s = steady_state_index(lat, window=window, tolerance=tolerance)
        to_steady = None if s is None else int(lat[:s].sum())
        before_loop = res["first_done_ns"] - int(lat[0]) - t_spawn
        cols = res["interference"]["columns"]
        busy = res["interference"]["summary"]["busy_share"]
        procs.append(ColdStartProcess(
            pid=res["pid"], interpreter_start_ns=res["start_ns"] - t_spawn,
            import_numpy_ns=res["import_numpy_ns"],
            import_onnxruntime_ns=res["import_onnxruntime_ns"],
            session_create_ns=res["session_create_ns"], first_inference_ns=int(lat[0]),
            steady_iter=s, time_to_steady_ns=to_steady,
            spawn_to_first_result_ns=res["first_done_ns"] - t_spawn,
            spawn_to_steady_ns=None if to_steady is None else before_loop + to_steady,
            latency_ns=lat, harness_import_ns=res.get("harness_import_ns", 0),
            busy_share=busy if isinstance(busy, float) else None, t_start_ns=int(cols["t_start_ns"][0]),
            t_end_ns=int(cols["t_end_ns"][0]), sentinel_ns=np.asarray(res["sentinel_ns"], dtype=np.int64)))
        settings = res["settings"]
    return ColdStartRun(model, procs, window, tolerance, settings)


# --------------------------------------------------------------------------- launch phases, rounds
# Everything from launch to the first result, in order; they add up to spawn_to_first_result_ns.
# "harness" is what this child does besides the application's work: importing its (light)
# edgetiming module, reading its spec, building the inputs.
LAUNCH_PHASES = ("interpreter start", "import numpy", "import onnxruntime", "session create",
                 "first inference", "harness (edgetiming import, inputs)")


def launch_breakdown(p: ColdStartProcess) -> dict[str, int]:
    """One process's launch-to-first-result split into :data:`LAUNCH_PHASES` (ns; they sum to the total)."""
    parts = dict(zip(LAUNCH_PHASES[:-1], (p.interpreter_start_ns, p.import_numpy_ns, p.import_onnxruntime_ns,
                                          p.session_create_ns, p.first_inference_ns)))
    parts[LAUNCH_PHASES[-1]] = max(0, p.spawn_to_first_result_ns - sum(parts.values()))
    return parts


def process_phase(p: ColdStartProcess, phase: str) -> float:
    """One phase of one process in ns (NaN when it never happened, e.g. never steady).

    Phases: the :data:`LAUNCH_PHASES`, ``"launch to first result"``,
    ``"session create + first inference"``, ``"second inference"``,
    ``"steady inference"`` (median of the last half of the run) and ``"time to steady"``.
    """
    if phase in LAUNCH_PHASES:
        return float(launch_breakdown(p)[phase])
    if phase == "launch to first result":
        return float(p.spawn_to_first_result_ns)
    if phase == "session create + first inference":
        return float(p.session_create_ns + p.first_inference_ns)
    if phase == "second inference":
        return float(p.latency_ns[1]) if p.latency_ns.size > 1 else math.nan
    if phase == "steady inference":
        return float(np.median(p.latency_ns[p.latency_ns.size // 2:]))
    if phase == "time to steady":
        return math.nan if p.time_to_steady_ns is None else float(p.time_to_steady_ns)
    raise ValueError(f"unknown cold-start phase {phase!r}")


AA_SUFFIX = " (A/A)"


@dataclass
class ColdRounds:
    """Fresh processes of several variants in randomised balanced rounds; ratios per round.

    ``runs[v].processes[i]`` is variant ``v``'s process of round ``i``; ``orders[i]``
    is the order the variants were launched in that round.
    """

    runs: dict[str, ColdStartRun]
    orders: list[list[str]]
    baseline: str
    confidence: float = 0.95

    @property
    def rounds(self) -> int:
        return len(self.orders)

    @property
    def aa_arm(self) -> str | None:
        name = self.baseline + AA_SUFFIX
        return name if name in self.runs else None

    @property
    def variants(self) -> list[str]:
        """The variants under test (the A/A arm left out)."""
        return [v for v in self.runs if v != self.aa_arm]

    def values(self, variant: str, phase: str) -> np.ndarray:
        """The phase in each round, ns as float (NaN where it did not happen)."""
        return np.array([process_phase(p, phase) for p in self.runs[variant].processes], dtype=float)

    def ratio(self, a: str, b: str, phase: str) -> RatioEstimate:
        """b/a of ``phase``, per round (rounds where both have it), interval over rounds."""
        x, y = self.values(a, phase), self.values(b, phase)
        ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
        if not ok.any():
            raise ValueError(f"no round has the phase {phase!r} for both {a!r} and {b!r}")
        return paired_ratio(x[ok], y[ok], self.confidence, label_a=a, label_b=b)

    def aa(self, phase: str) -> RatioEstimate | None:
        return None if self.aa_arm is None else self.ratio(self.baseline, self.aa_arm, phase)


def cold_start_rounds(
    variants: Mapping[str, tuple[str | Path, SessionConfig | None]],
    *,
    rounds: int = 5,
    feeds: dict[str, np.ndarray] | None = None,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    iters: int = 60,
    aa: bool = True,
    baseline: str | None = None,
    seed: int = 0,
    window: int = 20,
    tolerance: float = 0.10,
    timeout_s: float = 120.0,
) -> ColdRounds:
    """One fresh process per variant per round, the variants in randomised balanced order.

    ``variants`` maps a label to ``(model, session config)``; the first (or
    ``baseline``) is the baseline, and ``aa`` adds it again as an A/A arm, a
    separate process in every round. Each round launches every variant once, in
    an order from :func:`~edgetiming.stats.repeated.balanced_order` (random, and
    every other round mirrored), so a slow spell of the machine and the page
    cache's state hit every variant alike.
    """
    if rounds < 1:
        raise ValueError("rounds must be >= 1")
    spec = dict(variants)
    base = baseline or next(iter(spec))
    if base not in spec:
        raise ValueError(f"baseline {base!r} is not one of the variants {list(spec)}")
    if aa:
        spec[base + AA_SUFFIX] = spec[base]
    names = list(spec)
    flat = balanced_order(names, rounds, np.random.default_rng(seed))
    orders = [flat[i * len(names):(i + 1) * len(names)] for i in range(rounds)]
    procs: dict[str, list[ColdStartProcess]] = {n: [] for n in names}
    settings: dict[str, dict[str, Any]] = {}
    for order in orders:
        for name in order:
            model, cfg = spec[name]
            one = cold_start(model, n_processes=1, feeds=feeds, input_shapes=input_shapes, session_config=cfg,
                             iters=iters, window=window, tolerance=tolerance, timeout_s=timeout_s)
            procs[name].extend(one.processes)
            settings[name] = one.settings
    runs = {n: ColdStartRun(str(resolve(spec[n][0])), procs[n], window, tolerance, settings[n]) for n in names}
    return ColdRounds(runs, orders, base)


def noise_panels(cr: ColdRounds, phase: str) -> Panels:
    """The noise figure's panels of cold-start rounds: one point per process and variant.

    Each process is drawn at the end of its window (:class:`ColdStartProcess`): ``phase``
    (:func:`process_phase`) in ms, the same over the process's sentinel median, and a strip
    row for its window with the share of the CPUs other work held. Pass the result to
    :func:`edgetiming.measure.noise.figure`.

    Example
    -------
    >>> cr = cold_start_rounds({"a": ("rapidocr:cls", None)}, rounds=2,
    ...                        input_shapes={"x": (1, 3, 48, 192)})  # doctest: +SKIP
    >>> len(noise_panels(cr, "session create").t0)  # doctest: +SKIP
    4
    """
    from edgetiming.measure.noise import Panels  # lazily: it imports the figures (matplotlib)

    out = Panels(point="process", per="process", block="process", ylabel=f"{phase} (ms)")
    for label, run in cr.runs.items():
        ps = run.processes
        x = np.array([process_phase(p, phase) for p in ps], dtype=np.float64)
        t = np.array([p.t_end_ns for p in ps], dtype=np.float64)
        keep = np.isfinite(x)
        out.calls(label, t[keep], x[keep])
        out.ratio(label, t, x / np.array([p.sentinel_median_ns for p in ps]))
        out.strip([p.t_start_ns for p in ps], [p.t_end_ns for p in ps],
                  [np.nan if p.busy_share is None else p.busy_share for p in ps])
    return out


def largest_launch_phase(run: ColdStartRun) -> tuple[str, float, dict[str, float]]:
    """The launch phase with the largest median over processes: (name, median ms, every phase's median ms).

    Every phase from launch to first result is a candidate (interpreter start and
    imports included): a cold start is everything the first user waits for.
    """
    med = {ph: float(np.median([launch_breakdown(p)[ph] for p in run.processes])) / 1e6 for ph in LAUNCH_PHASES}
    top = max(med, key=med.__getitem__)
    return top, med[top], med


def cold_conclusions(cr: ColdRounds, phase: str = "session create", *, runner: str | None = None) -> list[str]:
    """The conclusion lines of a cold-start comparison, generated from its numbers.

    The baseline's launch-to-first-result median and its largest phase (every
    phase a candidate), the A/A noise floor of ``phase``, and each variant's
    ``phase`` against the baseline (:func:`~edgetiming.stats.conclude.comparison_sentence`).
    """
    base = cr.runs[cr.baseline]
    launch = np.array([p.spawn_to_first_result_ns for p in base.processes], dtype=float) / 1e6
    top, top_ms, _ = largest_launch_phase(base)
    where = runner or runner_name()
    lines = [(f"A fresh process with the {cr.baseline} model answered its first request {quantile(launch, 0.5):.0f} ms "
              f"after launch on {where} (median of {launch.size} processes, range {launch.min():.0f}-"
              f"{launch.max():.0f} ms); the largest phase of that time was {top} ({top_ms:.0f} ms).")]
    return lines + phase_conclusions(cr, {phase: phase}, runner=where)


def phase_conclusions(cr: ColdRounds, phases: Mapping[str, str], *, runner: str | None = None) -> list[str]:
    """For each phase (mapped to the words the sentence uses for it): its A/A noise floor,
    then every variant against the baseline, generated from the paired ratios."""
    where = runner or runner_name()
    lines = []
    for phase, words in phases.items():
        aa = cr.aa(phase)
        lines.append(noise_floor_sentence(aa, words, runner=where))
        lines += [comparison_sentence(cr.ratio(cr.baseline, v, phase), aa, words, runner=where)
                  for v in cr.variants if v != cr.baseline]
    return lines
