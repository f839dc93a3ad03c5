"""The committed reference bundles: valid, intact, small, from machines that differ, and a strict site from them alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgetiming.results import history, store
from edgetiming.site import build as site

from ..conftest import ROOT

REFERENCE = ROOT / "reference"
MAX_NOTEBOOK_BYTES = 1 << 20
MAX_FILE_BYTES = 2 << 20
MAX_TOTAL_BYTES = 24 << 20


def test_every_bundle_loads_with_schemas_and_sha256_checked():
    bundles, problems = store.load_results_dir(REFERENCE, verify=True)
    assert problems == []
    assert len(bundles) >= 2
    for bundle in bundles:
        assert bundle.results, f"{bundle.runner}: no results"
        for slug, record in bundle.results.items():
            assert record["runner"] == bundle.runner and record["status"] in ("OK", "EXPECTED_FAILURE")
            assert record["runner_identity_sha256"] == bundle.fingerprint["identity_sha256"]
        history.parse_lines((bundle.path / history.HISTORY_FILE).read_text(), where=f"{bundle.runner} history")


def test_the_machines_differ_in_hardware():
    bundles, _ = store.load_results_dir(REFERENCE)
    identities = {b.fingerprint["identity_sha256"] for b in bundles}
    cores = {b.fingerprint["cpu"]["logical_cores"] for b in bundles}
    assert len(identities) == len(bundles) and len(cores) >= 2


def test_bundles_are_small():
    files = [p for p in REFERENCE.rglob("*") if p.is_file()]
    assert not [p for p in files if p.name == ".lock"], "copy bundles without the runner lock file"
    for path in files:
        limit = MAX_NOTEBOOK_BYTES if path.suffix == ".ipynb" else MAX_FILE_BYTES
        assert path.stat().st_size <= limit, f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes"
        if path.parent.name == "samples":
            assert path.name.endswith(".gz"), f"{path}: samples are stored compressed"
    assert sum(p.stat().st_size for p in files) <= MAX_TOTAL_BYTES
    # each recipe keeps only the run its result.json names
    for result in REFERENCE.glob("*/*/result.json"):
        runs = [p.name for p in result.parent.iterdir() if p.is_dir()]
        assert runs == [json.loads(result.read_text())["run_dir"]]


def test_the_primary_reference_runner_exists():
    primary = json.loads((REFERENCE / "reference.json").read_text())["primary"]
    assert (REFERENCE / primary / "runner.json").is_file()


@pytest.mark.slow
def test_the_pull_request_site_builds_strictly_from_the_reference_bundles_alone(tmp_path):
    """What pull-request.yml runs: no recipe executes, every page comes from committed bundles."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "docs", project / "docs", ignore=shutil.ignore_patterns(*site.GENERATED_DIRS))
    for name in ("recipes", "case_studies"):
        shutil.copytree(ROOT / name, project / name)
    shutil.copyfile(ROOT / "mkdocs.yml", project / "mkdocs.yml")
    primary = json.loads((REFERENCE / "reference.json").read_text())["primary"]
    out = project / "site"
    report = site.build_site(project_dir=project, results_dir=[REFERENCE], site_dir=out, primary_runner=primary,
                             strict=True)
    assert report.claims == []  # every guide claim holds on the primary runner
    bundles, _ = store.load_results_dir(REFERENCE)
    assert sorted(report.history_runners) == sorted(b.runner for b in bundles)
    fleet = (out / "runners" / "index.html").read_text()
    for bundle in bundles:
        assert (out / "runners" / f"{bundle.runner}.html").is_file() and bundle.runner in fleet
    # a recipe both machines ran: its cross-runner table has a row per machine with its own numbers
    both = sorted(set.intersection(*(set(b.results) for b in bundles)))
    assert both
    page = (out / "recipes" / f"{both[0]}.html").read_text()
    table = page[page.index("et-cross-runner"):]
    table = table[:table.index("</table>")]
    for bundle in bundles:
        assert bundle.runner in table


def test_site_and_serve_default_to_local_results_plus_the_reference_bundles(tmp_path, monkeypatch):
    import argparse

    from edgetiming import cli
    from edgetiming.host import fingerprint

    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(results=None, primary=None, project=str(ROOT))
    assert cli._results_dirs(args) == [Path("results"), ROOT / "reference"]
    # this host has not run anything yet: the reference set's primary runner is shown
    assert cli._primary(args) == json.loads((REFERENCE / "reference.json").read_text())["primary"]
    (tmp_path / "results" / fingerprint.default_runner_name()).mkdir(parents=True)
    assert cli._primary(args) is None  # the site then picks this host's runner
    explicit = argparse.Namespace(results=["artifacts"], primary=None, project=str(ROOT))
    assert cli._results_dirs(explicit) == [Path("artifacts")] and cli._primary(explicit) is None
    bare = argparse.Namespace(results=None, primary=None, project=str(tmp_path))
    assert cli._results_dirs(bare) == [Path("results")]
