"""Contributed case studies: the validator, the sanitizing, the generated pages, the seeds."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import markdown
import numpy as np
import pytest
import yaml

from edgetiming.casestudies import model as cs
from edgetiming.casestudies.pages import generate_pages
from edgetiming.casestudies.sanitize import url_scheme
from edgetiming.results import store
from edgetiming.results.report import encode_samples

from ..conftest import ROOT

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "case_studies"
EXPECTED: dict[str, list[list[str]]] = yaml.safe_load((FIXTURES / "expected.yml").read_text())
HOSTILE = [
    "script-tag", "script-mixed-case", "iframe-tag", "event-handler", "javascript-url-markdown",
    "data-url-markdown", "javascript-url-html", "entity-encoded-url", "entity-encoded-script",
    "inline-svg", "svg-with-script", "attr-list-handler", "reference-link", "html-attachment",
    "title-with-html", "summary-with-link", "placeholder-injection",
]


def _copy(name: str, dest: Path, as_name: str | None = None) -> Path:
    target = dest / (as_name or name)
    shutil.copytree(FIXTURES / name, target)
    return target


# --------------------------------------------------------------------------- fixtures rejected
def test_every_fixture_folder_has_expectations():
    folders = {p.name for p in FIXTURES.iterdir() if p.is_dir()}
    assert folders == set(EXPECTED), "list each fixture folder in expected.yml"
    assert set(HOSTILE) <= folders


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_reports_its_expected_violations(name):
    violations = cs.load(FIXTURES / name).violations
    if not EXPECTED[name]:
        assert violations == [], "\n".join(map(str, violations))
        return
    for field, fragment in EXPECTED[name]:
        assert any(v.field == field and fragment in v.message for v in violations), (
            f"{name}: expected [{field}] {fragment!r}; got:\n" + "\n".join(map(str, violations)))
    for v in violations:
        assert Path(v.file).is_relative_to(FIXTURES / name), v
        assert v.fix, v
        # a field present in the file, the body and sample lines are located by line
        if v.field in ("body", "title", "summary") or v.field.startswith(("before.p", "after.p")):
            assert v.line is not None, v


def test_violation_prints_file_line_field_message_fix(tmp_path):
    case = _copy("too-few-samples", tmp_path)
    v = next(v for v in cs.validate_dir(tmp_path) if v.field == "before.p99_ms")
    text = (case / "index.md").read_text().split("\n")
    assert text[v.line - 1].strip().startswith("p99_ms:")
    assert str(v) == f"{case / 'index.md'}:{v.line}: before.p99_ms: {v.message} ({v.fix})"
    missing = next(v for v in cs.load(FIXTURES / "missing-device").violations)
    assert str(missing).startswith(f"{FIXTURES / 'missing-device' / 'index.md'}: device: missing required field (")


def test_csv_errors_point_at_the_csv_line():
    vs = [v for v in cs.load(FIXTURES / "csv-bad-line").violations if v.field == "samples"]
    assert {(Path(v.file).name, v.line) for v in vs} == {("after.csv", 5), ("after.csv", 7)}


# --------------------------------------------------------------------------- claims against samples
def _set(index: Path, dotted: str, value: object) -> None:
    text = index.read_text()
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    node = meta
    keys = dotted.split(".")
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value
    index.write_text(f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n{body}")


def test_editing_the_samples_breaks_the_sha256(tmp_path):
    case = _copy("valid-synthetic", tmp_path)
    assert cs.validate_dir(tmp_path) == []
    csv = case / "before.csv"
    lines = csv.read_text().split("\n")
    lines[3] = f"{float(lines[3]) * 0.9:.3f}"  # shave one sample by 10%
    csv.write_text("\n".join(lines))
    vs = cs.validate_dir(tmp_path)
    assert [v.field for v in vs] == ["before.samples.sha256"]
    assert "does not match before.csv" in vs[0].message


def test_claims_must_match_samples_within_the_stated_tolerance(tmp_path):
    case = _copy("valid-synthetic", tmp_path)
    index = case / "index.md"
    before = cs.load(case)
    p99 = before.get("after.p99_ms")
    recomputed = float(np.sort(before.samples_ms["after"])[int(400 * 0.99)])
    assert p99 == pytest.approx(recomputed)
    _set(index, "after.p99_ms", round(p99 + 0.9 * cs.tolerance_ms(p99), 3))  # inside the tolerance
    assert cs.validate_dir(tmp_path) == []
    _set(index, "after.p99_ms", round(p99 + 2 * cs.tolerance_ms(p99), 3))  # outside it
    vs = cs.validate_dir(tmp_path)
    assert [v.field for v in vs] == ["after.p99_ms"] and "but the attached samples give" in vs[0].message
    _set(index, "after.p99_ms", p99)
    _set(index, "after.jitter_ms", 99.0)
    assert [v.field for v in cs.validate_dir(tmp_path)] == ["after.jitter_ms"]


def test_tolerance_is_stated_in_the_schema_and_contributing():
    schema = json.loads((ROOT / "src/edgetiming/casestudies/schemas/case_study.schema.json").read_text())
    assert f"{cs.TOLERANCE_ABS_MS} ms" in schema["description"]
    guide = (ROOT / "CONTRIBUTING.md").read_text()
    assert f"{cs.TOLERANCE_ABS_MS} ms" in guide and f"{cs.TOLERANCE_REL:.1%}" in guide


def _bundle(folder: Path, latency_ns: np.ndarray, warmup: int) -> None:
    """A minimal results bundle holding one sample array, as `edgetiming run` writes it."""
    run = folder / "run-1"
    (run / "samples").mkdir(parents=True)
    data = encode_samples(latency_ns)
    (run / "samples" / "steady.npy.gz").write_bytes(data)
    (run / "notebook.ipynb").write_text("{}")
    nb_sha = hashlib.sha256(b"{}").hexdigest()
    h = "0" * 64
    record = {
        "schema_version": 1, "recipe": "fixture", "recipe_version": "0" * 16, "title": "fixture",
        "runner": "fixture-runner", "runner_identity_sha256": h, "status": "OK", "mode": "full",
        "parameters": {}, "started_at": "2026-01-01T00:00:00+00:00", "duration_s": 1.0,
        "git": {"sha": None, "dirty": None}, "packages": {}, "python": "3.11", "cache_key": h,
        "cache_inputs": {"recipe_version": "x", "edgetiming_source": "x", "packages": "x", "models": "x",
                         "runner_identity": "x"},
        "models": {}, "run_dir": "run-1", "notebook": {"path": "notebook.ipynb", "sha256": nb_sha},
        "metrics": {}, "figures": [], "checks": [], "error": None, "expected_failure": None,
        "samples": [{"name": "steady", "path": "samples/steady.npy.gz", "unit": "ns", "count": int(latency_ns.size),
                     "dtype": "int64", "sha256": hashlib.sha256(data).hexdigest(),
                     "description": f"closed-loop latency, int64 ns; the first {warmup} are warmup"}],
    }
    store.validate_record("result", record, where="test")
    (folder / "result.json").write_text(json.dumps(record))


def test_results_bundle_as_raw_samples(tmp_path):
    case = _copy("valid-synthetic", tmp_path)
    after_ms = cs.load(case).samples_ms["after"]
    warm = np.full(5, 10**9, dtype=np.int64)  # warmup iterations, left out by the validator
    _bundle(case / "bundle", np.concatenate([warm, np.round(after_ms * 1e6).astype(np.int64)]), warmup=5)
    (case / "after.csv").unlink()
    _set(case / "index.md", "after.samples", {"bundle": "bundle/result.json", "name": "steady"})
    study = cs.load(case)
    assert study.violations == [] and study.verified
    np.testing.assert_allclose(study.samples_ms["after"], after_ms)
    # an edited sample file is caught by the bundle's own sha256
    target = case / "bundle" / "run-1" / "samples" / "steady.npy.gz"
    target.write_bytes(encode_samples(np.ones(400, dtype=np.int64)))
    vs = cs.validate_dir(tmp_path)
    assert vs and vs[0].field == "after.samples.bundle" and "sha256 differs" in vs[0].message


# --------------------------------------------------------------------------- hostile content neutralised
class _Active(HTMLParser):
    """Collects what could run in a browser: script-like elements, handlers, unsafe URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.h1: list[str] = []
        self._in_h1 = False

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "iframe", "frame", "object", "embed", "svg", "math", "base", "form", "meta", "link"):
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.lower().startswith("on"):
                self.found.append(f"{tag} {name}=")
            if name.lower() in ("href", "src", "action", "formaction", "xlink:href", "srcset") and value:
                scheme = url_scheme(value)
                if scheme not in (None, "http", "https", "mailto"):
                    self.found.append(f"{tag} {name}={value}")
        self._in_h1 = tag == "h1"

    def handle_endtag(self, tag):
        if tag == "h1":
            self._in_h1 = False

    def handle_data(self, data):
        if self._in_h1:
            self.h1.append(data)


def _mkdocs_markdown() -> markdown.Markdown:
    """Python-Markdown configured with the extensions of the project's mkdocs.yml."""
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


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    studies, docs = root / "case_studies", root / "docs"
    studies.mkdir()
    (docs / "guides").mkdir(parents=True)
    (docs / "guides" / "index.md").write_text("# Guides\n")
    for name in HOSTILE:
        _copy(name, studies)
    problems: list[str] = []
    nav = generate_pages(studies, docs, include_invalid=True, problems=problems, draw_figures=False)
    return docs, nav, problems


def test_hostile_case_studies_are_left_out_of_the_site_by_default(tmp_path):
    studies = tmp_path / "case_studies"
    studies.mkdir()
    _copy("script-tag", studies)
    _copy("valid-synthetic", studies)
    problems: list[str] = []
    nav = generate_pages(studies, tmp_path / "docs", problems=problems, draw_figures=False)
    assert [next(iter(e.values())) for e in nav[1:]] == ["case-studies/valid-synthetic.md"]
    assert any("<script> element" in p for p in problems)
    assert not (tmp_path / "docs" / "case-studies" / "script-tag.md").exists()


def test_no_script_or_handler_from_contributed_content_reaches_a_page(hostile_site):
    docs, nav, problems = hostile_site
    assert len(nav) == 1 + len(HOSTILE) and problems
    md = _mkdocs_markdown()
    for page in sorted((docs / "case-studies").glob("*.md")):
        source = page.read_text()
        assert "{{" not in source and "{:" not in source, page.name  # no hook placeholder, no attr list
        parser = _Active()
        parser.feed(md.reset().convert(source))
        assert parser.found == [], f"{page.name}: {parser.found}"


def test_title_with_html_shows_as_text(hostile_site):
    docs, nav, _ = hostile_site
    title = "<img src=x onerror=alert('xss-title')>"
    parser = _Active()
    parser.feed(_mkdocs_markdown().convert((docs / "case-studies" / "title-with-html.md").read_text()))
    assert "".join(parser.h1).strip() == title  # the reader sees the text, exactly
    assert parser.found == []
    for entry in nav[1:]:
        (label,) = entry
        assert not set(label) & set("<>&\"'"), label  # MkDocs puts nav titles into HTML unescaped


def test_rendered_body_keeps_safe_markup_and_drops_the_rest(tmp_path):
    case = _copy("valid-synthetic", tmp_path)
    (case / "chart.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    body = ("# Heading\n\n**bold** [ok](https://example.org) [case](../other-case/index.md) "
            "[csv](before.csv) ![chart](chart.png) <a href='https://example.org' onclick='x()'>a</a> "
            "[rel](../../etc/passwd) {{ metric(\"a\", \"b\") }}\n\n<img src=x onerror=alert(1)>\n")
    html, assets = cs.render_body_html(body, case_dir=case, asset_prefix="slug")
    assert "<h2>Heading</h2>" in html and "<strong>bold</strong>" in html
    assert 'href="https://example.org"' in html and 'href="other-case.html"' in html
    assert 'href="slug/before.csv"' in html and 'src="slug/chart.png"' in html
    assert "onclick" not in html and "onerror" not in html and "passwd" not in html
    assert "{{" not in html and "&#123;&#123;" in html
    assert sorted(p.name for p in assets) == ["before.csv", "chart.png"]


# --------------------------------------------------------------------------- generated pages
def test_pages_link_guides_and_recipes_that_exist(tmp_path):
    studies, docs, recipes_dir = tmp_path / "case_studies", tmp_path / "docs", tmp_path / "recipes"
    studies.mkdir()
    recipes_dir.mkdir()
    _copy("valid-synthetic", studies)
    _copy("valid-synthetic", studies, as_name="second-case")
    (docs / "guides").mkdir(parents=True)
    nav = generate_pages(studies, docs, recipes_dir=recipes_dir, draw_figures=False)
    page = (docs / "case-studies" / "valid-synthetic.md").read_text()
    assert "](../guides/index.md)" in page and "../recipes/" not in page
    assert "](second-case.md)" in page  # related: same technique
    assert "Verified from samples" in page and "](valid-synthetic/before.csv)" in page
    assert (docs / "case-studies" / "valid-synthetic" / "before.csv").is_file()

    (docs / "guides" / "techniques").mkdir()
    (docs / "guides" / "techniques" / "quantization.md").write_text("# Quantization\n")
    (recipes_dir / "quantization.py").write_text("# recipe\n")
    generate_pages(studies, docs, recipes_dir=recipes_dir, draw_figures=False)
    page = (docs / "case-studies" / "valid-synthetic.md").read_text()
    assert "](../guides/techniques/quantization.md)" in page and "](../recipes/quantization.ipynb)" in page
    assert nav == ["case-studies/index.md", {"Synthetic fixture for the validator": "case-studies/second-case.md"},
                   {"Synthetic fixture for the validator": "case-studies/valid-synthetic.md"}]


def test_index_table_and_charts(tmp_path):
    studies, docs = tmp_path / "case_studies", tmp_path / "docs"
    studies.mkdir()
    _copy("valid-synthetic", studies)
    generate_pages(studies, docs)
    index = (docs / "case-studies" / "index.md").read_text()
    assert '<div class="et-cs-index" markdown="1">' in index
    assert "| Case study | Hardware class | Techniques | Model | P99 before (ms) | P99 after (ms) |" in index
    row = next(line for line in index.splitlines() if "valid-synthetic.md" in line)
    assert "\u2713 from samples" in row and re.search(r"\u2212\d+\.\d% \[\u2212\d+\.\d%, \u2212\d+\.\d%\]", row)
    assert "![P99 latency before and after in 1 case studies" in index
    for png in ("overview.png", "valid-synthetic/before-after.png"):
        assert (docs / "case-studies" / png).read_bytes().startswith(b"\x89PNG")
    html = _mkdocs_markdown().convert(index)
    assert "<table>" in html and 'href="valid-synthetic.md"' in html


def test_sort_and_filter_script_is_self_contained():
    js = (ROOT / "docs" / "javascripts" / "case-studies.js").read_text()
    assert "et-cs-index" in js and not re.search(r"https?://", js)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_sort_and_filter_script_sorts_and_filters():
    import subprocess

    done = subprocess.run(["node", str(ROOT / "tests/js/case_studies_table.js"),
                           str(ROOT / "docs/javascripts/case-studies.js")], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


# --------------------------------------------------------------------------- seeds, schema, template
def test_every_committed_case_study_validates_and_the_seeds_carry_their_samples():
    """CI's `edgetiming validate case_studies/`: a pull request adding an invalid one fails here."""
    studies = cs.load_dir(ROOT / "case_studies")
    for study in studies:
        assert study.violations == [], "\n".join(map(str, study.violations))
    seeds = [s for s in studies if any("make_seed_case_studies" in a for a in s.get("authors"))]
    assert len(seeds) >= 3
    for study in seeds:
        assert study.verified, f"{study.slug}: samples for both sides"
        assert study.get("device.runner") and len(study.get("device.fingerprint_sha256")) == 64
        assert 300 <= study.samples_ms["before"].size <= 1500


def test_main_validate_exit_status(capsys):
    assert cs.main_validate(ROOT / "case_studies") == 0
    assert "valid" in capsys.readouterr().out
    assert cs.main_validate(FIXTURES / "non-finite") == 1
    out = capsys.readouterr()
    assert "after.p99_ms: nan is not a finite number" in out.out and "1 case study checked" in out.err


def test_published_schema_is_generated_from_the_vocabularies():
    published = json.loads((ROOT / "src/edgetiming/casestudies/schemas/case_study.schema.json").read_text())
    assert published == cs.json_schema(), "run: python -m edgetiming.casestudies.model --write-schema"
    assert published["properties"]["schema_version"] == {"const": 1}


def test_template_fails_only_on_its_placeholders(tmp_path):
    shutil.copytree(ROOT / "case_studies" / "_template", tmp_path / "my-case")
    fields = sorted(v.field for v in cs.validate_dir(tmp_path))
    assert fields == ["after.samples.file", "before.samples.file", "model.sha256"]


def test_every_technique_maps_to_an_existing_guide_and_is_documented():
    for t in cs.TECHNIQUES.values():
        assert re.fullmatch(r"[a-z0-9-]+(/[a-z0-9-]+)?", t.guide)
        assert (ROOT / "docs" / "guides" / f"{t.guide}.md").is_file(), f"no guide {t.guide}"
    guide = (ROOT / "CONTRIBUTING.md").read_text()
    form = yaml.safe_load((ROOT / ".github" / "ISSUE_TEMPLATE" / "case-study.yml").read_text())
    required = [b["id"] for b in form["body"] if b.get("validations", {}).get("required")]
    options = next(b for b in form["body"] if b.get("id") == "techniques")["attributes"]["options"]
    assert set(options) - {"other"} == set(cs.TECHNIQUES)
    for name in [*cs.TECHNIQUES, *cs.HARDWARE_CLASSES, *cs.PRECISIONS]:
        assert f"`{name}`" in guide, f"CONTRIBUTING.md does not list {name}"
    assert {"device", "runtime", "model", "slo", "measurement", "results"} <= set(required)
    pr = (ROOT / ".github" / "PULL_REQUEST_TEMPLATE.md").read_text()
    assert pr.count("- [ ]") == 3


@pytest.mark.slow
def test_strict_mkdocs_build_carries_no_contributed_script(tmp_path):
    """The real thing: MkDocs with the project's config builds hostile pages, and the built HTML
    holds no element, handler or URL that could run contributed code."""
    import os
    import subprocess
    import sys

    studies, docs = tmp_path / "case_studies", tmp_path / "docs"
    studies.mkdir()
    for name in ("valid-synthetic", "title-with-html", "attr-list-handler", "entity-encoded-url", "inline-svg"):
        _copy(name, studies)
    (docs / "guides").mkdir(parents=True)
    (docs / "guides" / "index.md").write_text("# Guides\n")
    (docs / "index.md").write_text("# Home\n\nSee the [case studies](case-studies/index.md).\n")
    for folder in ("stylesheets", "javascripts"):
        shutil.copytree(ROOT / "docs" / folder, docs / folder)
    nav = generate_pages(studies, docs, include_invalid=True, draw_figures=False)
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    config.update(docs_dir=str(docs), site_dir=str(tmp_path / "site"),
                  nav=[{"Home": "index.md"}, {"Guides": "guides/index.md"}, {"Case studies": nav}],
                  extra_javascript=["javascripts/case-studies.js"])
    config["extra_css"] = [*config.get("extra_css", []), "stylesheets/case-studies.css"]
    # no notebooks here, and the offline plugin's iframe shim is the theme's script, not ours
    config["plugins"] = [p for p in config["plugins"] if p == "search"]
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(tmp_path / "mkdocs.yml")]
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr
    pages = sorted((tmp_path / "site" / "case-studies").glob("*.html"))
    assert len(pages) == 6
    for page in pages:
        html = page.read_text()
        whole = _Active()
        whole.feed(html)  # the theme brings <script>, <link>, <meta>, <form> and icon <svg>; no handler, no URL
        assert [f for f in whole.found if not f.startswith("<")] == [], page.name
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.DOTALL)
        assert not any("xss" in body or "xss" in attrs for attrs, body in scripts), page.name
        article = re.search(r'<article class="md-content__inner[^"]*">(.*?)</article>', html, re.DOTALL)
        content = _Active()
        content.feed(article.group(1))  # what the page itself holds: nothing active at all
        assert content.found == [], f"{page.name}: {content.found}"


GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "case-studies"


@pytest.mark.parametrize("page", ["index.md", "valid-synthetic.md"])
def test_generated_pages_match_golden_files(tmp_path, page):
    """Regenerate after an intended change with: EDGETIMING_UPDATE_GOLDEN=1 pytest -k golden."""
    import os

    studies, docs = tmp_path / "case_studies", tmp_path / "docs"
    studies.mkdir()
    _copy("valid-synthetic", studies)
    generate_pages(studies, docs, recipes_dir=tmp_path / "recipes", draw_figures=False)
    text = (docs / "case-studies" / page).read_text()
    golden = GOLDEN / page
    if os.environ.get("EDGETIMING_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text()
