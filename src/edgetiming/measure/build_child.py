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

from edgetiming.host.interference import InterferenceMeter
from edgetiming.measure.session import make_feeds, open_session
from edgetiming.workload.sentinel import Sentinel

__all__ = ["time_build"]


def time_build(spec: dict[str, Any]) -> dict[str, Any]:
    """Open ``spec["build"]``'s model, warm it up and time ``spec["iters"]`` calls (int64 ns).

    With ``spec["sentinel_calls"]`` > 0, the fixed sentinel workload is timed that many
    times after every tenth of the calls (never inside one call's timing), so the
    process's speed can be told from the build's.

    Interference telemetry (:class:`~edgetiming.host.interference.InterferenceMeter`) is
    marked before the first timed call and after every tenth of the calls, right after
    that tenth's sentinel calls, and after the last call: block ``b`` of the returned
    ``"interference"`` table covers the timed calls ``iter_start[b]:iter_end[b]`` (indices
    into ``"latency_ns"``; the blocks tile them) and then the sentinel calls timed after
    them (``"sentinel_block"`` holds each sentinel call's block; a last block shorter than
    a tenth has none).
    """
    b = spec["build"]
    sess = open_session(b.model, b.config)
    feeds = make_feeds(sess, spec["input_shapes"], seed=spec["seed"])
    perf, sleep, run = time.perf_counter_ns, time.sleep, sess.run
    warm, iters = spec["warmup_iters"], spec["iters"]
    out = np.empty(warm + iters, dtype=np.int64)
    n_sent = int(spec.get("sentinel_calls", 0))
    sentinel = Sentinel() if n_sent else None
    every = max(1, iters // 10)
    sent: list[int] = []
    sent_block: list[int] = []
    meter = InterferenceMeter()
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for i in range(out.size):
            if i == warm:
                meter.mark(0)
            t0 = perf()
            run(None, feeds)
            if b.slowdown:
                sleep(b.slowdown * (perf() - t0) / 1e9)
            out[i] = perf() - t0
            k = i - warm + 1  # timed calls done
            if k > 0 and (k % every == 0 or k == iters):
                if sentinel is not None and k % every == 0:
                    for _ in range(n_sent):
                        t0 = perf()
                        sentinel()
                        sent.append(perf() - t0)
                        sent_block.append(len(meter.snaps) - 1)
                meter.mark(k)
    finally:
        if gc_was:
            gc.enable()
    return {"pid": os.getpid(), "latency_ns": out[warm:], "sentinel_ns": np.array(sent, dtype=np.int64),
            "sentinel_block": np.array(sent_block, dtype=np.int64), "interference": meter.table()}


def main(spec_path: str, out_path: str) -> None:
    Path(out_path).write_bytes(pickle.dumps(time_build(pickle.loads(Path(spec_path).read_bytes()))))
