"""Racing candidates with a statistical guarantee, and measuring one of them in a fresh process.

Each round measures every candidate still in the race once, in a fresh ``python`` process,
in a randomised balanced order (:func:`edgetiming.stats.repeated.balanced_order`). After a
round, each candidate's percentile is estimated from all its rounds
(:func:`edgetiming.stats.repeated.repeated_quantile`: the hull of the within-run exact interval
and the between-run t interval decides). :func:`eliminate` then removes a candidate only when
the **lower** end of its interval lies above the **upper** end of the current best's: the two
are separated, so the candidate is slower at the tail with the interval's confidence.
Candidates whose intervals overlap the best's stay in: they cannot be told apart from it.
"""

from __future__ import annotations

import math
import os
import pickle
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgetiming.measure.closedloop import session_loop
from edgetiming.measure.isolation import run_child
from edgetiming.measure.openloop import Periodic, Poisson, open_loop
from edgetiming.measure.session import open_session, session_settings
from edgetiming.stats.repeated import RepeatedEstimate, balanced_order, repeated_quantile

__all__ = ["Elimination", "best_of", "eliminate", "measure_isolated", "round_order"]


@dataclass(frozen=True)
class Elimination:
    """Why and when a candidate left the race."""

    key: str
    round: int
    reason: str
    kind: str  # "latency" or "accuracy" or "failed"
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "round": self.round, "reason": self.reason, "kind": self.kind,
                "detail": self.detail}


def best_of(estimates: dict[str, RepeatedEstimate]) -> str | None:
    """The candidate with the lowest finite upper end of its deciding interval (ties: lower value).

    A candidate whose interval is still unbounded above (too few samples for the percentile)
    cannot be the reference for eliminations yet.
    """
    finite = {k: e for k, e in estimates.items() if math.isfinite(e.upper)}
    if not finite:
        return None
    return min(finite, key=lambda k: (finite[k].upper, finite[k].value, k))


def eliminate(estimates: dict[str, RepeatedEstimate], round_: int, unit_ms: float = 1e-6
              ) -> tuple[str | None, list[Elimination]]:
    """The current best and the candidates separated from it (lower end above its upper end).

    ``unit_ms`` converts the estimates' unit to milliseconds for the reasons (ns by default).
    Overlapping intervals never eliminate, however different the point estimates are.
    """
    best = best_of(estimates)
    if best is None:
        return None, []
    b = estimates[best]
    out = []
    for key, e in sorted(estimates.items()):
        if key != best and e.lower > b.upper:
            out.append(Elimination(
                key, round_, f"P{e.p * 100:g} lower end {e.lower * unit_ms:.3g} ms is above the upper end "
                             f"{b.upper * unit_ms:.3g} ms of the best ({best}) after round {round_}",
                "latency", {"lower": e.lower, "best": best, "best_upper": b.upper}))
    return best, out


def round_order(keys: Sequence[str], round_: int, seed: int) -> list[str]:
    """The order of a round: a fresh random permutation, mirrored on odd rounds (ABBA).

    Deterministic in ``(keys, round_, seed)``, so a resumed run measures in the same order.
    """
    labels = sorted(keys)
    rng = np.random.default_rng([seed, round_ // 2, len(labels)])
    both = balanced_order(labels, 2, rng)
    return both[len(labels):] if round_ % 2 else both[:len(labels)]


# --------------------------------------------------------------------------- one measurement
def measure_isolated(spec: dict[str, Any], path: Path, timeout_s: float) -> dict[str, Any]:
    """Measure one candidate in a fresh process and store the result at ``path`` atomically.

    ``spec`` holds ``model_file``, ``config`` (a SessionConfig), ``io_binding``, ``feeds``,
    ``warmup``, ``iters``, ``percentile`` and optionally ``open_loop`` (``rate_hz``,
    ``arrivals``). The stored dict has ``samples`` (int64 ns), ``wall_s``, the child's facts
    and ``noise``: what :func:`edgetiming.measure.noise.figure` draws of the process (its
    interference table and sentinel; a closed loop times the sentinel after every block).
    """
    t0 = time.perf_counter()
    result, _ = run_child("import sys; from edgetiming.tune.race import _child_main;"
                          " _child_main(sys.argv[1], sys.argv[2])", spec, timeout_s)
    result["wall_s"] = time.perf_counter() - t0
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(result))
    os.replace(tmp, path)
    return result


def load_measurement(path: Path) -> dict[str, Any]:
    return pickle.loads(path.read_bytes())


def _child_main(spec_path: str, out_path: str) -> None:
    spec = pickle.loads(Path(spec_path).read_bytes())
    t0 = time.perf_counter()
    sess = open_session(spec["model_file"], spec["config"])
    create_s = time.perf_counter() - t0
    feeds = spec["feeds"]
    info: dict[str, Any] = {"pid": os.getpid(), "create_s": create_s, "settings": session_settings(sess)}
    ol = spec.get("open_loop")
    if ol:
        if spec["io_binding"]:
            bind = sess.io_binding()
            for name, value in feeds.items():
                bind.bind_cpu_input(name, value)
            for out in sess.get_outputs():
                bind.bind_output(out.name)
            run_iob = sess.run_with_iobinding

            def fn() -> None:
                run_iob(bind)
        else:
            run = sess.run

            def fn() -> None:
                run(None, feeds)
        arrivals = (Periodic(1000.0 / ol["rate_hz"]) if ol["arrivals"] == "periodic"
                    else Poisson(ol["rate_hz"], seed=ol.get("seed", 0)))
        r = open_loop(fn, arrivals, n_requests=spec["iters"], warmup_iters=spec["warmup"])
        samples = np.asarray(r.response_with_drops_ns, dtype=np.float64)
        info |= {"samples": samples, "dropped": int(r.n_dropped), "overhead_ns": None, "throttle": False,
                 "utilization": float(r.utilization),
                 "noise": {k: getattr(r, k) for k in ("intended_ns", "done_ns", "t0_ns", "interference", "sentinel")}}
    else:
        r = session_loop(sess, feeds, io_binding=spec["io_binding"], warmup_iters=spec["warmup"],
                         iters=spec["iters"], target_percentile=spec["percentile"], sentinel=True)
        info |= {"samples": r.steady_ns.astype(np.int64), "overhead_ns": r.overhead.per_iter_ns
                 if r.overhead else None, "throttle": bool(r.throttle_seen),
                 "noise": {k: getattr(r, k) for k in ("latency_ns", "warmup_iters", "interference", "sentinel")}}
    Path(out_path).write_bytes(pickle.dumps(info))


def estimates_for(samples_by_key: dict[str, list[np.ndarray]], p: float, confidence: float = 0.95,
                  **judge: Any) -> dict[str, RepeatedEstimate]:
    """The repeated-process estimate of percentile ``p`` for every candidate with samples."""
    return {k: repeated_quantile(runs, p, confidence, **judge) for k, runs in samples_by_key.items() if runs}
