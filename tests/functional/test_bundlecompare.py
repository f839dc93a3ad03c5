"""`edgetiming compare`: a downloaded bundle zip against a local bundle."""

from __future__ import annotations

import shutil

import numpy as np

from edgetiming import cli
from edgetiming.results import bundlecompare, report, store
from edgetiming.results.result import Result


def test_zip_round_trip_keeps_result_and_samples(fixture_run, tmp_path):
    results, _ = fixture_run
    bundle_dir = results / "fixture-runner" / "passes"
    result = Result.load(bundle_dir / "result.json")
    archive = tmp_path / "passes.zip"
    archive.write_bytes(bundlecompare.zip_bundle(bundle_dir, result))
    loaded = bundlecompare.load_bundle(archive)
    assert loaded.result == result
    assert loaded.samples["values"].tolist() == [i * 1000 for i in range(10)]


def test_compare_reports_shared_samples_and_metrics(fixture_run, tmp_path, capsys):
    results, _ = fixture_run
    bundle_dir = results / "fixture-runner" / "passes"
    result = Result.load(bundle_dir / "result.json")
    archive = tmp_path / "site.zip"
    archive.write_bytes(bundlecompare.zip_bundle(bundle_dir, result))
    assert cli.main(["compare", str(archive), str(bundle_dir)]) == 0
    out = capsys.readouterr().out
    assert "n_values" in out and "values" in out
    comparison = bundlecompare.compare_bundles(archive, bundle_dir)
    # the same samples on both sides are never reported as a change
    assert all(c.verdict in ("same", "inconclusive") for _, _, c in comparison.samples)


def test_slower_samples_are_reported_slower(fixture_run, tmp_path):
    results, _ = fixture_run
    rng = np.random.default_rng(0)
    sides = []
    for name, scale in (("a", 1.0), ("b", 1.5)):
        bundle = tmp_path / name
        run_dir = bundle / "run-x"
        (run_dir / "samples").mkdir(parents=True)
        data = report.encode_samples((rng.lognormal(0, 0.1, 3000) * 1e6 * scale).astype(np.int64))
        (run_dir / "samples" / "lat.npy.gz").write_bytes(data)
        (run_dir / "notebook.ipynb").write_text("{}")
        base = store.read_result(results / "fixture-runner" / "passes" / "result.json")
        import hashlib

        record = dict(base, run_dir="run-x",
                      notebook={"path": "notebook.ipynb", "sha256": hashlib.sha256(b"{}").hexdigest()},
                      figures=[], samples=[{"name": "lat", "path": "samples/lat.npy.gz", "unit": "ns", "count": 3000,
                                            "dtype": "int64", "sha256": hashlib.sha256(data).hexdigest()}])
        store.write_result(bundle, record)
        sides.append(bundle)
    comparison = bundlecompare.compare_bundles(*sides)
    assert {p: c.verdict for _, p, c in comparison.samples} == {0.5: "slower", 0.99: "slower"}


def test_unreadable_bundle_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "x.zip"
    bad.write_bytes(b"not a zip")
    assert cli.main(["compare", str(bad), str(bad)]) == 2
    assert "not a readable zip" in capsys.readouterr().err


def test_a_metric_timed_beside_the_sentinel_says_whose_step_it_is(fixture_run, tmp_path):
    results, _ = fixture_run
    rng = np.random.default_rng(2)
    per_run, sent = list(10 * rng.lognormal(0, 0.02, 5)), list(rng.lognormal(0, 0.02, 5))
    sides = {}
    for name, model_f, sent_f in (("a", 1.0, 1.0), ("machine", 1.5, 1.5), ("model", 1.5, 1.0)):
        base = store.read_result(results / "fixture-runner" / "passes" / "result.json")
        metric = {"value": float(np.median(per_run)) * model_f, "unit": "ms", "description": "planted",
                  "per_run": [v * model_f for v in per_run], "per_run_sentinel": [v * sent_f for v in sent],
                  "valid": True, "note": "", "state": "valid", "reasons": [], "notes": []}
        record = dict(base, metrics={**base["metrics"], "steady.p99_ms": metric})
        shutil.copytree(results / "fixture-runner" / "passes", tmp_path / name)
        store.write_result(tmp_path / name, record)
        sides[name] = tmp_path / name
    machine = bundlecompare.compare_bundles(sides["a"], sides["machine"])
    model = bundlecompare.compare_bundles(sides["a"], sides["model"])
    assert [(n, w) for n, _, w, _ in machine.whose] == [("steady.p99_ms", "machine")]
    assert [(n, w) for n, _, w, _ in model.whose] == [("steady.p99_ms", "model")]
    assert "split by the sentinel" in model.text() and "the model's own" in model.text()
