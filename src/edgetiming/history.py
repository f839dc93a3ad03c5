"""The history of each (recipe, runner) metric across runs, and the regressions in it.

In the spirit of asv: every executed run appends one line to
``results/<runner>/history.jsonl`` with the metrics it reported (value,
interval, unit). The file is rewritten atomically, so a crash leaves the old
history or the new one. Cached runs add nothing.

A regression is flagged between two consecutive runs of the same recipe
version and mode when the later run's interval is entirely above the earlier
one's by more than ``min_effect``: with the two 95% intervals ``[lo_a, hi_a]``
and ``[lo_b, hi_b]``, the ratio interval is ``[lo_b / hi_a, hi_b / lo_a]``
(the order-statistic method of :func:`edgetiming.compare.compare_runs`,
applied to the stored intervals) and the step is flagged when its lower end
exceeds ``1 + min_effect``. Overlapping intervals, the usual noise of a shared
machine, are never flagged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import store

__all__ = ["HISTORY_FILE", "HISTORY_SCHEMA_VERSION", "Regression", "append", "entry_from_result", "find_regressions",
           "load", "merge"]

HISTORY_FILE = "history.jsonl"
HISTORY_SCHEMA_VERSION = 1


def entry_from_result(result: dict[str, Any]) -> dict[str, Any]:
    """The history line for one result: provenance and its numeric metrics."""
    metrics = {
        name: {k: m.get(k) for k in ("value", "ci", "unit", "valid")}
        for name, m in result["metrics"].items()
        if isinstance(m.get("value"), (int, float)) and not isinstance(m.get("value"), bool)
    }
    return {
        "schema_version": HISTORY_SCHEMA_VERSION,
        "recipe": result["recipe"],
        "recipe_version": result["recipe_version"],
        "mode": result["mode"],
        "status": result["status"],
        "started_at": result["started_at"],
        "cache_key": result["cache_key"],
        "git_sha": result["git"].get("sha"),
        "metrics": metrics,
    }


def load(runner_dir: Path) -> list[dict[str, Any]]:
    """Every history entry of a runner, oldest first; lines of unknown versions are skipped."""
    path = runner_dir / HISTORY_FILE
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if entry.get("schema_version") == HISTORY_SCHEMA_VERSION:
            entries.append(entry)
    return sorted(entries, key=lambda e: (e["started_at"], e["cache_key"]))


def append(runner_dir: Path, result: dict[str, Any]) -> None:
    """Add a result to the runner's history (atomic rewrite of the file)."""
    entries = merge([load(runner_dir), [entry_from_result(result)]])
    text = "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries)
    store.atomic_write_bytes(runner_dir / HISTORY_FILE, text.encode("utf-8"))


def merge(histories: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Union of histories (one run appears once), oldest first."""
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for entries in histories:
        for e in entries:
            seen[(e["recipe"], e["started_at"], e["cache_key"])] = e
    return sorted(seen.values(), key=lambda e: (e["started_at"], e["cache_key"]))


@dataclass(frozen=True)
class Regression:
    """A step up in a latency metric between two consecutive runs."""

    recipe: str
    metric: str
    before: dict[str, Any]
    after: dict[str, Any]
    ratio: float
    ratio_low: float
    ratio_high: float

    def message(self, runner: str) -> str:
        b, a = self.before, self.after
        return (
            f"regression on {runner}: {self.recipe} {self.metric} {b['value']:.3g} -> {a['value']:.3g} "
            f"{a.get('unit', '')} (x{self.ratio:.2f}, interval x{self.ratio_low:.2f}-x{self.ratio_high:.2f}; "
            f"git {str(b.get('git_sha'))[:8]} -> {str(a.get('git_sha'))[:8]})"
        )


def find_regressions(entries: list[dict[str, Any]], *, min_effect: float = 0.05) -> list[Regression]:
    """Regressions between consecutive OK runs of the same recipe version and mode."""
    found = []
    last: dict[tuple[str, str, str], dict[str, Any]] = {}
    for e in entries:
        if e["status"] != "OK":
            continue
        key = (e["recipe"], e["recipe_version"], e["mode"])
        prev = last.get(key)
        last[key] = e
        if prev is None:
            continue
        for name, after in e["metrics"].items():
            before = prev["metrics"].get(name)
            if not before or after.get("unit") not in ("ms", "us", "ns", "s"):
                continue
            if not before.get("ci") or not after.get("ci") or before["ci"][0] <= 0 or before["ci"][1] <= 0:
                continue
            low = after["ci"][0] / before["ci"][1]
            high = after["ci"][1] / before["ci"][0]
            if low > 1 + min_effect:
                ratio = after["value"] / before["value"] if before["value"] else float("inf")
                found.append(Regression(e["recipe"], name, dict(before, git_sha=prev["git_sha"]),
                                        dict(after, git_sha=e["git_sha"]), ratio, low, high))
    return found
