"""Runner names that describe the machine, and runner pages that open with how machines differ."""

from __future__ import annotations

import copy

import pytest

from edgetiming.host import fingerprint, runner_name
from edgetiming.results import store
from edgetiming.results.result import typed_bundles
from edgetiming.run import executor
from edgetiming.site import fleet_pages
from edgetiming.site.runner_diff import differences, markdown

from ..conftest import FIXTURE_RECIPES, ROOT

EPYC_AVX2 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma hypervisor
"""
EPYC_VNNI = EPYC_AVX2.replace("7B13", "9B14").replace(
    "fma", "fma avx512f avx512bw avx512_vnni avx512_bf16")
XEON_AMX = """vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: sse4_2 avx avx2 fma avx512f avx512bw avx512_vnni avx_vnni amx_tile amx_int8 amx_bf16
"""
CORE_AVXVNNI = """vendor_id\t: GenuineIntel
model name\t: 12th Gen Intel(R) Core(TM) i7-1260P
flags\t\t: sse4_2 avx avx2 fma avx_vnni
"""
RPI5 = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU part\t: 0xd0b
"""
GRAVITON3 = """Features\t: fp asimd asimddp sve i8mm bf16
CPU implementer\t: 0x41
CPU part\t: 0xd40
"""


@pytest.mark.parametrize("cpuinfo, machine, cores, expected", [
    (EPYC_AVX2, "x86_64", 2, "x86-epyc-2c-avx2"),
    (EPYC_VNNI, "x86_64", 2, "x86-epyc-2c-avx512vnni"),
    (XEON_AMX, "x86_64", 16, "x86-xeon-16c-avx512-amx"),
    (CORE_AVXVNNI, "x86_64", 16, "x86-core-16c-avx2-avxvnni"),
    (RPI5, "aarch64", 4, "arm-cortex-a76-4c-neon-dotprod"),
    (GRAVITON3, "aarch64", 64, "arm-neoverse-v1-64c-sve-i8mm"),
    ("", "x86_64", 8, "x86-8c"),  # no /proc/cpuinfo: what is known, nothing guessed
    ("vendor_id : GenuineIntel\nmodel name : Some Future Chip\nflags : sse4_2\n", "x86_64", 4, "x86-intel-4c-sse4"),
])
def test_name_from_cpuinfo(cpuinfo, machine, cores, expected):
    assert runner_name.describe(cpuinfo, machine, cores) == expected


def test_the_same_model_name_with_different_kernels_gets_different_names():
    """The case from issue 20: two EPYCs, one exposing AVX2 only, one AVX-512 VNNI."""
    same_model = EPYC_VNNI.replace("9B14", "7B13")
    assert runner_name.describe(EPYC_AVX2, "x86_64", 2) != runner_name.describe(same_model, "x86_64", 2)


def test_names_fit_the_runner_schema():
    import re

    pattern = re.compile(r"^[a-z0-9][a-z0-9-]*$")
    for text in (EPYC_AVX2, XEON_AMX, RPI5, GRAVITON3, "model name : Weird (R) CPU @ 3.0GHz\n"):
        for machine in ("x86_64", "aarch64", "riscv64", "ppc64le"):
            assert pattern.match(runner_name.describe(text, machine, 3))


def test_default_runner_name_is_this_machines_description(monkeypatch):
    monkeypatch.setattr(runner_name, "this_machine", lambda: "x86-epyc-2c-avx2")
    assert fingerprint.default_runner_name() == "x86-epyc-2c-avx2"
    assert fingerprint.collect()["runner"] == "x86-epyc-2c-avx2"
    assert fingerprint.collect("my-board")["runner"] == "my-board"  # --runner overrides it


def test_a_run_without_runner_goes_under_the_derived_name(tmp_path, monkeypatch):
    monkeypatch.setattr(runner_name, "this_machine", lambda: "x86-test-2c-avx2")
    options = executor.RunOptions(results_dir=tmp_path, runner=None)
    (outcome,) = executor.run_recipes([FIXTURE_RECIPES / "passes.py"], options)
    assert (tmp_path / "x86-test-2c-avx2" / "runner.json").is_file()
    assert store.read_runner(tmp_path / "x86-test-2c-avx2" / "runner.json")["runner"] == "x86-test-2c-avx2"


def test_committed_reference_runners_keep_their_names():
    names = sorted(p.name for p in (ROOT / "reference").iterdir() if p.is_dir())
    assert names == ["server-16c", "x86-epyc-2c-avx2", "x86-xeon-2c-avx512-amx"]


# --------------------------------------------------------------------------- how a runner differs
def _reference() -> dict[str, dict]:
    bundles, _ = store.load_results_dir(ROOT / "reference")
    return {b.runner: b.fingerprint for b in bundles}


def test_differences_between_the_reference_runners():
    fps = _reference()
    epyc, server = fps["x86-epyc-2c-avx2"], fps["server-16c"]
    found = {d.field: d.sentence for d in differences(epyc, [server])}
    assert set(found) >= {"CPU", "Logical cores", "ISA extensions"}
    assert found["Logical cores"] == (f"{epyc['cpu']['logical_cores']} here; "
                                      f"{server['cpu']['logical_cores']} on server-16c")
    missing = [f for f in server["cpu"]["isa_flags"] if f not in epyc["cpu"]["isa_flags"]]
    assert found["ISA extensions"] == "lacks " + ", ".join(f"`{f}`" for f in missing) + ", which server-16c has"
    # fields equal on both are left out
    twin = copy.deepcopy(server)
    twin["runner"] = "twin"
    assert differences(server, [twin]) == []
    twin["onnxruntime"]["version"] = "9.9.9"
    assert [(d.field, d.sentence) for d in differences(server, [twin])] == [
        ("onnxruntime", f"{server['onnxruntime']['version']} here; 9.9.9 on twin")]


def test_markdown_says_what_it_compared_with():
    fps = _reference()
    assert markdown(fps["server-16c"], [])[0].startswith("The only runner with results")
    same = markdown(fps["server-16c"], [dict(fps["server-16c"], runner="twin")])
    assert same[0].startswith("Same CPU model") and "`twin`" in same[0]
    text = "\n".join(markdown(fps["server-16c"], [fps["x86-epyc-2c-avx2"]]))
    assert text.startswith("**How this runner differs** from `x86-epyc-2c-avx2`:")
    assert "- **Logical cores**: 16 here; 2 on x86-epyc-2c-avx2." in text


def test_hostile_fingerprint_values_are_shown_as_text():
    a = {"runner": "a", "cpu": {"model": "<script>x</script> *b*"}}
    b = {"runner": "b", "cpu": {"model": "plain"}}
    (d,) = differences(a, [b])
    assert "<" not in d.sentence and "*" not in d.sentence


def test_runner_page_leads_with_the_differences(tmp_path):
    bundles, _ = store.load_results_dir(ROOT / "reference")
    bundles = typed_bundles(bundles)
    server = next(b for b in bundles if b.runner == "server-16c")
    others = [b.fingerprint for b in bundles if b is not server]
    page = fleet_pages.runner_page(server, current_versions={}, pages={}, docs_dir=tmp_path, others=others)
    lines = page.split("\n")
    assert lines[0] == "# Runner `server-16c`"
    assert lines[2].startswith("**How this runner differs** from `x86-epyc-2c-avx2`")
    assert page.index("How this runner differs") < page.index("| Property | Value |")
