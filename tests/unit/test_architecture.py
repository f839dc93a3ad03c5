"""The package's layers hold: imports go down, never up, and never in a circle."""

import shutil
from pathlib import Path

from edgetiming.site import architecture

PACKAGE = Path(architecture.__file__).resolve().parent.parent


def test_the_package_has_no_import_against_the_layers_and_no_circle():
    assert architecture.violations() == []


def test_every_subpackage_has_a_layer():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert packages <= set(architecture.LAYERS), packages - set(architecture.LAYERS)


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "edgetiming"
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_a_planted_back_import_is_found(tmp_path):
    root = _copy(tmp_path)
    target = root / "stats" / "quantiles.py"
    target.write_text(target.read_text() + "\nfrom edgetiming.site import build  # planted\n")
    problems = [p for p in architecture.violations(root) if not p.startswith("import circle")]
    assert len(problems) == 1
    assert problems[0].startswith("edgetiming.stats.quantiles (line ")
    assert "imports edgetiming.site.build, but layer 'stats' may only import layers below it" in problems[0]


def test_a_planted_import_inside_a_function_is_found_too(tmp_path):
    root = _copy(tmp_path)
    target = root / "measure" / "session.py"
    target.write_text(target.read_text() + "\n\ndef _planted():\n    from edgetiming.run import executor\n")
    assert any("edgetiming.measure.session" in p and "edgetiming.run.executor" in p
               for p in architecture.violations(root))


def test_a_planted_circle_inside_one_layer_is_found(tmp_path):
    root = _copy(tmp_path)
    # quantiles <- compare already; planting compare <- quantiles closes a circle
    target = root / "stats" / "quantiles.py"
    target.write_text(target.read_text() + "\nfrom edgetiming.stats import compare  # planted\n")
    circles = [p for p in architecture.violations(root) if p.startswith("import circle")]
    assert circles and "edgetiming.stats.compare" in circles[0] and "edgetiming.stats.quantiles" in circles[0]


def test_the_diagram_is_drawn_from_the_imports():
    text = architecture.mermaid()
    assert text.startswith("flowchart TD")
    assert "    measure --> stats" in text
    assert "stats -->" not in text  # the lowest layer imports nothing


def test_the_contributor_page_is_drawn_from_the_code(tmp_path):
    text = architecture.markdown()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`edgetiming." in line]
    assert [row.split("`")[1] for row in rows][:1] == ["edgetiming.host"]
    assert {row.split("`")[1].removeprefix("edgetiming.") for row in rows} == set(architecture.LAYERS)
    stats_row = next(row for row in rows if "`edgetiming.stats`" in row)
    assert "nothing in edgetiming" in stats_row and "How far to trust a number" in stats_row
    assert "0 against the layers or in a circle" in text and "```mermaid\nflowchart TD" in text
    # a planted import shows on the page at the next build
    root = _copy(tmp_path)
    target = root / "stats" / "quantiles.py"
    target.write_text(target.read_text() + "\nfrom edgetiming.site import build  # planted\n")
    planted = architecture.markdown(root)
    assert "; 0 against the layers" not in planted and "    stats --> site" in planted
