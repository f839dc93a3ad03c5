"""Does the configuration `edgetiming tune` wrote reproduce the latency it was tuned to?

Loads ``session.json`` with :func:`edgetiming.tune.tuner.load_session` in ``--processes``
fresh processes (the way a reader deploys it), times ``--iters`` back-to-back calls in
each after 20 warmup calls (with ``run_with_iobinding`` when the tuned call path used it),
and prints the pooled percentile with its deciding interval (the wider of the within-run
and the between-run one) next to the interval the tuner reported, and whether the
reloaded value lies inside it.

Usage::

    python benchmarks/check_tuned_config.py tune-rapidocr-det/session.json [--processes 5] [--iters 400]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgetiming.stats.repeated import repeated_quantile

CHILD = """
import sys, json, numpy as np
from edgetiming.measure.closedloop import session_loop
from edgetiming.tune.tuner import load_session
cfg = json.load(open(sys.argv[1]))
sess = load_session(sys.argv[1])
shape = tuple(cfg["input_shape"])
run = session_loop(sess, input_shapes={sess.get_inputs()[0].name: shape}, warmup_iters=20,
                   iters=int(sys.argv[3]), io_binding=bool(cfg.get("io_binding")))
np.save(sys.argv[2], run.steady_ns)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config", type=Path, help="session.json written by edgetiming tune")
    ap.add_argument("--processes", type=int, default=5)
    ap.add_argument("--iters", type=int, default=400)
    args = ap.parse_args()
    cfg = json.loads(args.config.read_text("utf-8"))
    tuned, p = cfg["tuned_p_ms"], float(cfg["percentile"])
    if cfg.get("candidate", {}).get("affinity"):
        print("note: the tuned pick pins threads (affinity); this check does not pin them")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.processes):
            out = Path(tmp) / f"run{i}.npy"
            subprocess.run([sys.executable, "-c", CHILD, str(args.config), str(out), str(args.iters)], check=True)
            runs.append(np.load(out) / 1e6)
    est = repeated_quantile(runs, p)
    name = f"P{p * 100:g}"
    inside = tuned["lower"] <= est.value <= tuned["upper"]
    print(f"configuration: {cfg['key']} ({cfg['model']}, input {cfg['input_shape']})")
    print(f"tuned    {name} {tuned['value']:.2f} ms, interval [{tuned['lower']:.2f}, {tuned['upper']:.2f}] ms")
    print(f"reloaded {name} {est.value:.2f} ms, interval [{est.lower:.2f}, {est.upper:.2f}] ms over {est.runs} fresh "
          f"processes x {args.iters} calls ({est.judgement.state.value}); per process: "
          + ", ".join(f"{q.value:.2f}" for q in est.per_run))
    print(f"reloaded {name} inside the tuned interval: {'yes' if inside else 'no'}")
    return 0 if inside else 1


if __name__ == "__main__":
    raise SystemExit(main())
