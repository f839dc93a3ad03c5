"""Coordinated omission, shown: one injected stall timed by a closed and by an open loop.

A closed loop sends the next request only when the previous one has returned, so a
stall (a page fault, a garbage collection, a preempted thread) delays one sample. An
open loop keeps scheduling requests during the stall and every one of them waits, as
a user would. :func:`stall_demo` runs both loops around the same call with one pause
in the middle of each run and counts the requests it delayed by at least half the
stall; requests intended during the first half of the stall wait at least that long,
so the open loop should count about :attr:`StallDemo.expected_delayed` of them.

Example
-------
>>> demo = stall_demo(lambda: None, stall_ms=20.0, rate_hz=500.0, closed_iters=40, n_requests=40)  # doctest: +SKIP
>>> demo.delayed("closed loop"), demo.delayed("open loop") >= demo.expected_delayed // 2  # doctest: +SKIP
(1, True)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgetiming.measure.closedloop import ClosedLoopRun, closed_loop
from edgetiming.measure.openloop import OpenLoopRun, Periodic, open_loop
from edgetiming.stats import quantiles

__all__ = ["LOOPS", "StallDemo", "Stalling", "stall_demo"]

LOOPS = ("closed loop", "open loop")


class Stalling:
    """``fn`` with one pause of ``stall_ms`` before call number ``at`` (1-based, warmup calls included).

    >>> s = Stalling(lambda: "out", at=2, stall_ms=1.0)
    >>> [s() for _ in range(3)], s.calls
    (['out', 'out', 'out'], 3)
    """

    def __init__(self, fn: Callable[[], Any], *, at: int, stall_ms: float) -> None:
        self.fn, self.at, self.stall_s, self.calls = fn, at, stall_ms / 1000.0, 0

    def __call__(self) -> Any:
        self.calls += 1
        if self.calls == self.at:
            time.sleep(self.stall_s)
        return self.fn()


@dataclass(frozen=True)
class StallDemo:
    """The closed-loop and the open-loop run of :func:`stall_demo`, and what they counted."""

    closed: ClosedLoopRun
    open: OpenLoopRun
    stall_ms: float
    rate_hz: float

    def latency_ns(self, loop: str) -> np.ndarray:
        """Steady closed-loop samples, or every open-loop response (drops included), in order."""
        return self.closed.steady_ns if loop == LOOPS[0] else self.open.response_with_drops_ns

    def quantile_ms(self, loop: str, p: float) -> float:
        return quantiles.quantile(self.latency_ns(loop), p) / 1e6

    def delayed(self, loop: str) -> int:
        """Samples (closed loop) or requests (open loop) at least half the stall long."""
        return int((self.latency_ns(loop) >= self.stall_ms / 2 * 1e6).sum())

    @property
    def expected_delayed(self) -> int:
        """Requests the open loop scheduled during the first half of the stall.

        >>> StallDemo(None, None, stall_ms=200.0, rate_hz=250.0).expected_delayed  # type: ignore[arg-type]
        25
        """
        return int(self.stall_ms / 2 / (1000.0 / self.rate_hz))

    @property
    def open_loop_counts_stall(self) -> bool:
        """The open loop delayed at least half the expected requests (and at least 2)."""
        return self.delayed(LOOPS[1]) >= max(2, self.expected_delayed // 2)


def stall_demo(fn: Callable[[], Any], *, stall_ms: float, rate_hz: float, closed_iters: int, n_requests: int,
               deadline_ms: float | None = None, closed_warmup_iters: int = 20,
               open_warmup_iters: int = 10) -> StallDemo:
    """Time ``fn`` in a closed loop and in a periodic open loop at ``rate_hz``, each with one
    ``stall_ms`` pause before its middle call (the stall is at steady index ``iters // 2 - 1``)."""
    closed = closed_loop(Stalling(fn, at=closed_warmup_iters + closed_iters // 2, stall_ms=stall_ms),
                         warmup_iters=closed_warmup_iters, iters=closed_iters)
    opened = open_loop(Stalling(fn, at=open_warmup_iters + n_requests // 2, stall_ms=stall_ms),
                       Periodic(period_ms=1000.0 / rate_hz), n_requests=n_requests, deadline_ms=deadline_ms,
                       warmup_iters=open_warmup_iters)
    return StallDemo(closed, opened, stall_ms, rate_hz)
