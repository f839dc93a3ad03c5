"""The ``edgetiming`` command line, in workflow order: selftest, run, site, serve, validate, compare, tune,
rejudge.

Every command exits non-zero on failure with a message naming the file and the fix.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback
from pathlib import Path

from edgetiming.casestudies import model as casestudy
from edgetiming.host import envfault, fingerprint
from edgetiming.measure import selftest
from edgetiming.results import bundlecompare, rejudge, report, store
from edgetiming.run import executor
from edgetiming.run import recipe as recipes
from edgetiming.run.progress import ConsoleProgress, format_duration
from edgetiming.site import build as site
from edgetiming.tune import tuner

__all__ = ["main"]


def _run(args: argparse.Namespace) -> int:
    try:
        paths = [Path(p) for p in args.recipes] if args.recipes else recipes.discover(args.recipes_dir)
        overrides = dict(recipes.parse_param_override(text) for text in args.param)
    except recipes.RecipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    missing = [p for p in paths if not p.is_file()]
    if missing:
        print(f"error: no such recipe file: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    if not paths:
        print(f"error: no recipes found in {args.recipes_dir}/", file=sys.stderr)
        return 2
    options = executor.RunOptions(
        results_dir=Path(args.results),
        runner=args.runner,
        quick=args.quick,
        force=args.force,
        overrides=overrides,
        timeout_cell_s=args.timeout_cell,
        timeout_recipe_s=args.timeout_recipe,
        selftest_s=args.selftest_s,
    )
    try:
        outcomes = executor.run_recipes(paths, options, ConsoleProgress())
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the results folder itself: read-only, full, not ours
        _debug_traceback(args)
        print("error: " + envfault.message(exc, doing="edgetiming run", where=args.results,
                                           kept=f"everything already in {args.results}/ (nothing was written)",
                                           flag="--results DIR"), file=sys.stderr)
        return 2
    width = max(len(o.recipe) for o in outcomes)
    print(f"\n{'recipe':<{width}}  {'status':<17} {'time':>7}  detail")
    for o in outcomes:
        detail = o.detail.splitlines()[0] if o.detail else ""
        print(f"{o.recipe:<{width}}  {o.status:<17} {format_duration(o.duration_s):>7}  {detail}")
    failed = [o for o in outcomes if o.failed]
    mode = "quick" if args.quick else "full"
    print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} recipe(s) fine ({mode} mode); results in {args.results}/")
    for o in failed:
        print(f"\n--- {o.recipe}: {o.status}\n{o.detail}", file=sys.stderr)
    return 1 if failed else 0


def _selftest(args: argparse.Namespace) -> int:
    if args.duration_s <= 0:
        print(f"error: --duration-s must be > 0, got {args.duration_s}", file=sys.stderr)
        return 2
    print(f"self-test: about {args.duration_s:g} s of busy-waits of known length...", flush=True)
    rep = selftest.run_selftest(args.duration_s)
    print(selftest.format_report(rep))
    if args.json:
        print(f"report written to {selftest.write_json(rep, args.json)}")
    return 0


def _results_dirs(args: argparse.Namespace) -> list[Path]:
    """``--results`` as given; by default ``results/`` plus the project's committed ``reference/`` bundles."""
    if args.results:
        return [Path(r) for r in args.results]
    reference = Path(args.project) / "reference"
    return [Path("results"), *([reference] if reference.is_dir() else [])]


def _primary(args: argparse.Namespace) -> str | None:
    """``--primary`` as given; by default this host's runner, or, when this host has no results
    yet and the reference bundles are in use, the primary runner ``reference/reference.json`` names."""
    if args.primary or args.results:
        return args.primary

    reference = Path(args.project) / "reference" / "reference.json"
    if (Path("results") / fingerprint.default_runner_name()).is_dir() or not reference.is_file():
        return None
    return json.loads(reference.read_text(encoding="utf-8")).get("primary")


def _site(args: argparse.Namespace) -> int:
    try:
        report = site.build_site(
            project_dir=Path(args.project),
            results_dir=_results_dirs(args),
            site_dir=Path(args.out),
            primary_runner=_primary(args),
            run_mkdocs=not args.no_build,
            history_sources=args.history,
            strict=args.strict,
        )
    except site.SiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        _debug_traceback(args)
        print("error: " + envfault.message(exc, doing="edgetiming site", where=args.out,
                                           kept=f"the previous site in {args.out}/, unchanged", flag="--out DIR"),
              file=sys.stderr)
        return 1
    for problem in report.problems:
        print(f"warning: {problem}", file=sys.stderr)
    for line in report.claims:
        print(f"claim: {line}", file=sys.stderr)
    for note in report.history_notes:
        print(f"history: {note}")
    print(f"regressions: {len(report.regressions)}")
    for line in report.regressions:
        print(f"  {line}")
    if report.shifts:
        print(f"shifts without a change (same cache key; run-to-run variation, listed on the runner pages): "
              f"{len(report.shifts)}")
    if args.no_build:
        print(f"pages generated; mkdocs config at {report.config_path}")
    else:
        index = (Path(args.out) / "index.html").resolve()
        print(f"site built: {index}\nserve it with: edgetiming serve   (or open {index} in a browser)")
    return 0


def _rejudge(args: argparse.Namespace) -> int:
    runner_dir = Path(args.runner_dir)
    if not any(runner_dir.glob("*/result.json")):
        print(f"error: {runner_dir}: no <recipe>/result.json inside; pass one runner's folder, "
              "e.g. reference/server-16c", file=sys.stderr)
        return 2
    changed = rejudge.rejudge_bundle(runner_dir)
    for line in changed:
        print(f"  {line}")
    print(f"{runner_dir}: re-judged under {rejudge.RULE_REJUDGED}; {len(changed)} metric state(s) changed")
    return 0


def _serve(args: argparse.Namespace) -> int:
    try:
        return site.serve(
            project_dir=Path(args.project), results_dir=_results_dirs(args),
            primary_runner=_primary(args), dev_addr=args.dev_addr,
        )
    except site.SiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _validate(args: argparse.Namespace) -> int:
    return casestudy.main_validate(Path(args.path))


def _compare(args: argparse.Namespace) -> int:
    try:
        result = bundlecompare.compare_bundles(args.a, args.b, min_effect=args.min_effect)
    except (store.StoreError, report.SamplesError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.text())
    return 0


def _tune(args: argparse.Namespace) -> int:
    try:
        tuner.tune(args.model, out=args.out or f"tune-{args.model.replace(':', '-').replace('/', '_')}",
                   deadline_ms=args.deadline_ms, percentile=args.percentile, accuracy_floor=args.accuracy_floor,
                   budget_minutes=args.budget_minutes, input_shape=args.input_shape,
                   open_loop_hz=args.open_loop, arrivals=args.arrivals, seed=args.seed,
                   precisions=tuple(p.strip() for p in args.precisions.split(",") if p.strip()))
    except (tuner.TuneError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgetiming", description="Edge ML inference timing: run recipes, build the site.")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback behind an error message (a full disk, a read-only folder, ...)")
    sub = parser.add_subparsers(dest="command", required=True)

    st = sub.add_parser("selftest", help="check whether this machine is quiet enough to measure a P99 right now")
    st.add_argument("--duration-s", type=float, default=60.0, help="how long to run (default: 60)")
    st.add_argument("--json", metavar="PATH", help="also write the report as JSON to PATH")
    st.set_defaults(func=_selftest)

    run = sub.add_parser("run", help="execute recipes on this machine and write results bundles")
    run.add_argument("recipes", nargs="*", help="recipe files (default: every recipes/*.py)")
    run.add_argument("--recipes-dir", default="recipes", help="where to discover recipes (default: recipes)")
    run.add_argument("--results", default="results", help="results folder (default: results)")
    run.add_argument("--runner", help="runner name (default: derived from this machine's fingerprint, "
                     "e.g. x86-epyc-2c-avx512vnni)")
    run.add_argument("--quick", action="store_true", help="small budgets for previews and tests; results are labelled quick")
    run.add_argument("--force", action="store_true", help="re-run even when the cached result is current")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="override a recipe parameter")
    run.add_argument("--timeout-cell", type=float, metavar="S", help="per-cell timeout in seconds")
    run.add_argument("--timeout-recipe", type=float, metavar="S", help="per-recipe timeout in seconds")
    run.add_argument("--selftest-s", type=float, metavar="S",
                     help="first run `edgetiming selftest` for S seconds and store it as <results>/<runner>/selftest.json")
    run.set_defaults(func=_run)

    for name, helptext in (("site", "build the static site from results bundles"), ("serve", "preview the site with live reload")):
        cmd = sub.add_parser(name, help=helptext)
        cmd.add_argument("--results", action="append", metavar="DIR",
                         help="results folder; repeat to merge several, e.g. downloaded artifacts "
                              "(default: results, plus the project's reference/ bundles)")
        cmd.add_argument("--project", default=".", help="project root holding mkdocs.yml and docs/ (default: .)")
        cmd.add_argument("--primary", help="runner whose results the recipe pages show (default: this host's)")
        if name == "site":
            cmd.add_argument("--out", default="site", help="output folder (default: site)")
            cmd.add_argument("--no-build", action="store_true", help="generate pages only, do not run mkdocs")
            cmd.add_argument("--strict", action="store_true",
                             help="fail, naming the file first, when a result, runner.json or samples file is "
                                  "damaged, or when a guide claim is contradicted or unsupported on the primary runner")
            cmd.add_argument("--history", action="append", metavar="URL_OR_DIR",
                             help="an earlier published site (its address, or a built site folder) whose runner "
                                  "histories are carried into this one; a missing history is a fresh start, an "
                                  "unreadable one stops the build")
            cmd.set_defaults(func=_site)
        else:
            cmd.add_argument("--dev-addr", default="127.0.0.1:8000", help="address to serve on")
            cmd.set_defaults(func=_serve)
    val = sub.add_parser("validate", help="validate contributed case studies (schema, samples, hostile content)")
    val.add_argument("path", nargs="?", default="case_studies", help="case_studies/ or one case study folder")
    val.set_defaults(func=_validate)

    cmp_ = sub.add_parser("compare", help="compare two results bundles (for example the site's and yours)")
    cmp_.add_argument("a", help="reference bundle: result.json, its folder, or a downloaded .zip")
    cmp_.add_argument("b", help="bundle to compare against the reference")
    cmp_.add_argument("--min-effect", type=float, default=0.05, help="smallest relative change reported as slower/faster")
    cmp_.set_defaults(func=_compare)
    rj = sub.add_parser("rejudge", help="re-judge a version-1 runner bundle (CV rule) under today's validity rule")
    rj.add_argument("runner_dir", help="one runner's folder, e.g. reference/server-16c")
    rj.set_defaults(func=_rejudge)

    tun = sub.add_parser("tune", help="find the configuration with the lowest proven tail latency under an accuracy floor")
    tun.add_argument("model", help="an .onnx file or rapidocr:det, rapidocr:rec, rapidocr:cls")
    tun.add_argument("--deadline-ms", type=float, help="the deadline the verdict is about")
    tun.add_argument("--percentile", type=float, default=0.99, help="the percentile tuned for (default 0.99)")
    tun.add_argument("--accuracy-floor", metavar="METRIC=VALUE",
                     help="iou=0.95 (detector), cer=0.05 (recognizer), acc=0.95 (classifier), agree=0.99 (any)")
    tun.add_argument("--budget-minutes", type=float, default=5.0, help="wall-clock budget (default 5)")
    tun.add_argument("--input-shape", help="the input shape deployed, e.g. 1,3,320,320")
    tun.add_argument("--open-loop", type=float, metavar="RATE_HZ", help="tune for a stream at this rate instead of back-to-back calls")
    tun.add_argument("--arrivals", choices=("periodic", "poisson"), default="periodic", help="arrivals of --open-loop")
    tun.add_argument("--out", help="output folder; the same folder resumes a killed run (default tune-MODEL)")
    tun.add_argument("--precisions", default="fp32,int8-dynamic,int8-static",
                     help="precisions searched (default fp32,int8-dynamic,int8-static)")
    tun.add_argument("--seed", type=int, default=0, help="seed of the sampler and the round orders")
    tun.set_defaults(func=_tune)
    return parser


def _debug_traceback(args: argparse.Namespace) -> None:
    if getattr(args, "debug", False):
        traceback.print_exc()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.debug:  # the tracebacks behind one-line messages (edgetiming.run.guard logs them)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("debug: %(message)s"))
        logger = logging.getLogger("edgetiming")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
