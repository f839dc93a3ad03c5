"""The cache key covers the measurement-side code only: a site edit re-runs nothing, a stats edit re-runs all."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgetiming.run import cache
from edgetiming.run import recipe as recipes

PACKAGE = Path(cache.__file__).resolve().parent.parent
RECIPES = PACKAGE.parent.parent / "recipes"


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    """A copy of the edgetiming source that :func:`cache.edgetiming_source_hash` hashes instead."""
    root = tmp_path / "edgetiming"
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "__file__", str(root / "run" / "cache.py"))
    cache._hash_tree.cache_clear()
    yield root
    cache._hash_tree.cache_clear()


def _keys() -> dict[str, str]:
    """Every recipe's cache key with its default parameters, on one fixed runner and package set."""
    cache._hash_tree.cache_clear()  # the copy was edited since the last hash
    packages = {"python": "3.11.0", "onnxruntime": "1.0"}
    keys = {}
    for path in recipes.discover(RECIPES):
        recipe = recipes.load(path)
        params = recipe.effective_parameters(quick=False, overrides={})
        keys[recipe.slug], _ = cache.cache_key(recipe_version=recipe.version(params), packages=packages,
                                               model_info=cache.model_files(params), runner_identity="f" * 64)
    return keys


def _edit(path: Path) -> None:
    path.write_text(path.read_text(encoding="utf-8") + "\n# an edit\n", encoding="utf-8")


def test_a_site_or_case_study_edit_changes_no_recipe_key(package_copy):
    before = _keys()
    assert len(before) >= 10  # every recipe of the project was keyed
    _edit(package_copy / "site" / "build.py")
    _edit(package_copy / "site" / "mkdocs_hooks.py")
    _edit(package_copy / "casestudies" / "pages.py")
    _edit(package_copy / "cli.py")
    assert _keys() == before


@pytest.mark.parametrize("module", ["stats/quantiles.py", "stats/validity.py", "measure/closedloop.py",
                                    "run/executor.py", "results/report.py"])
def test_a_measurement_side_edit_changes_every_recipe_key(package_copy, module):
    before = _keys()
    _edit(package_copy / module)
    after = _keys()
    assert after.keys() == before.keys()
    assert [slug for slug in before if after[slug] == before[slug]] == []
