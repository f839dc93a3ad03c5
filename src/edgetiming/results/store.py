"""The results store: one bundle per (runner, recipe), written so a crash never tears it.

Layout::

    results/<runner>/runner.json                 fingerprint of the runner
    results/<runner>/<recipe>/result.json        the commit point of the bundle
    results/<runner>/<recipe>/<run_id>/...       notebook.ipynb, figures/, samples/

A run writes everything into a fresh ``<run_id>/`` folder first, then replaces
``result.json`` atomically (temp file, fsync, rename, fsync of the folder).
``result.json`` only ever names files of its own run, so a reader sees the old
bundle or the new one, never a mix. Run folders no longer named by
``result.json`` are removed after the commit; one left behind by a crash is
harmless and goes at the next write.

Every record carries ``schema_version``; a version this code does not know is
refused with a message saying what to do, never guessed at.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from edgetiming.host.fingerprint import RUNNER_SCHEMA_VERSION
from edgetiming.results import damage

__all__ = [
    "RESULT_SCHEMA_VERSION",
    "RunnerBundle",
    "StoreError",
    "atomic_write_bytes",
    "atomic_write_json",
    "load_results_dir",
    "merge_results_dirs",
    "read_result",
    "read_runner",
    "remove_stale_runs",
    "schema",
    "validate_record",
    "verify_files",
    "write_result",
]

RESULT_SCHEMA_VERSION = 2  # 2: three states with reasons (stats.validity); 1 still loads
_KNOWN = {"result": {1, RESULT_SCHEMA_VERSION}, "runner": {RUNNER_SCHEMA_VERSION}}


class StoreError(Exception):
    """A record on disk that cannot be used; the message names the file and the fix.

    ``path`` and ``reason`` name the unusable file and what is wrong with it, where known,
    so a loader can report it as :class:`~edgetiming.results.damage.Damage`.
    """

    def __init__(self, message: str, *, path: Path | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.reason = reason


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` holds either the old or the new content."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_json(path: str | Path, record: dict[str, Any]) -> None:
    """Atomically write a JSON record (sorted keys, no NaN)."""
    text = json.dumps(record, indent=2, sort_keys=True, allow_nan=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


@lru_cache(maxsize=None)
def schema(kind: str) -> dict[str, Any]:
    """The JSON Schema for ``"result"`` or ``"runner"`` records."""
    text = resources.files("edgetiming.results").joinpath(f"schemas/{kind}.schema.json").read_text("utf-8")
    return json.loads(text)


def validate_record(kind: str, record: dict[str, Any], *, where: str) -> None:
    """Check version and schema; raise :class:`StoreError` naming ``where`` and the field."""
    version = record.get("schema_version") if isinstance(record, dict) else None
    if version not in _KNOWN[kind]:
        known = ", ".join(str(v) for v in sorted(_KNOWN[kind]))
        raise StoreError(
            f"{where}: schema_version {version!r} is not one this edgetiming understands ({known}); "
            "re-run the recipe with this version (`edgetiming run --force`) or upgrade edgetiming",
            path=Path(where), reason=f"schema_version {version!r} is not one this edgetiming understands ({known})",
        )
    validator = jsonschema.Draft202012Validator(schema(kind))
    errors = sorted(validator.iter_errors(record), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        field_path = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise StoreError(f"{where}: field {field_path}: {err.message}", path=Path(where),
                         reason=f"fails its schema: field {field_path}: {err.message}")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"{path}: missing; run `edgetiming run` to create it", path=path, reason="missing") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = damage.json_reason(exc) if isinstance(exc, json.JSONDecodeError) else damage.decode_reason(exc)
        raise StoreError(f"{path}: {reason}; restore it from git or re-run the recipe", path=path,
                         reason=reason) from None


def read_result(path: str | Path, *, verify: bool = False) -> dict[str, Any]:
    """Read and validate a ``result.json``; with ``verify``, also check every file's sha256."""
    path = Path(path)
    record = _read_json(path)
    validate_record("result", record, where=str(path))
    if verify:
        verify_files(path.parent, record)
    return record


def read_runner(path: str | Path) -> dict[str, Any]:
    """Read and validate a ``runner.json``."""
    path = Path(path)
    record = _read_json(path)
    validate_record("runner", record, where=str(path))
    return record


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _named_files(record: dict[str, Any]) -> list[dict[str, Any]]:
    files = []
    if record.get("notebook"):
        files.append(record["notebook"])
    files.extend(record.get("figures", []))
    files.extend(record.get("samples", []))
    return files


def verify_files(bundle_dir: str | Path, record: dict[str, Any]) -> None:
    """Raise :class:`StoreError` when a file the record names is missing or was edited."""
    bundle_dir = Path(bundle_dir)
    run_dir = bundle_dir / record["run_dir"]
    for entry in _named_files(record):
        target = run_dir / entry["path"]
        if not target.is_file():
            raise StoreError(f"{target}: missing, but {bundle_dir / 'result.json'} names it; re-run the recipe",
                             path=target, reason=f"missing, but {bundle_dir / 'result.json'} names it")
        if _sha256(target) != entry["sha256"]:
            raise StoreError(
                f"{target}: sha256 differs from the one recorded in {bundle_dir / 'result.json'}: "
                "the file was edited after the run; re-run the recipe instead of editing results",
                path=target, reason=f"sha256 differs from the one recorded in {bundle_dir / 'result.json'} "
                                    "(edited or damaged after the run)",
            )


def write_result(bundle_dir: str | Path, record: dict[str, Any]) -> None:
    """Validate, then commit ``result.json`` atomically, then drop other run folders."""
    bundle_dir = Path(bundle_dir)
    validate_record("result", record, where=str(bundle_dir / "result.json"))
    verify_files(bundle_dir, record)
    atomic_write_json(bundle_dir / "result.json", record)
    remove_stale_runs(bundle_dir, keep=record["run_dir"])


def remove_stale_runs(bundle_dir: Path, *, keep: str | None) -> None:
    """Delete run folders that ``result.json`` does not name (left by older runs or crashes)."""
    if not bundle_dir.is_dir():
        return
    for child in bundle_dir.iterdir():
        if child.is_dir() and child.name.startswith("run-") and child.name != keep:
            shutil.rmtree(child, ignore_errors=True)
        elif child.name.startswith(".result.json.") and child.name.endswith(".tmp"):
            child.unlink(missing_ok=True)


@dataclass
class RunnerBundle:
    """Everything one runner produced: its fingerprint and one result per recipe."""

    runner: str
    path: Path
    fingerprint: dict[str, Any]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: recipe -> the runner folder its result was read from (several after a merge)
    sources: dict[str, Path] = field(default_factory=dict)

    def bundle_dir(self, recipe: str) -> Path:
        return self.sources.get(recipe, self.path) / recipe


def load_results_dir(results_dir: str | Path, *, verify: bool = True) -> tuple[list[RunnerBundle], list[str]]:
    """Load every runner bundle under ``results_dir``.

    Returns the bundles and a list of problems (one message per unusable file);
    an unusable file is skipped so the other results still load.
    """
    results_dir = Path(results_dir)
    bundles: list[RunnerBundle] = []
    problems: list[str] = []
    if not results_dir.is_dir():
        return bundles, [f"{results_dir}: no results folder; run `edgetiming run` first"]
    for runner_dir in sorted(p for p in results_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            fingerprint = read_runner(runner_dir / "runner.json")
        except StoreError as exc:
            problems.append(_damage(exc, "runner", runner_dir.name, None, results_dir))
            continue
        if fingerprint["runner"] != runner_dir.name:
            problems.append(
                f"{runner_dir / 'runner.json'}: names runner {fingerprint['runner']!r} but lies in "
                f"folder {runner_dir.name!r}; move it to results/{fingerprint['runner']}/"
            )
            continue
        bundle = RunnerBundle(runner=runner_dir.name, path=runner_dir, fingerprint=fingerprint)
        for result_path in sorted(runner_dir.glob("*/result.json")):
            try:
                record = read_result(result_path, verify=verify)
            except StoreError as exc:
                problems.append(_damage(exc, "result", runner_dir.name, result_path.parent.name, results_dir))
                continue
            bundle.results[record["recipe"]] = record
            bundle.sources[record["recipe"]] = runner_dir
        bundles.append(bundle)
    return bundles, problems


def _damage(exc: StoreError, kind: str, runner: str, recipe: str | None, results_dir: Path) -> str:
    """A loader's problem for an unusable file: a :class:`damage.Damage` where the file is known."""
    if exc.path is None or exc.reason is None:
        return str(exc)
    kind = "samples" if kind == "result" and exc.path.name != "result.json" else kind
    def shown(p: Path) -> Path:  # as a user would type it
        return p.relative_to(Path.cwd()) if p.is_absolute() and p.is_relative_to(Path.cwd()) else p

    path = shown(exc.path)
    return damage.Damage(path, exc.reason, damage.restore_hint(path, runner=runner, recipe=recipe,
                                                               results_dir=shown(results_dir)),
                         kind=kind, runner=runner, recipe=recipe)


def _result_rank(record: dict[str, Any]) -> tuple[bool, str, str]:
    """Which of two results of one runner and recipe a merged site shows: a full run over a
    quick one (a preview never hides a measurement), then the newer, then the cache key."""
    return (record["mode"] == "full", record["started_at"], record["cache_key"])


def merge_results_dirs(results_dirs: list[Path], *, verify: bool = True) -> tuple[list[RunnerBundle], list[str]]:
    """Union of the bundles in several results folders (local results plus downloaded artifacts).

    Keyed by runner, then by recipe. The outcome does not depend on the order of
    ``results_dirs`` and merging a folder twice changes nothing. When two
    folders hold different results for the same runner and recipe, a full run
    is kept over a quick one, then the newer run (by start time, then cache key,
    so the choice is deterministic)
    and the conflict is reported; two fingerprints under one runner name are
    reported too.
    """
    merged: dict[str, RunnerBundle] = {}
    problems: list[str] = []
    for results_dir in sorted({Path(d).resolve() for d in results_dirs}):
        bundles, found = load_results_dir(results_dir, verify=verify)
        problems.extend(found)
        for bundle in bundles:
            have = merged.get(bundle.runner)
            if have is None:
                merged[bundle.runner] = RunnerBundle(
                    bundle.runner, bundle.path, bundle.fingerprint, dict(bundle.results), dict(bundle.sources))
                continue
            if have.fingerprint["identity_sha256"] != bundle.fingerprint["identity_sha256"]:
                problems.append(
                    f"runner {bundle.runner!r}: {have.path} and {bundle.path} hold different fingerprints "
                    "under one name; give each machine its own --runner name"
                )
            for slug, record in bundle.results.items():
                old = have.results.get(slug)
                if old is not None and old["cache_key"] == record["cache_key"] and old["run_dir"] == record["run_dir"]:
                    continue  # the same run seen twice
                if old is not None:
                    keep_new = _result_rank(record) > _result_rank(old)
                    kept = record if keep_new else old
                    problems.append(
                        f"conflict: runner {bundle.runner!r}, recipe {slug!r} has two different results "
                        f"({old['started_at']} in {have.sources[slug]} and {record['started_at']} in {bundle.path}); "
                        f"showing the {'full' if old['mode'] != record['mode'] else 'newer'} one ({kept['mode']}, {kept['started_at']})"
                    )
                    if not keep_new:
                        continue
                have.results[slug] = record
                have.sources[slug] = bundle.path
    return [merged[name] for name in sorted(merged)], problems
