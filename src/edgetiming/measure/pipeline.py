"""Per-stage and end-to-end latency of a multi-stage pipeline.

An OCR frame goes through preprocess, detect, classify, recognize and
postprocess; the user waits for the sum. :func:`run_pipeline` feeds each
input through the stages in order (each stage gets the previous stage's
output), timing every stage and the whole item as int64 nanoseconds, so the
per-stage budget and its variance are visible, not just the total.

Timestamps are chained: one clock read ends a stage and starts the next, so
the stages add up to the end-to-end time exactly (``stage_ns.sum(axis=1) ==
e2e_ns``) and each stage carries about 100 ns of the harness's bookkeeping.
Each item's start is kept (``start_ns``, on ``perf_counter_ns``) so the items can
be placed in time.

As in a closed loop, the items after warmup are cut into about ``TARGET_BLOCKS``
blocks; at every block boundary (after a block's last item, never inside an item
nor between its stages) the fixed sentinel workload is timed
``SENTINEL_CALLS_PER_BLOCK`` times and the interference telemetry is read
(``run.interference``, ``run.sentinel``), so the end-to-end latency can be read
in sentinel units and drawn with what the machine did
(:meth:`PipelineRun.noise_panels`, for :func:`edgetiming.measure.noise.figure`).
The sentinel's time is in no item's latency.

Example
-------
>>> run = run_pipeline([("double", lambda x: 2 * x), ("inc", lambda x: x + 1)],
...                    range(100), warmup_items=5)
>>> run.stage_ns.shape, run.outputs[-1]
((100, 2), 199)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from edgetiming.host.interference import InterferenceMeter, InterferenceTable
from edgetiming.host.resources import ResourceMeter, ResourceUsage
from edgetiming.measure.closedloop import (
    RUN_SCHEMA_VERSION,
    TARGET_BLOCKS,
    report_interference,
    timing_gc_off,
)
from edgetiming.measure.sentinel import (
    SENTINEL_CALLS_PER_BLOCK,
    BlockSentinel,
    Sentinel,
    SentinelSeries,
    block_medians,
    block_ratio,
)
from edgetiming.results import report
from edgetiming.stats import quantiles as stats
from edgetiming.stats import validity

__all__ = ["PipelineRun", "run_pipeline"]

Stage = tuple[str, Callable[[Any], Any]]


@dataclass
class PipelineRun:
    """Per item and stage: ``stage_ns[item, stage]``; per item ``e2e_ns[item]`` (int64 ns).

    The first ``warmup_items`` rows are warmup: kept, labelled by ``is_warmup``,
    and left out of the summaries. ``start_ns[item]`` is when the item started
    (``perf_counter_ns``); ``interference`` holds one telemetry row per block (rows
    ``iter_start:iter_end`` index the items) and ``sentinel`` the sentinel calls timed
    after each block (None when measured with ``sentinel=False``).
    """

    stage_names: list[str]
    stage_ns: np.ndarray
    e2e_ns: np.ndarray
    warmup_items: int
    resources: ResourceUsage
    outputs: list[Any] = field(default_factory=list, repr=False)
    confidence: float = 0.95
    start_ns: np.ndarray | None = field(default=None, repr=False)
    interference: InterferenceTable | None = None
    sentinel: SentinelSeries | None = None

    @property
    def n_items(self) -> int:
        return int(self.e2e_ns.size)

    @property
    def is_warmup(self) -> np.ndarray:
        mask = np.zeros(self.n_items, dtype=bool)
        mask[: self.warmup_items] = True
        return mask

    def stage(self, name: str) -> np.ndarray:
        """Steady-state samples of one stage, int64 ns."""
        if name not in self.stage_names:
            raise KeyError(f"no stage {name!r}; stages are {self.stage_names}")
        return self.stage_ns[self.warmup_items:, self.stage_names.index(name)]

    @property
    def steady_e2e_ns(self) -> np.ndarray:
        return self.e2e_ns[self.warmup_items:]

    def summaries(self) -> dict[str, Any]:
        """``stats.summarize`` per stage and for ``"e2e"`` (steady state only)."""

        out = {name: stats.summarize(self.stage(name), confidence=self.confidence)
               for name in self.stage_names}
        out["e2e"] = stats.summarize(self.steady_e2e_ns, confidence=self.confidence)
        return out

    def budget(self) -> dict[str, float]:
        """Each stage's share of the summed stage medians (a waterfall's proportions)."""
        med = {n: float(np.median(self.stage(n))) for n in self.stage_names}
        total = sum(med.values()) or 1.0
        return {n: v / total for n, v in med.items()}

    @property
    def busy_share(self) -> float | None:
        """Share of the measured CPUs other work held during the steady blocks; None where not measured."""
        return None if self.interference is None else self.interference.busy_share

    def sentinel_ratio(self) -> Any:
        """Median over steady blocks of (end-to-end block median / sentinel block median), with
        its interval over blocks (:func:`~edgetiming.measure.sentinel.block_ratio`)."""
        if self.sentinel is None or self.interference is None:
            raise ValueError("this run has no sentinel: measure with sentinel=True")
        t = self.interference
        return block_ratio(block_medians(self.e2e_ns, t.iter_start, t.iter_end, self.sentinel,
                                         steady_from=t.steady_from), self.confidence)

    def noise_panels(self, label: str = "frame end-to-end", panels: Any = None) -> Any:
        """The steady blocks as a :class:`edgetiming.measure.noise.Panels` (new, or ``panels``
        added to): every item's end-to-end latency at its start time, each block's median in
        sentinel units (at the block's end) and the block's strip row; for ``noise.figure``."""
        from edgetiming.measure import noise  # lazily: noise pulls in the figures

        t = self.interference
        if t is None or self.start_ns is None:
            raise ValueError("this run has no block telemetry to draw")
        out = noise.Panels(point="frame") if panels is None else panels
        sent = self.sentinel.medians_ns(t.n_blocks) if self.sentinel is not None else np.full(t.n_blocks, np.nan)
        for b in range(t.steady_from, t.n_blocks):
            a, e = max(int(t.iter_start[b]), self.warmup_items), int(t.iter_end[b])
            if e > a:
                x = self.e2e_ns[a:e]
                out.calls(label, self.start_ns[a:e].astype(np.float64), x)
                out.ratio(label, float(t.t_end_ns[b]), float(np.median(x)) / sent[b])
                out.rows(t, range(b, b + 1))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "pipeline", "schema_version": RUN_SCHEMA_VERSION, "stages": self.stage_names,
            "n_items": self.n_items,
            "warmup_items": self.warmup_items,
            "summaries": {k: v.to_dict() for k, v in self.summaries().items()},
            "budget": self.budget(),
            "resources": self.resources.to_dict(),
            "interference": None if self.interference is None else self.interference.summary(),
            "sentinel": None if self.sentinel is None or not self.sentinel.latency_ns.size else {
                "description": self.sentinel.description, "calls": int(self.sentinel.latency_ns.size),
                "e2e_ratio": self.sentinel_ratio().to_dict()},
        }

    def report(self, name: str) -> None:
        """Raw per-stage and e2e samples, each stage's P50/P99 and budget share; the interference
        telemetry, and the end-to-end latency in sentinel units when a sentinel was timed."""

        report.samples(f"{name}.e2e", self.e2e_ns, description=(
            f"end-to-end latency per item, int64 ns; the first {self.warmup_items} are warmup"))
        busy = None if self.interference is None else self.interference.busy_note(validity.INTERFERENCE_LIMIT)
        if self.interference is not None:
            report_interference(name, self.interference, busy)
        if self.sentinel is not None and self.sentinel.latency_ns.size:
            report.samples(f"{name}.sentinel", self.sentinel.latency_ns, description=(
                f"sentinel latency per call ({self.sentinel.description}), int64 ns, in order, "
                f"{SENTINEL_CALLS_PER_BLOCK} after each block; {name}.sentinel_block gives the block"))
            report.samples(f"{name}.sentinel_block", self.sentinel.block, unit="", description=(
                "the interference-table row (block) each sentinel call followed"))
            r = self.sentinel_ratio()
            report.metric(f"{name}.e2e.per_sentinel", r.value, n=r.n_blocks, ci=(r.lower, r.upper) if r.bounded
                          else None, note=busy or "", judgement=validity.judge(
                              n=int(self.steady_e2e_ns.size), percentiles=(0.5,), confidence=self.confidence,
                              interference=self.busy_share), description=(
                              "end-to-end block median / sentinel block median: median over blocks with its "
                              f"{r.confidence:.0%} order-statistic interval over blocks"))
        share = self.budget()
        for i, stage in enumerate(self.stage_names):
            report.samples(f"{name}.{stage}", self.stage_ns[:, i], description=(
                f"stage {stage!r} latency per item, int64 ns; the first {self.warmup_items}"
                " are warmup"))
            report.metric(f"{name}.{stage}.share", share[stage],
                          description=f"share of stage {stage!r} in the sum of stage medians")
        for label, values in [(s, self.stage(s)) for s in self.stage_names] + [
                ("e2e", self.steady_e2e_ns)]:
            for p in (0.5, 0.99):
                q = stats.quantile_ci(values, p, self.confidence)
                report.metric(f"{name}.{label}.p{p * 100:g}_ms", q.value / 1e6, unit="ms",
                              n=q.n, ci=(q.lower / 1e6, q.upper / 1e6) if q.bounded else None,
                              judgement=validity.judge(n=q.n, percentiles=(p,), confidence=self.confidence,
                                                       interference=self.busy_share),
                              note=busy or "", description=f"{label} latency P{p * 100:g}")


def run_pipeline(
    stages: list[Stage],
    inputs: Iterable[Any],
    *,
    warmup_items: int = 0,
    repeat: int = 1,
    keep_outputs: bool = True,
    confidence: float = 0.95,
    sentinel: bool = True,
) -> PipelineRun:
    """Run every input through ``stages`` in order, timing each stage and the whole item.

    Parameters
    ----------
    stages : ``[(name, fn), ...]``; ``fn`` takes the previous stage's output (the input
        item for the first stage) and returns its own output.
    inputs : the items; they are materialised into a list first.
    warmup_items : the first this many timed items are labelled warmup.
    repeat : pass over ``inputs`` this many times (each pass adds rows).
    keep_outputs : keep the last stage's output per item in ``outputs``.
    sentinel : time the fixed sentinel workload (:class:`~edgetiming.measure.sentinel.Sentinel`)
        ``SENTINEL_CALLS_PER_BLOCK`` times after each block of items (``run.sentinel``); False
        times none. The interference telemetry is read at every block boundary either way.

    Example
    -------
    >>> run = run_pipeline([("pre", str), ("len", len)], [1, 22, 333])
    >>> run.outputs, run.stage_names
    ([1, 2, 3], ['pre', 'len'])
    """
    if not stages:
        raise ValueError("stages is empty: give at least one (name, fn) pair")
    names = [name for name, _ in stages]
    if len(set(names)) != len(names):
        raise ValueError(f"stage names must be unique, got {names}")
    items = list(inputs) * repeat
    fns = [fn for _, fn in stages]
    n, k = len(items), len(fns)
    warm = min(warmup_items, n)
    stage_ns = np.empty((n, k), dtype=np.int64)
    e2e_ns = np.empty(n, dtype=np.int64)
    start_ns = np.empty(n, dtype=np.int64)
    outputs: list[Any] = []
    perf = time.perf_counter_ns
    sent = BlockSentinel(Sentinel()) if sentinel else None
    # the warmup items are one block (no sentinel after it), the others about TARGET_BLOCKS blocks
    step = max(1, -(-(n - warm) // TARGET_BLOCKS))
    ends = ([warm] if warm else []) + list(range(warm + step, n, step)) + ([n] if n > warm else [])
    interference = InterferenceMeter()
    meter = ResourceMeter()
    with timing_gc_off(), meter:
        interference.mark(0)
        lo = 0
        for end in ends:
            for i in range(lo, end):
                row = stage_ns[i]
                x = items[i]
                start = t = perf()
                for j in range(k):
                    x = fns[j](x)
                    now = perf()
                    row[j] = now - t
                    t = now
                e2e_ns[i] = t - start
                start_ns[i] = start
                if keep_outputs:
                    outputs.append(x)
            lo = end
            if sent is not None and end > warm:  # after the block's last item, never inside one
                sent.after(len(interference.snaps) - 1)
            interference.mark(end)
    usage = meter.usage(max(n - warm, 0))
    series = None
    if sent is not None:
        # the sentinel's CPU time is not the pipeline's: take it out of the per-item cost
        usage = replace(usage, user_s=max(usage.user_s - sent.cpu_ns / 1e9, 0.0))
        series = sent.series()
    return PipelineRun(names, stage_ns, e2e_ns, warm, usage, outputs, confidence, start_ns,
                       interference.table(steady_from_iter=warm), series)
