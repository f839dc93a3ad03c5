"""Another process on the device, started and stopped by the experiment itself.

:func:`stress` runs ``processes`` Python processes for the duration of a ``with``
block: ``"cpu"`` spins, ``"memory"`` streams through an ``array_mb`` MB array
(memory bandwidth and cache). Each exits by itself after ``max_s`` seconds and
is terminated when the block ends, so a failing cell never leaves one behind.
Whether every stressor was still running at the end of the block is appended to
``log`` as ``(label, alive)``: a stressor that exited early did not stress the
whole measurement.

Example
-------
>>> log = []
>>> with stress("cpu", max_s=5, log=log, label="demo") as procs:  # doctest: +SKIP
...     len(procs)
1
>>> log  # doctest: +SKIP
[('demo', True)]
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["STRESS_CODE", "stress"]

STRESS_CODE = {
    "cpu": "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nprint('ready', flush=True)\n"
           "while time.monotonic() < end:\n    pass\n",
    "memory": "import sys, time\nimport numpy as np\nend = time.monotonic() + float(sys.argv[1])\n"
              "a = np.ones(int(sys.argv[2]) * 2**20 // 8)\nb = np.empty_like(a)\nprint('ready', flush=True)\n"
              "while time.monotonic() < end:\n    np.copyto(b, a)\n    np.copyto(a, b)\n",
}


@contextmanager
def stress(kind: str | None, *, processes: int = 1, array_mb: int = 128, max_s: float = 60.0,
           pin_to: list[int] | None = None, log: list[tuple[str, bool]] | None = None,
           label: str = "") -> Iterator[list[subprocess.Popen]]:
    """Run ``processes`` stressors of ``kind`` (None: nothing) for the block's duration."""
    if kind is not None and kind not in STRESS_CODE:
        raise ValueError(f"stressor kind {kind!r} is not one of {sorted(STRESS_CODE)}")
    procs: list[subprocess.Popen] = []
    try:
        for _ in range(processes if kind else 0):
            p = subprocess.Popen([sys.executable, "-c", STRESS_CODE[kind], str(max_s), str(array_mb)],  # type: ignore[index]
                                 stdout=subprocess.PIPE, text=True)
            procs.append(p)
            if pin_to and hasattr(os, "sched_setaffinity"):
                os.sched_setaffinity(p.pid, set(pin_to))
            if p.stdout is None or p.stdout.readline().strip() != "ready":
                raise RuntimeError(f"the {kind} stressor did not start (exit code {p.poll()})")
        yield procs
        if procs and log is not None:
            log.append((label, all(p.poll() is None for p in procs)))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
