"""Measuring in a fresh ``python`` process: the child-process runner every isolated
measurement uses (closed loops with ``isolate=True``, cold starts).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from edgetiming.workload.models import resolve

__all__ = ["model_source", "run_child"]


def run_child(code: str, spec: dict[str, Any], timeout_s: float) -> tuple[Any, int]:
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


def model_source(session: Any, tmp_model: list[Path]) -> str:
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
