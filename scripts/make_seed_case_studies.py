"""Measure the seed case studies on this runner and write them under case_studies/.

Each case study compares two configurations of one PP-OCRv4 model (from the
rapidocr-onnxruntime wheel) with the project's harness:
``edgetiming.measure.closedloop.session_loop(isolate=True)``, so every block of iterations
runs in a fresh process whose first ``WARMUP`` iterations are left out. The two
configurations alternate block by block (A B, B A, A B, ...) so that drift on a
shared machine hits both alike. For each case study the script writes
``index.md`` (front matter and body computed from the samples: no number and no
winner is typed by hand), ``before.csv`` and ``after.csv`` (latency in ms, 3
decimals, in measurement order), labelled with this runner's fingerprint.

Run it again on another machine and it writes that machine's case studies::

    .venv/bin/python scripts/make_seed_case_studies.py --out case_studies --iters 200 --blocks 3
    .venv/bin/edgetiming validate case_studies/     # or: python -m edgetiming.casestudies.model
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.metadata
import os
import platform
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from edgetiming.casestudies.model import TECHNIQUES, validate_dir
from edgetiming.host import fingerprint
from edgetiming.measure.closedloop import session_loop
from edgetiming.measure.session import SessionConfig
from edgetiming.stats import quantiles as stats
from edgetiming.stats.compare import compare_runs
from edgetiming.workload.models import RAPIDOCR_MODELS, resolve, sha256_file

WARMUP = 20
DET_SHAPE = (1, 3, 320, 320)
REC_SHAPE = (1, 3, 48, 320)
DEADLINE_MS = 50.0  # the SLO under test: the same deadline as recipes/characterize-latency.py
PERCENTILE = 0.99


@dataclass
class Config:
    label: str
    model: Path
    config: SessionConfig
    precision: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class Case:
    slug: str
    title: str
    model_key: str
    shape: tuple[int, ...]
    techniques: list[str]
    make: Callable[[Path, argparse.Namespace], tuple[Config, Config, list[str]]]
    context: str
    change: str


# --------------------------------------------------------------------------- inputs
def text_image(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """An NCHW float32 image of rendered text, normalized as PP-OCR expects ((x - 0.5) / 0.5)."""
    from PIL import Image, ImageDraw, ImageFont

    n, _, h, w = shape
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    try:
        font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", max(12, min(h // 2, 28)))
    except OSError:
        font = ImageFont.load_default()
    words = ["latency", "edge", "deadline", "P99", "jitter", "inference", "budget", "runner"]
    rows = max(1, min(5, h // 40))
    for row in range(rows):
        draw.text((4, 4 + row * h // (rows + 1)), " ".join(rng.choice(words, size=3)), fill=(0, 0, 0), font=font)
    arr = (np.asarray(img, dtype=np.float32) / 255.0 - 0.5) / 0.5
    return np.repeat(arr.transpose(2, 0, 1)[None, ...], n, axis=0).astype(np.float32)


def feeds_for(model: Path, shape: tuple[int, ...], seed: int = 0) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    name = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    return {name: text_image(shape, seed)}


# --------------------------------------------------------------------------- measuring
def measure_pair(a: Config, b: Config, feeds: dict[str, np.ndarray], iters: int, blocks: int,
                 log: Callable[[str], None]) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Alternate A and B in fresh processes; return steady-state ns samples of each, and resources."""
    got: dict[str, list[np.ndarray]] = {"a": [], "b": []}
    cpu: dict[str, list[float]] = {"a": [], "b": []}
    for block in range(blocks):
        order = (("a", a), ("b", b)) if block % 2 == 0 else (("b", b), ("a", a))
        for key, cfg in order:
            run = session_loop(str(cfg.model), feeds, session_config=cfg.config, isolate=True,
                               warmup_iters=WARMUP, iters=iters, target_percentile=PERCENTILE,
                               overhead=False, timeout_s=900)
            got[key].append(run.steady_ns.copy())
            if run.resources.cpu_s_per_inference is not None:
                cpu[key].append(run.resources.cpu_s_per_inference)
            log(f"  block {block + 1}/{blocks} {cfg.label}: P50 {stats.quantile(run.steady_ns, 0.5) / 1e6:.2f} ms")
    extra = {k: (float(np.median(v)) * 1e3 if v else None) for k, v in cpu.items()}
    return np.concatenate(got["a"]), np.concatenate(got["b"]), extra


def pilot_threads(model: Path, feeds: dict[str, np.ndarray], base: SessionConfig, iters: int,
                  log: Callable[[str], None]) -> tuple[int | None, list[str]]:
    """Pick the intra-op thread count with the lowest P90 from a short isolated run of each."""
    cores = os.cpu_count() or 1
    candidates: list[int | None] = [None] + list(range(1, cores + 1))
    results, notes = [], []
    for threads in candidates:
        cfg = SessionConfig(intra_op_num_threads=threads, graph_optimization_level=base.graph_optimization_level)
        run = session_loop(str(model), feeds, session_config=cfg, isolate=True, warmup_iters=WARMUP,
                           iters=iters, overhead=False, timeout_s=900)
        p90 = stats.quantile(run.steady_ns, 0.9) / 1e6
        name = "default" if threads is None else str(threads)
        results.append((p90, threads))
        notes.append(f"{name} thread{'' if threads == 1 else 's'}: P90 {p90:.2f} ms")
        log(f"  pilot {name} threads: P90 {p90:.2f} ms")
    best = min(results, key=lambda r: r[0])[1]
    return best, notes


def quantize_int8(src: Path, out_dir: Path, shape: tuple[int, ...]) -> Path:
    """Static INT8 QDQ (per-channel weights, MinMax calibration on rendered text images)."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(str(src))
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset < 13:  # per-channel DequantizeLinear needs opset 13
        model = version_converter.convert_version(model, 13)
    upgraded, pre, out = out_dir / "opset13.onnx", out_dir / "pre.onnx", out_dir / f"{src.stem}_int8_qdq.onnx"
    onnx.save(model, str(upgraded))
    quant_pre_process(str(upgraded), str(pre), skip_symbolic_shape=True)
    name = onnx.load(str(pre)).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{name: text_image(shape, seed)} for seed in range(16)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    return out


# --------------------------------------------------------------------------- the cases
def _int8_threads(tmp: Path, args: argparse.Namespace) -> tuple[Config, Config, list[str]]:
    src = resolve("rapidocr:det")
    int8 = quantize_int8(src, tmp, DET_SHAPE)
    feeds = feeds_for(src, DET_SHAPE)
    threads, notes = pilot_threads(int8, feeds, SessionConfig(), args.pilot_iters, args.log)
    before = Config("fp32, onnxruntime default threads", src, SessionConfig(), "fp32",
                    {"intra_op_num_threads": "default", "model_file": src.name})
    after = Config(f"INT8 static QDQ, {threads or 'default'} intra-op thread{'' if threads == 1 else 's'}", int8,
                   SessionConfig(intra_op_num_threads=threads), "int8",
                   {"intra_op_num_threads": threads or "default", "model_file": int8.name,
                    "model_sha256": sha256_file(int8), "model_bytes": int8.stat().st_size,
                    "fp32_model_bytes": src.stat().st_size,
                    "quantization": "static QDQ, per-channel int8 weights, uint8 activations, "
                                    "MinMax calibration on 16 rendered text images"})
    return before, after, [f"thread count chosen by a {args.pilot_iters}-iteration pilot of the INT8 "
                           "model (lowest P90): " + "; ".join(notes)]


def _rec_threads(tmp: Path, args: argparse.Namespace) -> tuple[Config, Config, list[str]]:
    src = resolve("rapidocr:rec")
    return (Config("onnxruntime default intra-op threads", src, SessionConfig(), "fp32",
                   {"intra_op_num_threads": "default"}),
            Config("1 intra-op thread", src, SessionConfig(intra_op_num_threads=1), "fp32",
                   {"intra_op_num_threads": 1}), [])


def _det_graph_opt(tmp: Path, args: argparse.Namespace) -> tuple[Config, Config, list[str]]:
    src = resolve("rapidocr:det")
    return (Config("graph optimization disabled", src, SessionConfig(graph_optimization_level="disable"), "fp32",
                   {"graph_optimization_level": "ORT_DISABLE_ALL"}),
            Config("graph optimization all (onnxruntime default)", src,
                   SessionConfig(graph_optimization_level="all"), "fp32",
                   {"graph_optimization_level": "ORT_ENABLE_ALL"}), [])


CASES = [
    Case("int8-qdq-threads-ppocr-det", "INT8 static quantization and thread tuning on the PP-OCRv4 text detector",
         "det", DET_SHAPE, ["int8-static-quantization", "thread-tuning"], _int8_threads,
         "The PP-OCRv4 text detector finds text regions in a camera frame; it is the heaviest stage of "
         "the OCR pipeline. The question: does post-training static INT8 quantization, together with "
         "the intra-op thread count that suits the quantized model on this runner, shorten the tail?",
         "Before: the fp32 model as shipped, onnxruntime's default threading. After: the model quantized "
         "to INT8 with static QDQ quantization (per-channel weights, calibration on rendered text images), "
         "run with the thread count a short pilot found fastest for it on this runner."),
    Case("threads-1-vs-default-ppocr-rec", "One intra-op thread against the default on the PP-OCRv4 text recognizer",
         "rec", REC_SHAPE, ["thread-tuning"], _rec_threads,
         "The PP-OCRv4 recognizer reads one cropped text line; a frame with many text boxes calls it many "
         "times, so its tail multiplies. On a small shared machine onnxruntime's default thread pool "
         "competes with everything else for the cores.",
         "Before: onnxruntime's default intra-op thread count. After: `intra_op_num_threads = 1`. "
         "Everything else is the same: the fp32 model, sequential execution, the same input."),
    Case("graph-opt-disabled-vs-all-ppocr-det", "Graph optimization disabled against all on the PP-OCRv4 text detector",
         "det", DET_SHAPE, ["graph-optimization-level", "operator-fusion"], _det_graph_opt,
         "onnxruntime rewrites a model's graph when it creates a session (constant folding, node "
         "fusions, layout changes). This case study measures what those rewrites are worth in steady "
         "state on the text detector, by switching them off.",
         "Before: `graph_optimization_level = ORT_DISABLE_ALL`. After: `ORT_ENABLE_ALL`, onnxruntime's "
         "default. Same fp32 model, same threads, same input."),
]


# --------------------------------------------------------------------------- writing
def _csv(ms: np.ndarray) -> str:
    return "latency_ms\n" + "".join(f"{v:.3f}\n" for v in ms)


def _side(cfg: Config, ms: np.ndarray, csv_name: str, csv_text: str) -> dict[str, Any]:
    q = {name: round(stats.quantile(ms, p), 3) for name, p in
         (("p50_ms", 0.5), ("p90_ms", 0.9), ("p95_ms", 0.95), ("p99_ms", 0.99))}
    return {"label": cfg.label, "precision": cfg.precision, "settings": cfg.settings, "n_samples": int(ms.size),
            **q, "jitter_ms": round(stats.quantile(ms, 0.99) - stats.quantile(ms, 0.5), 3),
            "jitter_definition": "p99-p50",
            "samples": {"file": csv_name, "sha256": hashlib.sha256(csv_text.encode()).hexdigest()}}


def _fmt_change(c: Any) -> str:
    return (f"{c.change:+.1%} (95% CI {c.lower - 1:+.1%} to {c.upper - 1:+.1%}, verdict "
            f"**{c.verdict}** at a 5% minimum effect)")


def _body(case: Case, before: Config, after: Config, a: np.ndarray, b: np.ndarray,
          cpu: dict[str, Any], fp: dict[str, Any], notes: list[str]) -> str:
    p50 = compare_runs(a * 1e6, b * 1e6, percentile=0.5, method="bootstrap")
    p99 = compare_runs(a * 1e6, b * 1e6, percentile=0.99, method="bootstrap")
    va, vb = (stats.slo_verdict(x * 1e6, PERCENTILE, DEADLINE_MS) for x in (a, b))
    word = {"faster": "faster", "slower": "slower", "same": "no different (within 5%)",
            "inconclusive": "not clearly different"}
    lines = [
        "## Context", "", case.context, "",
        (f"Measured on runner `{fp['runner']}` ({fp['cpu'].get('model')}, {fp['cpu'].get('logical_cores')} "
         f"logical cores{', a virtual machine' if fp.get('virtualized') is True else ''}, onnxruntime "
         f"{fp['onnxruntime']['version']}) by `scripts/make_seed_case_studies.py`, a machine shared with "
         "other jobs: the absolute numbers are this runner's, not a property of the model."), "",
        "## What was changed", "", case.change, "",
        f"- before: {before.label}", f"- after: {after.label}", *[f"- {n}" for n in notes], "",
        "## Results", "",
        (f"- P50: {stats.quantile(a, 0.5):.2f} ms before, {stats.quantile(b, 0.5):.2f} ms after; "
         f"{_fmt_change(p50)}."),
        (f"- P99: {stats.quantile(a, 0.99):.2f} ms before, {stats.quantile(b, 0.99):.2f} ms after; "
         f"{_fmt_change(p99)}."),
        f"- The change made P99 {word[p99.verdict]} on this runner.",
        f"- SLO P{PERCENTILE * 100:g} <= {DEADLINE_MS:g} ms: before **{va.verdict}**, after **{vb.verdict}**.",
        "",
        "## Trade-offs", "",
    ]
    if cpu.get("a") is not None and cpu.get("b") is not None:
        busy = [("more" if c > stats.quantile(x, 0.5) else "less") for c, x in ((cpu["a"], a), (cpu["b"], b))]
        lines.append(f"- CPU time per inference (median over blocks): {cpu['a']:.2f} ms before ({busy[0]} "
                     f"than its P50 latency), {cpu['b']:.2f} ms after ({busy[1]} than its P50). More CPU "
                     "time than latency means several cores worked on one inference; less means the "
                     "process also waited for a core, which a shared machine makes likely.")
    if "model_bytes" in after.settings:
        lines.append(f"- Model size: {after.settings['fp32_model_bytes'] / 1e6:.2f} MB fp32, "
                     f"{after.settings['model_bytes'] / 1e6:.2f} MB INT8.")
        lines.append("- Accuracy was not measured in this case study: check the quantized detector's "
                     "agreement with fp32 on your own images before shipping it.")
    if not lines[-1].startswith("-"):
        lines.append("- This change has no accuracy cost: the model and its arithmetic are the same.")
    lines += ["", "## Lessons", ""]
    lines.append(f"- On this runner the change was {word[p99.verdict]} at P99 and {word[p50.verdict]} at P50; "
                 "measure it on the target device before adopting it, since core count and load decide it.")
    lines.append("- The two configurations were measured in alternating fresh processes so that the "
                 "machine's drift affected both alike; a single back-to-back comparison on a shared "
                 "machine can mislead.")
    return "\n".join(lines) + "\n"


def write_case(case: Case, out: Path, args: argparse.Namespace) -> None:
    fp = fingerprint.collect(args.runner)
    with tempfile.TemporaryDirectory(prefix="edgetiming-seed-") as tmp:
        args.log(f"{case.slug}: preparing")
        before, after, notes = case.make(Path(tmp), args)
        feeds = feeds_for(before.model, case.shape)
        load_before = os.getloadavg()[0]
        a_ns, b_ns, cpu = measure_pair(before, after, feeds, args.iters, args.blocks, args.log)
        load_after = os.getloadavg()[0]
    a, b = np.round(a_ns / 1e6, 3), np.round(b_ns / 1e6, 3)
    folder = out / case.slug
    folder.mkdir(parents=True, exist_ok=True)
    csv_a, csv_b = _csv(a), _csv(b)
    (folder / "before.csv").write_text(csv_a, encoding="utf-8")
    (folder / "after.csv").write_text(csv_b, encoding="utf-8")
    src = resolve(f"rapidocr:{case.model_key}")
    ort_version = fp["onnxruntime"]["version"]
    cpu_model = fp["cpu"].get("model")
    virtual = fp.get("virtualized") is True
    meta = {
        "schema_version": 1,
        "title": case.title,
        "date": dt.date.today().isoformat(),
        "authors": ["edgetiming seed collection (scripts/make_seed_case_studies.py)"],
        "summary": (f"{before.label} against {after.label} on runner {fp['runner']}, measured with the "
                    "edgetiming harness in alternating fresh processes; raw samples attached."),
        "device": {
            "name": f"edgetiming runner {fp['runner']}: {cpu_model}, {fp['cpu'].get('logical_cores')} logical cores",
            "hardware_class": args.hardware_class,
            "cpu": str(cpu_model),
            "cores": int(fp["cpu"].get("logical_cores") or 1),
            "memory_gib": round(fp["memory_bytes"] / 2**30, 1) if isinstance(fp["memory_bytes"], int) else None,
            "virtualized": virtual,
            "runner": fp["runner"],
            "fingerprint_sha256": fp["identity_sha256"],
        },
        "os": f"{fp['os']['distribution']} (Linux {fp['os']['release']})" if fp["os"]["system"] == "Linux"
        else f"{fp['os']['system']} {fp['os']['release']}",
        "runtime": {"name": "onnxruntime", "version": ort_version, "execution_provider": "CPUExecutionProvider"},
        "model": {"name": f"PP-OCRv4 {case.model_key} model ({src.name})", "sha256": sha256_file(src),
                  "public_id": f"rapidocr-onnxruntime=={importlib.metadata.version('rapidocr-onnxruntime')}:"
                               f"models/{RAPIDOCR_MODELS[case.model_key]}",
                  "format": "onnx"},
        "batch_size": case.shape[0],
        "workload": {"arrival": "closed-loop", "input_shape": list(case.shape),
                     "description": "one request at a time; the input is an image of rendered text"},
        "slo": {"deadline_ms": DEADLINE_MS, "percentile": PERCENTILE},
        "measurement": {
            "method": (f"edgetiming session_loop(isolate=True): {args.blocks} fresh processes per "
                       f"configuration, alternating, {WARMUP} warmup iterations each left out, "
                       f"{args.iters} timed iterations each"),
            "tool": f"edgetiming (Python {platform.python_version()})",
            "warmup_iters": WARMUP, "iterations": int(a.size), "processes": args.blocks,
            "notes": (f"1-minute load average {load_before:.1f} before and {load_after:.1f} after the "
                      f"measurement on a {fp['cpu'].get('logical_cores')}-core machine shared with other jobs"),
        },
        "before": _side(before, a, "before.csv", csv_a),
        "after": _side(after, b, "after.csv", csv_b),
        "techniques": case.techniques,
        "related_recipes": sorted({TECHNIQUES[t].recipe for t in case.techniques if TECHNIQUES[t].recipe}
                                  | {"characterize-latency"}),
    }
    if meta["device"]["memory_gib"] is None:
        del meta["device"]["memory_gib"]
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100)
    body = _body(case, before, after, a, b, cpu, fp, notes)
    (folder / "index.md").write_text(f"---\n{front}---\n\n{body}", encoding="utf-8")
    args.log(f"{case.slug}: written to {folder}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("case_studies"))
    parser.add_argument("--iters", type=int, default=200, help="timed iterations per block (per process)")
    parser.add_argument("--blocks", type=int, default=3, help="fresh processes per configuration")
    parser.add_argument("--pilot-iters", type=int, default=60, help="iterations per thread count in the pilot")
    parser.add_argument("--runner", default=None, help="runner name (default: from the host name)")
    parser.add_argument("--hardware-class", default=None,
                        help="hardware class of this machine (default: x86-server on a virtual x86-64 "
                             "machine, x86-desktop on other x86-64, arm-sbc on aarch64)")
    parser.add_argument("--only", action="append", default=[], help="a case study slug (repeatable)")
    args = parser.parse_args(argv)
    if args.hardware_class is None:
        fp = fingerprint.collect()
        arch = fp["cpu"].get("architecture")
        args.hardware_class = ("x86-server" if fp.get("virtualized") is True else "x86-desktop") \
            if arch in ("x86_64", "AMD64") else "arm-sbc" if arch in ("aarch64", "arm64") else "x86-server"
    args.log = lambda msg: print(msg, flush=True)
    for case in CASES:
        if args.only and case.slug not in args.only:
            continue
        write_case(case, args.out, args)
    problems = validate_dir(args.out)
    for v in problems:
        print(v)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
