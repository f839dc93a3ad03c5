"""Opening onnxruntime sessions from a :class:`SessionConfig`, reading their settings back, and
making input feeds. Every measurement module opens its sessions here, so the settings a
result records are the ones the session ran with.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from edgetiming.measure.ortlog import log_severity
from edgetiming.workload.models import resolve

__all__ = ["OPT_LEVELS", "SessionConfig", "config_of", "make_feeds", "open_session", "quiet_onnxruntime",
           "save_optimized", "session_settings"]

OPT_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
               "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}
_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
                "tensor(double)": np.float64, "tensor(int64)": np.int64,
                "tensor(int32)": np.int32, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8,
                "tensor(bool)": np.bool_}


def quiet_onnxruntime() -> None:
    """Set onnxruntime's process-wide log severity (:func:`edgetiming.measure.ortlog.log_severity`).

    Called when this module is imported, so sessions a recipe opens with
    ``ort.InferenceSession`` directly are covered too, and again for every
    session opened here. Under ``edgetiming run`` the executor asks for warnings too
    and sends the kernel's output to the run's ``kernel.log``.
    """
    ort.set_default_logger_severity(log_severity())


quiet_onnxruntime()


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

        so = ort.SessionOptions()
        so.log_severity_level = log_severity()
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
            level = OPT_LEVELS[self.graph_optimization_level]
            so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        for key, value in self.config_entries:
            so.add_session_config_entry(key, value)
        return so

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def open_session(model: str | Path | bytes, config: SessionConfig | None = None) -> Any:
    """An ``InferenceSession`` for a path, a ``rapidocr:*`` alias or serialized model bytes."""

    config = config or SessionConfig()
    quiet_onnxruntime()
    source = model if isinstance(model, bytes) else str(resolve(model))
    return ort.InferenceSession(source, config.session_options(), providers=list(config.providers))


def session_settings(session: Any) -> dict[str, Any]:
    """The timing-relevant settings a session was created with; ``"default"`` where unset.

    Example
    -------
    >>> session_settings(open_session("rapidocr:cls"))["intra_op_num_threads"]  # doctest: +SKIP
    'default'
    """

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


def config_of(session: Any) -> SessionConfig:
    """The SessionConfig that reopens a session with the settings it was created with."""
    s = session_settings(session)
    ints = {k: s[k] if isinstance(s[k], int) else None
            for k in ("intra_op_num_threads", "inter_op_num_threads")}
    spin = None if s["allow_spinning"] == "default" else s["allow_spinning"] == "1"
    mode = {"ORT_SEQUENTIAL": "sequential", "ORT_PARALLEL": "parallel"}.get(s["execution_mode"])
    level = {v: k for k, v in OPT_LEVELS.items()}.get(s["graph_optimization_level"])
    entries = tuple((key, s[name]) for key, name in (
        ("session.intra_op_thread_affinities", "intra_op_thread_affinities"),
        ("session.set_denormal_as_zero", "set_denormal_as_zero")) if s[name] != "default")
    return SessionConfig(**ints, allow_spinning=spin, execution_mode=mode, graph_optimization_level=level,
                         config_entries=entries, providers=tuple(s["providers"]))


def save_optimized(model: str | Path, target: str | Path, level: str, *, ort_format: bool = False,
                   providers: tuple[str, ...] = ("CPUExecutionProvider",)) -> float:
    """Let onnxruntime optimize ``model`` at ``level`` and write it to ``target``; seconds taken.

    ``level`` is one of :data:`OPT_LEVELS` ("disable", "basic", "extended", "all");
    ``ort_format`` writes the ORT format instead of ONNX. A model saved at "all" may hold
    kernels for this CPU only: ship it only to devices with the same CPU features.
    """
    if level not in OPT_LEVELS:
        raise ValueError(f"level={level!r}: use one of {', '.join(OPT_LEVELS)}")
    so = ort.SessionOptions()
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, OPT_LEVELS[level])
    so.optimized_model_filepath = str(target)
    so.log_severity_level = 3  # the "hardware-specific optimizations" warning is expected here
    if ort_format:
        so.add_session_config_entry("session.save_model_format", "ORT")
    t0 = time.perf_counter()
    ort.InferenceSession(str(resolve(model)), so, providers=list(providers))
    return time.perf_counter() - t0
