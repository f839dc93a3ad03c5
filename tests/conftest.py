"""Shared fixtures: fixture recipes are executed once per session, for real."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from edgetiming.results.result import Metric, Result, Status
from edgetiming.run import executor
from edgetiming.run import recipe as recipes
from edgetiming.site import build as site

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


class QuickRuns:
    """Recipes from recipes/ run in quick mode into one results folder, each on first request."""

    def __init__(self, results: Path) -> None:
        self.results = results
        self.outcomes: dict[str, executor.RecipeOutcome] = {}

    def get(self, slug: str) -> executor.RecipeOutcome:
        if slug not in self.outcomes:
            options = executor.RunOptions(results_dir=self.results, runner="quick-runner", quick=True)
            (self.outcomes[slug],) = executor.run_recipes([ROOT / "recipes" / f"{slug}.py"], options)
        return self.outcomes[slug]

    def all(self) -> dict[str, executor.RecipeOutcome]:
        for path in recipes.discover(ROOT / "recipes"):
            self.get(path.stem)
        return self.outcomes


@pytest.fixture(scope="session")
def quick_runs(tmp_path_factory: pytest.TempPathFactory) -> QuickRuns:
    return QuickRuns(tmp_path_factory.mktemp("quick-results"))


@pytest.fixture(scope="session")
def real_site(tmp_path_factory: pytest.TempPathFactory, quick_runs: QuickRuns) -> Path:
    """The real site (guides, recipes, case studies) built strictly from the quick results.

    Set EDGETIMING_TEST_SITE to a site already built that way to iterate on the browser
    tests without re-running every recipe.
    """
    if os.environ.get("EDGETIMING_TEST_SITE"):
        return Path(os.environ["EDGETIMING_TEST_SITE"])
    quick_runs.all()
    results = quick_runs.results
    project = tmp_path_factory.mktemp("project")
    shutil.copytree(ROOT / "docs", project / "docs", ignore=shutil.ignore_patterns(*site.GENERATED_DIRS))
    for name in ("recipes", "case_studies"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, project / name)
    shutil.copyfile(ROOT / "mkdocs.yml", project / "mkdocs.yml")
    out = project / "site"
    # the committed reference bundles join, so cross-runner tables show other machines
    site.build_site(project_dir=project, results_dir=[results, ROOT / "reference"], site_dir=out,
                    primary_runner="quick-runner")
    return out


def make_result(recipe: str = "r", metrics: dict | None = None, **fields) -> Result:
    """A small, schema-valid :class:`Result` for tests of the pages; ``fields`` override any field."""
    values = {
        "recipe": recipe, "recipe_version": "0" * 16, "title": recipe, "runner": "test-runner",
        "runner_identity_sha256": "0" * 64, "status": Status.OK, "mode": "full", "parameters": {},
        "started_at": "2026-11-27T07:00:00+00:00", "duration_s": 1.0, "git": {"sha": None, "dirty": None},
        "packages": {}, "python": "3.11", "cache_key": "0" * 64,
        "cache_inputs": {k: "0" for k in ("recipe_version", "edgetiming_source", "packages", "models",
                                           "runner_identity")},
        "models": {}, "run_dir": "run-test", "notebook": {"path": "notebook.ipynb", "sha256": "0" * 64},
        "metrics": {name: m if isinstance(m, Metric) else Metric.from_dict(m) for name, m in (metrics or {}).items()},
    }
    values.update(fields)
    return Result(**values)
