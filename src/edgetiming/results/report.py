"""What a recipe calls to hand its measurements to the executor.

A recipe reports metrics, figures, raw samples and SLO checks through these
functions. Under ``edgetiming run`` the executor points
``EDGETIMING_OUTPUT_DIR`` at the recipe's bundle folder and everything reported
is written there, then collected into ``result.json``. Run by hand (Jupyter or
``python recipes/x.py``) the variable is unset: values are only printed and
figures only shown, so a recipe stays runnable without the executor.

Example
-------
>>> from edgetiming.results import report
>>> report.metric("p99_ms", 12.5, unit="ms", description="P99 of steady state")  # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import os
import re
import sys
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgetiming.stats.validity import Judgement, State, judge

__all__ = [
    "OUTPUT_ENV",
    "VERDICTS",
    "check",
    "estimate",
    "figure",
    "metric",
    "output_dir",
    "samples",
    "slo_check",
]

OUTPUT_ENV = "EDGETIMING_OUTPUT_DIR"
VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE", "NOT_MEASURED", "NO_VERDICT")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,79}$")

METRICS_FILE = "metrics.jsonl"
FIGURES_FILE = "figures.jsonl"
SAMPLES_FILE = "samples.jsonl"
CHECKS_FILE = "checks.jsonl"


def output_dir() -> Path | None:
    """The bundle folder the executor gave this recipe, or None when run by hand."""
    value = os.environ.get(OUTPUT_ENV)
    return Path(value) if value else None


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"{kind} name {name!r} is not allowed: use 1-80 characters of a-z, 0-9, '_', '.', '-'"
            " starting with a letter or digit, for example 'p99_ms'"
        )


def _append(filename: str, record: dict[str, Any]) -> None:
    out = output_dir()
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True, allow_nan=False)
    with open(out / filename, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _plain(value: Any) -> Any:
    """Numpy scalars to Python scalars; reject NaN and infinity with a clear message."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"value {value!r} is not finite: report None for 'not measured' instead")
    return value


def metric(
    name: str,
    value: float | int | str | bool | None,
    *,
    unit: str = "",
    description: str = "",
    ci: tuple[float, float] | None = None,
    n: int | None = None,
    judgement: Judgement | None = None,
    invalid_because: str | Iterable[str] = (),
    unstable_because: str | Iterable[str] = (),
    ci_within: tuple[float, float] | None = None,
    ci_between: tuple[float, float] | None = None,
    runs: int | None = None,
    per_run: list[float] | None = None,
    per_run_sentinel: list[float] | None = None,
    note: str = "",
) -> None:
    """Report one named value.

    Parameters
    ----------
    name : metric name with its unit in it where it has one, e.g. ``"p99_ms"``.
    value : the number (or a short string or bool); None means "not measured".
    unit : unit symbol, e.g. ``"ms"``; empty for dimensionless values.
    description : one sentence a reader of the site understands.
    ci : (low, high) confidence interval in the same unit, when there is one.
    n : number of samples the value is computed from.
    judgement : the state decided by :func:`edgetiming.stats.validity.judge` (or a run's
        ``judgement()``); without one the value is *valid* unless a reason below says otherwise.
    invalid_because, unstable_because : reasons this recipe adds; they can only make the
        state worse. A recipe cannot mark a metric valid.
    ci_within, ci_between : the within-run interval and the between-run interval over
        independent processes; ``ci`` is the one that decides verdicts (the wider).
    runs : how many independent processes the value comes from.
    per_run : the estimate from each of those processes, in order (the regression detector
        compares these between two runs).
    per_run_sentinel : the median latency (ms) of the fixed sentinel workload in each of those
        processes, in the same order: with it the regression detector can tell a slower
        machine from a slower model.
    note : a caveat that does not change the state.

    A metric reported twice keeps the last value, so re-running a cell by hand is harmless.
    """
    _check_name("metric", name)
    value = _plain(value)
    if value is not None and not isinstance(value, (int, float, str, bool)):
        raise TypeError(f"metric {name!r}: value must be a number, string, bool or None")
    j = judgement or Judgement()
    for reason in [invalid_because] if isinstance(invalid_because, str) else invalid_because:
        if reason:
            j = j.worsened(State.INVALID, reason)
    for reason in [unstable_because] if isinstance(unstable_because, str) else unstable_because:
        if reason:
            j = j.worsened(State.UNSTABLE, reason)
    record: dict[str, Any] = {
        "name": name,
        "value": value,
        "unit": unit,
        "description": description,
        "valid": j.valid,
        "note": note,
        **j.to_dict(),
    }
    for key, pair in (("ci", ci), ("ci_within", ci_within), ("ci_between", ci_between)):
        if pair is not None:
            record[key] = [_plain(float(pair[0])), _plain(float(pair[1]))]
    if n is not None:
        record["n"] = int(n)
    if runs is not None:
        record["runs"] = int(runs)
    if per_run is not None:
        record["per_run"] = [_plain(float(v)) for v in per_run]
    if per_run_sentinel is not None:
        if per_run is not None and len(per_run_sentinel) != len(per_run):
            raise ValueError(f"metric {name!r}: per_run_sentinel has {len(per_run_sentinel)} values for "
                             f"{len(per_run)} runs; give one sentinel median per run, in the same order")
        record["per_run_sentinel"] = [_plain(float(v)) for v in per_run_sentinel]
    if output_dir() is None:
        shown = f"{value} {unit}".strip()
        print(f"[metric] {name} = {shown}" + ("" if j.valid else f" ({j.state.value.upper()}: {'; '.join(j.reasons)})"))
    _append(METRICS_FILE, record)


def estimate(name: str, est: Any, *, description: str, unit: str = "ms",
             judgement: Judgement | None = None, **extra: Any) -> None:
    """Report a percentile estimate as a metric, with every interval it carries.

    ``est`` is a :class:`~edgetiming.stats.quantiles.QuantileEstimate` (one run: its exact
    interval, judged on its sample count) or a :class:`~edgetiming.stats.repeated.RepeatedEstimate`
    (several runs: the deciding interval, the within-run and the between-run ones, and its
    own judgement). Values must already be in ``unit``. ``extra`` goes to :func:`metric`.
    """
    if hasattr(est, "between"):  # RepeatedEstimate
        lo, hi = est.lower, est.upper
        metric(name, est.value, unit=unit, n=est.within.n, runs=est.runs, description=description,
               per_run=[q.value for q in est.per_run],
               ci=(lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None,
               ci_within=(est.within.lower, est.within.upper) if est.within.bounded else None,
               ci_between=(est.between.lower, est.between.upper) if est.between.known else None,
               judgement=est.judgement if judgement is None else est.judgement.combined(judgement), **extra)
        return
    own = judge(n=est.n, percentiles=(est.p,), confidence=est.confidence)
    metric(name, est.value, unit=unit, n=est.n, description=description,
           ci=(est.lower, est.upper) if est.bounded else None,
           judgement=own if judgement is None else own.combined(judgement), **extra)


def check(name: str, verdict: str, detail: str, *, link: str = "", sentence: str = "", evidence: str = "",
          fine_print: str = "", reasons: Iterable[str] = ()) -> None:
    """Report one SLO checklist item.

    ``verdict`` is PASS, FAIL, INCONCLUSIVE, NOT_MEASURED, or NO_VERDICT (the number's state
    forbids one). A page shows ``sentence`` first (plain words, verdict and number, e.g.
    "Detector FP32, P99 within 50 ms: FAIL, at least 52.3 ms"), then ``evidence``, with
    ``fine_print`` (ranks, sample counts, the rule) folded away; ``reasons`` are the state
    reasons of the number it rests on, said once when several items share them.
    :func:`slo_check` builds all of them from an estimate.
    """
    _check_name("check", name)
    if verdict not in VERDICTS:
        raise ValueError(f"check {name!r}: verdict {verdict!r} must be one of {', '.join(VERDICTS)}")
    if output_dir() is None:
        print(f"[check] {verdict:<12} {sentence or name + ': ' + detail}")
    record = {"name": name, "verdict": verdict, "detail": detail, "link": link}
    for key, value in (("sentence", sentence), ("evidence", evidence), ("fine_print", fine_print)):
        if value:
            record[key] = value
    if reasons:
        record["reasons"] = list(reasons)
    _append(CHECKS_FILE, record)


def _ms(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 100 else f"{x:,.0f}"


def slo_check(name: str, label: str, est: Any, deadline_ms: float, *, link: str = "") -> str:
    """Decide and report "``label``, P99 within ``deadline_ms``" from an estimate in ms; return the verdict.

    ``est`` is a QuantileEstimate (one run) or a RepeatedEstimate (several runs, whose
    deciding interval is the wider of within-run and between-run). FAIL needs the lower
    end above the deadline, PASS the upper end at or below it, else INCONCLUSIVE. A number
    that is *invalid* for its method (throttling, overhead, no steady state) gets no
    verdict; one invalid only for too few samples still FAILs when its lower end, which
    exists, is above the deadline, and the item says that this bound is what decided it.
    """
    repeated = hasattr(est, "between")
    q = est.within if repeated else est
    j = est.judgement if repeated else judge(n=est.n, percentiles=(est.p,), confidence=est.confidence)
    pname = f"P{est.p * 100:g}"
    lo, hi = float(est.lower), float(est.upper)
    head = f"{label}, {pname} within {deadline_ms:g} ms"
    method_reasons = [r for r in j.reasons if "samples are fewer than" not in r]
    if j.state is State.INVALID and method_reasons:
        verdict, words = "NO_VERDICT", "no verdict, the measurement is invalid"
    elif math.isfinite(lo) and lo > deadline_ms:
        verdict, words = "FAIL", f"at least {_ms(lo)} ms"
        if j.state is State.INVALID:
            words += " (the lower bound exists and decides it, although too few samples bound the upper end)"
    elif j.state is State.INVALID:
        verdict, words = "NO_VERDICT", "no verdict, too few samples to bound it on both sides"
    elif hi <= deadline_ms:
        verdict, words = "PASS", f"at most {_ms(hi)} ms"
    else:
        verdict, words = "INCONCLUSIVE", (f"between {_ms(lo)} and {_ms(hi)} ms" if math.isfinite(hi)
                                          else f"at least {_ms(lo)} ms, no upper bound yet")
    sentence = f"{head}: {words}" if verdict == "NO_VERDICT" else f"{head}: {verdict}, {words}"
    conf = f"{q.confidence:.0%}"
    evidence = f"{pname} = {_ms(est.value)} ms, {conf} interval [{_ms(lo)}, {_ms(hi)}] ms"
    if repeated and est.between.known:
        evidence += (f" (the wider of the within-run [{_ms(q.lower)}, {_ms(q.upper)}] and the between-run "
                     f"[{_ms(est.between.lower)}, {_ms(est.between.upper)}] over {est.runs} processes)")
    if j.state is not State.VALID:
        evidence += f"; the number is {j.state.value}"
    fine = (f"nearest rank (0-based index floor(n·p)) = rank {q.rank} of n = {q.n:,}; exact order-statistic "
            f"interval ranks {q.lower_rank} and {q.upper_rank}; verdict from the deciding interval; rule {j.rule}")
    check(name, verdict, f"{sentence}. {evidence}", link=link, sentence=sentence, evidence=evidence,
          fine_print=fine, reasons=j.reasons)
    return verdict


# A tight bounding box more than this many times the figure's own size means an artist landed
# far outside the axes (a log axis stretched towards zero, a stray label); cropping to it once
# produced a 5-gigapixel PNG of 41 MB. Such a figure is saved at its own size instead.
_MAX_TIGHT_GROWTH = 3.0


def _bbox(fig: Any, name: str) -> str | None:
    """``"tight"``, or None (the figure's own size) when the tight box would be absurdly large."""
    try:
        fig.canvas.draw()
        box = fig.get_tightbbox(fig.canvas.get_renderer())
        w, h = fig.get_size_inches()
    except Exception:  # a backend without a renderer: let savefig decide
        return "tight"
    if box.width > _MAX_TIGHT_GROWTH * w or box.height > _MAX_TIGHT_GROWTH * h:
        print(f"[figure] {name}: content reaches {box.width:.0f} x {box.height:.0f} in beyond the "
              f"{w:.1f} x {h:.1f} in figure; saved at the figure's own size", file=sys.stderr)
        return None
    return "tight"


def figure(fig: Any, name: str, *, alt: str, caption: str = "") -> None:
    """Show a matplotlib figure in the notebook and save it into the bundle as ``figures/<name>.png``.

    ``alt`` is the text alternative for readers who cannot see the image;
    compute it from the data (it is part of the result). The notebook shows
    exactly the saved PNG, with ``alt`` attached, so the site's page and the
    bundle agree. A pyplot figure is closed afterwards so the inline backend
    does not show it a second time, without its alt text.
    """
    _check_name("figure", name)
    if not alt or not alt.strip():
        raise ValueError(f"figure {name!r}: alt text is required; describe what the data shows")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches=_bbox(fig, name), metadata={"Software": None})
    data = buf.getvalue()
    _show_png(data, alt, name)
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)
    out = output_dir()
    if out is None:
        return
    target = out / "figures" / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_bytes(target, data)
    _append(
        FIGURES_FILE,
        {
            "name": name,
            "path": f"figures/{name}.png",
            "alt": alt,
            "caption": caption,
            "sha256": hashlib.sha256(data).hexdigest(),
        },
    )


def _show_png(data: bytes, alt: str, name: str) -> None:
    """Display PNG bytes with alt text when running under IPython; do nothing otherwise."""
    try:
        # imported here: IPython exists only inside a notebook kernel
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:
        return
    if get_ipython() is None:
        return
    display(Image(data=data, format="png", metadata={"alt": alt, "edgetiming_figure": name}))


def figure_outputs(nb: Any) -> Iterator[tuple[dict[str, Any], str]]:
    """The outputs of an executed notebook that display a figure reported with :func:`figure`,
    each with the figure's name (from the metadata :func:`figure` attaches to its PNG).

    For the executor and the site, not for recipes, so it is not in ``__all__``."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("image/png", {}).get("edgetiming_figure")
            if output.get("output_type") == "display_data" and name:
                yield output, name


def samples(name: str, values: Any, *, unit: str = "ns", description: str = "") -> Path | None:
    """Save raw samples into the bundle as ``samples/<name>.npy.gz``.

    Latency samples are int64 nanoseconds; keep every iteration, warmup
    included, and say in ``description`` which ones are warmup.
    """
    _check_name("samples", name)
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"samples {name!r}: expected a 1-D array, got shape {array.shape}")
    if array.dtype.kind not in "iuf":
        raise TypeError(f"samples {name!r}: expected numbers, got dtype {array.dtype}")
    out = output_dir()
    if out is None:
        return None
    data = encode_samples(array)
    target = out / "samples" / f"{name}.npy.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_bytes(target, data)
    _append(
        SAMPLES_FILE,
        {
            "name": name,
            "path": f"samples/{name}.npy.gz",
            "unit": unit,
            "description": description,
            "count": int(array.size),
            "dtype": str(array.dtype),
            "sha256": hashlib.sha256(data).hexdigest(),
        },
    )
    return target


def encode_samples(array: np.ndarray) -> bytes:
    """Deterministic bytes for a sample array: .npy inside gzip with mtime 0."""
    raw = io.BytesIO()
    np.save(raw, np.ascontiguousarray(array), allow_pickle=False)
    return gzip.compress(raw.getvalue(), compresslevel=6, mtime=0)


class SamplesError(ValueError):
    """A samples file that cannot be decoded; the message names the file and what is wrong."""


def decode_samples(data: bytes, *, where: str | Path = "samples") -> np.ndarray:
    """Inverse of :func:`encode_samples`; a damaged file raises :class:`SamplesError` naming ``where``."""
    try:
        raw = gzip.decompress(data)
    except EOFError:
        raise SamplesError(f"{where}: damaged: truncated gzip stream ({len(data)} bytes); restore it from git "
                           "or re-run the recipe") from None
    except (OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError; a flipped bit fails the CRC
        raise SamplesError(f"{where}: damaged: not a readable gzip stream ({exc}); restore it from git "
                           "or re-run the recipe") from None
    try:
        return np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise SamplesError(f"{where}: damaged: not a .npy array ({exc}); restore it from git "
                           "or re-run the recipe") from None


def _write_bytes(target: Path, data: bytes) -> None:
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
