"""Rebuild with every recipe cached against a full re-execution of the same recipes.

Re-execution is what a docs build with mkdocs-jupyter's ``execute: true`` does on
every build: it runs every notebook again. ``edgetiming run`` with a current
cache only checks keys and file hashes. The two are run side by side, in
alternating order (ABAB...), on this machine, and the ratio of their medians is
printed with its spread.

Usage::

    .venv/bin/python benchmarks/bench_cached_rebuild.py            # quick budgets, 3 rounds
    .venv/bin/python benchmarks/bench_cached_rebuild.py --full --rounds 1
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=False, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="full budgets instead of quick")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results = Path(tempfile.mkdtemp(prefix="bench-rebuild-"))
    base = [sys.executable, "-m", "edgetiming.cli", "run", "--results", str(results), "--runner", "bench"]
    if not args.full:
        base.append("--quick")
    print("priming the cache ...", flush=True)
    timed(base)
    cached, forced = [], []
    for i in range(args.rounds):
        cached.append(timed(base))
        forced.append(timed(base + ["--force"]))
        print(f"round {i + 1}: cached {cached[-1]:.2f} s, re-executed {forced[-1]:.2f} s", flush=True)
    ratio = statistics.median(forced) / statistics.median(cached)
    ratios = [f / c for f, c in zip(forced, cached)]
    mode = "full" if args.full else "quick"
    print(f"\nrecipes: {len(list((ROOT / 'recipes').glob('*.py')))} ({mode} budgets), rounds: {args.rounds}")
    print(f"cached rebuild  median {statistics.median(cached):.2f} s  (min {min(cached):.2f}, max {max(cached):.2f})")
    print(f"re-execution    median {statistics.median(forced):.2f} s  (min {min(forced):.2f}, max {max(forced):.2f})")
    print(f"re-execution / cached = {ratio:.1f}x  (per round: {', '.join(f'{r:.1f}' for r in ratios)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
