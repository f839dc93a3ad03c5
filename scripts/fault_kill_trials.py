#!/usr/bin/env python3
"""Kill `edgetiming run` or `edgetiming site` with SIGKILL at random moments, many times.

After each kill the store must still parse and hold the old or the new result
(``run``), or the site folder must be exactly the old site or a whole new one
(``site``). The fault suite (tests/faults/) does a few seeded trials; this
script does hundreds:

    python scripts/fault_kill_trials.py run --trials 200
    python scripts/fault_kill_trials.py site --trials 100 --seed 7

Prints one line per failed trial and a summary; exits 1 when any trial failed.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from edgetiming.results import store  # noqa: E402
from edgetiming.site import build as site  # noqa: E402
from tests.faults.conftest import cli, kill_group, snapshot, start  # noqa: E402
from tests.faults.test_site_faults import _project  # noqa: E402

PASSES = ROOT / "tests" / "fixtures" / "recipes" / "passes.py"


def run_trials(trials: int, rng: random.Random, where: Path) -> int:
    results = where / "results"
    done = cli("run", PASSES, "--runner", "fx", "--results", results)
    assert done.returncode == 0, done.stderr
    bad = 0
    for trial in range(trials):
        old = store.read_result(results / "fx" / "passes" / "result.json", verify=True)
        proc = start("run", PASSES, "--runner", "fx", "--results", results, "--force")
        time.sleep(rng.uniform(0.0, 5.0))
        kill_group(proc)
        try:
            new = store.read_result(results / "fx" / "passes" / "result.json", verify=True)
            _, problems = store.load_results_dir(results)
            assert not problems, problems
            assert new["run_dir"] == old["run_dir"] or new["started_at"] >= old["started_at"]
        except (AssertionError, store.StoreError) as exc:
            bad += 1
            print(f"trial {trial}: torn store: {exc}")
    return bad


def site_trials(trials: int, rng: random.Random, where: Path) -> int:
    results = where / "results"
    assert cli("run", PASSES, "--runner", "fx", "--results", results).returncode == 0
    proj = _project(where)
    out = where / "site"
    t0 = time.monotonic()
    site.build_site(project_dir=proj, results_dir=results, site_dir=out, primary_runner="fx")
    seconds = time.monotonic() - t0
    bad = 0
    for trial in range(trials):
        before = snapshot(out)
        (proj / "docs" / "index.md").write_text(f"# Home\n\nBuild {trial}. See the [guides](guides/index.md).\n")
        proc = start("site", "--project", proj, "--results", results, "--primary", "fx", "--out", out)
        time.sleep(rng.uniform(0.3, seconds + 2))
        kill_group(proc)
        after = snapshot(out)
        if after != before and (after.keys() != before.keys() or f"Build {trial}.".encode() not in after["index.html"]):
            bad += 1
            print(f"trial {trial}: torn site: {len(after)} files, {len(before)} before")
    return bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("run", "site"))
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    where = Path(tempfile.mkdtemp(prefix="edgetiming-kill-trials-"))
    try:
        trial = run_trials if args.what == "run" else site_trials
        bad = trial(args.trials, random.Random(args.seed), where)
    finally:
        shutil.rmtree(where, ignore_errors=True)
    print(f"{args.what}: {args.trials - bad} of {args.trials} trials left a whole {'store' if args.what == 'run' else 'site'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
