"""SLO checklist items read as sentences, and the verdict agrees with the number's state."""

import json

import numpy as np

from edgetiming.results import report
from edgetiming.stats.quantiles import quantile_ci
from edgetiming.stats.repeated import repeated_quantile


def _checks(tmp_path):
    return [json.loads(x) for x in (tmp_path / report.CHECKS_FILE).read_text().splitlines()]


def test_sentence_first_evidence_and_fine_print_apart(tmp_path, monkeypatch):
    monkeypatch.setenv(report.OUTPUT_ENV, str(tmp_path))
    rng = np.random.default_rng(1)
    runs = [rng.normal(60, 2, 500) for _ in range(5)]
    assert report.slo_check("det.p99", "Detector FP32", repeated_quantile(runs, 0.99), 50.0) == "FAIL"
    assert report.slo_check("fast.p99", "Classifier", repeated_quantile([r / 10 for r in runs], 0.99), 50.0) == "PASS"
    fail, ok = _checks(tmp_path)
    assert fail["sentence"].startswith("Detector FP32, P99 within 50 ms: FAIL, at least ")
    assert "between-run" in fail["evidence"] and "over 5 processes" in fail["evidence"]
    assert "rank" in fail["fine_print"] and "rank" not in fail["sentence"]
    assert ok["sentence"].startswith("Classifier, P99 within 50 ms: PASS, at most ")


def test_a_fail_from_a_valid_lower_bound_says_so_and_an_invalid_method_gets_no_verdict(tmp_path, monkeypatch):
    monkeypatch.setenv(report.OUTPUT_ENV, str(tmp_path))
    few = quantile_ci(np.linspace(60, 70, 231), 0.99)  # 231 < 368: upper end missing, lower end exists
    assert report.slo_check("few", "Detector", few, 50.0) == "FAIL"
    short = quantile_ci(np.linspace(10, 70, 231), 0.99)
    assert report.slo_check("short", "Detector", short, 80.0) == "NO_VERDICT"
    rng = np.random.default_rng(2)
    hot = repeated_quantile([rng.normal(10, 1, 500) for _ in range(3)], 0.99, throttle_seen=True)
    assert report.slo_check("hot", "Detector", hot, 50.0) == "NO_VERDICT"
    few_c, short_c, hot_c = _checks(tmp_path)
    assert "the lower bound exists and decides it" in few_c["sentence"]
    assert short_c["sentence"].endswith("no verdict, too few samples to bound it on both sides")
    assert hot_c["sentence"] == "Detector, P99 within 50 ms: no verdict, the measurement is invalid"
    assert hot_c["reasons"] == ["a throttle signal was seen during the run"]
