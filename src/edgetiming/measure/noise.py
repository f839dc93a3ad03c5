"""What the machine did while a headline number was measured, drawn under it.

:func:`figure` takes the fresh-process runs of a closed loop (``session_loop(...,
isolate=True, sentinel=True)``, one :class:`~edgetiming.measure.closedloop.ClosedLoopRun`
per process), the rounds of a comparison (:func:`~edgetiming.measure.rounds.run_rounds`)
or open-loop runs (:func:`~edgetiming.measure.openloop.open_loop`; no sentinel: timing one
between requests would delay the stream it measures) and draws :func:`edgetiming.results.figures.noise_timeline`: every call on one time axis
(processes run one after another, and ``perf_counter_ns`` is the system's monotonic
clock, so they share it), each block in sentinel units, and the share of the CPUs other
work held per block. A slowdown the sentinel row does not show is the model's; one that
shows in the latency row but not in sentinel units is the machine's.

Example
-------
>>> from edgetiming.measure.closedloop import closed_loop
>>> run = closed_loop(lambda: sum(range(2000)), iters=200, overhead=False, sentinel=True)
>>> fig, alt = figure([run], labels=["sum"])
>>> alt.split("; ")[1].startswith("in sentinel units sum ran at")
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edgetiming.measure.closedloop import ClosedLoopRun
from edgetiming.measure.openloop import OpenLoopRun
from edgetiming.measure.rounds import RoundsRun
from edgetiming.results import figures

__all__ = ["figure", "panels"]


class _Panels:
    """What the figure draws, collected block by block (times on ``perf_counter_ns``)."""

    def __init__(self) -> None:
        self.lat: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self.rat: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self.t0: list[float] = []
        self.t1: list[float] = []
        self.share: list[float] = []

    def calls(self, label: str, t_ns: np.ndarray, latency_ns: np.ndarray) -> None:
        self.lat.setdefault(label, []).append((t_ns, latency_ns / 1e6))

    def rows(self, table: Any, rows: range) -> None:
        """The strip's rows ``rows`` of an interference table."""
        self.t0 += table.t_start_ns[rows.start:rows.stop].astype(float).tolist()
        self.t1 += table.t_end_ns[rows.start:rows.stop].astype(float).tolist()
        self.share += table.columns["busy_share"][rows.start:rows.stop].astype(float).tolist()

    def block(self, label: str, x: np.ndarray, table: Any, b: int, sentinel_ns: float) -> None:
        """One closed-loop block: its calls (end times from the block's start), its median in
        sentinel units (at the block's end) and its strip row."""
        self.calls(label, float(table.t_start_ns[b]) + np.cumsum(x, dtype=np.float64), x)
        if np.isfinite(sentinel_ns) and sentinel_ns > 0:
            self.rat.setdefault(label, []).append((np.array([float(table.t_end_ns[b])]),
                                                   np.array([float(np.median(x)) / sentinel_ns])))
        self.rows(table, range(b, b + 1))


def _from_runs(runs: Sequence[ClosedLoopRun], labels: Sequence[str]) -> _Panels:
    out = _Panels()
    for run, label in zip(runs, labels):
        t = run.interference
        if t is None or t.n_blocks == 0:
            raise ValueError("a run without interference telemetry cannot be drawn with its noise")
        sent = run.sentinel.medians_ns(t.n_blocks) if run.sentinel is not None else np.full(t.n_blocks, np.nan)
        for b in range(t.steady_from, t.n_blocks):
            a, e = max(int(t.iter_start[b]), run.warmup_iters), min(int(t.iter_end[b]), run.latency_ns.size)
            if e > a:
                out.block(label, run.latency_ns[a:e], t, b, sent[b])
    return out


def _from_open_loops(runs: Sequence[OpenLoopRun], labels: Sequence[str]) -> _Panels:
    out = _Panels()
    for run, label in zip(runs, labels):
        t = run.interference
        if t is None or t.n_blocks == 0:
            raise ValueError("an open-loop run without interference telemetry cannot be drawn with its noise")
        keep = np.asarray(run.completed, dtype=bool)  # dropped requests have no response time to draw
        at = float(run.t0_ns) + run.intended_ns.astype(np.float64)  # intended start, on the telemetry's clock
        out.calls(label, at[keep], (run.done_ns - run.intended_ns)[keep].astype(np.float64))
        out.rows(t, range(t.n_blocks))
    return out


def _from_rounds(run: RoundsRun) -> _Panels:
    out = _Panels()
    for r in run.rounds:
        t = r.interference
        if t is None:
            raise ValueError("these rounds have no interference telemetry (measured before it was recorded)")
        sent = r.sentinel_medians_ns()
        for b, arm in enumerate(r.order[: t.n_blocks]):
            x = r.latency_ns[arm][r.block_of[arm] == b]
            if x.size:
                out.block(arm, x, t, b, sent[b])
    out.lat = {a: out.lat[a] for a in run.arms if a in out.lat}  # the arms' order, not the first block's
    out.rat = {a: out.rat[a] for a in run.arms if a in out.rat}
    return out


def panels(source: RoundsRun | Sequence[ClosedLoopRun] | Sequence[OpenLoopRun], labels: Sequence[str] | None = None
           ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, tuple[np.ndarray, np.ndarray]],
                      tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The three inputs of :func:`~edgetiming.results.figures.noise_timeline`, times in s from the first block.

    ``labels`` names each run (default: all "model", drawn as one series; runs with one
    label are one series); rounds are labelled by arm. Open-loop runs are drawn at their
    intended start times, with their response time (queueing included).
    """
    if isinstance(source, RoundsRun):
        got = _from_rounds(source)
    else:
        runs = list(source)
        if not runs:
            raise ValueError("no runs to draw")
        names = list(labels) if labels else ["model"] * len(runs)
        got = (_from_open_loops(runs, names) if all(isinstance(r, OpenLoopRun) for r in runs)
               else _from_runs(runs, names))
    if not got.t0:
        raise ValueError("no steady block to draw")
    t0, t1 = np.array(got.t0), np.array(got.t1)
    origin = float(t0.min())

    def join(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        return ((np.concatenate([p[0] for p in parts]) - origin) / 1e9, np.concatenate([p[1] for p in parts]))

    return ({k: join(v) for k, v in got.lat.items()}, {k: join(v) for k, v in got.rat.items()},
            ((t0 - origin) / 1e9, (t1 - origin) / 1e9, np.array(got.share)))


def figure(source: RoundsRun | Sequence[ClosedLoopRun] | Sequence[OpenLoopRun], *, labels: Sequence[str] | None = None,
           deadline_ms: float | None = None, title: str = "") -> tuple[Any, str]:
    """The noise figure of runs or rounds (:func:`panels`, then the figure); returns ``(fig, alt)``."""
    lat, rat, busy = panels(source, labels)
    return figures.noise_timeline(lat, rat, busy, deadline_ms=deadline_ms, title=title)
