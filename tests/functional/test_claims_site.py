"""A planted false claim on the reference bundles is listed by `edgetiming site` and fails --strict."""

import json
import shutil

import pytest

from edgetiming.results import store
from edgetiming.site import build as site

from ..conftest import ROOT

REFERENCE = ROOT / "reference"


def _project(tmp_path, extra_page: str):
    project = tmp_path / "project"
    shutil.copytree(ROOT / "docs", project / "docs", ignore=shutil.ignore_patterns(*site.GENERATED_DIRS))
    for name in ("recipes", "case_studies"):
        shutil.copytree(ROOT / name, project / name)
    shutil.copyfile(ROOT / "mkdocs.yml", project / "mkdocs.yml")
    (project / "docs" / "guides" / "planted.md").write_text(extra_page)
    return project


def _a_metric_with_an_interval():
    primary = json.loads((REFERENCE / "reference.json").read_text())["primary"]
    bundles, _ = store.load_results_dir(REFERENCE)
    bundle = next(b for b in bundles if b.runner == primary)
    for slug, result in sorted(bundle.results.items()):
        for name, m in sorted(result["metrics"].items()):
            if m.get("ci") and m.get("state", "valid" if m.get("valid", True) else "invalid") != "invalid" \
                    and m["ci"][0] > 0:
                return primary, slug, name, m
    raise AssertionError("the primary reference bundle has no valid metric with an interval")


def test_a_planted_false_claim_is_listed_and_fails_strict_while_a_true_one_passes(tmp_path):
    primary, slug, name, m = _a_metric_with_an_interval()
    below = m["ci"][0] / 2  # the whole interval is above this value
    page = (f'# Planted\n\n{{{{ claim("{slug}", "{name}", "> {below:g}", "it is above {below:g}") }}}}\n\n'
            f'{{{{ claim("{slug}", "{name}", "< {below:g}", "it is below {below:g}") }}}}\n')
    project = _project(tmp_path, page)
    report = site.generate(project_dir=project, results_dir=[REFERENCE], primary_runner=primary)
    planted = [c for c in report.claims if "planted.md" in c]
    assert len(planted) == 1 and f'docs/guides/planted.md:5: claim "it is below {below:g}" is contradicted on {primary}' \
        in planted[0]
    with pytest.raises(site.SiteError, match="do not bear out"):
        site.build_site(project_dir=project, results_dir=[REFERENCE], site_dir=project / "site",
                        primary_runner=primary, run_mkdocs=False, strict=True)
    index = json.loads((project / "build" / "results-index.json").read_text())
    rendered = [v for k, v in index["claims"].items() if "it is above" in k]
    assert rendered and "(as stated)" in rendered[0]
