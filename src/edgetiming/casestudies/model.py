"""Contributed case studies: load, validate against their raw samples, sanitize.

A case study is a folder ``case_studies/<slug>/`` holding ``index.md`` (YAML
front matter between ``---`` lines, then a Markdown body) and, optionally, its
raw samples: ``before.csv`` / ``after.csv`` (a ``latency_ms`` header, then one
latency in milliseconds per line, in measurement order) or a results bundle
from ``edgetiming run`` (its ``result.json`` and run folder). The front matter
is described by ``schemas/case_study.schema.json`` (generated from the
vocabularies below by :func:`json_schema`; a test keeps the two equal).

:func:`validate_dir` returns every problem as a :class:`Violation` naming the
file, the line, the field and the fix. Numbers are checked for type, unit,
range, order (P50 <= P90 <= P95 <= P99 <= P99.9) and sample count
(:func:`edgetiming.stats.quantiles.min_samples`); when samples are attached, every
claimed percentile and the jitter are recomputed (nearest rank,
:func:`edgetiming.stats.quantiles.quantile`) and must agree within
``max(TOLERANCE_ABS_MS, TOLERANCE_REL * recomputed)``; a given sha256 must match.

Contributed text is hostile until proven otherwise: script, iframe and other
active elements, ``on*=`` event handlers (in HTML and in ``{: attr lists}``),
URLs with any scheme but http, https and mailto (``javascript:``, ``data:``,
also in Markdown link syntax and written with HTML entities) and SVG files with
script are rejected here, and :func:`render_body_html` / :func:`md_text`
neutralise whatever gets past a reviewer (Ammonia via nh3, then entity-encoding).

Example
-------
>>> from pathlib import Path
>>> [str(v) for v in validate_dir(Path("case_studies"))]  # doctest: +SKIP
[]
"""


import argparse
import csv
import datetime as _dt
import gzip
import hashlib
import io
import itertools
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from edgetiming.casestudies.read import (
    decode_utf8,
    impossible_samples,
    read_yaml,
    walk_keys,
    yaml_error_position,
)
from edgetiming.casestudies.sanitize import (
    IMAGE_SUFFIXES,
    inside,
    md_text,
    render_body_html,
    safe_title,
    scan_text,
    url_scheme,
)
from edgetiming.casestudies.schema import (
    EXECUTION_PROVIDERS,
    HARDWARE_CLASSES,
    JITTER_DEFINITIONS,
    PERCENTILE_FIELDS,
    PRECISIONS,
    REQUIRED_SECTIONS,
    SCHEMA_VERSION,
    TECHNIQUES,
    TEMPLATE,
    TOLERANCE_ABS_MS,
    TOLERANCE_REL,
    Technique,
    json_schema,
    schema_problems,
    walk,
    write_schema,
)
from edgetiming.results import store
from edgetiming.stats import quantiles as stats
from edgetiming.stats.jitter import rfc3550_jitter

__all__ = [
    "EXECUTION_PROVIDERS",
    "HARDWARE_CLASSES",
    "JITTER_DEFINITIONS",
    "PRECISIONS",
    "SCHEMA_VERSION",
    "TECHNIQUES",
    "TOLERANCE_ABS_MS",
    "TOLERANCE_REL",
    "CaseStudy",
    "Technique",
    "Violation",
    "json_schema",
    "load",
    "load_dir",
    "main_validate",
    "md_text",
    "render_body_html",
    "safe_title",
    "tolerance_ms",
    "validate_dir",
]

CONFIDENCE = 0.95  # for min_samples and the intervals shown on the pages
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{2,63}$")
MAX_INDEX_BYTES = 256 * 1024
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_SAMPLES = 200_000
ACCEPTED_SUFFIXES = (".md", ".csv", ".json", ".ipynb", ".gz", ".txt", *IMAGE_SUFFIXES)
_UNIT_WORDS = {"ms": "milliseconds", "us": "microseconds", "µs": "microseconds", "ns": "nanoseconds",
               "s": "seconds"}

# --------------------------------------------------------------------------- data types
@dataclass(frozen=True)
class Violation:
    """One problem: ``str(v)`` is ``file:line: field: message (fix)``."""

    file: str
    line: int | None
    field: str
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message} ({self.fix})"


@dataclass
class CaseStudy:
    """A loaded case study. ``meta`` is the front matter as parsed (not trusted)."""

    slug: str
    path: Path
    meta: dict[str, Any]
    body: str
    body_line: int
    samples_ms: dict[str, np.ndarray] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.violations

    @property
    def verified(self) -> bool:
        """Both sides carry raw samples and every claim agreed with them."""
        return self.valid and {"before", "after"} <= set(self.samples_ms)

    def get(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.meta
        for key in dotted.split("."):
            if not isinstance(node, dict) or key not in node:
                return default
            node = node[key]
        return node


class _Report:
    """Collects violations for one case study, knowing the line of each front-matter field."""

    def __init__(self, file: Path, lines: dict[tuple[str, ...], int]) -> None:
        self.file, self.lines, self.out = str(file), lines, []  # type: list[Violation]

    def line_of(self, path: tuple[str, ...]) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None

    def add(self, path: tuple[Any, ...] | str, message: str, fix: str, *, line: int | None = None,
            file: Path | str | None = None) -> None:
        if isinstance(path, str):
            name, key = path, tuple(path.split("."))
        else:
            key = tuple(str(p) for p in path)
            name = ".".join(key) or "front matter"
        where = line if line is not None else (self.line_of(key) if file is None else None)
        self.out.append(Violation(str(file) if file else self.file, where, name, message, fix))


# --------------------------------------------------------------------------- loading
def _split_front_matter(text: str) -> tuple[str | None, str, int]:
    """(front matter, body, 1-based line where the body starts); None when there is none."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return None, text, 1
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            return "\n".join(lines[1:i]), "\n".join(lines[i + 1:]), i + 2
    return None, text, 1


def _line_map(node: Any, offset: int, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    out: dict[tuple[str, ...], int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = path + (str(key.value),)
            out[sub] = key.start_mark.line + offset
            out.update(_line_map(value, offset, sub))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            sub = path + (str(i),)
            out[sub] = item.start_mark.line + offset
            out.update(_line_map(item, offset, sub))
    return out


def _plain_dates(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain_dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_dates(v) for v in value]
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()[:10]
    return value


def load(case_dir: Path) -> CaseStudy:
    """Load and validate one case study folder; ``.violations`` lists every problem found."""
    case_dir = Path(case_dir)
    index = case_dir / "index.md"
    report = _Report(index, {})
    study = CaseStudy(case_dir.name, case_dir, {}, "", 1)
    if not SLUG_RE.match(case_dir.name):
        report.add("slug", f"folder name {case_dir.name!r} is not a valid slug",
                   "rename the folder: 3-64 characters, lower-case letters, digits and hyphens")
    if index.is_symlink():
        report.add("index.md", "is a symbolic link; a case study is read from plain files only",
                   "replace the link with a copy of the file it points to")
        study.violations = report.out
        return study
    if not index.is_file():
        report.add("index.md", "missing", f"copy {TEMPLATE} into {case_dir}/index.md and fill it in")
        study.violations = report.out
        return study
    raw = index.read_bytes()
    if len(raw) > MAX_INDEX_BYTES:
        report.add("index.md", f"{len(raw):,} bytes is over the {MAX_INDEX_BYTES:,} byte limit",
                   "shorten the text; attach data as CSV files")
        study.violations = report.out
        return study
    text, bad = decode_utf8(raw)
    if text is None:
        report.add("index.md", f"not UTF-8: {bad[2]}", "save the file as UTF-8 (a byte-order mark is allowed)",
                   line=bad[0])
        study.violations = report.out
        return study
    text = text.replace("\r\n", "\n")
    front, body, body_line = _split_front_matter(text)
    study.body, study.body_line = body, body_line
    if front is None:
        report.add("front matter", "index.md must start with YAML front matter between two `---` lines",
                   f"start from {TEMPLATE}", line=1)
        study.violations = report.out
        _check_body(study, report)
        return study
    try:
        meta, node, duplicates = read_yaml(front)
    except RecursionError:
        report.add("front matter", "nested too deeply to read", "use the flat layout of the template", line=2)
        study.violations = report.out
        return study
    except yaml.YAMLError as exc:
        at, problem = yaml_error_position(exc, first_line=2)
        line = at if at is not None else 1
        fix = ("write the values out in full" if "alias" in str(problem) else
               "close the quote or bracket on this line" if "starts on this line" in problem else
               "check indentation and quote strings that contain ':' or '#'")
        report.add("front matter", f"not valid YAML: {problem}", fix, line=line)
        study.violations = report.out
        return study
    if not isinstance(meta, dict):
        report.add("front matter", "must be a mapping of fields", f"start from {TEMPLATE}", line=2)
        study.violations = report.out
        return study
    report.lines = _line_map(node, 2)
    for dup in duplicates:
        report.add(dup.path + (dup.key,), f"`{dup.key}` is given twice, on line {dup.first_line + 1} and "
                   f"line {dup.second_line + 1}; YAML would keep the second silently",
                   "keep one of the two lines", line=dup.second_line + 1)
    study.meta = _plain_dates(meta)
    _check_schema(study, report)
    _check_semantics(study, report)
    _check_samples(study, report)
    _check_strings(study, report)
    _check_body(study, report)
    _check_files(study, report)
    study.violations = sorted(report.out, key=lambda v: (v.file, v.line or 0))
    return study


def _case_dirs(path: Path) -> list[Path]:
    if (path / "index.md").is_file() or (path / "index.md").is_symlink():
        return [path]
    return sorted(p for p in path.iterdir()
                  if p.is_dir() and not p.name.startswith((".", "_")))


def load_dir(path: Path) -> list[CaseStudy]:
    """Every case study under ``path`` (folders starting with ``_`` or ``.`` are skipped)."""
    return [load(d) for d in _case_dirs(Path(path))]


def validate_dir(path: Path) -> list[Violation]:
    """Validate every case study under ``path`` (or the one case study ``path`` is).

    Examples
    --------
    >>> validate_dir(Path("case_studies/_template"))[0].field  # doctest: +SKIP
    'slug'
    """
    path = Path(path)
    if not path.is_dir():
        return [Violation(str(path), None, "path", "no such folder",
                          "pass the case_studies/ folder or one case study's folder")]
    out: list[Violation] = []
    dirs = _case_dirs(path)
    loose = [p.name for p in path.iterdir() if not p.is_dir() and not p.name.startswith(".")]
    if dirs != [path] and (loose or not dirs):
        # a case study's folder without its index.md, or a folder with nothing to validate
        what = f"holds {', '.join(sorted(loose)[:3])}{' ...' if len(loose) > 3 else ''} but no index.md" \
            if loose else "holds no index.md and no case-study folders"
        out.append(Violation(str(path / "index.md"), None, "index.md", f"{path} {what}",
                             f"copy {TEMPLATE} into {path}/index.md and fill it in, "
                             "or pass the case_studies/ folder"))
        if loose:
            return out
    for study in load_dir(path):
        out.extend(study.violations)
    return out


def main_validate(path: Path) -> int:
    """Print every violation and a summary; 0 when all case studies are valid, else 1."""
    path = Path(path)
    violations = validate_dir(path)
    for v in violations:
        print(v)
    n = len(_case_dirs(path)) if path.is_dir() else 0
    files = len({v.file for v in violations})
    if violations:
        print(f"{len(violations)} problem(s) in {files} file(s); {n} case stud{'y' if n == 1 else 'ies'} "
              f"checked. Fix them and run `edgetiming validate {path}` again.", file=sys.stderr)
        return 1
    print(f"{n} case stud{'y' if n == 1 else 'ies'} valid in {path}/")
    return 0


def _check_schema(study: CaseStudy, report: _Report) -> None:
    for path, message, fix in schema_problems(study.meta):
        report.add(path, message, fix)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _n_claimed(study: CaseStudy, side: str) -> int | None:
    n = study.get(f"{side}.n_samples", study.get("measurement.iterations"))
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else None


def _check_semantics(study: CaseStudy, report: _Report) -> None:
    meta = study.meta
    model = meta.get("model")
    if isinstance(model, dict) and not model.get("sha256") and not model.get("public_id"):
        report.add(("model",), "neither sha256 nor public_id given",
                   "add `sha256:` (from `sha256sum model.onnx`) or a `public_id:` such as a hub name and revision")
    runtime = meta.get("runtime")
    if isinstance(runtime, dict) and runtime.get("name") == "onnxruntime":
        ep = runtime.get("execution_provider")
        if isinstance(ep, str) and not ep.endswith("ExecutionProvider"):
            report.add(("runtime", "execution_provider"), f"{ep!r} is not an onnxruntime execution provider",
                       "write the provider's name as onnxruntime spells it, e.g. CPUExecutionProvider")
    workload = meta.get("workload")
    if isinstance(workload, dict) and workload.get("arrival") in ("periodic", "poisson") \
            and "rate_hz" not in workload:
        report.add(("workload", "rate_hz"), f"{workload['arrival']} arrivals need a rate",
                   "add `rate_hz:` (requests per second)")
    date = meta.get("date")
    if isinstance(date, str) and re.match(r"^\d{4}-\d{2}-\d{2}$", date):
        try:
            _dt.date.fromisoformat(date)
        except ValueError:
            report.add(("date",), f"{date!r} is not a calendar date", "write the date as YYYY-MM-DD")
    for side in ("before", "after"):
        block = meta.get(side)
        if not isinstance(block, dict):
            continue
        claimed = [(name, p, _num(block.get(name))) for name, p in PERCENTILE_FIELDS.items()]
        claimed = [(name, p, v) for name, p, v in claimed if v is not None]
        for (n1, _, v1), (n2, _, v2) in itertools.pairwise(claimed):
            if v1 > v2:
                report.add((side, n2), f"{n1} {v1:g} > {n2} {v2:g}: percentiles out of order",
                           "a higher percentile can never be lower; check for swapped values or units")
        n = _n_claimed(study, side)
        if n is not None:
            for name, p, _ in claimed:
                need = stats.min_samples(p, CONFIDENCE)
                if n < need:
                    report.add((side, name), f"claimed from {n:,} samples; P{p * 100:g} needs at least "
                               f"{need:,} ({CONFIDENCE:.0%} confidence that the sample maximum bounds it)",
                               f"measure at least {need:,} iterations or leave `{name}` out")



def _read_csv(path: Path, report: _Report, resolution_ms: float | None = None) -> np.ndarray | None:
    """Latencies in ms from a ``latency_ms`` CSV; every bad line reported with its number.

    Zero, and values below ``resolution_ms`` (the timer resolution the contributor
    recorded), are impossible latencies: reported with their count and first line."""
    if path.stat().st_size > MAX_FILE_BYTES:
        report.add("samples", f"{path.stat().st_size:,} bytes is over the {MAX_FILE_BYTES:,} byte limit",
                   "attach at most a few thousand samples with 3 decimals", file=path)
        return None
    text, bad_byte = decode_utf8(path.read_bytes())
    if text is None:
        report.add("samples", f"not UTF-8 text: {bad_byte[2]}", "save it as a plain UTF-8 CSV", file=path,
                   line=bad_byte[0])
        return None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        report.add("samples", "empty file", "write a `latency_ms` header, then one latency per line", file=path)
        return None
    header = ",".join(rows[0]).strip().lower()
    if header != "latency_ms":
        unit = re.match(r"^latency_([a-zµ]+)$", header)
        if unit and unit.group(1) in _UNIT_WORDS:
            report.add("samples", f"samples are in {_UNIT_WORDS[unit.group(1)]} (header {header!r})",
                       "convert every value to milliseconds and name the column latency_ms",
                       file=path, line=1)
        else:
            report.add("samples", f"header is {header!r}, expected 'latency_ms'",
                       "first line `latency_ms`, then one latency in milliseconds per line", file=path, line=1)
        return None
    values, lines, bad = [], [], 0
    for i, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        cell = row[0].strip()
        if len(row) > 1:
            report.add("samples", f"{len(row)} columns", "one latency per line, nothing else", file=path, line=i)
            bad += 1
        try:
            value = float(cell)
        except ValueError:
            report.add("samples", f"{cell[:40]!r} is not a number", "one latency in milliseconds per line",
                       file=path, line=i)
            bad += 1
        else:
            if not math.isfinite(value) or value < 0:
                report.add("samples", f"{cell!r} is not a finite, non-negative latency",
                           "remove the line; a dropped request is a deadline miss, report it in the text",
                           file=path, line=i)
                bad += 1
            values.append(value)
            lines.append(i)
        if bad >= 20:
            report.add("samples", "too many bad lines; stopped reading", "fix the lines above first", file=path)
            return None
        if len(values) > MAX_SAMPLES:
            report.add("samples", f"more than {MAX_SAMPLES:,} samples", "attach a contiguous block of at most "
                       f"{MAX_SAMPLES:,}", file=path)
            return None
    if bad:
        return None
    if not values:
        report.add("samples", "no samples after the header", "one latency in milliseconds per line", file=path)
        return None
    array = np.asarray(values, dtype=np.float64)
    count, first = impossible_samples(array, resolution_ms)
    if count:
        report.add("samples", _impossible_message(count, resolution_ms, f"first on line {lines[first]}"),
                   _IMPOSSIBLE_FIX, file=path, line=lines[first])
        return None
    return array


_IMPOSSIBLE_FIX = ("no clock measures a latency shorter than one of its ticks: check the unit (seconds or "
                   "microseconds written as ms?), the rounding (write at least 3 decimals) and the timing code")


def _impossible_message(count: int, resolution_ms: float | None, where: str) -> str:
    below = f" or below the recorded timer resolution of {resolution_ms:g} ms" if resolution_ms else ""
    return f"{count:,} sample{'s' if count != 1 else ''} of 0 ms{below}, {where}"


def _resolution_ms(study: CaseStudy) -> float | None:
    value = _num(study.get("measurement.timer_resolution_ms"))
    return value if value is not None and value > 0 else None


def _read_bundle(case_dir: Path, ref: dict[str, Any], side: str, report: _Report,
                 resolution_ms: float | None = None) -> np.ndarray | None:

    where = (side, "samples", "bundle")
    target = inside(case_dir, str(ref.get("bundle", "")))
    if target is None or not target.is_file():
        report.add(where, f"{ref.get('bundle')!r} is not a result.json inside this folder",
                   "copy the bundle folder (result.json and its run-*/ folder) into the case study")
        return None
    try:
        record = store.read_result(target)
        named = [record["notebook"], *record["figures"], *record["samples"]]
        if any(inside(target.parent, f"{record['run_dir']}/{f['path']}") is None for f in named):
            raise store.StoreError(f"{target}: names a file outside its bundle folder")
        store.verify_files(target.parent, record)
    except store.StoreError as exc:
        report.add(where, str(exc), "copy the bundle again, unmodified, from results/<runner>/<recipe>/")
        return None
    entries = {s["name"]: s for s in record.get("samples", [])}
    name = ref.get("name")
    if name not in entries:
        report.add((side, "samples", "name"), f"the bundle has no samples named {name!r}",
                   f"use one of: {', '.join(entries) or '(none: the recipe saved no samples)'}")
        return None
    entry = entries[name]
    with gzip.open(target.parent / record["run_dir"] / entry["path"], "rb") as fh:
        raw = fh.read(MAX_SAMPLES * 8 + 4096)  # a bounded read: no gzip bomb
        if fh.read(1):
            report.add(where, f"samples {name!r} hold more than {MAX_SAMPLES:,} values",
                       f"attach at most {MAX_SAMPLES:,} samples")
            return None
    try:
        values = np.load(io.BytesIO(raw), allow_pickle=False).astype(np.float64).ravel()
    except (ValueError, OSError) as exc:
        report.add(where, f"samples {name!r} are not a numeric .npy array ({exc})", "name a latency sample array")
        return None
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}.get(entry.get("unit", "ns"))
    if scale is None:
        report.add(where, f"samples {name!r} are in {entry.get('unit')!r}, not a time unit",
                   "name a latency sample array")
        return None
    skip = ref.get("skip_first")
    if skip is None:
        m = re.search(r"first (\d+) are warmup", entry.get("description", ""))
        skip = int(m.group(1)) if m else 0
    values = values[int(skip):] * scale
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values < 0):
        report.add(where, "samples are empty or hold non-finite or negative values",
                   "name the steady-state latency samples of the run")
        return None
    count, first = impossible_samples(values, resolution_ms)
    if count:
        report.add(where, _impossible_message(count, resolution_ms, f"first at sample {first + 1:,} of {name!r} "
                                              f"(after the {int(skip)} skipped)"), _IMPOSSIBLE_FIX)
        return None
    return values


def _recompute_jitter(x: np.ndarray, definition: str) -> float:
    if definition == "p99-p50":
        return stats.quantile(x, 0.99) - stats.quantile(x, 0.5)
    if definition == "iqr":
        return stats.quantile(x, 0.75) - stats.quantile(x, 0.25)
    if definition == "mad":
        med = stats.quantile(x, 0.5)
        return stats.quantile(np.abs(x - med), 0.5)
    if definition == "std":
        return float(x.std(ddof=1)) if x.size > 1 else 0.0
    if definition == "range":
        return float(x.max() - x.min())
    return rfc3550_jitter(x)


def tolerance_ms(recomputed: float) -> float:
    """How far a claim may be from the value recomputed from the samples."""
    return max(TOLERANCE_ABS_MS, TOLERANCE_REL * abs(recomputed))


def _check_samples(study: CaseStudy, report: _Report) -> None:
    for side in ("before", "after"):
        ref = study.get(f"{side}.samples")
        if not isinstance(ref, dict):
            continue
        has_file, has_bundle = "file" in ref, "bundle" in ref
        if has_file == has_bundle:
            report.add((side, "samples"), "give either `file:` (a CSV) or `bundle:` with `name:`",
                       "e.g. `samples: {file: before.csv, sha256: ...}`")
            continue
        if has_bundle:
            if "name" not in ref:
                report.add((side, "samples", "name"), "missing required field",
                           "name the sample array inside the bundle (see its result.json `samples`)")
                continue
            values = _read_bundle(study.path, ref, side, report, _resolution_ms(study))
        else:
            if not isinstance(ref["file"], str):
                continue
            target = inside(study.path, ref["file"])
            if (study.path / ref["file"]).is_symlink():
                report.add((side, "samples", "file"), f"{ref['file']!r} is a symbolic link",
                           "replace the link with a copy of the CSV it points to")
                continue
            if target is None or not target.is_file():
                report.add((side, "samples", "file"), f"{ref['file']!r} not found in {study.path}",
                           "add the CSV next to index.md or remove `samples:`")
                continue
            given = ref.get("sha256")
            if isinstance(given, str) and re.fullmatch(r"[0-9a-f]{64}", given):
                actual = hashlib.sha256(target.read_bytes()).hexdigest()
                if actual != given:
                    report.add((side, "samples", "sha256"), f"does not match {ref['file']} (its sha256 is "
                               f"{actual[:12]}...)", "the file changed after the sha256 was written: attach "
                               "the original samples, or recompute the claims and the sha256 from this file")
                    continue
            values = _read_csv(target, report, _resolution_ms(study))
        if values is None:
            continue
        ok = True
        n = _n_claimed(study, side)
        if n is not None and values.size != n:
            which = "n_samples" if study.get(f"{side}.n_samples") is not None else "measurement.iterations"
            report.add((side, "n_samples") if which == "n_samples" else ("measurement", "iterations"),
                       f"says {n:,} samples but the {side} samples hold {values.size:,}",
                       f"set `{side}.n_samples: {values.size}` or attach all the samples")
            ok = False
        for name, p in PERCENTILE_FIELDS.items():
            claim = _num(study.get(f"{side}.{name}"))
            if claim is None:
                continue
            actual = stats.quantile(values, p)
            if abs(claim - actual) > tolerance_ms(actual):
                report.add((side, name), f"claims {claim:g} ms but the attached samples give {actual:.3f} ms "
                           f"(nearest rank, n={values.size:,}; tolerance {tolerance_ms(actual):.3f} ms)",
                           "recompute the claim from the samples (edgetiming.stats.quantiles.quantile) "
                           "or attach the samples it came from")
                ok = False
        definition, claim = study.get(f"{side}.jitter_definition"), _num(study.get(f"{side}.jitter_ms"))
        if claim is not None and definition in JITTER_DEFINITIONS:
            actual = _recompute_jitter(values, definition)
            if abs(claim - actual) > tolerance_ms(actual):
                report.add((side, "jitter_ms"), f"claims {claim:g} ms but the samples give {actual:.3f} ms "
                           f"({JITTER_DEFINITIONS[definition]})", "recompute it from the samples")
                ok = False
        if ok:
            study.samples_ms[side] = values


def _check_strings(study: CaseStudy, report: _Report) -> None:
    for path, value in walk(study.meta):
        if isinstance(value, str):
            for _, msg, fix in scan_text(value):
                report.add(path, msg, fix)
    for path, key in walk_keys(study.meta):
        for _, msg, fix in scan_text(key):
            report.add(path + (key,), f"in the field name: {msg}", f"rename the field; {fix}")


def _check_body(study: CaseStudy, report: _Report) -> None:
    body, base = study.body, study.body_line
    for off, msg, fix in scan_text(body):
        report.add("body", msg, fix, line=base + body.count("\n", 0, off))
    headings = [(i, m.group(1).strip().lower()) for i, line in enumerate(body.split("\n"))
                if (m := re.match(r"^#{1,3}\s+(.+?)\s*#*\s*$", line))]
    for title, names in REQUIRED_SECTIONS.items():
        if not any(h.startswith(names) for _, h in headings):
            report.add("body", f"no `## {title}` section", f"add a `## {title}` section, as in {TEMPLATE}",
                       line=base)
    # links and images must stay on safe ground: https, mailto, attached files, other case studies
    for m in re.finditer(r"(!?)\[[^\]\n]*\]\(\s*<?([^)\s>]+)", body):
        image, url = m.group(1) == "!", m.group(2)
        line = base + body.count("\n", 0, m.start())
        if url_scheme(url) is not None or url.startswith("#"):
            continue
        problem = _local_target_problem(study.path, url, image=image)
        if problem:
            report.add("body", problem[0], problem[1], line=line)


def _local_target_problem(case_dir: Path, url: str, *, image: bool) -> tuple[str, str] | None:
    path = url.split("#")[0].split("?")[0]
    if not image and re.fullmatch(r"\.\./[a-z0-9][a-z0-9-]{2,63}/(index\.md)?", path):
        other = case_dir.parent / path.split("/")[1]
        if (other / "index.md").is_file():
            return None
        return (f"link to case study {path!r} that does not exist", "check the folder name")
    target = inside(case_dir, path) if path else None
    if target is None or not target.is_file():
        return (f"{'image' if image else 'link'} target {url!r} is not a file in this folder",
                ("link with https:// to outside pages, ../<slug>/index.md to another case study, "
                 "or attach the file"))
    if image and target.suffix.lower() not in IMAGE_SUFFIXES:
        return (f"image {url!r} is not a PNG, JPEG, WebP or GIF", "export the figure as PNG")
    return None


def _check_files(study: CaseStudy, report: _Report) -> None:
    for path in sorted(study.path.rglob("*")):
        rel = path.relative_to(study.path)
        if path.is_symlink():
            report.add("files", f"{rel} is a symbolic link", "replace it with the file itself", file=path)
            continue
        if not path.is_file():
            continue
        suffix = path.suffix.lower()
        if suffix == ".svg":
            text = path.read_text(encoding="utf-8", errors="replace")
            scripted = scan_text(text) or re.search(r"<\s*foreignObject", text, re.IGNORECASE)
            report.add("files", "SVG with script or event handlers" if scripted else
                       "SVG files are not published (an SVG can carry script)",
                       "export the figure as PNG", file=path)
        elif suffix not in ACCEPTED_SUFFIXES or (suffix == ".md" and rel.as_posix() != "index.md"):
            report.add("files", f"{rel}: file type {suffix or '(none)'} is not accepted in a case study",
                       f"keep index.md, CSV samples, result bundles and images ({', '.join(IMAGE_SUFFIXES)})",
                       file=path)
        elif path.stat().st_size > MAX_FILE_BYTES:
            report.add("files", f"{rel} is {path.stat().st_size:,} bytes, over the {MAX_FILE_BYTES:,} limit",
                       "compress figures, keep samples to a few thousand lines", file=path)



def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgetiming.casestudies.model",
                                     description="Validate case studies (same as `edgetiming validate`).")
    parser.add_argument("path", nargs="?", default="case_studies", type=Path)
    parser.add_argument("--write-schema", action="store_true",
                        help="regenerate src/edgetiming/casestudies/schemas/case_study.schema.json from the vocabularies")
    args = parser.parse_args(argv)
    if args.write_schema:
        target = Path(__file__).with_name("schemas") / "case_study.schema.json"
        write_schema(target)
        print(f"wrote {target}")
        return 0
    return main_validate(args.path)


if __name__ == "__main__":
    raise SystemExit(_main())
