"""Cached rebuild after a site-only change against the build that executes every recipe.

The cache key covers only the measurement-side code (``edgetiming.run.cache.MEASUREMENT_SOURCES``),
so fixing a typo in the site code must re-run nothing. This benchmark works on a
copy of ``src/`` in a temporary folder and:

1. times the build that executes the recipes into an empty results folder (the baseline);
2. then, each round, edits a site module of the copy (``site/build.py``, a comment
   appended) and times ``edgetiming run`` again, checking that every recipe
   reports CACHED.

It prints both times and their ratio. Only ``edgetiming run`` is timed (the
MkDocs build after it is the same in both cases). By default the baseline runs
the recipes in quick mode (small budgets; a full build takes tens of minutes on
two cores), so the ratio understates the one against a full build; the output
says which mode was used.

Usage::

    .venv/bin/python benchmarks/bench_cached_rebuild.py                     # quick budgets, every recipe
    .venv/bin/python benchmarks/bench_cached_rebuild.py --recipes cold-start batching --rounds 3
    .venv/bin/python benchmarks/bench_cached_rebuild.py --full
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=False, cwd=ROOT, env=env, capture_output=True, text=True)
    return time.perf_counter() - t0, out.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="full budgets for the baseline instead of quick")
    parser.add_argument("--rounds", type=int, default=3, help="cached rebuilds, each after a new site edit")
    parser.add_argument("--recipes", nargs="*", help="recipe slugs (default: every recipe in recipes/)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-rebuild-"))
    shutil.copytree(ROOT / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, PYTHONPATH=str(work / "src"))
    paths = ([str(ROOT / "recipes" / f"{slug}.py") for slug in args.recipes] if args.recipes
             else sorted(str(p) for p in (ROOT / "recipes").glob("*.py")))
    base = [sys.executable, "-m", "edgetiming.cli", "run", *paths, "--results", str(work / "results"),
            "--runner", "bench", *([] if args.full else ["--quick"])]
    mode = "full" if args.full else "quick"
    print(f"baseline: executing {len(paths)} recipe(s) ({mode} budgets) ...", flush=True)
    baseline, _ = timed(base, env)
    site_module = work / "src" / "edgetiming" / "site" / "build.py"
    cached = []
    for i in range(args.rounds):
        site_module.write_text(site_module.read_text(encoding="utf-8") + f"\n# site-only edit {i + 1}\n",
                               encoding="utf-8")
        seconds, out = timed(base, env)
        reused = sum(" CACHED " in line for line in out.splitlines())
        if reused != len(paths):
            print(f"round {i + 1}: only {reused} of {len(paths)} recipes were CACHED after a site-only edit:\n{out}")
            return 1
        cached.append(seconds)
        print(f"round {i + 1}: site/build.py edited, all {reused} recipes CACHED in {seconds:.2f} s", flush=True)
    median = statistics.median(cached)
    print(f"\nrecipes: {len(paths)}; baseline budgets: {mode}"
          + ("" if args.full else " (quick mode: a full build takes longer, so the full-build ratio is larger)"))
    print(f"build executing the recipes   {baseline:.2f} s")
    print(f"cached rebuild after a site-only change  median {median:.2f} s "
          f"(min {min(cached):.2f}, max {max(cached):.2f}, {len(cached)} rounds)")
    print(f"executing build / cached rebuild = {baseline / median:.1f}x")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
