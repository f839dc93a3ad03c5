"""History of metrics across runs: appended by the executor, merged, and regressions found in it."""

from __future__ import annotations

import numpy as np

from edgetiming import executor, history, stats


def _entry(i: int, p99_ns: np.ndarray, *, version: str = "v1", mode: str = "full") -> dict:
    est = stats.quantile_ci(p99_ns, 0.99)
    metric = {"value": est.value / 1e6, "ci": [est.lower / 1e6, est.upper / 1e6], "unit": "ms", "valid": True}
    return {"schema_version": 1, "recipe": "r", "recipe_version": version, "mode": mode, "status": "OK",
            "started_at": f"2026-11-{i + 1:02d}T00:00:00+00:00", "cache_key": f"{i:064d}", "git_sha": f"sha{i}",
            "metrics": {"steady.p99_ms": metric}}


def test_noise_is_not_flagged_and_a_real_step_is():
    rng = np.random.default_rng(7)
    base = [_entry(i, rng.lognormal(np.log(10e6), 0.2, 2000)) for i in range(20)]
    assert history.find_regressions(base) == []
    stepped = base + [_entry(20, rng.lognormal(np.log(13e6), 0.2, 2000))]
    (found,) = history.find_regressions(stepped)
    assert found.metric == "steady.p99_ms" and found.ratio > 1.2 and found.ratio_low > 1.05
    assert "regression on board: r steady.p99_ms" in found.message("board")
    assert "git sha19 -> sha20" in found.message("board")


def test_runs_of_other_versions_or_modes_are_not_compared():
    rng = np.random.default_rng(3)
    a = _entry(0, rng.lognormal(np.log(10e6), 0.1, 2000))
    b = _entry(1, rng.lognormal(np.log(20e6), 0.1, 2000), version="v2")
    c = _entry(2, rng.lognormal(np.log(20e6), 0.1, 2000), mode="quick")
    assert history.find_regressions([a, b, c]) == []


def test_executor_appends_one_line_per_executed_run(tmp_path, recipe_copy):
    path = recipe_copy("passes.py")
    options = executor.RunOptions(results_dir=tmp_path, runner="h")
    executor.run_recipes([path], options)
    executor.run_recipes([path], options)  # cached: nothing appended
    executor.run_recipes([path], executor.RunOptions(results_dir=tmp_path, runner="h", force=True))
    entries = history.load(tmp_path / "h")
    assert [e["recipe"] for e in entries] == ["passes", "passes"]
    assert entries[0]["metrics"]["n_values"]["value"] == 10
    assert history.merge([entries, entries, entries[:1]]) == entries
