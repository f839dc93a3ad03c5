"""Recipes: jupytext percent notebooks, their parameters and their version.

A recipe is ``recipes/<slug>.py``. Its first markdown cell starts with the
title. One code cell tagged ``parameters`` (``# %% tags=["parameters"]``)
holds every knob a reader may change, as plain literal assignments. The
jupytext header may carry an ``edgetiming`` block under ``jupyter:``::

    # ---
    # jupyter:
    #   edgetiming:
    #     quick: {n_samples: 200}        # parameters for --quick
    #     timeout_cell_s: 120            # per-cell timeout
    #     timeout_recipe_s: 600          # whole-recipe timeout
    #     expected_duration_s: 60        # full run, for the progress display
    #     expected_failure: "why"        # the recipe is known to fail
    # ---

The executor injects a cell right after the parameters cell that assigns the
effective values (quick mode and ``--param`` overrides), as papermill does.
The recipe's version is a hash of its code cells and its effective parameters.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jupytext
import nbformat

__all__ = [
    "Recipe",
    "RecipeError",
    "discover",
    "load",
    "parse_param_override",
]

INJECTED_TAG = "injected-parameters"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_META_KEYS = {"quick", "timeout_cell_s", "timeout_recipe_s", "expected_duration_s", "expected_failure"}


class RecipeError(Exception):
    """A recipe file that cannot be run as written; the message names the file, cell and fix."""


@dataclass
class Recipe:
    """A loaded recipe: its notebook, default parameters and settings from its metadata."""

    path: Path
    slug: str
    title: str
    notebook: nbformat.NotebookNode
    parameters_cell: int
    defaults: dict[str, Any]
    quick: dict[str, Any] = field(default_factory=dict)
    timeout_cell_s: float | None = None
    timeout_recipe_s: float | None = None
    expected_duration_s: float | None = None
    expected_failure: str | None = None
    cell_lines: list[int | None] = field(default_factory=list)

    def effective_parameters(self, *, quick: bool, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """Defaults, then the quick budgets, then the command line's overrides."""
        params = dict(self.defaults)
        if quick:
            params.update(self.quick)
        for name, value in (overrides or {}).items():
            if name not in self.defaults:
                known = ", ".join(sorted(self.defaults)) or "(none)"
                raise RecipeError(
                    f"{self.path}: --param {name}=... names no parameter of this recipe; "
                    f"its parameters are: {known}"
                )
            params[name] = value
        return params

    def version(self, params: dict[str, Any]) -> str:
        """16 hex digits of sha256 over the code cells and the effective parameters."""
        digest = hashlib.sha256()
        for cell in self.notebook.cells:
            if cell.cell_type == "code":
                digest.update(cell.source.encode("utf-8"))
                digest.update(b"\0")
        digest.update(json.dumps(params, sort_keys=True).encode("utf-8"))
        return digest.hexdigest()[:16]

    def notebook_for_run(self, params: dict[str, Any]) -> nbformat.NotebookNode:
        """A copy of the notebook with the effective parameters injected after the parameters cell."""
        nb = nbformat.from_dict(json.loads(json.dumps(self.notebook)))
        changed = {k: v for k, v in params.items() if self.defaults.get(k, object()) != v or k not in self.defaults}
        if changed:
            lines = ["# Parameters injected by edgetiming run"]
            lines += [f"{name} = {value!r}" for name, value in changed.items()]
            cell = nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": [INJECTED_TAG]})
            nb.cells.insert(self.parameters_cell + 1, cell)
        nb.nbformat, nb.nbformat_minor = 4, 5
        for i, cell in enumerate(nb.cells):
            cell["id"] = f"cell-{i}"
        return nb


def discover(recipes_dir: str | Path) -> list[Path]:
    """Every ``*.py`` recipe in a folder, sorted by name (files starting with ``_`` are skipped)."""
    folder = Path(recipes_dir)
    if not folder.is_dir():
        raise RecipeError(f"{folder}: no such folder; pass recipe paths or run from the project root")
    return sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))


def _cell_start_lines(text: str, n_cells: int) -> list[int | None]:
    """1-based line of each cell's ``# %%`` marker, when the markers account for every cell."""
    lines = text.splitlines()
    start = 0
    if lines and lines[0].strip() == "# ---":
        for i in range(1, len(lines)):
            if lines[i].strip() == "# ---":
                start = i + 1
                break
    markers = [i + 1 for i in range(start, len(lines)) if lines[i].startswith("# %%")]
    if len(markers) == n_cells:
        return list(markers)
    return [None] * n_cells


def load(path: str | Path) -> Recipe:
    """Read a recipe and check its structure; raise :class:`RecipeError` with the fix."""
    path = Path(path)
    slug = path.stem
    if not _SLUG.match(slug):
        raise RecipeError(f"{path}: recipe file names must be lower-case slugs like 'my-recipe.py'")
    try:
        text = path.read_text(encoding="utf-8")
        nb = jupytext.reads(text, fmt="py:percent")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: cannot read ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - jupytext raises many kinds
        raise RecipeError(f"{path}: not a jupytext percent notebook ({exc})") from None

    title = _title(path, nb)
    index = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if len(index) != 1:
        raise RecipeError(
            f"{path}: expected exactly one code cell tagged parameters (`# %% tags=[\"parameters\"]`), "
            f"found {len(index)}"
        )
    cell_lines = _cell_start_lines(text, len(nb.cells))
    defaults = _literal_assignments(path, nb.cells[index[0]].source, cell_lines[index[0]])

    meta = nb.metadata.get("edgetiming", {}) or {}
    unknown = set(meta) - _META_KEYS
    if unknown:
        raise RecipeError(
            f"{path}: unknown key(s) {', '.join(sorted(unknown))} in the jupytext header's edgetiming block; "
            f"allowed: {', '.join(sorted(_META_KEYS))}"
        )
    quick = dict(meta.get("quick") or {})
    for name in quick:
        if name not in defaults:
            raise RecipeError(f"{path}: edgetiming.quick sets {name!r}, which is not in the parameters cell")
    return Recipe(
        path=path,
        slug=slug,
        title=title,
        notebook=nb,
        parameters_cell=index[0],
        defaults=defaults,
        quick=quick,
        timeout_cell_s=_positive(path, meta, "timeout_cell_s"),
        timeout_recipe_s=_positive(path, meta, "timeout_recipe_s"),
        expected_duration_s=_positive(path, meta, "expected_duration_s"),
        expected_failure=meta.get("expected_failure"),
        cell_lines=cell_lines,
    )


def _positive(path: Path, meta: dict[str, Any], key: str) -> float | None:
    value = meta.get(key)
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise RecipeError(f"{path}: edgetiming.{key} must be a positive number of seconds, got {value!r}")
    return float(value)


def _title(path: Path, nb: nbformat.NotebookNode) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
            if first.startswith("# "):
                return first[2:].strip()
            break
    raise RecipeError(f"{path}: the first markdown cell must start with the title as '# Title'")


def _literal_assignments(path: Path, source: str, first_line: int | None) -> dict[str, Any]:
    where = f"{path}:{first_line}" if first_line else str(path)
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise RecipeError(f"{where}: the parameters cell does not parse: {exc.msg}") from None
    params: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value_node = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            target, value_node = node.target.id, node.value
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a docstring-like comment string
        else:
            raise RecipeError(
                f"{where}: the parameters cell may only hold assignments like `deadline_ms = 50.0` "
                f"(line {node.lineno} of the cell is not one)"
            )
        try:
            params[target] = ast.literal_eval(value_node)
        except ValueError:
            raise RecipeError(
                f"{where}: parameter {target!r} must be a literal (number, string, list, dict, bool, None); "
                "compute derived values in a later cell"
            ) from None
    return params


def parse_param_override(text: str) -> tuple[str, Any]:
    """Parse ``name=value`` from the command line; the value is a Python literal or a plain string."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise RecipeError(f"--param {text!r}: expected NAME=VALUE, for example --param deadline_ms=20")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return name, value
