"""Per-stage and end-to-end latency of a multi-stage pipeline.

An OCR frame goes through preprocess, detect, classify, recognize and
postprocess; the user waits for the sum. :func:`run_pipeline` feeds each
input through the stages in order (each stage gets the previous stage's
output), timing every stage and the whole item as int64 nanoseconds, so the
per-stage budget and its variance are visible, not just the total.

Timestamps are chained: one clock read ends a stage and starts the next, so
the stages add up to the end-to-end time exactly (``stage_ns.sum(axis=1) ==
e2e_ns``) and each stage carries about 100 ns of the harness's bookkeeping.

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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgetiming.host.resources import ResourceMeter, ResourceUsage
from edgetiming.measure.closedloop import RUN_SCHEMA_VERSION, timing_gc_off
from edgetiming.results import report
from edgetiming.stats import quantiles as stats
from edgetiming.stats import validity

__all__ = ["PipelineRun", "run_pipeline"]

Stage = tuple[str, Callable[[Any], Any]]


@dataclass
class PipelineRun:
    """Per item and stage: ``stage_ns[item, stage]``; per item ``e2e_ns[item]`` (int64 ns).

    The first ``warmup_items`` rows are warmup: kept, labelled by ``is_warmup``,
    and left out of the summaries.
    """

    stage_names: list[str]
    stage_ns: np.ndarray
    e2e_ns: np.ndarray
    warmup_items: int
    resources: ResourceUsage
    outputs: list[Any] = field(default_factory=list, repr=False)
    confidence: float = 0.95

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "pipeline", "schema_version": RUN_SCHEMA_VERSION, "stages": self.stage_names,
            "n_items": self.n_items,
            "warmup_items": self.warmup_items,
            "summaries": {k: v.to_dict() for k, v in self.summaries().items()},
            "budget": self.budget(),
            "resources": self.resources.to_dict(),
        }

    def report(self, name: str) -> None:
        """Raw per-stage and e2e samples, and each stage's P50/P99 and budget share."""

        report.samples(f"{name}.e2e", self.e2e_ns, description=(
            f"end-to-end latency per item, int64 ns; the first {self.warmup_items} are warmup"))
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
                              judgement=validity.judge(n=q.n, percentiles=(p,), confidence=self.confidence), description=f"{label} latency P{p * 100:g}")


def run_pipeline(
    stages: list[Stage],
    inputs: Iterable[Any],
    *,
    warmup_items: int = 0,
    repeat: int = 1,
    keep_outputs: bool = True,
    confidence: float = 0.95,
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
    stage_ns = np.empty((n, k), dtype=np.int64)
    e2e_ns = np.empty(n, dtype=np.int64)
    outputs: list[Any] = []
    perf = time.perf_counter_ns
    meter = ResourceMeter()
    with timing_gc_off(), meter:
        for i, item in enumerate(items):
            row = stage_ns[i]
            x = item
            start = t = perf()
            for j in range(k):
                x = fns[j](x)
                now = perf()
                row[j] = now - t
                t = now
            e2e_ns[i] = t - start
            if keep_outputs:
                outputs.append(x)
    return PipelineRun(names, stage_ns, e2e_ns, min(warmup_items, n),
                       meter.usage(max(n - warmup_items, 0)), outputs, confidence)
