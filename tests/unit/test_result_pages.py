"""What the recipe pages show of a typed result: the run's own parameters, each metric's state."""

from __future__ import annotations

import html
import re
from pathlib import Path

from edgetiming.results.result import Metric, Result
from edgetiming.run import recipe as recipes
from edgetiming.site import build
from edgetiming.stats.validity import State

from ..conftest import FIXTURE_RECIPES, make_result


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_run_it_yourself_shows_the_parameters_of_the_run_shown():
    recipe = recipes.load(FIXTURE_RECIPES / "passes.py")
    assert recipe.defaults == {"n": 10, "label": "x"}
    full = make_result("passes", parameters={"n": 250, "label": "board"})
    box = _text(build._run_yourself_html(recipe, full, "downloads/passes-r.zip"))
    assert "--param 'n=250'" in box and "--param label='board'" in box
    assert "n=10" not in box and "--quick" not in box
    quick = make_result("passes", parameters={"n": 3, "label": "x"}, mode="quick")
    box = _text(build._run_yourself_html(recipe, quick, "downloads/passes-r.zip"))
    assert "--runner my-board --quick" in box and "--param 'n=3'" in box


def _metrics(**states: Metric) -> Result:
    return make_result("r", dict(states))


def test_metric_table_shows_intervals_and_a_one_word_state_with_reasons():
    result = _metrics(
        p99_ms=Metric(12.5, "ms", ci=(11.0, 14.25), ci_within=(11.5, 13.0), ci_between=(11.0, 14.25), runs=3,
                      n=1000, state=State.UNSTABLE,
                      reasons=("3 independent runs disagree",)),
        count=Metric(3),
    )
    table = build.metrics_table_html(result.metrics)
    text = _text(table)
    assert "12.5 ms" in text and "[11.0, 14.2] ms" in text and "within-run [11.5, 13.0] ms" in text
    assert "between-run [11.0, 14.2] ms (3 runs)" in text and "1,000" in text
    assert '<span class="et-state et-state-unstable" title="3 independent runs disagree">unstable</span>' in table
    assert '<li id="et-reason-1">3 independent runs disagree</li>' in table  # the footnote
    # a unitless value has no trailing space, and a valid metric has no footnote
    assert "<td>3</td>" in table and '<span class="et-state et-state-valid">valid</span>' in table
    assert table.count("et-reason-") == 2  # one marker, one footnote


def test_a_version_1_bundle_is_labelled_with_the_old_rule():
    legacy = make_result("r", {"p99_ms": {"value": 12.5, "unit": "ms", "valid": False, "note": "CV 14% > 10%"}})
    header = build._header_html(legacy, stale=False, runner_href="../runners/r.html", downloads={})
    assert "Reported metrics (judged under the old rule (CV &gt; 10% invalid))" in header
    assert ">invalid</span>" in header and "CV 14% &gt; 10%; judged under the old rule" in header
    current = make_result("r", {"p99_ms": {"value": 12.5, "unit": "ms", "state": "valid"}})
    assert "old rule" not in build._header_html(current, stale=False, runner_href="x", downloads={})


def test_the_home_page_index_carries_the_result_itself(tmp_path):
    result = make_result("r", {"p99_ms": {"value": 12.5, "unit": "ms", "state": "valid"}})
    entry = build._index_entry(result, Path(tmp_path), tmp_path, "recipes/r.ipynb")
    assert Result.from_dict(entry["result"]) == result and entry["page"] == "recipes/r.ipynb"
