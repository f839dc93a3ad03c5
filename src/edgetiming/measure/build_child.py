"""The fresh process of :func:`edgetiming.measure.builds.run_builds`: time one build, nothing else.

Kept apart from ``builds`` so the child imports only numpy, onnxruntime and the
session helpers (0.6 s here), not scipy (another 1 s on the 2-vCPU runner, paid
by every one of the R x builds processes).
"""

from __future__ import annotations

import gc
import os
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgetiming.measure.session import make_feeds, open_session

__all__ = ["time_build"]


def time_build(spec: dict[str, Any]) -> dict[str, Any]:
    """Open ``spec["build"]``'s model, warm it up and time ``spec["iters"]`` calls (int64 ns)."""
    b = spec["build"]
    sess = open_session(b.model, b.config)
    feeds = make_feeds(sess, spec["input_shapes"], seed=spec["seed"])
    perf, sleep, run = time.perf_counter_ns, time.sleep, sess.run
    out = np.empty(spec["warmup_iters"] + spec["iters"], dtype=np.int64)
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for i in range(out.size):
            t0 = perf()
            run(None, feeds)
            if b.slowdown:
                sleep(b.slowdown * (perf() - t0) / 1e9)
            out[i] = perf() - t0
    finally:
        if gc_was:
            gc.enable()
    return {"pid": os.getpid(), "latency_ns": out[spec["warmup_iters"]:]}


def main(spec_path: str, out_path: str) -> None:
    Path(out_path).write_bytes(pickle.dumps(time_build(pickle.loads(Path(spec_path).read_bytes()))))
