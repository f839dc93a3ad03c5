# ---
# jupyter:
#   edgetiming:
#     quick: {min_query_count: 200, server_target_qps: 100.0}
#     timeout_cell_s: 300
#     timeout_recipe_s: 900
#     expected_duration_s: 60
# ---

# %% [markdown]
# # Cross-checking the harness against MLPerf LoadGen
#
# MLPerf LoadGen is the load generator behind the MLPerf inference benchmarks. This recipe
# runs its SingleStream scenario (one query at a time) and its Server scenario (Poisson
# arrivals at a fixed rate) on the same onnxruntime session as this project's closed loop and
# open loop, and checks two things: that our percentile code, applied to LoadGen's own
# per-query latencies, gives exactly the values LoadGen reports (both use the nearest-rank
# percentile; both time Server latency from the *scheduled* start), and whether the two
# harnesses agree on P90 and P99 within their confidence intervals.

# %% tags=["parameters"]
model_path = "rapidocr:cls"
input_shape = [1, 3, 48, 192]
intra_op_num_threads = 1
min_query_count = 1000
rounds = 4
server_target_qps = 100.0
deadline_ms = 10.0
percentile = 0.99
seed = 0
confidence = 0.95

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from edgetiming.measure import noise
from edgetiming.measure.loadgen_check import loadgen_crosscheck
from edgetiming.measure.session import SessionConfig, make_feeds, open_session
from edgetiming.results import report
from edgetiming.stats import quantiles as stats
from edgetiming.stats.validity import judge

session = open_session(model_path, SessionConfig(intra_op_num_threads=intra_op_num_threads))
feeds = make_feeds(session, {session.get_inputs()[0].name: tuple(input_shape)}, seed=seed)
check = loadgen_crosscheck(session, feeds, query_count=min_query_count, rounds=rounds,
                           server_target_qps=server_target_qps, server_target_latency_ms=deadline_ms,
                           percentiles=(0.9, percentile), seed=seed, confidence=confidence)

# %% [markdown]
# ## Side by side
# Each side ran `rounds` blocks in the order harness, LoadGen, LoadGen, harness (ABBA), so a
# slow drift of this shared machine hits both alike; blocks are pooled per side. Each row is
# one percentile of one scenario: the harness's nearest-rank estimate with its exact
# order-statistic interval, and the same for LoadGen from the per-query latencies of its
# trace log. "same estimator" says every LoadGen block reported the nearest-rank value of its
# own latencies as our code computes it.

# %%
check.report("crosscheck")
first = check.scenarios["SingleStream"].harness_runs[0]
report.metric("harness.overhead_fraction", first.overhead_fraction,
              invalid_because="harness overhead above 1% of P50" if first.overhead_flagged else "",
              description="harness per-iteration overhead (do-nothing model, session.run) / P50")
table = pd.DataFrame([a.to_dict() for a in check.agreements])
table = table.rename(columns={"loadgen_rank_consistent": "same_estimator"})[
    ["scenario", "percentile", "harness_ms", "harness_ci_ms", "loadgen_ms", "loadgen_ci_ms", "same_estimator",
     "agree", "rel_diff"]]
table.round(4)

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, scenario in zip(axes, ("SingleStream", "Server")):
    rows = [a for a in check.agreements if a.scenario == scenario]
    for offset, side, color in ((-0.1, "harness", "tab:blue"), (0.1, "loadgen", "tab:orange")):
        pts = [(i + offset, v, ci or (v, v)) for i, a in enumerate(rows)
               for v, ci in [(getattr(a, f"{side}_ns"), getattr(a, f"{side}_ci_ns"))] if v is not None]
        ys = np.array([v for _, v, _ in pts]) / 1e6
        lo = ys - np.array([ci[0] for _, _, ci in pts]) / 1e6
        hi = np.array([ci[1] if np.isfinite(ci[1]) else v for _, v, ci in pts]) / 1e6 - ys
        ax.errorbar([x for x, _, _ in pts], ys, yerr=[lo, hi], fmt="o", capsize=4, color=color,
                    label="edgetiming" if side == "harness" else "MLPerf LoadGen")
    ax.set_xticks(range(len(rows)), [f"P{a.percentile * 100:g}" for a in rows])
    ax.set(ylabel="latency (ms)", title=scenario + (f" at {server_target_qps:g} QPS" if scenario == "Server" else ""))
    ax.legend()
fig.tight_layout()
agree_n = sum(a.agree for a in check.agreements)
report.figure(fig, "harness-vs-loadgen", alt=f"{agree_n} of {len(check.agreements)} percentiles agree within their "
              "intervals. " + "; ".join(f"{a.scenario} P{a.percentile * 100:g}: harness {a.harness_ns / 1e6:.2f} ms, "
                                       f"LoadGen {(a.loadgen_ns or float('nan')) / 1e6:.2f} ms, "
                                       f"{'agree' if a.agree else 'differ'}" for a in check.agreements),
              caption="Nearest-rank percentiles with exact order-statistic intervals "
                      f"({confidence:.0%}); an open upper bar means too few queries to bound it.")
# the machine while the harness's blocks ran (LoadGen's run in the gaps); SingleStream times no sentinel
# between its calls, so it times exactly what LoadGen times: the Server streams are put in sentinel units after each stream
fig, alt = noise.figure([r for sc in check.scenarios.values() for r in sc.harness_runs], labels=[
    n for n, sc in check.scenarios.items() for _ in sc.harness_runs], title="The harness's blocks in time, and other work")
report.figure(fig, "noise", alt=alt)

# %% [markdown]
# ## Checklist and conclusion on this run

# %%
same = [a.loadgen_rank_consistent for a in check.agreements]
report.check("loadgen-same-estimator", "INCONCLUSIVE" if None in same else ("PASS" if all(same) else "FAIL"),
             f"LoadGen's reported percentile equals our nearest rank of its own per-query latencies in "
             f"{sum(bool(s) for s in same)} of {len(same)} scenario-percentiles"
             + (" (some traces were missing)" if None in same else ""))
server = check.scenarios["Server"]
verdict = stats.slo_verdict(server.harness_ns, percentile, deadline_ms, confidence=confidence)
n_state = judge(n=server.harness_ns.size, percentiles=(percentile,))  # no verdict from an invalid estimate
report.check("server-slo", verdict.verdict if n_state.valid else "INCONCLUSIVE", f"harness open loop at "
             f"{server_target_qps:g} QPS: {verdict.reason}" + ("" if n_state.valid else f"; no verdict: "
                                                               f"{'; '.join(n_state.reasons)}"))
report.metric("crosscheck.all_agree", check.all_agree, description="every compared percentile agrees within its interval")
p90_blocks = {name: [stats.quantile(r.steady_ns if name == "SingleStream" else r.response_ns, 0.9) / 1e6
                     for r in sc.harness_runs] for name, sc in check.scenarios.items()}
disagree = [a for a in check.agreements if not a.agree]
if None in same:
    lines = ["Some LoadGen traces were missing: the estimator was not checked on them."]
elif all(same):
    lines = ["Our nearest-rank code reproduces LoadGen's reported percentiles from its own samples exactly."]
else:
    lines = ["Our code and LoadGen's report differ on the same samples for " + ", ".join(
        f"{a.scenario} P{a.percentile * 100:g}" for a in check.agreements if a.loadgen_rank_consistent is False) + "."]
if not disagree:
    lines.append(f"All {len(check.agreements)} compared percentiles agree within their {confidence:.0%} intervals.")
else:
    worst = max(disagree, key=lambda a: abs(a.rel_diff or 0))
    lines.append(f"{len(disagree)} of {len(check.agreements)} percentiles differ beyond their intervals; the largest "
                 f"gap is {worst.scenario} P{worst.percentile * 100:g} ({(worst.rel_diff or 0):+.0%} for LoadGen). The "
                 f"harness's own P90 ranged {min(p90_blocks[worst.scenario]):.3f}-{max(p90_blocks[worst.scenario]):.3f}"
                 f" ms from block to block in {worst.scenario}: the order-statistic intervals treat one block's "
                 "samples as independent and do not cover that spread.")
lines.append(f"Server P{percentile * 100:g} <= {deadline_ms:g} ms: {verdict.verdict if n_state.valid else 'no verdict'}; LoadGen's own Server verdicts "
             "per block: " + ", ".join(r.validity for r in server.loadgen_runs) + ".")
print("\n".join(lines))
weak = [f"{a.scenario} P{a.percentile * 100:g}" for a in check.agreements if a.loadgen_ns is None
        or not all(np.isfinite(v) for v in (*a.harness_ci_ns, *(a.loadgen_ci_ns or (np.inf,))))]
report.metric("headline.percentiles_agreeing", agree_n, n=len(check.agreements),
              invalid_because=("too few queries to bound the interval (or no LoadGen value) for " + ", ".join(weak))
              if weak else "",
              description=f"Percentiles (P90 and P{percentile * 100:g} of SingleStream and Server) on which this "
                          f"harness and MLPerf LoadGen agree within their {confidence:.0%} intervals, "
                          f"out of {len(check.agreements)}")
