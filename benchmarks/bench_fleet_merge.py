"""How the site build's cost grows with the fleet: N runners x M recipes of synthetic bundles.

One real bundle is produced by the executor (the fixture recipe ``passes``),
then copied to M recipe names on each of N runners (each runner with its own
fingerprint). For each (N, M) the benchmark times the merge alone and the
whole ``edgetiming site`` (merge, page generation, ``mkdocs build --strict``),
side by side on this machine, and prints the times and the cost per bundle.

Usage::

    .venv/bin/python benchmarks/bench_fleet_merge.py                 # N in 1,4,16; M in 4,16
    .venv/bin/python benchmarks/bench_fleet_merge.py --runners 1 8 --recipes 8
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from edgetiming import executor, fingerprint, site, store  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "recipes" / "passes.py"


def make_fleet(work: Path, template_results: Path, n_runners: int, n_recipes: int) -> tuple[Path, Path]:
    project = work / f"project-{n_runners}x{n_recipes}"
    results = work / f"results-{n_runners}x{n_recipes}"
    (project / "docs").mkdir(parents=True)
    (project / "recipes").mkdir()
    (project / "docs" / "index.md").write_text("# Fleet benchmark\n")
    shutil.copytree(ROOT / "docs" / "stylesheets", project / "docs" / "stylesheets")
    shutil.copytree(ROOT / "docs" / "javascripts", project / "docs" / "javascripts")
    config = (ROOT / "mkdocs.yml").read_text().split("\nnav:")[0]
    (project / "mkdocs.yml").write_text(config + "\nnav:\n  - Home: index.md\n  - Recipes: recipes/index.md\n"
                                        "  - Runners: runners/index.md\n")
    template_runner = template_results / "bench"
    fp = json.loads((template_runner / "runner.json").read_text())
    for m in range(n_recipes):
        slug = f"recipe-{m:03d}"
        text = FIXTURE.read_text().replace("# A recipe that passes", f"# Recipe {m}")
        (project / "recipes" / f"{slug}.py").write_text(text)
    for n in range(n_runners):
        runner = f"board-{n:03d}"
        runner_fp = dict(fp, runner=runner, cpu=dict(fp["cpu"], model=f"CPU {n}"))
        runner_fp["identity_sha256"] = fingerprint.fingerprint_hash(runner_fp)
        store.atomic_write_json(results / runner / "runner.json", runner_fp)
        for m in range(n_recipes):
            slug = f"recipe-{m:03d}"
            dst = results / runner / slug
            shutil.copytree(template_runner / "passes", dst)
            record = json.loads((dst / "result.json").read_text())
            record.update(recipe=slug, title=f"Recipe {m}", runner=runner,
                          runner_identity_sha256=runner_fp["identity_sha256"])
            (dst / "result.json").write_text(json.dumps(record))
    return project, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runners", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--recipes", type=int, nargs="+", default=[4, 16])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    template = work / "template"
    executor.run_recipes([FIXTURE], executor.RunOptions(results_dir=template, runner="bench"))
    print(f"{'runners':>7} {'recipes':>7} {'bundles':>7} {'merge s':>8} {'site s':>8} {'ms/bundle':>9}")
    for n_recipes in args.recipes:
        for n_runners in args.runners:
            project, results = make_fleet(work, template, n_runners, n_recipes)
            t0 = time.perf_counter()
            bundles, problems = store.merge_results_dirs([results])
            merge_s = time.perf_counter() - t0
            assert not problems, problems
            t0 = time.perf_counter()
            site.build_site(project_dir=project, results_dir=[results], site_dir=project / "site",
                            primary_runner="board-000")
            site_s = time.perf_counter() - t0
            total = n_runners * n_recipes
            print(f"{n_runners:>7} {n_recipes:>7} {total:>7} {merge_s:>8.2f} {site_s:>8.2f} {site_s / total * 1e3:>9.0f}",
                  flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
