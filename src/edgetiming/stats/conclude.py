"""Conclusion sentences generated from paired ratios and their A/A noise floor.

A comparison's sentence is produced from the :class:`~edgetiming.stats.repeated.RatioEstimate`
it rests on, so it cannot contradict it. An effect counts only when

1. its interval over rounds excludes 1 (``ratio.direction``), and
2. its point estimate lies outside the A/A interval: the baseline measured
   twice in the same rounds shows how far two identical arms drift apart on
   this runner, and an effect inside that spread is not an effect here.

Otherwise the sentence says "no detectable difference" and names the runner.

Example
-------
>>> from edgetiming.stats.repeated import paired_ratio
>>> r = paired_ratio([10, 11, 10, 9.8, 10.2], [7, 7.9, 7.4, 6.9, 7.3], label_a="original", label_b="optimized")
>>> aa = paired_ratio([10, 11, 10, 9.8, 10.2], [10.1, 10.8, 10.2, 9.9, 10.0])
>>> versus_noise(r, aa)
'lower'
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from edgetiming.stats.repeated import NO_DIFFERENCE, RatioEstimate

__all__ = ["best_not_beaten", "comparison_sentence", "noise_floor_sentence", "recommend", "runner_name",
           "versus_noise"]

RUNNER_ENV = "EDGETIMING_RUNNER"


def runner_name() -> str:
    """The runner the executor named (``EDGETIMING_RUNNER``), else "this runner"."""
    return os.environ.get(RUNNER_ENV) or "this runner"


def versus_noise(ratio: RatioEstimate, aa: RatioEstimate | None) -> str:
    """``"lower"``, ``"higher"`` or "no detectable difference" once the A/A noise floor is taken into account."""
    if ratio.direction == NO_DIFFERENCE:
        return NO_DIFFERENCE
    if aa is not None and aa.interval.contains(ratio.ratio):
        return NO_DIFFERENCE
    return ratio.direction


def _span(r: RatioEstimate) -> str:
    iv = r.interval
    return f"[{iv.lower:.3g}, {iv.upper:.3g}]" if iv.known else "[interval unknown]"


def comparison_sentence(ratio: RatioEstimate, aa: RatioEstimate | None, quantity: str = "P50", *,
                        runner: str | None = None, smaller_is: str = "faster", larger_is: str = "slower") -> str:
    """One sentence for ``ratio`` (B/A), judged against the A/A noise floor ``aa``.

    "B was 1.52x slower than A on epyc (P50 ratio 1.52, 95% interval [1.41, 1.63] over 5 rounds)."
    or "B and A: no detectable difference on epyc (...; inside the A/A noise floor [0.9, 1.1])."
    """
    where = runner or runner_name()
    direction = versus_noise(ratio, aa)
    tail = (f"({quantity} ratio {ratio.ratio:.3g}, {ratio.interval.confidence:.0%} interval {_span(ratio)} "
            f"over {ratio.rounds} rounds")
    if direction == NO_DIFFERENCE:
        why = (f"; inside the A/A noise floor {_span(aa)}" if aa is not None and ratio.direction != NO_DIFFERENCE
               else "")
        return f"{ratio.label_b} and {ratio.label_a}: {NO_DIFFERENCE} on {where} {tail}{why})."
    if direction == "lower":
        return f"{ratio.label_b} was {1 / ratio.ratio:.2f}x {smaller_is} than {ratio.label_a} on {where} {tail})."
    return f"{ratio.label_b} was {ratio.ratio:.2f}x {larger_is} than {ratio.label_a} on {where} {tail})."


def noise_floor_sentence(aa: RatioEstimate | None, quantity: str = "P50", *, runner: str | None = None) -> str:
    """The A/A line of a conclusion: the noise floor every comparison is read against."""
    if aa is None:
        return "No A/A arm was measured: the noise floor is unknown."
    return (f"Noise floor on {runner or runner_name()}: the baseline measured twice in the same rounds gave a "
            f"{quantity} ratio of {aa.ratio:.3g}, {aa.interval.confidence:.0%} interval {_span(aa)} over "
            f"{aa.rounds} rounds; effects inside it are reported as {NO_DIFFERENCE}.")


def best_not_beaten(candidates: Sequence[str], beats: Callable[[str, str], bool],
                    simplicity: Sequence[str]) -> tuple[str, list[str]]:
    """The simplest candidate that no other candidate beats, and the list of those not beaten.

    ``beats(x, y)`` says whether x is detectably better than y (beyond the noise
    floor); ``simplicity`` orders candidates from simplest to most involved
    (the first not-beaten one in this order is chosen, so a setting is only
    preferred over a simpler one when the data says it is better).
    """
    not_beaten = [c for c in candidates if not any(beats(o, c) for o in candidates if o != c)]
    pool = not_beaten or list(candidates)
    order = {c: i for i, c in enumerate(simplicity)}
    return min(pool, key=lambda c: order.get(c, len(order))), not_beaten


def recommend(labels: Sequence[str], ratio: Callable[[str, str], RatioEstimate], aa: RatioEstimate | None,
              simplicity: Sequence[str]) -> tuple[str, list[str]]:
    """The simplest setting no other beats, from paired ratios: ``ratio(a, b)`` is b/a over rounds.

    x beats y when x/y is "lower" beyond the A/A noise floor ``aa``
    (:func:`versus_noise`). Returns the recommendation and the settings not beaten.
    """
    return best_not_beaten(labels, lambda x, y: versus_noise(ratio(y, x), aa) == "lower", simplicity)
