"""The case-study vocabularies and the JSON Schema of the front matter, listed once.

The allow-lists (techniques with the guide and recipe each maps to, hardware
classes, precisions, execution providers, jitter definitions) live here and
nowhere else; :func:`json_schema` builds the published schema
``schemas/case_study.schema.json`` from them (a test keeps the file equal), and
:func:`schema_problems` turns JSON Schema errors into messages that say what to
write instead. Extending a vocabulary is a pull request to this file.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

__all__ = [
    "ARRIVALS",
    "EXECUTION_PROVIDERS",
    "HARDWARE_CLASSES",
    "JITTER_DEFINITIONS",
    "PERCENTILE_FIELDS",
    "PRECISIONS",
    "REQUIRED_SECTIONS",
    "RUNTIMES",
    "SCHEMA_VERSION",
    "TECHNIQUES",
    "TEMPLATE",
    "TOLERANCE_ABS_MS",
    "TOLERANCE_REL",
    "Technique",
    "json_schema",
    "schema_problems",
    "walk",
    "write_schema",
]

SCHEMA_VERSION = 1
TEMPLATE = "case_studies/_template/index.md"
TOLERANCE_ABS_MS = 0.01  # a claim may differ from the samples by 0.01 ms ...
TOLERANCE_REL = 0.005  # ... or by 0.5% of the recomputed value, whichever is larger


@dataclass(frozen=True)
class Technique:
    """One allow-listed technique: the guide that explains it and the recipe that measures it."""

    label: str
    guide: str  # docs/guides/<guide>.md, e.g. "techniques/quantization"
    recipe: str | None  # recipes/<recipe>.py


# The vocabularies, listed once. Extending one is a pull request to this file; then
# `python -m edgetiming.casestudies.model --write-schema` regenerates schemas/case_study.schema.json.
TECHNIQUES: dict[str, Technique] = {
    "int8-dynamic-quantization": Technique("INT8 dynamic quantization", "techniques/quantization", "quantization"),
    "int8-static-quantization": Technique("INT8 static quantization (QDQ)", "techniques/quantization", "quantization"),
    "fp16-conversion": Technique("FP16 conversion", "techniques/quantization", "quantization"),
    "quantization-aware-training": Technique("Quantization-aware training", "techniques/quantization", None),
    "structured-pruning": Technique("Structured (channel) pruning", "techniques/pruning", "pruning"),
    "unstructured-sparsity": Technique("Unstructured sparsity", "techniques/pruning", "pruning"),
    "lightweight-architecture": Technique("Lightweight architecture", "techniques/lightweight-architectures", None),
    "input-resolution": Technique("Input resolution reduction", "primers/latency-budgeting", "latency-budget"),
    "graph-optimization-level": Technique("Graph optimization level", "runtime/graph-optimizations", "operator-fusion"),
    "operator-fusion": Technique("Operator fusion", "techniques/operator-fusion", "operator-fusion"),
    "ahead-of-time-optimization": Technique("Ahead-of-time optimized model", "runtime/ahead-of-time", "ahead-of-time"),
    "ort-format-model": Technique("ORT format model", "runtime/ahead-of-time", "ahead-of-time"),
    "thread-tuning": Technique("Intra-op thread count", "runtime/threading", "threads-and-kernels"),
    "thread-spinning": Technique("Thread spinning on/off", "runtime/threading", "threads-and-kernels"),
    "cpu-affinity": Technique("CPU affinity / core isolation", "runtime/threading", "threads-and-kernels"),
    "denormals-as-zero": Technique("Denormals as zero", "runtime/threading", "threads-and-kernels"),
    "execution-provider-selection": Technique("Execution provider selection", "runtime/kernels-and-providers", "threads-and-kernels"),
    "io-binding": Technique("I/O binding", "runtime/kernels-and-providers", None),
    "micro-batching": Technique("Fixed micro-batching", "scheduling/batching", "batching"),
    "dynamic-batching": Technique("Dynamic batching", "scheduling/batching", "batching"),
    "single-item-pipeline": Technique("Single-item pipeline", "scheduling/batching", "batching"),
    "warmup-inference": Technique("Warm-up inference at start", "measurement/cold-start-and-warmup", "cold-start"),
    "priority-isolation": Technique("Real-time priority / isolation", "scheduling/priorities-and-isolation", "tail-latency-under-load"),
    "frequency-governor": Technique("CPU frequency governor", "tradeoffs/accuracy-variance-power", "drift-and-thermal"),
    "thermal-management": Technique("Thermal management", "measurement/validating-under-conditions", "drift-and-thermal"),
}
HARDWARE_CLASSES: dict[str, str] = {
    "x86-server": "x86-64 server or cloud VM",
    "x86-desktop": "x86-64 desktop",
    "x86-laptop": "x86-64 laptop",
    "x86-embedded": "x86-64 embedded / industrial PC",
    "arm-server": "Arm server or cloud VM",
    "arm-sbc": "Arm single-board computer (e.g. Raspberry Pi)",
    "arm-mobile": "Arm phone or tablet SoC",
    "arm-laptop": "Arm laptop or desktop",
    "riscv-sbc": "RISC-V board",
    "gpu-discrete": "Discrete GPU",
    "gpu-embedded": "Embedded GPU module (e.g. Jetson)",
    "npu": "NPU or ML accelerator",
    "dsp": "DSP",
    "fpga": "FPGA",
    "microcontroller": "Microcontroller",
}
PRECISIONS = ("fp32", "tf32", "fp16", "bf16", "int8", "uint8", "int4", "mixed")
EXECUTION_PROVIDERS = (
    "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider",
    "OpenVINOExecutionProvider", "DnnlExecutionProvider", "CoreMLExecutionProvider",
    "NnapiExecutionProvider", "QNNExecutionProvider", "XnnpackExecutionProvider",
    "ACLExecutionProvider", "ArmNNExecutionProvider", "ROCMExecutionProvider",
    "MIGraphXExecutionProvider", "DmlExecutionProvider", "WebGpuExecutionProvider",
    "VitisAIExecutionProvider", "RknpuExecutionProvider", "CANNExecutionProvider",
    # for runtimes other than onnxruntime
    "cpu", "gpu", "npu", "dsp",
)
RUNTIMES = ("onnxruntime", "litert", "tflite", "tensorrt", "openvino", "pytorch", "executorch",
            "tvm", "ncnn", "mnn", "coreml", "qnn", "other")
ARRIVALS = ("closed-loop", "periodic", "poisson", "trace", "bursty")
JITTER_DEFINITIONS: dict[str, str] = {
    "p99-p50": "nearest-rank P99 minus P50",
    "iqr": "interquartile range P75 - P25 (nearest rank)",
    "mad": "median absolute deviation from the median",
    "std": "sample standard deviation",
    "range": "max - min",
    "rfc3550": "RFC 3550 smoothed jitter J += (|D| - J) / 16 over successive differences",
}
PERCENTILE_FIELDS: dict[str, float] = {
    "p50_ms": 0.5, "p90_ms": 0.9, "p95_ms": 0.95, "p99_ms": 0.99, "p999_ms": 0.999,
}
REQUIRED_SECTIONS: dict[str, tuple[str, ...]] = {
    "Context": ("context",),
    "What was changed": ("what was changed", "what changed", "changes"),
    "Trade-offs": ("trade-offs", "tradeoffs", "trade offs"),
    "Lessons": ("lessons",),
}


# --------------------------------------------------------------------------- schema
def json_schema() -> dict[str, Any]:
    """The JSON Schema of the front matter (what ``schemas/case_study.schema.json`` holds)."""
    ms = {"type": "number", "minimum": 0, "description": "milliseconds"}
    text = {"type": "string", "minLength": 1, "maxLength": 300}
    sha = {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "sha256, 64 lower-case hex digits"}
    side = {
        "type": "object",
        "additionalProperties": False,
        "required": ["label", "precision", "p50_ms", "p95_ms", "p99_ms", "jitter_ms", "jitter_definition"],
        "properties": {
            "label": {"type": "string", "minLength": 1, "maxLength": 120},
            "precision": {"enum": list(PRECISIONS)},
            "settings": {
                "type": "object", "maxProperties": 20,
                "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
                "description": "what differs in this configuration (threads, optimization level, ...)",
            },
            "n_samples": {"type": "integer", "minimum": 1,
                          "description": "samples behind the percentiles (default: measurement.iterations)"},
            **{name: dict(ms, description=f"nearest-rank P{p * 100:g} in milliseconds")
               for name, p in PERCENTILE_FIELDS.items()},
            "jitter_ms": ms,
            "jitter_definition": {"enum": list(JITTER_DEFINITIONS)},
            "energy_mj_per_inference": {"type": "number", "minimum": 0},
            "power_w": {"type": "number", "minimum": 0},
            "samples": {
                "type": "object", "additionalProperties": False,
                "description": "raw samples: a CSV in this folder (file) or a results bundle (bundle + name)",
                "properties": {
                    "file": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]+\.csv$"},
                    "sha256": sha,
                    "bundle": {"type": "string", "pattern": r"^[A-Za-z0-9_./-]+/result\.json$"},
                    "name": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]+$"},
                    "skip_first": {"type": "integer", "minimum": 0},
                },
            },
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "case_study.schema.json",
        "title": "edgetiming case study front matter",
        "description": (
            f"schema_version {SCHEMA_VERSION}. Units are in the field names (_ms, _hz, _s, _w, _mj). "
            "Percentiles are nearest rank. When raw samples are attached, each claimed percentile "
            f"and the jitter must match the samples within max({TOLERANCE_ABS_MS} ms, "
            f"{TOLERANCE_REL:.1%} of the recomputed value)."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": ["schema_version", "title", "date", "authors", "summary", "device", "os",
                     "runtime", "model", "batch_size", "workload", "slo", "measurement",
                     "before", "after", "techniques"],
        "properties": {
            "schema_version": {"const": SCHEMA_VERSION},
            "title": {"type": "string", "minLength": 5, "maxLength": 120},
            "date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
            "authors": {"type": "array", "minItems": 1, "maxItems": 20,
                        "items": {"type": "string", "minLength": 1, "maxLength": 100}},
            "summary": {"type": "string", "minLength": 20, "maxLength": 600},
            "device": {
                "type": "object", "additionalProperties": False, "required": ["name", "hardware_class"],
                "properties": {
                    "name": text, "hardware_class": {"enum": list(HARDWARE_CLASSES)},
                    "cpu": text, "accelerator": text,
                    "cores": {"type": "integer", "minimum": 1},
                    "memory_gib": {"type": "number", "exclusiveMinimum": 0},
                    "virtualized": {"type": "boolean"},
                    "runner": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$",
                               "description": "the edgetiming runner name, when measured with edgetiming"},
                    "fingerprint_sha256": sha,
                },
            },
            "os": text,
            "runtime": {
                "type": "object", "additionalProperties": False,
                "required": ["name", "version", "execution_provider"],
                "properties": {"name": {"enum": list(RUNTIMES)},
                               "version": {"type": "string", "minLength": 1, "maxLength": 40},
                               "execution_provider": {"enum": list(EXECUTION_PROVIDERS)}},
            },
            "model": {
                "type": "object", "additionalProperties": False, "required": ["name"],
                "properties": {"name": text, "sha256": sha, "public_id": text,
                               "format": {"enum": ["onnx", "ort", "tflite", "pt", "engine", "other"]}},
            },
            "batch_size": {"type": "integer", "minimum": 1},
            "workload": {
                "type": "object", "additionalProperties": False, "required": ["arrival"],
                "properties": {"arrival": {"enum": list(ARRIVALS)},
                               "rate_hz": {"type": "number", "exclusiveMinimum": 0},
                               "input_shape": {"type": "array", "minItems": 1, "maxItems": 8,
                                               "items": {"type": "integer", "minimum": 1}},
                               "description": text},
            },
            "slo": {
                "type": "object", "additionalProperties": False, "required": ["deadline_ms", "percentile"],
                "properties": {"deadline_ms": {"type": "number", "exclusiveMinimum": 0},
                               "percentile": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}},
            },
            "measurement": {
                "type": "object", "additionalProperties": False,
                "required": ["method", "warmup_iters", "iterations"],
                "properties": {"method": text, "tool": text,
                               "warmup_iters": {"type": "integer", "minimum": 0},
                               "iterations": {"type": "integer", "minimum": 1},
                               "duration_s": {"type": "number", "minimum": 0},
                               "timer_resolution_ms": {
                                   "type": "number", "exclusiveMinimum": 0,
                                   "description": "the clock's resolution in milliseconds, e.g. "
                                                  "time.get_clock_info('perf_counter').resolution * 1e3; "
                                                  "attached samples below it are rejected"},
                               "processes": {"type": "integer", "minimum": 1},
                               "notes": {"type": "string", "maxLength": 1000}},
            },
            "before": side,
            "after": side,
            "techniques": {"type": "array", "minItems": 1, "uniqueItems": True,
                           "items": {"enum": list(TECHNIQUES)}},
            "related_recipes": {"type": "array", "items": {"type": "string", "pattern": "^[a-z0-9-]+$"}},
        },
    }


Problem = tuple[tuple[str, ...], str, str]  # (field path, message, fix)

_UNIT_WORDS = {"ms": "milliseconds", "us": "microseconds", "µs": "microseconds", "ns": "nanoseconds",
               "s": "seconds", "sec": "seconds", "hz": "hertz", "w": "watts", "mj": "millijoules"}
_NUMBER_WITH_UNIT = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+(?:e[-+]?\d+)?)\s*([a-zµ]+)\s*$", re.IGNORECASE)


def _field_unit(name: str) -> str | None:
    for suffix, word in (("_ms", "milliseconds"), ("_hz", "hertz"), ("_s", "seconds"), ("_w", "watts"),
                         ("_mj_per_inference", "millijoules per inference")):
        if name.endswith(suffix):
            return word
    return None


def _explain(err: jsonschema.ValidationError, path: tuple[str, ...]) -> Iterator[Problem]:
    """(field path, message, fix) for one JSON Schema error, in the contributor's terms."""
    name = path[-1] if path else ""
    kind = err.validator
    if kind == "required":
        missing = re.findall(r"'([^']+)' is a required property", err.message)
        for key in missing or [err.message]:
            yield (path + (key,), "missing required field",
                       f"add `{key}:` " + (f"under `{'.'.join(path)}`" if path else "to the front matter")
                   + f" as in {TEMPLATE}")
    elif kind == "additionalProperties":
        allowed = list(err.schema.get("properties", {}))
        for key in re.findall(r"'([^']+)'", err.message.split("(")[-1]):
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
            unitless = [a for a in allowed if a.startswith(key + "_")]
            if unitless:
                fix = f"field names carry their unit: write `{unitless[0]}` (a number in {_field_unit(unitless[0])})"
            elif close:
                fix = f"did you mean `{close[0]}`?"
            else:
                fix = f"remove it; allowed here: {', '.join(allowed)}"
            yield (path + (key,), "unknown field", fix)
    elif kind == "type":
        value = err.instance
        expected = err.validator_value
        m = _NUMBER_WITH_UNIT.match(value) if isinstance(value, str) else None
        if m and "number" in str(expected) or m and "integer" in str(expected):
            unit = _field_unit(name) or "the unit in the field name"
            got = _UNIT_WORDS.get(m.group(2).lower(), m.group(2))
            if got == unit:
                fix = f"write the number alone: `{name}: {m.group(1)}`"
            else:
                fix = f"convert {got} to {unit} and write the number alone, e.g. `{name}: 12.5`"
            yield (path, f"{value!r} is text with a unit; `{name}` takes a number in {unit}", fix)
        elif expected == "string" and isinstance(value, (int, float)) and not isinstance(value, bool):
            yield (path, f"expected text, got the number {value!r}", f'quote it: `{name}: "{value}"`')
        else:
            yield (path, f"expected {expected}, got {type(value).__name__} {_short(value)}",
                       f"see {TEMPLATE} for the shape of `{name or 'the front matter'}`")
    elif kind == "enum":
        choices = err.validator_value
        close = difflib.get_close_matches(str(err.instance), [str(c) for c in choices], n=1, cutoff=0.6)
        what = {"hardware_class": "hardware class", "precision": "precision", "execution_provider":
                "execution provider", "jitter_definition": "jitter definition", "name": "runtime",
                "arrival": "arrival pattern", "format": "model format"}.get(name, "technique" if
                                                                              path[:1] == ("techniques",) else name)
        fix = (f"did you mean `{close[0]}`? " if close else "") + f"allowed: {', '.join(map(str, choices))}"
        if what == "technique":
            fix += "; to propose a new technique, open an issue with the case-study form"
        yield (path, f"{_short(err.instance)} is not an allowed {what}", fix)
    elif kind in ("minimum", "exclusiveMinimum", "exclusiveMaximum", "maximum"):
        if name == "percentile" and isinstance(err.instance, (int, float)) and err.instance >= 1:
            fix = f"write a fraction: {err.instance / 100:g} for P{err.instance:g}"
        else:
            fix = "latencies, counts and rates cannot be negative" if kind == "minimum" else \
                f"the value must be {'>' if kind == 'exclusiveMinimum' else '<' if kind == 'exclusiveMaximum' else '<='} {err.validator_value}"
        yield (path, f"{_short(err.instance)} is out of range ({err.message})", fix)
    elif kind == "pattern":
        hint = {"sha256": "64 lower-case hex digits from `sha256sum FILE`", "date": "YYYY-MM-DD",
                "file": "a CSV file name in this folder, e.g. before.csv",
                "bundle": "a path inside this folder ending in /result.json",
                "runner": "lower-case letters, digits and hyphens"}.get(name, f"match {err.validator_value}")
        yield (path, f"{_short(err.instance)} has the wrong form", f"write {hint}")
    elif kind == "const":
        yield (path, f"must be {err.validator_value!r}", f"write `{name}: {err.validator_value}`")
    elif kind in ("minLength", "maxLength", "minItems", "maxItems", "maxProperties"):
        yield (path, f"{err.message}", "see the limits in the schema: src/edgetiming/casestudies/schemas/case_study.schema.json")
    elif kind == "uniqueItems":
        yield (path, "lists an item twice", "list each item once")
    else:  # pragma: no cover - every keyword the schema uses is handled above
        yield (path, err.message, f"see {TEMPLATE}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def walk(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, path + (str(k),))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, path + (str(i),))
    else:
        yield path, value




def schema_problems(meta: dict[str, Any]) -> list[Problem]:
    """Every schema problem of a parsed front matter, non-finite numbers first.

    Examples
    --------
    >>> schema_problems({"schema_version": 2})[0][1]
    'unknown schema_version 2: this edgetiming reads version 1'
    """
    version = meta.get("schema_version")
    if "schema_version" in meta and version != SCHEMA_VERSION:
        return [(("schema_version",),
                 f"unknown schema_version {version!r}: this edgetiming reads version {SCHEMA_VERSION}",
                 (f"write `schema_version: {SCHEMA_VERSION}` and follow {TEMPLATE}, "
                  "or upgrade edgetiming if the template is newer"))]
    out: list[Problem] = []
    non_finite = set()
    for path, value in walk(meta):
        if isinstance(value, float) and not math.isfinite(value):
            non_finite.add(path)
            out.append((path, f"{value!r} is not a finite number",
                        "write the measured value; leave an optional field out rather than writing .nan or .inf"))
    validator = jsonschema.Draft202012Validator(json_schema())
    for err in sorted(validator.iter_errors(meta), key=lambda e: [str(p) for p in e.path]):
        path = tuple(str(p) for p in err.path)
        if path not in non_finite:
            out.extend(_explain(err, path))
    return out


def write_schema(path: Path) -> None:
    """Write :func:`json_schema` as the committed ``schemas/case_study.schema.json``."""
    Path(path).write_text(json.dumps(json_schema(), indent=2) + "\n", encoding="utf-8")
