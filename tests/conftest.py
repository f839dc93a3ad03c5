"""Shared fixtures: fixture recipes are executed once per session, for real."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgetiming import executor

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_RECIPES = Path(__file__).resolve().parent / "fixtures" / "recipes"


@pytest.fixture(scope="session")
def fixture_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, executor.RecipeOutcome]]:
    """Every fixture recipe run once, in one invocation, into a fresh results folder."""
    results = tmp_path_factory.mktemp("results")
    paths = sorted(FIXTURE_RECIPES.glob("*.py"))
    outcomes = executor.run_recipes(paths, executor.RunOptions(results_dir=results, runner="fixture-runner"))
    return results, {o.recipe: o for o in outcomes}


@pytest.fixture
def recipe_copy(tmp_path: Path):
    """Copy a fixture recipe into a fresh folder so a test may edit it."""

    def make(name: str) -> Path:
        folder = tmp_path / "recipes"
        folder.mkdir(exist_ok=True)
        target = folder / name
        shutil.copyfile(FIXTURE_RECIPES / name, target)
        return target

    return make
