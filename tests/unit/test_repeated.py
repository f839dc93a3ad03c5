"""Repeated processes: between-run intervals cover at close to nominal, A/A pairs are not flagged."""

import numpy as np
import pytest

from edgetiming.stats.repeated import (
    NO_DIFFERENCE,
    balanced_order,
    between_run_interval,
    paired_ratio,
    regression,
    repeated_quantile,
)
from edgetiming.stats.validity import State


def _two_level(rng, runs, n, *, between_sd=0.15, within_sd=0.3, scale=1.0):
    """Known variance at two levels: a per-process log offset, then iid samples inside it."""
    return [scale * np.exp(rng.normal(0, between_sd) + rng.normal(0, within_sd, n)) for _ in range(runs)]


def test_between_run_interval_covers_the_typical_process_at_close_to_nominal():
    rng = np.random.default_rng(1)
    # the per-process P50 is exp(offset): its typical (median) value is exp(0) = 1
    hits = trials = 0
    for _ in range(400):
        runs = _two_level(rng, 5, 400)
        est = repeated_quantile(runs, 0.5)
        trials += 1
        hits += est.between.lower <= 1.0 <= est.between.upper
    coverage = hits / trials
    assert 0.90 <= coverage <= 0.99, coverage


def test_one_run_intervals_do_not_cover_the_next_run_but_repeated_ones_do():
    rng = np.random.default_rng(2)
    one_run = repeated_hits = 0
    for _ in range(200):
        earlier, later = _two_level(rng, 5, 400), _two_level(rng, 5, 400)
        first = repeated_quantile(earlier[:1], 0.5)
        one_run += first.within.lower <= np.median(later[0]) <= first.within.upper
        est, nxt = repeated_quantile(earlier, 0.5), repeated_quantile(later, 0.5)
        repeated_hits += est.lower <= nxt.value <= est.upper
    assert one_run / 200 < 0.5  # the one-run interval is far too narrow for a re-run
    assert repeated_hits / 200 >= 0.85


def test_runs_that_disagree_make_the_estimate_unstable_and_the_hull_is_wider():
    rng = np.random.default_rng(3)
    runs = [rng.normal(10, 0.1, 500), rng.normal(14, 0.1, 500), rng.normal(10, 0.1, 500)]
    est = repeated_quantile(runs, 0.5)
    assert est.judgement.state is State.UNSTABLE
    assert est.deciding == "between"
    assert est.lower <= est.within.lower and est.upper >= est.within.upper
    single = repeated_quantile(runs[:1], 0.5)
    assert not single.between.known and "one process only" in single.judgement.notes[-1]


def test_a_paired_ratio_finds_ten_of_ten_and_calls_a_flip_no_difference():
    rng = np.random.default_rng(4)
    a = rng.lognormal(0, 0.2, 10)
    faster = paired_ratio(a, a * rng.uniform(0.3, 0.9, 10), label_a="plain", label_b="optimized")
    assert faster.n_lower == 10 and faster.direction == "lower"
    assert faster.sentence(runner="epyc").startswith("optimized was ") and "faster than plain on epyc" in faster.sentence(runner="epyc")
    flip = paired_ratio([1, 1, 1, 1, 1, 1], [1.5, 0.8, 1.5, 0.8, 1.4, 0.7])
    assert flip.direction == NO_DIFFERENCE and NO_DIFFERENCE in flip.sentence()


@pytest.mark.parametrize("rounds", [5, 8])
def test_an_aa_pair_is_called_different_at_about_the_nominal_rate(rounds):
    rng = np.random.default_rng(5)
    flagged = 0
    for _ in range(1000):
        # both arms share the round's machine state (paired), plus their own noise
        state = rng.normal(0, 0.2, rounds)
        a = np.exp(state + rng.normal(0, 0.05, rounds))
        b = np.exp(state + rng.normal(0, 0.05, rounds))
        flagged += paired_ratio(a, b).direction != NO_DIFFERENCE
    assert flagged / 1000 <= 0.07


def test_regression_detector_false_positive_rate_on_identical_builds():
    rng = np.random.default_rng(6)
    flagged = sum(regression(rng.lognormal(0, 0.2, 5), rng.lognormal(0, 0.2, 5)).direction == "higher"
                  for _ in range(1000))
    assert flagged / 1000 <= 0.05
    slower = regression(rng.lognormal(0, 0.05, 5), rng.lognormal(np.log(1.5), 0.05, 5))
    assert slower.direction == "higher" and 1.3 < slower.ratio < 1.7


def test_between_run_interval_needs_two_runs():
    assert not between_run_interval([3.0]).known
    same = between_run_interval([3.0, 3.0])
    assert same.lower == pytest.approx(3.0) and same.upper == pytest.approx(3.0)


def test_interval_bounds_are_what_a_metric_ci_takes():
    assert between_run_interval([3.0]).bounds is None
    iv = between_run_interval([3.0, 3.3, 2.9])
    assert iv.bounds == (iv.lower, iv.upper) and iv.lower < 3.05 < iv.upper


def test_interleaving_is_randomised_and_balanced():
    rng = np.random.default_rng(7)
    labels = ["A", "A2", "B", "C"]
    order = balanced_order(labels, 6, rng)
    assert len(order) == 24
    for i in range(6):  # every round holds every label once
        assert sorted(order[i * 4:(i + 1) * 4]) == sorted(labels)
    first = [order[i * 4] for i in range(6)]
    assert len(set(first)) > 1  # no label always first
    positions = {lab: np.mean([order[i * 4:(i + 1) * 4].index(lab) for i in range(6)]) for lab in labels}
    assert all(abs(v - 1.5) <= 1.0 for v in positions.values())  # early and late alike
    other = balanced_order(labels, 6, np.random.default_rng(8))
    assert other != order  # the order comes from the generator, not a fixed pattern


def test_history_flags_identical_builds_at_the_nominal_rate_and_finds_a_real_slowdown():
    from edgetiming.results.history import find_regressions

    rng = np.random.default_rng(9)

    def entry(i, per_run, key):
        return {"status": "OK", "recipe": "r", "recipe_version": "v", "mode": "full", "cache_key": key,
                "git_sha": f"sha{i}", "started_at": f"2026-12-0{i}",
                "metrics": {"p99_ms": {"value": float(np.median(per_run)), "unit": "ms", "per_run": list(per_run),
                                       "ci": [min(per_run), max(per_run)]}}}

    flagged = 0
    for t in range(400):
        a, b = rng.lognormal(0, 0.2, 5), rng.lognormal(0, 0.2, 5)
        flagged += bool([r for r in find_regressions([entry(1, a, f"k{t}a"), entry(2, b, f"k{t}b")])
                         if r.is_regression])
    assert flagged / 400 <= 0.05
    a, b = rng.lognormal(0, 0.05, 5), rng.lognormal(np.log(1.4), 0.05, 5)
    (reg,) = find_regressions([entry(1, a, "x"), entry(2, b, "y")])
    assert reg.is_regression and reg.ratio_low > 1.05


def _sentinel_entry(i, per_run, sentinel, key):
    return {"status": "OK", "recipe": "r", "recipe_version": "v", "mode": "full", "cache_key": key,
            "git_sha": f"sha{i}", "started_at": f"2026-12-0{i}",
            "metrics": {"p99_ms": {"value": float(np.median(per_run)), "unit": "ms", "per_run": list(per_run),
                                   "per_run_sentinel": list(sentinel)}}}


def test_a_step_the_sentinel_shows_too_is_the_machines_and_not_a_regression():
    from edgetiming.results.history import find_regressions

    rng = np.random.default_rng(4)
    model, sent = 10 * rng.lognormal(0, 0.02, 5), rng.lognormal(0, 0.02, 5)
    noise = rng.lognormal(0, 0.02, 5)
    # the machine got 1.4x slower: model and sentinel alike (each run's model/sentinel ratio unchanged)
    (machine,) = find_regressions([_sentinel_entry(1, model, sent, "a"),
                                   _sentinel_entry(2, model * 1.4 * noise, sent * 1.4 * noise, "b")])
    assert machine.whose == "machine" and not machine.is_regression
    assert "the machine was slower" in machine.message("box") and "sentinel" in machine.whose_because
    # the model got 1.4x slower and the sentinel held still
    (model_step,) = find_regressions([_sentinel_entry(1, model, sent, "a"),
                                      _sentinel_entry(2, model * 1.4 * noise, sent, "b")])
    assert model_step.whose == "model" and model_step.is_regression
    assert model_step.message("box").startswith("regression on box")
    # without sentinel medians the detector decides on the raw values, as before
    old = find_regressions([{**_sentinel_entry(1, model, sent, "a"), "metrics": {"p99_ms": {
        "value": 10.0, "unit": "ms", "per_run": list(model)}}},
        {**_sentinel_entry(2, model, sent, "b"), "metrics": {"p99_ms": {
            "value": 14.0, "unit": "ms", "per_run": list(model * 1.4)}}}])
    assert len(old) == 1 and old[0].whose == "" and old[0].is_regression


def test_attribute_step_says_no_step_model_machine_or_unclear_in_either_direction():
    from edgetiming.stats.repeated import attribute_step

    rng = np.random.default_rng(11)
    model, sent = 10 * rng.lognormal(0, 0.02, 6), rng.lognormal(0, 0.02, 6)
    noise = rng.lognormal(0, 0.02, 6)
    assert attribute_step(model, sent, model * noise, sent * noise)[0] == "no step"
    assert attribute_step(model, sent, model * 0.6 * noise, sent * 0.6 * noise)[0] == "machine"  # a faster machine
    assert attribute_step(model, sent, model * 0.6 * noise, sent * noise)[0] == "model"
    who, why = attribute_step(model, sent, model * 1.5 * noise, sent * 1.2 * noise)
    assert who == "model" and "in sentinel units" in why  # the machine moved too, but not all of it
    with pytest.raises(ValueError, match="one sentinel median"):
        attribute_step(model, sent[:3], model, sent)


def test_level_differences_between_interleaved_blocks_are_a_note_not_unstable():
    from edgetiming.stats.repeated import repeated_quantile

    rng = np.random.default_rng(5)

    def run():  # 10 blocks of 50 calls whose level alternates by 15%, as after different neighbours
        levels = np.repeat(np.where(rng.random(10) < 0.5, 1.0, 1.15), 50)
        return levels * rng.lognormal(0, 0.01, 500)

    runs = [run() for _ in range(5)]
    contiguous = repeated_quantile(runs, 0.5)
    assert contiguous.judgement.state.value == "unstable"
    assert any("level shifted" in r for r in contiguous.judgement.reasons)
    interleaved = repeated_quantile(runs, 0.5, contiguous=False)
    assert not any("level shifted" in r for r in interleaved.judgement.reasons)
    assert any("interleaved blocks" in n for n in interleaved.judgement.notes)
