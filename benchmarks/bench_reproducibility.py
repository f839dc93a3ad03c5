"""Do the intervals the site prints cover the next run? Measured, side by side with one-run intervals.

Runs each recipe K times as separate ``edgetiming run --force`` invocations (fresh
kernels, fresh processes), ``--gap-s`` seconds apart so the machine's state can
move between them, then prints for every headline metric with an interval:

(a) real coverage: the fraction of ordered pairs of runs (earlier i, later j) in which
    run j's estimate falls inside run i's reported interval, for the interval the
    site now prints (the wider of within-run and between-run) and for the one-run
    within-run exact interval the site printed before (``ci_within``, the baseline);
(b) the A/A false-positive rate of the regression detector: the share of pairs of
    runs of the same code flagged as a regression (per-process estimates, Welch t);
    and, for comparisons with an A/A arm, how many runs' A/A ratio interval held 1;
(c) the cost: each invocation's wall time against the committed primary reference bundle's
    duration for the same recipe (``reference/reference.json`` names it).

Usage::

    python benchmarks/bench_reproducibility.py                     # K=5, quick mode, 3 recipes
    python benchmarks/bench_reproducibility.py --full --k 5 --gap-s 60

Quick mode uses fewer processes per number (labelled); the goals (coverage >= 90% at
a nominal 95%, A/A false positives <= 5%) are stated for full mode.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from edgetiming.stats.repeated import regression  # noqa: E402

RECIPES = ("characterize-latency", "tail-latency-under-load", "threads-and-kernels")


def run_once(recipe: str, results: Path, full: bool) -> tuple[dict, float]:
    cmd = [sys.executable, "-m", "edgetiming.cli", "run", str(ROOT / "recipes" / f"{recipe}.py"), "--force",
           "--results", str(results), "--runner", "bench"] + ([] if full else ["--quick"])
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    path = results / "bench" / recipe / "result.json"
    if done.returncode != 0 or not path.is_file():
        raise SystemExit(f"{recipe}: edgetiming run failed (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return json.loads(path.read_text()), wall


def headline_metrics(result: dict) -> dict[str, dict]:
    return {k: m for k, m in result["metrics"].items()
            if isinstance(m.get("value"), (int, float)) and m.get("ci")
            and (k.startswith(("headline.", "noise.")) or m.get("runs"))}


def coverage(runs: list[dict], name: str, key: str) -> tuple[int, int]:
    hits = total = 0
    for i, j in combinations(range(len(runs)), 2):
        mi, mj = runs[i].get(name), runs[j].get(name)
        if not mi or not mj or not mi.get(key):
            continue
        lo, hi = mi[key]
        total += 1
        hits += lo <= mj["value"] <= hi
    return hits, total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", type=int, default=5, help="invocations per recipe (default 5)")
    ap.add_argument("--gap-s", type=float, default=10.0, help="pause between invocations (default 10 s)")
    ap.add_argument("--full", action="store_true", help="full budgets (default: quick mode)")
    ap.add_argument("--recipes", nargs="*", default=list(RECIPES))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="edgetiming-repro-"))
    primary = json.loads((ROOT / "reference" / "reference.json").read_text())["primary"]
    reference = ROOT / "reference" / primary
    print(f"mode: {'full' if args.full else 'quick'}; K = {args.k} invocations per recipe, {args.gap_s:g} s apart")
    totals = {"ci": [0, 0], "ci_within": [0, 0]}
    fp = [0, 0]
    for recipe in args.recipes:
        runs, walls = [], []
        for k in range(args.k):
            if k:
                time.sleep(args.gap_s)
            result, wall = run_once(recipe, work / f"{recipe}-{k}", args.full)
            runs.append(headline_metrics(result))
            walls.append(wall)
        ref = reference / recipe / "result.json"
        ref_s = json.loads(ref.read_text())["duration_s"] if ref.is_file() else None
        print(f"\n## {recipe}")
        print(f"cost: median wall {sorted(walls)[len(walls) // 2]:.0f} s per invocation"
              + (f"; the committed reference run ({primary}, full mode) took {ref_s:.0f} s" if ref_s else ""))
        print(f"{'metric':<46} {'coverage (site interval)':>25} {'coverage (one-run within)':>26} {'A/A flagged':>12}")
        for name in sorted(runs[0]):
            row = []
            for key in ("ci", "ci_within"):
                h, t = coverage(runs, name, key)
                totals[key][0] += h
                totals[key][1] += t
                row.append(f"{h}/{t} ({h / t:.0%})" if t else "n/a")
            flagged = pairs = 0
            for i, j in combinations(range(len(runs)), 2):
                a, b = runs[i].get(name, {}).get("per_run"), runs[j].get(name, {}).get("per_run")
                if a and b and len(a) > 1 and len(b) > 1 and runs[i][name].get("unit") in ("ms", "us", "ns", "s"):
                    pairs += 1
                    flagged += regression(a, b).direction == "higher"
            fp[0] += flagged
            fp[1] += pairs
            print(f"{name:<46} {row[0]:>25} {row[1]:>26} {f'{flagged}/{pairs}' if pairs else 'n/a':>12}")
        aa = [(n, m) for r in runs for n, m in r.items()
              if ("-a-a." in n or ".aa_" in n or "_aa_" in n or n.endswith("_aa")) and "ratio" in n
              and m.get("ci")]
        if aa:
            held = sum(1 for _, m in aa if m["ci"][0] <= 1 <= m["ci"][1])
            print(f"A/A ratio intervals holding 1: {held} of {len(aa)}")
    print("\n## all recipes")
    for key, label in (("ci", "site interval (wider of within and between)"), ("ci_within", "one-run within interval")):
        h, t = totals[key]
        print(f"coverage of later runs, {label}: {h}/{t} ({h / t:.0%})" if t else f"{label}: n/a")
    print(f"A/A regression false positives: {fp[0]}/{fp[1]} ({fp[0] / fp[1]:.0%})" if fp[1] else "A/A: n/a")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
