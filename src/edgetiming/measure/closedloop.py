"""Closed-loop (single stream) timing of a callable or an onnxruntime session.

One request at a time, the next issued when the previous completes: the
SingleStream pattern. Every iteration is kept as int64 nanoseconds from
``time.perf_counter_ns()`` in a preallocated numpy array, warmup included and
labelled. While timing, garbage collection is collected, frozen and disabled
(a gen-2 pass costs milliseconds); the previous state is restored afterwards,
also on error. A run stops by count, by time, or adaptively once the
confidence interval of the target percentile is narrower than a requested
relative width (with a cap), and ``stop_reason`` says which.

Each run carries the harness's own overhead: the time one iteration takes on
a do-nothing model through the same call path (:func:`measure_overhead`), its
fraction of P50 (flagged above 1%), the session settings that change timing,
CPU seconds and peak memory, CPU affinity and throttle signals.

Example
-------
>>> run = session_loop("rapidocr:cls", input_shapes={"x": (1, 3, 48, 192)},
...                    iters=1000)  # doctest: +SKIP
>>> run.summary.n, run.stop_reason, run.overhead_fraction < 0.01  # doctest: +SKIP
(1000, 'count', True)
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from edgetiming.host.interference import InterferenceMeter, InterferenceTable
from edgetiming.host.resources import (
    NOT_AVAILABLE,
    ResourceMeter,
    ResourceUsage,
    throttle_seen,
    throttle_signals,
)
from edgetiming.measure.isolation import model_source, run_child
from edgetiming.measure.sentinel import (
    SENTINEL_CALLS_PER_BLOCK,
    BlockSentinel,
    Sentinel,
    SentinelSeries,
    block_medians,
    block_ratio,
    normalised_quantile,
    normalised_samples,
)
from edgetiming.measure.session import (
    SessionConfig,
    config_of,
    make_feeds,
    open_session,
    session_settings,
)
from edgetiming.results import report
from edgetiming.results.report import encode_samples
from edgetiming.stats import quantiles as stats
from edgetiming.stats import validity

__all__ = [
    "ClosedLoopRun",
    "OverheadEstimate",
    "closed_loop",
    "isolated_session_loop",
    "measure_overhead",
    "pinned_affinity",
    "report_interference",
    "session_loop",
    "timing_gc_off",
]

RUN_SCHEMA_VERSION = 1  # of every run's to_dict(); bump it and migrate when the keys change
_CALL_PATHS = ("session.run", "io_binding", "callable")
_OVERHEAD_CACHE: dict[tuple[str, str], OverheadEstimate] = {}


# --------------------------------------------------------------------------- timed loops
# Three near-identical loops on purpose: a generic fn(*args) costs an extra ~50 ns per call.
def _loop_callable(out: np.ndarray, start: int, stop: int, fn: Callable[[], Any], _: Any) -> None:
    perf = time.perf_counter_ns
    for i in range(start, stop):
        t0 = perf()
        fn()
        out[i] = perf() - t0


def _loop_run(out: np.ndarray, start: int, stop: int, run: Callable[..., Any], feeds: Any) -> None:
    perf = time.perf_counter_ns
    for i in range(start, stop):
        t0 = perf()
        run(None, feeds)
        out[i] = perf() - t0


def _loop_iob(out: np.ndarray, start: int, stop: int, run_iob: Callable[..., Any],
              bind: Any) -> None:
    perf = time.perf_counter_ns
    for i in range(start, stop):
        t0 = perf()
        run_iob(bind)
        out[i] = perf() - t0


@contextmanager
def timing_gc_off() -> Iterator[dict[str, Any]]:
    """Collect, freeze and disable the garbage collector; restore it on exit.

    ``gc.unfreeze()`` is only called when nothing was frozen before, so a
    caller's own ``gc.freeze()`` survives.

    Example
    -------
    >>> with timing_gc_off() as info:
    ...     gc.isenabled()
    False
    """
    was_enabled = gc.isenabled()
    frozen_before = gc.get_freeze_count()
    gc.collect()
    gc.freeze()
    gc.disable()
    info = {"enabled_before": was_enabled, "disabled_while_timing": True, "frozen_objects":
            gc.get_freeze_count()}
    try:
        yield info
    finally:
        if frozen_before == 0:
            gc.unfreeze()
        if was_enabled:
            gc.enable()


@contextmanager
def pinned_affinity(cpus: list[int] | None) -> Iterator[dict[str, Any]]:
    """Pin every thread of this process to ``cpus``; restore each thread's mask on exit.

    Linux applies ``sched_setaffinity`` per thread, and onnxruntime's pool
    threads already exist, so each thread under ``/proc/self/task`` is pinned.

    Example
    -------
    >>> with pinned_affinity(None) as info:
    ...     info["requested"]
    'none'
    """
    if cpus is None:
        yield {"requested": "none", "applied": "none"}
        return
    if not hasattr(os, "sched_setaffinity"):
        yield {"requested": list(cpus), "applied": NOT_AVAILABLE,
               "detail": "os.sched_setaffinity does not exist on this OS"}
        return
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        tids = [0]
    saved: dict[int, set[int]] = {}
    for tid in tids:
        try:
            saved[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, set(cpus))
        except OSError:
            continue  # the thread ended meanwhile
    try:
        yield {"requested": list(cpus), "applied": sorted(os.sched_getaffinity(0)),
               "threads_pinned": len(saved)}
    finally:
        for tid, mask in saved.items():
            try:
                os.sched_setaffinity(tid, mask)
            except OSError:
                pass


# --------------------------------------------------------------------------- overhead
@dataclass
class OverheadEstimate:
    """The harness's own cost per iteration on one call path.

    ``per_iter_ns`` is the median time of one timed iteration of a do-nothing
    model (an ONNX Identity on a 1-element tensor) through the same loop and
    call path: two clock reads, the array store, the Python call and
    onnxruntime's dispatch. ``timer_ns`` is the clock-and-store part alone.
    """

    call_path: str
    per_iter_ns: float
    p90_ns: float
    min_ns: int
    timer_ns: float
    n: int
    description: str = ("median of one timed iteration of a do-nothing model (Identity, 1 float)"
                        " on the same call path")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _identity_session(config: SessionConfig | None) -> Any:
    # imported here: onnx costs ~770 ms to import (-X importtime, 2-vCPU runner); only the overhead model needs it
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "noop", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    return open_session(model.SerializeToString(), config or SessionConfig())


def measure_overhead(
    call_path: str = "session.run",
    *,
    iters: int = 3000,
    warmup_iters: int = 200,
    session_config: SessionConfig | None = None,
) -> OverheadEstimate:
    """Time a do-nothing model on ``call_path`` and return the per-iteration overhead.

    Parameters
    ----------
    call_path : ``"session.run"``, ``"io_binding"`` (``run_with_iobinding``) or
        ``"callable"`` (a no-op Python function through the callable loop).
    iters : timed iterations; the median is reported.
    session_config : threads and options for the do-nothing session.

    Example
    -------
    >>> est = measure_overhead("session.run", iters=500)
    >>> 0 < est.timer_ns < est.per_iter_ns
    True
    """
    if call_path not in _CALL_PATHS:
        raise ValueError(f"call_path {call_path!r} must be one of {_CALL_PATHS}")
    out = np.empty(warmup_iters + iters, dtype=np.int64)
    timer = np.empty(iters, dtype=np.int64)
    feeds = {"x": np.ones(1, dtype=np.float32)}
    with timing_gc_off():
        if call_path == "callable":
            loop, a, b = _loop_callable, (lambda: None), None
        else:
            sess = _identity_session(session_config)
            if call_path == "session.run":
                loop, a, b = _loop_run, sess.run, feeds
            else:
                bind = sess.io_binding()
                bind.bind_cpu_input("x", feeds["x"])
                bind.bind_output("y")
                loop, a, b = _loop_iob, sess.run_with_iobinding, bind
        loop(out, 0, warmup_iters + iters, a, b)
        perf = time.perf_counter_ns
        for i in range(iters):
            t0 = perf()
            timer[i] = perf() - t0
    steady = out[warmup_iters:]
    return OverheadEstimate(call_path, float(np.median(steady)), float(np.percentile(steady, 90)),
                            int(steady.min()), float(np.median(timer)), int(iters))


def _cached_overhead(call_path: str, config: SessionConfig | None) -> OverheadEstimate:
    key = (call_path, repr(config))
    if key not in _OVERHEAD_CACHE:
        _OVERHEAD_CACHE[key] = measure_overhead(call_path, session_config=config)
    return _OVERHEAD_CACHE[key]


# --------------------------------------------------------------------------- run object
def _plain(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    return obj


@dataclass
class ClosedLoopRun:
    """One closed-loop measurement: raw samples plus everything needed to trust them.

    ``latency_ns`` holds every iteration in order; the first ``warmup_iters``
    are warmup (``is_warmup``) and are excluded from ``steady_ns``, the
    summary and the validity check, never deleted.
    """

    latency_ns: np.ndarray
    warmup_iters: int
    stop_reason: str
    call_path: str
    settings: dict[str, Any]
    overhead: OverheadEstimate | None
    resources: ResourceUsage
    throttle: dict[str, Any]
    affinity: dict[str, Any]
    gc: dict[str, Any]
    target_percentile: float = 0.99
    confidence: float = 0.95
    target_rel_ci_width: float | None = None
    started_at: str = ""
    isolated: bool = False
    pid: int = field(default_factory=os.getpid)
    interference: InterferenceTable | None = None
    sentinel: SentinelSeries | None = None

    @property
    def busy_share(self) -> float | None:
        """Share of the measured CPUs other work held during the steady blocks
        (:mod:`edgetiming.host.interference`); None where it was not measured."""
        return None if self.interference is None else self.interference.busy_share

    def block_medians(self) -> Any:
        """Model and sentinel median per steady block (:class:`~edgetiming.measure.sentinel.BlockMedians`)."""
        if self.sentinel is None or self.interference is None:
            raise ValueError("this run has no sentinel: measure with sentinel=True")
        t = self.interference
        return block_medians(self.latency_ns, t.iter_start, t.iter_end, self.sentinel, steady_from=t.steady_from)

    def sentinel_ratio(self) -> Any:
        """Median over steady blocks of model median / sentinel median, with its interval over blocks."""
        return block_ratio(self.block_medians(), self.confidence)

    def normalised_quantile_ci(self, p: float) -> Any:
        """The ``p`` quantile of the model samples in sentinel units (each / its block's sentinel median)."""
        if self.sentinel is None or self.interference is None:
            raise ValueError("this run has no sentinel: measure with sentinel=True")
        t = self.interference
        return normalised_quantile(self.latency_ns, t.iter_start, t.iter_end, self.sentinel, p,
                                   steady_from=t.steady_from, confidence=self.confidence)

    def steady_per_sentinel(self) -> np.ndarray:
        """The steady samples in sentinel units: each / the sentinel median of its block (blocks
        without a sentinel call left out); pool these over runs for a repeated estimate."""
        if self.sentinel is None or self.interference is None:
            raise ValueError("this run has no sentinel: measure with sentinel=True")
        t = self.interference
        return normalised_samples(self.latency_ns, t.iter_start, t.iter_end, self.sentinel, steady_from=t.steady_from)

    def sentinel_ms(self) -> float:
        """Median sentinel latency over the run's steady blocks, in ms (the machine's speed then)."""
        if self.sentinel is None or self.interference is None:
            raise ValueError("this run has no sentinel: measure with sentinel=True")
        med = self.sentinel.medians_ns(self.interference.n_blocks)[self.interference.steady_from:]
        return float(np.nanmedian(med)) / 1e6

    @property
    def is_warmup(self) -> np.ndarray:
        mask = np.zeros(self.latency_ns.size, dtype=bool)
        mask[: self.warmup_iters] = True
        return mask

    @property
    def steady_ns(self) -> np.ndarray:
        return self.latency_ns[self.warmup_iters:]

    @property
    def throttle_seen(self) -> bool:
        return bool(self.throttle.get("seen", False))

    @property
    def summary(self) -> Any:
        """``stats.summarize`` of the steady-state samples (cached)."""
        if getattr(self, "_summary", None) is None:
            self._summary = stats.summarize(self.steady_ns, confidence=self.confidence)
        return self._summary

    def quantile_ci(self, p: float) -> Any:
        """Nearest-rank estimate of the ``p`` quantile with its exact CI (``stats.quantile_ci``)."""

        return stats.quantile_ci(self.steady_ns, p, confidence=self.confidence)

    @property
    def p50_ns(self) -> float:
        return float(stats.quantile(self.steady_ns, 0.5))

    @property
    def overhead_fraction(self) -> float | None:
        """Harness overhead per iteration over the steady-state P50 (None when not measured)."""
        if self.overhead is None or self.steady_ns.size == 0:
            return None
        return self.overhead.per_iter_ns / max(self.p50_ns, 1.0)

    @property
    def overhead_flagged(self) -> bool:
        frac = self.overhead_fraction
        return frac is not None and frac > validity.OVERHEAD_LIMIT

    def judgement(self, percentile: float | None = None) -> validity.Judgement:
        """The state of this run's ``percentile`` (default: the target) under :mod:`edgetiming.stats.validity`.

        The coefficient of variation is recorded as a jitter note, never as a reason.
        """
        p = self.target_percentile if percentile is None else percentile
        return validity.judge(
            n=int(self.steady_ns.size), percentiles=(p,), confidence=self.confidence,
            overhead_ns=None if self.overhead is None else self.overhead.per_iter_ns,
            p50_ns=self.p50_ns if self.steady_ns.size else None, throttle_seen=self.throttle_seen,
            interference=self.busy_share,
            notes=(f"CV {self.summary.cv:.1%} (jitter, reported not judged)",) if self.steady_ns.size > 1 else ())

    def to_dict(self) -> dict[str, Any]:
        """Everything but the raw samples, JSON-ready."""

        return {
            "kind": "closed_loop",
            "schema_version": RUN_SCHEMA_VERSION,
            "n_total": int(self.latency_ns.size),
            "samples_sha256": hashlib.sha256(encode_samples(self.latency_ns)).hexdigest(),
            "warmup_iters": int(self.warmup_iters),
            "stop_reason": self.stop_reason,
            "target_percentile": self.target_percentile,
            "confidence": self.confidence,
            "target_rel_ci_width": self.target_rel_ci_width,
            "call_path": self.call_path,
            "settings": self.settings,
            "summary": _plain(self.summary),
            "judgement": self.judgement().to_dict(),
            "overhead": None if self.overhead is None else self.overhead.to_dict(),
            "overhead_fraction": self.overhead_fraction,
            "overhead_flagged": self.overhead_flagged,
            "resources": self.resources.to_dict(),
            "throttle": self.throttle,
            "affinity": self.affinity,
            "gc": self.gc,
            "started_at": self.started_at,
            "isolated": self.isolated,
            "pid": self.pid,
            "interference": None if self.interference is None else self.interference.summary(),
            "sentinel": None if self.sentinel is None else {
                "description": self.sentinel.description, "calls": int(self.sentinel.latency_ns.size),
                "ratio": self.sentinel_ratio().to_dict()},
        }

    def report(self, name: str, *, percentiles: tuple[float, ...] = (0.5, 0.9, 0.99)) -> None:
        """Hand the raw samples and key metrics to :mod:`edgetiming.results.report`."""

        report.samples(name, self.latency_ns, unit="ns", description=(
            f"closed-loop latency per iteration ({self.call_path}), int64 ns, in order; the first "
            f"{self.warmup_iters} are warmup"))
        busy = (None if self.interference is None
                else self.interference.busy_note(validity.INTERFERENCE_LIMIT))
        ps = sorted(set(percentiles) | {self.target_percentile})
        for p in ps:
            q = self.quantile_ci(p)
            label = f"p{p * 100:g}"
            report.metric(
                f"{name}.{label}_ms", q.value / 1e6, unit="ms", n=q.n,
                ci=(q.lower / 1e6, q.upper / 1e6) if q.bounded else None,
                judgement=self.judgement(p), note=busy or "",
                description=f"closed-loop {label} (nearest rank) with its "
                            f"{self.confidence:.0%} distribution-free CI")
        if self.interference is not None:
            report_interference(name, self.interference, busy)
        if self.sentinel is not None:
            _report_sentinel(self, name, ps, busy)
        if self.overhead_fraction is not None:
            report.metric(f"{name}.overhead_fraction", self.overhead_fraction,
                          judgement=validity.judge(overhead_ns=self.overhead.per_iter_ns, p50_ns=self.p50_ns),
                          description="harness per-iteration overhead / P50")
        cpu = self.resources.cpu_s_per_inference
        report.metric(f"{name}.cpu_ms_per_inference", None if cpu is None else cpu * 1e3,
                      unit="ms", description="user+system CPU time of the process per inference")
        report.metric(f"{name}.peak_rss_mb", self.resources.peak_rss_bytes / 2**20, unit="MiB",
                      description="peak resident memory of the measuring process")


def report_interference(name: str, table: InterferenceTable, busy: str | None) -> None:
    """Store a run's per-block telemetry beside its samples (``<name>.interference.<column>``)
    and its busy share as the metric ``<name>.busy_share``, judged against the limit, with
    ``busy`` (:meth:`InterferenceTable.busy_note`) as its note."""
    for col in ("t_start_ns", "t_end_ns", "iter_start", "iter_end", "others_cpu_s", "self_cpu_s",
                "steal_s", "busy_share", "procs_running", "voluntary_ctxt", "involuntary_ctxt",
                "freq_mhz", "temp_c"):
        unit = "ns" if col.endswith("_ns") else "s" if col.endswith("_s") else ""
        report.samples(f"{name}.interference.{col}", table.columns[col], unit=unit, description=(
            f"interference telemetry per block ({col}); blocks before row {table.steady_from} are "
            "warmup; -1 or NaN = not available (edgetiming.host.interference)"))
    bs = table.busy_share
    report.metric(f"{name}.busy_share", bs, n=table.n_blocks,
                  judgement=validity.judge(interference=bs), note=busy or "",
                  description="share of the measured CPUs that other work held during the run "
                              "(other processes' and guests' CPU time / (wall time x CPUs))")


def _report_sentinel(run: ClosedLoopRun, name: str, ps: list[float], busy: str | None) -> None:
    assert run.sentinel is not None
    report.samples(f"{name}.sentinel", run.sentinel.latency_ns, unit="ns", description=(
        f"sentinel latency per call ({run.sentinel.description}), int64 ns, in order, "
        f"{SENTINEL_CALLS_PER_BLOCK} after each block"))
    report.samples(f"{name}.sentinel_block", run.sentinel.block, unit="", description=(
        "the interference-table row (block) each sentinel call followed"))
    r = run.sentinel_ratio()
    report.metric(f"{name}.per_sentinel", r.value, n=r.n_blocks,
                  ci=(r.lower, r.upper) if r.bounded else None, judgement=run.judgement(0.5),
                  note=busy or "", description=(
                      "model block median / sentinel block median: median over blocks with its "
                      f"{r.confidence:.0%} order-statistic interval over blocks"))
    for p in ps:
        q = run.normalised_quantile_ci(p)
        label = f"p{p * 100:g}"
        report.metric(f"{name}.{label}_per_sentinel", q.value, n=q.n,
                      ci=(q.lower, q.upper) if q.bounded else None, judgement=run.judgement(p),
                      note=busy or "", description=(
                          f"closed-loop {label} in sentinel units: each sample / the sentinel median of "
                          "its block (nearest rank, exact interval)"))


# --------------------------------------------------------------------------- driver
TARGET_BLOCKS = 40  # a run is cut into about this many blocks: telemetry and sentinel per block
ADAPTIVE_BLOCK_NS = 250_000_000  # block length when only a CI width says when to stop


def _drive(
    loop: Callable[..., None], a: Any, b: Any, *, warmup_iters: int, iters: int | None,
    duration_s: float | None, target_percentile: float, target_rel_ci_width: float | None,
    max_iters: int, confidence: float, sentinel: Callable[[], Any] | None = None, blocks: int = TARGET_BLOCKS,
) -> tuple[np.ndarray, str, ResourceUsage, InterferenceTable, SentinelSeries | None]:
    if iters is None and duration_s is None and target_rel_ci_width is None:
        raise ValueError("give iters, duration_s or target_rel_ci_width to say when to stop")
    capacity = iters if iters is not None else max_iters
    out = np.empty(warmup_iters + capacity, dtype=np.int64)
    perf = time.perf_counter_ns
    sent = BlockSentinel(sentinel) if sentinel is not None else None
    interference = InterferenceMeter()
    interference.mark(0)
    loop(out, 0, warmup_iters, a, b)
    n, end = warmup_iters, warmup_iters + capacity
    if warmup_iters:
        interference.mark(n)

    def boundary() -> None:
        """End of a block: the sentinel's calls for it, then the telemetry mark (never inside a block)."""
        if sent is not None:
            sent.after(len(interference.snaps) - 1)
        interference.mark(n)

    meter = ResourceMeter()
    with meter:
        if iters is not None and target_rel_ci_width is None and duration_s is None:
            block_iters = max(1, -(-capacity // max(blocks, 1)))
            while n < end:
                step = min(block_iters, end - n)
                loop(out, n, n + step, a, b)
                n += step
                boundary()
            reason = "count"
        else:
            min_n = stats.min_samples(target_percentile, confidence) if target_rel_ci_width else 0
            t_stop = perf() + int(duration_s * 1e9) if duration_s else None
            block_ns = duration_s * 1e9 / max(blocks, 1) if duration_s else ADAPTIVE_BLOCK_NS
            chunk, reason = 16, ""
            while not reason:
                step = min(chunk, end - n)
                if n > warmup_iters:
                    mean_ns = max(float(out[warmup_iters:n].mean()), 1.0)
                    step = max(1, min(step, int(block_ns / mean_ns)))  # one block at most
                    if t_stop is not None:  # size the chunk to ~the time left
                        step = max(1, min(step, int((t_stop - perf()) / mean_ns) + 1))
                loop(out, n, n + step, a, b)
                n += step
                boundary()
                chunk = min(max(chunk, (n - warmup_iters) // 4), 100_000)
                if target_rel_ci_width is not None and n - warmup_iters >= min_n:
                    q = stats.quantile_ci(out[warmup_iters:n], target_percentile, confidence)
                    width = (q.upper - q.lower) / q.value if q.value > 0 else float("inf")
                    if q.bounded and width <= target_rel_ci_width:
                        reason = "ci_width"
                if not reason and t_stop is not None and perf() >= t_stop:
                    reason = "max_duration" if target_rel_ci_width is not None else "duration"
                if not reason and n >= end:
                    reason = "count" if iters is not None else "max_iters"
    usage = meter.usage(n - warmup_iters)
    series = None
    if sent is not None:
        # the sentinel's CPU time is not the model's: take it out of the per-inference cost
        usage = replace(usage, user_s=max(usage.user_s - sent.cpu_ns / 1e9, 0.0))
        series = sent.series()
    table = interference.table(steady_from_iter=warmup_iters)
    return out[:n].copy() if n < out.size else out, reason, usage, table, series


def _measure(
    loop: Callable[..., None], a: Any, b: Any, *, call_path: str, settings: dict[str, Any],
    overhead: OverheadEstimate | bool, overhead_config: SessionConfig | None,
    cpu_affinity: list[int] | None, warmup_iters: int, target_percentile: float,
    confidence: float, target_rel_ci_width: float | None,
    sentinel: bool | Callable[[], Any] | None = None, **stop: Any,
) -> ClosedLoopRun:
    est = (_cached_overhead(call_path, overhead_config) if overhead is True
           else overhead or None)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    before = throttle_signals()
    with pinned_affinity(cpu_affinity) as aff, timing_gc_off() as gc_info:
        latency, reason, usage, table, series = _drive(
            loop, a, b, warmup_iters=warmup_iters, target_percentile=target_percentile,
            target_rel_ci_width=target_rel_ci_width, confidence=confidence,
            sentinel=Sentinel() if sentinel is True else (sentinel or None), **stop)
    after = throttle_signals()
    seen, reasons = throttle_seen(before, after)
    return ClosedLoopRun(
        latency, warmup_iters, reason, call_path, settings, est if isinstance(est, OverheadEstimate)
        else None, usage, {"seen": seen, "reasons": reasons, "before": before.to_dict(),
                           "after": after.to_dict()}, aff, gc_info, target_percentile,
        confidence, target_rel_ci_width, started, interference=table, sentinel=series)


def closed_loop(
    fn: Callable[[], Any],
    *,
    warmup_iters: int = 20,
    iters: int | None = None,
    duration_s: float | None = None,
    target_percentile: float = 0.99,
    target_rel_ci_width: float | None = None,
    max_iters: int = 200_000,
    confidence: float = 0.95,
    cpu_affinity: list[int] | None = None,
    overhead: OverheadEstimate | bool = True,
    sentinel: bool | Callable[[], Any] = False,
    blocks: int = TARGET_BLOCKS,
) -> ClosedLoopRun:
    """Time ``fn()`` back to back, one call at a time.

    Parameters
    ----------
    fn : zero-argument callable; its return value is discarded.
    warmup_iters : iterations timed first and labelled warmup.
    iters : stop after this many timed iterations (after warmup).
    duration_s : stop after this long; with ``target_rel_ci_width`` it is the time cap.
    target_percentile, target_rel_ci_width : stop once the CI of this percentile is narrower
        than this fraction of its value (``(upper - lower) / value``); capped by
        ``max_iters`` (and ``duration_s``).
    cpu_affinity : CPU ids to pin the process to while timing; None leaves it alone.
    overhead : True measures the no-op overhead of this call path (once per process),
        False skips it, or pass an :class:`OverheadEstimate`.
    sentinel : True times the fixed sentinel workload (:class:`~edgetiming.measure.sentinel.Sentinel`,
        ~1 ms) ``SENTINEL_CALLS_PER_BLOCK`` times after every block of the run, so the
        model can be read in sentinel units (``run.sentinel_ratio()``); a callable is
        timed instead of the default sentinel; False times none.

    The run is cut into about ``blocks`` blocks (default ``TARGET_BLOCKS``); at every block
    boundary (never inside a block) the interference telemetry of
    :mod:`edgetiming.host.interference` is read, and ``run.interference`` holds its
    per-block table. A short run that is itself one block of a larger design (an
    interleaved block of a comparison) passes ``blocks=1``: its calls stay back to back
    and the sentinel runs once, after them.

    Example
    -------
    >>> run = closed_loop(lambda: sum(range(100)), iters=200, overhead=False)
    >>> run.latency_ns.size, run.stop_reason
    (220, 'count')
    """
    return _measure(_loop_callable, fn, None, call_path="callable",
                    settings={"call_path": "callable", "callable": getattr(fn, "__qualname__",
                              repr(fn))}, overhead=overhead, overhead_config=None,
                    cpu_affinity=cpu_affinity, warmup_iters=warmup_iters,
                    target_percentile=target_percentile, confidence=confidence,
                    target_rel_ci_width=target_rel_ci_width, iters=iters,
                    duration_s=duration_s, max_iters=max_iters, sentinel=sentinel, blocks=blocks)


def session_loop(
    session: Any,
    feeds: dict[str, np.ndarray] | None = None,
    *,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    session_config: SessionConfig | None = None,
    io_binding: bool = False,
    isolate: bool = False,
    timeout_s: float = 600.0,
    warmup_iters: int = 20,
    iters: int | None = None,
    duration_s: float | None = None,
    target_percentile: float = 0.99,
    target_rel_ci_width: float | None = None,
    max_iters: int = 200_000,
    confidence: float = 0.95,
    cpu_affinity: list[int] | None = None,
    overhead: OverheadEstimate | bool = True,
    sentinel: bool | Callable[[], Any] = False,
) -> ClosedLoopRun:
    """Closed-loop timing of ``session.run(None, feeds)`` (or ``run_with_iobinding``).

    Parameters
    ----------
    session : an ``onnxruntime.InferenceSession``, or a model path / ``rapidocr:*`` alias
        opened with ``session_config``.
    feeds : input arrays; None builds seeded random inputs of ``input_shapes``.
    io_binding : bind inputs once and time ``run_with_iobinding`` (outputs stay in
        onnxruntime's memory).
    isolate : measure in a fresh ``python`` process that opens the model itself, so no
        other Python thread of this process (a notebook's) competes for the GIL. Needs a
        model path (or a session opened from one).
    Other parameters are those of :func:`closed_loop`; the overhead is measured on the
    same call path with the same session settings.

    Example
    -------
    >>> run = session_loop("rapidocr:cls", input_shapes={"x": (1, 3, 48, 192)},
    ...                    iters=300, isolate=True)  # doctest: +SKIP
    >>> run.isolated, run.settings["providers"]  # doctest: +SKIP
    (True, ['CPUExecutionProvider'])
    """
    loop_kw: dict[str, Any] = {
        "warmup_iters": warmup_iters, "iters": iters, "duration_s": duration_s,
        "target_percentile": target_percentile, "target_rel_ci_width": target_rel_ci_width,
        "max_iters": max_iters, "confidence": confidence, "cpu_affinity": cpu_affinity,
        "sentinel": sentinel}
    if isolate:
        return isolated_session_loop(session, feeds, input_shapes=input_shapes,
                                     session_config=session_config, io_binding=io_binding,
                                     overhead=overhead, timeout_s=timeout_s, **loop_kw)
    if isinstance(session, (str, Path, bytes)):
        session = open_session(session, session_config)
    if feeds is None:
        feeds = make_feeds(session, input_shapes)
    settings = session_settings(session)
    # The overhead session copies the measured session's threads and spinning.
    settings_cfg = session_config or config_of(session)
    if io_binding:
        bind = session.io_binding()
        for name, value in feeds.items():
            bind.bind_cpu_input(name, value)
        for out in session.get_outputs():
            bind.bind_output(out.name)
        loop, a, b, path = _loop_iob, session.run_with_iobinding, bind, "io_binding"
    else:
        loop, a, b, path = _loop_run, session.run, feeds, "session.run"
    settings = settings | {"call_path": path, "inputs": {k: [list(v.shape), str(v.dtype)]
                                                         for k, v in feeds.items()}}
    return _measure(loop, a, b, call_path=path, settings=settings, overhead=overhead,
                    overhead_config=settings_cfg, **loop_kw)


def isolated_session_loop(
    session: Any,
    feeds: dict[str, np.ndarray] | None = None,
    *,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    session_config: SessionConfig | None = None,
    timeout_s: float = 600.0,
    **loop_kwargs: Any,
) -> Any:
    """Run ``session_loop`` in a fresh ``python`` process; returns its ``ClosedLoopRun``.

    The child opens the model from its path with ``session_config`` (by default
    the settings of ``session``), measures, and pickles the run back; the run
    has ``isolated=True`` and the child's ``pid``. CPU time and peak memory are
    the child's. ``loop_kwargs`` are those of ``session_loop``.

    Example
    -------
    >>> run = isolated_session_loop("rapidocr:cls", input_shapes={"x": (1, 3, 48, 192)},
    ...                             iters=200)  # doctest: +SKIP
    >>> run.isolated  # doctest: +SKIP
    True
    """
    tmp_model: list[Path] = []
    try:
        model = model_source(session, tmp_model)
        if session_config is None and not isinstance(session, (str, Path, bytes)):
            session_config = config_of(session)
        spec = {"model": model, "feeds": feeds, "input_shapes": input_shapes,
                "config": session_config, "loop": loop_kwargs}
        run, _ = run_child("import sys; from edgetiming.measure.closedloop import _isolated_main;"
                            " _isolated_main(sys.argv[1], sys.argv[2])", spec, timeout_s)
    finally:
        for path in tmp_model:
            path.unlink(missing_ok=True)
    return run


def _isolated_main(spec_path: str, out_path: str) -> None:
    spec = pickle.loads(Path(spec_path).read_bytes())
    run = session_loop(spec["model"], spec["feeds"], input_shapes=spec["input_shapes"],
                       session_config=spec["config"], **spec["loop"])
    run.isolated = True
    Path(out_path).write_bytes(pickle.dumps(run))
