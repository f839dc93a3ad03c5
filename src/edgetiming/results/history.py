"""The history of each (recipe, runner) metric across runs, and the regressions in it.

In the spirit of asv: every executed run appends one line to
``results/<runner>/history.jsonl`` with the metrics it reported (value,
interval, unit). The file is rewritten atomically, so a crash leaves the old
history or the new one. Cached runs add nothing.

A regression is flagged between two consecutive runs of the same recipe
version and mode when the later run's interval is entirely above the earlier
one's by more than ``min_effect``: with the two 95% intervals ``[lo_a, hi_a]``
and ``[lo_b, hi_b]``, the ratio interval is ``[lo_b / hi_a, hi_b / lo_a]``
(the order-statistic method of :func:`edgetiming.stats.compare.compare_runs`,
applied to the stored intervals) and the step is flagged when its lower end
exceeds ``1 + min_effect``. Overlapping intervals, the usual noise of a shared
machine, are never flagged.

Hardware runners are meant to be ephemeral, so a runner's own
``history.jsonl`` holds only the runs of one job. The site therefore
publishes each runner's merged history (``runners/history/<runner>.jsonl``
with an ``index.json``), and the next build reads it back with
:func:`read_published` (``edgetiming site --history <url or folder>``): the
history is carried from one published site to the next. Reading it back is
strict: a malformed line or an unknown schema version stops the build instead
of being dropped, because the build would otherwise publish the shortened
history over the old one.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgetiming.results import damage, store
from edgetiming.results.result import Result, format_value
from edgetiming.stats import repeated
from edgetiming.stats.quantiles import format_number

__all__ = ["HISTORY_FILE", "HISTORY_SCHEMA_VERSION", "PUBLISHED_DIR", "HistoryError", "Regression", "append",
           "entry_from_result", "find_regressions", "load", "merge", "parse_lines", "read_published", "write_published"]

HISTORY_FILE = "history.jsonl"
HISTORY_SCHEMA_VERSION = 1
#: where a built site keeps every runner's history, relative to the site root
PUBLISHED_DIR = "runners/history"
PUBLISHED_INDEX_VERSION = 1
_REQUIRED_KEYS = ("recipe", "recipe_version", "mode", "status", "started_at", "cache_key", "metrics")


class HistoryError(Exception):
    """Published history cannot be read; the message names the file or address, the line and the fix."""


def entry_from_result(result: Result) -> dict[str, Any]:
    """The history line for one result: provenance and its numeric metrics (value, interval, unit, state)."""
    metrics = {
        name: {"value": m.value, "ci": list(m.ci) if m.ci else None, "unit": m.unit, "valid": m.valid,
               "state": m.state.value, **({"runs": m.runs} if m.runs else {}),
               **({"per_run": list(m.per_run)} if m.per_run else {}),
               **({"per_run_sentinel": list(m.per_run_sentinel)} if m.per_run_sentinel else {})}
        for name, m in result.metrics.items()
        if m.numeric
    }
    return {
        "schema_version": HISTORY_SCHEMA_VERSION,
        "recipe": result.recipe,
        "recipe_version": result.recipe_version,
        "mode": result.mode,
        "status": result.status.value,
        "started_at": result.started_at,
        "cache_key": result.cache_key,
        "git_sha": result.git.get("sha"),
        "metrics": metrics,
    }


def _parse_line(line: str) -> tuple[dict[str, Any] | None, str]:
    """One history line: the entry, or None and why it cannot be read."""
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {damage.json_reason(exc)}"
    if not isinstance(entry, dict):
        return None, "expected a JSON object per line"
    version = entry.get("schema_version")
    if version != HISTORY_SCHEMA_VERSION:
        return None, f"schema_version {version!r}, but this edgetiming reads {HISTORY_SCHEMA_VERSION}"
    missing = [k for k in _REQUIRED_KEYS if k not in entry]
    if missing:
        return None, f"missing {', '.join(missing)}"
    return entry, ""


def _split(text: str) -> tuple[list[dict[str, Any]], list[tuple[int, str, str]]]:
    """The readable entries of a history file's text, and the other lines as (number, line, why)."""
    entries, others = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        entry, why = _parse_line(line)
        if entry is None:
            others.append((number, line, why))
        else:
            entries.append(entry)
    return entries, others


def _read_split(path: Path) -> tuple[list[dict[str, Any]], list[tuple[int, str, str]]]:
    return _split(path.read_text(encoding="utf-8")) if path.exists() else ([], [])


def _jsonl(entries: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries)


def load(runner_dir: Path, problems: list[str] | None = None) -> list[dict[str, Any]]:
    """Every readable history entry of a runner, oldest first.

    Lines that cannot be read (malformed, or of another schema version) are
    left out and, when ``problems`` is given, reported there with their line
    number; :func:`append` keeps them in the file.
    """
    path = runner_dir / HISTORY_FILE
    entries, others = _read_split(path)
    if problems is not None:
        problems += [f"{path}, line {n}: {why}; the line is kept in the file but not shown" for n, _, why in others]
    return sorted(entries, key=lambda e: (e["started_at"], e["cache_key"]))


def append(runner_dir: Path, result: Result) -> None:
    """Add a result to the runner's history (atomic rewrite of the file).

    Lines this version cannot read are kept verbatim at the end, so a newer
    edgetiming's entries or a damaged line are never lost by a rewrite.
    """
    path = runner_dir / HISTORY_FILE
    entries, others = _read_split(path)
    text = _jsonl(merge([entries, [entry_from_result(result)]])) + "".join(line + "\n" for _, line, _ in others)
    store.atomic_write_bytes(path, text.encode("utf-8"))


def merge(histories: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Union of histories (one run appears once), oldest first."""
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for entries in histories:
        for e in entries:
            seen[(e["recipe"], e["started_at"], e["cache_key"])] = e
    return sorted(seen.values(), key=lambda e: (e["started_at"], e["cache_key"]))


#: what changed between the two runs of a step, from their provenance
CAUSES = {
    "code": "the git commit changed",
    "inputs": "same commit, other inputs: package versions, models, parameters or the runner's fingerprint",
    "unchanged": "same cache key: nothing edgetiming tracks changed, so this is variation between runs or "
                 "between machines behind one fingerprint, not a regression of the code",
}


@dataclass(frozen=True)
class Regression:
    """A step up in a latency metric between two consecutive runs, with what changed between them.

    Only steps whose ``cause`` is ``code`` or ``inputs`` are regressions; an
    ``unchanged`` step (same cache key) is run-to-run variation and is reported
    apart, because the intervals of one run do not include the variation
    between runs or machines.
    """

    recipe: str
    metric: str
    before: dict[str, Any]
    after: dict[str, Any]
    ratio: float
    ratio_low: float
    ratio_high: float
    cause: str = "code"
    whose: str = ""
    whose_because: str = ""

    @property
    def is_regression(self) -> bool:
        """A step of the code or its inputs that the sentinel does not explain as the machine's."""
        return self.cause != "unchanged" and self.whose != "machine"

    def message(self, runner: str) -> str:
        b, a = self.before, self.after
        label = ("regression" if self.is_regression else
                 "the machine was slower" if self.whose == "machine" else "shift without a change")
        why = CAUSES[self.cause] + (f"; {self.whose_because}" if self.whose_because else "")
        return (
            f"{label} on {runner}: {self.recipe} {self.metric} {format_number(b['value'])} -> "
            f"{format_value(a['value'], a.get('unit', ''))} (x{self.ratio:.2f}, interval x{self.ratio_low:.2f}-x{self.ratio_high:.2f}; "
            f"git {str(b.get('git_sha'))[:8]} -> {str(a.get('git_sha'))[:8]}; {why})"
        )


def _cause(before: dict[str, Any], after: dict[str, Any]) -> str:
    if before["cache_key"] == after["cache_key"]:
        return "unchanged"
    if before.get("git_sha") and after.get("git_sha") and before["git_sha"] != after["git_sha"]:
        return "code"
    return "inputs"


def _step(before: dict[str, Any], after: dict[str, Any]) -> tuple[float, float] | None:
    """The interval of after/before, or None when it cannot be formed.

    With the per-process estimates of both runs (``per_run``, two or more each) it is
    Welch's t interval on their logs (:func:`edgetiming.stats.repeated.regression`), so two
    identical builds are flagged at about the nominal 5% (two-sided; 2.5% as slower).
    Older entries without them fall back to the ratio of the two stored intervals' ends.
    """
    if len(before.get("per_run") or ()) >= 2 and len(after.get("per_run") or ()) >= 2:
        iv = repeated.regression(before["per_run"], after["per_run"]).interval
        return (iv.lower, iv.upper) if iv.known else None
    if not before.get("ci") or not after.get("ci") or before["ci"][0] <= 0 or before["ci"][1] <= 0:
        return None
    return after["ci"][0] / before["ci"][1], after["ci"][1] / before["ci"][0]


def whose_step(before: dict[str, Any], after: dict[str, Any], *, min_effect: float = 0.05) -> tuple[str, str]:
    """Whose a step between two history entries' metrics is (:func:`edgetiming.stats.repeated.attribute_step`).

    Needs ``per_run`` and ``per_run_sentinel`` (two or more each, same length) on both;
    returns ``("", "")`` otherwise.

    Example
    -------
    >>> b = {"per_run": [10, 10.2, 9.9], "per_run_sentinel": [1.0, 1.02, 0.99]}
    >>> a = {"per_run": [13, 13.3, 12.8], "per_run_sentinel": [1.3, 1.33, 1.28]}
    >>> whose_step(b, a)[0]
    'machine'
    """
    def pair(m: dict[str, Any]) -> tuple[list[float], list[float]] | None:
        v, s = list(m.get("per_run") or ()), list(m.get("per_run_sentinel") or ())
        return (v, s) if len(v) >= 2 and len(v) == len(s) else None

    pb, pa = pair(before), pair(after)
    if pb is None or pa is None:
        return "", ""
    return repeated.attribute_step(pb[0], pb[1], pa[0], pa[1], min_effect=min_effect)


def find_regressions(entries: list[dict[str, Any]], *, min_effect: float = 0.05) -> list[Regression]:
    """Steps up between consecutive OK runs of the same recipe version and mode.

    Each carries its ``cause`` and, where both runs timed the sentinel, ``whose`` step it is
    (:func:`whose_step`); keep those with ``is_regression`` for a
    regression report and show the others as run-to-run variation.
    """
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
            step = _step(before, after)
            if step is None:
                continue
            low, high = step
            if low > 1 + min_effect:
                ratio = after["value"] / before["value"] if before["value"] else float("inf")
                whose, because = whose_step(before, after, min_effect=min_effect)
                found.append(Regression(e["recipe"], name, dict(before, git_sha=prev["git_sha"]),
                                        dict(after, git_sha=e["git_sha"]), ratio, low, high, _cause(prev, e),
                                        whose, because))
    return found


# --------------------------------------------------------------------------- published history
def parse_lines(text: str, *, where: str) -> list[dict[str, Any]]:
    """Entries of one history file, strictly: a bad line raises :class:`HistoryError` naming it."""
    entries, others = _split(text)
    if others:
        number, _, why = others[0]
        fix = ("build with the edgetiming that wrote it, or newer" if why.startswith("schema_version")
               else "restore the file from the previous deployment or remove the line by hand")
        raise HistoryError(f"{where}, line {number}: {why}; {fix}")
    return entries


def write_published(site_docs_dir: Path, histories: dict[str, list[dict[str, Any]]]) -> None:
    """Write ``runners/history/<runner>.jsonl`` and ``index.json`` under a site's docs folder."""
    folder = Path(site_docs_dir) / PUBLISHED_DIR
    folder.mkdir(parents=True, exist_ok=True)
    index = {"schema_version": PUBLISHED_INDEX_VERSION, "runners": {}}
    for runner in sorted(histories):
        store.atomic_write_bytes(folder / f"{runner}.jsonl", _jsonl(histories[runner]).encode("utf-8"))
        index["runners"][runner] = {"file": f"{runner}.jsonl", "entries": len(histories[runner])}
    store.atomic_write_json(folder / "index.json", index)


def _fetch(source: str, relative: str, *, timeout_s: float) -> str | None:
    """The text of ``relative`` under a folder or an http(s) address; None when it does not exist."""
    if source.startswith(("http://", "https://")):
        url = source.rstrip("/") + "/" + relative
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:  # http(s) only: checked above
                return response.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise HistoryError(f"{url}: HTTP {exc.code}; the earlier history could not be read, so this build "
                               "stops rather than publish a shortened history. Retry later") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise HistoryError(f"{url}: {reason}; the earlier history could not be read, so this build stops "
                               "rather than publish a shortened history. Retry later") from None
    path = Path(source) / relative
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8")


def read_published(source: str | Path, *, timeout_s: float = 30.0) -> tuple[dict[str, list[dict[str, Any]]], str]:
    """Every runner's history from a published site (an http(s) address) or a built site folder.

    Returns the histories and a one-line note of what was found. A site
    without ``runners/history/index.json`` (the first deployment) gives no
    history; anything unreadable raises :class:`HistoryError`.
    """
    source = str(source)
    where_index = f"{source.rstrip('/')}/{PUBLISHED_DIR}/index.json"
    text = _fetch(source, f"{PUBLISHED_DIR}/index.json", timeout_s=timeout_s)
    if text is None:
        return {}, f"no earlier history at {where_index} (first deployment?); history starts with this build"
    try:
        index = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HistoryError(f"{where_index}: not JSON ({exc.msg})") from None
    if not isinstance(index, dict) or index.get("schema_version") != PUBLISHED_INDEX_VERSION:
        raise HistoryError(f"{where_index}: schema_version {index.get('schema_version') if isinstance(index, dict) else None!r}, "
                           f"but this edgetiming reads {PUBLISHED_INDEX_VERSION}")
    histories: dict[str, list[dict[str, Any]]] = {}
    for runner, entry in sorted(index.get("runners", {}).items()):
        name = entry.get("file") if isinstance(entry, dict) else None
        if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith("."):
            raise HistoryError(f"{where_index}: runner {runner!r} has no valid 'file'")
        where = f"{source.rstrip('/')}/{PUBLISHED_DIR}/{name}"
        body = _fetch(source, f"{PUBLISHED_DIR}/{name}", timeout_s=timeout_s)
        if body is None:
            raise HistoryError(f"{where}: listed in index.json but missing; the published history is torn, "
                               "restore it from the previous deployment")
        histories[runner] = parse_lines(body, where=where)
    total = sum(len(v) for v in histories.values())
    return histories, f"read {total} earlier history entries of {len(histories)} runner(s) from {source}"
