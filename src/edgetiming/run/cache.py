"""The cache key: a recipe re-runs only when something that can change its result changed.

The key is sha256 over five parts, each kept in ``result.json`` under
``cache_inputs`` so a reader can see which one changed:

- ``recipe_version``: the recipe's code cells and effective parameters;
- ``edgetiming_source``: every file of the installed ``edgetiming`` package;
- ``packages``: the versions of the packages that shape a timing;
- ``models``: the sha256 of every model file the parameters name;
- ``runner_identity``: the stable part of the runner's fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import platform
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from edgetiming.workload import models

__all__ = ["KEY_PACKAGES", "cache_key", "edgetiming_source_hash", "model_files", "package_versions"]

#: Packages whose version can change what a recipe measures or renders into its bundle.
KEY_PACKAGES = (
    "edgetiming",
    "onnxruntime",
    "onnx",
    "numpy",
    "scipy",
    "pandas",
    "matplotlib",
    "rapidocr-onnxruntime",
    "opencv-python",
    "ruptures",
    "mlcommons-loadgen",
    "nbclient",
    "ipykernel",
    "jupytext",
)


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str]:
    """Installed version of each package, ``"not installed"`` where absent, plus Python's."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@lru_cache(maxsize=None)
def _hash_tree(root: str) -> str:
    digest = hashlib.sha256()
    base = Path(root)
    for path in sorted(base.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".json", ".typed"):
            digest.update(path.relative_to(base).as_posix().encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


# What a measurement depends on: the layers a recipe executes, plus the
# recipe-facing report and figure modules. The site, case-study and command-line
# code render results and never change them, so editing them re-runs nothing.
MEASUREMENT_SOURCES = ("stats", "host", "workload", "measure", "run",
                       "results/report.py", "results/figures", "results/schemas")


def edgetiming_source_hash() -> str:
    """sha256 over the measurement-side source of ``edgetiming`` (:data:`MEASUREMENT_SOURCES`)."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for part in MEASUREMENT_SOURCES:
        path = package / part
        digest.update(part.encode() + b"\0")
        digest.update((_hash_tree(str(path)) if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()).encode())
    return digest.hexdigest()


def model_files(params: dict[str, Any]) -> dict[str, dict[str, str]]:
    """For each parameter that names a model, its reference, resolved file and sha256.

    A reference that does not resolve is left out here; the recipe itself then
    fails with the resolver's message, which names the parameter's value.
    """
    found: dict[str, dict[str, str]] = {}
    for name, value in sorted(params.items()):
        if not models.is_model_reference(value):
            continue
        try:
            path = models.resolve(value)
        except (FileNotFoundError, ValueError):
            continue
        found[name] = {"reference": value, "file": path.name, "sha256": _file_sha256(str(path), path.stat().st_mtime_ns)}
    return found


@lru_cache(maxsize=64)
def _file_sha256(path: str, mtime_ns: int) -> str:  # mtime in the key so an edited file is re-hashed
    return models.sha256_file(path)


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def cache_key(
    *, recipe_version: str, packages: dict[str, str], model_info: dict[str, dict[str, str]], runner_identity: str,
    source_hash: str | None = None,
) -> tuple[str, dict[str, str]]:
    """The cache key and its named parts."""
    inputs = {
        "recipe_version": recipe_version,
        "edgetiming_source": source_hash or edgetiming_source_hash(),
        "packages": _sha(packages),
        "models": _sha({k: v["sha256"] for k, v in model_info.items()}),
        "runner_identity": runner_identity,
    }
    return _sha(inputs), inputs
