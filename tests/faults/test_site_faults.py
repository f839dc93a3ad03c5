"""`edgetiming site` under faults: a damaged result is shown as such, and the previous site survives
a failed build and a SIGKILL at random points (the site is swapped in with renames)."""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import pytest
import yaml

from edgetiming.results import damage
from edgetiming.site import build as site

from ..conftest import FIXTURE_RECIPES, ROOT
from .conftest import cli, kill_group, snapshot, start

GUIDE = ('# Guides\n\nWe measured {{ metric("passes", "n_values") }}.\n\n'
         'Check: {{ check("passes", "n-is-positive") }}\n')


def _project(where: Path) -> Path:
    """The smallest site the tests build: home, one guide citing ``passes``, the ``passes`` recipe."""
    proj = where / "project"
    (proj / "docs" / "guides").mkdir(parents=True)
    for name in ("stylesheets", "javascripts"):
        shutil.copytree(ROOT / "docs" / name, proj / "docs" / name)
    (proj / "docs" / "index.md").write_text("# Home\n\nSee the [guides](guides/index.md).\n")
    (proj / "docs" / "guides" / "index.md").write_text(GUIDE)
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    config["nav"] = [{"Home": "index.md"}, {"Guides": "guides/index.md"}, {"Recipes": "recipes/index.md"},
                     {"Runners": "runners/index.md"}]
    (proj / "mkdocs.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (proj / "web").symlink_to(ROOT / "web")  # onnxruntime-web for the "Run it on this device" assets
    (proj / "recipes").mkdir()
    shutil.copyfile(FIXTURE_RECIPES / "passes.py", proj / "recipes" / "passes.py")
    return proj


@pytest.fixture(scope="module")
def good_site(tmp_path_factory, good_run):
    """A project and its site built from the good run, with how long the build took."""
    where = tmp_path_factory.mktemp("site")
    proj = _project(where)
    t0 = time.monotonic()
    site.build_site(project_dir=proj, results_dir=good_run, site_dir=where / "site", primary_runner="fx")
    return proj, where / "site", time.monotonic() - t0


def test_damaged_result_is_shown_named_and_refused_by_strict(good_run, good_site, tmp_path):
    proj, _, _ = good_site
    results = tmp_path / "results"
    shutil.copytree(good_run, results)
    path = results / "fx" / "passes" / "result.json"
    path.write_bytes(path.read_bytes()[:300])
    proj = shutil.copytree(proj, tmp_path / "project")
    out = tmp_path / "site"
    report = site.build_site(project_dir=proj, results_dir=results, site_dir=out, primary_runner="fx")
    (found,) = [p for p in report.problems if isinstance(p, damage.Damage)]
    assert found.path == path
    page = (out / "recipes" / "passes.html").read_text()
    assert "Result damaged" in page and str(path) in page and "truncated JSON at byte 300" in page
    assert "edgetiming run recipes/passes.py --runner fx" in page
    assert "result damaged" in (out / "recipes" / "index.html").read_text()
    guide = (out / "guides" / "index.html").read_text()
    assert guide.count("result damaged") == 2 and str(path) in guide
    assert "run `edgetiming run" not in guide
    before = snapshot(out)
    done = cli("site", "--project", proj, "--results", results, "--primary", "fx", "--out", out, "--strict")
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: {path}: damaged: truncated JSON at byte 300")
    assert snapshot(out) == before


def test_failed_build_leaves_the_previous_site(good_run, good_site, tmp_path):
    proj, built, _ = good_site
    proj = shutil.copytree(proj, tmp_path / "project")
    out = shutil.copytree(built, tmp_path / "site")
    before = snapshot(out)
    guide = proj / "docs" / "guides" / "index.md"
    guide.write_text(guide.read_text() + "\nSee [a page that does not exist](missing-page.md).\n")
    with pytest.raises(site.SiteError, match=f"The previous site in {out} is unchanged"):
        site.build_site(project_dir=proj, results_dir=good_run, site_dir=out, primary_runner="fx")
    assert snapshot(out) == before
    assert sorted(p.name for p in out.parent.iterdir() if p.name.startswith(".site.")) == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_killed_site_build_leaves_a_whole_site(good_run, good_site, tmp_path, seed):
    """SIGKILL at a seeded random moment of `edgetiming site`: the old site or the new one, never a mix."""
    proj, built, seconds = good_site
    proj = shutil.copytree(proj, tmp_path / "project")
    out = shutil.copytree(built, tmp_path / "site")
    before = snapshot(out)
    (proj / "docs" / "index.md").write_text("# Home\n\nA new home page. See the [guides](guides/index.md).\n")
    delay = random.Random(seed).uniform(0.3, min(seconds, 8.0))  # mostly mid-build; bounded for the budget
    proc = start("site", "--project", proj, "--results", good_run, "--primary", "fx", "--out", out)
    time.sleep(delay)
    kill_group(proc)
    after = snapshot(out)
    if after != before:  # the build finished before the kill: the whole new site
        assert after.keys() == before.keys()
        assert b"A new home page" in after["index.html"]
    if seed != 1:
        return
    # the next build cleans what the killed one left and completes (once: a build takes ~15 s)
    done = cli("site", "--project", proj, "--results", good_run, "--primary", "fx", "--out", out)
    assert done.returncode == 0, done.stderr
    assert b"A new home page" in (out / "index.html").read_bytes()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".site.")] == []


def test_publish_uploads_only_a_site_whose_build_succeeded():
    """The workflow's uploads run only after the site step succeeded, and that step is --strict."""
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "publish.yml").read_text())
    steps = wf["jobs"]["build"]["steps"]
    build = next(i for i, s in enumerate(steps) if "./scripts/site" in s.get("run", ""))
    assert "--strict" in steps[build]["run"]
    uploads = [i for i, s in enumerate(steps) if "upload" in s.get("uses", "")]
    assert uploads and all(i > build for i in uploads)
    for step in steps:
        assert "if" not in step and "continue-on-error" not in step, step
