"""Only our progress lines reach the console: onnxruntime's own log goes to the run's kernel.log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from edgetiming.measure.ortlog import ORT_LOG_SEVERITY_ENV
from edgetiming.results.result import Result
from edgetiming.run import executor

# a model with an initializer no node uses: onnxruntime warns "Removing initializer ..." when loading it
MAKE_MODEL = '''
import numpy as np, onnx
from onnx import TensorProto, helper, numpy_helper
node = helper.make_node("Identity", ["x"], ["y"])
unused = numpy_helper.from_array(np.zeros(4, dtype=np.float32), name="unused_weight")
graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], initializer=[unused])
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), "noisy.onnx")
'''
WARNING = "Removing initializer 'unused_weight'"

RECIPE = '''# ---
# jupyter:
#   edgetiming:
#     timeout_cell_s: 120
# ---

# %% [markdown]
# # A recipe whose model makes onnxruntime warn

# %% tags=["parameters"]
n = 1

# %%
''' + MAKE_MODEL.strip() + '''

# %%
import onnxruntime as ort

from edgetiming.measure.session import open_session
from edgetiming.results import report

open_session("noisy.onnx")
ort.InferenceSession("noisy.onnx", providers=["CPUExecutionProvider"])  # opened directly, not through the library
report.metric("sessions", 2, description="sessions opened")
'''


def _python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != ORT_LOG_SEVERITY_ENV}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env={**environ, **env}, capture_output=True,
                          text=True, timeout=120, check=True)


def test_the_library_keeps_onnxruntime_warnings_off_the_terminal(tmp_path):
    _python(MAKE_MODEL, tmp_path)
    opened = ("import onnxruntime as ort\nimport edgetiming.measure.session\n"
              "ort.InferenceSession('noisy.onnx', providers=['CPUExecutionProvider'])")
    assert WARNING not in _python(opened, tmp_path).stderr
    # the same session with warnings asked for: the warning exists, the default hides it
    assert WARNING in _python(opened, tmp_path, **{ORT_LOG_SEVERITY_ENV: "2"}).stderr


def test_a_run_prints_no_onnxruntime_line_and_logs_it_to_the_run_folder(tmp_path, capfd):
    recipe = tmp_path / "recipes" / "noisy.py"
    recipe.parent.mkdir()
    recipe.write_text(RECIPE, encoding="utf-8")
    (outcome,) = executor.run_recipes([recipe], executor.RunOptions(results_dir=tmp_path / "results", runner="r"))
    console = capfd.readouterr()
    assert outcome.status == "OK", outcome.detail
    assert "onnxruntime" not in console.err + console.out
    result = Result.load(outcome.result_path, verify=True)
    log = (outcome.result_path.parent / result.run_dir / executor.LOG_FILE).read_text(encoding="utf-8")
    assert WARNING in log  # the warnings were written, into the log file
