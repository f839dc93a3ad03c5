"""A long run in interleaved blocks: the model for a while, then a sentinel, again and again.

:func:`interleaved_run` times ``model_iters`` calls of the model, then ``sentinel_iters``
calls of a sentinel (each a :func:`~edgetiming.measure.closedloop.closed_loop` of its own,
garbage collection frozen and off for the whole run), block after block, and marks the
interference telemetry (:class:`~edgetiming.host.interference.InterferenceMeter`) at every
block boundary, never inside a timed loop: row ``b`` of ``run.interference`` covers model
block ``b`` (the model calls ``iter_start[b]:iter_end[b]`` of the run's concatenated series)
and the sentinel block timed right after it. The throttle signals each closed loop reads
before it are kept once per block.

Example
-------
>>> run = interleaved_run(lambda: sum(range(2000)), lambda: sum(range(500)), model_iters=20,
...                       sentinel_iters=10, n_blocks=3)
>>> run.n_blocks, run.interference.n_blocks, run.interference.iter_end.tolist()
(3, 3, [20, 40, 60])
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edgetiming.host.interference import InterferenceMeter, InterferenceTable
from edgetiming.measure.closedloop import report_interference, closed_loop, timing_gc_off
from edgetiming.stats import validity

if TYPE_CHECKING:
    from edgetiming.measure.noise import Panels

__all__ = ["InterleavedRun", "interleaved_run"]


@dataclass
class InterleavedRun:
    """Every block of an interleaved run (latencies int64 ns, times in s from the run's start).

    ``snaps`` holds the throttle signals read before each model block and after the last
    sentinel block (``n_blocks + 1``); ``throttled`` maps a block to the throttle reasons
    seen while it ran; ``planned`` is the block count asked for (more than ``n_blocks`` when
    the time cap ended the run early).
    """

    model_ns: list[np.ndarray]
    sentinel_ns: list[np.ndarray]
    t_s: list[float]
    elapsed_s: float
    snaps: list[dict[str, Any]]
    throttled: dict[int, list[str]]
    interference: InterferenceTable
    planned: int

    @property
    def n_blocks(self) -> int:
        return len(self.model_ns)

    def rows(self) -> list[dict[str, float]]:
        """One row per block: its start time and the model and sentinel medians in ms."""
        return [{"block": b, "t_s": t, "model_median_ms": float(np.median(m)) / 1e6,
                 "sentinel_median_ms": float(np.median(s)) / 1e6}
                for b, (t, m, s) in enumerate(zip(self.t_s, self.model_ns, self.sentinel_ns))]

    @property
    def busy_share(self) -> float | None:
        """Share of the measured CPUs other work held over the whole run (None without ``/proc``)."""
        return self.interference.busy_share

    def report_interference(self, name: str = "long_run") -> None:
        """Report the per-block telemetry as samples and ``{name}.busy_share`` as a metric, judged
        against :data:`edgetiming.stats.validity.INTERFERENCE_LIMIT` (as a closed-loop run does)."""
        report_interference(name, self.interference, self.interference.busy_note(validity.INTERFERENCE_LIMIT))

    def noise_panels(self, label: str = "model") -> Panels:
        """What :func:`edgetiming.measure.noise.figure` draws: per block the model calls, the model
        median / the median of the sentinel block after it, and the block's strip row."""
        from edgetiming.measure import noise  # matplotlib only when drawn

        out = noise.Panels()
        for b, (m, s) in enumerate(zip(self.model_ns, self.sentinel_ns)):
            out.block(label, m, self.interference, b, float(np.median(s)))
        return out


def interleaved_run(model: Callable[[], Any], sentinel: Callable[[], Any], *, model_iters: int,
                    sentinel_iters: int, n_blocks: int, max_s: float | None = None, min_blocks: int = 9,
                    before_block: Callable[[int, float], Any] | None = None) -> InterleavedRun:
    """Time ``n_blocks`` blocks of ``model_iters`` model calls, each followed by ``sentinel_iters``
    sentinel calls, with interference telemetry per block (see the module docstring).

    ``max_s`` ends the run early once at least ``min_blocks`` blocks are done and a block
    would start after ``max_s`` seconds (a machine busier than planned keeps the run's
    length, not its block count). ``before_block(b, t_s)`` is called before block ``b``
    starts, ``t_s`` seconds into the run, outside every timed call.
    """
    if model_iters < 1 or sentinel_iters < 1 or n_blocks < 1:
        raise ValueError(f"interleaved_run needs model_iters, sentinel_iters, n_blocks >= 1 "
                         f"(got {model_iters}, {sentinel_iters}, {n_blocks})")
    model_ns: list[np.ndarray] = []
    sent_ns: list[np.ndarray] = []
    t_s: list[float] = []
    snaps: list[dict[str, Any]] = []
    throttled: dict[int, list[str]] = {}
    meter = InterferenceMeter()
    t_start = time.perf_counter()
    # one gc freeze for the whole run: no full collection of the caller's objects between blocks
    with timing_gc_off():
        for b in range(n_blocks):
            t_block = time.perf_counter() - t_start
            if max_s is not None and b >= min_blocks and t_block > max_s:
                break
            if before_block is not None:
                before_block(b, t_block)
            if b == 0:
                meter.mark(0)
            m = closed_loop(model, warmup_iters=0, iters=model_iters, overhead=False)
            s = closed_loop(sentinel, warmup_iters=0, iters=sentinel_iters, overhead=False)
            meter.mark((b + 1) * model_iters)
            model_ns.append(m.latency_ns)
            sent_ns.append(s.latency_ns)
            t_s.append(t_block)
            snaps.append(m.throttle["before"])
            if m.throttle["seen"] or s.throttle["seen"]:
                throttled[b] = m.throttle["reasons"] + s.throttle["reasons"]
    snaps.append(s.throttle["after"])
    return InterleavedRun(model_ns, sent_ns, t_s, time.perf_counter() - t_start, snaps, throttled,
                          meter.table(), n_blocks)
