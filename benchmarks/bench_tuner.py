"""`edgetiming tune` side by side with Olive's session-parameter tuning, on this machine, in one run.

1. Olive (``olive tune-session-params``, olive-ai on PyPI) when it is installed and runs. When it
   is not, the script says why and runs the objective Olive documents for that pass
   (``OrtSessionParamsTuning``): every combination of execution mode, graph optimization level,
   intra- and inter-op thread counts is timed in this process with Olive's latency-metric
   defaults (``WARMUP_NUM = 10``, ``REPEAT_TEST_NUM = 20``) and the lowest **average** latency wins.
   (On this project's runner, ``pip install --dry-run olive-ai`` resolves olive-ai 0.13.0 with
   torch 2.14.1 and the nvidia CUDA 13 wheels, so it is not installed here.)
2. ``edgetiming tune`` with ``--budget-minutes`` on the same model and input.
3. The onnxruntime defaults, Olive's pick and ours, measured interleaved (randomised balanced
   order) in fresh processes over ``--rounds`` rounds: P50 and P99 with their deciding intervals
   (hull of the within-run and between-run intervals), accuracy, and tuning time.

Usage::

    python benchmarks/bench_tuner.py [--model rapidocr:det] [--budget-minutes 2] [--rounds 4]
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from edgetiming.measure.session import open_session
from edgetiming.stats.repeated import paired_ratio, repeated_quantile
from edgetiming.stats.validity import min_samples_two_sided
from edgetiming.tune import race, tune
from edgetiming.tune.accuracy import evaluator_for
from edgetiming.tune.space import Candidate, usable_cpus
from edgetiming.tune.tuner import _DEFAULT_METRIC, ALIAS_SHAPES, _feeds_for

OLIVE_WARMUP, OLIVE_REPEAT = 10, 20  # olive/evaluator/metric_config.py: WARMUP_NUM, REPEAT_TEST_NUM


def olive_status() -> str | None:
    """None when olive-ai can be imported, else why not."""
    if importlib.util.find_spec("olive") is None:
        return ("olive-ai is not installed: `pip install --dry-run olive-ai` resolves olive-ai 0.13.0 with "
                "torch 2.14.1, triton and the nvidia CUDA 13 wheels (cuda-toolkit, cudnn, cublas, nccl, ...), "
                "gigabytes this CPU runner cannot use, so it is not installed here")
    return None


def olive_style(model: str, feeds: dict, log) -> tuple[Candidate, float, int]:
    """Olive's objective: the lowest mean of 20 timed calls after 10 warmup calls, over the grid."""
    threads = [None, *range(1, usable_cpus() + 1)]
    grid = []
    for level, mode, intra in itertools.product([None, "disable", "basic", "extended"], [None, "parallel"], threads):
        for inter in (threads if mode else [None]):
            grid.append(Candidate(graph_level=level, execution_mode=mode, intra_threads=intra,
                                  inter_threads=inter).canonical())
    grid = list({c.key: c for c in grid}.values())
    t0 = time.perf_counter()
    best, best_mean = None, float("inf")
    for c in grid:
        sess = open_session(model, c.session_config())
        for _ in range(OLIVE_WARMUP):
            sess.run(None, feeds)
        ts = []
        for _ in range(OLIVE_REPEAT):
            t = time.perf_counter()
            sess.run(None, feeds)
            ts.append(time.perf_counter() - t)
        mean = float(np.mean(ts))
        if mean < best_mean:
            best, best_mean = c, mean
    log(f"olive-style grid: {len(grid)} configurations, best mean {best_mean * 1e3:.3g} ms ({best.key})")
    return best, time.perf_counter() - t0, len(grid)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="rapidocr:det")
    ap.add_argument("--budget-minutes", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--iters", type=int, default=0, help="calls per configuration per round (default: ~2 s)")
    ap.add_argument("--deadline-ms", type=float, default=50.0)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="bench-tuner-"))
    shape = ALIAS_SHAPES.get(args.model)
    ref = open_session(args.model)
    feeds = _feeds_for(args.model, ref, shape, 0)
    why = olive_status()
    print(f"model {args.model}, input {list(shape)}, output folder {out}")
    if why:
        print(f"Olive: {why}.\n  Comparing against Olive's documented objective instead (average latency, "
              f"{OLIVE_WARMUP} warmup + {OLIVE_REPEAT} timed calls per configuration, in this process).")
        olive_pick, olive_s, olive_n = olive_style(args.model, feeds, print)
    else:  # pragma: no cover - not installable on this runner (see olive_status)
        raise SystemExit("olive-ai is importable: run `olive tune-session-params` here and extend this script")

    metric = _DEFAULT_METRIC.get(args.model, "agree")
    floor = {"iou": "iou=0.95", "cer": "cer=0.05", "acc": "acc=0.95"}.get(metric, "agree=0.99")
    t0 = time.perf_counter()
    res = tune(args.model, out=out / "tune", deadline_ms=args.deadline_ms, accuracy_floor=floor,
               budget_minutes=args.budget_minutes, input_shape=shape, log=lambda s: print("  tune:", s))
    ours_s = time.perf_counter() - t0
    cfg = json.loads(res.config_path.read_text())
    ours = Candidate.from_dict(cfg["candidate"])
    files = {"fp32": str(ref._model_path)} | {p: str(out / "tune" / "variants" / f"model-{p}.onnx")
                                              for p in ("int8-dynamic", "int8-static")}

    arms = {"defaults": Candidate(), "olive-style": olive_pick, "edgetiming": ours}
    score = evaluator_for(metric, shape=shape, input_name=ref.get_inputs()[0].name, reference=ref,
                          model_meta=dict(ref.get_modelmeta().custom_metadata_map))
    acc = {name: score(open_session(files[c.precision], Candidate(precision=c.precision, graph_level=c.graph_level,
                                                                  denormal_as_zero=c.denormal_as_zero).session_config()))
           for name, c in arms.items()}
    t = []
    for _ in range(3):
        s = time.perf_counter()
        ref.run(None, feeds)
        t.append(time.perf_counter() - s)
    # enough calls per process for a two-sided P99 interval in every round (the validity rule's minimum)
    iters = args.iters or int(max(min_samples_two_sided(0.99), min(1000, 2.0 / float(np.median(t)))))
    samples: dict[str, list[np.ndarray]] = {k: [] for k in arms}
    for r in range(args.rounds):
        for name in race.round_order(list(arms), r, 1):
            c = arms[name]
            spec = {"model_file": files[c.precision], "config": c.session_config(), "io_binding": c.io_binding,
                    "feeds": feeds, "warmup": 20, "iters": iters, "percentile": 0.99, "open_loop": None}
            m = race.measure_isolated(spec, out / f"final-{name}-{r}.pkl", timeout_s=600)
            samples[name].append(np.asarray(m["samples"], dtype=float))
    print(f"\nFinal comparison: {args.rounds} rounds x {iters} calls, each configuration in a fresh process per "
          f"round, randomised balanced order; intervals are 95% (hull of within-run and between-run)")
    print(f"{'configuration':<13} {'P50 ms [interval]':<26} {'P99 ms [interval]':<26} {metric:>6}  tuning s  knobs")
    p99 = {}
    for name, runs in samples.items():
        q50, q99 = repeated_quantile(runs, 0.5), repeated_quantile(runs, 0.99)
        p99[name] = q99
        tuning = {"defaults": "-", "olive-style": f"{olive_s:.0f}", "edgetiming": f"{ours_s:.0f}"}[name]
        print(f"{name:<13} {q50.value / 1e6:7.3g} [{q50.lower / 1e6:.3g}, {q50.upper / 1e6:.3g}]".ljust(40)
              + f" {q99.value / 1e6:7.3g} [{q99.lower / 1e6:.3g}, {q99.upper / 1e6:.3g}]".ljust(27)
              + f" {acc[name]:6.3g}  {tuning:>8}  {arms[name].key}  ({q99.judgement.state.value})")
    for a, b in (("olive-style", "edgetiming"), ("defaults", "edgetiming")):
        pr = paired_ratio([float(np.quantile(x, 0.99)) for x in samples[a]],
                          [float(np.quantile(x, 0.99)) for x in samples[b]], label_a=a, label_b=b)
        print(pr.sentence("per-round P99"))
    if arms["edgetiming"].key == arms["olive-style"].key:
        print(f"edgetiming and the Olive-style grid picked the same configuration ({arms['edgetiming'].key}): "
              "the goal below compares a configuration with itself and cannot be met on this runner")
    goal = p99["edgetiming"].upper <= p99["olive-style"].lower
    print(f"goal 'our P99 upper end <= Olive-style P99 lower end': {'met' if goal else 'not met'} "
          f"({p99['edgetiming'].upper / 1e6:.3g} vs {p99['olive-style'].lower / 1e6:.3g} ms)")
    speedup = p99["defaults"].value / p99["edgetiming"].value
    print(f"P99 of the defaults / ours: {speedup:.2f}x "
          + ("(>= 1.5x)" if speedup >= 1.5 else "(below 1.5x: no such configuration was found on this runner "
                                                 "within the budget)"))
    print(f"olive-style grid: {olive_n} configurations in {olive_s:.0f} s; edgetiming tune: {ours_s:.0f} s "
          f"(budget {args.budget_minutes:g} min)")


if __name__ == "__main__":
    main()
