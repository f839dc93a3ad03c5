"""One recipe-like measurement run quiet and run beside a busy process: raw and sentinel-normalised.

Measures the PP-OCRv4 text-angle classifier (``rapidocr:cls``, input 1x3x48x192)
in the closed loop with the sentinel interleaved (``session_loop(..., sentinel=True)``)
twice: once with nothing of ours running beside it, once beside a Python busy loop
on every core (started here, bounded in time, always terminated). For each run it
prints the raw P50/P99 (ms) with their exact 95% intervals, the same percentiles in
sentinel units (each call / its block's sentinel median) with theirs, the per-block
model/sentinel ratio, the interference seen (share of the CPUs other work held) and
the state the validity module gave the run; then the attribution of the shift
between the two runs (machine or model).

"Quiet" means only that this script started no load: the machine may be shared,
and the interference line says what it actually saw.

Usage::

    python benchmarks/bench_noise.py [--iters 1500] [--load-procs 2] [--threads 0]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

from edgetiming.measure.closedloop import session_loop
from edgetiming.measure.sentinel import attribute
from edgetiming.measure.session import SessionConfig, open_session


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        x += 1


def measure(session, iters: int):
    return session_loop(session, input_shapes={"x": (1, 3, 48, 192)}, warmup_iters=50, iters=iters,
                        sentinel=True)


def show(label: str, run) -> None:
    print(f"\n== {label}: {run.steady_ns.size} calls, {run.interference.n_blocks - run.interference.steady_from}"
          f" blocks, sentinel {run.sentinel.latency_ns.size} calls")
    for p in (0.5, 0.99):
        q = run.quantile_ci(p)
        r = run.normalised_quantile_ci(p)
        print(f"  P{p * 100:g} raw        {q.value / 1e6:8.3f} ms  95% CI [{q.lower / 1e6:.3f}, {q.upper / 1e6:.3f}]")
        print(f"  P{p * 100:g} /sentinel  {r.value:8.3f}     95% CI [{r.lower:.3f}, {r.upper:.3f}]")
    br = run.sentinel_ratio()
    print(f"  block ratio (model median / sentinel median): {br.value:.3f} [{br.lower:.3f}, {br.upper:.3f}] "
          f"over {br.n_blocks} blocks")
    s = run.interference.summary()
    print(f"  interference: busy_share {s['busy_share']:.1%} (max block {s['max_block_busy_share']:.0%}), "
          f"others {s['others_cpu_s']:.2f} CPU-s, self {s['self_cpu_s']:.2f} CPU-s over {s['wall_s']:.1f} s, "
          f"steal {s['steal_s']:.2f} s, up to {s['procs_running_max']} runnable, "
          f"{s['involuntary_ctxt']} involuntary ctx switches")
    j = run.judgement()
    print(f"  state (P99): {j.state.value}" + (f" - {'; '.join(j.reasons)}" if j.reasons else ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=1500)
    ap.add_argument("--load-procs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0: onnxruntime's default)")
    args = ap.parse_args()
    session = open_session("rapidocr:cls", SessionConfig(intra_op_num_threads=args.threads or None))
    quiet = measure(session, args.iters)
    show("no load started by this script", quiet)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_spin, args=(120.0,), daemon=True) for _ in range(args.load_procs)]
    try:
        for p in procs:
            p.start()
        time.sleep(0.5)
        busy = measure(session, args.iters)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(5)
    show(f"beside {args.load_procs} busy-loop process(es)", busy)
    a = attribute(quiet.block_medians(), busy.block_medians())
    print(f"\nattribution of the shift (quiet -> busy): {a.verdict}: {a.reason}")


if __name__ == "__main__":
    main()
