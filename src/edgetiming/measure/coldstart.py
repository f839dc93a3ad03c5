"""Cold start: from launching a fresh process to its first result and to steady state.

:func:`cold_start` starts N fresh Python processes one after another; each
reports, as int64 nanoseconds, how long the interpreter took to start, the
imports (``numpy``, then ``onnxruntime``), session creation, the first
inference and every following iteration, from which the time to steady state
is computed (definition in :func:`steady_state_index`). Reporting the spread
between processes is the honest answer to "how long until the first result".

Example
-------
>>> run = cold_start("rapidocr:cls", n_processes=3,
...                  input_shapes={"x": (1, 3, 48, 192)})  # doctest: +SKIP
>>> run.phase_ns("session_create_ns").shape  # doctest: +SKIP
(3,)
"""

from __future__ import annotations

import os
import pickle
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgetiming.measure.closedloop import RUN_SCHEMA_VERSION
from edgetiming.measure.isolation import run_child
from edgetiming.measure.session import (
    SessionConfig,
    make_feeds,
    session_settings,
)
from edgetiming.results import report
from edgetiming.workload.models import resolve

__all__ = [
    "ColdStartProcess",
    "ColdStartRun",
    "cold_start",
    "steady_state_index",
]

PHASES = ("interpreter_start_ns", "import_numpy_ns", "import_onnxruntime_ns",
          "session_create_ns", "first_inference_ns", "time_to_steady_ns", "spawn_to_steady_ns")

# The child times its own imports, so nothing may be imported before the clock starts.
_COLD_CHILD = """import time
_t_start = time.perf_counter_ns()
import sys
_t0 = time.perf_counter_ns()
import numpy
_t1 = time.perf_counter_ns()
import onnxruntime
_t2 = time.perf_counter_ns()
from edgetiming.measure.coldstart import _cold_main
_cold_main(sys.argv[1], sys.argv[2], _t_start, _t1 - _t0, _t2 - _t1)
"""


def _cold_main(spec_path: str, out_path: str, t_start: int, numpy_ns: int, ort_ns: int) -> None:
    import gc

    # imported here: runs in the cold-start child, which timed this import itself
    import onnxruntime as ort

    spec = pickle.loads(Path(spec_path).read_bytes())
    cfg: SessionConfig = spec["config"]
    options = cfg.session_options()
    perf = time.perf_counter_ns
    t0 = perf()
    sess = ort.InferenceSession(spec["model"], options, providers=list(cfg.providers))
    create_ns = perf() - t0
    feeds = spec["feeds"] or make_feeds(sess, spec["input_shapes"])
    gc.disable()  # a collection inside the loop would look like a warmup spike
    latency = np.empty(spec["iters"] + 1, dtype=np.int64)
    t_loop = perf()
    for i in range(latency.size):
        t0 = perf()
        sess.run(None, feeds)
        latency[i] = perf() - t0
    result = {"pid": os.getpid(), "start_ns": t_start, "import_numpy_ns": numpy_ns,
              "import_onnxruntime_ns": ort_ns, "session_create_ns": create_ns,
              "first_done_ns": t_loop + int(latency[0]),
              "latency_ns": latency, "settings": session_settings(sess)}
    Path(out_path).write_bytes(pickle.dumps(result))


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

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("latency_ns")
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
        procs.append(ColdStartProcess(
            pid=res["pid"], interpreter_start_ns=res["start_ns"] - t_spawn,
            import_numpy_ns=res["import_numpy_ns"],
            import_onnxruntime_ns=res["import_onnxruntime_ns"],
            session_create_ns=res["session_create_ns"], first_inference_ns=int(lat[0]),
            steady_iter=s, time_to_steady_ns=to_steady,
            spawn_to_first_result_ns=res["first_done_ns"] - t_spawn,
            spawn_to_steady_ns=None if to_steady is None else before_loop + to_steady,
            latency_ns=lat))
        settings = res["settings"]
    return ColdStartRun(model, procs, window, tolerance, settings)
