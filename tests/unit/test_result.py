"""The typed result: reading versions 1 and 2, writing version 2, and the one number format."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgetiming.results import store
from edgetiming.results.result import (
    LEGACY_RULE_LABEL,
    Metric,
    Result,
    Status,
    format_interval,
    format_value,
)
from edgetiming.stats.validity import RULE, RULE_LEGACY, State

REFERENCE = Path(__file__).resolve().parents[2] / "reference"
V1 = Path(__file__).resolve().parents[1] / "fixtures" / "results" / "v1" / "characterize-latency" / "result.json"


@pytest.mark.parametrize(("value", "unit", "shown"), [
    (12.345, "ms", "12.3 ms"), (1234.5, "ms", "1,234 ms"), (0.5, "ms", "0.500 ms"), (3.14159, "ms", "3.14 ms"),
    (3, "", "3"), (12000, "", "12,000"), (0.25, "", "0.250"), ("fp32", "", "fp32"), (True, "", "True"),
    (None, "ms", "not measured"),
])
def test_format_value_one_way_and_no_trailing_space(value, unit, shown):
    assert format_value(value, unit) == shown


def test_format_interval():
    assert format_interval((11.04, 14.25), "ms") == "[11.0, 14.2] ms"
    assert format_interval([0.5, float("inf")]) == "[0.500, unbounded]"
    assert format_interval(None, "ms") == ""


def test_version_1_loads_with_the_legacy_rule():
    result = Result.load(V1)
    assert result.schema_version == 1 and result.legacy
    record = json.loads(V1.read_text())
    for name, raw in record["metrics"].items():
        m = result.metrics[name]
        assert m.rule == RULE_LEGACY
        assert m.state is (State.VALID if raw["valid"] else State.INVALID)
        if not raw["valid"] and raw.get("note"):
            assert m.reasons == (raw["note"],)
    assert LEGACY_RULE_LABEL in next(iter(result.metrics.values())).state_reasons()


def test_version_1_is_written_as_version_2_and_reads_back_the_same(tmp_path):
    bundle = tmp_path / "characterize-latency"
    shutil.copytree(V1.parent, bundle)
    old = Result.load(bundle / "result.json", verify=True)
    old.write(bundle)
    record = json.loads((bundle / "result.json").read_text())
    assert record["schema_version"] == 2
    again = Result.load(bundle / "result.json", verify=True)
    assert again.metrics == old.metrics and again.to_dict() == old.to_dict()
    assert again.schema_version == 2 and again.legacy  # judged under the old rule, and still says so


def test_version_2_metric_round_trips():
    raw = {"value": 12.5, "unit": "ms", "description": "P99", "valid": False, "note": "", "state": "unstable",
           "reasons": ["runs disagree"], "notes": ["CV 12%"], "rule": RULE, "ci": [11.0, 14.0],
           "ci_within": [11.5, 13.0], "ci_between": [11.0, 14.0], "n": 1000, "runs": 3}
    m = Metric.from_dict(raw)
    assert m.state is State.UNSTABLE and not m.valid and not m.legacy and m.runs == 3
    assert m.to_dict() == raw


def test_a_record_with_an_unknown_status_is_refused_naming_the_field(tmp_path):
    record = json.loads(V1.read_text())
    record["status"] = "MAYBE"
    path = tmp_path / "result.json"
    path.write_text(json.dumps(record))
    with pytest.raises(store.StoreError, match=r"result.json: field status: 'MAYBE' is not one of"):
        Result.load(path)


def test_cached_is_a_status_of_the_schema():
    assert "CACHED" in store.schema("result")["properties"]["status"]["enum"]
    assert {s.value for s in Status} == set(store.schema("result")["properties"]["status"]["enum"])
    assert Status.CACHED.has_numbers and not Status.CACHED.failing and not Status.CACHED.reusable
    assert [s for s in Status if s.failing] == [Status.FAILED, Status.TIMEOUT, Status.KERNEL_DIED,
                                                Status.UNEXPECTED_PASS]
