"""A version-1 bundle re-judged under today's rule: no CV reason survives, the two-sided minimum applies."""

import copy
import json

from edgetiming import cli
from edgetiming.results.rejudge import RULE_REJUDGED, rejudge_result

OLD = {
    "schema_version": 1,
    "metrics": {
        "det.p99_ms": {"value": 50.0, "unit": "ms", "description": "", "n": 1500, "valid": False,
                       "note": "CV 25.0% exceeds 10% and no explanation was recorded"},
        "few.p99_ms": {"value": 5.0, "unit": "ms", "description": "", "n": 300, "valid": True, "note": ""},
        "hot.p50_ms": {"value": 5.0, "unit": "ms", "description": "", "n": 1000, "valid": False,
                       "note": "a throttle signal was seen during the run; CV 12.0% exceeds 10% and no explanation "
                               "was recorded"},
        "count": {"value": 3, "unit": "", "description": "", "valid": True, "note": ""},
    },
    "checks": [{"name": "result-valid", "verdict": "FAIL", "link": "",
                "detail": "CV 25.0% exceeds 10% and no explanation was recorded"}],
}


def test_cv_reasons_go_the_two_sided_minimum_applies_other_reasons_stay():
    new = rejudge_result(copy.deepcopy(OLD))
    m = new["metrics"]
    assert new["schema_version"] == 2
    assert m["det.p99_ms"]["state"] == "valid" and "CV 25.0%" in m["det.p99_ms"]["notes"][0]
    assert m["few.p99_ms"]["state"] == "invalid"
    assert m["few.p99_ms"]["reasons"] == ["300 samples are fewer than the 368 a two-sided 95% interval for P99 needs"]
    assert m["hot.p50_ms"]["state"] == "invalid" and m["hot.p50_ms"]["reasons"] == [
        "a throttle signal was seen during the run"]
    assert m["count"]["state"] == "valid"
    assert all(x["rule"] == RULE_REJUDGED for x in m.values())
    assert new["checks"][0]["verdict"] == "PASS" and "re-judged" in new["checks"][0]["detail"]


def test_the_command_rewrites_a_bundle_and_says_what_changed(tmp_path, capsys):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "result.json").write_text(json.dumps(OLD))
    assert cli.main(["rejudge", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "r det.p99_ms: invalid -> valid" in out and "r few.p99_ms: valid -> invalid" in out
    assert json.loads((tmp_path / "r" / "result.json").read_text())["schema_version"] == 2
    assert cli.main(["rejudge", str(tmp_path / "r")]) == 2
