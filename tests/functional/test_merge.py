"""Merging bundles from several results folders: a union keyed by runner, order-free and idempotent."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from edgetiming.results import store


def _summary(bundles):
    return {b.runner: {slug: (r["started_at"], r["cache_key"]) for slug, r in b.results.items()} for b in bundles}


def _copy_runner(src_results: Path, dst_results: Path, new_name: str | None = None) -> Path:
    src = src_results / "fixture-runner"
    dst = dst_results / (new_name or "fixture-runner")
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lock"))
    if new_name:
        fp = json.loads((dst / "runner.json").read_text())
        fp["runner"] = new_name
        fp["cpu"]["model"] = "Another CPU"
        from edgetiming.host import fingerprint

        fp["identity_sha256"] = fingerprint.fingerprint_hash(fp)
        (dst / "runner.json").write_text(json.dumps(fp))
        for result in dst.glob("*/result.json"):
            record = json.loads(result.read_text())
            record["runner"] = new_name
            record["runner_identity_sha256"] = fp["identity_sha256"]
            result.write_text(json.dumps(record))
    return dst


def test_union_is_order_free_and_idempotent(fixture_run, tmp_path):
    results, _ = fixture_run
    other = tmp_path / "artifacts"
    _copy_runner(results, other, "board-b")
    ab, problems_ab = store.merge_results_dirs([results, other])
    ba, problems_ba = store.merge_results_dirs([other, results])
    assert _summary(ab) == _summary(ba) and [b.runner for b in ab] == ["board-b", "fixture-runner"]
    assert problems_ab == problems_ba == []
    again, problems = store.merge_results_dirs([results, other, results, other])
    assert _summary(again) == _summary(ab) and problems == []
    # each merged result still reads its files from the folder it came from
    board_b = next(b for b in ab if b.runner == "board-b")
    assert board_b.bundle_dir("passes") == other / "board-b" / "passes"


def test_conflicting_duplicates_are_reported_and_the_newer_kept(fixture_run, tmp_path):
    results, _ = fixture_run
    other = tmp_path / "artifacts"
    dst = _copy_runner(results, other)
    record = json.loads((dst / "passes" / "result.json").read_text())
    record["started_at"] = "2099-01-01T00:00:00+00:00"
    record["cache_key"] = "f" * 64
    (dst / "passes" / "result.json").write_text(json.dumps(record))
    for order in ([results, other], [other, results]):
        bundles, problems = store.merge_results_dirs(order)
        (bundle,) = bundles
        assert bundle.results["passes"]["started_at"] == "2099-01-01T00:00:00+00:00"
        assert bundle.bundle_dir("passes") == dst.parent / "fixture-runner" / "passes"
        assert len(problems) == 1 and "conflict: runner 'fixture-runner', recipe 'passes'" in problems[0]


def test_unknown_schema_version_is_refused_and_the_rest_merges(fixture_run, tmp_path):
    results, _ = fixture_run
    other = tmp_path / "artifacts"
    dst = _copy_runner(results, other, "board-c")
    record = json.loads((dst / "raises" / "result.json").read_text())
    record["schema_version"] = 7
    (dst / "raises" / "result.json").write_text(json.dumps(record))
    bundles, problems = store.merge_results_dirs([results, other])
    board_c = next(b for b in bundles if b.runner == "board-c")
    assert "raises" not in board_c.results and "passes" in board_c.results
    assert any("schema_version 7" in p and "re-run `edgetiming run recipes/raises.py" in p for p in problems)


def test_a_bundle_without_a_runner_fingerprint_is_refused(fixture_run, tmp_path):
    results, _ = fixture_run
    other = tmp_path / "artifacts"
    dst = _copy_runner(results, other, "board-d")
    (dst / "runner.json").unlink()
    bundles, problems = store.merge_results_dirs([other])
    assert bundles == [] and "runner.json: damaged: missing" in problems[0]


def test_a_newer_quick_run_never_hides_a_full_one(fixture_run, tmp_path):
    results, _ = fixture_run
    assert json.loads((results / "fixture-runner" / "passes" / "result.json").read_text())["mode"] == "full"
    other = tmp_path / "preview"
    dst = _copy_runner(results, other)
    record = json.loads((dst / "passes" / "result.json").read_text())
    record.update(mode="quick", started_at="2099-01-01T00:00:00+00:00", cache_key="e" * 64)
    (dst / "passes" / "result.json").write_text(json.dumps(record))
    for order in ([results, other], [other, results]):
        (bundle,), problems = store.merge_results_dirs(order)
        assert bundle.results["passes"]["mode"] == "full"
        assert bundle.bundle_dir("passes") == results / "fixture-runner" / "passes"
        assert len(problems) == 1 and "showing the full one" in problems[0]
