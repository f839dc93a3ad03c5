"""Run one recipe so that a fault of the environment never leaves a half-written run in the store.

:func:`run_guarded` wraps the executor's run of one recipe:

- before it starts, a model file its parameters name must exist (a deleted model
  would otherwise be run, fail inside the kernel, and replace the previous result
  with a failure that says nothing new);
- an ``OSError`` while it runs (disk full, read-only or unwritable results folder)
  becomes one line that says what failed, where, what was kept and what to do;
  the run folders it created and ``result.json`` does not name are removed, so the
  store holds only complete runs. A folder that cannot be removed is named.

The traceback goes to the ``edgetiming`` logger at DEBUG level
(``edgetiming --debug`` shows it). Other recipes still run.
"""

from __future__ import annotations

import errno
import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from edgetiming.host import envfault
from edgetiming.results import store
from edgetiming.run import recipe as recipes
from edgetiming.workload import models

__all__ = ["kept", "missing_model", "raise_environment_fault", "run_guarded"]

log = logging.getLogger("edgetiming")
T = TypeVar("T")


def kept(bundle_dir: Path) -> str:
    """What the store still holds for this recipe, in words."""
    path = bundle_dir / "result.json"
    if not path.exists():
        return "no earlier result of this recipe on this runner (nothing was stored)"
    try:
        record = store.read_result(path)
    except store.StoreError as exc:
        return f"the earlier {path}, which cannot be read either ({exc.reason or exc})"
    return f"the result of {record['started_at']} ({record['status']}, {record['mode']}) in {path}"


def missing_model(recipe: recipes.Recipe, *, quick: bool, overrides: dict[str, Any]) -> str | None:
    """A parameter naming a model file that does not exist, as a one-line message; None when all exist."""
    try:
        params = recipe.effective_parameters(quick=quick, overrides=overrides)
    except recipes.RecipeError:
        return None  # the executor reports that itself
    for name, value in sorted(params.items()):
        if not models.is_model_reference(value):
            continue
        try:
            models.resolve(value)
        except (FileNotFoundError, ValueError) as exc:
            return (f"{recipe.path}: parameter {name}={value!r}: {exc}; not run, nothing stored; "
                    f"restore the model file or pass --param {name}=<path to an .onnx file>")
    return None


#: errors inside a recipe's kernel that are the machine's, not the recipe's: the run is not stored
_ENVIRONMENT = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}
_ERRNO = re.compile(r"^\[Errno (\d+)\] ([^:]+?)(?:: '(.*)')?$")


def raise_environment_fault(error: dict[str, Any] | None) -> None:
    """Raise the ``OSError`` a recipe's kernel met when it is a full or read-only disk.

    Such a run measured nothing; storing it would replace the previous result with a
    failure of the machine. Raised here, :func:`run_guarded` removes the run folder and
    keeps the previous result.
    """
    if not error or not error.get("evalue") or not str(error.get("ename", "")).endswith("Error"):
        return
    found = _ERRNO.match(str(error["evalue"]))
    if found and int(found.group(1)) in _ENVIRONMENT:
        raise OSError(int(found.group(1)), found.group(2), found.group(3))


def _run_folders(bundle_dir: Path) -> set[str]:
    if not bundle_dir.is_dir():
        return set()
    return {p.name for p in bundle_dir.iterdir() if p.is_dir() and p.name.startswith("run-")}


def _named_run(bundle_dir: Path) -> str | None:
    try:
        return store.read_result(bundle_dir / "result.json")["run_dir"]
    except store.StoreError:
        return None


def _drop_partial(bundle_dir: Path, before: set[str]) -> str:
    """Remove the run folders this attempt created that ``result.json`` does not name; say what happened."""
    named = _named_run(bundle_dir)
    removed, left = [], []
    for name in sorted(_run_folders(bundle_dir) - before - {named}):
        try:
            shutil.rmtree(bundle_dir / name)
            removed.append(name)
        except OSError as exc:
            left.append(f"{bundle_dir / name} ({envfault.what(exc)}; delete it by hand)")
    parts = []
    if removed:
        parts.append(f"removed the partial run folder {', '.join(removed)}")
    if left:
        parts.append(f"could not remove the partial run folder {', '.join(left)}")
    return "; ".join(parts)


def run_guarded(run: Callable[[], T], recipe: recipes.Recipe, *, runner_dir: Path, quick: bool,
                overrides: dict[str, Any], failed: Callable[[str], T]) -> T:
    """``run()``, or ``failed(message)`` for a missing model file or a fault of the environment."""
    bundle_dir = runner_dir / recipe.slug
    missing = missing_model(recipe, quick=quick, overrides=overrides)
    if missing:
        return failed(f"{missing}; kept: {kept(bundle_dir)}")
    before = _run_folders(bundle_dir)
    try:
        return run()
    except OSError as exc:
        log.debug("recipe %s: environment fault", recipe.slug, exc_info=True)
        cleaned = _drop_partial(bundle_dir, before)
        text = envfault.message(exc, doing=f"running {recipe.slug}", where=bundle_dir, kept=kept(bundle_dir),
                                flag="--results DIR")
        return failed(f"{text}{'; ' + cleaned if cleaned else ''}")
