"""The results store: atomic commits under kill -9, schema versions, tamper detection."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from edgetiming.results import report, store

WRITER = r"""
import hashlib, sys, time
from pathlib import Path
from edgetiming.results import report
from edgetiming.results import store

bundle = Path(sys.argv[1])
i = int(sys.argv[2])
while True:
    run_id = f"run-{i:06d}"
    run = bundle / run_id
    (run / "samples").mkdir(parents=True, exist_ok=True)
    data = report.encode_samples(__import__("numpy").arange(2000) + i)
    (run / "samples" / "x.npy.gz").write_bytes(data)
    nb = (b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5, "i": %d}' % i) * 50
    (run / "notebook.ipynb").write_bytes(nb)
    record = dict(sys.modules["__main__"].TEMPLATE, run_dir=run_id, duration_s=float(i),
                  notebook={"path": "notebook.ipynb", "sha256": hashlib.sha256(nb).hexdigest()},
                  samples=[{"name": "x", "path": "samples/x.npy.gz", "unit": "ns", "count": 2000,
                            "dtype": "int64", "sha256": hashlib.sha256(data).hexdigest()}])
    store.write_result(bundle, record)
    print(i, flush=True)
    i += 1
"""


def minimal_record(**overrides):
    record = {
        "schema_version": 1, "recipe": "demo", "recipe_version": "0123456789abcdef", "title": "Demo",
        "runner": "r", "runner_identity_sha256": "a" * 64, "status": "OK", "mode": "full",
        "parameters": {}, "started_at": "2026-11-27T00:00:00+00:00", "duration_s": 0.0,
        "git": {"sha": None, "dirty": None}, "packages": {}, "python": "3.11", "cache_key": "b" * 64,
        "cache_inputs": {"recipe_version": "x", "edgetiming_source": "x", "packages": "x", "models": "x",
                         "runner_identity": "x"},
        "models": {}, "run_dir": "run-000000", "notebook": {"path": "notebook.ipynb", "sha256": "c" * 64}, "metrics": {}, "figures": [],
        "samples": [], "checks": [], "error": None, "expected_failure": None,
    }
    record.update(overrides)
    return record


def test_kill_9_at_random_points_never_tears_a_bundle(tmp_path):
    bundle = tmp_path / "r" / "demo"
    bundle.mkdir(parents=True)
    script = tmp_path / "writer.py"
    script.write_text(f"TEMPLATE = {minimal_record()!r}\n" + WRITER.replace("sys.modules[\"__main__\"].TEMPLATE", "TEMPLATE"))
    rng = random.Random(1234)
    start = 0
    committed_any = 0
    for attempt in range(40):
        proc = subprocess.Popen([sys.executable, str(script), str(bundle), str(start)], stdout=subprocess.PIPE, text=True)
        time.sleep(0.3 + rng.random() * 0.25)  # imports take most of the first 0.3 s; then kill mid-write
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        written = [int(x) for x in out.split()]
        if (bundle / "result.json").exists():
            record = store.read_result(bundle / "result.json", verify=True)
            i = int(record["run_dir"].split("-")[1])
            # the store holds the last commit the writer reported, or the one it was making
            if written:
                assert i in (written[-1], written[-1] + 1)
            data = report.decode_samples((bundle / record["run_dir"] / "samples" / "x.npy.gz").read_bytes())
            assert int(data[0]) == i
            committed_any += 1
            start = i + 1
        # leftovers are only whole run folders and temp files, never a partial result.json
        for child in bundle.iterdir():
            assert child.name == "result.json" or child.name.startswith(("run-", ".result.json."))
    assert committed_any >= 30


def test_unknown_schema_version_is_refused_with_a_hint(tmp_path):
    path = tmp_path / "result.json"
    path.write_text(json.dumps(minimal_record(schema_version=99)))
    with pytest.raises(store.StoreError, match=r"schema_version 99 .*edgetiming run --force"):
        store.read_result(path)


def test_schema_violation_names_the_field(tmp_path):
    path = tmp_path / "result.json"
    path.write_text(json.dumps(minimal_record(status="MAYBE")))
    with pytest.raises(store.StoreError, match=r"field status"):
        store.read_result(path)


def test_torn_json_names_the_file(tmp_path):
    path = tmp_path / "result.json"
    path.write_text('{"schema_version": 1, "rec')
    with pytest.raises(store.StoreError, match=r"result.json: truncated JSON at byte 26: "):
        store.read_result(path)


def test_edited_samples_fail_verification(fixture_run):
    results, _ = fixture_run
    bundle = results / "fixture-runner" / "passes"
    record = store.read_result(bundle / "result.json", verify=True)
    sample_file = bundle / record["run_dir"] / record["samples"][0]["path"]
    original = sample_file.read_bytes()
    try:
        sample_file.write_bytes(report.encode_samples(report.decode_samples(original) + 1))
        with pytest.raises(store.StoreError, match="sha256 differs"):
            store.read_result(bundle / "result.json", verify=True)
    finally:
        sample_file.write_bytes(original)
    store.read_result(bundle / "result.json", verify=True)


def test_unusable_bundles_are_skipped_and_reported(tmp_path, fixture_run):
    results, _ = fixture_run
    bundles, problems = store.load_results_dir(results)
    assert [b.runner for b in bundles] == ["fixture-runner"] and not problems
    broken = tmp_path / "results" / "x"
    broken.mkdir(parents=True)
    (broken / "runner.json").write_text("{}")
    bundles, problems = store.load_results_dir(tmp_path / "results")
    assert bundles == [] and "schema_version None" in problems[0]


def test_atomic_write_leaves_no_temp_file(tmp_path):
    target = tmp_path / "a.json"
    store.atomic_write_json(target, {"a": 1})
    store.atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert os.listdir(tmp_path) == ["a.json"]
