"""A strict MkDocs build from real fixture bundles; a broken internal link fails it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from edgetiming.results import store
from edgetiming.site import build as site

from ..conftest import FIXTURE_RECIPES, ROOT, make_result


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's site sources, with two fixture recipes as its recipes."""
    proj = tmp_path / "project"
    (proj / "docs" / "guides").mkdir(parents=True)
    shutil.copytree(ROOT / "docs" / "stylesheets", proj / "docs" / "stylesheets")
    shutil.copytree(ROOT / "docs" / "javascripts", proj / "docs" / "javascripts")
    (proj / "docs" / "index.md").write_text("# Home\n\nSee the [guides](guides/index.md).\n")
    (proj / "docs" / "guides" / "index.md").write_text("# Guides\n\nSee the [recipes](../recipes/index.md).\n")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    config["nav"] = [{"Home": "index.md"}, {"Guides": "guides/index.md"}, {"Recipes": "recipes/index.md"},
                     {"Runners": "runners/index.md"}]
    (proj / "mkdocs.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (proj / "recipes").mkdir()
    for name in ("passes.py", "raises.py", "hangs.py"):
        shutil.copyfile(FIXTURE_RECIPES / name, proj / "recipes" / name)
    return proj


def test_strict_build_from_fixture_bundles(project, fixture_run, tmp_path):
    results, _ = fixture_run
    out = tmp_path / "site"
    report = site.build_site(project_dir=project, results_dir=results, site_dir=out, primary_runner="fixture-runner")
    assert report.primary_runner == "fixture-runner" and not report.problems

    page = (out / "recipes" / "passes.html").read_text()
    # the header box: runner, mode, status, version and downloads
    assert 'data-status="OK"' in page and "fixture-runner" in page
    assert 'class="et-mode et-full"' in page
    assert 'href="downloads/passes.py"' in page and 'href="downloads/passes.ipynb"' in page
    assert "n-is-positive" in page  # the SLO checklist
    # the figure measured on the runner, as a file with its alt text, opening full size on click
    assert '<a href="figures/passes/values.png" title="open full size"><img alt="A line rising from 0 to 9000 ns over 10 points"' in page
    assert 'src="figures/passes/values.png"' in page
    assert "No description has been provided" not in page
    assert (out / "recipes" / "downloads" / "passes.py").read_text() == (project / "recipes" / "passes.py").read_text()
    assert '"cells"' in (out / "recipes" / "downloads" / "passes.ipynb").read_text()

    failed = (out / "recipes" / "raises.html").read_text()
    assert 'data-status="FAILED"' in failed and "ZeroDivisionError" in failed

    index = (out / "recipes" / "index.html").read_text()
    assert "TIMEOUT" in index and "FAILED" in index
    runner = (out / "runners" / "fixture-runner.html").read_text()
    # the fingerprint table, with "not available" for what this machine does not expose
    assert "onnxruntime" in runner and "Thermal zones" in runner
    assert ("not available" in runner) == ("not available" in json.dumps(store.read_runner(results / "fixture-runner" / "runner.json")))
    assert (out / "search" / "search_index.js").exists() or (out / "search" / "search_index.json").exists()


def test_stale_result_is_marked(project, fixture_run, tmp_path):
    results, _ = fixture_run
    recipe = project / "recipes" / "passes.py"
    recipe.write_text(recipe.read_text().replace("ax.plot(values)", "ax.plot(values, 'o')"))
    site.build_site(project_dir=project, results_dir=results, site_dir=tmp_path / "s", primary_runner="fixture-runner")
    assert "the recipe changed since this run" in (tmp_path / "s" / "recipes" / "passes.html").read_text()


def test_recipe_without_result_gets_a_page_saying_so(project, fixture_run, tmp_path):
    results, _ = fixture_run
    shutil.copyfile(FIXTURE_RECIPES / "passes.py", project / "recipes" / "never-run.py")
    site.build_site(project_dir=project, results_dir=results, site_dir=tmp_path / "s", primary_runner="fixture-runner")
    assert "no result on runner" in (tmp_path / "s" / "recipes" / "never-run.html").read_text()


def test_broken_internal_link_fails_the_build(project, fixture_run, tmp_path):
    results, _ = fixture_run
    guide = project / "docs" / "guides" / "index.md"
    guide.write_text(guide.read_text() + "\nSee [a page that does not exist](missing-page.md).\n")
    with pytest.raises(site.SiteError, match="mkdocs build --strict failed"):
        site.build_site(project_dir=project, results_dir=results, site_dir=tmp_path / "s", primary_runner="fixture-runner")


def test_unknown_primary_runner_names_the_choices(project, fixture_run, tmp_path):
    results, _ = fixture_run
    with pytest.raises(site.SiteError, match="fixture-runner"):
        site.build_site(project_dir=project, results_dir=results, site_dir=tmp_path / "s", primary_runner="nope")


def test_guides_pull_numbers_figures_and_checks_from_results(project, fixture_run, tmp_path):
    results, _ = fixture_run
    guide = project / "docs" / "guides" / "index.md"
    guide.write_text(
        "# Guides\n\n"
        'We measured {{ metric("passes", "n_values") }} on {{ runner() }}.\n\n'
        '{{ figure("passes", "values") }}\n\n'
        'Check: {{ check("passes", "n-is-positive") }}\n'
    )
    out = tmp_path / "s"
    site.build_site(project_dir=project, results_dir=results, site_dir=out, primary_runner="fixture-runner")
    page = (out / "guides" / "index.html").read_text()
    assert "<strong>10</strong>" in page and "fixture-runner" in page
    assert 'src="../recipes/figures/passes/values.png"' in page
    assert 'alt="A line rising from 0 to 9000 ns over 10 points"' in page
    assert (out / "recipes" / "figures" / "passes" / "values.png").read_bytes().startswith(b"\x89PNG")
    assert "et-verdict et-pass" in page and "n = 10" in page


@pytest.mark.parametrize(
    "placeholder, message",
    [
        ('{{ metric("passes", "p99_ms") }}', "reported no metric 'p99_ms' (it has: n_values)"),
        ('{{ metric("no-such-recipe", "x") }}', "recipe 'no-such-recipe' has no result"),
        ('{{ figure("raises", "x") }}', "ended FAILED"),
    ],
)
def test_missing_metric_fails_the_build_naming_page_and_metric(project, fixture_run, tmp_path, capfd, placeholder, message):
    results, _ = fixture_run
    (project / "docs" / "guides" / "index.md").write_text(f"# Guides\n\n{placeholder}\n")
    with pytest.raises(site.SiteError):
        site.build_site(project_dir=project, results_dir=results, site_dir=tmp_path / "s", primary_runner="fixture-runner")
    err = capfd.readouterr().err
    assert "guides/index.md" in err and message in err


def test_fleet_pages_show_every_runner_checks_and_checklists(project, fixture_run, tmp_path):
    from .test_merge import _copy_runner

    results, _ = fixture_run
    other = tmp_path / "artifacts"
    _copy_runner(results, other, "board-b")
    checklists = project / "docs" / "guides" / "checklists"
    checklists.mkdir()
    (checklists / "pre-deployment.md").write_text(
        "# Pre-deployment\n\n"
        "- [ ] n is positive <!-- evaluates: passes/n-is-positive -->\n"
        "- [ ] The [watchdog](../index.md) is armed\n"
    )
    out = tmp_path / "s"
    report = site.build_site(project_dir=project, results_dir=[results, other], site_dir=out,
                             primary_runner="fixture-runner")
    assert report.problems == []
    overview = (out / "runners" / "index.html").read_text()
    assert "Fleet overview" in overview and "board-b" in overview and "fixture-runner" in overview
    board = (out / "runners" / "board-b.html").read_text()
    assert "Another CPU" in board
    assert "n is positive" in board and "et-verdict et-pass" in board
    assert "The watchdog is armed" in board and "et-verdict et-not_measured" in board
    assert "executed run(s) recorded on this runner" in board


def test_cross_runner_table_lists_each_runners_interval():
    from edgetiming.site import fleet_pages

    def bundle(name, p99, **metric_fields):
        metric = {"value": p99, "unit": "ms", "ci": [p99 * 0.9, p99 * 1.1], "valid": True, "description": "",
                  "state": "valid", **metric_fields}
        result = make_result("r", {"steady.p99_ms": metric}, mode="full" if name == "a" else "quick",
                             recipe_version=name * 16)
        return store.RunnerBundle(name, Path("."), {}, {"r": result})

    html_table = fleet_pages.cross_runner_html("r", [bundle("a", 10.0), bundle("b", 20.0)],
                                               is_stale=lambda r: r.recipe_version == "b" * 16)
    assert '<a href="../runners/a.html">a</a><br><small>full, 2026-11-27</small>' in html_table
    assert '<a href="../runners/b.html">b</a><br><small>quick, 2026-11-27, stale</small>' in html_table
    # one number format on every page: three significant figures, intervals as [low, high]
    assert "10.0 [9.00, 11.0]" in html_table and "20.0 [18.0, 22.0]" in html_table
    assert fleet_pages.cross_runner_html("r", [bundle("a", 10.0)]) == ""
    # a runner with too few samples for an interval at that percentile says so instead of failing the build
    few = bundle("c", 30.0, ci=None)
    assert "30.0 [no interval: too few samples]" in fleet_pages.cross_runner_html("r", [bundle("a", 10.0), few])
    # a metric that is not valid says which state it is in, with the reasons in the tooltip
    shaky = bundle("d", 40.0, state="unstable", reasons=["3 independent runs disagree"])
    cell = fleet_pages.cross_runner_html("r", [bundle("a", 10.0), shaky])
    assert '(<span class="et-state et-state-unstable" title="3 independent runs disagree">unstable</span>)' in cell


def test_history_survives_an_ephemeral_runner_through_the_published_site(project, fixture_run, tmp_path):
    """Build 1 publishes the history; build 2 sees only a fresh runner's bundle, reads build 1's site over
    HTTP, and publishes the union, also for a runner that did not run this time."""
    from edgetiming.results import history
    from edgetiming.run import executor

    from .test_history import _http
    from .test_merge import _copy_runner

    results, _ = fixture_run
    other = tmp_path / "artifacts"
    _copy_runner(results, other, "board-b")
    site1 = tmp_path / "site1"
    site.build_site(project_dir=project, results_dir=[results, other], site_dir=site1, primary_runner="fixture-runner")
    first, _ = history.read_published(site1)
    assert set(first) == {"fixture-runner", "board-b"} and len(first["fixture-runner"]) >= 1

    fresh = tmp_path / "ephemeral"  # a new machine: its results folder starts empty
    executor.run_recipes([project / "recipes" / "passes.py"],
                         executor.RunOptions(results_dir=fresh, runner="fixture-runner", force=True))
    assert len(history.load(fresh / "fixture-runner")) == 1
    site2 = tmp_path / "site2"
    with _http(site1) as url:
        report = site.build_site(project_dir=project, results_dir=fresh, site_dir=site2,
                                 primary_runner="fixture-runner", history_sources=[url])
    assert any("earlier history entries of 2 runner(s)" in n for n in report.history_notes)
    second, _ = history.read_published(site2)
    assert set(second) == {"fixture-runner", "board-b"}
    assert second["board-b"] == first["board-b"]
    assert len(second["fixture-runner"]) == len(first["fixture-runner"]) + 1
    runner_page = (site2 / "runners" / "fixture-runner.html").read_text()
    assert f"{len(second['fixture-runner'])} executed run(s) recorded on this runner" in runner_page


def test_an_unreadable_earlier_history_stops_the_site_build(project, fixture_run, tmp_path):
    from .test_history import _http

    results, _ = fixture_run
    with _http(tmp_path, status=500) as url:
        with pytest.raises(site.SiteError, match="HTTP 500"):
            site.build_site(project_dir=project, results_dir=results, site_dir=tmp_path / "s",
                            primary_runner="fixture-runner", history_sources=[url])
