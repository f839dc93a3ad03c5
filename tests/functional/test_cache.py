"""The cache re-runs a recipe exactly when its code, parameters, packages, models or runner change."""

from __future__ import annotations

import shutil
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from edgetiming.host import fingerprint
from edgetiming.run import cache, executor


def _identity_model(path: Path, name: str) -> None:
    node = helper.make_node("Identity", ["x"], ["y"], name=name)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    onnx.save(helper.make_model(graph), str(path))


def _status(path: Path, results: Path, **kw) -> str:
    (outcome,) = executor.run_recipes([path], executor.RunOptions(results_dir=results, runner="c", **kw))
    return outcome.status


def test_cache_hits_and_misses(tmp_path, recipe_copy, monkeypatch):
    path = recipe_copy("passes.py")
    model = tmp_path / "m.onnx"
    _identity_model(model, "a")
    text = path.read_text().replace('label = "x"', f'label = "x"\nmodel_path = "{model}"')
    path.write_text(text)
    results = tmp_path / "results"

    assert _status(path, results) == "OK"
    assert _status(path, results) == "CACHED"

    # a code cell changes
    path.write_text(path.read_text().replace("ax.plot(values)", "ax.plot(values)  # edited"))
    assert _status(path, results) == "OK"
    assert _status(path, results) == "CACHED"

    # a parameter changes (and changes back: the old result was replaced, so it runs again)
    assert _status(path, results, overrides={"n": 4}) == "OK"
    assert _status(path, results, overrides={"n": 4}) == "CACHED"
    assert _status(path, results) == "OK"

    # a model file changes
    _identity_model(model, "b")
    assert _status(path, results) == "OK"
    assert _status(path, results) == "CACHED"

    # a package version changes
    real = cache.package_versions()
    monkeypatch.setattr(cache, "package_versions", lambda: {**real, "onnxruntime": "0.0.1"})
    assert _status(path, results) == "OK"
    assert _status(path, results) == "CACHED"

    # the runner's fingerprint changes (another CPU)
    real_collect = fingerprint.collect

    def other_cpu(runner=None):
        fp = real_collect(runner)
        fp["cpu"]["model"] = "Another CPU"
        fp["identity_sha256"] = fingerprint.fingerprint_hash(fp)
        return fp

    monkeypatch.setattr(fingerprint, "collect", other_cpu)
    assert _status(path, results) == "OK"
    assert _status(path, results) == "CACHED"

    # --force re-runs anyway
    assert _status(path, results, force=True) == "OK"


def test_failed_results_are_never_reused(tmp_path, recipe_copy):
    path = recipe_copy("raises.py")
    results = tmp_path / "results"
    assert _status(path, results) == "FAILED"
    assert _status(path, results) == "FAILED"


def test_key_covers_the_edgetiming_source():
    base = dict(recipe_version="0" * 16, packages={"a": "1"}, model_info={}, runner_identity="f" * 64)
    key_a, inputs_a = cache.cache_key(**base, source_hash="a" * 64)
    key_b, inputs_b = cache.cache_key(**base, source_hash="b" * 64)
    assert key_a != key_b and inputs_a["edgetiming_source"] != inputs_b["edgetiming_source"]
    assert cache.cache_key(**base, source_hash="a" * 64)[0] == key_a


def test_fingerprint_identity_ignores_the_clock():
    fp = fingerprint.collect("x")
    later = dict(fp, collected_at="2099-01-01T00:00:00+00:00")
    assert fingerprint.fingerprint_hash(later) == fp["identity_sha256"]


def test_a_site_edit_reruns_nothing_and_a_stats_edit_reruns_the_recipe(tmp_path, recipe_copy, monkeypatch):
    path = recipe_copy("passes.py")
    results = tmp_path / "results"
    package = Path(cache.__file__).resolve().parent.parent
    copy = tmp_path / "edgetiming"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "__file__", str(copy / "run" / "cache.py"))
    cache._hash_tree.cache_clear()
    assert _status(path, results) == "OK"

    site_module = copy / "site" / "build.py"
    site_module.write_text(site_module.read_text() + "\n# a typo fixed on a page\n")
    cache._hash_tree.cache_clear()
    assert _status(path, results) == "CACHED"

    stats_module = copy / "stats" / "quantiles.py"
    stats_module.write_text(stats_module.read_text() + "\n# a change to how quantiles are computed\n")
    cache._hash_tree.cache_clear()
    assert _status(path, results) == "OK"
    cache._hash_tree.cache_clear()
