"""What a reader sees: no unrendered Markdown and no empty table cells on any built page."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import markdown
import pytest
import yaml

from edgetiming.site import build as site
from edgetiming.site import mkdocs_hooks
from edgetiming.site.render_audit import Finding, audit_html, audit_site

from ..conftest import ROOT, make_result

REFERENCE = ROOT / "reference"


def _md() -> markdown.Markdown:
    """Python-Markdown with the extensions of the project's mkdocs.yml."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    names, configs = [], {}
    for ext in config["markdown_extensions"]:
        if isinstance(ext, dict):
            ((name, conf),) = ext.items()
            names.append(name)
            configs[name] = conf or {}
        else:
            names.append(ext)
    return markdown.Markdown(extensions=names, extension_configs=configs)


def _kinds(html: str) -> list[str]:
    return [f.kind for f in audit_html(html, "page.html")]


# --------------------------------------------------------------------------- the scanner
def test_planted_bold_with_a_space_is_found():
    (finding,) = audit_html("<table><tr><td>count</td><td>**x **</td></tr></table>", "index.html")
    assert finding == Finding("index.html", "bold marker", "**x **")
    assert str(finding) == "index.html: bold marker: '**x **'"
    # what Python-Markdown makes of the same text: it does not render, and the audit says so
    assert _kinds(_md().convert("| a | b |\n|---|---|\n| count | **x ** |")) == ["bold marker"]
    assert _kinds(_md().convert("| a | b |\n|---|---|\n| count | **x** |")) == []


def test_swallowed_list_item_is_found():
    broken = ("1. **Quantize.** Start here:\n\n    ```python\n    x = 1\n    ```\n\n"
              "    The docstring gives the choices.\n5. **Check the kernels.** Count them.\n")
    fixed = broken.replace("choices.\n5.", "choices.\n\n5.")
    html = _md().convert(broken)
    findings = audit_html(html, "guide.html")
    assert [f.kind for f in findings] == ["list item inside a paragraph"]
    assert "5. Check the kernels." in findings[0].snippet
    assert audit_html(_md().convert(fixed)) == []
    assert _kinds("<p>first line\n- second item</p>") == ["list item inside a paragraph"]
    assert _kinds("<p>wrapped text about\nthe 5. percentile</p>") == []


@pytest.mark.parametrize("html, kind", [
    ("<p>see [the guide](guides/x.md) for more</p>", "link syntax"),
    ("<li>P99 {{ metric(\"a\", \"b\") }}</li>", "template placeholder"),
    ("<p>the [docstring][ort-quantize-py] says</p>", "reference-link label"),
    ("<p>an *emphasis* left raw</p>", "bold marker"),
    ("<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td> </td></tr></table>", "empty table cell"),
])
def test_each_kind_is_found(html, kind):
    assert _kinds(html) == [kind]


def test_code_hidden_text_and_pictures_are_left_alone():
    assert _kinds("<p>call <code>f(**kwargs)</code> with <kbd>{{</kbd></p><pre>[a][b] ](x)</pre>") == []
    assert _kinds('<div class="clipboard-copy-txt"><div>2**20</div></div><p>fine</p>') == []
    assert _kinds('<p hidden>**x **</p><p style="display: none">[a](b)</p>') == []
    assert _kinds("<table><tr><th></th><th>b</th></tr><tr><td><img src=a.png></td>"
                  "<td><code>x</code></td></tr></table>") == []
    # a table a notebook printed is the recipe's data: blank cells there are not reported ...
    output = '<div class="jp-OutputArea-output"><table><tr><td>det</td><td></td></tr></table>**y**</div>'
    assert _kinds(output) == ["bold marker"]  # ... but unrendered Markdown is
    # the empty cell is reported with its row
    (f,) = audit_html("<table><tr><td>P99</td><td></td><td>3 ms</td></tr></table>")
    assert f.snippet == "cell 2 of the row: P99 | (empty) | 3 ms"


def test_audit_site_names_each_page(tmp_path):
    (tmp_path / "guides").mkdir()
    (tmp_path / "guides" / "a.html").write_text("<p>fine</p>")
    (tmp_path / "index.html").write_text("<p>**3 **</p>")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "skip.html").write_text("<p>**3 **</p>")
    assert audit_site(tmp_path) == [Finding("index.html", "bold marker", "**3 **")]


# --------------------------------------------------------------------------- the formatter it found
def _headline_index(monkeypatch, metrics):
    result = make_result("loadgen-crosscheck", metrics)
    monkeypatch.setattr(mkdocs_hooks, "_INDEX", {"runner": "r1", "recipes": {"loadgen-crosscheck": {
        "page": "recipes/loadgen-crosscheck.md", "figure_paths": {}, "result": result.to_dict()}}})
    monkeypatch.setattr(mkdocs_hooks, "_RESULTS", {"loadgen-crosscheck": result})


def test_headline_of_a_count_renders_bold_without_a_stray_space(monkeypatch):
    _headline_index(monkeypatch, {
        "headline.disagreements": {"value": 3, "unit": "", "description": "disagreements", "state": "valid"},
        "headline.p99_ms": {"value": 12.5, "unit": "ms", "description": "P99", "state": "valid"}})
    text = mkdocs_hooks._headlines("index.md", "[r1](runners/r1.md)")
    assert "| **3** |" in text and "| **12.5 ms** |" in text
    html = _md().convert(text)
    assert "<strong>3</strong>" in html and audit_html(html) == []


def test_headline_shows_intervals_state_and_the_old_rule(monkeypatch):
    _headline_index(monkeypatch, {
        "headline.p99_ms": {"value": 12.5, "unit": "ms", "description": "P99", "ci": [11.0, 14.25],
                            "ci_within": [11.5, 13.0], "ci_between": [11.0, 14.25], "runs": 3,
                            "state": "unstable", "reasons": ["3 independent runs disagree | beyond intervals"]},
        # schema version 1: no state, judged valid/invalid under "CV > 10%"
        "headline.p50_ms": {"value": 8.0, "unit": "ms", "description": "P50", "valid": False, "note": "CV 14%"}})
    text = mkdocs_hooks._headlines("index.md", "[r1](runners/r1.md)")
    p99 = next(line for line in text.splitlines() if "P99" in line)
    assert "**12.5 ms** (95% CI [11.0, 14.2] ms; within-run [11.5, 13.0] ms; between-run [11.0, 14.2] ms over 3 runs)" in p99
    assert 'et-state-unstable" title="3 independent runs disagree &#124; beyond intervals">unstable</span> |' in p99
    p50 = next(line for line in text.splitlines() if "P50" in line)
    assert ">invalid</span>" in p50 and "judged under the old rule (CV &gt; 10% invalid)" in p50
    assert "Results of loadgen-crosscheck were judged under the old rule (CV > 10% invalid)." in text
    html = _md().convert(text)
    assert html.count("<tr>") == 3 and audit_html(html) == []


# --------------------------------------------------------------------------- the reference site
@pytest.fixture(scope="module")
def reference_site(tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("audit") / "project"
    shutil.copytree(ROOT / "docs", project / "docs", ignore=shutil.ignore_patterns(*site.GENERATED_DIRS))
    for name in ("recipes", "case_studies"):
        shutil.copytree(ROOT / name, project / name)
    shutil.copyfile(ROOT / "mkdocs.yml", project / "mkdocs.yml")
    primary = json.loads((REFERENCE / "reference.json").read_text())["primary"]
    site.build_site(project_dir=project, results_dir=[REFERENCE], site_dir=project / "site",
                    primary_runner=primary)
    return project / "site"


@pytest.mark.slow
def test_every_page_of_the_reference_site_reads_as_rendered(reference_site):
    pages = list(reference_site.rglob("*.html"))
    assert len(pages) > 20  # the audit saw the whole site
    findings = audit_site(reference_site)
    assert findings == [], "\n".join(map(str, findings))
