"""onnxruntime's profiler, read: operator tables, where slow inferences lose time, memory of a fresh process.

- :func:`profiled_session` opens a session with ``SessionOptions.enable_profiling``;
  :meth:`Profile.read` turns the JSON that ``session.end_profiling()`` writes into
  one row per operator per inference: every event with ``cat == "Node"`` and a name
  ending in ``_kernel_time`` is one operator executing once, assigned to the
  ``model_run`` event that contains it; ``args.op_name`` is its type after graph
  optimization (fused operators under their fused name).
- :func:`attribute_slow` compares the slowest share of inferences with the median
  ones: the extra time is *concentrated* when the same node (or operator type)
  takes most of it again and again, far above its normal share, and *spread*
  when each slow inference loses its time somewhere else (a machine-level cause:
  preemption, another process, a frequency drop).
- :func:`overhead_verdict` judges the profiler's own cost from a paired ratio over
  interleaved blocks against an A/A ratio.
- :func:`fresh_process_memory` measures resident memory step by step in a fresh
  process (peak resident memory is a high-water mark of the whole process);
  :func:`memory_footprint` reads the three numbers a reader wants from it.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd

from edgetiming.measure.session import SessionConfig
from edgetiming.stats.repeated import NO_DIFFERENCE, RatioEstimate

__all__ = ["BETWEEN_KERNELS", "FOOTPRINT", "Profile", "SlowAttribution", "attribute_slow", "fresh_process_memory",
           "memory_footprint", "overhead_verdict", "profiled_session"]

BETWEEN_KERNELS = "(between kernels)"
_COLUMNS = ["iter", "node", "op_type", "dur_us", "arena_held_bytes", "in_use_peak_bytes", "output_bytes"]


def profiled_session(model: str | Path, config: SessionConfig | None, prefix: str | Path) -> Any:
    """A session of ``model`` with the profiler on, writing ``<prefix>_<date>.json``."""
    so = (config or SessionConfig()).session_options()
    so.enable_profiling = True
    so.profile_file_prefix = str(prefix)
    return ort.InferenceSession(str(model), so, providers=list((config or SessionConfig()).providers))


@dataclass
class Profile:
    """One row per kernel execution (``ops``) and each inference's ``model_run`` duration (us)."""

    ops: pd.DataFrame
    run_dur_us: np.ndarray

    @classmethod
    def from_events(cls, events: list[dict[str, Any]]) -> Profile:
        runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
                      key=lambda e: e["ts"])
        start = np.array([e["ts"] for e in runs], dtype=np.int64)
        rows = []
        for e in events:
            if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
                continue
            i = int(np.searchsorted(start, e["ts"], side="right")) - 1
            if i < 0:
                continue
            a = e.get("args", {})
            rows.append((i, e["name"][: -len("_kernel_time")], a.get("op_name", "?"), float(e["dur"]),
                         int(a.get("mem_arena_held", -1)), int(a.get("mem_in_use_peak", -1)),
                         int(a.get("output_size", 0))))
        return cls(pd.DataFrame(rows, columns=_COLUMNS), np.array([e["dur"] for e in runs], dtype=np.float64))

    @classmethod
    def read(cls, path: str | Path, *, delete: bool = False) -> Profile:
        """Read the profiler's JSON file (and delete it: a profile is ~0.4 MB per inference of a detector)."""
        path = Path(path)
        events = json.loads(path.read_text())
        if delete:
            path.unlink()
        return cls.from_events(events)

    @property
    def runs(self) -> int:
        return int(self.run_dur_us.size)

    def steady(self, warmup: int) -> tuple[pd.DataFrame, np.ndarray]:
        """The rows of inferences ``warmup`` onwards, and their indices."""
        return self.ops[self.ops["iter"] >= warmup], np.arange(warmup, self.runs)

    def per_iter(self, warmup: int) -> pd.DataFrame:
        """Kernel time (us) per inference and operator type, plus :data:`BETWEEN_KERNELS`."""
        st, iters = self.steady(warmup)
        t = st.pivot_table(index="iter", columns="op_type", values="dur_us", aggfunc="sum", fill_value=0.0)
        t = t.reindex(iters, fill_value=0.0)
        t[BETWEEN_KERNELS] = self.run_dur_us[iters] - t.sum(axis=1).to_numpy()
        return t

    def kernel_coverage(self, warmup: int) -> float:
        """Median share of each ``model_run`` spent inside operator kernels."""
        p = self.per_iter(warmup)
        return float(np.median(1.0 - p[BETWEEN_KERNELS] / self.run_dur_us[p.index.to_numpy()]))

    def by_type(self, warmup: int) -> pd.DataFrame:
        """Per operator type: nodes, mean ms per inference, share of kernel time (largest first)."""
        st, iters = self.steady(warmup)
        d = st.groupby("op_type").agg(total_us=("dur_us", "sum"), nodes=("node", "nunique"))
        d["ms_per_inference"] = d["total_us"] / 1e3 / max(iters.size, 1)
        d["share"] = d["total_us"] / d["total_us"].sum()
        return d.sort_values("ms_per_inference", ascending=False)[["nodes", "ms_per_inference", "share"]]

    def by_node(self, warmup: int) -> pd.DataFrame:
        """Per node: median, mean and max ms, share of kernel time (largest mean first)."""
        d = self.steady(warmup)[0].groupby(["node", "op_type"])["dur_us"].agg(["median", "mean", "max"]) / 1e3
        d = d.rename(columns=lambda c: f"{c}_ms")
        d["share"] = d["mean_ms"] / d["mean_ms"].sum()
        return d.sort_values("mean_ms", ascending=False)

    def memory_mib(self, column: str) -> float | None:
        """Largest ``arena_held_bytes`` / ``in_use_peak_bytes`` reported, in MiB; None if not reported."""
        v = self.ops[column]
        return float(v.max()) / 2**20 if (v >= 0).any() else None


@dataclass
class SlowAttribution:
    """Where the slowest inferences lose time against the median ones."""

    table: pd.DataFrame  # per operator type: median_iters_ms, slow_iters_ms, excess_ms, shares, concentration
    worst: pd.DataFrame  # per slow inference: the type and the node that lost the most
    explanation: str  # "concentrated", "spread", "no excess", "too few slow inferences"
    explained_by: list[str]
    k_slow: int
    k_mid: int
    total_excess_ms: float
    same_type_share: float
    same_node_share: float


def attribute_slow(profile: Profile, warmup: int, slow_share: float, *, min_slow: int = 3,
                   repeat_share: float = 2 / 3, concentration: float = 2.0) -> SlowAttribution:
    """Compare the slowest ``slow_share`` of inferences with the 40th-60th percentile ones.

    *Concentrated* needs the same node (or operator type, not the time between
    kernels) to be the worst in at least ``repeat_share`` of the slow inferences and
    to take at least ``concentration`` x its normal share of their extra time.
    """
    st, iters = profile.steady(warmup)
    run = profile.run_dur_us[iters]
    order = np.argsort(run, kind="stable")
    n = iters.size
    k_slow = max(1, math.ceil(slow_share * n))
    lo = int(0.4 * n)
    slow, mid = iters[order[-k_slow:]], iters[order[lo:max(int(0.6 * n), lo + 1)]]
    per = profile.per_iter(warmup)
    slow_mean, mid_mean = per.loc[slow].mean() / 1e3, per.loc[mid].mean() / 1e3
    excess = slow_mean - mid_mean
    total = float(excess.sum())
    t = pd.DataFrame({"median_iters_ms": mid_mean, "slow_iters_ms": slow_mean, "excess_ms": excess,
                      "share_of_excess": excess / total if total > 0 else 0.0,
                      "share_of_normal": mid_mean / mid_mean.sum()})
    t["concentration"] = t["share_of_excess"] / t["share_of_normal"].where(t["share_of_normal"] > 0)
    t = t.sort_values("excess_ms", ascending=False)
    node_mid = st[st["iter"].isin(mid)].groupby("node")["dur_us"].median()
    mid_run = float(np.median(profile.run_dur_us[mid]))
    rows = []
    for it in slow:
        by_t = (per.loc[it] - per.loc[mid].mean()).sort_values(ascending=False)
        d = st[st["iter"] == it].set_index("node")["dur_us"]
        gap = (d - node_mid.reindex(d.index).fillna(0.0)).sort_values(ascending=False)
        it_excess = profile.run_dur_us[it] - mid_run
        rows.append({"iteration": int(it), "ms": profile.run_dur_us[it] / 1e3, "worst_type": by_t.index[0],
                     "worst_type_excess_ms": by_t.iloc[0] / 1e3, "worst_node": gap.index[0],
                     "worst_node_excess_ms": gap.iloc[0] / 1e3,
                     "node_share_of_excess": gap.iloc[0] / it_excess if it_excess > 0 else float("nan")})
    worst = pd.DataFrame(rows)
    types, nodes = worst["worst_type"].value_counts(), worst["worst_node"].value_counts()
    same_type, same_node = float(types.iloc[0] / len(worst)), float(nodes.iloc[0] / len(worst))
    node_normal = node_mid.get(nodes.index[0], 0.0) / node_mid.sum() if node_mid.sum() > 0 else 0.0
    if total <= 0:
        explanation, by = "no excess", []
    elif len(worst) < min_slow:
        explanation, by = "too few slow inferences", []
    elif same_node >= repeat_share and (worst.loc[worst["worst_node"] == nodes.index[0], "node_share_of_excess"].mean()
                                        >= concentration * node_normal):
        explanation, by = "concentrated", [f"node {nodes.index[0]}"]
    elif same_type >= repeat_share and types.index[0] != BETWEEN_KERNELS and \
            t.loc[types.index[0], "concentration"] >= concentration:
        explanation, by = "concentrated", [f"operator type {types.index[0]}"]
    else:
        explanation, by = "spread", []
    return SlowAttribution(t, worst, explanation, by, k_slow, mid.size, total, same_type, same_node)


def overhead_verdict(ratio: RatioEstimate, aa: RatioEstimate | None, tolerance: float,
                     runner: str | None = None) -> tuple[str, str]:
    """PASS / FAIL / INCONCLUSIVE for "the profiler costs at most ``tolerance``", and its sentence.

    ``ratio`` is profiled/unprofiled per block; ``aa`` the unprofiled session
    against a second unprofiled one in the same blocks (the noise floor). PASS
    needs the whole interval at or below ``1 + tolerance``, FAIL the whole interval
    above it and outside the A/A interval; anything else is INCONCLUSIVE.
    """
    iv = ratio.interval
    sentence = ratio.sentence("P50", runner=runner)
    if aa is not None:
        sentence += " A/A noise floor: " + aa.sentence("P50", runner=runner)
    if not iv.known:
        return "INCONCLUSIVE", sentence
    limit = 1.0 + tolerance
    beyond_aa = aa is None or not aa.interval.known or iv.lower > aa.interval.upper  # type: ignore[operator]
    if iv.upper <= limit:  # type: ignore[operator]
        return "PASS", sentence
    if iv.lower > limit and ratio.direction != NO_DIFFERENCE and beyond_aa:  # type: ignore[operator]
        return "FAIL", sentence
    return "INCONCLUSIVE", sentence


_MEMORY_CHILD = r"""
import json, sys
import numpy as np
import onnxruntime as ort
import psutil
from edgetiming.host.resources import peak_rss_bytes

spec = json.loads(sys.argv[1])
proc, out = psutil.Process(), []
snap = lambda stage: out.append({"stage": stage, "rss_mb": proc.memory_info().rss / 2**20,
                                 "peak_rss_mb": peak_rss_bytes() / 2**20})
snap("imports")
so = ort.SessionOptions()
so.enable_cpu_mem_arena = spec["arena"]
if spec["threads"]:
    so.intra_op_num_threads = spec["threads"]
sess = ort.InferenceSession(spec["model"], so, providers=["CPUExecutionProvider"])
snap("session created")
feeds = {sess.get_inputs()[0].name: np.random.default_rng(0).standard_normal(spec["shape"]).astype(np.float32)}
sess.run(None, feeds)
snap("first inference")
for _ in range(spec["iters"]):
    sess.run(None, feeds)
snap(f"after {spec['iters']} more inferences")
print(json.dumps(out))
"""


def fresh_process_memory(model: str | Path, *, arena: bool, input_shape: list[int], iters: int,
                         threads: int | None = None, timeout_s: float = 300.0) -> pd.DataFrame:
    """Resident memory and its peak so far (MiB) after each step of a fresh process, indexed by step.

    The peak is the kernel's ``VmHWM`` (:func:`edgetiming.host.resources.peak_rss_bytes`),
    the child's own high-water mark; ``arena`` sets ``enable_cpu_mem_arena``.
    """
    spec = {"model": str(model), "arena": arena, "threads": threads or 0, "shape": list(input_shape), "iters": iters}
    done = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, json.dumps(spec)], capture_output=True, text=True,
                          timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory child failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return pd.DataFrame(json.loads(done.stdout.strip().splitlines()[-1])).set_index("stage")


#: What each number of :func:`memory_footprint` is, in words (MiB each).
FOOTPRINT = {
    "peak_rss_mb": "peak resident memory of a fresh process running the model",
    "session_mb": "resident memory added by creating the session",
    "inference_mb": "resident memory added by running inferences after session creation",
}


def memory_footprint(steps: pd.DataFrame) -> dict[str, float]:
    """The peak, the session's share and the inferences' share of a fresh process's memory (MiB).

    ``steps`` is what :func:`fresh_process_memory` returns: the peak is the last step's peak so
    far, the session's share the growth from "imports" to "session created", the inferences'
    share the growth from "session created" to the last step (see :data:`FOOTPRINT`).

    Example
    -------
    >>> steps = pd.DataFrame({"rss_mb": [40.0, 60.0, 75.0], "peak_rss_mb": [40.0, 62.0, 80.0]},
    ...                      index=["imports", "session created", "first inference"])
    >>> memory_footprint(steps)
    {'peak_rss_mb': 80.0, 'session_mb': 20.0, 'inference_mb': 15.0}
    """
    created = float(steps.loc["session created", "rss_mb"])
    return {"peak_rss_mb": float(steps["peak_rss_mb"].iloc[-1]),
            "session_mb": created - float(steps.loc["imports", "rss_mb"]),
            "inference_mb": float(steps["rss_mb"].iloc[-1]) - created}
