"""Truncated and bit-flipped files in the store: every reader names the file and what is wrong with it."""

from __future__ import annotations

import shutil

import pytest

from edgetiming.results import damage, history, report, store


def _copy(good_run, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(good_run, results)
    return results, results / "fx" / "passes" / "result.json"


def _only_damage(problems):
    (found,) = problems
    assert isinstance(found, damage.Damage)
    return found


def test_truncated_result_is_named_with_the_byte_and_the_fix(good_run, tmp_path):
    results, path = _copy(good_run, tmp_path)
    path.write_bytes(path.read_bytes()[:300])
    bundles, problems = store.load_results_dir(results)
    found = _only_damage(problems)
    assert found.path == path and found.reason == "truncated JSON at byte 300: the text ends where more was expected"
    assert found.kind == "result" and (found.runner, found.recipe) == ("fx", "passes")
    assert found.fix == (f"restore it from git (`git checkout -- {path}`) if it is committed, or re-run "
                         f"`edgetiming run recipes/passes.py --runner fx`")
    assert str(found) == f"{path}: damaged: {found.reason}; {found.fix}"
    assert bundles[0].results == {}  # the damaged result is not used


def test_bit_flip_in_result_is_a_syntax_error_at_its_byte(good_run, tmp_path):
    results, path = _copy(good_run, tmp_path)
    data = bytearray(path.read_bytes())
    at = data.index(b'"recipe"') - 1  # the whitespace before a key: a flipped bit makes it a stray character
    data[at] ^= 0x40
    path.write_bytes(bytes(data))
    found = _only_damage(store.load_results_dir(results)[1])
    assert found.reason.startswith(f"invalid JSON at byte {at}, line ")


def test_bit_flip_to_invalid_utf8_is_named(good_run, tmp_path):
    results, path = _copy(good_run, tmp_path)
    data = bytearray(path.read_bytes())
    data[10] |= 0x80
    path.write_bytes(bytes(data))
    found = _only_damage(store.load_results_dir(results)[1])
    assert found.reason.startswith("not UTF-8 text: byte 0x") and "at byte 10 " in found.reason


def test_schema_damage_is_named(good_run, tmp_path):
    results, path = _copy(good_run, tmp_path)
    path.write_text(path.read_text().replace('"status": "OK"', '"status": "OKAY"'))
    found = _only_damage(store.load_results_dir(results)[1])
    assert found.reason.startswith("fails its schema: field status: 'OKAY' is not one of")


def test_bit_flipped_samples_fail_their_checksum_and_decoder(good_run, tmp_path):
    results, path = _copy(good_run, tmp_path)
    record = store.read_result(path)
    samples = path.parent / record["run_dir"] / record["samples"][0]["path"]
    data = bytearray(samples.read_bytes())
    data[len(data) // 2] ^= 0x01
    samples.write_bytes(bytes(data))
    found = _only_damage(store.load_results_dir(results)[1])
    assert found.path == samples and found.kind == "samples" and found.recipe == "passes"
    assert found.reason.startswith("sha256 differs from the one recorded in")
    with pytest.raises(report.SamplesError, match=rf"^{samples}: damaged: not a readable gzip stream"):
        report.decode_samples(bytes(data), where=samples)
    with pytest.raises(report.SamplesError, match=rf"^{samples}: damaged: truncated gzip stream \(40 bytes\)"):
        report.decode_samples(bytes(data[:40]), where=samples)


def test_truncated_runner_json_is_named(good_run, tmp_path):
    results, _ = _copy(good_run, tmp_path)
    runner = results / "fx" / "runner.json"
    runner.write_bytes(runner.read_bytes()[:100])
    found = _only_damage(store.load_results_dir(results)[1])
    assert (found.path, found.kind, found.runner) == (runner, "runner", "fx")
    assert found.reason == "truncated JSON at byte 100: the text ends where more was expected"


def test_a_damaged_history_line_is_skipped_with_its_number(good_run, tmp_path):
    results, _ = _copy(good_run, tmp_path)
    path = results / "fx" / history.HISTORY_FILE
    good = path.read_text()
    path.write_text(good + good[:50] + "\n" + good)  # line 2 cut at 50 bytes; line 3 a second copy
    problems: list[str] = []
    entries = history.load(results / "fx", problems)
    assert len(entries) == 2  # lines 1 and 3 are read; the damaged line 2 does not hide them
    assert problems == [f"{path}, line 2: not JSON: truncated JSON at byte 50: the text ends where more was "
                        "expected; the line is kept in the file but not shown"]
