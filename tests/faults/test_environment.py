"""Environment faults during `edgetiming run`: one line, no traceback, the previous result intact."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from edgetiming.results import store

from ..conftest import FIXTURE_RECIPES
from .conftest import (
    cli,
    file_size_limit,
    fill,
    one_line_error,
    read_only,
    small_filesystem,
    snapshot,
    start,
    without_dac_override,
)

PASSES = FIXTURE_RECIPES / "passes.py"


def _bundle(results: Path) -> Path:
    return results / "fx" / "passes"


def _only_named_run(results: Path) -> None:
    """The store holds complete runs only: the one run folder result.json names, nothing half-written."""
    bundle = _bundle(results)
    record = store.read_result(bundle / "result.json", verify=True)
    assert sorted(p.name for p in bundle.iterdir() if p.is_dir()) == [record["run_dir"]]


@pytest.mark.parametrize("free", [0, 12 * 1024], ids=["disk-full-at-start", "disk-full-mid-run"])
def test_full_disk_gives_one_line_and_keeps_the_previous_result(good_run, tmp_path, free):
    mount = tmp_path / "fs"
    with small_filesystem(mount) as mounted:
        if not mounted:
            pytest.skip("cannot mount a tmpfs here; test_file_size_limit_gives_one_line covers the full disk")
        results = mount / "results"
        shutil.copytree(good_run, results)
        before = snapshot(results)
        fill(mount, free)
        done = cli("run", PASSES, "--runner", "fx", "--results", results, "--force")
        os.unlink(mount / "filler.bin")
        assert done.returncode != 0
        err = done.stderr
        assert "Traceback" not in err and "Traceback" not in done.stdout
        line = next(line for line in err.splitlines() if "no space left on the device" in line)
        assert "failed: no space left on the device (" in line
        assert f"kept: the result of {store.read_result(_bundle(good_run) / 'result.json')['started_at']}" in line \
            or "kept: everything already in" in line
        print(line)
        assert "free space on that filesystem (or write elsewhere with --results DIR)" in line
        after = snapshot(results)
        assert {k: v for k, v in after.items() if not k.endswith((".lock", "history.jsonl", "runner.json"))} == \
            {k: v for k, v in before.items() if not k.endswith((".lock", "history.jsonl", "runner.json"))}
        _only_named_run(results)


def test_file_size_limit_gives_one_line(good_run, tmp_path):
    """The full disk where nothing can be mounted: a child whose files may not grow past 2000 bytes."""
    results = tmp_path / "results"
    shutil.copytree(good_run, results)
    before = snapshot(results)
    done = cli("run", PASSES, "--runner", "fx", "--results", results, "--force", preexec=file_size_limit(2000))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "failed: file too large for this filesystem or process limit (" in done.stderr
    assert "kept: the result of " in done.stderr
    assert snapshot(results).keys() >= {k for k in before if not k.endswith(".lock")}
    assert store.read_result(_bundle(results) / "result.json", verify=True) == \
        store.read_result(_bundle(good_run) / "result.json")
    _only_named_run(results)


def test_read_only_results_folder(good_run, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(good_run, results)
    before = snapshot(results)
    with read_only(results) as mounted:
        if not mounted:
            pytest.skip("cannot bind-mount read-only here (needs root); chmod does not stop root")
        done = cli("run", PASSES, "--runner", "fx", "--results", results, "--force")
    line = one_line_error(done.stderr)
    assert done.returncode == 2
    assert line.startswith("error: edgetiming run failed: the folder is on a read-only filesystem (")
    assert f"kept: everything already in {results}/ (nothing was written)" in line
    assert "remount it read-write or write elsewhere with --results DIR" in line
    assert snapshot(results) == before


def test_missing_permission(good_run, tmp_path):
    """No write permission on the runner folder (for root: a child without CAP_DAC_OVERRIDE)."""
    results = tmp_path / "results"
    shutil.copytree(good_run, results)
    before = snapshot(results)
    (results / "fx").chmod(0o555)
    try:
        done = cli("run", PASSES, "--runner", "fx", "--results", results, "--force", preexec=without_dac_override)
    finally:
        (results / "fx").chmod(0o755)
    line = one_line_error(done.stderr)
    assert line.startswith(f"error: edgetiming run failed: permission denied ({results / 'fx'}/")
    assert "give your user write permission there (or write elsewhere with --results DIR)" in line
    assert snapshot(results) == before


def test_deleted_model_file_is_not_run_and_keeps_the_result(tmp_path):
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not a real model: the recipe only names it")
    text = PASSES.read_text().replace('label = "x"\n', f'label = "x"\nmodel_path = "{model}"\n')
    (recipes / "uses-model.py").write_text(text)
    results = tmp_path / "results"
    assert cli("run", recipes / "uses-model.py", "--runner", "fx", "--results", results).returncode == 0
    before = snapshot(results / "fx" / "uses-model")
    model.unlink()
    done = cli("run", recipes / "uses-model.py", "--runner", "fx", "--results", results, "--force")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"parameter model_path='{model}': model file {model} does not exist" in done.stderr
    assert "not run, nothing stored; restore the model file or pass --param model_path=<path to an .onnx file>" \
        in done.stderr
    assert "kept: the result of " in done.stderr
    assert snapshot(results / "fx" / "uses-model") == before


def test_kernel_that_dies_is_one_line_and_other_recipes_complete(tmp_path):
    results = tmp_path / "results"
    done = cli("run", FIXTURE_RECIPES / "kills-kernel.py", PASSES, "--runner", "fx", "--results", results)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "kills-kernel  KERNEL_DIED" in done.stdout and "passes        OK" in done.stdout
    assert "the kernel died while running this cell" in done.stderr
    assert store.read_result(results / "fx" / "passes" / "result.json", verify=True)["status"] == "OK"


def test_debug_shows_the_traceback(good_run, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(good_run, results)
    with read_only(results) as mounted:
        if not mounted:
            pytest.skip("cannot bind-mount read-only here (needs root)")
        done = cli("--debug", "run", PASSES, "--runner", "fx", "--results", results, "--force")
    assert "Traceback" in done.stderr and "OSError: [Errno 30] Read-only file system" in done.stderr
    assert "error: edgetiming run failed: the folder is on a read-only filesystem" in done.stderr


def test_a_second_run_at_the_same_time_is_refused(tmp_path):
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "slow.py").write_text(PASSES.read_text() + '\n# %%\nimport time\ntime.sleep(4)\n')
    results = tmp_path / "results"
    first = start("run", recipes / "slow.py", "--runner", "fx", "--results", results)
    lock = results / "fx" / ".lock"
    deadline = time.monotonic() + 60
    while not list((results / "fx").glob("slow/run-*")) and time.monotonic() < deadline:
        time.sleep(0.1)  # the first run holds the lock and has started its recipe
    second = cli("run", PASSES, "--runner", "fx", "--results", results)
    out, err = first.communicate(timeout=120)
    assert second.returncode == 2
    assert one_line_error(second.stderr) == (
        f"error: another `edgetiming run` holds {lock}: recipes on one runner must not run at the same time; "
        "wait for it to finish (or give this run another --results folder)")
    assert first.returncode == 0, err
    assert store.read_result(results / "fx" / "slow" / "result.json", verify=True)["status"] == "OK"
    assert not (results / "fx" / "passes").exists()
