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


def _block_times(latency_ns: np.ndarray, t_start_ns: float) -> np.ndarray:
    return t_start_ns + np.cumsum(latency_ns, dtype=np.float64)


def _from_runs(runs: Sequence[ClosedLoopRun], labels: Sequence[str]) -> tuple[dict, dict, tuple]:
    lat: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    rat: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    t0s, t1s, shares = [], [], []
    for run, label in zip(runs, labels):
        t = run.interference
        if t is None or t.n_blocks == 0:
            raise ValueError("a run without interference telemetry cannot be drawn with its noise")
        sent = run.sentinel.medians_ns(t.n_blocks) if run.sentinel is not None else np.full(t.n_blocks, np.nan)
        for b in range(t.steady_from, t.n_blocks):
            a, e = int(t.iter_start[b]), min(int(t.iter_end[b]), run.latency_ns.size)
            a = max(a, run.warmup_iters)
            if e <= a:
                continue
            x = run.latency_ns[a:e]
            lat.setdefault(label, []).append((_block_times(x, float(t.t_start_ns[b])), x / 1e6))
            if np.isfinite(sent[b]) and sent[b] > 0:
                rat.setdefault(label, []).append((np.array([float(t.t_end_ns[b])]),
                                                  np.array([float(np.median(x)) / sent[b]])))
            t0s.append(float(t.t_start_ns[b]))
            t1s.append(float(t.t_end_ns[b]))
            shares.append(float(t.columns["busy_share"][b]))
    return lat, rat, (np.array(t0s), np.array(t1s), np.array(shares))


def _from_open_loops(runs: Sequence[OpenLoopRun], labels: Sequence[str]) -> tuple[dict, dict, tuple]:
    lat: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    t0s, t1s, shares = [], [], []
    for run, label in zip(runs, labels):
        t = run.interference
        if t is None or t.n_blocks == 0:
            raise ValueError("an open-loop run without interference telemetry cannot be drawn with its noise")
        keep = np.asarray(run.completed, dtype=bool)  # dropped requests have no response time to draw
        resp = (run.done_ns - run.intended_ns).astype(np.float64)
        at = float(run.t0_ns) + run.intended_ns.astype(np.float64)  # intended start, on the telemetry's clock
        lat.setdefault(label, []).append((at[keep], resp[keep] / 1e6))
        t0s += t.t_start_ns.astype(float).tolist()
        t1s += t.t_end_ns.astype(float).tolist()
        shares += t.columns["busy_share"].astype(float).tolist()
    return lat, {}, (np.array(t0s), np.array(t1s), np.array(shares))


def _from_rounds(run: RoundsRun) -> tuple[dict, dict, tuple]:
    lat: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    rat: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    t0s, t1s, shares = [], [], []
    for r in run.rounds:
        t = r.interference
        if t is None:
            raise ValueError("these rounds have no interference telemetry (measured before it was recorded)")
        sent = r.sentinel_medians_ns()
        for b, arm in enumerate(r.order[: t.n_blocks]):
            x = r.latency_ns[arm][r.block_of[arm] == b]
            if x.size == 0:
                continue
            lat.setdefault(arm, []).append((_block_times(x, float(t.t_start_ns[b])), x / 1e6))
            if np.isfinite(sent[b]) and sent[b] > 0:
                rat.setdefault(arm, []).append((np.array([float(t.t_end_ns[b])]),
                                                np.array([float(np.median(x)) / sent[b]])))
            t0s.append(float(t.t_start_ns[b]))
            t1s.append(float(t.t_end_ns[b]))
            shares.append(float(t.columns["busy_share"][b]))
    lat = {a: lat[a] for a in run.arms if a in lat}  # the arms' order, not the first block's
    rat = {a: rat[a] for a in run.arms if a in rat}
    return lat, rat, (np.array(t0s), np.array(t1s), np.array(shares))


def panels(source: RoundsRun | Sequence[ClosedLoopRun] | Sequence[OpenLoopRun], labels: Sequence[str] | None = None
           ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, tuple[np.ndarray, np.ndarray]],
                      tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The three inputs of :func:`~edgetiming.results.figures.noise_timeline`, times in s from the first block.

    ``labels`` names each run (default: all "model", drawn as one series; runs with one
    label are one series); rounds are labelled by arm. Open-loop runs are drawn at their
    intended start times, with their response time (queueing included).
    """
    if isinstance(source, RoundsRun):
        lat, rat, busy = _from_rounds(source)
    else:
        runs = list(source)
        if not runs:
            raise ValueError("no runs to draw")
        names = list(labels) if labels else ["model"] * len(runs)
        if all(isinstance(r, OpenLoopRun) for r in runs):
            lat, rat, busy = _from_open_loops(runs, names)
        else:
            lat, rat, busy = _from_runs(runs, names)
    if busy[0].size == 0:
        raise ValueError("no steady block to draw")
    origin = float(busy[0].min())

    def join(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        return ((np.concatenate([p[0] for p in parts]) - origin) / 1e9, np.concatenate([p[1] for p in parts]))

    return ({k: join(v) for k, v in lat.items()}, {k: join(v) for k, v in rat.items()},
            ((busy[0] - origin) / 1e9, (busy[1] - origin) / 1e9, busy[2]))


def figure(source: RoundsRun | Sequence[ClosedLoopRun] | Sequence[OpenLoopRun], *, labels: Sequence[str] | None = None,
           deadline_ms: float | None = None, title: str = "") -> tuple[Any, str]:
    """The noise figure of runs or rounds (:func:`panels`, then the figure); returns ``(fig, alt)``."""
    lat, rat, busy = panels(source, labels)
    return figures.noise_timeline(lat, rat, busy, deadline_ms=deadline_ms, title=title)
