"""The drift recipe's conclusion logic (edgetiming.stats.steady.attribute_drift) on planted data.

Issue 22 item 9: the trend test on ten block medians said "no drift" beside a +79% step
in the last 20% of a run. These tests plant such steps (1.5x) and expect them found,
with their size, position and owner; and expect "no drift" from stationary series.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgetiming.stats.steady import attribute_drift, classify_steady_state, drift_test, level_shift

BLOCKS, MB, SB = 50, 100, 200  # blocks, model and sentinel iterations per block


def series(rng, *, model_step=1.0, sentinel_step=1.0, at=0.8):
    """Model (40 ms) and sentinel (1 ms) in blocks; from block ``at * BLOCKS`` on each is multiplied."""
    m = rng.lognormal(np.log(40e6), 0.05, BLOCKS * MB)
    s = rng.lognormal(np.log(1e6), 0.05, BLOCKS * SB)
    k = int(at * BLOCKS)
    m[k * MB:] *= model_step
    s[k * SB:] *= sentinel_step
    return m, s


@pytest.mark.parametrize("seed", range(5))
def test_stationary_runs_have_no_drift(seed):
    m, s = series(np.random.default_rng(seed))
    a = attribute_drift(m, s, BLOCKS)
    assert a.attribution == "no drift", a.sentence
    assert not a.drift and not a.step.shift


def test_late_model_step_is_drift_of_the_model_with_size_and_position():
    m, s = series(np.random.default_rng(10), model_step=1.5)
    # the old test alone cannot see it: one block in ten moves Kendall's tau too little
    assert not drift_test(m, blocks=10, min_change=0.05).drift
    a = attribute_drift(m, s, BLOCKS)
    assert a.drift and a.step.shift
    assert a.step.relative == pytest.approx(0.5, abs=0.05)
    assert a.step.fraction == pytest.approx(0.8, abs=0.02)
    assert a.attribution == "model drift", a.sentence
    assert "+50%" in a.reason and "last 20%" in a.reason


def test_late_step_of_model_and_sentinel_together_is_the_machine():
    m, s = series(np.random.default_rng(11), model_step=1.5, sentinel_step=1.5)
    a = attribute_drift(m, s, BLOCKS)
    assert a.attribution == "machine drift", a.sentence
    assert abs(a.ratio_step) < 0.05 and a.sentinel_step == pytest.approx(0.5, abs=0.05)


def test_late_speedup_is_found_with_its_sign():
    m, s = series(np.random.default_rng(12), model_step=1 / 1.5)
    a = attribute_drift(m, s, BLOCKS)
    assert a.step.shift and a.step.relative == pytest.approx(-1 / 3, abs=0.05)
    assert a.attribution == "model drift"


def test_sentinel_only_step_is_machine_drift_the_model_did_not_feel():
    m, s = series(np.random.default_rng(13), sentinel_step=1.5, at=0.5)
    a = attribute_drift(m, s, BLOCKS)
    assert a.attribution in ("machine drift the model did not feel", "no drift"), a.sentence
    assert not a.step.shift


def test_warmup_is_not_a_step():
    rng = np.random.default_rng(14)
    x = np.r_[rng.normal(60e6, 2e6, 300), rng.normal(40e6, 2e6, 4700)]
    st = classify_steady_state(x)
    assert st.classification == "warmup"
    assert not level_shift(x, steady=st).shift


def test_blocks_must_split_evenly():
    m, s = series(np.random.default_rng(0))
    with pytest.raises(ValueError, match="equal blocks"):
        attribute_drift(m[:-1], s, BLOCKS)
