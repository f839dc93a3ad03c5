# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   edgetiming:
#     quick: {budget_minutes: 1.0, rec_model: ""}
#     expected_duration_s: 200
#     timeout_cell_s: 900
# ---

# %% [markdown]
# # Tune for the tail: the configuration with the lowest proven P99
#
# Each guide on this site turns one knob at a time. This recipe turns them together, for the
# PP-OCRv4 text detector and recognizer on this runner, with `edgetiming tune`: optuna proposes
# combinations (graph optimization level, intra- and inter-op threads, spinning, execution
# mode, thread affinity, IOBinding, denormals as zero, dynamic and static INT8), and the
# candidates race in rounds of fresh processes, in randomised balanced order. A candidate leaves
# the race only when the lower end of its P99 interval is above the upper end of the best's, or
# when its precision misses the accuracy floor (mask IoU with FP32 for the detector, character
# error rate on rendered lines for the recognizer). You will learn which configuration this
# runner recommends, which ones cannot be told apart from it, and whether it meets the deadline.

# %% tags=["parameters"]
det_model = "rapidocr:det"  # the detector: an .onnx file or rapidocr:det
det_input_shape = "1,3,320,320"  # N,C,H,W the detector runs at
det_floor = "iou=0.95"  # mean IoU of the binarized text map with FP32's
rec_model = "rapidocr:rec"  # the recognizer: an .onnx file or rapidocr:rec; "" skips it
rec_input_shape = "1,3,48,320"  # N,C,H,W of one text line
rec_floor = "cer=0.05"  # character error rate on rendered lines with known text
deadline_ms = 50.0  # deadline of one inference of either model
percentile = 0.99  # the tail tuned for
budget_minutes = 3.0  # tuning budget of the detector (the CLI default is 5)
rec_budget_minutes = 2.0  # tuning budget of the recognizer
seed = 0

# %% [markdown]
# ## Run the tuner on both models
#
# Each tuning run writes its study, every measurement, `session.json`, a report and a figure to
# its own folder; started again on the same folder, a killed run resumes from its study.

# %%
import json
import re
from pathlib import Path

from IPython.display import Markdown, display

from edgetiming.measure.rounds import arm_key
from edgetiming.results import report
from edgetiming.tune import snippet, tune
from edgetiming.tune.tuner import noise_figure, race_figure

jobs = [("det", det_model, det_input_shape, det_floor, budget_minutes)]
if rec_model:
    jobs.append(("rec", rec_model, rec_input_shape, rec_floor, rec_budget_minutes))
results = {}
for key, model, shape, floor, budget in jobs:
    out = Path(f"tune-{key}").resolve()
    results[key] = tune(model, out=out, deadline_ms=deadline_ms, percentile=percentile, accuracy_floor=floor,
                        budget_minutes=budget, input_shape=shape, seed=seed).report

# %% [markdown]
# ## The race and the final table
#
# The figure shows each candidate's P99 with its deciding interval (the hull of the within-run
# exact interval and the between-run interval over rounds) after each round; a candidate whose
# bars stop was eliminated.

# %%
label = f"p{percentile * 100:g}"
for key, rep in results.items():
    text = Path(f"tune-{key}/report.md").read_text().split("## Using")[0]
    display(Markdown(re.sub(r"!\[[^\]]*\]\([^)]*\)\n?", "", text)))  # the race figure is reported below
    for row in rep["rows"]:
        if not row.get("runs"):
            continue
        state = row["state"]
        report.metric(f"{key}.{arm_key(row['key'])}.{label}_ms", row["p_ms"], unit="ms",
                      ci=(row["p_lower_ms"], row["p_upper_ms"]) if row["p_upper_ms"] is not None
                      and row["p_lower_ms"] is not None else None, n=row["n"], runs=row["runs"],
                      invalid_because=row["state_reasons"] if state == "invalid" else (),
                      unstable_because=row["state_reasons"] if state == "unstable" else (),
                      description=f"{key} {row['key']}: {label.upper()} over {row['runs']} fresh processes")
    report.figure(race_figure(rep), f"{key}-race",
                  alt=f"{key}: each candidate's {label.upper()} interval per round; recommended "
                      f"{rep['recommended']}")
    fig, alt = noise_figure(f"tune-{key}", rep)
    report.figure(fig, f"{key}-noise", alt=alt)

# %% [markdown]
# ## Load the tuned configuration
#
# `edgetiming.tune.load_session("tune-det/session.json")` opens the tuned session; with plain
# onnxruntime it takes these ten lines:

# %%
print(snippet("tune-det/session.json"))
print(json.dumps(json.loads(Path("tune-det/session.json").read_text())["onnxruntime"], indent=2))

# %% [markdown]
# ## Conclusion

# %%
lines = []
for key, rep in results.items():
    rec = next(r for r in rep["rows"] if r["key"] == rep["recommended"])
    default = next((r for r in rep["rows"] if r["key"] == "defaults" and r.get("runs")), None)
    gain = (f"; onnxruntime's defaults had {label.upper()} {default['p_ms']:.3g} ms"
            if default and rep["recommended"] != "defaults" else "")
    lines.append(f"- **{key}**: recommended `{rep['recommended']}` ({label.upper()} {rec['p_ms']:.3g} ms, "
                 f"{rep['accuracy_metric']} {rec['accuracy']:.3g}), {len(rep['indistinguishable'])} configuration(s) "
                 f"cannot be told apart from the best after {rep['rounds']} rounds{gain}; it "
                 f"{rep['verdict']['text']}.")
    verdict = {"meets": "PASS", "misses": "FAIL"}.get(rep["verdict"]["state"], "INCONCLUSIVE")
    report.check(f"{key}.tuned-{label}-within-deadline", verdict, rep["verdict"]["text"],
                 sentence=f"{key}, tuned {label.upper()} within {deadline_ms:g} ms: {verdict}, it {rep['verdict']['text']}")
    report.metric(f"{key}.recommended_{label}_ms", rec["p_ms"], unit="ms", n=rec["n"], runs=rec["runs"],
                  ci=(rec["p_lower_ms"], rec["p_upper_ms"]) if rec["p_upper_ms"] is not None
                  and rec["p_lower_ms"] is not None else None,
                  description=f"{key}: {label.upper()} of the recommended configuration {rep['recommended']}")
display(Markdown("\n".join(lines)))
