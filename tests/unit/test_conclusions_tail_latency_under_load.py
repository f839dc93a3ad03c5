"""The tail-latency recipe's conclusion logic on synthetic rounds, and the interleaving it runs in.

Issue 22 item 8: "Poisson queues more" was judged at the top load only, from arms run one
after the other. The recipe now runs every arm at every load once per round in a randomised
balanced order (measure.rounds.interleaved_rounds) and generates one sentence per load from
the per-round ratios (stats.loadcompare.load_conclusions).
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

from edgetiming.measure.rounds import interleaved_rounds
from edgetiming.stats.loadcompare import LoadComparison, headline_load, load_conclusions
from edgetiming.stats.repeated import NO_DIFFERENCE, paired_ratio

R, LOADS = 5, (0.3, 0.6, 0.8)


def loads(rng, effect_at_top=1.0, served_top=1.0):
    """Per load: periodic, Poisson and periodic (A/A) per-round P99s sharing a round effect."""
    out = []
    for lv in LOADS:
        shared = rng.lognormal(np.log(5.0 / (1 - lv)), 0.3, R)  # the machine's round-to-round swings
        periodic, aa = (shared * rng.lognormal(0, 0.05, R) for _ in range(2))
        poisson = shared * (effect_at_top if lv == LOADS[-1] else 1.0) * rng.lognormal(0, 0.05, R)
        offered = [lv * 1000.0] * R
        served = [o * (served_top if lv == LOADS[-1] else 1.0) for o in offered]
        out.append(LoadComparison(lv, paired_ratio(periodic, poisson, label_a="evenly spaced arrivals",
                                                   label_b="Poisson arrivals"),
                                  paired_ratio(periodic, aa), {"periodic": offered, "poisson": offered},
                                  {"periodic": offered, "poisson": served}, compared=("periodic", "poisson")))
    return out


def test_aa_data_gives_no_detectable_difference_at_every_load():
    lines = load_conclusions(loads(np.random.default_rng(0)), "P99", runner="r1")
    assert len(lines) == len(LOADS)
    for lv, line in zip(LOADS, lines):
        assert line.startswith(f"At load {lv:g}: ") and NO_DIFFERENCE in line and "A/A" in line, line


def test_planted_effect_is_found_at_its_load_only():
    pts = loads(np.random.default_rng(1), effect_at_top=1.5)
    lines = load_conclusions(pts, "P99", runner="r1")
    assert all(NO_DIFFERENCE in ln for ln in lines[:-1]), lines
    m = re.search(r"Poisson arrivals was ([0-9.]+)x slower than evenly spaced arrivals on r1", lines[-1])
    assert m and float(m.group(1)) == pytest.approx(1.5, abs=0.1), lines[-1]
    assert headline_load(pts).load == LOADS[-1]


def test_a_load_where_an_arm_fell_behind_is_not_compared():
    pts = loads(np.random.default_rng(2), effect_at_top=1.5, served_top=0.9)
    lines = load_conclusions(pts, "P99")
    assert "not compared" in lines[-1] and "slower" not in lines[-1]
    assert headline_load(pts).load == LOADS[1]


def test_interleaved_rounds_run_every_arm_once_per_round_in_varying_order():
    calls = []

    def arm(name):
        def measure(r):
            calls.append((name, r))
            return f"{name}{r}"
        return measure

    names = ["periodic", "poisson", "periodic (A/A)", "stressed"]
    out, order = interleaved_rounds({n: arm(n) for n in names}, 6, seed=3)
    assert out == {n: [f"{n}{r}" for r in range(6)] for n in names}
    assert Counter(order) == dict.fromkeys(names, 6)
    rounds = [tuple(order[i:i + 4]) for i in range(0, 24, 4)]
    assert all(sorted(r) == sorted(names) for r in rounds)
    assert len(set(rounds)) > 1  # not the same order every round
    firsts = Counter(r[0] for r in rounds)
    assert max(firsts.values()) < 6  # no arm always first
    with pytest.raises(ValueError):
        interleaved_rounds({}, 3)
