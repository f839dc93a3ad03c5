"""Fresh processes: cold start, isolated measurement, and the sessions they open.

:func:`cold_start` starts N fresh Python processes one after another; each
reports, as int64 nanoseconds, how long the interpreter took to start, the
imports (``numpy``, then ``onnxruntime``), session creation, the first
inference and every following iteration, from which the time to steady state
is computed (definition in :func:`steady_state_index`). Reporting the spread
between processes is the honest answer to "how long until the first result".

:func:`isolated_session_loop` runs :func:`edgetiming.measure.session_loop` in a
fresh process that opens the model itself, so the caller's threads (a
notebook's kernel, a progress bar) cannot take the GIL while it times.

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
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ColdStartProcess",
    "ColdStartRun",
    "SessionConfig",
    "cold_start",
    "isolated_session_loop",
    "make_feeds",
    "open_session",
    "session_settings",
    "steady_state_index",
]

PHASES = ("interpreter_start_ns", "import_numpy_ns", "import_onnxruntime_ns",
          "session_create_ns", "first_inference_ns", "time_to_steady_ns", "spawn_to_steady_ns")

# --------------------------------------------------------------------------- sessions
_OPT_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
               "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}
_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
                "tensor(double)": np.float64, "tensor(int64)": np.int64,
                "tensor(int32)": np.int32, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8,
                "tensor(bool)": np.bool_}


@dataclass(frozen=True)
class SessionConfig:
    """The onnxruntime settings that change timing; None means onnxruntime's default.

    Example
    -------
    >>> SessionConfig(intra_op_num_threads=1, allow_spinning=False).to_dict()["allow_spinning"]
    False
    """

    intra_op_num_threads: int | None = None
    inter_op_num_threads: int | None = None
    allow_spinning: bool | None = None
    execution_mode: str | None = None  # "sequential" or "parallel"
    graph_optimization_level: str | None = None  # "disable", "basic", "extended", "all"
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    config_entries: tuple[tuple[str, str], ...] = ()

    def session_options(self) -> Any:
        """An ``onnxruntime.SessionOptions`` with these settings applied."""
        import onnxruntime as ort

        so = ort.SessionOptions()
        if self.intra_op_num_threads is not None:
            so.intra_op_num_threads = self.intra_op_num_threads
        if self.inter_op_num_threads is not None:
            so.inter_op_num_threads = self.inter_op_num_threads
        if self.allow_spinning is not None:
            so.add_session_config_entry("session.intra_op.allow_spinning",
                                        "1" if self.allow_spinning else "0")
        if self.execution_mode is not None:
            so.execution_mode = getattr(ort.ExecutionMode, f"ORT_{self.execution_mode.upper()}")
        if self.graph_optimization_level is not None:
            level = _OPT_LEVELS[self.graph_optimization_level]
            so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        for key, value in self.config_entries:
            so.add_session_config_entry(key, value)
        return so

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def open_session(model: str | Path | bytes, config: SessionConfig | None = None) -> Any:
    """An ``InferenceSession`` for a path, a ``rapidocr:*`` alias or serialized model bytes."""
    import onnxruntime as ort

    from edgetiming.models import resolve

    config = config or SessionConfig()
    source = model if isinstance(model, bytes) else str(resolve(model))
    return ort.InferenceSession(source, config.session_options(), providers=list(config.providers))


def session_settings(session: Any) -> dict[str, Any]:
    """The timing-relevant settings a session was created with; ``"default"`` where unset.

    Example
    -------
    >>> session_settings(open_session("rapidocr:cls"))["intra_op_num_threads"]  # doctest: +SKIP
    'default'
    """
    import onnxruntime as ort

    so = session.get_session_options()

    def entry(key: str) -> str:
        try:
            return so.get_session_config_entry(key)
        except RuntimeError:  # onnxruntime raises when the key was never set
            return "default"

    return {
        "onnxruntime_version": ort.__version__,
        "model_path": getattr(session, "_model_path", None) or "in-memory model",
        "providers": list(session.get_providers()),
        "intra_op_num_threads": so.intra_op_num_threads or "default",
        "inter_op_num_threads": so.inter_op_num_threads or "default",
        "allow_spinning": entry("session.intra_op.allow_spinning"),
        "intra_op_thread_affinities": entry("session.intra_op_thread_affinities"),
        "set_denormal_as_zero": entry("session.set_denormal_as_zero"),
        "execution_mode": str(so.execution_mode).split(".")[-1],
        "graph_optimization_level": str(so.graph_optimization_level).split(".")[-1],
    }


def make_feeds(
    session: Any, input_shapes: dict[str, tuple[int, ...]] | None = None, *, seed: int = 0
) -> dict[str, np.ndarray]:
    """Random inputs for every model input; dynamic dimensions come from ``input_shapes`` or 1.

    Example
    -------
    >>> feeds = make_feeds(open_session("rapidocr:cls"), {"x": (1, 3, 48, 192)})  # doctest: +SKIP
    >>> feeds["x"].shape  # doctest: +SKIP
    (1, 3, 48, 192)
    """
    rng = np.random.default_rng(seed)
    feeds = {}
    for inp in session.get_inputs():
        shape = (input_shapes or {}).get(inp.name) or tuple(
            d if isinstance(d, int) and d > 0 else 1 for d in inp.shape)
        dtype = _NUMPY_TYPES.get(inp.type)
        if dtype is None:
            raise TypeError(f"input {inp.name!r} has type {inp.type}: pass feeds explicitly")
        if np.issubdtype(dtype, np.floating):
            feeds[inp.name] = rng.random(shape, dtype=np.float32).astype(dtype)
        else:
            feeds[inp.name] = rng.integers(0, 2, size=shape).astype(dtype)
    return feeds


# --------------------------------------------------------------------------- child processes
def _run_child(code: str, spec: dict[str, Any], timeout_s: float) -> tuple[Any, int]:
    """Run ``python -c code spec.pkl out.pkl``; return the unpickled result and the spawn time."""
    with tempfile.TemporaryDirectory(prefix="edgetiming-child-") as tmp:
        spec_path, out_path = Path(tmp, "spec.pkl"), Path(tmp, "out.pkl")
        spec_path.write_bytes(pickle.dumps(spec))
        t_spawn = time.perf_counter_ns()
        try:
            done = subprocess.run([sys.executable, "-c", code, str(spec_path), str(out_path)],
                                  capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise TimeoutError(f"measurement child ran past {timeout_s} s: raise timeout_s or"
                               " lower the iteration budget") from exc
        if done.returncode != 0 or not out_path.exists():
            raise RuntimeError(f"measurement child failed (exit {done.returncode}):\n"
                               + done.stderr[-3000:])
        return pickle.loads(out_path.read_bytes()), t_spawn


def _model_source(session: Any, tmp_model: list[Path]) -> str:
    from edgetiming.models import resolve

    if isinstance(session, (str, Path)):
        return str(resolve(session))
    if isinstance(session, bytes):
        fd, name = tempfile.mkstemp(suffix=".onnx", prefix="edgetiming-model-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(session)
        tmp_model.append(Path(name))
        return name
    path = getattr(session, "_model_path", None)
    if not path:
        raise ValueError("isolate=True needs a model path: pass the .onnx path (or a session"
                         " opened from a path), not an in-memory model")
    return str(path)


def _config_of(session: Any) -> SessionConfig:
    """The SessionConfig that reopens a session with the settings it was created with."""
    s = session_settings(session)
    ints = {k: s[k] if isinstance(s[k], int) else None
            for k in ("intra_op_num_threads", "inter_op_num_threads")}
    spin = None if s["allow_spinning"] == "default" else s["allow_spinning"] == "1"
    mode = {"ORT_SEQUENTIAL": "sequential", "ORT_PARALLEL": "parallel"}.get(s["execution_mode"])
    level = {v: k for k, v in _OPT_LEVELS.items()}.get(s["graph_optimization_level"])
    entries = tuple((key, s[name]) for key, name in (
        ("session.intra_op_thread_affinities", "intra_op_thread_affinities"),
        ("session.set_denormal_as_zero", "set_denormal_as_zero")) if s[name] != "default")
    return SessionConfig(**ints, allow_spinning=spin, execution_mode=mode, graph_optimization_level=level,
                         config_entries=entries, providers=tuple(s["providers"]))


def isolated_session_loop(
    session: Any,
    feeds: dict[str, np.ndarray] | None = None,
    *,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    session_config: SessionConfig | None = None,
    timeout_s: float = 600.0,
    **loop_kwargs: Any,
) -> Any:
    """Run ``session_loop`` in a fresh ``python`` process; returns its ``ClosedLoopRun``.

    The child opens the model from its path with ``session_config`` (by default
    the settings of ``session``), measures, and pickles the run back; the run
    has ``isolated=True`` and the child's ``pid``. CPU time and peak memory are
    the child's. ``loop_kwargs`` are those of ``session_loop``.

    Example
    -------
    >>> run = isolated_session_loop("rapidocr:cls", input_shapes={"x": (1, 3, 48, 192)},
    ...                             iters=200)  # doctest: +SKIP
    >>> run.isolated  # doctest: +SKIP
    True
    """
    tmp_model: list[Path] = []
    try:
        model = _model_source(session, tmp_model)
        if session_config is None and not isinstance(session, (str, Path, bytes)):
            session_config = _config_of(session)
        spec = {"model": model, "feeds": feeds, "input_shapes": input_shapes,
                "config": session_config, "loop": loop_kwargs}
        run, _ = _run_child("import sys; from edgetiming.coldstart import _isolated_main;"
                            " _isolated_main(sys.argv[1], sys.argv[2])", spec, timeout_s)
    finally:
        for path in tmp_model:
            path.unlink(missing_ok=True)
    return run


def _isolated_main(spec_path: str, out_path: str) -> None:
    from edgetiming.measure import session_loop

    spec = pickle.loads(Path(spec_path).read_bytes())
    run = session_loop(spec["model"], spec["feeds"], input_shapes=spec["input_shapes"],
                       session_config=spec["config"], **spec["loop"])
    run.isolated = True
    Path(out_path).write_bytes(pickle.dumps(run))


# The child times its own imports, so nothing may be imported before the clock starts.
_COLD_CHILD = """import time
_t_start = time.perf_counter_ns()
import sys
_t0 = time.perf_counter_ns()
import numpy
_t1 = time.perf_counter_ns()
import onnxruntime
_t2 = time.perf_counter_ns()
from edgetiming.coldstart import _cold_main
_cold_main(sys.argv[1], sys.argv[2], _t_start, _t1 - _t0, _t2 - _t1)
"""


def _cold_main(spec_path: str, out_path: str, t_start: int, numpy_ns: int, ort_ns: int) -> None:
    import gc

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
        from edgetiming.measure import RUN_SCHEMA_VERSION

        return {"kind": "cold_start", "schema_version": RUN_SCHEMA_VERSION, "model": self.model,
                "n_processes": len(self.processes),
                "steady_window": self.window, "steady_tolerance": self.tolerance,
                "settings": self.settings, "summary": self.summary(),
                "processes": [p.to_dict() for p in self.processes]}

    def report(self, name: str) -> None:
        """Report each phase's median across processes and the raw per-process values."""
        from edgetiming import report

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
    from edgetiming.models import resolve

    model = str(resolve(model_path))
    spec = {"model": model, "feeds": feeds, "input_shapes": input_shapes,
            "config": session_config or SessionConfig(), "iters": int(iters)}
    procs, settings = [], {}
    for _ in range(n_processes):
        res, t_spawn = _run_child(_COLD_CHILD, spec, timeout_s)
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
