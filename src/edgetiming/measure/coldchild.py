"""The cold-start child's body, kept apart so the fresh process imports almost nothing of edgetiming.

:mod:`edgetiming.measure.coldstart` launches ``python -c`` with a script that
times its own imports (numpy, onnxruntime), then imports this module (timed as
the harness import) and calls :func:`cold_main`. Only ``measure.session`` (numpy
and onnxruntime, both already loaded) comes with it, so the harness adds
milliseconds, not the seconds that importing the statistics stack would.
"""

from __future__ import annotations

import gc
import os
import pickle
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgetiming.measure.session import SessionConfig, make_feeds, session_settings

__all__ = ["cold_main"]


def cold_main(spec_path: str, out_path: str, t_start: int, numpy_ns: int, ort_ns: int, harness_ns: int) -> None:
    """Create the session, run the first inference and ``iters`` more; write every time to ``out_path``."""
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
              "import_onnxruntime_ns": ort_ns, "harness_import_ns": harness_ns, "session_create_ns": create_ns,
              "first_done_ns": t_loop + int(latency[0]), "latency_ns": latency, "settings": session_settings(sess)}
    Path(out_path).write_bytes(pickle.dumps(result))
