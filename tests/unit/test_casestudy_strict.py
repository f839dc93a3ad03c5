"""Strict reading of contributed case studies: each class of bad input and its exact message."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from edgetiming import cli
from edgetiming.casestudies import model as cs
from edgetiming.casestudies.read import impossible_samples, read_yaml, walk_keys

from ..conftest import ROOT

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "case_studies"


def _case(tmp_path: Path, name: str = "my-case") -> Path:
    target = tmp_path / name
    shutil.copytree(FIXTURES / "valid-synthetic", target)
    assert cs.validate_dir(target) == []
    return target


def _edit(index: Path, old: str, new: str) -> None:
    text = index.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    index.write_text(text.replace(old, new), encoding="utf-8")


def _line_of(index: Path, fragment: str) -> int:
    lines = index.read_text(encoding="utf-8").split("\n")
    return next(i for i, line in enumerate(lines, start=1) if fragment in line)


def _csv_set(path: Path, row: int, value: str) -> None:
    """Replace data row ``row`` (1-based, after the header) of a latency CSV."""
    lines = path.read_text().split("\n")
    lines[row] = value
    path.write_text("\n".join(lines))


def _drop_sha256(index: Path) -> None:
    text = index.read_text().split("\n")
    index.write_text("\n".join(line for line in text if "sha256:" not in line))


# --------------------------------------------------------------------------- duplicate keys
def test_duplicate_key_is_rejected_with_both_lines(tmp_path):
    case = _case(tmp_path)
    index = case / "index.md"
    _edit(index, "  p99_ms: 24.466\n", "  p99_ms: 24.466\n  p95_ms: 23.188\n")
    first, second = _line_of(index, "p95_ms: 23.188"), _line_of(index, "p99_ms: 24.466") + 1
    assert first < second
    vs = cs.validate_dir(case)
    assert [str(v) for v in vs] == [
        f"{index}:{second}: before.p95_ms: `p95_ms` is given twice, on line {first} and line {second}; "
        "YAML would keep the second silently (keep one of the two lines)"]


def test_duplicate_top_level_key_even_with_equal_values(tmp_path):
    case = _case(tmp_path)
    index = case / "index.md"
    _edit(index, "batch_size: 1\n", "batch_size: 1\nbatch_size: 1\n")
    line = _line_of(index, "batch_size: 1")
    (v,) = cs.validate_dir(case)
    assert (v.field, v.line, v.message) == (
        "batch_size", line + 1,
        f"`batch_size` is given twice, on line {line} and line {line + 1}; YAML would keep the second silently")


def test_read_yaml_reports_every_duplicate_with_its_mapping():
    _, _, dups = read_yaml("a: 1\nb:\n  x: 1\n  y: 2\n  x: 3\nb: 4\n")
    assert [(d.path, d.key, d.first_line, d.second_line) for d in dups] == [
        (("b",), "x", 3, 5), ((), "b", 2, 6)]
    assert read_yaml("a: 1\nb: {a: 2}\n")[2] == []  # the same name in different mappings is fine


# --------------------------------------------------------------------------- impossible samples
def test_zero_samples_rejected_with_count_and_first_line(tmp_path):
    case = _case(tmp_path)
    _drop_sha256(case / "index.md")
    csv = case / "before.csv"
    _csv_set(csv, 7, "0.000")  # file line 8
    _csv_set(csv, 30, "0")  # file line 31
    vs = cs.validate_dir(case)
    assert [str(v) for v in vs] == [
        f"{csv}:8: samples: 2 samples of 0 ms, first on line 8 (no clock measures a latency shorter than one "
        "of its ticks: check the unit (seconds or microseconds written as ms?), the rounding (write at least "
        "3 decimals) and the timing code)"]


def test_samples_below_the_recorded_timer_resolution_rejected(tmp_path):
    case = _case(tmp_path)
    index = case / "index.md"
    _drop_sha256(index)
    csv = case / "after.csv"
    _csv_set(csv, 3, "0.0004")  # file line 4: above zero, below the 0.001 ms tick
    assert cs.validate_dir(case) == []  # without a recorded resolution 0.0004 ms is possible
    _edit(index, "  iterations: 400\n", "  iterations: 400\n  timer_resolution_ms: 0.001\n")
    (v,) = cs.validate_dir(case)
    assert (Path(v.file), v.line, v.field, v.message) == (
        csv, 4, "samples", "1 sample of 0 ms or below the recorded timer resolution of 0.001 ms, first on line 4")
    _csv_set(csv, 3, "0.001")  # exactly one tick is a possible reading
    assert cs.validate_dir(case) == []


def test_impossible_samples_counts_and_locates():
    assert impossible_samples(np.array([3.0, 0.0, 2.0, 0.0]), None) == (2, 1)
    assert impossible_samples(np.array([3.0, 0.5, 0.2]), 0.4) == (1, 2)
    assert impossible_samples(np.array([3.0]), 0.4) == (0, -1)


# --------------------------------------------------------------------------- keys scanned like values
def test_hostile_key_in_settings_is_rejected(tmp_path):
    case = _case(tmp_path)
    index = case / "index.md"
    _edit(index, "  precision: fp32\n", '  precision: fp32\n  settings: {"<script>alert(1)</script>": 1}\n')
    (v,) = cs.validate_dir(case)
    assert v.field == "before.settings.<script>alert(1)</script>"
    assert v.line == _line_of(index, "settings:")
    assert v.message == ("in the field name: <script> element is not allowed: contributed pages may not run "
                         "code or embed pages")
    assert v.fix.startswith("rename the field; ")


def test_walk_keys_reaches_every_depth():
    assert list(walk_keys({"a": {"b": [{"c": 1}]}})) == [((), "a"), (("a",), "b"), (("a", "b", "0"), "c")]


# --------------------------------------------------------------------------- folders, links, bytes
def test_folder_without_index_md_is_an_error(tmp_path, capsys):
    case = tmp_path / "my-case"
    case.mkdir()
    (case / "before.csv").write_text("latency_ms\n1.0\n")
    vs = cs.validate_dir(case)
    assert [str(v) for v in vs] == [
        f"{case / 'index.md'}: index.md: {case} holds before.csv but no index.md (copy "
        f"case_studies/_template/index.md into {case}/index.md and fill it in, or pass the case_studies/ folder)"]
    assert cli.main(["validate", str(case)]) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    assert [v.message for v in cs.validate_dir(empty)] == [f"{empty} holds no index.md and no case-study folders"]
    assert cli.main(["validate", str(empty)]) == 1


def test_leading_byte_order_mark_is_accepted(tmp_path):
    case = _case(tmp_path)
    index = case / "index.md"
    index.write_bytes(b"\xef\xbb\xbf" + index.read_bytes())
    assert cs.validate_dir(case) == []
    assert cs.load(case).get("title") == "Synthetic fixture for the validator"


def test_unterminated_string_is_reported_where_it_opens(tmp_path):
    case = _case(tmp_path)
    index = case / "index.md"
    _edit(index, "title: Synthetic fixture for the validator\n", 'title: "Synthetic fixture for the validator\n')
    end = _line_of(index, "- int8-static-quantization")  # the last line of the front matter
    (v,) = cs.validate_dir(case)
    assert (v.line, v.field) == (_line_of(index, 'title: "Synthetic'), "front matter")
    assert v.message == (f"not valid YAML: found unexpected end of stream on line {end}, while scanning a "
                         "quoted scalar that starts on this line")
    assert v.fix == "close the quote or bracket on this line"


def test_unclosed_bracket_is_reported_where_it_opens():
    (v,) = cs.load(FIXTURES / "bad-yaml").violations
    assert v.line == 3  # `title: [unclosed`, not the end of the front matter
    assert v.message.endswith("while parsing a flow sequence that starts on this line")


def test_non_utf8_is_reported_with_line_and_byte(tmp_path):
    case = _case(tmp_path)
    index = case / "index.md"
    raw = index.read_bytes()
    offset = raw.index(b"synthetic case study") + 5  # inside "synthetic"
    index.write_bytes(raw[:offset] + b"\xe9" + raw[offset + 1:])
    line = raw.count(b"\n", 0, offset) + 1
    column = offset - raw.rfind(b"\n", 0, offset)
    (v,) = cs.validate_dir(case)
    assert str(v) == (f"{index}:{line}: index.md: not UTF-8: byte 0xe9 (invalid continuation byte) at byte "
                      f"{offset}, column {column} of line {line} (save the file as UTF-8 (a byte-order mark "
                      "is allowed))")


def test_non_utf8_csv_is_reported_with_line_and_byte(tmp_path):
    case = _case(tmp_path)
    _drop_sha256(case / "index.md")
    csv = case / "after.csv"
    lines = csv.read_bytes().split(b"\n")
    lines[2] = b"1\xff5"  # file line 3
    raw = b"\n".join(lines)
    csv.write_bytes(raw)
    offset = raw.index(b"\xff")
    (v,) = cs.validate_dir(case)
    assert (Path(v.file), v.line, v.message) == (
        csv, 3, f"not UTF-8 text: byte 0xff (invalid start byte) at byte {offset}, column 2 of line 3")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_symbolic_links_are_named_as_such(tmp_path):
    case = _case(tmp_path)
    index = case / "index.md"
    real = tmp_path / "elsewhere.md"
    index.rename(real)
    index.symlink_to(real)
    assert [str(v) for v in cs.validate_dir(case)] == [
        f"{index}: index.md: is a symbolic link; a case study is read from plain files only (replace the link "
        "with a copy of the file it points to)"]
    index.unlink()
    real.rename(index)
    csv = case / "before.csv"
    csv.rename(tmp_path / "before.csv")
    csv.symlink_to(tmp_path / "before.csv")
    messages = {(v.field, v.message) for v in cs.validate_dir(case)}
    assert ("before.samples.file", "'before.csv' is a symbolic link") in messages
    assert ("files", "before.csv is a symbolic link") in messages
    assert not any("not found" in m for _, m in messages)


def test_contributor_guide_lists_what_is_rejected():
    guide = (ROOT / "docs" / "contributing" / "case-studies.md").read_text()
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    for phrase in ("given twice", "timer_resolution_ms", "symbolic link", "byte-order mark",
                   "field name", "no index.md"):
        assert phrase in guide, phrase
    assert "docs/contributing/case-studies.md" in contributing
    schema = yaml.safe_load((ROOT / "src/edgetiming/casestudies/schemas/case_study.schema.json").read_text())
    assert "timer_resolution_ms" in schema["properties"]["measurement"]["properties"]
