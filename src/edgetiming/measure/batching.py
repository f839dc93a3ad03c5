"""Serving a stream of single items three ways: one at a time, fixed micro-batches, dynamic batching.

Items arrive on an open-loop schedule (:class:`~edgetiming.measure.openloop.Periodic` or
:class:`~edgetiming.measure.openloop.Poisson`); one server thread runs the model on
batches of them. What forms a batch is the :class:`BatchPolicy`:

``single``
    every item alone, as soon as the server is free;
``fixed``
    wait until ``max_batch`` items are waiting, then run them together (at the
    end of the stream the remainder is flushed, and those items are flagged);
``dynamic``
    run as soon as ``max_batch`` items wait, or ``timeout_ms`` after the oldest
    waiting item entered the queue, whichever comes first (Triton's
    ``max_queue_delay``). Items that piled up while the server was busy go out
    at once, up to ``max_batch``.

Latency counts from each item's *intended* arrival time, never from when it
was put in the queue or when its batch started (coordinated omission,
docs/guides/measurement/tail-latency-and-coordinated-omission.md), so waiting for a batch to fill is part of it. Per
item four int64 timestamps are kept relative to ``t0``: intended, queued,
issued (its batch started) and done, plus the batch it went out in.

Example
-------
>>> run = serve(lambda k: time.sleep(0.001 + 0.0002 * k), Periodic(2.0),
...             policy=BatchPolicy.dynamic(4, timeout_ms=1.0), n_requests=50)
>>> int(run.completed.sum()), bool(run.batch_sizes.max() <= 4)
(50, True)
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from edgetiming.host.interference import InterferenceMeter, InterferenceTable
from edgetiming.host.resources import ResourceMeter, ResourceUsage
from edgetiming.measure.closedloop import RUN_SCHEMA_VERSION, timing_gc_off
from edgetiming.measure.openloop import Periodic, Poisson, requests_per_block
from edgetiming.measure.sentinel import SentinelSeries, time_after
from edgetiming.results import report
from edgetiming.stats import quantiles as stats
from edgetiming.stats import validity
from edgetiming.stats.repeated import RepeatedEstimate, repeated_quantile

__all__ = ["POLICY_KINDS", "BatchPolicy", "BatchedRun", "PooledItems", "ServedRounds", "SweepPoint", "next_batch",
           "report_served", "report_sweep", "serve"]

POLICY_KINDS = ("single", "fixed", "dynamic")
_NOT_DONE = -1


@dataclass(frozen=True)
class BatchPolicy:
    """How the server forms batches; build it with :meth:`single`, :meth:`fixed` or :meth:`dynamic`.

    Example
    -------
    >>> BatchPolicy.dynamic(8, timeout_ms=2.0).label
    'dynamic (up to 8, 2 ms timeout)'
    """

    kind: str
    max_batch: int = 1
    timeout_ms: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in POLICY_KINDS:
            raise ValueError(f"policy kind {self.kind!r} must be one of {POLICY_KINDS}")
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {self.max_batch}")
        if self.kind == "single" and self.max_batch != 1:
            raise ValueError("a 'single' policy has max_batch 1; use BatchPolicy.single()")
        if self.kind == "dynamic" and (self.timeout_ms is None or self.timeout_ms < 0):
            raise ValueError("a 'dynamic' policy needs timeout_ms >= 0")
        if self.kind != "dynamic" and self.timeout_ms is not None:
            raise ValueError(f"timeout_ms applies to 'dynamic' policies only, not {self.kind!r}")

    @classmethod
    def single(cls) -> BatchPolicy:
        return cls("single", 1)

    @classmethod
    def fixed(cls, max_batch: int) -> BatchPolicy:
        return cls("fixed", int(max_batch))

    @classmethod
    def dynamic(cls, max_batch: int, *, timeout_ms: float) -> BatchPolicy:
        return cls("dynamic", int(max_batch), float(timeout_ms))

    @property
    def label(self) -> str:
        if self.kind == "single":
            return "one at a time"
        if self.kind == "fixed":
            return f"fixed batches of {self.max_batch}"
        return f"dynamic (up to {self.max_batch}, {self.timeout_ms:g} ms timeout)"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "max_batch": self.max_batch, "timeout_ms": self.timeout_ms,
                "label": self.label}


def next_batch(
    policy: BatchPolicy, n_waiting: int, oldest_queued_ns: int | None, now_ns: int, closed: bool
) -> tuple[int, int | None]:
    """The server's decision: ``(items to take now, ns to wait before asking again)``.

    ``(0, None)`` means wait for the next arrival; ``(0, w)`` means wait at
    most ``w`` ns (the dynamic timeout). ``closed`` says no more items will
    arrive: a fixed policy then flushes what is left, a dynamic one still
    honours its timeout (a server cannot know the stream ended).

    Examples
    --------
    >>> p = BatchPolicy.dynamic(4, timeout_ms=2.0)
    >>> next_batch(p, 2, oldest_queued_ns=0, now_ns=500_000, closed=False)
    (0, 1500000)
    >>> next_batch(p, 2, oldest_queued_ns=0, now_ns=2_000_000, closed=False)
    (2, None)
    >>> next_batch(BatchPolicy.fixed(4), 3, 0, 10**9, closed=False)
    (0, None)
    """
    if n_waiting <= 0:
        return 0, None
    if n_waiting >= policy.max_batch:
        return policy.max_batch, None
    if policy.kind == "single":  # max_batch == 1, handled above
        return 1, None
    if policy.kind == "fixed":
        return (n_waiting, None) if closed else (0, None)
    assert policy.timeout_ms is not None and oldest_queued_ns is not None
    due = oldest_queued_ns + int(policy.timeout_ms * 1e6)
    if now_ns >= due:
        return n_waiting, None
    return 0, due - now_ns


@dataclass
class BatchedRun:
    """Per-item timestamps (int64 ns from ``t0``) and the batch each item went out in."""

    policy: BatchPolicy
    arrivals: dict[str, Any]
    intended_ns: np.ndarray
    queued_ns: np.ndarray
    issued_ns: np.ndarray
    done_ns: np.ndarray
    batch_index: np.ndarray  # per item: which batch (0-based, in issue order)
    flushed: np.ndarray  # per item: went out in the end-of-stream flush of a fixed policy
    batch_sizes: np.ndarray  # per batch
    batch_service_ns: np.ndarray  # per batch: done - issued
    deadline_ms: float | None
    resources: ResourceUsage
    warmup_ns: dict[int, int] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    confidence: float = 0.95
    started_at: str = ""
    #: per-block telemetry (``iter_start``/``iter_end`` are item indices; the server thread's
    #: context switches), with ``t0_ns`` (perf_counter_ns) to put the item times on its clock
    interference: InterferenceTable | None = None
    t0_ns: int = 0
    #: the sentinel, timed once after the stream (never between items: it would delay them)
    sentinel: SentinelSeries | None = None

    @property
    def n_requests(self) -> int:
        return int(self.intended_ns.size)

    @property
    def completed(self) -> np.ndarray:
        return self.done_ns >= 0

    @property
    def response_ns(self) -> np.ndarray:
        """done - intended per item (in arrival order): what the item's sender waited."""
        return self.done_ns - self.intended_ns

    @property
    def batch_wait_ns(self) -> np.ndarray:
        """issued - intended per item: waiting for the batch to form and for the server."""
        return self.issued_ns - self.intended_ns

    @property
    def item_batch_size(self) -> np.ndarray:
        """Per item: the size of the batch it was served in."""
        return self.batch_sizes[self.batch_index]

    def later_arrivals(self, window_ms: float) -> np.ndarray:
        """Per item: how many items were intended within ``window_ms`` after it (its future traffic)."""
        t = self.intended_ns
        return np.searchsorted(t, t + int(window_ms * 1e6), side="right") - np.arange(t.size) - 1

    def found_idle(self) -> np.ndarray:
        """Per item: every earlier item was done when it arrived (no queue ahead, server idle)."""
        before = np.maximum.accumulate(np.r_[np.int64(-1), self.done_ns[:-1]])
        return before <= self.intended_ns

    @property
    def throughput_hz(self) -> float:
        """Items completed per second, from the first intended arrival to the last completion."""
        span = float(self.done_ns.max() - self.intended_ns[0])
        return self.n_requests / span * 1e9 if span > 0 else float("nan")

    @property
    def offered_rate_hz(self) -> float:
        span = float(self.intended_ns[-1] - self.intended_ns[0])
        return (self.n_requests - 1) / span * 1e9 if span > 0 else float("nan")

    @property
    def utilization(self) -> float:
        """Share of the span the server spent running batches."""
        span = float(self.done_ns.max() - self.intended_ns[0])
        return float(self.batch_service_ns.sum()) / span if span > 0 else 0.0

    @property
    def summary(self) -> Any:
        return stats.summarize(self.response_ns, confidence=self.confidence)

    def miss_rate(self, deadline_ms: float | None = None) -> Any:
        """``stats.miss_rate`` of the response times against ``deadline_ms`` (default: the run's)."""

        d = self.deadline_ms if deadline_ms is None else deadline_ms
        if d is None:
            raise ValueError("give deadline_ms here or to serve()")
        return stats.miss_rate(self.response_ns, d, confidence=self.confidence)

    def to_dict(self) -> dict[str, Any]:
        """Counts, settings and summaries; no raw data."""

        sizes, counts = np.unique(self.batch_sizes, return_counts=True)
        return {
            "kind": "batched_open_loop", "schema_version": RUN_SCHEMA_VERSION,
            "policy": self.policy.to_dict(), "arrivals": self.arrivals,
            "n_requests": self.n_requests, "n_batches": int(self.batch_sizes.size),
            "n_flushed": int(self.flushed.sum()),
            "batch_size_counts": {str(int(s)): int(c) for s, c in zip(sizes, counts)},
            "offered_rate_hz": self.offered_rate_hz, "throughput_hz": self.throughput_hz,
            "utilization": self.utilization, "deadline_ms": self.deadline_ms,
            "miss_rate": None if self.deadline_ms is None else self.miss_rate().to_dict(),
            "response": stats.summarize(self.response_ns, confidence=self.confidence).to_dict(),
            "batch_service": stats.summarize(self.batch_service_ns,
                                             confidence=self.confidence).to_dict(),
            "warmup_ns": {str(k): int(v) for k, v in self.warmup_ns.items()},
            "resources": self.resources.to_dict(), "settings": self.settings,
            "started_at": self.started_at,
            "interference": None if self.interference is None else self.interference.summary(),
            "sentinel_ms_after": None if self.sentinel is None else float(np.median(self.sentinel.latency_ns)) / 1e6,
        }

    def report(self, name: str) -> None:
        """Raw per-item response times and batch sizes as samples, plus key metrics."""

        report.samples(f"{name}.response", self.response_ns, description=(
            f"{self.policy.label}: per-item response time (done - intended arrival), int64 ns, "
            "in arrival order"))
        report.samples(f"{name}.batch_size", self.item_batch_size.astype(np.int64),
                       unit="items", description="per item: size of the batch it was served in")
        for p in (0.5, 0.99):
            q = stats.quantile_ci(self.response_ns, p, self.confidence)
            label = stats.percentile_label(p)
            report.metric(f"{name}.response_{label}_ms", q.value / 1e6, unit="ms", n=q.n,
                          ci=(q.lower / 1e6, q.upper / 1e6) if q.bounded else None,
                          judgement=validity.judge(n=q.n, percentiles=(p,), confidence=self.confidence), description=f"{self.policy.label}: response "
                          f"time {label} from the intended arrival (nearest rank)")
        report.metric(f"{name}.throughput_hz", self.throughput_hz, unit="Hz",
                      n=self.n_requests, description=f"{self.policy.label}: items completed per "
                      "second, first intended arrival to last completion")
        if self.deadline_ms is not None:
            m = self.miss_rate()
            report.metric(f"{name}.miss_rate", m.rate, n=m.n, ci=(m.lower, m.upper),
                          description=f"{self.policy.label}: share of items over "
                          f"{self.deadline_ms:g} ms (Clopper-Pearson interval)")


def serve(
    run_batch: Callable[[int], Any],
    arrivals: Periodic | Poisson,
    *,
    policy: BatchPolicy,
    n_requests: int,
    deadline_ms: float | None = None,
    warmup_rounds: int = 2,
    start_delay_ms: float = 5.0,
    confidence: float = 0.95,
    sentinel: bool = True,
) -> BatchedRun:
    """Feed ``n_requests`` items on the ``arrivals`` schedule to one server using ``policy``.

    Parameters
    ----------
    run_batch : ``run_batch(k)`` runs the model on a batch of ``k`` items (1 <= k <=
        ``policy.max_batch``); it is called from the server thread and should release
        the GIL while it computes (onnxruntime's ``run`` does).
    arrivals : :class:`~edgetiming.measure.openloop.Periodic` or :class:`~edgetiming.measure.openloop.Poisson`.
    policy : :class:`BatchPolicy`.
    deadline_ms : an item misses when its response time exceeds this.
    warmup_rounds : calls of ``run_batch(k)`` for every ``k`` up to ``max_batch`` before
        the schedule starts (new shapes cost extra on their first run); the median of
        each is kept in ``warmup_ns``.
    start_delay_ms : ``t0`` is this far after the server is ready.
    sentinel : time the sentinel workload after the stream (``run.sentinel``).

    Example
    -------
    >>> run = serve(lambda k: time.sleep(0.0005 * k), Periodic(1.0),
    ...             policy=BatchPolicy.fixed(4), n_requests=20)
    >>> sorted(set(run.batch_sizes.tolist()))
    [4]
    """
    if n_requests < 1:
        raise ValueError("n_requests must be >= 1")
    intended = arrivals.offsets_ns(n_requests)
    queued = np.full(n_requests, _NOT_DONE, dtype=np.int64)
    issued, done = queued.copy(), queued.copy()
    batch_index = np.full(n_requests, _NOT_DONE, dtype=np.int64)
    flushed = np.zeros(n_requests, dtype=bool)
    sizes: list[int] = []
    service: list[int] = []
    perf = time.perf_counter_ns

    warm: dict[int, int] = {}
    for k in range(1, policy.max_batch + 1):
        times = []
        for _ in range(max(warmup_rounds, 0)):
            t = perf()
            run_batch(k)
            times.append(perf() - t)
        if times:
            warm[k] = int(np.median(times))

    waiting: deque[int] = deque()
    cond = threading.Condition()
    state = {"closed": False}
    errors: list[BaseException] = []
    server_tid: list[int] = []
    t0 = 0

    def server() -> None:
        server_tid.append(threading.get_native_id())
        while True:
            with cond:
                while True:
                    oldest = int(queued[waiting[0]]) if waiting else None
                    k, wait_ns = next_batch(policy, len(waiting), oldest, perf() - t0,
                                            state["closed"])
                    if k:
                        batch = [waiting.popleft() for _ in range(k)]
                        closing = state["closed"]
                        break
                    if state["closed"] and not waiting:
                        return
                    cond.wait(None if wait_ns is None else wait_ns / 1e9)
            b = len(sizes)
            start = perf() - t0
            try:
                run_batch(len(batch))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller below
                errors.append(exc)
                return
            end = perf() - t0
            idx = np.asarray(batch)
            issued[idx], done[idx], batch_index[idx] = start, end, b
            if closing and policy.kind == "fixed" and len(batch) < policy.max_batch:
                flushed[idx] = True
            sizes.append(len(batch))
            service.append(end - start)

    meter = ResourceMeter()
    thread = threading.Thread(target=server, name="batching-server", daemon=True)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with timing_gc_off(), meter:
        thread.start()
        while not server_tid:
            time.sleep(0.0005)
        # telemetry of the server thread's context switches, read by the caller right after
        # it enqueued a block's last item (never per item)
        interference = InterferenceMeter(tids=server_tid)
        block = requests_per_block(intended)
        t0 = perf() + int(start_delay_ms * 1e6)
        interference.mark(0)
        for k in range(n_requests):
            while (wait := t0 + int(intended[k]) - perf()) > 0:
                time.sleep(wait / 1e9)  # sleep only: a spinning dispatcher would hold the GIL
            with cond:
                queued[k] = perf() - t0
                waiting.append(k)
                cond.notify()
            if errors:
                break
            if (k + 1) % block == 0 and k + 1 < n_requests:
                interference.mark(k + 1)
        with cond:
            state["closed"] = True
            cond.notify()
        thread.join()
        interference.mark(n_requests)
    if errors:
        raise errors[0]
    table = interference.table()
    return BatchedRun(
        policy, arrivals.describe(), intended, queued, issued, done, batch_index, flushed,
        np.asarray(sizes, dtype=np.int64), np.asarray(service, dtype=np.int64), deadline_ms,
        meter.usage(n_requests), warm,
        {"switch_interval_s": sys.getswitchinterval(), "warmup_rounds": warmup_rounds,
         "start_delay_ms": start_delay_ms, "timeout_counted_from": "queue entry of the oldest item"},
        confidence, started, table, t0, time_after(table.n_blocks - 1) if sentinel else None)


# --------------------------------------------------------------------------- summaries over rounds
def _pct(p: float) -> str:
    return f"p{p * 100:g}"


@dataclass(frozen=True)
class SweepPoint:
    """One batch size of a closed-loop sweep in rounds: latency per batch (ms) and items per second."""

    batch: int
    p50: RepeatedEstimate
    tail: RepeatedEstimate  # at the sweep's percentile
    items_per_s_by_round: list[float]
    n: int

    @property
    def items_per_s(self) -> float:
        """Batch size / mean batch latency, mean over rounds."""
        return float(np.mean(self.items_per_s_by_round))


def report_sweep(runs_by_batch: Mapping[int, Sequence[Any]], percentile: float = 0.99, *,
                 name: str = "sweep") -> dict[int, SweepPoint]:
    """Summarise and report a closed-loop batch-size sweep run in rounds.

    ``runs_by_batch[b]`` holds one closed-loop run per round (anything with ``steady_ns``,
    the latency of each batch of ``b`` items, int64 ns). Per batch size it reports the
    samples ``{name}.b{b}`` (rounds concatenated), the estimates ``{name}.b{b}.p50_ms`` and
    ``{name}.b{b}.p{percentile}_ms`` over rounds, and ``{name}.b{b}.items_per_s``.

    Example
    -------
    >>> from types import SimpleNamespace as NS
    >>> runs = {b: [NS(steady_ns=np.full(50, b * 1_000_000))] * 2 for b in (1, 4)}
    >>> pts = report_sweep(runs)  # doctest: +ELLIPSIS
    [metric] ...
    >>> pts[4].items_per_s, pts[4].p50.value
    (1000.0, 4.0)
    """
    out = {}
    for b, runs in sorted(runs_by_batch.items()):
        lat = [r.steady_ns for r in runs]
        est = {p: repeated_quantile(lat, p).scaled(1e-6) for p in (0.5, percentile)}
        pt = SweepPoint(b, est[0.5], est[percentile], [b / float(x.mean()) * 1e9 for x in lat],
                        sum(x.size for x in lat))
        report.samples(f"{name}.b{b}", np.concatenate(lat),
                       description=f"batch {b}: latency per batch, int64 ns, {len(runs)} rounds concatenated")
        for p, e in est.items():
            report.estimate(f"{name}.b{b}.{_pct(p)}_ms", e,
                            description=f"batch {b}: P{p * 100:g} of one batch over {len(runs)} rounds")
        report.metric(f"{name}.b{b}.items_per_s", pt.items_per_s, unit="1/s", n=pt.n, runs=len(runs),
                      description=f"batch {b}: items per second, closed loop (batch size / mean batch latency, "
                      "mean over rounds)")
        out[b] = pt
    return out


@dataclass(frozen=True)
class ServedRounds:
    """One server at one load over rounds: response percentiles (ms), misses, rates per round."""

    p50: RepeatedEstimate
    tail: RepeatedEstimate
    misses: int
    n: int
    offered_hz: list[float]
    served_hz: list[float]
    mean_batch: float

    @property
    def miss_rate(self) -> float:
        return self.misses / self.n

    @property
    def miss_ci(self) -> tuple[float, float]:
        """Clopper-Pearson 95% interval of the miss rate."""
        return stats.proportion_ci(self.misses, self.n)


def report_served(name: str, runs: Sequence[BatchedRun], *, label: str, percentile: float = 0.99) -> ServedRounds:
    """Summarise and report one server at one load, one :class:`BatchedRun` per round.

    Reports the samples ``{name}.response`` (rounds concatenated), the estimate
    ``{name}.p{percentile}_ms`` pooled over rounds, ``{name}.served_hz`` (mean over rounds)
    and ``{name}.miss_rate`` against the runs' deadline; ``label`` starts each description.
    """
    resp = [r.response_ns for r in runs]
    est = {p: repeated_quantile(resp, p).scaled(1e-6) for p in (0.5, percentile)}
    s = ServedRounds(est[0.5], est[percentile], sum(r.miss_rate().misses for r in runs), sum(x.size for x in resp),
                     [r.offered_rate_hz for r in runs], [r.throughput_hz for r in runs],
                     float(np.concatenate([r.item_batch_size for r in runs]).mean()))
    pname = f"P{percentile * 100:g}"
    report.samples(f"{name}.response", np.concatenate(resp), description=f"{label}: per-item response time (done - "
                   f"intended arrival), int64 ns, rounds concatenated ({runs[0].n_requests} per round)")
    report.estimate(f"{name}.{_pct(percentile)}_ms", s.tail, description=f"{label}: {pname} response from the "
                    f"intended arrival, pooled over {len(runs)} rounds")
    report.metric(f"{name}.served_hz", float(np.mean(s.served_hz)), unit="Hz", runs=len(runs),
                  description=f"{label}: items completed per second (mean over rounds), against "
                  f"{np.mean(s.offered_hz):.0f} offered")
    report.metric(f"{name}.miss_rate", s.miss_rate, n=s.n, ci=s.miss_ci,
                  description=f"{label}: share of items over {runs[0].deadline_ms:g} ms (Clopper-Pearson)")
    return s


@dataclass(frozen=True)
class PooledItems:
    """Per-item arrays of one server's runs, concatenated: what a dynamic batcher's latency depends on.

    ``later`` counts the items intended within ``window_ms`` after each item; ``idle`` says
    the item found the server idle with nothing waiting (no queue ahead explains its latency).

    Example
    -------
    >>> run = serve(lambda k: time.sleep(0.0002 * k), Periodic(1.0), policy=BatchPolicy.single(), n_requests=20)
    >>> pool = PooledItems.of([run, run], window_ms=2.5)
    >>> pool.response_ns.size, int(pool.later.max())
    (40, 2)
    """

    response_ns: np.ndarray
    item_batch_size: np.ndarray
    idle: np.ndarray
    later: np.ndarray

    @classmethod
    def of(cls, runs: Sequence[BatchedRun], window_ms: float) -> PooledItems:
        def cat(f: Callable[[BatchedRun], np.ndarray]) -> np.ndarray:
            return np.concatenate([f(r) for r in runs])
        return cls(cat(lambda r: r.response_ns), cat(lambda r: r.item_batch_size), cat(lambda r: r.found_idle()),
                   cat(lambda r: r.later_arrivals(window_ms)))

    def by_batch_ms(self) -> dict[int, np.ndarray]:
        """Response times (ms) of the items served in a batch of each size that occurred."""
        return {int(s): self.response_ns[self.item_batch_size == s] / 1e6 for s in np.unique(self.item_batch_size)}

    def median_spread_ms(self, min_items: int = 5) -> float:
        """Largest minus smallest median response (ms) over batch sizes with >= ``min_items`` items."""
        meds = [float(np.median(v)) for v in self.by_batch_ms().values() if v.size >= min_items]
        return max(meds) - min(meds) if len(meds) >= 2 else 0.0

    def future_dependence(self, min_items: int = 10) -> float | None:
        """Spearman rank correlation (average ranks for ties), over the items that found the server
        idle, between response time and later arrivals; None below ``min_items`` or without spread."""
        a, b = self.later[self.idle], self.response_ns[self.idle]
        return None if a.size < min_items or np.ptp(a) == 0 or np.ptp(b) == 0 else float(spearmanr(a, b).statistic)
