"""Latency comparisons under load: only where every server keeps up, judged against an A/A arm.

A latency comparison between a saturated server and one that keeps up compares
a growing queue with a service time: the saturated server's percentile depends
on how long the run lasted, not on the server. So under open-loop load:

- a server **keeps up** at a load when the rate it served is within
  :data:`KEEP_UP_TOLERANCE` (2%) of the rate offered, in every round
  (:func:`keeps_up`); saturation is reported separately, with the served rate;
- latency is compared (a :class:`~edgetiming.stats.repeated.RatioEstimate` over
  rounds) only at loads where every server in the comparison keeps up, and the
  headline comes from the highest such load (:func:`headline_load`);
- a ratio whose interval excludes 1 but overlaps the A/A arm's interval (the
  baseline measured twice in the same rounds) is not beyond the noise of that
  run and reads "no detectable difference" (:func:`beyond_noise`).

Every sentence is generated from those objects (:func:`comparison_sentence`,
:func:`load_conclusions`), so it cannot contradict the numbers it rests on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgetiming.stats.repeated import NO_DIFFERENCE, RatioEstimate, RepeatedEstimate
from edgetiming.stats.validity import State

__all__ = [
    "KEEP_UP_TOLERANCE",
    "LoadComparison",
    "beyond_noise",
    "comparison_sentence",
    "deadline_verdict",
    "headline_fields",
    "headline_load",
    "keeps_up",
    "load_conclusions",
]

#: A server keeps up when it served at least (1 - this) of the offered rate.
KEEP_UP_TOLERANCE = 0.02
KEEP_UP_RULE = f"served rate within {KEEP_UP_TOLERANCE:.0%} of the offered rate in every round"


def keeps_up(offered_hz: Sequence[float], served_hz: Sequence[float], tolerance: float = KEEP_UP_TOLERANCE) -> bool:
    """Whether the served rate was at least ``(1 - tolerance) x`` the offered rate in every round.

    >>> keeps_up([100.0, 100.0], [99.0, 98.5]), keeps_up([100.0, 100.0], [99.0, 91.0])
    (True, False)
    """
    if len(offered_hz) != len(served_hz) or not offered_hz:
        raise ValueError("keeps_up needs one offered and one served rate per round, at least one round")
    return all(s >= (1.0 - tolerance) * o for o, s in zip(offered_hz, served_hz))


def beyond_noise(ratio: RatioEstimate, aa: RatioEstimate | None) -> bool:
    """The ratio's interval excludes 1 and lies outside the A/A ratio's interval (when there is one)."""
    if ratio.direction == NO_DIFFERENCE:
        return False
    if aa is None or not aa.interval.known:
        return True
    return ratio.interval.upper < aa.interval.lower or ratio.interval.lower > aa.interval.upper  # type: ignore[operator]


def _span(r: RatioEstimate) -> str:
    iv = r.interval
    return f"{r.ratio:.3g} [{iv.lower:.3g}, {iv.upper:.3g}]" if iv.known else f"{r.ratio:.3g} [interval unknown]"


def comparison_sentence(ratio: RatioEstimate, aa: RatioEstimate | None, quantity: str = "P99", *,
                        smaller_is: str = "faster", larger_is: str = "slower", runner: str | None = None) -> str:
    """The ratio's sentence, or "no detectable difference" when it is inside the A/A noise; A/A quoted."""
    floor = f"; A/A {_span(aa)}" if aa is not None else ""
    if ratio.direction != NO_DIFFERENCE and not beyond_noise(ratio, aa):
        where = f" on {runner}" if runner else ""
        return (f"{ratio.label_b} and {ratio.label_a}: {NO_DIFFERENCE}{where} ({quantity} ratio {_span(ratio)} over "
                f"{ratio.rounds} rounds overlaps the A/A ratio {_span(aa)}).")  # type: ignore[arg-type]
    s = ratio.sentence(quantity, smaller_is=smaller_is, larger_is=larger_is, runner=runner)
    return s[:-2] + f"{floor})." if s.endswith(").") else s + floor


@dataclass(frozen=True)
class LoadComparison:
    """One offered load: per-arm offered and served rates per round, the ratio and the A/A ratio."""

    load: float
    ratio: RatioEstimate
    aa: RatioEstimate | None
    offered_hz: Mapping[str, Sequence[float]]
    served_hz: Mapping[str, Sequence[float]]
    tolerance: float = KEEP_UP_TOLERANCE
    compared: tuple[str, ...] = field(default=())

    @property
    def arms(self) -> tuple[str, ...]:
        return self.compared or (self.ratio.label_a, self.ratio.label_b)

    def kept_up(self, arm: str) -> bool:
        return keeps_up(self.offered_hz[arm], self.served_hz[arm], self.tolerance)

    @property
    def all_kept_up(self) -> bool:
        return all(self.kept_up(a) for a in self.arms)

    def saturated(self) -> list[str]:
        """"arm served S of O items/s" for each arm that did not keep up (worst round)."""
        out = []
        for a in self.arms:
            if not self.kept_up(a):
                o, s = min(zip(self.offered_hz[a], self.served_hz[a]), key=lambda t: t[1] / t[0])
                out.append(f"{a} served {s:.0f} of {o:.0f}/s offered ({s / o:.0%})")
        return out


def headline_load(points: Sequence[LoadComparison]) -> LoadComparison | None:
    """The comparison at the highest load where every compared arm kept up, or None."""
    ok = [p for p in points if p.all_kept_up]
    return max(ok, key=lambda p: p.load) if ok else None


def headline_fields(points: Sequence[LoadComparison], quantity: str = "P99", *, runner: str | None = None,
                    smaller_is: str = "faster", larger_is: str = "slower") -> dict[str, Any]:
    """Keyword arguments for ``report.metric`` of the headline ratio, from :func:`headline_load`.

    ``value``, ``ci``, ``runs`` and ``note`` (the comparison sentence) come from the highest load at
    which every compared arm kept up; without such a load the value is None and ``invalid_because``
    says why (a list, so a recipe can add its own reasons).

    >>> from edgetiming.stats.repeated import paired_ratio
    >>> pt = LoadComparison(0.5, paired_ratio([5.0, 5.2, 5.1], [7.0, 7.3, 7.1]), None, {"a": [100.0], "b": [100.0]},
    ...                     {"a": [100.0], "b": [80.0]}, compared=("a", "b"))
    >>> headline_fields([pt])["value"], headline_fields([pt])["invalid_because"]
    (None, ['no load at which every compared arm kept up (served rate within 2% of the offered rate in every round)'])
    """
    h = headline_load(points)
    if h is None:
        return {"value": None, "ci": None, "runs": None, "note": "",
                "invalid_because": [f"no load at which every compared arm kept up ({KEEP_UP_RULE})"]}
    return {"value": h.ratio.ratio, "ci": (h.ratio.interval.lower, h.ratio.interval.upper) if h.ratio.interval.known
            else None, "runs": h.ratio.rounds, "invalid_because": [],
            "note": comparison_sentence(h.ratio, h.aa, quantity, smaller_is=smaller_is, larger_is=larger_is,
                                        runner=runner)}


def load_conclusions(points: Sequence[LoadComparison], quantity: str = "P99", *, runner: str | None = None,
                     smaller_is: str = "faster", larger_is: str = "slower", load_label: str = "load") -> list[str]:
    """One sentence per load: the comparison where every arm kept up, the saturation otherwise."""
    lines = []
    for p in sorted(points, key=lambda q: q.load):
        head = f"At {load_label} {p.load:g}: "
        if p.all_kept_up:
            lines.append(head + comparison_sentence(p.ratio, p.aa, quantity, smaller_is=smaller_is,
                                                    larger_is=larger_is, runner=runner))
        else:
            lines.append(head + "not compared, because not every server kept up (" + "; ".join(p.saturated())
                         + f"); a latency comparison needs the {KEEP_UP_RULE}.")
    return lines


def deadline_verdict(est: RepeatedEstimate, deadline: float, quantity: str = "P99") -> tuple[str, str]:
    """PASS / FAIL / INCONCLUSIVE for "``quantity`` <= deadline" from the deciding interval (the wider of
    within-run and between-round); no verdict (INCONCLUSIVE) when the estimate is invalid."""
    span = f"{quantity} {est.value:.3g} [{est.lower:.3g}, {est.upper:.3g}] over {est.runs} rounds"
    if est.judgement.state is State.INVALID:
        return "INCONCLUSIVE", f"no verdict: {span} is invalid ({'; '.join(est.judgement.reasons)})"
    if est.upper <= deadline:
        return "PASS", f"{span}: the whole deciding interval is within {deadline:g}"
    if est.lower > deadline:
        return "FAIL", f"{span}: the whole deciding interval is over {deadline:g}"
    return "INCONCLUSIVE", f"{span}: the deciding interval contains {deadline:g}"
