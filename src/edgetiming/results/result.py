"""The typed result of one recipe run on one runner: what ``result.json`` holds.

:class:`Result` owns the file: :meth:`Result.load` reads schema versions 1 and 2
(version 1 metrics were judged valid/invalid under the rule "CV > 10%
invalid"; they load with that rule named, so a page can say so),
:meth:`Result.to_dict` and :meth:`Result.write` write version 2. The executor
builds one, history and the site read one, bundle comparison compares two;
nobody reshapes the JSON in between.

This module also holds the one formatting of numbers and intervals that every
page uses (:func:`format_value`, :func:`format_interval`), built on
:func:`edgetiming.stats.quantiles.format_number`, which figures and verdicts use.

Example
-------
>>> m = Metric(value=12.345, unit="ms", ci=(11.0, 14.2))
>>> format_value(m.value, m.unit), format_interval(m.ci, m.unit)
('12.3 ms', '[11.0, 14.2] ms')
>>> format_value(3, "")
'3'
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgetiming.results import store
from edgetiming.stats.quantiles import format_number
from edgetiming.stats.validity import RULE, RULE_LEGACY, State

__all__ = [
    "LEGACY_RULE_LABEL",
    "Metric",
    "Result",
    "Status",
    "format_interval",
    "format_value",
    "typed_bundles",
]

#: how a page labels a metric judged under the rule of schema version 1
LEGACY_RULE_LABEL = "judged under the old rule (CV > 10% invalid)"


class Status(str, enum.Enum):
    """How a recipe run ended. ``CACHED``: not run again, its stored result is current."""

    OK = "OK"
    CACHED = "CACHED"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"
    KERNEL_DIED = "KERNEL_DIED"
    EXPECTED_FAILURE = "EXPECTED_FAILURE"
    UNEXPECTED_PASS = "UNEXPECTED_PASS"

    def __str__(self) -> str:
        return self.value

    @property
    def failing(self) -> bool:
        """Makes ``edgetiming run`` exit non-zero."""
        return self in (Status.FAILED, Status.TIMEOUT, Status.KERNEL_DIED, Status.UNEXPECTED_PASS)

    @property
    def has_numbers(self) -> bool:
        """The run's metrics, figures and checks may be shown as measurements."""
        return self in (Status.OK, Status.CACHED)

    @property
    def reusable(self) -> bool:
        """A stored result with this status may be reused when its cache key is current."""
        return self in (Status.OK, Status.EXPECTED_FAILURE)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def format_value(value: Any, unit: str = "") -> str:
    """A metric's value with its unit, as every page shows it; ``not measured`` for None.

    Numbers go through :func:`~edgetiming.stats.quantiles.format_number`; a unitless
    value has no trailing space.
    """
    if value is None:
        return "not measured"
    text = format_number(value) if _is_number(value) else str(value)
    return f"{text} {unit}" if unit else text


def format_interval(interval: Iterable[float] | None, unit: str = "") -> str:
    """An interval ``[low, high] unit`` as every page shows it; empty when there is none."""
    if not interval:
        return ""
    lo, hi = interval
    text = f"[{format_number(lo)}, {format_number(hi)}]"
    return f"{text} {unit}" if unit else text


def _pair(value: Any) -> tuple[float, float] | None:
    return None if value is None else (float(value[0]), float(value[1]))


@dataclass(frozen=True)
class Metric:
    """One reported value with its interval(s) and its state (see :mod:`edgetiming.stats.validity`)."""

    value: float | int | str | bool | None
    unit: str = ""
    description: str = ""
    ci: tuple[float, float] | None = None
    ci_within: tuple[float, float] | None = None
    ci_between: tuple[float, float] | None = None
    n: int | None = None
    runs: int | None = None
    per_run: tuple[float, ...] = ()
    per_run_sentinel: tuple[float, ...] = ()
    state: State = State.VALID
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    rule: str = RULE
    note: str = ""

    @property
    def valid(self) -> bool:
        return self.state is State.VALID

    @property
    def legacy(self) -> bool:
        """Judged under the rule of schema version 1 ("CV > 10% invalid")."""
        return self.rule == RULE_LEGACY

    @property
    def numeric(self) -> bool:
        return _is_number(self.value)

    def shown(self) -> str:
        """The value and unit (:func:`format_value`)."""
        return format_value(self.value, self.unit)

    def interval(self, which: str = "ci") -> str:
        """``ci``, ``ci_within`` or ``ci_between`` as text (:func:`format_interval`); empty when absent."""
        return format_interval(getattr(self, which), self.unit)

    def state_reasons(self) -> str:
        """The reasons for the state, and the legacy label when it applies, in one line."""
        parts = list(self.reasons)
        if self.legacy:
            parts.append(LEGACY_RULE_LABEL)
        return "; ".join(parts)

    @classmethod
    def from_dict(cls, d: dict[str, Any], schema_version: int = 2) -> Metric:
        common = {
            "value": d.get("value"), "unit": d.get("unit", ""), "description": d.get("description", ""),
            "ci": _pair(d.get("ci")), "ci_within": _pair(d.get("ci_within")), "ci_between": _pair(d.get("ci_between")),
            "n": d.get("n"), "runs": d.get("runs"), "per_run": tuple(d.get("per_run") or ()),
            "per_run_sentinel": tuple(d.get("per_run_sentinel") or ()),
        }
        if schema_version == 1 or "state" not in d:
            # version 1: valid/invalid with the reason in "note", under "CV > 10% invalid"
            valid = d.get("valid", True)
            note = d.get("note", "")
            return cls(**common, state=State.VALID if valid else State.INVALID,
                       reasons=() if valid or not note else (note,), rule=RULE_LEGACY,
                       note=note if valid else "")
        return cls(**common, state=State(d["state"]), reasons=tuple(d.get("reasons", ())),
                   notes=tuple(d.get("notes", ())), rule=d.get("rule", RULE), note=d.get("note", ""))

    def to_dict(self) -> dict[str, Any]:
        """The version-2 record (``valid`` kept for readers of version 1)."""
        out: dict[str, Any] = {
            "value": self.value, "unit": self.unit, "description": self.description, "valid": self.valid,
            "note": self.note, "state": self.state.value, "reasons": list(self.reasons),
            "notes": list(self.notes), "rule": self.rule,
        }
        for key in ("ci", "ci_within", "ci_between"):
            pair = getattr(self, key)
            if pair is not None:
                out[key] = [pair[0], pair[1]]
        if self.n is not None:
            out["n"] = self.n
        if self.runs is not None:
            out["runs"] = self.runs
        if self.per_run:
            out["per_run"] = list(self.per_run)
        if self.per_run_sentinel:
            out["per_run_sentinel"] = list(self.per_run_sentinel)
        return out


@dataclass
class Result:
    """One recipe run on one runner: provenance, status, metrics, figures, samples, checks."""

    recipe: str
    recipe_version: str
    title: str
    runner: str
    runner_identity_sha256: str
    status: Status
    mode: str
    parameters: dict[str, Any]
    started_at: str
    duration_s: float
    git: dict[str, Any]
    packages: dict[str, str]
    python: str
    cache_key: str
    cache_inputs: dict[str, str]
    models: dict[str, Any]
    run_dir: str
    notebook: dict[str, str]
    metrics: dict[str, Metric] = field(default_factory=dict)
    figures: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    expected_failure: str | None = None
    #: the version the record was read as; :meth:`to_dict` always writes the current one
    schema_version: int = store.RESULT_SCHEMA_VERSION

    _SCALARS = ("recipe", "recipe_version", "title", "runner", "runner_identity_sha256", "mode", "parameters",
                "started_at", "duration_s", "git", "packages", "python", "cache_key", "cache_inputs", "models",
                "run_dir", "notebook", "figures", "samples", "checks", "error", "expected_failure")

    @property
    def quick(self) -> bool:
        return self.mode == "quick"

    @property
    def legacy(self) -> bool:
        """Some metric was judged under the rule of schema version 1."""
        return any(m.legacy for m in self.metrics.values())

    @property
    def bundle_files(self) -> list[dict[str, Any]]:
        """Every file of the run folder the record names (notebook, figures, samples)."""
        return [self.notebook, *self.figures, *self.samples]

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Result:
        """A result from a record of schema version 1 or 2 (validate it first: :meth:`load` does)."""
        version = record.get("schema_version", store.RESULT_SCHEMA_VERSION)
        return cls(
            **{k: record[k] for k in cls._SCALARS},
            status=Status(record["status"]),
            metrics={name: Metric.from_dict(m, version) for name, m in record["metrics"].items()},
            schema_version=version,
        )

    def to_dict(self) -> dict[str, Any]:
        """The version-2 record ``result.json`` holds."""
        return {
            "schema_version": store.RESULT_SCHEMA_VERSION,
            **{k: getattr(self, k) for k in self._SCALARS},
            "status": self.status.value,
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
        }

    @classmethod
    def load(cls, path: str | Path, *, verify: bool = False) -> Result:
        """Read and validate ``result.json`` (versions 1 and 2); with ``verify``, check its files' sha256.

        Raises :class:`edgetiming.results.store.StoreError` naming the file, the field and the fix.
        """
        return cls.from_dict(store.read_result(path, verify=verify))

    def write(self, bundle_dir: str | Path) -> None:
        """Validate, then commit ``bundle_dir/result.json`` atomically (version 2)."""
        store.write_result(bundle_dir, self.to_dict())


def typed_bundles(bundles: list[store.RunnerBundle]) -> list[store.RunnerBundle]:
    """The bundles read by :mod:`~edgetiming.results.store`, with each record as a :class:`Result`.

    The store reads and validates records without knowing this type (the type
    uses the store to read and write, so the store cannot import it back).
    """
    for bundle in bundles:
        bundle.results = {slug: r if isinstance(r, Result) else Result.from_dict(r) for slug, r in bundle.results.items()}
    return bundles
