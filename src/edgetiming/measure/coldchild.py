"""The cold-start child's body, kept apart so the fresh process imports almost nothing of edgetiming.

:mod:`edgetiming.measure.coldstart` launches ``python -c`` with a script that
times its own imports (numpy, onnxruntime), then imports this module (timed as
the harness import) and calls :func:`cold_main`. Only ``measure.session`` (numpy
and onnxruntime, both already loaded) comes with it, so the harness adds
milliseconds, not the seconds that importing the statistics stack would.

Besides the phases, the child records what the machine did while it ran: before the
session is created it reads ``/proc/stat``, ``/proc/self/stat`` and its thread's
``status`` as plain text (three small reads, nothing imported or parsed), and again
after the timed loop; only then does it import ``host.interference`` to turn the two
readings into one row of telemetry, and time the sentinel (``workload.sentinel``)
``SENTINEL_CALLS_PER_BLOCK`` times after 3 warm-up calls, so each process's phases can
be read in sentinel units. Nothing of this runs inside a timed phase.
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


def _read_proc() -> tuple[int, list[str | None]]:
    """Now on ``perf_counter_ns`` and the texts of the counters, read and left unparsed."""
    t = time.perf_counter_ns()
    texts: list[str | None] = []
    for path in ("/proc/stat", "/proc/self/stat", "/proc/thread-self/status"):
        try:
            with open(path) as f:
                texts.append(f.read())
        except OSError:  # no /proc (macOS, Windows): the telemetry reads "not available"
            texts.append(None)
    return t, texts


def cold_main(spec_path: str, out_path: str, t_start: int, numpy_ns: int, ort_ns: int, harness_ns: int) -> None:
    """Create the session, run the first inference and ``iters`` more; write every time to ``out_path``.

    The interference window runs from before the spec is read to the end of the timed
    loop; the sentinel is timed after it, outside every timed phase.
    """
    before = _read_proc()  # the one addition before the loop ends: harness time, before session creation
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
    after = _read_proc()
    from edgetiming.host.interference import InterferenceMeter, snapshot_from  # after every phase
    from edgetiming.workload.sentinel import SENTINEL_CALLS_PER_BLOCK, Sentinel, time_calls

    meter = InterferenceMeter()
    meter.snaps = [snapshot_from(t, texts[0], texts[1], texts[2:], cpus=meter.cpus, iteration=i)
                   for (t, texts), i in ((before, 0), (after, latency.size))]

    sentinel_ns = time_calls(Sentinel(), 3 + SENTINEL_CALLS_PER_BLOCK)[3:]  # 3 warm-up calls left out
    result = {"pid": os.getpid(), "start_ns": t_start, "import_numpy_ns": numpy_ns,
              "import_onnxruntime_ns": ort_ns, "harness_import_ns": harness_ns, "session_create_ns": create_ns,
              "first_done_ns": t_loop + int(latency[0]), "latency_ns": latency, "settings": session_settings(sess),
              "interference": meter.table().to_dict(), "sentinel_ns": sentinel_ns}
    Path(out_path).write_bytes(pickle.dumps(result))
