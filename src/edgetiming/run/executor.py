"""``edgetiming run``: execute recipes on this runner and write their results bundles.

Each recipe runs in a fresh Jupyter kernel (nbclient), in a scratch working
directory, one after another (recipes on one runner never overlap: they would
disturb each other's timings). A per-cell and a per-recipe timeout stop a
hang; a dead kernel is reported as such; a failure never stops the other
recipes. Results go through :mod:`edgetiming.results.store`, which never leaves a torn
bundle. Nothing here depends on MkDocs.
"""

from __future__ import annotations

import fcntl
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from edgetiming.host import fingerprint
from edgetiming.measure import selftest
from edgetiming.measure.ortlog import ORT_LOG_SEVERITY_ENV
from edgetiming.results import history, report, store
from edgetiming.results.result import Metric, Result, Status
from edgetiming.run import cache, guard
from edgetiming.run import recipe as recipes

__all__ = [
    "DEFAULT_TIMEOUT_CELL_S",
    "DEFAULT_TIMEOUT_RECIPE_S",
    "FAILING_STATUSES",
    "LOG_FILE",
    "RecipeOutcome",
    "RunOptions",
    "run_recipes",
]

#: the kernel's own output (onnxruntime's C++ log, the kernel's messages) in the run folder, not on the console
LOG_FILE = "kernel.log"
#: onnxruntime's severity inside a recipe run: warnings and above, into :data:`LOG_FILE`
ORT_LOG_SEVERITY_IN_LOG = 2
DEFAULT_TIMEOUT_CELL_S = 600.0
DEFAULT_TIMEOUT_RECIPE_S = 1200.0
#: Statuses that make ``edgetiming run`` exit non-zero.
FAILING_STATUSES = frozenset(s for s in Status if s.failing)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class RunOptions:
    """How to run: where results go, which runner, which mode, which overrides."""

    results_dir: Path = Path("results")
    runner: str | None = None
    quick: bool = False
    force: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)
    timeout_cell_s: float | None = None
    timeout_recipe_s: float | None = None
    kernel_name: str = "python3"
    #: seconds of `edgetiming selftest` to run before the recipes (stored as selftest.json); None: none
    selftest_s: float | None = None


@dataclass
class RecipeOutcome:
    """What happened to one recipe in this invocation."""

    recipe: str
    path: Path
    status: Status
    duration_s: float = 0.0
    detail: str = ""
    result_path: Path | None = None

    @property
    def failed(self) -> bool:
        return Status(self.status).failing


class Progress:
    """Receives progress events; the CLI's display subclasses it. Does nothing by default."""

    def start(self, plan: list[tuple[str, float]]) -> None: ...
    def recipe_started(self, index: int, slug: str, n_cells: int) -> None: ...
    def cell_started(self, index: int, cell: int) -> None: ...
    def recipe_finished(self, index: int, outcome: RecipeOutcome) -> None: ...
    def finish(self) -> None: ...


def _git_info(where: Path) -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    sha = git("rev-parse", "HEAD")
    status = git("status", "--porcelain")
    return {"sha": sha, "dirty": None if sha is None or status is None else bool(status)}


class _RunnerLock:
    """An exclusive lock per runner folder, so two runs never time recipes at once."""

    def __init__(self, runner_dir: Path) -> None:
        runner_dir.mkdir(parents=True, exist_ok=True)
        self.path = runner_dir / ".lock"
        self.fh = open(self.path, "a+")  # noqa: SIM115 - held for the lock's lifetime

    def __enter__(self) -> _RunnerLock:
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.close()
            raise RuntimeError(
                f"another `edgetiming run` holds {self.path}: recipes on one runner must not run at the "
                "same time; wait for it to finish (or give this run another --results folder)"
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def _previous(bundle_dir: Path) -> Result | None:
    path = bundle_dir / "result.json"
    if not path.exists():
        return None
    try:
        return Result.load(path, verify=True)
    except store.StoreError:
        return None


def run_recipes(paths: list[Path], options: RunOptions, progress: Progress | None = None) -> list[RecipeOutcome]:
    """Run each recipe (or reuse its cached bundle); return one outcome per recipe, in order."""
    progress = progress or Progress()
    fp = fingerprint.collect(options.runner)
    runner = fp["runner"]
    runner_dir = Path(options.results_dir) / runner
    outcomes: list[RecipeOutcome] = []
    with _RunnerLock(runner_dir):
        store.atomic_write_json(runner_dir / "runner.json", fp)
        if options.selftest_s:
            # the machine's noise at the time of this run, shown on the runner page
            selftest.write_json(selftest.run_selftest(options.selftest_s), runner_dir / "selftest.json")
        packages = cache.package_versions()
        git = _git_info(paths[0].resolve().parent if paths else Path.cwd())
        loaded: list[recipes.Recipe | recipes.RecipeError] = []
        plan: list[tuple[str, float]] = []
        for path in paths:
            try:
                recipe = recipes.load(path)
            except recipes.RecipeError as exc:
                loaded.append(exc)
                plan.append((path.stem, 0.0))
                continue
            loaded.append(recipe)
            previous = _previous(runner_dir / recipe.slug)
            mode = "quick" if options.quick else "full"
            if previous and previous.mode == mode:
                estimate = previous.duration_s
            else:
                estimate = recipe.expected_duration_s or 60.0
                estimate = min(estimate, 20.0) if options.quick else estimate
            plan.append((recipe.slug, estimate))
        progress.start(plan)
        for index, (path, item) in enumerate(zip(paths, loaded)):
            if isinstance(item, recipes.RecipeError):
                outcome = RecipeOutcome(path.stem, path, Status.FAILED, detail=str(item))
            else:  # a missing model or a full/read-only disk: one line, no half-written run left
                outcome = guard.run_guarded(
                    lambda item=item: _run_one(item, index, options, fp, packages, git, runner_dir, progress),
                    item, runner_dir=runner_dir, quick=options.quick, overrides=options.overrides,
                    failed=lambda text, item=item, path=path: RecipeOutcome(item.slug, path, Status.FAILED,
                                                                          detail=text))
            outcomes.append(outcome)
            progress.recipe_finished(index, outcome)
        progress.finish()
    return outcomes


def _run_one(
    recipe: recipes.Recipe,
    index: int,
    options: RunOptions,
    fp: dict[str, Any],
    packages: dict[str, str],
    git: dict[str, Any],
    runner_dir: Path,
    progress: Progress,
) -> RecipeOutcome:
    """Reuse the recipe's stored result when its cache key is current; otherwise run it and store a new one."""
    bundle_dir = runner_dir / recipe.slug
    try:
        params = recipe.effective_parameters(quick=options.quick, overrides=options.overrides)
    except recipes.RecipeError as exc:
        return RecipeOutcome(recipe.slug, recipe.path, Status.FAILED, detail=str(exc))
    inputs = _CacheInputs.of(recipe, params, packages, fp)
    previous = _previous(bundle_dir)
    cached = None if options.force else _cached_outcome(recipe, previous, inputs.key, bundle_dir)
    if cached is not None:
        return cached
    store.remove_stale_runs(bundle_dir, keep=previous.run_dir if previous else None)
    run = _execute_in_run_folder(recipe, params, index, options, bundle_dir, progress)
    result = _make_result(recipe, run, inputs, options, fp, packages, git, runner_dir.name)
    try:
        result.write(bundle_dir)
    except store.StoreError as exc:
        shutil.rmtree(run.run_dir, ignore_errors=True)
        return RecipeOutcome(recipe.slug, recipe.path, Status.FAILED, run.duration_s, detail=f"result not stored: {exc}")
    history.append(runner_dir, result)
    return RecipeOutcome(recipe.slug, recipe.path, result.status, run.duration_s, _detail(recipe, result),
                         bundle_dir / "result.json")


@dataclass(frozen=True)
class _CacheInputs:
    """What the cache key of one recipe run is made of, and the key."""

    version: str
    params: dict[str, Any]
    models: dict[str, Any]
    key: str
    key_inputs: dict[str, str]

    @classmethod
    def of(cls, recipe: recipes.Recipe, params: dict[str, Any], packages: dict[str, str],
           fp: dict[str, Any]) -> _CacheInputs:
        version = recipe.version(params)
        models = cache.model_files(params)
        key, key_inputs = cache.cache_key(recipe_version=version, packages=packages, model_info=models,
                                          runner_identity=fp["identity_sha256"])
        return cls(version, params, models, key, key_inputs)


def _cached_outcome(recipe: recipes.Recipe, previous: Result | None, key: str, bundle_dir: Path) -> RecipeOutcome | None:
    """The CACHED outcome when the stored result has this cache key and ended in a reusable status."""
    if previous is None or previous.cache_key != key or not previous.status.reusable:
        return None
    return RecipeOutcome(
        recipe.slug, recipe.path, Status.CACHED, previous.duration_s,
        detail=f"unchanged since {previous.started_at} ({previous.status})",
        result_path=bundle_dir / "result.json",
    )


@dataclass
class _Run:
    """One execution of a recipe's notebook into a fresh run folder."""

    run_dir: Path
    started: datetime
    duration_s: float
    nb: nbformat.NotebookNode
    error: dict[str, Any] | None


def _execute_in_run_folder(recipe: recipes.Recipe, params: dict[str, Any], index: int, options: RunOptions,
                           bundle_dir: Path, progress: Progress) -> _Run:
    """Run the notebook in a scratch working folder; its reports and log land in a fresh run folder."""
    started = datetime.now(timezone.utc)
    run_dir = bundle_dir / ("run-" + started.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8])
    run_dir.mkdir(parents=True)
    nb = recipe.notebook_for_run(params)
    t0 = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix=f"edgetiming-{recipe.slug}-"))
    try:
        error = _execute(recipe, nb, _cell_map(recipe, nb), options, run_dir, workdir, bundle_dir.parent.name,
                         index, progress)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    guard.raise_environment_fault(error)  # a full or read-only disk inside the kernel: keep the previous result
    return _Run(run_dir, started, time.monotonic() - t0, nb, error)


def _status_of(recipe: recipes.Recipe, error: dict[str, Any] | None) -> Status:
    if recipe.expected_failure:
        return Status.UNEXPECTED_PASS if error is None else Status.EXPECTED_FAILURE
    return Status.OK if error is None else Status(error["kind"])


def _make_result(recipe: recipes.Recipe, run: _Run, inputs: _CacheInputs, options: RunOptions, fp: dict[str, Any],
                 packages: dict[str, str], git: dict[str, Any], runner: str) -> Result:
    """The result of a run: what the recipe reported, the executed notebook, and the run's provenance."""
    reported = _collect_reports(run.run_dir)
    _figures_as_files(run.nb, reported.figures, run.run_dir)
    nb_bytes = (nbformat.writes(run.nb) + "\n").encode("utf-8")
    (run.run_dir / "notebook.ipynb").write_bytes(nb_bytes)
    return Result(
        recipe=recipe.slug,
        recipe_version=inputs.version,
        title=recipe.title,
        runner=runner,
        runner_identity_sha256=fp["identity_sha256"],
        status=_status_of(recipe, run.error),
        mode="quick" if options.quick else "full",
        parameters=inputs.params,
        started_at=run.started.isoformat(timespec="seconds"),
        duration_s=round(run.duration_s, 3),
        git=git,
        packages={k: v for k, v in packages.items() if k != "python"},
        python=packages["python"],
        cache_key=inputs.key,
        cache_inputs=inputs.key_inputs,
        models=inputs.models,
        run_dir=run.run_dir.name,
        notebook={"path": "notebook.ipynb", "sha256": _sha256_bytes(nb_bytes)},
        metrics=reported.metrics,
        figures=reported.figures,
        samples=reported.samples,
        checks=reported.checks,
        error=run.error,
        expected_failure=recipe.expected_failure,
    )


def _detail(recipe: recipes.Recipe, result: Result) -> str:
    if result.status is Status.UNEXPECTED_PASS:
        return f"listed as expected to fail ({recipe.expected_failure}) but passed; remove expected_failure"
    return "" if result.error is None else result.error["message"]


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cell_map(recipe: recipes.Recipe, nb: nbformat.NotebookNode) -> list[int | None]:
    """For each cell of the run notebook, the index of the same cell in the recipe (None if injected)."""
    mapping: list[int | None] = []
    original = 0
    for cell in nb.cells:
        if recipes.INJECTED_TAG in cell.metadata.get("tags", []):
            mapping.append(None)
        else:
            mapping.append(original)
            original += 1
    return mapping


def _execute(
    recipe: recipes.Recipe,
    nb: nbformat.NotebookNode,
    cell_map: list[int | None],
    options: RunOptions,
    run_dir: Path,
    workdir: Path,
    runner: str,
    index: int,
    progress: Progress,
) -> dict[str, Any] | None:
    """Run the notebook in place; return None on success or an error record."""
    cell_timeout = options.timeout_cell_s or recipe.timeout_cell_s or DEFAULT_TIMEOUT_CELL_S
    recipe_timeout = options.timeout_recipe_s or recipe.timeout_recipe_s or DEFAULT_TIMEOUT_RECIPE_S
    env = dict(os.environ)
    env.update({
        report.OUTPUT_ENV: str(run_dir.resolve()),
        "EDGETIMING_MODE": "quick" if options.quick else "full",
        "EDGETIMING_RUNNER": runner,
        "EDGETIMING_RECIPE": recipe.slug,
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        # onnxruntime's warnings go to the log file below, never to the console (measure.session)
        ORT_LOG_SEVERITY_ENV: str(ORT_LOG_SEVERITY_IN_LOG),
    })
    client = NotebookClient(
        nb,
        kernel_name=options.kernel_name,
        resources={"metadata": {"path": str(workdir)}},
        allow_errors=False,
        record_timing=True,
        shutdown_kernel="immediate",
        # the kernel talks to us over localhost TCP; its warning about that is noise in every run
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    )
    deadline = time.monotonic() + recipe_timeout
    progress.recipe_started(index, recipe.slug, len(nb.cells))
    current: int | None = None
    try:
        with open(run_dir / LOG_FILE, "ab") as log, client.setup_kernel(env=env, cwd=str(workdir), stdout=log,
                                                                        stderr=log):
            for i, cell in enumerate(nb.cells):
                current = i
                if cell.cell_type != "code":
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return _error(recipe, cell_map, i, "TIMEOUT",
                                  f"the recipe ran past its {recipe_timeout:g} s timeout before cell {i}")
                progress.cell_started(index, i)
                limit = min(cell_timeout, remaining)
                client.timeout = max(1, int(limit + 0.999))
                try:
                    client.execute_cell(cell, i)
                except CellTimeoutError:
                    which = "cell" if cell_timeout <= remaining else "recipe"
                    limit_s = cell_timeout if which == "cell" else recipe_timeout
                    return _error(recipe, cell_map, i, "TIMEOUT",
                                  f"stopped by the {limit_s:g} s per-{which} timeout; raise it with "
                                  f"--timeout-{which} or the recipe's edgetiming.timeout_{which}_s")
    except CellExecutionError as exc:
        return _error(recipe, cell_map, current, "FAILED", f"{exc.ename}: {exc.evalue}",
                      ename=exc.ename, evalue=exc.evalue, traceback=_excerpt(str(exc.traceback)))
    except DeadKernelError as exc:
        return _error(recipe, cell_map, current, "KERNEL_DIED",
                      f"the kernel died while running this cell ({exc}); look for a crash or an os._exit/kill "
                      f"(the kernel's own output is in {run_dir / LOG_FILE})")
    except CellTimeoutError:
        return _error(recipe, cell_map, current, "TIMEOUT", "stopped by a timeout")
    except RuntimeError as exc:
        # nbclient reports a kernel that dies at start-up or between cells as RuntimeError
        kind = "KERNEL_DIED" if "kernel" in str(exc).lower() else "FAILED"
        return _error(recipe, cell_map, current, kind, str(exc))
    return None


def _excerpt(text: str, max_lines: int = 30) -> str:
    lines = _ANSI.sub("", text).splitlines()
    return "\n".join(lines[-max_lines:])


def _error(
    recipe: recipes.Recipe, cell_map: list[int | None], run_index: int | None, kind: str, message: str, **extra: Any
) -> dict[str, Any]:
    original = cell_map[run_index] if run_index is not None and run_index < len(cell_map) else None
    line = recipe.cell_lines[original] if original is not None and original < len(recipe.cell_lines) else None
    where = f"{recipe.path}:{line}" if line else f"{recipe.path} cell {original}"
    if original is None and run_index is not None:
        where = f"{recipe.path} (the injected parameters cell)"
    return {
        "kind": kind,
        "message": f"{where}: {message}",
        "cell_index": original,
        "cell_line": line,
        "ename": extra.get("ename"),
        "evalue": extra.get("evalue"),
        "traceback": extra.get("traceback"),
    }


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash: the rest is still usable
    return records


def _figures_as_files(nb: nbformat.NotebookNode, figures: list[dict[str, Any]], run_dir: Path) -> None:
    """Store each reported figure once: its inline PNG becomes an image link to ``figures/<name>.png``.

    The figure file is already in the bundle, next to the notebook; keeping the
    base64 copy too doubled every bundle's size. The output keeps its
    ``edgetiming_figure`` metadata, so the site still finds it, and Jupyter
    shows the image from the file when the bundle is opened where it was
    unpacked. A figure whose file is missing keeps its inline PNG.
    """
    by_name = {f["name"]: f for f in figures}
    for output, name in report.figure_outputs(nb):
        fig = by_name.get(name)
        if fig is None or "image/png" not in output.get("data", {}) or not (run_dir / fig["path"]).is_file():
            continue
        alt = html.escape(fig["alt"], quote=True)
        output["data"] = {"text/html": f'<img src="{fig["path"]}" alt="{alt}">', "text/plain": fig["alt"]}


@dataclass
class _Reported:
    """What a recipe reported through :mod:`edgetiming.results.report` (last value of each name wins)."""

    metrics: dict[str, Metric]
    figures: list[dict[str, Any]]
    samples: list[dict[str, Any]]
    checks: list[dict[str, Any]]


def _collect_reports(run_dir: Path) -> _Reported:
    """Gather what the recipe reported, then remove the report files from the run folder."""

    def latest(filename: str) -> dict[str, dict[str, Any]]:
        return {rec["name"]: rec for rec in _read_jsonl(run_dir / filename)}

    metrics = {name: Metric.from_dict(rec) for name, rec in latest(report.METRICS_FILE).items()}
    reported = _Reported(metrics, list(latest(report.FIGURES_FILE).values()),
                         list(latest(report.SAMPLES_FILE).values()), list(latest(report.CHECKS_FILE).values()))
    for filename in (report.METRICS_FILE, report.FIGURES_FILE, report.SAMPLES_FILE, report.CHECKS_FILE):
        (run_dir / filename).unlink(missing_ok=True)
    return reported
