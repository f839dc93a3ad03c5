"""Post-training INT8 variants of an ONNX model, made with ``onnxruntime.quantization``.

Shared by ``recipes/quantization.py`` and ``edgetiming tune``:

- :func:`prepare`: raise the opset to 13 where it is lower (per-channel ``DequantizeLinear``
  needs the ``axis`` attribute of opset 13) and run ``quant_pre_process`` (symbolic shape
  inference skipped: it fails on the PP-OCR models);
- :func:`quantize_variant`: ``dynamic`` (``quantize_dynamic``, INT8 weights, activation scales
  at run time) or static QDQ (``quantize_static``, UINT8 activations and INT8 weights,
  MinMax calibration on the inputs given), per-tensor or per-channel;
- :func:`calibration_feeds`: hands calibration inputs to the calibrator one feed at a time;
- :func:`make_variants`: all of the above for a list of variants, timed, each checked to load,
  a variant that fails reported rather than raised.

Example
-------
>>> pre = prepare("rapidocr:cls", Path("/tmp/q"))  # doctest: +SKIP
>>> quantize_variant(pre, Path("/tmp/q/cls-dynamic.onnx"), "dynamic")  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgetiming.workload.models import resolve

__all__ = ["VARIANTS", "MadeVariants", "calibration_feeds", "make_variants", "prepare", "quantize_variant"]

#: The INT8 variants :func:`quantize_variant` makes.
VARIANTS = ("dynamic", "static-per-tensor", "static-per-channel")


def calibration_feeds(name: str, inputs: Sequence[np.ndarray]) -> Any:
    """A ``CalibrationDataReader`` that hands ``{name: x}`` for each rendered input ``x``."""
    # imported here: onnxruntime.quantization pulls in onnx and sympy (~1 s on the 2-vCPU
    # runner), which nothing else in the workload layer needs
    from onnxruntime.quantization import CalibrationDataReader

    class _Feeds(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._it = iter([{name: x} for x in inputs])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    return _Feeds()


def prepare(model: str | Path, workdir: Path, stem: str | None = None) -> Path:
    """Opset raised to >= 13 and ``quant_pre_process`` applied; returns the prepared file."""
    # imported here: onnx and the quantization tools cost ~1 s to import (2-vCPU runner)
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src = resolve(model)
    stem = stem or src.stem
    workdir.mkdir(parents=True, exist_ok=True)
    proto = onnx.load(str(src))
    opset = max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    if opset < 13:
        proto = version_converter.convert_version(proto, 13)
    raised = workdir / f"{stem}-opset13.onnx"
    onnx.save(proto, str(raised))
    pre = workdir / f"{stem}-pre.onnx"
    quant_pre_process(str(raised), str(pre), skip_symbolic_shape=True)
    return pre


def quantize_variant(prepared: Path, out: Path, variant: str, calibration: Sequence[np.ndarray] = (),
                     *, input_name: str | None = None, cache: Path | None = None) -> Path:
    """Write the INT8 ``variant`` of a prepared model to ``out``.

    ``calibration`` (static variants only) holds the inputs of the model's first input (or
    ``input_name``); ``cache`` is a calibration-cache path shared by the two static variants
    where this onnxruntime supports it.
    """
    # imported here: see prepare()
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    if variant not in VARIANTS:
        raise ValueError(f"unknown INT8 variant {variant!r}: use one of {', '.join(VARIANTS)}")
    if variant == "dynamic":
        quantize_dynamic(str(prepared), str(out), weight_type=QuantType.QInt8)
        return out
    if not calibration:
        raise ValueError(f"{variant} needs calibration inputs: pass rendered inputs of the model's input")
    name = input_name or onnx.load(str(prepared), load_external_data=False).graph.input[0].name
    extra = ({"calibration_cache_path": str(cache)}
             if cache is not None and "calibration_cache_path" in inspect.signature(quantize_static).parameters
             else {})
    quantize_static(str(prepared), str(out), calibration_feeds(name, calibration),
                    quant_format=QuantFormat.QDQ, per_channel=variant.endswith("channel"),
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, **extra)
    return out


@dataclass
class MadeVariants:
    """What :func:`make_variants` wrote: ``paths`` (``"fp32"`` is the original file), seconds per step
    (``"pre-process"`` and each variant) and a one-line reason per variant that failed."""

    paths: dict[str, Path]
    build_s: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def size_mb(self) -> dict[str, float]:
        return {v: p.stat().st_size / 1e6 for v, p in self.paths.items()}


def make_variants(model: str | Path, workdir: Path, stem: str, variants: Sequence[str],
                  calibration: Sequence[np.ndarray] = ()) -> MadeVariants:
    """Prepare ``model`` once and write each INT8 variant (``"fp32"`` in ``variants`` is skipped: the
    original file is the baseline) to ``workdir/<stem>-<variant>.onnx``; the static variants share one
    calibration cache where this onnxruntime supports it. A variant this onnxruntime cannot make or
    load is recorded in ``failed``, not raised, so the others are still measured.
    """
    # imported here: onnxruntime costs ~150 ms to import (-X importtime, 2-vCPU runner)
    import onnxruntime as ort

    src = resolve(model)
    made = MadeVariants({"fp32": src})
    todo = [v for v in variants if v != "fp32"]
    if not todo:
        return made
    t0 = time.perf_counter()
    pre = prepare(src, workdir, stem)
    made.build_s["pre-process"] = time.perf_counter() - t0
    cache = workdir / f"{stem}-calibration.json"
    cache.unlink(missing_ok=True)
    for variant in todo:
        out, t0 = workdir / f"{stem}-{variant}.onnx", time.perf_counter()
        try:
            quantize_variant(pre, out, variant, calibration, cache=cache)
            ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])  # it must load
            made.paths[variant] = out
        except Exception as exc:  # noqa: BLE001 (a variant this onnxruntime cannot make or load is reported)
            made.failed[variant] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        made.build_s[variant] = time.perf_counter() - t0
    return made
