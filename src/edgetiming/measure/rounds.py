"""Comparisons in rounds: every configuration, interleaved, in several fresh processes.

The unit of every comparison is the *round*: one fresh ``python`` process that
opens every arm's session, warms each up, then times them in blocks in a
randomised, balanced order (:func:`edgetiming.stats.repeated.balanced_order`)
with identical inputs. A slow period of the machine then hits every arm alike,
and the ratio of two arms is computed within each round and its interval over
rounds (:func:`edgetiming.stats.repeated.paired_ratio`).

An **A/A arm** (``aa=True``) measures the baseline twice, as two arms in the
same rounds: its ratio is the noise floor of the very run a comparison comes
from, and an effect inside it is reported as "no detectable difference".

Every raw sample is kept with its round and block, so the split can be redone
from the bundle. After every block the round times the fixed sentinel workload
(:class:`~edgetiming.measure.sentinel.Sentinel`) and reads the interference
telemetry (:mod:`edgetiming.host.interference`): each arm is also reported in
sentinel units (each sample / the sentinel median of its block), and a round in
which other work held more than ``INTERFERENCE_LIMIT`` of the CPUs makes the
arms' estimates *unstable*.

Example
-------
>>> run = run_rounds([Arm("1 thread", "rapidocr:cls", SessionConfig(intra_op_num_threads=1)),
...                   Arm("2 threads", "rapidocr:cls", SessionConfig(intra_op_num_threads=2))],
...                  input_shapes={"x": (1, 3, 48, 192)}, rounds=5)  # doctest: +SKIP
>>> run.ratio("1 thread", "2 threads").direction  # doctest: +SKIP
'lower'
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgetiming.host.interference import InterferenceMeter, InterferenceTable
from edgetiming.measure.closedloop import pinned_affinity, timing_gc_off
from edgetiming.measure.isolation import run_child
from edgetiming.measure.sentinel import SENTINEL_CALLS_PER_BLOCK, Sentinel, SentinelSeries
from edgetiming.measure.session import SessionConfig, make_feeds, open_session, session_settings
from edgetiming.results import report
from edgetiming.stats import validity
from edgetiming.stats.quantiles import quantile
from edgetiming.stats.repeated import (
    RatioEstimate,
    RepeatedEstimate,
    balanced_order,
    paired_ratio,
    repeated_quantile,
)

__all__ = ["AA_SUFFIX", "Arm", "RoundsRun", "arm_key", "interleaved_rounds", "run_rounds"]

AA_SUFFIX = " (A/A)"


@dataclass(frozen=True)
class Arm:
    """One configuration under test: a model (path, ``rapidocr:*`` alias) and its session settings."""

    name: str
    model: str | Path
    config: SessionConfig | None = None
    cpu_affinity: tuple[int, ...] | None = None


@dataclass
class RoundData:
    """What one round (one process) measured: per-arm samples with their block, and the order."""

    pid: int
    order: list[str]
    latency_ns: dict[str, np.ndarray]
    block_of: dict[str, np.ndarray]
    cpu_ns: dict[str, int]
    iters: dict[str, int]
    settings: dict[str, dict[str, Any]]
    warmup_ns: dict[str, np.ndarray]
    #: interference telemetry, one row per block (row b = block b and the sentinel calls after it)
    interference: InterferenceTable | None = None
    #: sentinel latencies and the block (row of ``interference``) each followed
    sentinel: SentinelSeries | None = None

    def sentinel_medians_ns(self) -> np.ndarray:
        """Median sentinel latency after each block (NaN where none ran)."""
        if self.sentinel is None:
            return np.full(len(self.order), np.nan)
        return self.sentinel.medians_ns(len(self.order))


@dataclass
class RoundsRun:
    """Rounds of interleaved arms; estimates, ratios and the A/A noise floor over rounds."""

    arms: list[str]
    rounds: list[RoundData]
    baseline: str
    confidence: float = 0.95
    block_iters: int = 0
    blocks: int = 0
    fresh_process: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def aa_arm(self) -> str | None:
        name = self.baseline + AA_SUFFIX
        return name if name in self.arms else None

    def samples(self, arm: str) -> list[np.ndarray]:
        """Steady samples of ``arm``, one array per round (int64 ns)."""
        return [r.latency_ns[arm] for r in self.rounds]

    def busy_share(self) -> float | None:
        """The largest share of the measured CPUs that other work held in any round (None: not measured)."""
        shares = [r.interference.busy_share for r in self.rounds if r.interference is not None]
        shares = [x for x in shares if x is not None]
        return max(shares) if shares else None

    @property
    def has_sentinel(self) -> bool:
        return bool(self.rounds) and all(r.sentinel is not None and r.sentinel.latency_ns.size for r in self.rounds)

    def sentinel_ms(self) -> list[float]:
        """The sentinel's median latency in each round, in ms: the machine's speed, round by round."""
        return [float(np.nanmedian(r.sentinel_medians_ns())) / 1e6 for r in self.rounds]

    def per_sentinel(self, arm: str) -> list[np.ndarray]:
        """Steady samples of ``arm`` in sentinel units: each / the sentinel median after its block."""
        if not self.has_sentinel:
            raise ValueError("these rounds ran without a sentinel")
        out = []
        for r in self.rounds:
            med = r.sentinel_medians_ns()
            ref = med[r.block_of[arm]]
            out.append(r.latency_ns[arm][np.isfinite(ref)] / ref[np.isfinite(ref)])
        return out

    def _evidence(self) -> dict[str, Any]:
        return {"interleaved": None if len(self.arms) < 2 else True, "interference": self.busy_share(),
                "contiguous": len(self.arms) < 2}  # an arm's blocks were interleaved with the others' blocks

    def estimate(self, arm: str, p: float) -> RepeatedEstimate:
        """The p-quantile of ``arm`` over rounds, in ms, with both intervals and its state."""
        est = repeated_quantile(self.samples(arm), p, self.confidence, **self._evidence())
        return est.scaled(1e-6)

    def estimate_per_sentinel(self, arm: str, p: float) -> RepeatedEstimate:
        """The p-quantile of ``arm`` in sentinel units over rounds (unitless), intervals and state."""
        return repeated_quantile(self.per_sentinel(arm), p, self.confidence, **self._evidence())

    def per_round(self, arm: str, p: float) -> np.ndarray:
        return np.array([quantile(s, p) for s in self.samples(arm)], dtype=float) / 1e6

    def ratio(self, a: str, b: str, p: float = 0.5) -> RatioEstimate:
        """b/a of the p-quantile, per round, with its interval over rounds."""
        return paired_ratio(self.per_round(a, p), self.per_round(b, p), self.confidence, label_a=a, label_b=b)

    def aa(self, p: float = 0.5) -> RatioEstimate | None:
        """The A/A ratio (baseline measured twice in the same rounds), or None without an A/A arm."""
        return None if self.aa_arm is None else self.ratio(self.baseline, self.aa_arm, p)

    def cpu_ms_per_inference(self, arm: str) -> float:
        cpu = sum(r.cpu_ns[arm] for r in self.rounds)
        n = sum(r.iters[arm] for r in self.rounds)
        return cpu / max(n, 1) / 1e6

    def beyond_noise(self, ratio: RatioEstimate, p: float = 0.5) -> bool:
        """Whether ``ratio``'s interval excludes 1 and lies outside the A/A ratio's interval."""
        if ratio.direction == "no detectable difference":
            return False
        aa = self.aa(p)
        if aa is None or not aa.interval.known:
            return True
        lo, hi = ratio.interval.lower, ratio.interval.upper
        return hi < aa.interval.lower or lo > aa.interval.upper  # type: ignore[operator]

    def report(self, name: str, *, percentiles: tuple[float, ...] = (0.5, 0.99), slug: Any = None,
               ratios: bool = True) -> None:
        """Raw samples (with round and block), per-arm percentiles with both intervals, ratios to the baseline.

        ``slug`` maps an arm name to the metric key used for it (default: lower-case, spaces to '-').
        ``ratios=False`` leaves the ratio metrics to the caller (a recipe that reports them with
        its verdict against the A/A arm, so the page cannot show two readings of one ratio).
        """
        key = slug or arm_key
        sentinel_ms = self.sentinel_ms() if self.has_sentinel else None  # per round, for every arm's estimates
        for arm in self.arms:
            k = key(arm)
            report.samples(f"{name}.{k}", np.concatenate(self.samples(arm)), unit="ns", description=(
                f"{arm}: steady latency per iteration, int64 ns, rounds concatenated in order"))
            report.samples(f"{name}.{k}.round", np.concatenate(
                [np.full(s.size, i, dtype=np.int64) for i, s in enumerate(self.samples(arm))]), unit="index",
                description=f"{arm}: the round (fresh process) of each sample")
            report.samples(f"{name}.{k}.block", np.concatenate([r.block_of[arm] for r in self.rounds]),
                           unit="index", description=f"{arm}: the block of each sample within its round")
            for p in percentiles:
                report.estimate(f"{name}.{k}.p{p * 100:g}_ms", self.estimate(arm, p), per_run_sentinel=sentinel_ms,
                                description=f"{arm}: P{p * 100:g} pooled over {len(self.rounds)} rounds; interval: "
                                            "the wider of the within-run exact interval and the between-round one")
            report.metric(f"{name}.{k}.cpu_ms_per_inference", self.cpu_ms_per_inference(arm), unit="ms",
                          description=f"{arm}: CPU time of the process per inference (user+system, all threads)")
            if self.has_sentinel:
                for p in percentiles:
                    report.estimate(f"{name}.{k}.p{p * 100:g}_per_sentinel", self.estimate_per_sentinel(arm, p),
                                    unit="", description=(
                                        f"{arm}: P{p * 100:g} in sentinel units (each sample / the median of the "
                                        "sentinel calls after its block), pooled over rounds"),
                                    per_run_sentinel=sentinel_ms)
        self._report_machine(name)
        for arm in self.arms if ratios else ():
            if arm == self.baseline:
                continue
            for p in percentiles:
                r = self.ratio(self.baseline, arm, p)
                iv = r.interval
                report.metric(
                    f"{name}.{key(arm)}.p{p * 100:g}_ratio", r.ratio, n=r.rounds, runs=r.rounds,
                    per_run=list(r.per_round),
                    ci=(iv.lower, iv.upper) if iv.known else None,
                    judgement=validity.judge(unstable_because=() if iv.known else
                                             ["fewer than 2 rounds: no interval over rounds"]),
                    note=r.direction,
                    description=f"P{p * 100:g} of {arm} / {self.baseline}, per round; interval over rounds "
                                "(Student t on log ratios)")


    def _report_machine(self, name: str) -> None:
        """The sentinel's samples and the interference per round: what the machine did meanwhile."""
        if self.has_sentinel:
            report.samples(f"{name}.sentinel", np.concatenate([r.sentinel.latency_ns for r in self.rounds]), unit="ns",
                           description="sentinel latency per call after every block, int64 ns, rounds in order")
            report.samples(f"{name}.sentinel.round", np.concatenate(
                [np.full(r.sentinel.latency_ns.size, i, dtype=np.int64) for i, r in enumerate(self.rounds)]),
                unit="index", description="the round of each sentinel call")
            report.samples(f"{name}.sentinel.block", np.concatenate([r.sentinel.block for r in self.rounds]),
                           unit="index", description="the block (within its round) each sentinel call followed")
            sent = self.sentinel_ms()
            report.metric(f"{name}.sentinel_ms", float(np.median(sent)), unit="ms", runs=len(sent), per_run=sent,
                          description="median sentinel latency per round (a fixed unit of CPU work: the "
                                      "machine's speed); median over rounds")
        tables = [r.interference for r in self.rounds if r.interference is not None]
        if tables:
            bs = self.busy_share()
            report.samples(f"{name}.busy_share", np.concatenate([t.columns["busy_share"] for t in tables]),
                           unit="fraction", description="share of the measured CPUs other work held, per block, "
                                                        "rounds in order (NaN: not available)")
            report.metric(f"{name}.busy_share_max", bs, judgement=validity.judge(interference=bs), description=(
                "largest share of the measured CPUs other work held during a round "
                f"(over {validity.INTERFERENCE_LIMIT:.0%} makes every estimate of these rounds unstable)"))


def arm_key(name: str) -> str:
    """The metric key of an arm name: lower case, each run of other characters one '-' ("1 thread (A/A)" -> "1-thread-a-a")."""
    return re.sub(r"[^a-z0-9._]+", "-", name.lower()).strip("-")


# --------------------------------------------------------------------------- the round
def _measure_round(spec: dict[str, Any]) -> RoundData:
    arms: list[Arm] = spec["arms"]
    rng = np.random.default_rng(spec["seed"])
    sessions = {a.name: open_session(a.model, a.config) for a in arms}
    feeds = {a.name: make_feeds(sessions[a.name], spec["input_shapes"], seed=spec["feeds_seed"]) for a in arms}
    names = [a.name for a in arms]
    affinity = {a.name: (list(a.cpu_affinity) if a.cpu_affinity else None) for a in arms}
    block_iters, blocks, warmup = spec["block_iters"], spec["blocks"], spec["warmup_iters"]
    order = balanced_order(names, blocks, rng)
    lat = {n: np.empty(blocks * block_iters, dtype=np.int64) for n in names}
    blk = {n: np.empty(blocks * block_iters, dtype=np.int64) for n in names}
    filled = dict.fromkeys(names, 0)
    cpu = dict.fromkeys(names, 0)
    warm: dict[str, np.ndarray] = {}
    perf = time.perf_counter_ns
    sentinel = Sentinel() if spec.get("sentinel", True) else None
    sent_ns: list[int] = []
    sent_blk: list[int] = []
    meter = InterferenceMeter()
    with timing_gc_off():
        for _ in range(3 if sentinel else 0):
            sentinel()  # type: ignore[misc]
        for n in names:
            run, f = sessions[n].run, feeds[n]
            w = np.empty(warmup, dtype=np.int64)
            with pinned_affinity(affinity[n]):
                for i in range(warmup):
                    t0 = perf()
                    run(None, f)
                    w[i] = perf() - t0
            warm[n] = w
        meter.mark(0)
        for b, n in enumerate(order):
            run, f, out = sessions[n].run, feeds[n], lat[n]
            start = filled[n]
            with pinned_affinity(affinity[n]):
                c0 = time.process_time_ns()
                for i in range(start, start + block_iters):
                    t0 = perf()
                    run(None, f)
                    out[i] = perf() - t0
                cpu[n] += time.process_time_ns() - c0
            blk[n][start:start + block_iters] = b
            filled[n] = start + block_iters
            for _ in range(SENTINEL_CALLS_PER_BLOCK if sentinel else 0):  # between blocks, never inside one
                t0 = perf()
                sentinel()  # type: ignore[misc]
                sent_ns.append(perf() - t0)
                sent_blk.append(b)
            meter.mark(b + 1)
    return RoundData(os.getpid(), order, lat, blk, cpu, dict(filled),
                     {n: session_settings(s) for n, s in sessions.items()}, warm,
                     interference=meter.table(),
                     sentinel=None if sentinel is None else SentinelSeries(
                         np.array(sent_ns, dtype=np.int64), np.array(sent_blk, dtype=np.int64),
                         sentinel.describe(), np.empty(0, dtype=np.int64)))


def _rounds_main(spec_path: str, out_path: str) -> None:
    spec = pickle.loads(Path(spec_path).read_bytes())
    Path(out_path).write_bytes(pickle.dumps(_measure_round(spec)))


_CHILD = ("import sys; from edgetiming.measure.rounds import _rounds_main;"
          " _rounds_main(sys.argv[1], sys.argv[2])")


def run_rounds(
    arms: list[Arm],
    *,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    rounds: int = 5,
    blocks: int = 10,
    block_iters: int = 50,
    warmup_iters: int = 20,
    aa: bool = True,
    baseline: str | None = None,
    seed: int = 0,
    fresh_process: bool = True,
    confidence: float = 0.95,
    timeout_s: float = 600.0,
    sentinel: bool = True,
) -> RoundsRun:
    """Measure ``arms`` in ``rounds`` fresh processes, interleaved in blocks, identical inputs.

    Parameters
    ----------
    arms : the configurations; the first (or ``baseline``) is the baseline of every ratio.
    rounds : fresh processes (the unit of every interval over rounds; >= 5 for a headline).
    blocks, block_iters : blocks per arm per round and timed iterations per block.
    aa : add an A/A arm, the baseline measured again as a second arm in the same rounds.
    fresh_process : False runs the rounds in this process (tests, notebooks by hand).
    sentinel : time the fixed sentinel workload after every block (about 10 ms per block) and
        read the interference telemetry, so each arm is also reported in sentinel units.

    Models given as bytes are written to temporary files so the child can open them.
    """
    if rounds < 1 or blocks < 1 or block_iters < 1:
        raise ValueError("rounds, blocks and block_iters must be >= 1")
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise ValueError(f"arm names must be unique: {names}")
    base = baseline or names[0]
    by_name = {a.name: a for a in arms}
    if base not in by_name:
        raise ValueError(f"baseline {base!r} is not one of the arms {names}")
    tmp: list[Path] = []
    try:
        ready = []
        for a in arms:
            if isinstance(a.model, bytes):
                fd, path = tempfile.mkstemp(suffix=".onnx", prefix="edgetiming-arm-")
                with os.fdopen(fd, "wb") as fh:
                    fh.write(a.model)
                tmp.append(Path(path))
                a = Arm(a.name, path, a.config, a.cpu_affinity)
            ready.append(a)
        if aa:
            b = {a.name: a for a in ready}[base]
            ready.append(Arm(base + AA_SUFFIX, b.model, b.config, b.cpu_affinity))
        out: list[RoundData] = []
        for r in range(rounds):
            spec = {"arms": ready, "input_shapes": input_shapes, "seed": seed * 1000 + r, "feeds_seed": seed,
                    "block_iters": block_iters, "blocks": blocks, "warmup_iters": warmup_iters,
                    "sentinel": sentinel}
            out.append(run_child(_CHILD, spec, timeout_s)[0] if fresh_process else _measure_round(spec))
    finally:
        for path in tmp:
            path.unlink(missing_ok=True)
    notes = [] if fresh_process else ["rounds ran in one process: not independent"]
    return RoundsRun([a.name for a in ready], out, base, confidence, block_iters, blocks, fresh_process, notes)


def interleaved_rounds(arms: dict[str, Any], rounds: int, *, seed: int = 0) -> tuple[dict[str, list[Any]], list[str]]:
    """Run each arm once per round, in this process, in a randomised balanced order.

    For comparisons that are not closed-loop sessions (open-loop loads, servers): ``arms``
    maps a name to a function of the round index that measures it once (give every arm of a
    round the same seed, so they see the same arrivals). Every round holds every arm once in
    a fresh random order, every other round mirrors the previous one
    (:func:`~edgetiming.stats.repeated.balanced_order`), so a slow period of the machine hits
    every arm alike. Returns ``{name: [result per round]}`` and the order they ran in.
    """
    if rounds < 1 or not arms:
        raise ValueError("interleaved_rounds needs at least one arm and one round")
    names = list(arms)
    order = balanced_order(names, rounds, np.random.default_rng(seed))
    out: dict[str, list[Any]] = {n: [None] * rounds for n in names}
    for i, name in enumerate(order):
        out[name][i // len(names)] = arms[name](i // len(names))
    return out, order
