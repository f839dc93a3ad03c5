"""What the machine did while a headline number was measured, drawn under it.

:func:`figure` takes the fresh-process runs of a closed loop (``session_loop(...,
isolate=True, sentinel=True)``, one :class:`~edgetiming.measure.closedloop.ClosedLoopRun`
per process), the rounds of a comparison (:func:`~edgetiming.measure.rounds.run_rounds`),
stream runs (:func:`~edgetiming.measure.openloop.open_loop`, the batching servers of
:func:`~edgetiming.measure.batching.serve`: their sentinel is timed once after the stream,
since timing one between requests would delay the stream it measures) or a
:class:`Panels` that a measurement of another shape (fresh-process cold starts, a
pipeline, release builds) filled itself, and draws :func:`edgetiming.results.figures.noise_timeline`: every call on one time axis
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

__all__ = ["MIN_STRIP_NS", "Panels", "figure", "merge_strip", "panels"]


class Panels:
    """What the figure draws, collected block by block (times in ns on ``perf_counter_ns``).

    Fill it with :meth:`calls` (latency samples at their times), :meth:`ratio` (points in
    sentinel units) and :meth:`rows` (the strip's rows of an interference table), or
    :meth:`block` for one closed-loop block at a time; then pass it to :func:`figure`.
    ``point``, ``per`` and ``block`` name a dot, a point in sentinel units and a strip row
    in the figure's alt text, ``ylabel`` its top row (see
    :func:`~edgetiming.results.figures.noise_timeline`).
    """

    def __init__(self, *, point: str = "call", per: str = "block", block: str = "block",
                 ylabel: str = "latency (ms)") -> None:
        self.nouns = {"point": point, "per": per, "block": block, "ylabel": ylabel}
        self.lat: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self.rat: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self.t0: list[float] = []
        self.t1: list[float] = []
        self.share: list[float] = []

    def calls(self, label: str, t_ns: np.ndarray, latency_ns: np.ndarray) -> None:
        self.lat.setdefault(label, []).append((t_ns, latency_ns / 1e6))

    def ratio(self, label: str, t_ns: np.ndarray | float, per_sentinel: np.ndarray | float) -> None:
        """Points in sentinel units (a latency over the sentinel median of the same moment)."""
        t, r = np.atleast_1d(np.asarray(t_ns, dtype=np.float64)), np.atleast_1d(np.asarray(per_sentinel, dtype=float))
        keep = np.isfinite(r) & (r > 0)
        if keep.any():
            self.rat.setdefault(label, []).append((t[keep], r[keep]))

    def rows(self, table: Any, rows: range | None = None) -> None:
        """The strip's rows ``rows`` (default: all) of an interference table."""
        rows = range(table.n_blocks) if rows is None else rows
        self.t0 += table.t_start_ns[rows.start:rows.stop].astype(float).tolist()
        self.t1 += table.t_end_ns[rows.start:rows.stop].astype(float).tolist()
        self.share += table.columns["busy_share"][rows.start:rows.stop].astype(float).tolist()

    def strip(self, t_start_ns: Any, t_end_ns: Any, busy_share: Any) -> None:
        """Strip rows from plain arrays (a block's bounds in ns and the share other work held)."""
        self.t0 += np.asarray(t_start_ns, dtype=float).ravel().tolist()
        self.t1 += np.asarray(t_end_ns, dtype=float).ravel().tolist()
        self.share += np.asarray(busy_share, dtype=float).ravel().tolist()

    def block(self, label: str, x: np.ndarray, table: Any, b: int, sentinel_ns: float) -> None:
        """One closed-loop block: its calls (end times from the block's start), its median in
        sentinel units (at the block's end) and its strip row."""
        self.calls(label, float(table.t_start_ns[b]) + np.cumsum(x, dtype=np.float64), x)
        self.ratio(label, float(table.t_end_ns[b]), float(np.median(x)) / sentinel_ns)
        self.rows(table, range(b, b + 1))


def _from_runs(runs: Sequence[ClosedLoopRun], labels: Sequence[str], out: Panels) -> Panels:
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


def _is_stream(run: Any) -> bool:
    """An open-loop run or a batching server's run: requests at intended times, one clock offset."""
    return all(hasattr(run, a) for a in ("intended_ns", "done_ns", "t0_ns", "interference"))


def _from_streams(runs: Sequence[Any], labels: Sequence[str], out: Panels) -> Panels:
    out.nouns["point"], out.nouns["per"] = "request", "run"  # one point in sentinel units per stream
    for run, label in zip(runs, labels):
        t = run.interference
        if t is None or t.n_blocks == 0:
            raise ValueError("a stream run without interference telemetry cannot be drawn with its noise")
        keep = np.asarray(run.done_ns >= 0, dtype=bool)  # dropped requests have no response time to draw
        at = float(run.t0_ns) + run.intended_ns.astype(np.float64)  # intended start, on the telemetry's clock
        resp = (run.done_ns - run.intended_ns)[keep].astype(np.float64)
        out.calls(label, at[keep], resp)
        sent = getattr(run, "sentinel", None)  # timed once, after the stream
        if sent is not None and sent.latency_ns.size and resp.size:
            out.ratio(label, float(t.t_end_ns[-1]), float(np.median(resp)) / float(np.median(sent.latency_ns)))
        out.rows(t)
    return out


def _from_rounds(run: RoundsRun) -> Panels:
    out = Panels()
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


def _collect(source: RoundsRun | Sequence[Any] | Panels, labels: Sequence[str] | None) -> Panels:
    if isinstance(source, Panels):
        return source
    if isinstance(source, RoundsRun):
        return _from_rounds(source)
    runs = list(source)
    if not runs:
        raise ValueError("no runs to draw")
    names = list(labels) if labels else ["model"] * len(runs)
    got = Panels()
    for run, name in zip(runs, names):  # closed-loop and stream runs may be mixed (a cross-check has both)
        (_from_streams if _is_stream(run) else _from_runs)([run], [name], got)
    return got


#: strip rows shorter than this are drawn merged with their neighbours: /proc/stat counts CPU
#: time in 10 ms ticks, so a 20 ms block on 2 CPUs can only read 0%, 25%, 50%...
MIN_STRIP_NS = 200_000_000
_STRIP_GAP_NS = 20_000_000  # rows further apart than this (another process, a pause) are never merged


def merge_strip(t0: np.ndarray, t1: np.ndarray, share: np.ndarray, min_ns: float = MIN_STRIP_NS
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adjacent strip rows merged in time order until each spans ``min_ns``; the share of a merged
    row is its rows' shares weighted by their wall time (NaN rows left out; all NaN gives NaN).

    Example
    -------
    >>> t0 = np.arange(10) * 20e6
    >>> a, b, sh = merge_strip(t0, t0 + 20e6, np.r_[1.0, np.zeros(9)])
    >>> a.tolist(), b.tolist(), sh.round(3).tolist()
    ([0.0], [200000000.0], [0.1])
    """
    order = np.argsort(t0, kind="stable")
    t0, t1, share = (np.asarray(x, dtype=float)[order] for x in (t0, t1, share))
    out: list[tuple[float, float, float]] = []
    i = 0
    while i < t0.size:
        j = i + 1
        while j < t0.size and t1[j - 1] - t0[i] < min_ns and t0[j] - t1[j - 1] <= _STRIP_GAP_NS:
            j += 1
        wall, sh = t1[i:j] - t0[i:j], share[i:j]
        known = np.isfinite(sh) & (wall > 0)
        out.append((t0[i], t1[j - 1], float(np.sum(sh[known] * wall[known]) / np.sum(wall[known]))
                    if known.any() else float("nan")))
        i = j
    a, b, c = (np.array(x, dtype=float) for x in zip(*out)) if out else (np.empty(0),) * 3
    return a, b, c


def _arrays(got: Panels) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, tuple[np.ndarray, np.ndarray]],
                                  tuple[np.ndarray, np.ndarray, np.ndarray]]:
    if not got.t0:
        raise ValueError("no steady block to draw")
    t0, t1, share = merge_strip(np.array(got.t0), np.array(got.t1), np.array(got.share))
    origin = float(t0.min())

    def join(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        return ((np.concatenate([p[0] for p in parts]) - origin) / 1e9, np.concatenate([p[1] for p in parts]))

    return ({k: join(v) for k, v in got.lat.items()}, {k: join(v) for k, v in got.rat.items()},
            ((t0 - origin) / 1e9, (t1 - origin) / 1e9, share))


def panels(source: RoundsRun | Sequence[ClosedLoopRun] | Sequence[OpenLoopRun] | Panels,
           labels: Sequence[str] | None = None
           ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, tuple[np.ndarray, np.ndarray]],
                      tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The three inputs of :func:`~edgetiming.results.figures.noise_timeline`, times in s from the first block.

    ``labels`` names each run (default: all "model", drawn as one series; runs with one
    label are one series); rounds are labelled by arm. Stream runs are drawn at their
    intended start times, with their response time (queueing included), and in sentinel
    units once per run (median response / median sentinel after the stream).
    """
    return _arrays(_collect(source, labels))


def figure(source: RoundsRun | Sequence[ClosedLoopRun] | Sequence[OpenLoopRun] | Panels, *, labels: Sequence[str] | None = None,
           deadline_ms: float | None = None, title: str = "") -> tuple[Any, str]:
    """The noise figure of runs or rounds (:func:`panels`, then the figure); returns ``(fig, alt)``."""
    got = _collect(source, labels)
    lat, rat, busy = _arrays(got)
    return figures.noise_timeline(lat, rat, busy, deadline_ms=deadline_ms, title=title, **got.nouns)
