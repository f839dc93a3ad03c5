"""Where the real pretrained models come from, and how a recipe names them.

The PP-OCR models ship inside the ``rapidocr-onnxruntime`` wheel. A recipe's
``model_path`` parameter is either a file path or an alias ``rapidocr:det``,
``rapidocr:rec`` or ``rapidocr:cls``; :func:`resolve` turns both into a path,
and the executor hashes the resolved file into the recipe's cache key.

Example
-------
>>> from edgetiming.workload.models import resolve
>>> resolve("rapidocr:det").name  # doctest: +SKIP
'ch_PP-OCRv4_det_infer.onnx'
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

__all__ = ["RAPIDOCR_MODELS", "is_model_reference", "rapidocr_models_dir", "resolve", "sha256_file"]

RAPIDOCR_MODELS = {
    "det": "ch_PP-OCRv4_det_infer.onnx",
    "rec": "ch_PP-OCRv4_rec_infer.onnx",
    "cls": "ch_ppocr_mobile_v2.0_cls_infer.onnx",
}
_PREFIX = "rapidocr:"


def rapidocr_models_dir() -> Path:
    """The ``models/`` folder of the installed ``rapidocr_onnxruntime`` package."""
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the package rapidocr-onnxruntime is not installed: run `pip install rapidocr-onnxruntime`"
            " (the build and test scripts install it)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def is_model_reference(value: object) -> bool:
    """True when a parameter value names a model: an alias or a path ending in .onnx/.ort."""
    if not isinstance(value, str) or not value:
        return False
    return value.startswith(_PREFIX) or value.endswith((".onnx", ".ort"))


def resolve(model: str | Path) -> Path:
    """Turn ``rapidocr:det`` (or ``rec``, ``cls``) or a path into an existing model file."""
    text = str(model)
    if text.startswith(_PREFIX):
        key = text[len(_PREFIX) :]
        if key not in RAPIDOCR_MODELS:
            raise ValueError(
                f"unknown model alias {text!r}: use one of "
                + ", ".join(_PREFIX + k for k in RAPIDOCR_MODELS)
                + " or a path to an .onnx file"
            )
        path = rapidocr_models_dir() / RAPIDOCR_MODELS[key]
    else:
        path = Path(text).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist: check the model_path parameter")
    return path.resolve()


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()
