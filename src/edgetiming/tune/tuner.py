"""``edgetiming tune``: the configuration with the lowest proven tail latency under an accuracy floor.

The tuner (:func:`tune`) proposes candidates with optuna (TPE sampler; the study lives in
SQLite under the output folder), races them in rounds of fresh processes in randomised
balanced order, eliminates a candidate only when its interval is separated from the best's
(:mod:`edgetiming.tune.race`), drops precisions and graph variants under the accuracy floor
(measured once per variant, :mod:`edgetiming.tune.accuracy`), and writes:

- ``session.json``: the recommended configuration, loadable with :func:`load_session` or
  plain onnxruntime (the report shows a ten-line snippet);
- ``report.json`` and ``report.md``: the race round by round, the final table with intervals and
  accuracy, why and when each candidate left, and the verdict against the deadline;
- ``race.png``: each candidate's interval per round.

Every measurement is stored under ``runs/<candidate>/round-NNN.pkl`` as soon as it finishes, so
a killed run started again with the same ``--out`` replays the race from the stored
measurements and measures only what is missing.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import onnxruntime as ort
import optuna
from matplotlib.figure import Figure

from edgetiming.host.fingerprint import default_runner_name
from edgetiming.measure import noise
from edgetiming.measure.session import SessionConfig, make_feeds, open_session
from edgetiming.results import figures
from edgetiming.stats.quantiles import percentile_label
from edgetiming.stats.repeated import RepeatedEstimate, repeated_quantile
from edgetiming.stats.validity import min_samples_two_sided
from edgetiming.tune import race
from edgetiming.tune.accuracy import METRICS, AccuracyFloor, FloorError, evaluator_for, parse_floor
from edgetiming.tune.space import Candidate, inference_providers, knobs_for, suggest, usable_cpus
from edgetiming.workload.models import resolve, sha256_file
from edgetiming.workload.ocrdata import det_input, line_dataset, rec_input, render_page
from edgetiming.workload.quantize import prepare, quantize_variant

__all__ = ["ALIAS_SHAPES", "TuneError", "TuneResult", "load_session", "snippet", "tune"]

#: Input shapes the rapidocr aliases are tuned at when --input-shape is not given.
ALIAS_SHAPES = {"rapidocr:det": (1, 3, 320, 320), "rapidocr:rec": (1, 3, 48, 320), "rapidocr:cls": (1, 3, 48, 192)}
_DEFAULT_METRIC = {"rapidocr:det": "iou", "rapidocr:rec": "cer", "rapidocr:cls": "acc"}
_INT8 = {"int8-dynamic": "dynamic", "int8-static": "static-per-channel"}
_RESERVE_S = 4.0  # writing the report and the figure at the end
_SPAWN_GUESS_S = 1.5  # python + onnxruntime start in a fresh process (~1.0 s measured on the 2-vCPU runner)
_OPT = {None: "ORT_ENABLE_ALL", "disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
        "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}
optuna.logging.set_verbosity(optuna.logging.WARNING)


class TuneError(Exception):
    """Bad input or an impossible request; the message names the problem and the fix."""


@dataclass
class TuneResult:
    report: dict[str, Any]
    out: Path

    @property
    def recommended(self) -> str | None:
        return self.report["recommended"]

    @property
    def config_path(self) -> Path:
        return self.out / "session.json"


def _parse_shape(shape: str | tuple[int, ...] | list[int] | None) -> tuple[int, ...] | None:
    if shape is None or shape == "":
        return None
    if isinstance(shape, str):
        try:
            return tuple(int(s) for s in shape.replace("x", ",").split(",") if s.strip())
        except ValueError:
            raise TuneError(f"--input-shape {shape!r}: write the dimensions as integers, e.g. 1,3,320,320") from None
    return tuple(int(s) for s in shape)


def _open(model_file: Path | str, config: SessionConfig | None = None) -> Any:
    return open_session(str(model_file), config)


def _feeds_for(model: str, sess: Any, shape: tuple[int, ...], seed: int) -> dict[str, np.ndarray]:
    """A realistic input for the rapidocr models (a rendered page or line), else seeded random."""
    name = sess.get_inputs()[0].name
    n = shape[0]
    if model == "rapidocr:det" and len(shape) == 4:
        page = render_page(np.random.default_rng(seed), height=shape[2], width=shape[3])
        return {name: np.repeat(det_input(page.image, size=(shape[2], shape[3])), n, axis=0)}
    if model in ("rapidocr:rec", "rapidocr:cls") and len(shape) == 4:
        line = line_dataset(1, seed=seed, max_aspect=shape[3] / shape[2])[0]
        return {name: np.repeat(rec_input(line.image, height=shape[2], width=shape[3]), n, axis=0)}
    return make_feeds(sess, {name: shape}, seed=seed)


def _calibration(model: str, shape: tuple[int, ...], seed: int, k: int = 8) -> list[np.ndarray]:
    n = shape[0]
    if model == "rapidocr:det":
        rng = np.random.default_rng(seed + 1000)
        return [np.repeat(det_input(render_page(rng, height=shape[2], width=shape[3]).image,
                                    size=(shape[2], shape[3])), n, axis=0) for _ in range(k)]
    if model in ("rapidocr:rec", "rapidocr:cls"):
        return [np.repeat(rec_input(ln.image, height=shape[2], width=shape[3]), n, axis=0)
                for ln in line_dataset(k, seed=seed + 1000, max_aspect=shape[3] / shape[2])]
    rng = np.random.default_rng(seed + 1000)
    return [rng.random(shape, dtype=np.float32) for _ in range(k)]


def ort_options(c: Candidate) -> dict[str, Any]:
    """The plain-onnxruntime settings of a candidate (what session.json stores)."""
    cfg = c.session_config()
    entries = dict(cfg.config_entries)
    if cfg.allow_spinning is not None:
        entries["session.intra_op.allow_spinning"] = "1" if cfg.allow_spinning else "0"
    return {"graph_optimization_level": _OPT[cfg.graph_optimization_level],
            "execution_mode": "ORT_PARALLEL" if cfg.execution_mode == "parallel" else "ORT_SEQUENTIAL",
            "intra_op_num_threads": cfg.intra_op_num_threads or 0,
            "inter_op_num_threads": cfg.inter_op_num_threads or 0,
            "config_entries": entries, "providers": list(cfg.providers)}


SNIPPET = '''import json, onnxruntime as ort
cfg = json.load(open("{config}"))
o = cfg["onnxruntime"]
so = ort.SessionOptions()
so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, o["graph_optimization_level"])
so.execution_mode = getattr(ort.ExecutionMode, o["execution_mode"])
so.intra_op_num_threads, so.inter_op_num_threads = o["intra_op_num_threads"], o["inter_op_num_threads"]
for key, value in o["config_entries"].items():
    so.add_session_config_entry(key, value)
sess = ort.InferenceSession(cfg["model_file"], so, providers=o["providers"])'''


def snippet(config_path: str | Path = "session.json") -> str:
    """Ten lines of plain onnxruntime that open the tuned session from ``session.json``."""
    return SNIPPET.format(config=Path(config_path).name)


def load_session(config_json: str | Path, model: str | Path | None = None) -> Any:
    """An ``InferenceSession`` with the tuned settings of ``session.json``.

    ``model`` defaults to the file the configuration was tuned with (for an INT8 pick, the
    quantized copy under the output folder). ``cfg["io_binding"]`` says whether the tuned call
    path was ``run_with_iobinding``.
    """
    path = Path(config_json)
    cfg = json.loads(path.read_text("utf-8"))
    o = cfg["onnxruntime"]
    so = ort.SessionOptions()
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, o["graph_optimization_level"])
    so.execution_mode = getattr(ort.ExecutionMode, o["execution_mode"])
    so.intra_op_num_threads, so.inter_op_num_threads = o["intra_op_num_threads"], o["inter_op_num_threads"]
    for key, value in o["config_entries"].items():
        so.add_session_config_entry(key, value)
    target = model if model is not None else cfg["model_file"]
    if model is None and not Path(target).is_absolute():
        target = path.parent / target
    return ort.InferenceSession(str(resolve(target)), so, providers=o["providers"])


# --------------------------------------------------------------------------- the tuner
def tune(
    model: str,
    *,
    out: str | Path,
    deadline_ms: float | None = None,
    percentile: float = 0.99,
    accuracy_floor: str | AccuracyFloor | None = None,
    budget_minutes: float = 5.0,
    input_shape: str | tuple[int, ...] | None = None,
    open_loop_hz: float | None = None,
    arrivals: str = "periodic",
    precisions: tuple[str, ...] = ("fp32", "int8-dynamic", "int8-static"),
    width: int | None = None,
    iters: int | None = None,
    warmup: int = 20,
    seed: int = 0,
    confidence: float = 0.95,
    log: Callable[[str], None] = print,
) -> TuneResult:
    """Tune ``model`` on this machine; see the module docstring for what is written to ``out``.

    ``width`` is how many candidates race at once (by default sized to the budget), ``iters``
    the timed calls per candidate per round (by default enough for a bounded interval of the
    percentile after about four rounds, capped at about 2.5 s of calls).
    """
    t_start = time.perf_counter()
    unknown = [p for p in precisions if p != "fp32" and p not in _INT8]
    if unknown or "fp32" not in precisions:
        raise TuneError(f"precisions {list(precisions)}: fp32 must be one of them (it is the reference) and the "
                        f"others among {', '.join(_INT8)}")
    budget_s = float(budget_minutes) * 60.0
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    def left() -> float:
        return budget_s - (time.perf_counter() - t_start)

    # --- the model, its input and one pilot call
    try:
        model_file = resolve(model)
        ref = _open(model_file)
    except Exception as exc:  # noqa: BLE001 - any load failure becomes one message with the fix
        raise TuneError(f"cannot load the model {model!r}: {str(exc).splitlines()[0][:300]}. Fix: pass an "
                        "existing, valid .onnx file or one of rapidocr:det, rapidocr:rec, rapidocr:cls") from None
    inp = ref.get_inputs()[0]
    shape = _parse_shape(input_shape) or ALIAS_SHAPES.get(model)
    if shape is None:
        if all(isinstance(d, int) and d > 0 for d in inp.shape):
            shape = tuple(inp.shape)
        else:
            raise TuneError(f"the model's input {inp.name!r} has dynamic dimensions {inp.shape}: pass "
                            "--input-shape with the shape you deploy, e.g. --input-shape 1,3,320,320")
    try:
        feeds = _feeds_for(model, ref, shape, seed)
        t = []
        for _ in range(4):
            t0 = time.perf_counter()
            ref.run(None, feeds)
            t.append(time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises several types for a bad shape
        raise TuneError(f"the model rejects input shape {list(shape)} for input {inp.name!r} (declared "
                        f"{inp.shape}): {str(exc).splitlines()[0][:300]}. Fix: pass --input-shape matching "
                        "the declared dimensions") from None
    call_s = float(np.median(t[1:]))
    floor = parse_floor(accuracy_floor) if isinstance(accuracy_floor, str) or accuracy_floor is None \
        else accuracy_floor
    metric = floor.metric if floor else _DEFAULT_METRIC.get(model, "agree")

    # --- race settings: fixed on the first run, read back on a resume
    p_need = min_samples_two_sided(percentile)  # pooled over rounds; the validity rule's own minimum
    iters = iters or int(min(max(math.ceil(p_need / 4), 1.0 / max(call_s, 1e-6)), max(30, 2.5 / max(call_s, 1e-6))))
    if open_loop_hz:
        iters = int(min(iters, max(30, 2.5 * open_loop_hz)))
    per_meas = _SPAWN_GUESS_S + (warmup + iters) * call_s * 1.2 + (iters / open_loop_hz if open_loop_hz else 0)
    width = width or int(min(8, max(2, left() / (per_meas * 6))))
    identity = {"model_sha256": sha256_file(model_file), "input_shape": list(shape), "percentile": percentile,
                "open_loop_hz": open_loop_hz, "arrivals": arrivals, "seed": seed,
                "precisions": list(precisions), "accuracy_metric": metric}
    settings_path = out / "race.json"
    if settings_path.exists():
        saved = json.loads(settings_path.read_text("utf-8"))
        diff = [k for k, v in identity.items() if saved["identity"].get(k) != v]
        if diff:
            raise TuneError(f"{out}/ holds a tuning run with different {', '.join(diff)}: pass a new --out "
                            "folder (or the same arguments to resume it)")
        width, iters, warmup = saved["width"], saved["iters"], saved["warmup"]
        log(f"resuming the tuning run in {out}/ (study {out / 'study.db'})")
    else:
        settings_path.write_text(json.dumps({"identity": identity, "width": width, "iters": iters,
                                             "warmup": warmup}, indent=2), "utf-8")
    per_meas = _SPAWN_GUESS_S + (warmup + iters) * call_s * 1.2 + (iters / open_loop_hz if open_loop_hz else 0)
    one_round = 2 * per_meas
    if left() < one_round:
        need = math.ceil((time.perf_counter() - t_start + one_round) / 60 * 10) / 10
        raise TuneError(f"--budget-minutes {budget_minutes:g} is too small for even one round: measuring the "
                        f"defaults and one candidate once takes about {one_round:.0f} s here "
                        f"({iters} calls of ~{call_s * 1e3:.2g} ms each plus a fresh process). Fix: give "
                        f"--budget-minutes {max(need, 0.1) * 3:.1f} or more (several rounds are needed for an interval)")
    log(f"{model}: input {list(shape)}, ~{call_s * 1e3:.3g} ms per call; racing {width} at a time, "
        f"{iters} calls per candidate per round, budget {budget_minutes:g} min")

    # --- precision variants and their accuracy
    variants_dir = out / "variants"
    files: dict[str, Path] = {"fp32": model_file}
    notes: list[str] = []
    wanted = [p for p in precisions if p in _INT8]
    if wanted:
        try:
            pre = variants_dir / "model-pre.onnx"
            if not pre.exists():
                pre = prepare(model_file, variants_dir, "model")
            calib = None
            for prec in wanted:
                target = variants_dir / f"model-{prec}.onnx"
                if not target.exists():
                    if left() < 3 * one_round:
                        notes.append(f"{prec} not made: the budget left no time for it")
                        continue
                    if calib is None and prec != "int8-dynamic":
                        calib = _calibration(model, shape, seed)
                    tmp = variants_dir / f"tmp-{prec}.onnx"
                    quantize_variant(pre, tmp, _INT8[prec], calib or ())
                    _open(tmp)  # it must load
                    tmp.replace(target)
                files[prec] = target
        except Exception as exc:  # noqa: BLE001 - a variant this onnxruntime cannot make is reported, not fatal
            notes.append(f"INT8 variants not made: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    meta = dict(ref.get_modelmeta().custom_metadata_map)
    try:
        score = evaluator_for(metric, shape=shape, input_name=inp.name, reference=ref, model_meta=meta, seed=seed)
    except FloorError as exc:
        raise TuneError(f"--accuracy-floor {metric}=...: {exc}") from None
    acc_path = out / "accuracy.json"
    accuracy: dict[str, float] = json.loads(acc_path.read_text("utf-8")) if acc_path.exists() else {}

    def accuracy_of(c: Candidate) -> float:
        v = c.accuracy_variant
        if v not in accuracy:
            cfg = Candidate(precision=c.precision, graph_level=c.graph_level,
                            denormal_as_zero=c.denormal_as_zero).session_config()
            accuracy[v] = float(score(_open(files[c.precision], cfg)))
            acc_path.write_text(json.dumps(accuracy, indent=2), "utf-8")
        return accuracy[v]

    for prec in list(files):
        a = accuracy_of(Candidate(precision=prec))
        log(f"  accuracy {prec}: {metric} = {a:.4g}" + (f" ({'meets' if floor.met(a) else 'under'} {floor})"
                                                          if floor else ""))
    if floor and not any(floor.met(accuracy_of(Candidate(precision=p))) for p in files):
        best_p = (max if floor.higher_is_better else min)(files, key=lambda p: accuracy_of(Candidate(precision=p)))
        raise TuneError(f"no candidate meets the accuracy floor {floor}: the best measured is {metric} = "
                        f"{accuracy_of(Candidate(precision=best_p)):.4g} ({best_p}, {METRICS[metric][1]}). "
                        f"Fix: relax --accuracy-floor (for example {metric}="
                        f"{accuracy_of(Candidate(precision=best_p)):.3g}) or check the model and input shape")

    # --- the study
    knobs = knobs_for(usable_cpus(), list(files), inference_providers())
    storage = f"sqlite:///{(out / 'study.db').resolve()}"
    study = optuna.create_study(study_name="edgetiming-tune", storage=storage, load_if_exists=True,
                                direction="minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=6))
    if not study.trials:
        study.enqueue_trial({k: json.dumps(v[0]) for k, v in knobs.items()})
    existing = [t for t in sorted(study.trials, key=lambda t: t.number)
                if set(t.params) == set(knobs)]
    told = {t.number for t in existing if t.state != optuna.trial.TrialState.RUNNING}
    trial_of: dict[str, int] = {}
    cand: dict[str, Candidate] = {}
    entered: dict[str, int] = {}
    eliminated: dict[str, race.Elimination] = {}
    exhausted = False

    def propose(round_: int) -> Candidate | None:
        nonlocal exhausted
        for _ in range(40):
            if existing:
                t = existing.pop(0)
                c = suggest(optuna.trial.FixedTrial(t.params), knobs)
                number, new = t.number, False
            else:
                trial = study.ask()
                c, number, new = suggest(trial, knobs), trial.number, True
            if c.key in cand:
                if new or number not in told:
                    study.tell(number, state=optuna.trial.TrialState.PRUNED)
                    told.add(number)
                continue
            cand[c.key], trial_of[c.key], entered[c.key] = c, number, round_
            a = accuracy_of(c)
            if floor and not floor.met(a):
                eliminated[c.key] = race.Elimination(c.key, round_, f"accuracy {metric} = {a:.4g} is under the floor "
                                                     f"{floor} ({c.accuracy_variant})", "accuracy", {"accuracy": a})
                if number not in told:
                    study.tell(number, state=optuna.trial.TrialState.PRUNED)
                    told.add(number)
                continue
            return c
        exhausted = True
        return None

    # --- the race
    runs_dir = out / "runs"
    samples: dict[str, list[np.ndarray]] = {}
    facts: dict[str, list[dict[str, Any]]] = {}
    history: list[dict[str, Any]] = []
    alive: list[str] = []
    reused = measured = 0
    wall_s: list[float] = []
    stop_reason = "budget"
    r = 0
    while True:
        while len(alive) < width and not exhausted:
            c = propose(r)
            if c is not None:
                alive.append(c.key)
        if not alive:
            stop_reason = "no candidate left"
            break
        est = float(np.median(wall_s)) if wall_s else per_meas
        order = race.round_order(alive, r, seed)
        todo = [k for k in order if not (runs_dir / k / f"round-{r:03d}.pkl").exists()]
        if todo and left() < est + _RESERVE_S:
            break
        partial = False
        for key in order:
            path = runs_dir / key / f"round-{r:03d}.pkl"
            if path.exists():
                m = race.load_measurement(path)
                reused += 1
            else:
                if left() < est + _RESERVE_S:
                    partial = True
                    break
                path.parent.mkdir(parents=True, exist_ok=True)
                c = cand[key]
                spec = {"model_file": str(files[c.precision]), "config": c.session_config(),
                        "io_binding": c.io_binding, "feeds": feeds, "warmup": warmup, "iters": iters,
                        "percentile": percentile,
                        "open_loop": {"rate_hz": open_loop_hz, "arrivals": arrivals, "seed": seed + r}
                        if open_loop_hz else None}
                try:
                    m = race.measure_isolated(spec, path, timeout_s=max(60.0, est * 10))
                except (RuntimeError, TimeoutError) as exc:
                    eliminated[key] = race.Elimination(key, r, "the measuring process failed: "
                                                       + str(exc).strip().splitlines()[-1][:200], "failed")
                    alive.remove(key)
                    if trial_of[key] not in told:
                        study.tell(trial_of[key], state=optuna.trial.TrialState.FAIL)
                        told.add(trial_of[key])
                    continue
                measured += 1
                wall_s.append(m["wall_s"])
                est = float(np.median(wall_s))
            samples.setdefault(key, []).append(np.asarray(m["samples"], dtype=np.float64))
            facts.setdefault(key, []).append({k: v for k, v in m.items() if k != "samples"})
            if trial_of[key] not in told:
                study.tell(trial_of[key], float(np.quantile(m["samples"], percentile)))
                told.add(trial_of[key])
        if partial:
            stop_reason = f"budget (round {r} stopped part way)"
            break
        est_now = _estimates(samples, [k for k in alive if k in samples], percentile, confidence, facts)
        best, gone = race.eliminate(est_now, r)
        for e in gone:
            eliminated[e.key] = e
            alive.remove(e.key)
        history.append({"round": r, "best": best, "eliminated": [e.key for e in gone],
                        "estimates": {k: {"value": e.value, "lower": _fin(e.lower), "upper": _fin(e.upper),
                                          "runs": e.runs} for k, e in est_now.items()}})
        log(f"[{time.perf_counter() - t_start:5.0f} s] round {r}: " + ", ".join(f"{k} {e.value / 1e6:.3g} ms [{_ms(e.lower)}, {_ms(e.upper)}]"
                                       for k, e in sorted(est_now.items(), key=lambda kv: kv[1].value))
            + (f"; eliminated {', '.join(e.key for e in gone)}" if gone else ""))
        r += 1
        if exhausted and len(alive) == 1 and r >= 2:
            stop_reason = "one candidate left and the space is exhausted"
            break

    # --- the result
    if not samples:
        raise TuneError("the budget ran out before one round finished: give a larger --budget-minutes")
    final = _estimates(samples, list(samples), percentile, confidence, facts)
    p50 = {k: repeated_quantile(v, 0.5, confidence) for k, v in samples.items()}
    alive_est = {k: final[k] for k in alive if k in final}
    best = race.best_of(alive_est)
    pool = [k for k in alive if k in final] or list(final)
    multi = [k for k in pool if final[k].runs >= 2] or pool
    recommended = min(multi, key=lambda k: (cand[k].complexity, final[k].upper, final[k].value))
    rec_est = final[recommended]
    verdict = _verdict(rec_est, deadline_ms, percentile)
    rows = []
    for key in sorted(final, key=lambda k: (k in eliminated, final[k].value)):
        e = final[key]
        rows.append({"key": key, "knobs": cand[key].to_dict(), "complexity": cand[key].complexity,
                     "runs": e.runs, "n": int(sum(s.size for s in samples[key])),
                     "p50_ms": p50[key].value / 1e6, "p50_lower_ms": _fin(p50[key].lower, 1e-6),
                     "p50_upper_ms": _fin(p50[key].upper, 1e-6),
                     "p_ms": e.value / 1e6, "p_lower_ms": _fin(e.lower, 1e-6), "p_upper_ms": _fin(e.upper, 1e-6),
                     "deciding": e.deciding, "state": e.judgement.state.value,
                     "state_reasons": list(e.judgement.reasons),
                     "accuracy": accuracy.get(cand[key].accuracy_variant),
                     "status": ("recommended" if key == recommended else "best" if key == best
                                else "eliminated" if key in eliminated else "indistinguishable"),
                     "eliminated": eliminated[key].to_dict() if key in eliminated else None})
    for key, e in eliminated.items():
        if key not in final:
            rows.append({"key": key, "knobs": cand[key].to_dict(), "complexity": cand[key].complexity, "runs": 0,
                         "accuracy": accuracy.get(cand[key].accuracy_variant), "status": "eliminated",
                         "eliminated": e.to_dict()})
    rc = cand[recommended]
    config = {"model": model, "model_file": str(files[rc.precision]), "candidate": rc.to_dict(),
              "key": recommended, "io_binding": rc.io_binding, "onnxruntime": ort_options(rc),
              "input_shape": list(shape), "percentile": percentile,
              "tuned_p_ms": {"value": rec_est.value / 1e6, "lower": _fin(rec_est.lower, 1e-6),
                             "upper": _fin(rec_est.upper, 1e-6)},
              "accuracy": {metric: accuracy.get(rc.accuracy_variant)},
              "runner": default_runner_name(), "onnxruntime_version": ort.__version__}
    (out / "session.json").write_text(json.dumps(config, indent=2), "utf-8")
    report = {"model": model, "model_file": str(model_file), "input_shape": list(shape), "percentile": percentile,
              "deadline_ms": deadline_ms, "accuracy_metric": metric, "accuracy_floor": str(floor) if floor else None,
              "open_loop": {"rate_hz": open_loop_hz, "arrivals": arrivals} if open_loop_hz else None,
              "budget_minutes": budget_minutes, "elapsed_s": time.perf_counter() - t_start,
              "rounds": r, "width": width, "iters_per_round": iters, "warmup": warmup,
              "measured": measured, "reused": reused, "stop_reason": stop_reason, "best": best,
              "recommended": recommended, "indistinguishable": [k for k in pool if k not in eliminated],
              "verdict": verdict, "rows": rows, "history": history, "notes": notes,
              "knobs": {k: [json.dumps(x) for x in v] for k, v in knobs.items()},
              "not_searched": {"batch size": "one request per call: a batch changes what the deadline is "
                                             "about (see recipes/batching.py)"},
              "runner": default_runner_name(), "onnxruntime_version": ort.__version__,
              "method": {"interval": "hull of the within-run exact order-statistic interval and the between-run "
                                     "Student t interval on log per-run estimates", "confidence": confidence,
                         "elimination": "lower end above the current best's upper end",
                         "sampler": "optuna TPESampler", "order": "randomised balanced (ABBA) per round"}}
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str), "utf-8")
    fig = race_figure(report)
    (out / "race.png").write_bytes(figures.png_bytes(fig))
    (out / "report.md").write_text(markdown(report, config), "utf-8")
    log(f"{r} rounds, {measured} measurements ({reused} reused); recommended {recommended}: "
        f"{percentile_label(percentile).upper()} {rec_est.value / 1e6:.3g} ms "
        f"[{_ms(rec_est.lower)}, {_ms(rec_est.upper)}]; {verdict['text']}")
    log(f"wrote {out / 'session.json'}, {out / 'report.md'}, {out / 'race.png'}")
    return TuneResult(report, out)


def _fin(x: float, scale: float = 1.0) -> float | None:
    return x * scale if math.isfinite(x) else None


def _ms(x: float) -> str:
    return f"{x / 1e6:.3g}" if math.isfinite(x) else ("-inf" if x < 0 else "inf")


def _estimates(samples: dict[str, list[np.ndarray]], keys: list[str], p: float, confidence: float,
               facts: dict[str, list[dict[str, Any]]]) -> dict[str, RepeatedEstimate]:
    out = {}
    for k in keys:
        runs = samples[k]
        overhead = [f["overhead_ns"] for f in facts[k] if f.get("overhead_ns")]
        kw: dict[str, Any] = {"throttle_seen": any(f.get("throttle") for f in facts[k])}
        if overhead:
            kw |= {"overhead_ns": max(overhead), "p50_ns": float(np.median(np.concatenate(runs)))}
        out[k] = repeated_quantile(runs, p, confidence, **kw)
    return out


def _verdict(e: RepeatedEstimate, deadline_ms: float | None, p: float) -> dict[str, Any]:
    label = percentile_label(p).upper()
    if deadline_ms is None:
        return {"state": "no deadline", "text": "has no verdict: no deadline was given"}
    d = deadline_ms * 1e6
    if math.isfinite(e.upper) and e.upper <= d:
        return {"state": "meets", "text": f"meets the {deadline_ms:g} ms deadline at {label}: the interval's upper "
                                          f"end {e.upper / 1e6:.3g} ms is below it"}
    if e.lower > d:
        return {"state": "misses", "text": f"misses the {deadline_ms:g} ms deadline at {label}: even the interval's "
                                           f"lower end {e.lower / 1e6:.3g} ms is above it"}
    return {"state": "undecided", "text": f"undecided against the {deadline_ms:g} ms deadline at {label}: the "
                                          f"interval [{_ms(e.lower)}, {_ms(e.upper)}] ms contains it"}


def race_figure(report: dict[str, Any]) -> Figure:
    """Each candidate's interval of the tuned percentile per round (eliminated ones stop)."""
    figures.use_style()
    fig = Figure(figsize=(8.0, 4.2), layout="constrained")
    ax = fig.subplots()
    keys = [row["key"] for row in report["rows"] if row.get("runs")]
    step = 0.7 / max(1, len(keys))
    for i, key in enumerate(keys):
        xs, ys, lo, hi = [], [], [], []
        for h in report["history"]:
            e = h["estimates"].get(key)
            if e is None:
                continue
            v = e["value"] / 1e6
            xs.append(h["round"] - 0.35 + (i + 0.5) * step)
            ys.append(v)
            lo.append(v - (e["lower"] / 1e6 if e["lower"] is not None else v))
            hi.append((e["upper"] / 1e6 if e["upper"] is not None else v * 1.5) - v)
        color = figures.PALETTE[i % len(figures.PALETTE)]
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", ms=3, capsize=2, color=color, label=key)
    if report.get("deadline_ms"):
        ax.axhline(report["deadline_ms"], color="#D55E00", linestyle="--", linewidth=1.2, label="deadline")
    label = percentile_label(report["percentile"]).upper()
    ax.set_xlabel("round (each candidate measured once per round in a fresh process)")
    ax.set_ylabel(f"{label} latency (ms) with its deciding interval")
    ax.set_title(f"Race for the lowest {label}: {report['model']}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    return fig


def noise_figure(out: Path | str, report: dict[str, Any]) -> tuple[Figure, str]:
    """Every measuring process of the race on one time axis: latency, sentinel units, other work.

    The recommended configuration and onnxruntime's defaults are drawn by name, every other
    candidate as "other candidates"; measurements stored before the telemetry was recorded
    are left out. Returns ``(fig, alt)`` like :func:`edgetiming.measure.noise.figure`.
    """
    named = {report["recommended"], "defaults"}
    runs, labels = [], []
    for path in sorted(Path(out, "runs").glob("*/round-*.pkl"), key=lambda p: (p.name, p.parent.name)):
        m = race.load_measurement(path)
        if m.get("noise") and m["noise"].get("interference") is not None:
            runs.append(SimpleNamespace(**m["noise"]))
            labels.append(path.parent.name if path.parent.name in named else "other candidates")
    if not runs:
        raise ValueError(f"{out}: no measurement with interference telemetry to draw")
    label = percentile_label(report["percentile"]).upper()
    return noise.figure(runs, labels=labels, deadline_ms=report.get("deadline_ms"),
                        title=f"The race in time ({label} tuning of {report['model']}): latency, sentinel units, other work")


def markdown(report: dict[str, Any], config: dict[str, Any]) -> str:
    label = percentile_label(report["percentile"]).upper()
    lines = [f"# Tuning {report['model']} for the {label} on {report['runner']}", "",
             f"Input {report['input_shape']}, onnxruntime {report['onnxruntime_version']}; "
             + (f"open loop at {report['open_loop']['rate_hz']:g} Hz ({report['open_loop']['arrivals']})"
                if report["open_loop"] else "closed loop (one call at a time)")
             + f". {report['rounds']} rounds of fresh processes, {report['iters_per_round']} calls per candidate "
               f"per round, {report['measured']} measurements ({report['reused']} reused from an earlier run), "
               f"{report['elapsed_s']:.0f} s of a {report['budget_minutes']:g}-minute budget; stopped: "
               f"{report['stop_reason']}.", "",
             f"**Verdict:** the recommended configuration `{report['recommended']}` {report['verdict']['text']}.", "",
             f"Cannot be told apart from the best ({report['best']}): "
             + ", ".join(f"`{k}`" for k in report["indistinguishable"]) + ". The recommendation is the simplest "
             "of them (fewest knobs changed from onnxruntime's defaults).", "",
             "![Each candidate's interval per round](race.png)", "",
             f"| candidate | runs | P50 ms | {label} ms [interval] | {report['accuracy_metric']} | status |",
             "|---|---|---|---|---|---|"]
    for row in report["rows"]:
        if not row.get("runs"):
            lines.append(f"| `{row['key']}` | 0 | - | - | {_acc(row['accuracy'])} | eliminated in round "
                         f"{row['eliminated']['round']}: {row['eliminated']['reason']} |")
            continue
        status = row["status"] if not row["eliminated"] else (
            f"eliminated in round {row['eliminated']['round']}: {row['eliminated']['reason']}")
        lo, hi = row["p_lower_ms"], row["p_upper_ms"]
        span = f"[{'-inf' if lo is None else f'{lo:.3g}'}, {'inf' if hi is None else f'{hi:.3g}'}]"
        state = "" if row["state"] == "valid" else f" ({row['state']})"
        lines.append(f"| `{row['key']}` | {row['runs']} | {row['p50_ms']:.3g} | {row['p_ms']:.3g} {span}{state} | "
                     f"{_acc(row['accuracy'])} | {status} |")
    lines += ["", f"Intervals: {report['method']['interval']} ({report['method']['confidence']:.0%}). "
              f"A candidate is eliminated only when its {label} interval's lower end is above the best's upper end.",
              "", "## Using the tuned configuration", "", "```python",
              "from edgetiming.tune import load_session", "sess = load_session(\"session.json\")", "```", "",
              "or with plain onnxruntime:", "", "```python", snippet(), "```", ""]
    if config["io_binding"]:
        lines += ["The tuned call path binds the inputs once and calls `sess.run_with_iobinding(binding)`.", ""]
    if report["notes"]:
        lines += ["## Notes", "", *[f"- {n}" for n in report["notes"]], ""]
    return "\n".join(lines)


def _acc(a: float | None) -> str:
    return "-" if a is None else f"{a:.4g}"
