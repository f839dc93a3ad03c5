"""The one validity rule: three states, each with its reasons; jitter is never a reason."""

import json
import math

import numpy as np
import pytest

from edgetiming.results import report
from edgetiming.stats.quantiles import quantile_ci, summarize
from edgetiming.stats.validity import (
    INTERFERENCE_LIMIT,
    OVERHEAD_LIMIT,
    RULE,
    Judgement,
    State,
    judge,
    min_samples_two_sided,
    runs_disagree,
    worst,
)

MS = 1_000_000


def test_two_sided_minimums_match_the_published_table():
    assert [min_samples_two_sided(p) for p in (0.95, 0.99, 0.999)] == [72, 368, 3688]


@pytest.mark.parametrize("p", [0.5, 0.9, 0.95, 0.99])
def test_the_minimum_is_exactly_where_the_interval_becomes_two_sided(p):
    need = min_samples_two_sided(p)
    x = np.arange(1, need + 1, dtype=float)
    assert quantile_ci(x, p).bounded and quantile_ci(x, p).valid
    assert not quantile_ci(x[:-1], p).bounded and not quantile_ci(x[:-1], p).valid


def test_a_wide_distribution_is_valid_and_its_cv_is_a_note():
    rng = np.random.default_rng(5)
    wide = rng.lognormal(math.log(10.0), 0.8, 2000) * MS
    assert summarize(wide).cv > 0.5
    j = judge(n=wide.size, percentiles=(0.5, 0.99), notes=(f"CV {summarize(wide).cv:.0%}",))
    assert j.state is State.VALID and j.reasons == () and j.notes[0].startswith("CV ")


def test_each_method_violation_makes_the_metric_invalid_with_its_reason():
    cases = {
        "367 samples are fewer than the 368 a two-sided 95% interval for P99 needs":
            judge(n=367, percentiles=(0.99,)),
        "a throttle signal was seen during the run": judge(throttle_seen=True),
        "the run reached no steady state": judge(steady_class="no steady state"),
        "the configurations compared were not interleaved": judge(interleaved=False),
        "the recipe's own reason": judge(invalid_because=["the recipe's own reason"]),
    }
    for reason, j in cases.items():
        assert j.state is State.INVALID and j.reasons == (reason,)
    assert judge(n=368, percentiles=(0.99,)).state is State.VALID


def test_overhead_limit_is_one_percent_of_p50():
    assert OVERHEAD_LIMIT == 0.01
    assert judge(overhead_ns=10_000, p50_ns=1_000_000).state is State.VALID
    over = judge(overhead_ns=10_001, p50_ns=1_000_000)
    assert over.state is State.INVALID and "1.0% of P50" in over.reasons[0]


def test_runs_that_disagree_beyond_their_intervals_are_unstable():
    agree = [(9.0, 11.0), (10.0, 12.0), (10.5, 10.9)]
    disagree = [(9.0, 10.0), (10.5, 11.0)]
    assert not runs_disagree(agree) and runs_disagree(disagree)
    assert judge(run_intervals=agree).state is State.VALID
    j = judge(run_intervals=disagree)
    assert j.state is State.UNSTABLE and "2 independent runs disagree" in j.reasons[0]


def test_interference_and_regime_change_make_it_unstable_not_invalid():
    assert judge(interference=INTERFERENCE_LIMIT).state is State.VALID
    busy = judge(interference=0.4)
    assert busy.state is State.UNSTABLE and "40%" in busy.reasons[0]
    shift = judge(regime_change="block medians 15 ms then 60 ms")
    assert shift.state is State.UNSTABLE and "15 ms then 60 ms" in shift.reasons[0]


def test_invalid_outranks_unstable_and_keeps_every_reason():
    j = judge(n=10, percentiles=(0.99,), run_intervals=[(1, 2), (3, 4)], throttle_seen=True)
    assert j.state is State.INVALID and len(j.reasons) == 3
    assert worst([State.VALID, State.UNSTABLE]) is State.UNSTABLE
    assert worst([]) is State.VALID
    assert Judgement.from_dict(json.loads(json.dumps(j.to_dict()))) == j
    assert j.to_dict()["rule"] == RULE


def test_a_recipe_can_add_a_reason_but_cannot_mark_a_metric_valid(tmp_path, monkeypatch):
    monkeypatch.setenv(report.OUTPUT_ENV, str(tmp_path))
    bad = judge(n=10, percentiles=(0.99,))
    report.metric("a_ms", 1.0, unit="ms", judgement=bad)
    report.metric("b_ms", 1.0, unit="ms", judgement=judge(), invalid_because="inputs differed")
    report.metric("c_ms", 1.0, unit="ms", unstable_because=["re-runs disagree"])
    rows = {r["name"]: r for r in map(json.loads, (tmp_path / report.METRICS_FILE).read_text().splitlines())}
    assert rows["a_ms"]["state"] == "invalid" and rows["a_ms"]["valid"] is False
    assert rows["b_ms"]["state"] == "invalid" and rows["b_ms"]["reasons"] == ["inputs differed"]
    assert rows["c_ms"]["state"] == "unstable" and rows["c_ms"]["reasons"] == ["re-runs disagree"]
    with pytest.raises(TypeError):
        report.metric("d_ms", 1.0, valid=True)  # the old way to mark a value valid is gone


def test_runs_that_disagree_by_a_small_amount_stay_valid_the_between_interval_absorbs_it():
    from edgetiming.stats.validity import UNSTABLE_SPREAD

    tight = [(10.00, 10.01), (10.50, 10.51)]  # disagree, but only 5% apart
    assert runs_disagree(tight)
    assert judge(run_intervals=tight, run_values=[10.005, 10.505]).state is State.VALID
    far = [(10.0, 10.1), (12.0, 12.1)]  # 20% apart
    j = judge(run_intervals=far, run_values=[10.05, 12.05])
    assert UNSTABLE_SPREAD == 0.10 and j.state is State.UNSTABLE and "20% above smallest" in j.reasons[0]
