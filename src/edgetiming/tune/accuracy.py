"""Accuracy floors for ``edgetiming tune``, measured on rendered inputs with known answers.

A floor is ``METRIC=VALUE``:

- ``iou=0.95`` (detector, higher is better): mean IoU of the binarized text map (rapidocr's
  0.3 threshold) with the FP32 model's map at onnxruntime's defaults, over rendered pages;
- ``cer=0.05`` (recognizer, lower is better): character error rate against the rendered text,
  greedy CTC decoding with the dictionary in the model's metadata;
- ``acc=0.95`` (direction classifier, higher is better): share of rendered lines, half of them
  turned upside down, whose predicted class (0 or 180 degrees) is right;
- ``agree=0.99`` (any model, higher is better): share of seeded random inputs whose arg-max over
  the last axis of the first output matches the FP32 model's.

Accuracy depends on the precision, the graph optimization level and denormal handling only
(:attr:`Candidate.accuracy_variant`), so it is measured once per variant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgetiming.workload.ocrdata import (
    CtcDecoder,
    char_error_rate,
    det_input,
    line_dataset,
    mask_iou,
    rec_input,
    render_page,
    text_mask,
)

__all__ = ["METRICS", "AccuracyFloor", "Evaluator", "evaluator_for", "parse_floor"]

#: metric -> (higher is better, what it is)
METRICS: dict[str, tuple[bool, str]] = {
    "iou": (True, "mean IoU of the binarized text map with FP32's, on rendered pages"),
    "cer": (False, "character error rate on rendered lines with known text"),
    "acc": (True, "share of rendered lines (half upside down) classified right"),
    "agree": (True, "share of seeded inputs whose arg-max matches FP32's"),
}


class FloorError(ValueError):
    """A floor that cannot be parsed or does not fit the model."""


@dataclass(frozen=True)
class AccuracyFloor:
    metric: str
    value: float

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.metric][0]

    def met(self, measured: float) -> bool:
        return measured >= self.value if self.higher_is_better else measured <= self.value

    def __str__(self) -> str:
        return f"{self.metric} {'>=' if self.higher_is_better else '<='} {self.value:g}"


def parse_floor(text: str | None) -> AccuracyFloor | None:
    """``"iou=0.95"`` -> AccuracyFloor; ``None``/``""`` -> no floor.

    >>> str(parse_floor("cer=0.05"))
    'cer <= 0.05'
    """
    if not text:
        return None
    name, sep, value = text.partition("=")
    name = name.strip().lower()
    if not sep or name not in METRICS:
        raise FloorError(f"--accuracy-floor {text!r}: write METRIC=VALUE with METRIC one of "
                         f"{', '.join(METRICS)} (for example iou=0.95 or cer=0.05)")
    try:
        v = float(value)
    except ValueError:
        raise FloorError(f"--accuracy-floor {text!r}: {value!r} is not a number") from None
    if not 0.0 <= v <= 1.0:
        raise FloorError(f"--accuracy-floor {text!r}: the value is a fraction, give one in [0, 1]")
    return AccuracyFloor(name, v)


Evaluator = Callable[[Any], float]  # an InferenceSession -> the metric's value


def evaluator_for(metric: str, *, shape: tuple[int, ...], input_name: str, reference: Any,
                  model_meta: dict[str, str], n_items: int = 16, seed: int = 0) -> Evaluator:
    """A function scoring a session on ``metric``; ``reference`` is the FP32 session at defaults.

    Raises :class:`FloorError` when the metric does not fit the model (wrong output, no dictionary).
    """
    n = shape[0]
    out0 = reference.get_outputs()[0]
    if metric == "iou":
        if len(shape) != 4 or len(out0.shape) != 4:
            raise FloorError(f"iou needs a detector (an N x 3 x H x W input and an N x 1 x H x W map); "
                             f"this model's output {out0.name} has shape {out0.shape}: use agree= instead")
        rng = np.random.default_rng(seed + 7)
        pages = [render_page(rng, height=shape[2], width=shape[3]) for _ in range(n_items)]
        feeds = [np.repeat(det_input(p.image, size=(shape[2], shape[3])), n, axis=0) for p in pages]
        ref = [text_mask(reference.run(None, {input_name: x})[0]) for x in feeds]

        def iou(sess: Any) -> float:
            return float(np.mean([mask_iou(r, text_mask(sess.run(None, {input_name: x})[0]))
                                  for r, x in zip(ref, feeds)]))
        return iou
    if metric == "cer":
        if "character" not in model_meta:
            raise FloorError("cer needs a CTC recognizer whose dictionary is in the model's metadata "
                             "key 'character' (rapidocr:rec); use agree= for other models")
        decoder = CtcDecoder(model_meta["character"].splitlines())
        lines = line_dataset(n_items, seed=seed + 11, max_aspect=shape[3] / shape[2])
        feeds = [np.repeat(rec_input(ln.image, height=shape[2], width=shape[3]), n, axis=0) for ln in lines]
        truth = [ln.text for ln in lines]

        def cer(sess: Any) -> float:
            preds = [decoder.decode(sess.run(None, {input_name: x})[0][:1])[0][0] for x in feeds]
            return char_error_rate(preds, truth)
        return cer
    if metric == "acc":
        if len(shape) != 4 or out0.shape[-1] != 2:
            raise FloorError(f"acc needs the 0/180-degree text direction classifier (rapidocr:cls, two "
                             f"classes); this model's output has shape {out0.shape}: use agree= instead")
        lines = line_dataset(n_items, seed=seed + 13, max_aspect=shape[3] / shape[2])
        labels = [i % 2 for i in range(len(lines))]
        feeds = [np.repeat(rec_input(ln.image if lab == 0 else ln.image[::-1, ::-1], height=shape[2],
                                     width=shape[3]), n, axis=0) for ln, lab in zip(lines, labels)]

        def acc(sess: Any) -> float:
            return float(np.mean([int(np.argmax(sess.run(None, {input_name: x})[0][0])) == lab
                                  for x, lab in zip(feeds, labels)]))
        return acc
    if metric == "agree":
        rng = np.random.default_rng(seed + 17)
        feeds = [rng.random(shape, dtype=np.float32) for _ in range(n_items)]
        ref_idx = [np.argmax(reference.run(None, {input_name: x})[0], axis=-1) for x in feeds]

        def agree(sess: Any) -> float:
            return float(np.mean([np.mean(np.argmax(sess.run(None, {input_name: x})[0], axis=-1) == r)
                                  for x, r in zip(feeds, ref_idx)]))
        return agree
    raise FloorError(f"unknown accuracy metric {metric!r}: use one of {', '.join(METRICS)}")
