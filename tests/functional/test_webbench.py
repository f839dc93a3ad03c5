"""``edgetiming.site.webbench``: the files the "Run it on this device" page needs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgetiming.results import store
from edgetiming.results.result import typed_bundles
from edgetiming.site import webbench
from edgetiming.stats import quantiles as stats
from edgetiming.workload import models

from ..conftest import ROOT


@pytest.fixture(scope="module")
def reference_bundles() -> list[store.RunnerBundle]:
    bundles, problems = store.merge_results_dirs([ROOT / "reference"])
    assert not problems, problems
    return typed_bundles(bundles)


def test_assets_hold_onnxruntime_web_the_models_with_their_sha256_and_the_runners(tmp_path, reference_bundles):
    manifest_path = webbench.write_assets(tmp_path, reference_bundles, project_dir=ROOT)
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    pinned = json.loads((ROOT / "web" / "package.json").read_text(encoding="utf-8"))["dependencies"]["onnxruntime-web"]
    assert manifest["onnxruntime_web"] == pinned
    for name in webbench.ORT_WEB_FILES:
        assert (tmp_path / "webbench" / "ort" / name).stat().st_size > 0
    by_key = {m["key"]: m for m in manifest["models"]}
    assert set(by_key) == {"cls", "det"} and by_key["cls"]["default"]
    for key, entry in by_key.items():
        served = tmp_path / "webbench" / entry["file"]
        assert models.sha256_file(served) == entry["sha256"] == models.sha256_file(models.resolve(f"rapidocr:{key}"))
    # the classifier's rows are threads-and-kernels' "1 thread" and "default threads", recomputed from raw samples
    rows = by_key["cls"]["runners"]
    assert {(r["recipe"], r["setting"]) for r in rows} == {("threads-and-kernels", "1 thread"),
                                                            ("threads-and-kernels", "default threads")}
    epyc = next(r for r in rows if r["runner"] == "x86-epyc-2c-avx2" and r["setting"] == "1 thread")
    result = store.read_result(ROOT / "reference" / "x86-epyc-2c-avx2" / "threads-and-kernels" / "result.json")
    from edgetiming.results.report import decode_samples

    run = ROOT / "reference" / "x86-epyc-2c-avx2" / "threads-and-kernels" / result["run_dir"]
    # the rounds store one arm's steady samples (no warmup) as one array, rounds in order
    pooled = np.concatenate([decode_samples((run / s["path"]).read_bytes()) for s in result["samples"]
                             if s["description"].startswith("1 thread: steady latency per iteration")])
    q = stats.quantile_ci(pooled / 1e6, 0.5, 0.975)
    assert epyc["n"] == pooled.size
    assert epyc["p50_ms"] == q.value and epyc["p50_ci975_ms"] == [q.lower, q.upper]
    # the detector's rows come from characterize-latency at 1x3x320x320
    assert {r["recipe"] for r in by_key["det"]["runners"]} == {"characterize-latency"}


def test_missing_onnxruntime_web_names_the_fix(tmp_path, monkeypatch, reference_bundles):
    monkeypatch.setenv("EDGETIMING_ORT_WEB", str(tmp_path / "nowhere"))
    monkeypatch.setattr(webbench, "__file__", str(tmp_path / "a" / "b" / "c" / "webbench.py"))
    with pytest.raises(webbench.WebbenchError, match=r"npm ci` in web/"):
        webbench.write_assets(tmp_path, reference_bundles, project_dir=tmp_path)


def test_recipe_pages_link_the_browser_page_only_for_its_models():
    assert "model=det" in webbench.recipe_link_html({"model_path": "rapidocr:det", "input_shape": [1, 3, 320, 320]})
    assert webbench.recipe_link_html({"model_path": "rapidocr:det", "input_shape": [1, 3, 640, 640]}) == ""
    assert webbench.recipe_link_html({"model_path": "my.onnx"}) == ""
