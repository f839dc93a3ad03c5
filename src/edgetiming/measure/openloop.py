"""Open-loop timing: requests arrive on a schedule, whether or not the last one finished.

A camera delivers a frame every T ms (:class:`Periodic`); users and sensors
arrive at random (:class:`Poisson`, seeded). Latency counts from the
*intended* start ``t0 + offset_k``, never from when the call was issued, so a
stall delays every request scheduled behind it and shows up in the tail, as
it does for the user (coordinated omission, docs/guides/measurement/tail-latency-and-coordinated-omission.md). A
closed loop hides that: during a stall it simply issues nothing.

The dispatcher (the calling thread) only sleeps and enqueues; worker threads
run the inference (onnxruntime releases the GIL during ``run``). Per request
four int64 timestamps are kept, relative to ``t0``: intended, dispatched (put
in the queue), issued (a worker started it) and done, giving response time
(done - intended), service time (done - issued) and queueing delay
(issued - intended) separately. A request dropped because the queue was full
(``max_queue``) or because it was already past its deadline when a worker got
to it (``drop_late``, the camera policy) counts as a deadline miss.

Example
-------
>>> run = open_loop(lambda: session.run(None, feeds), Periodic(period_ms=33.3),
...                 n_requests=300, deadline_ms=33.3)  # doctest: +SKIP
>>> run.n_missed, run.summary.to_dict()["p99_ms"]  # doctest: +SKIP
(2, 18.4)
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from edgetiming.host.interference import InterferenceMeter, InterferenceTable
from edgetiming.host.resources import ResourceMeter, ResourceUsage, throttle_seen, throttle_signals
from edgetiming.measure.closedloop import (
    RUN_SCHEMA_VERSION,
    TARGET_BLOCKS,
    report_interference,
    timing_gc_off,
)
from edgetiming.measure.sentinel import SentinelSeries, time_after
from edgetiming.results import report
from edgetiming.stats import quantiles as stats
from edgetiming.stats import validity

__all__ = [
    "DROPPED_NS",
    "OpenLoopRun",
    "Periodic",
    "MIN_STREAM_BLOCK_NS",
    "Poisson",
    "open_loop",
    "requests_per_block",
]

DROPPED_NS = int(np.iinfo(np.int64).max)  # latency given to a dropped request: never in time
_NOT_DONE = -1
DROP_KINDS = ("", "queue_full", "late")


@dataclass(frozen=True)
class Periodic:
    """A camera: one request every ``period_ms``, intended start ``k * period_ms``.

    Example
    -------
    >>> Periodic(period_ms=10).offsets_ns(3).tolist()
    [0, 10000000, 20000000]
    """

    period_ms: float

    @property
    def rate_hz(self) -> float:
        return 1000.0 / self.period_ms

    def offsets_ns(self, n: int) -> np.ndarray:
        if self.period_ms <= 0:
            raise ValueError(f"period_ms must be > 0, got {self.period_ms}")
        return np.round(np.arange(n) * self.period_ms * 1e6).astype(np.int64)

    def describe(self) -> dict[str, Any]:
        return {"kind": "periodic", "period_ms": self.period_ms, "rate_hz": self.rate_hz}


@dataclass(frozen=True)
class Poisson:
    """Poisson arrivals at ``rate_hz``: exponential gaps from a seeded generator.

    The first request is intended at 0; the same seed gives the same schedule.

    Example
    -------
    >>> a = Poisson(rate_hz=100, seed=1).offsets_ns(1000)
    >>> bool(8 < a[-1] / 999 / 1e6 < 12)  # mean gap ~ 10 ms
    True
    """

    rate_hz: float
    seed: int = 0

    def offsets_ns(self, n: int) -> np.ndarray:
        if self.rate_hz <= 0:
            raise ValueError(f"rate_hz must be > 0, got {self.rate_hz}")
        gaps = np.random.default_rng(self.seed).exponential(1e9 / self.rate_hz, size=n)
        gaps[0] = 0.0
        return np.round(np.cumsum(gaps)).astype(np.int64)

    def describe(self) -> dict[str, Any]:
        return {"kind": "poisson", "rate_hz": self.rate_hz, "seed": self.seed}


@dataclass
class OpenLoopRun:
    """Per-request timestamps (int64 ns from ``t0``; -1 where it never happened) and counts."""

    arrivals: dict[str, Any]
    intended_ns: np.ndarray
    dispatched_ns: np.ndarray
    issued_ns: np.ndarray
    done_ns: np.ndarray
    drop_kind: np.ndarray  # int8 index into DROP_KINDS, 0 = not dropped
    deadline_ms: float | None
    workers: int
    max_queue: int | None
    drop_late: bool
    warmup_ns: np.ndarray
    resources: ResourceUsage
    throttle: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)
    confidence: float = 0.95
    started_at: str = ""
    #: per-block telemetry; ``iter_start``/``iter_end`` are request indices, and
    #: ``t0_ns`` (perf_counter_ns) puts the per-request times on the table's clock
    interference: InterferenceTable | None = None
    t0_ns: int = 0
    #: the sentinel, timed once after the stream (between requests it would delay them);
    #: its calls are attributed to the table's last row
    sentinel: SentinelSeries | None = None

    @property
    def busy_share(self) -> float | None:
        return None if self.interference is None else self.interference.busy_share

    # -- per-request views --------------------------------------------------
    @property
    def n_requests(self) -> int:
        return int(self.intended_ns.size)

    @property
    def dropped(self) -> np.ndarray:
        return self.drop_kind > 0

    @property
    def completed(self) -> np.ndarray:
        return self.done_ns >= 0

    @property
    def response_ns(self) -> np.ndarray:
        """done - intended for completed requests, in request order."""
        c = self.completed
        return self.done_ns[c] - self.intended_ns[c]

    @property
    def service_ns(self) -> np.ndarray:
        """done - issued: the call itself."""
        c = self.completed
        return self.done_ns[c] - self.issued_ns[c]

    @property
    def queueing_ns(self) -> np.ndarray:
        """issued - intended: dispatch lag plus waiting for a free worker."""
        c = self.completed
        return self.issued_ns[c] - self.intended_ns[c]

    @property
    def dispatch_lag_ns(self) -> np.ndarray:
        """dispatched - intended: how late the harness itself enqueued each request."""
        return self.dispatched_ns - self.intended_ns

    @property
    def response_with_drops_ns(self) -> np.ndarray:
        """Response time of every request; a dropped one gets :data:`DROPPED_NS`."""
        out = np.full(self.n_requests, DROPPED_NS, dtype=np.int64)
        c = self.completed
        out[c] = self.done_ns[c] - self.intended_ns[c]
        return out

    # -- counts ------------------------------------------------------------
    @property
    def miss_mask(self) -> np.ndarray:
        """Per request: dropped, or completed later than the deadline (all False without one)."""
        if self.deadline_ms is None:
            return np.zeros(self.n_requests, dtype=bool)
        return self.response_with_drops_ns > self.deadline_ms * 1e6

    @property
    def n_dropped(self) -> int:
        return int(self.dropped.sum())

    @property
    def n_missed(self) -> int:
        return int(self.miss_mask.sum())

    @property
    def miss_rate(self) -> float:
        return self.n_missed / self.n_requests if self.n_requests else 0.0

    @property
    def longest_miss_run(self) -> int:
        run = best = 0
        for miss in self.miss_mask.tolist():
            run = run + 1 if miss else 0
            best = max(best, run)
        return best

    @property
    def offered_rate_hz(self) -> float:
        span = float(self.intended_ns[-1] - self.intended_ns[0]) if self.n_requests > 1 else 0
        return (self.n_requests - 1) / span * 1e9 if span > 0 else float("nan")

    @property
    def served_rate_hz(self) -> float:
        """Requests completed per second, from the first intended start to the last completion."""
        span = float(self.done_ns.max() - self.intended_ns[0]) if self.completed.any() else 0.0
        return int(self.completed.sum()) / span * 1e9 if span > 0 else float("nan")

    @property
    def utilization(self) -> float:
        """Busy share of the workers between the first intended start and the last completion."""
        span = float(self.done_ns.max() - self.intended_ns[0]) if self.completed.any() else 0.0
        return float(self.service_ns.sum()) / (self.workers * span) if span > 0 else 0.0

    # -- statistics ----------------------------------------------------------
    @property
    def summary(self) -> Any:
        """``stats.summarize`` of the response time of completed requests."""

        return stats.summarize(self.response_ns, confidence=self.confidence)

    def slo_verdict(self, percentile: float = 0.99) -> Any:
        """``stats.slo_verdict`` on response time with drops counted as misses."""

        if self.deadline_ms is None:
            raise ValueError("open_loop(..., deadline_ms=...) is needed for a verdict")
        return stats.slo_verdict(self.response_with_drops_ns, percentile, self.deadline_ms,
                                 confidence=self.confidence)

    def to_dict(self) -> dict[str, Any]:
        """Counts, settings and summaries of response, service and queueing time; no raw data."""

        def summ(x: np.ndarray) -> Any:
            return stats.summarize(x, confidence=self.confidence).to_dict() if x.size else None

        lag = self.dispatch_lag_ns
        return {
            "kind": "open_loop", "schema_version": RUN_SCHEMA_VERSION, "arrivals": self.arrivals,
            "n_requests": self.n_requests,
            "n_completed": int(self.completed.sum()), "n_dropped": self.n_dropped,
            "dropped_queue_full": int((self.drop_kind == 1).sum()),
            "dropped_late": int((self.drop_kind == 2).sum()),
            "deadline_ms": self.deadline_ms, "n_missed": self.n_missed,
            "miss_rate": self.miss_rate, "longest_miss_run": self.longest_miss_run,
            "workers": self.workers, "max_queue": self.max_queue, "drop_late": self.drop_late,
            "offered_rate_hz": self.offered_rate_hz, "utilization": self.utilization,
            "dispatch_lag_ms": {"median": float(np.median(lag)) / 1e6,
                                "max": float(lag.max()) / 1e6},
            "response": summ(self.response_ns), "service": summ(self.service_ns),
            "queueing": summ(self.queueing_ns),
            "slo": None if self.deadline_ms is None else self.slo_verdict().to_dict(),
            "resources": self.resources.to_dict(), "throttle": self.throttle,
            "settings": self.settings, "started_at": self.started_at,
            "interference": None if self.interference is None else self.interference.summary(),
            "sentinel_ms_after": None if self.sentinel is None else float(np.median(self.sentinel.latency_ns)) / 1e6,
        }

    def report(self, name: str) -> None:
        """Raw per-request timestamps as samples, plus response percentiles and miss counts."""

        for part in ("intended", "issued", "done"):
            report.samples(f"{name}.{part}", getattr(self, f"{part}_ns"), description=(
                f"open-loop {part} time per request, int64 ns from t0; -1 = never (dropped)"))
        resp = self.response_ns
        busy = (None if self.interference is None
                else self.interference.busy_note(validity.INTERFERENCE_LIMIT))
        if self.interference is not None:
            report_interference(name, self.interference, busy)
        for p in (0.5, 0.9, 0.99):
            if not resp.size:
                break
            q = stats.quantile_ci(resp, p, self.confidence)
            label = f"p{p * 100:g}"
            report.metric(f"{name}.response_{label}_ms", q.value / 1e6, unit="ms", n=q.n,
                          ci=(q.lower / 1e6, q.upper / 1e6) if q.bounded else None,
                          judgement=validity.judge(n=q.n, percentiles=(p,), confidence=self.confidence,
                                                      throttle_seen=bool(self.throttle.get("seen", False)),
                                                      interference=self.busy_share), note=busy or "",
                          description=f"open-loop response time {label}"
                          " from the intended start (nearest rank)")
        report.metric(f"{name}.dropped", self.n_dropped, n=self.n_requests,
                      description="requests dropped (queue full or already late)")
        if self.deadline_ms is not None:
            report.metric(f"{name}.miss_rate", self.miss_rate, n=self.n_requests,
                          description=f"share of requests over {self.deadline_ms} ms or dropped")
            v = self.slo_verdict()
            report.check(f"{name}.slo", v.verdict, v.reason)


#: a stream's telemetry block spans at least this long: /proc/stat counts CPU time in ticks of
#: 10 ms, so a 25 ms block on 2 CPUs could only read 0%, 20%, 40%...; at 200 ms a tick is 2.5%
MIN_STREAM_BLOCK_NS = 200_000_000


def requests_per_block(intended_ns: np.ndarray) -> int:
    """Requests per telemetry block of a stream: about ``TARGET_BLOCKS`` blocks, each spanning at
    least :data:`MIN_STREAM_BLOCK_NS` of the schedule.

    Example
    -------
    >>> requests_per_block(np.arange(1000) * 1_000_000)  # 999 ms of schedule: 4 blocks of 250
    250
    >>> requests_per_block(np.arange(4000) * 5_000_000)  # 20 s: TARGET_BLOCKS blocks
    100
    """
    n = int(intended_ns.size)
    span = int(intended_ns[-1] - intended_ns[0]) if n else 0
    blocks = max(1, min(TARGET_BLOCKS, span // MIN_STREAM_BLOCK_NS))
    return max(1, -(-n // blocks))


def open_loop(
    fn: Callable[[], Any],
    arrivals: Periodic | Poisson,
    *,
    n_requests: int,
    deadline_ms: float | None = None,
    workers: int = 1,
    max_queue: int | None = None,
    drop_late: bool = False,
    warmup_iters: int = 10,
    confidence: float = 0.95,
    start_delay_ms: float = 5.0,
    sentinel: bool = True,
) -> OpenLoopRun:
    """Issue ``n_requests`` calls of ``fn()`` on the ``arrivals`` schedule.

    Parameters
    ----------
    fn : zero-argument callable run by a worker thread.
    arrivals : :class:`Periodic` or :class:`Poisson`.
    deadline_ms : a request misses when its response time exceeds this.
    workers : worker threads taking requests from one FIFO queue.
    max_queue : waiting requests allowed; an arrival finding it full is dropped.
    drop_late : a worker skips a request that is already past ``deadline_ms`` when it
        would start (a camera pipeline dropping stale frames).
    warmup_iters : calls made before the schedule starts, kept in ``warmup_ns``.
    start_delay_ms : ``t0`` is this far after the workers are ready.
    sentinel : time the sentinel workload after the stream (``run.sentinel``), so the
        noise figure can put the run in sentinel units.

    Example
    -------
    >>> run = open_loop(lambda: time.sleep(0.001), Periodic(5), n_requests=20)
    >>> int(run.completed.sum()), run.n_dropped
    (20, 0)
    """
    if workers < 1:
        raise ValueError("workers must be >= 1")
    if drop_late and deadline_ms is None:
        raise ValueError("drop_late=True needs deadline_ms")
    intended = arrivals.offsets_ns(n_requests)
    dispatched = np.full(n_requests, _NOT_DONE, dtype=np.int64)
    issued, done = dispatched.copy(), dispatched.copy()
    drop_kind = np.zeros(n_requests, dtype=np.int8)
    deadline_ns = None if deadline_ms is None else int(deadline_ms * 1e6)
    warm = np.empty(warmup_iters, dtype=np.int64)
    perf = time.perf_counter_ns
    for i in range(warmup_iters):
        t = perf()
        fn()
        warm[i] = perf() - t
    q: queue.Queue[int | None] = queue.Queue(maxsize=max_queue or 0)
    errors: list[BaseException] = []
    t0 = 0

    worker_tids: list[int] = []

    def work() -> None:
        worker_tids.append(threading.get_native_id())
        while (k := q.get()) is not None:
            start = perf() - t0
            if drop_late and deadline_ns is not None and start - intended[k] > deadline_ns:
                drop_kind[k] = 2
                continue
            issued[k] = start
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller below
                errors.append(exc)
                continue
            done[k] = perf() - t0

    before = throttle_signals()
    meter = ResourceMeter()
    threads = [threading.Thread(target=work, name=f"open-loop-worker-{w}", daemon=True)
               for w in range(workers)]
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    block = requests_per_block(intended)
    with timing_gc_off(), meter:
        for th in threads:
            th.start()
        while len(worker_tids) < workers:
            time.sleep(0.0005)
        # telemetry of the workers' context switches, read by the dispatcher right after it
        # enqueued a block's last request (never per request)
        interference = InterferenceMeter(tids=worker_tids)
        t0 = perf() + int(start_delay_ms * 1e6)
        interference.mark(0)
        for k in range(n_requests):
            # Sleep only: a spinning dispatcher would hold the GIL and a core from the workers.
            while (wait := t0 + int(intended[k]) - perf()) > 0:
                time.sleep(wait / 1e9)
            dispatched[k] = perf() - t0
            try:
                q.put_nowait(k)
            except queue.Full:
                drop_kind[k] = 1
            if errors:
                break
            if (k + 1) % block == 0 and k + 1 < n_requests:
                interference.mark(k + 1)
        for _ in threads:
            q.put(None)
        for th in threads:
            th.join()
        interference.mark(n_requests)
    if errors:
        raise errors[0]
    table = interference.table()
    sent = time_after(table.n_blocks - 1) if sentinel else None
    seen, reasons = throttle_seen(before, throttle_signals())
    return OpenLoopRun(
        arrivals.describe(), intended, dispatched, issued, done, drop_kind, deadline_ms,
        workers, max_queue, drop_late, warm, meter.usage(int((done >= 0).sum())),
        {"seen": seen, "reasons": reasons},
        {"switch_interval_s": sys.getswitchinterval(), "warmup_iters": warmup_iters,
         "start_delay_ms": start_delay_ms}, confidence, started, table, t0, sent)
