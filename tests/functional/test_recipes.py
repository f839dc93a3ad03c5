"""Every recipe in recipes/ runs in quick mode, like sphinx-gallery's examples.

A recipe must either run OK here or be listed in EXPECTED_TO_FAIL with the
reason; a recipe that is neither makes the suite fail.
"""

from __future__ import annotations

import pytest

from edgetiming.results import store
from edgetiming.run import recipe as recipes

from ..conftest import ROOT

RECIPES_DIR = ROOT / "recipes"
#: slug -> why it cannot pass here. Empty: every recipe must pass.
EXPECTED_TO_FAIL: dict[str, str] = {}
ALL = [p.stem for p in recipes.discover(RECIPES_DIR)]


def test_every_recipe_is_run_or_listed():
    listed = set(EXPECTED_TO_FAIL)
    assert listed <= set(ALL), f"EXPECTED_TO_FAIL names recipes that do not exist: {listed - set(ALL)}"
    assert ALL, "no recipes found"


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("slug", ALL)
def test_recipe_runs_in_quick_mode(slug: str, quick_runs):
    path = RECIPES_DIR / f"{slug}.py"
    outcome = quick_runs.get(slug)
    if slug in EXPECTED_TO_FAIL:
        assert outcome.status in ("FAILED", "TIMEOUT", "KERNEL_DIED"), outcome.detail
        return
    assert outcome.status == "OK", outcome.detail
    record = store.read_result(outcome.result_path, verify=True)
    assert record["mode"] == "quick"
    assert record["figures"], "a recipe shows at least one figure measured on the runner"
    assert record["checks"], "a recipe ends with an SLO checklist evaluated on the runner"
    assert all(f["alt"].strip() for f in record["figures"])
    # issue 21: the headline measurement is drawn with the machine's noise (latency in time, the
    # sentinel units, the strip of other work), and the figure says what other work held
    noise = [f for f in record["figures"] if f["name"] == "noise" or f["name"].endswith("-noise")]
    assert noise, f"{slug} draws no noise figure (edgetiming.measure.noise.figure) under its headline"
    assert all("of the measured CPUs" in f["alt"] for f in noise), [f["alt"] for f in noise]
    # the conclusion is computed: the executed notebook has outputs in its last code cells
    recipe = recipes.load(path)
    assert recipe.quick, f"{path} has no quick budgets in its edgetiming header"
