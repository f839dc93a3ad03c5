"""Files the "Run it on this device" page needs, written into the docs at site build time.

The page (``docs/guides/measurement/run-on-this-device.md``) runs a model in
the reader's browser with onnxruntime-web. :func:`write_assets` puts into
``docs/webbench/``:

- ``ort/``: onnxruntime-web's WebAssembly build (the wasm-only bundle: the
  WebGPU build adds a second 29 MB binary), copied from ``web/node_modules``,
  which ``scripts/_env.sh`` installs with ``npm ci`` at the version pinned in
  ``web/package-lock.json``;
- ``models/``: the PP-OCR models the recipes use (from the
  ``rapidocr-onnxruntime`` wheel, :mod:`edgetiming.workload.models`);
- ``manifest.json``: each model's file, sha256 (the page checks it with
  ``crypto.subtle`` before creating a session), input shape and deadline, and
  the published runners' closed-loop numbers for the same model and shape,
  recomputed with :mod:`edgetiming.stats.quantiles` from their raw samples.

Nothing is fetched from another host: the published site works from its own files.

Example
-------
>>> from edgetiming.site import webbench
>>> webbench.write_assets(Path("docs"), bundles, project_dir=Path("."))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from edgetiming.results import store
from edgetiming.results.report import decode_samples
from edgetiming.results.result import Result
from edgetiming.stats import quantiles as stats
from edgetiming.workload import models

__all__ = ["MODELS", "ORT_WEB_FILES", "WebbenchError", "comparisons", "find_ort_web", "recipe_link_html", "write_assets"]

#: the wasm-only ES module bundle, its Emscripten glue and its binary (SIMD, threads when isolated)
ORT_WEB_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
MANIFEST_SCHEMA_VERSION = 1
_CLOSED_LOOP = re.compile(r"^closed-loop latency per iteration.*the first (\d+) are warmup")
_ROUND = re.compile(r"^(?P<setting>.+)\.r\d+$")
# measure.rounds: "<setting>: steady latency per iteration, ..." (no warmup in the samples)
_ROUNDS_ARM = re.compile(r"^(?P<setting>[^:]+): steady latency per iteration")
#: recipes whose closed loop runs the model alone (others add load or change the model);
#: shown next to the browser: onnxruntime's default threads and one thread (the browser's
#: only choice when the page is not cross-origin isolated)
_RECIPES = ("characterize-latency", "threads-and-kernels")
_SETTINGS = ("default threads", "1 thread")


class WebbenchError(Exception):
    """The page's files cannot be written; the message names what is missing and the fix."""


@dataclass(frozen=True)
class PageModel:
    key: str  # the rapidocr alias: rapidocr:<key>
    title: str
    input_shape: tuple[int, ...]
    deadline_ms: float  # the deadline the recipes use for this model
    default: bool


MODELS = (
    PageModel("cls", "PP-OCR mobile v2.0 text-angle classifier", (1, 3, 48, 192), 10.0, True),
    PageModel("det", "PP-OCRv4 text detector", (1, 3, 320, 320), 50.0, False),
)


def find_ort_web(project_dir: Path) -> Path:
    """The installed ``onnxruntime-web`` package folder (``web/node_modules/onnxruntime-web``).

    Looked up in ``$EDGETIMING_ORT_WEB``, then under ``project_dir``, then under the
    repository this package was installed from (a site built from a copy of the docs).
    """
    candidates = [Path(os.environ["EDGETIMING_ORT_WEB"])] if os.environ.get("EDGETIMING_ORT_WEB") else []
    candidates += [project_dir / "web" / "node_modules" / "onnxruntime-web",
                   Path(__file__).resolve().parents[3] / "web" / "node_modules" / "onnxruntime-web"]
    for folder in candidates:
        if all((folder / "dist" / name).is_file() for name in ORT_WEB_FILES):
            return folder
    raise WebbenchError(
        "onnxruntime-web is not installed (looked in " + ", ".join(str(c) for c in candidates) + "): "
        "run `npm ci` in web/ (./scripts/build and ./scripts/site do it), or set EDGETIMING_ORT_WEB "
        "to an onnxruntime-web package folder")


def _ci(q: stats.QuantileEstimate) -> list[float | None]:
    return [q.lower if np.isfinite(q.lower) else None, q.upper if np.isfinite(q.upper) else None]


def _setting_labels(result: Result) -> dict[str, str]:
    """Setting prefix -> its label, from metric descriptions like ``s0.cpu_ms_per_inference``
    ("1 thread: CPU seconds ...")."""
    labels = {}
    for name, metric in result.metrics.items():
        prefix, _, rest = name.partition(".")
        desc = metric.description
        if rest == "cpu_ms_per_inference" and ":" in desc:
            labels[prefix] = desc.split(":", 1)[0].strip()
    return labels


def comparisons(bundles: list[store.RunnerBundle], model: PageModel, sha256: str) -> list[dict[str, Any]]:
    """The runners' closed-loop numbers for this model file and input shape.

    Every result whose model has this sha256 and whose ``input_shape`` parameter is the
    page's contributes its closed-loop sample sets (warmup dropped, rounds of one setting
    pooled), from the recipes that time the model alone (``_RECIPES``), for onnxruntime's
    default threads and one thread. P50 also carries a 97.5% interval: the page's ratio interval combines
    two of them (Bonferroni), so it covers at least 95%.
    """
    rows = []
    for bundle in bundles:
        for recipe, result in sorted(bundle.results.items()):
            if recipe not in _RECIPES:
                continue
            used = [m for m in result.models.values() if m.get("sha256") == sha256]
            if not used or list(result.parameters.get("input_shape") or []) != list(model.input_shape):
                continue
            labels = _setting_labels(result)
            groups: dict[str, list[np.ndarray]] = {}
            for sample in result.samples:
                found = _CLOSED_LOOP.match(str(sample.get("description", "")))
                arm = _ROUNDS_ARM.match(str(sample.get("description", "")))
                if not found and not arm:
                    continue
                path = bundle.bundle_dir(recipe) / result.run_dir / sample["path"]
                values = decode_samples(path.read_bytes(), where=path)[int(found.group(1)) if found else 0:]
                setting = (arm.group("setting") if arm else
                           m.group("setting") if (m := _ROUND.match(sample["name"])) else sample["name"])
                groups.setdefault(setting, []).append(values)
            named = {labels.get(s, "default threads" if s == "steady" else s): s for s in groups}
            for label in [label for label in _SETTINGS if label in named]:
                ns = np.concatenate(groups[named[label]])
                if ns.size == 0:
                    continue
                row: dict[str, Any] = {
                    "runner": bundle.runner, "recipe": recipe, "setting": label, "mode": result.mode,
                    "started_at": result.started_at, "n": int(ns.size),
                    "cpu": str(bundle.fingerprint.get("cpu", {}).get("model", "")),
                    "logical_cores": bundle.fingerprint.get("cpu", {}).get("logical_cores"),
                    "onnxruntime": str(bundle.fingerprint.get("onnxruntime", {}).get("version", "")),
                }
                ms = np.sort(ns / 1e6)
                for p in (0.5, 0.9, 0.99):
                    q = stats.quantile_ci(ms, p)
                    key = stats.percentile_label(p)
                    row[f"{key}_ms"], row[f"{key}_ci_ms"] = q.value, _ci(q)
                row["p50_ci975_ms"] = _ci(stats.quantile_ci(ms, 0.5, 0.975))
                rows.append(row)
    return rows


def write_assets(docs_dir: Path, bundles: list[store.RunnerBundle], *, project_dir: Path) -> Path:
    """Write ``docs/webbench/`` (onnxruntime-web, the models, ``manifest.json``); return the manifest path."""
    ort_dir = find_ort_web(project_dir)
    out = docs_dir / "webbench"
    shutil.rmtree(out, ignore_errors=True)
    (out / "ort").mkdir(parents=True)
    (out / "models").mkdir()
    for name in ORT_WEB_FILES:
        shutil.copyfile(ort_dir / "dist" / name, out / "ort" / name)
    ort_version = json.loads((ort_dir / "package.json").read_text(encoding="utf-8"))["version"]
    try:
        rapidocr = metadata.version("rapidocr-onnxruntime")
    except metadata.PackageNotFoundError:
        rapidocr = "unknown"
    entries = []
    for model in MODELS:
        path = models.resolve(f"rapidocr:{model.key}")
        shutil.copyfile(path, out / "models" / path.name)
        sha = models.sha256_file(path)
        entries.append({
            "key": model.key, "title": model.title, "file": f"models/{path.name}", "sha256": sha,
            "bytes": path.stat().st_size, "input_shape": list(model.input_shape), "deadline_ms": model.deadline_ms,
            "default": model.default, "public_id": f"rapidocr-onnxruntime=={rapidocr}:models/{path.name}",
            "runners": comparisons(bundles, model, sha),
        })
    manifest = {"schema_version": MANIFEST_SCHEMA_VERSION, "onnxruntime_web": ort_version,
                "ort_files": {name: f"ort/{name}" for name in ORT_WEB_FILES}, "models": entries}
    store.atomic_write_json(out / "manifest.json", manifest)
    return out / "manifest.json"


def recipe_link_html(parameters: dict[str, Any]) -> str:
    """A paragraph for a recipe page whose model the browser page can run: where to run it there."""
    model = next((m for m in MODELS if parameters.get("model_path") == f"rapidocr:{m.key}"
                  and list(parameters.get("input_shape") or []) == list(m.input_shape)), None)
    if model is None:
        return ""
    return (f'<p class="et-wb-recipe-link">No Python at hand? <a href="../guides/measurement/run-on-this-device.html'
            f'?model={model.key}">Run it on this device</a> measures the same model ({model.title}, '
            f'{"x".join(map(str, model.input_shape))}) in your browser with onnxruntime-web, with the same '
            "statistics, next to the runners' closed-loop numbers for it.</p>")
