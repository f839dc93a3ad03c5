"""The search space of ``edgetiming tune``: which knobs exist on this runner, and one candidate.

A :class:`Candidate` is one combination of knobs; ``None`` means onnxruntime's default. Knobs
that cannot matter in a combination are folded to their default (spinning with one intra-op
thread, inter-op threads in sequential mode, affinities without an explicit thread count), so
two spellings of the same session are one candidate with one key.

Knobs searched, each only where it applies (:func:`knobs_for`):

- precision: ``fp32`` and the INT8 variants (dynamic; static QDQ calibrated on rendered data);
- graph optimization level; intra-op threads (1 .. usable CPUs) and spinning; execution mode
  and inter-op threads; intra-op thread affinity (one thread per CPU, in order);
- IOBinding instead of ``run``; denormals as zero;
- execution provider, among those ``onnxruntime.get_available_providers()`` lists that run
  inference (``AzureExecutionProvider`` is a remote-call provider and is left out).

Batch size is not searched: the tuner times one request per call (a single stream, or an open
loop of single requests), so a batch would change what the deadline is about; the batching
recipe measures that trade-off.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import onnxruntime as ort

from edgetiming.measure.session import SessionConfig

__all__ = ["NOT_INFERENCE_PROVIDERS", "Candidate", "inference_providers", "knobs_for", "usable_cpus"]

#: Providers onnxruntime lists that do not run a model locally.
NOT_INFERENCE_PROVIDERS = frozenset({"AzureExecutionProvider"})
_DAZ = "session.set_denormal_as_zero"
_AFFINITY = "session.intra_op_thread_affinities"


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def inference_providers() -> list[str]:
    """Execution providers present here that run inference, CPU last (the fallback)."""
    found = [p for p in ort.get_available_providers() if p not in NOT_INFERENCE_PROVIDERS]
    return [p for p in found if p != "CPUExecutionProvider"] + ["CPUExecutionProvider"]


@dataclass(frozen=True)
class Candidate:
    """One configuration; ``None`` (or False) is onnxruntime's default for that knob."""

    precision: str = "fp32"
    graph_level: str | None = None
    intra_threads: int | None = None
    spinning: bool | None = None
    execution_mode: str | None = None
    inter_threads: int | None = None
    affinity: bool = False
    io_binding: bool = False
    denormal_as_zero: bool = False
    provider: str = "CPUExecutionProvider"

    def canonical(self) -> Candidate:
        """The same session with knobs that cannot matter folded to their defaults."""
        c = self
        if c.graph_level == "all":
            c = replace(c, graph_level=None)
        if c.execution_mode == "sequential":
            c = replace(c, execution_mode=None)
        if c.execution_mode is None:
            c = replace(c, inter_threads=None)
        if c.intra_threads == 1:
            c = replace(c, spinning=None, affinity=False)
        if c.spinning is True:
            c = replace(c, spinning=None)
        if c.intra_threads is None:
            c = replace(c, affinity=False)
        return c

    @property
    def key(self) -> str:
        """A short, stable name built from the knobs that differ from the defaults."""
        c = self.canonical()
        parts = [] if c.precision == "fp32" else [c.precision]
        if c.provider != "CPUExecutionProvider":
            parts.append(c.provider.replace("ExecutionProvider", ""))
        if c.graph_level is not None:
            parts.append(f"opt-{c.graph_level}")
        if c.intra_threads is not None:
            parts.append(f"intra{c.intra_threads}")
        if c.spinning is False:
            parts.append("nospin")
        if c.affinity:
            parts.append("pinned")
        if c.execution_mode is not None:
            parts.append(f"parallel-inter{c.inter_threads or 0}")
        if c.io_binding:
            parts.append("iobinding")
        if c.denormal_as_zero:
            parts.append("daz")
        return "+".join(parts) or "defaults"

    @property
    def complexity(self) -> int:
        """How many knobs differ from onnxruntime's defaults (the recommendation takes the fewest)."""
        return 0 if self.key == "defaults" else self.key.count("+") + 1

    @property
    def accuracy_variant(self) -> str:
        """The knobs that can change the outputs: precision, graph level, denormals."""
        c = self.canonical()
        return f"{c.precision}|{c.graph_level or 'all'}|{'daz' if c.denormal_as_zero else 'ieee'}"

    def session_config(self) -> SessionConfig:
        c = self.canonical()
        entries: list[tuple[str, str]] = []
        if c.denormal_as_zero:
            entries.append((_DAZ, "1"))
        if c.affinity and c.intra_threads:
            # thread 0 is the caller's; threads 1..n-1 of the pool go on CPUs 2..n (1-based)
            entries.append((_AFFINITY, ";".join(str(i + 2) for i in range(c.intra_threads - 1))))
        return SessionConfig(intra_op_num_threads=c.intra_threads, inter_op_num_threads=c.inter_threads,
                             allow_spinning=c.spinning, execution_mode=c.execution_mode,
                             graph_optimization_level=c.graph_level,
                             providers=tuple(dict.fromkeys([c.provider, "CPUExecutionProvider"])),
                             config_entries=tuple(entries))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self.canonical())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Candidate:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names}).canonical()

    def __str__(self) -> str:
        return self.key


def knobs_for(cpus: int, precisions: list[str], providers: list[str]) -> dict[str, list[Any]]:
    """The categorical choices of each knob on this runner (``None`` = onnxruntime's default).

    >>> k = knobs_for(2, ["fp32"], ["CPUExecutionProvider"])
    >>> k["intra_threads"], k["inter_threads"]
    ([None, 1, 2], [None, 1, 2])
    """
    threads = list(range(1, max(1, cpus) + 1))
    return {
        "precision": list(precisions),
        "provider": list(providers),
        "graph_level": [None, "disable", "basic", "extended"],
        "intra_threads": [None, *threads],
        "spinning": [None, False],
        "execution_mode": [None, "parallel"],
        "inter_threads": [None, *threads],
        "affinity": [False, True] if cpus > 1 else [False],
        "io_binding": [False, True],
        "denormal_as_zero": [False, True],
    }


def suggest(trial: Any, knobs: dict[str, list[Any]]) -> Candidate:
    """An optuna trial's proposal as a canonical candidate (every knob suggested, then folded)."""
    values = {}
    for name, choices in knobs.items():
        labels = [json.dumps(c) for c in choices]
        values[name] = json.loads(trial.suggest_categorical(name, labels))
    return Candidate(**values).canonical()


def from_params(params: dict[str, str]) -> Candidate:
    """The candidate an optuna trial's stored ``params`` describe."""
    return Candidate(**{k: json.loads(v) for k, v in params.items()}).canonical()
