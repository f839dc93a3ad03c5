"""The page's JavaScript statistics give exactly Python's ranks, interval ends and verdicts.

Python (``edgetiming.stats.quantiles``) writes the fixtures; ``tests/js/webbench_stats.test.mjs``
(node:test) recomputes every case with ``docs/javascripts/edgetiming-stats.js``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgetiming.stats import quantiles as stats
from edgetiming.stats.validity import min_samples_two_sided

from ..conftest import ROOT

NODE = shutil.which("node")
PERCENTILES = (0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999)
CONFIDENCES = (0.9, 0.95, 0.99)
LARGE_N = (500, 999, 1000, 1001, 1500, 2995, 3688, 4603, 10_000, 12_345, 50_000, 99_999, 100_000)


def rank_cases() -> list[dict]:
    cases = []
    for n in [*range(1, 401), *LARGE_N]:
        for p in PERCENTILES:
            for conf in CONFIDENCES:
                lo, up, coverage = stats._ci_ranks(n, p, conf)
                cases.append({"n": n, "p": p, "confidence": conf, "index": stats.nearest_rank_index(n, p),
                              "lower": lo, "upper": up, "coverage": coverage,
                              "upper_one_sided": stats._upper_rank(n, p, conf),
                              "min_samples": stats.min_samples(p, conf),
                              "min_two_sided": min_samples_two_sided(p, conf) if 0 < p < 1 else None})
    return cases


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def sample_cases() -> list[dict]:
    rng = np.random.default_rng(18)
    sets = {
        "lognormal-1500": rng.lognormal(np.log(2e6), 0.3, 1500),
        "heavy-tail-400": np.concatenate([rng.normal(3e6, 1e5, 390), rng.uniform(2e7, 5e7, 10)]),
        "ties-coarse-clock-1000": np.round(rng.gamma(4.0, 5e5, 1000) / 1e5) * 1e5,  # a 100 us clock
        "small-5": rng.uniform(1e6, 2e6, 5),
        "small-60": rng.uniform(1e6, 2e6, 60),
        "at-minimum-368": rng.exponential(1e6, 368) + 1e6,
        "one-sample": np.array([1_234_567.0]),
        "all-equal-300": np.full(300, 2_000_000.0),
        "bimodal-3000": np.concatenate([rng.normal(1e6, 5e4, 2700), rng.normal(4e6, 1e5, 300)]),
        "large-20000": rng.lognormal(np.log(5e6), 0.5, 20_000),
    }
    out = []
    for name, values in sets.items():
        ns = np.maximum(np.round(values), 1).astype(np.int64)
        rng.shuffle(ns)
        estimates = []
        for p in (0.5, 0.9, 0.95, 0.99, 0.999):
            for conf in (0.95, 0.99):
                q = stats.quantile_ci(ns / 1e6, p, conf)
                estimates.append({"p": p, "confidence": conf, "value": q.value, "rank": q.rank,
                                  "lower_rank": q.lower_rank, "upper_rank": q.upper_rank,
                                  "lower": _finite(q.lower), "upper": _finite(q.upper), "valid": q.valid,
                                  "upper_bound": _finite(stats.upper_bound(ns / 1e6, p, conf))})
        ms = np.sort(ns / 1e6)
        deadlines = sorted({float(ms[0]) * 0.5, float(ms[len(ms) // 2]), float(ms[-1]), float(ms[-1]) * 2,
                            float(ms[stats.nearest_rank_index(len(ms), 0.99)]),
                            float(np.mean(ms))})
        verdicts = []
        for pct in (0.5, 0.9, 0.99):
            for deadline in deadlines:
                v = stats.slo_verdict(ns, pct, deadline)
                verdicts.append({"percentile": pct, "deadline_ms": deadline, "confidence": 0.95,
                                 "verdict": v.verdict})
        out.append({"name": name, "latency_ns": ns.tolist(), "estimates": estimates, "verdicts": verdicts})
    return out


def write_fixtures(path: Path) -> dict:
    fixtures = {"ranks": rank_cases(), "samples": sample_cases()}
    path.write_text(json.dumps(fixtures), encoding="utf-8")
    return fixtures


def test_fixtures_cover_every_verdict_and_unbounded_sides(tmp_path: Path) -> None:
    fx = write_fixtures(tmp_path / "f.json")
    verdicts = {v["verdict"] for c in fx["samples"] for v in c["verdicts"]}
    assert verdicts == {"PASS", "FAIL", "INCONCLUSIVE"}
    ests = [e for c in fx["samples"] for e in c["estimates"]]
    assert any(e["upper"] is None for e in ests) and any(e["lower"] is None for e in ests)
    assert any(r["upper"] == r["n"] + 1 for r in fx["ranks"]) and any(r["lower"] == 0 for r in fx["ranks"])


@pytest.mark.skipif(NODE is None, reason="node is not installed (./scripts/test installs it)")
def test_javascript_statistics_match_python(tmp_path: Path) -> None:
    fixtures = tmp_path / "webbench-stats.json"
    write_fixtures(fixtures)
    done = subprocess.run([NODE, "--test", str(ROOT / "tests/js/webbench_stats.test.mjs")],
                          capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={**os.environ, "WEBBENCH_STATS_FIXTURES": str(fixtures)})
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "# pass 4" in done.stdout and "# fail 0" in done.stdout, done.stdout[-2000:]
