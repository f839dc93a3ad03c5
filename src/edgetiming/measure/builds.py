"""Release comparisons: each build timed in its own fresh processes, judged over processes.

A release gate compares two *separate* measurements (yesterday's build, today's
build), so the unit of its evidence is the process: one process's samples are
not independent of each other, and a new process draws from a shifted
distribution (memory layout, other tenants, another time). :func:`run_builds`
times every build in ``runs`` fresh processes, the processes of all builds in a
randomised, balanced order (:func:`edgetiming.stats.repeated.balanced_order`)
so a slow period of the machine hits every build alike. :func:`regression_verdict`
then compares the per-process estimates of two builds with
:func:`edgetiming.stats.repeated.regression` (Welch's t on their logs), so two
identical builds are flagged at about the nominal 5%, not whenever two one-run
intervals happen to miss each other.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> before = 1.2 * np.exp(rng.normal(0, 0.05, 5))
>>> regression_verdict(before, 1.5 * before * np.exp(rng.normal(0, 0.05, 5))).verdict
'slower'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgetiming.host.interference import InterferenceTable
from edgetiming.measure.build_child import time_build
from edgetiming.measure.isolation import run_child
from edgetiming.measure.session import SessionConfig
from edgetiming.stats.quantiles import quantile
from edgetiming.stats.repeated import (
    NO_DIFFERENCE,
    RatioEstimate,
    attribute_step,
    balanced_order,
    regression,
)

if TYPE_CHECKING:
    from edgetiming.measure.noise import Panels

__all__ = ["Build", "BuildRuns", "RegressionVerdict", "regression_verdict", "run_builds"]


@dataclass(frozen=True)
class Build:
    """One build under test: a model and its session settings.

    ``slowdown`` plants a known regression: after each call the process sleeps
    ``slowdown`` x that call's duration (a sleep, not a busy wait, so it neither
    loses its time slice nor takes the CPU from anything else).
    """

    name: str
    model: str | Path
    config: SessionConfig | None = None
    slowdown: float = 0.0


@dataclass(frozen=True)
class RegressionVerdict:
    """after/before from per-process estimates, and what a release gate says about it."""

    ratio: RatioEstimate

    @property
    def verdict(self) -> str:
        """``"slower"``, ``"faster"`` or ``"no detectable difference"`` (the interval contains 1)."""
        d = self.ratio.direction
        return NO_DIFFERENCE if d == NO_DIFFERENCE else ("slower" if d == "higher" else "faster")

    @property
    def flagged(self) -> bool:
        """Whether the gate would block the release: the whole interval is above 1."""
        return self.verdict == "slower"

    def sentence(self, quantity: str, runner: str | None = None) -> str:
        return self.ratio.sentence(quantity, runner=runner).replace(" rounds)", " processes per build)")


def regression_verdict(before: Sequence[float], after: Sequence[float], confidence: float = 0.95, *,
                       label_before: str = "before", label_after: str = "after") -> RegressionVerdict:
    """The release-gate verdict on two builds from their per-process estimates (R >= 2 each).

    The interval is :func:`edgetiming.stats.repeated.regression`'s (Welch t on the
    log estimates); the per-process ratios are not paired, so ``per_round`` holds
    ``after_i / geometric mean(before)`` only to show the spread.
    """
    r = regression(before, after, confidence)
    b = np.asarray(before, dtype=float)
    spread = tuple(float(x) for x in np.asarray(after, dtype=float) / np.exp(np.mean(np.log(b))))
    return RegressionVerdict(dataclasses.replace(r, per_round=spread, label_a=label_before, label_b=label_after))


@dataclass
class BuildRuns:
    """Latency samples (int64 ns) of every build, one array per process, and the process order.

    Per process also: the sentinel's calls (``sentinel``) with the block each followed
    (``sentinel_block``), and the interference table (``interference``) whose block ``b``
    covers the calls ``iter_start[b]:iter_end[b]`` of that process's samples, then its
    sentinel calls (:func:`edgetiming.measure.build_child.time_build`).
    """

    builds: list[str]
    samples: dict[str, list[np.ndarray]]
    order: list[str]
    pids: dict[str, list[int]]
    sentinel: dict[str, list[np.ndarray]] = dataclasses.field(default_factory=dict)
    sentinel_block: dict[str, list[np.ndarray]] = dataclasses.field(default_factory=dict)
    interference: dict[str, list[InterferenceTable]] = dataclasses.field(default_factory=dict)

    def per_run(self, build: str, p: float) -> np.ndarray:
        """The p-quantile of each of ``build``'s processes, in ms."""
        return np.array([quantile(s, p) for s in self.samples[build]], dtype=float) / 1e6

    def sentinel_ms(self, build: str) -> np.ndarray:
        """The sentinel's median in each of ``build``'s processes, in ms (the machine's speed then)."""
        runs = self.sentinel.get(build) or []
        if not runs or any(s.size == 0 for s in runs):
            raise ValueError(f"build {build!r} was timed without a sentinel (run_builds(..., sentinel=True))")
        return np.array([np.median(s) for s in runs], dtype=float) / 1e6

    def whose(self, before: str, after: str, p: float = 0.5) -> tuple[str, str]:
        """Whose the step from ``before`` to ``after`` is: ``"model"``, ``"machine"`` or ``"unclear"``
        (:func:`edgetiming.stats.repeated.attribute_step`), with the reason."""
        return attribute_step(self.per_run(before, p), self.sentinel_ms(before),
                              self.per_run(after, p), self.sentinel_ms(after))

    def verdict(self, before: str, after: str, p: float = 0.5, confidence: float = 0.95) -> RegressionVerdict:
        return regression_verdict(self.per_run(before, p), self.per_run(after, p), confidence,
                                  label_before=before, label_after=after)

    def busy_share(self, build: str | None = None) -> float | None:
        """Share of the measured CPUs other work held while ``build``'s processes (default: all
        processes) timed their calls: other work's CPU time / (wall time x CPUs), summed over
        their blocks, in [0, 1]; None where it was not measured (no ``/proc``)."""
        tables = [t for n in ([build] if build else self.builds) for t in self.interference.get(n, [])]
        tables = [t for t in tables if t.n_blocks and t.available.get("proc_stat")]
        if not tables:
            return None
        others = sum(float(np.nansum(t.others_cpu_s)) for t in tables)
        cap = sum(float((t.t_end_ns - t.t_start_ns).sum()) / 1e9 * max(len(t.cpus), 1) for t in tables)
        return float(min(max(others / cap, 0.0), 1.0)) if cap > 0 else None

    def noise_panels(self) -> Panels:
        """What :func:`edgetiming.measure.noise.figure` draws: every process in turn, one label
        per build; per block its calls, its median / the median of the sentinel calls after it,
        and the share of the CPUs other work held (its strip row)."""
        from edgetiming.measure import noise  # matplotlib only when drawn

        out, seen = noise.Panels(), {n: 0 for n in self.builds}
        for name in self.order:
            k = seen[name]
            seen[name] += 1
            t = self.interference[name][k]
            lat = self.samples[name][k]
            sent = self.sentinel.get(name, [])
            blocks = self.sentinel_block.get(name, [])
            for b in range(t.n_blocks):
                s = sent[k][blocks[k] == b] if k < len(sent) and k < len(blocks) else np.empty(0)
                out.block(name, lat[t.iter_start[b]:t.iter_end[b]], t, b,
                          float(np.median(s)) if s.size else float("nan"))
        out.lat = {n: out.lat[n] for n in self.builds if n in out.lat}  # the builds' order, not the run's
        out.rat = {n: out.rat[n] for n in self.builds if n in out.rat}
        return out


_CHILD = "import sys; from edgetiming.measure.build_child import main; main(sys.argv[1], sys.argv[2])"


def run_builds(builds: Sequence[Build], *, input_shapes: dict[str, tuple[int, ...]] | None = None, runs: int = 5,
               iters: int = 300, warmup_iters: int = 30, seed: int = 0, fresh_process: bool = True,
               timeout_s: float = 300.0, sentinel: bool = True) -> BuildRuns:
    """Time each build in ``runs`` fresh processes of ``iters`` calls, in randomised balanced order.

    Every process uses the same seeded inputs. ``fresh_process=False`` times them in
    this process instead (tests only: the runs are then not independent). ``sentinel`` times
    the fixed sentinel workload 3 times after every tenth of each process's calls, so a
    slower machine can be told from a slower build (:meth:`BuildRuns.whose`). Every process
    also records interference telemetry per tenth of its calls (:meth:`BuildRuns.busy_share`,
    :meth:`BuildRuns.noise_panels`).
    """
    names = [b.name for b in builds]
    if len(set(names)) != len(names) or runs < 1 or iters < 1:
        raise ValueError(f"run_builds needs unique build names and runs, iters >= 1 (got {names}, {runs}, {iters})")
    by_name = {b.name: b for b in builds}
    order = balanced_order(names, runs, np.random.default_rng(seed))
    samples: dict[str, list[np.ndarray]] = {n: [] for n in names}
    pids: dict[str, list[int]] = {n: [] for n in names}
    sent: dict[str, list[np.ndarray]] = {n: [] for n in names}
    sent_block: dict[str, list[np.ndarray]] = {n: [] for n in names}
    tables: dict[str, list[InterferenceTable]] = {n: [] for n in names}
    for name in order:
        spec = {"build": by_name[name], "input_shapes": input_shapes, "seed": seed, "iters": iters,
                "warmup_iters": warmup_iters, "sentinel_calls": 3 if sentinel else 0}
        got = run_child(_CHILD, spec, timeout_s)[0] if fresh_process else time_build(spec)
        samples[name].append(got["latency_ns"])
        pids[name].append(got["pid"])
        sent[name].append(got["sentinel_ns"])
        sent_block[name].append(got["sentinel_block"])
        tables[name].append(got["interference"])
    return BuildRuns(names, samples, order, pids, sent if sentinel else {}, sent_block if sentinel else {}, tables)
