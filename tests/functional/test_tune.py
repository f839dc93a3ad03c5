"""`edgetiming tune` end to end on rapidocr:cls (small budgets): bad inputs and resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def _cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgetiming.cli", "tune", *args], capture_output=True,
                          text=True, env=ENV, timeout=timeout, check=False)


def test_model_that_fails_to_load(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model")
    done = _cli(str(bad), "--out", str(tmp_path / "o"), timeout=60)
    assert done.returncode == 2
    assert "cannot load the model" in done.stderr and "Fix:" in done.stderr and "broken.onnx" in done.stderr


def test_input_shape_the_model_rejects(tmp_path):
    done = _cli("rapidocr:cls", "--input-shape", "1,3,48", "--out", str(tmp_path / "o"), timeout=60)
    assert done.returncode == 2
    assert "rejects input shape [1, 3, 48]" in done.stderr and "--input-shape" in done.stderr


def test_budget_too_small_for_one_round(tmp_path):
    done = _cli("rapidocr:cls", "--budget-minutes", "0.005", "--out", str(tmp_path / "o"), timeout=60)
    assert done.returncode == 2
    assert "too small for even one round" in done.stderr and "--budget-minutes" in done.stderr
    assert not (tmp_path / "o" / "runs").exists()  # nothing was measured


def test_accuracy_floor_no_candidate_meets(tmp_path):
    # the FP32 recognizer misreads a few rendered characters and dynamic INT8 many more, so a CER
    # floor of 0.001 cannot be met by either
    done = _cli("rapidocr:rec", "--accuracy-floor", "cer=0.001", "--precisions", "fp32,int8-dynamic",
                "--budget-minutes", "3", "--out", str(tmp_path / "o"), timeout=150)
    assert done.returncode == 2, done.stderr
    assert "no candidate meets the accuracy floor cer <= 0.001" in done.stderr
    assert "relax --accuracy-floor" in done.stderr
    assert not (tmp_path / "o" / "runs").exists()


def test_floor_metric_that_does_not_fit_the_model(tmp_path):
    done = _cli("rapidocr:cls", "--accuracy-floor", "cer=0.05", "--out", str(tmp_path / "o"), timeout=90)
    assert done.returncode == 2 and "cer needs a CTC recognizer" in done.stderr


RUN = """
import sys
from edgetiming.tune import tune
tune("rapidocr:cls", out=sys.argv[1], budget_minutes=float(sys.argv[2]), deadline_ms=20,
     accuracy_floor="acc=0.9", precisions=("fp32",), width=2, iters=150, warmup=10)
"""


def _files(out: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("runs/*/round-*.pkl")}


def test_killed_run_resumes_without_remeasuring(tmp_path):
    out = tmp_path / "tune"
    proc = subprocess.Popen([sys.executable, "-c", RUN, str(out), "1.0"], env=ENV, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 150
    while len(_files(out)) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the tuner and its measuring child, as a crash would
    proc.wait()
    before = _files(out)
    assert len(before) >= 3, "the first run measured too little before the kill"
    assert not (out / "report.json").exists()  # it really died mid-run
    done = subprocess.run([sys.executable, "-c", RUN, str(out), "0.75"], env=ENV, capture_output=True,
                          text=True, timeout=200, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming the tuning run" in done.stdout
    after = _files(out)
    assert all(after[k] == v for k, v in before.items())  # finished measurements kept, not redone
    report = json.loads((out / "report.json").read_text())
    assert report["reused"] == len(before)
    assert report["measured"] == len(after) - len(before)
    # the study resumed too: its trials include the first run's
    import optuna

    study = optuna.load_study(study_name="edgetiming-tune", storage=f"sqlite:///{out / 'study.db'}")
    keys_measured = {Path(k).parts[1] for k in after}
    assert len(study.trials) >= len(keys_measured)
    cfg = json.loads((out / "session.json").read_text())
    assert cfg["key"] == report["recommended"] and cfg["onnxruntime"]["providers"]
    # every measuring process carries its telemetry and sentinel: the race's noise figure draws
    # the recommended configuration by name, in latency and in sentinel units, over the strip
    from edgetiming.tune.tuner import noise_figure

    fig, alt = noise_figure(out, report)
    assert len(fig.axes) == 3 and f"{report['recommended']} ran at" in alt and "of the measured CPUs" in alt
