"""The sentinel workload: a fixed unit of pure-CPU work, the same on every run and device.

Timed between the blocks of a model under test (:mod:`edgetiming.measure.sentinel`),
it says how fast the machine was at that moment. Only numpy: a measuring child
process imports it without scipy.

Example
-------
>>> s = Sentinel()
>>> s()  # one fixed unit of work
>>> s.describe()["size"]
48
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["SENTINEL_CALLS_PER_BLOCK", "SENTINEL_REPS", "SENTINEL_SIZE", "Sentinel", "time_calls"]

SENTINEL_CALLS_PER_BLOCK = 10  # sentinel calls after each model block (their median is the block's reference)
SENTINEL_SIZE = 48  # 48^3 multiply-adds per product: below OpenBLAS's multithreading threshold
SENTINEL_REPS = 240  # products per call: ~1 ms on the 2-vCPU runner (AMD EPYC, 2026-12)


class Sentinel:
    """A constant unit of pure-CPU work: ``reps`` chained 48x48 matrix products.

    The inputs are seeded and fixed, so every call, run and device does the same
    arithmetic. ``size`` and ``reps`` are part of its identity (:meth:`describe`):
    ratios are only comparable between runs with the same sentinel.
    """

    def __init__(self, size: int = SENTINEL_SIZE, reps: int = SENTINEL_REPS, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.size, self.reps, self.seed = int(size), int(reps), int(seed)
        self._a = rng.standard_normal((size, size))
        # scaled so repeated products neither blow up nor vanish
        self._b = rng.standard_normal((size, size)) / math.sqrt(size)
        self._c = np.empty((size, size))
        self._d = np.empty((size, size))

    def __call__(self) -> None:
        mm, b, c, d = np.matmul, self._b, self._c, self._d
        mm(self._a, b, out=c)
        for _ in range(self.reps // 2):
            mm(c, b, out=d)
            mm(d, b, out=c)

    def describe(self) -> dict[str, Any]:
        return {"kind": "numpy matmul chain", "size": self.size, "reps": self.reps, "seed": self.seed,
                "dtype": "float64"}


def time_calls(fn: Callable[[], Any], n: int) -> np.ndarray:
    """Time ``n`` calls of ``fn`` one after another: int64 ns each, in order.

    The one timing loop of the sentinel: :func:`edgetiming.measure.sentinel.time_after`
    and the cold-start child (which must not import scipy) both use it.

    Example
    -------
    >>> x = time_calls(Sentinel(reps=2), 3)
    >>> x.dtype.name, x.size, bool((x > 0).all())
    ('int64', 3, True)
    """
    perf = time.perf_counter_ns
    out = np.empty(max(int(n), 0), dtype=np.int64)
    for i in range(out.size):
        t = perf()
        fn()
        out[i] = perf() - t
    return out
