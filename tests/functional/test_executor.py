"""The executor on fixture recipes that pass, raise, hang, kill their kernel, and fail as expected."""

from __future__ import annotations

import json

import pytest

from edgetiming import cli
from edgetiming.results import report, store
from edgetiming.run import executor


def test_each_fixture_gets_its_status(fixture_run):
    _, outcomes = fixture_run
    assert {name: o.status for name, o in outcomes.items()} == {
        "passes": "OK",
        "raises": "FAILED",
        "hangs": "TIMEOUT",
        "kills-kernel": "KERNEL_DIED",
        "expected-failure": "EXPECTED_FAILURE",
        "unexpected-pass": "UNEXPECTED_PASS",
    }


def test_failure_names_recipe_cell_line_and_exception(fixture_run):
    results, outcomes = fixture_run
    detail = outcomes["raises"].detail
    assert "tests/fixtures/recipes/raises.py:10" in detail or "raises.py:10" in detail
    assert "ZeroDivisionError" in detail
    record = store.read_result(results / "fixture-runner" / "raises" / "result.json", verify=True)
    assert record["error"]["cell_line"] == 10
    assert record["error"]["ename"] == "ZeroDivisionError"
    assert "1 / divisor" in record["error"]["traceback"]


def test_timeout_and_dead_kernel_are_told_apart(fixture_run):
    _, outcomes = fixture_run
    assert "per-cell timeout" in outcomes["hangs"].detail
    assert "kernel died" in outcomes["kills-kernel"].detail


def test_every_bundle_validates_against_the_schemas(fixture_run):
    results, outcomes = fixture_run
    runner_dir = results / "fixture-runner"
    fp = store.read_runner(runner_dir / "runner.json")
    assert fp["runner"] == "fixture-runner"
    for name in outcomes:
        record = store.read_result(runner_dir / name / "result.json", verify=True)
        assert record["recipe"] == name
        assert record["runner_identity_sha256"] == fp["identity_sha256"]
        # the executed notebook is kept, even for a failure
        nb = json.loads((runner_dir / name / record["run_dir"] / "notebook.ipynb").read_text())
        assert nb["cells"]


def test_reported_metrics_figures_samples_and_checks_are_collected(fixture_run):
    results, _ = fixture_run
    bundle = results / "fixture-runner" / "passes"
    record = store.read_result(bundle / "result.json", verify=True)
    assert record["metrics"]["n_values"]["value"] == 10
    (figure,) = record["figures"]
    assert figure["alt"] == "A line rising from 0 to 9000 ns over 10 points"
    png = (bundle / record["run_dir"] / figure["path"]).read_bytes()
    assert png.startswith(b"\x89PNG")
    (samples,) = record["samples"]
    data = report.decode_samples((bundle / record["run_dir"] / samples["path"]).read_bytes())
    assert data.tolist() == [i * 1000 for i in range(10)]
    assert record["checks"] == [{"name": "n-is-positive", "verdict": "PASS", "detail": "n = 10", "link": ""}]
    # the report's scratch files are not left in the bundle
    assert not list((bundle / record["run_dir"]).glob("*.jsonl"))


def test_quick_mode_and_param_overrides(recipe_copy, tmp_path):
    path = recipe_copy("passes.py")
    results = tmp_path / "results"
    (outcome,) = executor.run_recipes([path], executor.RunOptions(results_dir=results, runner="r", quick=True))
    record = store.read_result(outcome.result_path)
    assert (outcome.status, record["mode"], record["parameters"]["n"]) == ("OK", "quick", 3)
    options = executor.RunOptions(results_dir=results, runner="r", overrides={"n": 5, "label": "y"})
    (outcome,) = executor.run_recipes([path], options)
    record = store.read_result(outcome.result_path)
    assert (record["mode"], record["parameters"]) == ("full", {"n": 5, "label": "y"})
    assert record["metrics"]["n_values"]["value"] == 5
    # the injected cell is in the executed notebook, right after the parameters cell
    nb = json.loads((outcome.result_path.parent / record["run_dir"] / "notebook.ipynb").read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1 and "n = 5" in "".join(injected[0]["source"])


def test_unknown_param_is_refused_with_the_known_ones(recipe_copy, tmp_path):
    path = recipe_copy("passes.py")
    options = executor.RunOptions(results_dir=tmp_path / "results", runner="r", overrides={"nn": 1})
    (outcome,) = executor.run_recipes([path], options)
    assert outcome.status == "FAILED"
    assert "--param nn=... names no parameter" in outcome.detail and "label, n" in outcome.detail


def test_recipe_timeout_stops_a_recipe_whose_cells_are_each_within_limits(recipe_copy, tmp_path):
    path = recipe_copy("hangs.py")
    options = executor.RunOptions(results_dir=tmp_path / "results", runner="r", timeout_cell_s=60, timeout_recipe_s=2)
    (outcome,) = executor.run_recipes([path], options)
    assert outcome.status == "TIMEOUT"
    assert "per-recipe timeout" in outcome.detail


def test_broken_recipe_file_is_reported_and_others_still_run(tmp_path, recipe_copy):
    good = recipe_copy("passes.py")
    bad = good.parent / "no-params.py"
    bad.write_text("# %% [markdown]\n# # No parameters\n\n# %%\nx = 1\n")
    outcomes = executor.run_recipes([bad, good], executor.RunOptions(results_dir=tmp_path / "r", runner="r"))
    assert [o.status for o in outcomes] == ["FAILED", "OK"]
    assert "exactly one code cell tagged parameters" in outcomes[0].detail


def test_cli_exit_code_and_summary(recipe_copy, tmp_path, capsys):
    good = recipe_copy("passes.py")
    raising = recipe_copy("raises.py")
    code = cli.main(["run", str(good), str(raising), "--results", str(tmp_path / "r"), "--runner", "cli"])
    out = capsys.readouterr()
    assert code == 1
    assert "raises  FAILED" in out.out and "passes  OK" in out.out
    assert "ZeroDivisionError" in out.err
    assert cli.main(["run", str(good), "--results", str(tmp_path / "r"), "--runner", "cli"]) == 0
    assert "CACHED" in capsys.readouterr().out


def test_two_runs_on_one_runner_never_overlap(tmp_path, recipe_copy):
    path = recipe_copy("passes.py")
    runner_dir = tmp_path / "r" / "solo"
    with executor._RunnerLock(runner_dir):
        with pytest.raises(RuntimeError, match="must not run at the same time"):
            executor.run_recipes([path], executor.RunOptions(results_dir=tmp_path / "r", runner="solo"))


def test_a_figure_is_stored_once_as_a_file_the_notebook_links_to(fixture_run):
    results, _ = fixture_run
    record = store.read_result(results / "fixture-runner" / "passes" / "result.json", verify=True)
    run_dir = results / "fixture-runner" / "passes" / record["run_dir"]
    (fig,) = record["figures"]
    nb = json.loads((run_dir / "notebook.ipynb").read_text())
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])
               if o.get("metadata", {}).get("image/png", {}).get("edgetiming_figure") == fig["name"]]
    assert len(outputs) == 1
    assert "image/png" not in outputs[0]["data"]
    html_out = outputs[0]["data"]["text/html"]  # nbformat may store a string as a list of lines
    html_out = "".join(html_out) if isinstance(html_out, list) else html_out
    assert html_out == f'<img src="{fig["path"]}" alt="{fig["alt"]}">'
    assert (run_dir / fig["path"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "image/png" not in json.dumps([o.get("data", {}) for c in nb["cells"] for o in c.get("outputs", [])])
