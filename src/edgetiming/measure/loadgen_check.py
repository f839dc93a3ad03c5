"""Cross-check against MLPerf LoadGen: same model, same machine, two harnesses.

MLPerf LoadGen (``mlcommons-loadgen``, imported as ``mlperf_loadgen``) is the
reference load generator of the MLPerf benchmarks. :func:`loadgen_crosscheck`
runs its SingleStream scenario (next query when the previous completes)
next to :func:`edgetiming.measure.closedloop.closed_loop`, and its Server scenario
(Poisson arrivals at a target rate, latency from the scheduled time) next to
:func:`edgetiming.measure.openloop.open_loop` with :class:`~edgetiming.measure.openloop.Poisson`
arrivals at the same rate, all on the same inference call.

LoadGen's numbers come from its own logs, written into a temporary folder:
the summary (``mlperf_log_summary.txt``), the detail log
(``mlperf_log_detail.txt``, one ``:::MLLOG {json}`` record a line, keys
``result_90.00_percentile_latency_ns`` etc.) and the trace
(``mlperf_log_trace.json``), whose ``Sample`` events carry each query's
``complete_ns`` (latency from the scheduled start). From the trace the same
exact order-statistic interval is computed for LoadGen as for the harness.
A percentile *agrees* when the two intervals overlap; without a trace, when
LoadGen's value lies inside the harness's interval. LoadGen's percentile is
also checked to be the nearest-rank value of its own per-query latencies.

Example
-------
>>> check = loadgen_crosscheck("rapidocr:cls", input_shapes={"x": (1, 3, 48, 192)},
...                            query_count=1000, server_target_qps=100)  # doctest: +SKIP
>>> [(a.scenario, a.percentile, a.agree) for a in check.agreements]  # doctest: +SKIP
[('SingleStream', 0.9, True), ('SingleStream', 0.99, True), ('Server', 0.9, True), ...]
"""

from __future__ import annotations

import json
import queue
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mlperf_loadgen as lg
import numpy as np

from edgetiming.measure.closedloop import RUN_SCHEMA_VERSION, session_loop
from edgetiming.measure.openloop import Poisson, open_loop
from edgetiming.measure.session import make_feeds, open_session, session_settings
from edgetiming.results import report
from edgetiming.stats import quantiles as stats

__all__ = [
    "Agreement",
    "CrossCheck",
    "LoadGenResult",
    "ScenarioCheck",
    "compare",
    "loadgen_crosscheck",
    "parse_detail_log",
    "parse_summary_log",
    "parse_trace_latencies",
    "run_loadgen",
]

SCENARIOS = ("SingleStream", "Server")


def parse_summary_log(text: str) -> dict[str, str]:
    """``key : value`` lines of ``mlperf_log_summary.txt`` as a dict of strings.

    Example
    -------
    >>> parse_summary_log("Result is : VALID\\n90.0th percentile latency (ns) : 1021126")
    {'Result is': 'VALID', '90.0th percentile latency (ns)': '1021126'}
    """
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(" : ")
        if sep and key.strip() and not key.strip().startswith("*"):
            out[key.strip()] = value.strip()
    return out


def parse_detail_log(text: str) -> dict[str, Any]:
    """``:::MLLOG {json}`` records of ``mlperf_log_detail.txt`` as ``{key: value}`` (last wins).

    Example
    -------
    >>> parse_detail_log(':::MLLOG {"key": "result_validity", "value": "VALID"}')
    {'result_validity': 'VALID'}
    """
    out: dict[str, Any] = {}
    for line in text.splitlines():
        if line.startswith(":::MLLOG "):
            try:
                rec = json.loads(line[len(":::MLLOG "):])
            except json.JSONDecodeError:
                continue
            out[rec.get("key", "")] = rec.get("value")
    return out


def parse_trace_latencies(text: str) -> np.ndarray:
    """Per-query latency (``complete_ns``) from ``mlperf_log_trace.json``, in issue order.

    Example
    -------
    >>> parse_trace_latencies('{"name":"Sample","args":{"issue_start_ns":5,"complete_ns":900}}')
    array([900])
    """
    rows = re.findall(r'"sample_seq":(\d+)[^}]*?"complete_ns":(\d+)', text)
    if rows:
        rows.sort(key=lambda r: int(r[0]))
        return np.array([int(c) for _, c in rows], dtype=np.int64)
    return np.array([int(c) for c in re.findall(r'"complete_ns":(\d+)', text)], dtype=np.int64)


@dataclass
class LoadGenResult:
    """One LoadGen run: its reported numbers, its verdict and (from the trace) every latency."""

    scenario: str
    query_count: int
    target_qps: float | None
    detail: dict[str, Any]
    summary: dict[str, str]
    latency_ns: np.ndarray | None = field(repr=False)
    log_dir: str | None = None

    @property
    def validity(self) -> str:
        return str(self.detail.get("result_validity", self.summary.get("Result is", "unknown")))

    def percentile_ns(self, p: float) -> float | None:
        """LoadGen's own reported percentile (P50, P90, P95, P97, P99, P99.9 exist)."""
        value = self.detail.get(f"result_{p * 100:.2f}_percentile_latency_ns")
        return None if value is None else float(value)

    def to_dict(self) -> dict[str, Any]:
        keep = {k: v for k, v in self.detail.items() if k.startswith(("result_", "early_stop"))}
        return {"scenario": self.scenario, "query_count": self.query_count,
                "target_qps": self.target_qps, "validity": self.validity, "results": keep,
                "n_trace_latencies": None if self.latency_ns is None else int(self.latency_ns.size)}


def run_loadgen(
    fn: Callable[[], Any],
    *,
    scenario: str = "SingleStream",
    query_count: int = 1000,
    target_qps: float = 100.0,
    expected_latency_ns: int = 1_000_000,
    target_latency_ns: int | None = None,
    seed: int = 0,
    log_dir: str | Path | None = None,
    trace: bool = True,
) -> LoadGenResult:
    """Run LoadGen's ``scenario`` with ``fn()`` as the system under test.

    SingleStream runs ``fn`` inside LoadGen's issue callback (it issues the next
    query only after completion). Server hands each query to one worker thread
    through a queue so LoadGen's issue thread never waits on inference, the same
    shape as :func:`edgetiming.measure.openloop.open_loop` with ``workers=1``. Logs go to
    ``log_dir`` (kept) or a temporary folder (removed after parsing).

    Example
    -------
    >>> res = run_loadgen(lambda: None, query_count=100)  # doctest: +SKIP
    >>> res.validity, res.latency_ns.size  # doctest: +SKIP
    ('VALID', 100)
    """

    if scenario not in SCENARIOS:
        raise ValueError(f"scenario {scenario!r} must be one of {SCENARIOS}")
    settings = lg.TestSettings()
    settings.scenario = getattr(lg.TestScenario, scenario)
    settings.mode = lg.TestMode.PerformanceOnly
    settings.min_query_count = settings.max_query_count = int(query_count)
    settings.min_duration_ms = 0
    settings.max_duration_ms = 0
    settings.schedule_rng_seed = settings.sample_index_rng_seed = int(seed)
    if scenario == "SingleStream":
        settings.single_stream_expected_latency_ns = int(expected_latency_ns)
    else:
        settings.server_target_qps = float(target_qps)
        if target_latency_ns is not None:
            settings.server_target_latency_ns = int(target_latency_ns)

    work: queue.Queue[Any] = queue.Queue()

    def serve() -> None:
        while (qs := work.get()) is not None:
            for q in qs:
                fn()
                lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0)])

    def issue(query_samples: list[Any]) -> None:
        if scenario == "Server":
            work.put(list(query_samples))
            return
        for q in query_samples:
            fn()
            lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0)])

    worker = threading.Thread(target=serve, name="loadgen-sut", daemon=True)
    worker.start()
    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(1, 1, lambda samples: None, lambda samples: None)
    tmp = None if log_dir is not None else tempfile.TemporaryDirectory(prefix="loadgen-")
    out = Path(log_dir if log_dir is not None else tmp.name)  # type: ignore[union-attr]
    out.mkdir(parents=True, exist_ok=True)
    try:
        log_out = lg.LogOutputSettings()
        log_out.outdir = str(out)
        log_out.copy_summary_to_stdout = False
        log_settings = lg.LogSettings()
        log_settings.log_output = log_out
        log_settings.enable_trace = trace
        lg.StartTestWithLogSettings(sut, qsl, settings, log_settings)
        work.put(None)
        worker.join()
        detail = parse_detail_log((out / "mlperf_log_detail.txt").read_text())
        summary = parse_summary_log((out / "mlperf_log_summary.txt").read_text())
        trace_file = out / "mlperf_log_trace.json"
        lat = parse_trace_latencies(trace_file.read_text()) if trace and trace_file.exists() \
            else None
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
        work.put(None)
        if tmp is not None:
            tmp.cleanup()
    return LoadGenResult(scenario, int(query_count), None if scenario == "SingleStream"
                         else float(target_qps), detail, summary,
                         lat if lat is not None and lat.size else None,
                         None if tmp is not None else str(out))


@dataclass
class Agreement:
    """One percentile of one scenario: harness and LoadGen side by side (values in ns)."""

    scenario: str
    percentile: float
    harness_ns: float
    harness_ci_ns: tuple[float, float]
    loadgen_ns: float | None
    loadgen_ci_ns: tuple[float, float] | None
    loadgen_rank_consistent: bool | None
    agree: bool
    method: str

    def describe(self) -> str:
        """One sentence with both values, both intervals and the outcome."""
        def ci(c: tuple[float, float] | None) -> str:
            return "no interval" if c is None else "[" + ", ".join(
                f"{v / 1e6:.3f}" if np.isfinite(v) else "unbounded" for v in c) + "] ms"

        lg = "none" if self.loadgen_ns is None else f"{self.loadgen_ns / 1e6:.3f} ms"
        return (f"P{self.percentile * 100:g} harness {self.harness_ns / 1e6:.3f} ms "
                f"{ci(self.harness_ci_ns)} vs LoadGen {lg} {ci(self.loadgen_ci_ns)}: "
                f"{'agree' if self.agree else 'differ'} ({self.method})")

    @property
    def rel_diff(self) -> float | None:
        """(LoadGen - harness) / harness."""
        if self.loadgen_ns is None or self.harness_ns <= 0:
            return None
        return (self.loadgen_ns - self.harness_ns) / self.harness_ns

    def to_dict(self) -> dict[str, Any]:
        def ms(v: float | None) -> float | None:
            return None if v is None or not np.isfinite(v) else v / 1e6

        d = asdict(self)
        d["harness_ms"], d["loadgen_ms"] = ms(self.harness_ns), ms(self.loadgen_ns)
        d["harness_ci_ms"] = [ms(v) for v in self.harness_ci_ns]
        d["loadgen_ci_ms"] = None if self.loadgen_ci_ns is None else [ms(v)
                                                                     for v in self.loadgen_ci_ns]
        for k in ("harness_ns", "loadgen_ns", "harness_ci_ns", "loadgen_ci_ns"):
            d.pop(k)
        d["rel_diff"] = self.rel_diff
        return d


@dataclass
class ScenarioCheck:
    """One scenario: interleaved harness and LoadGen blocks, pooled per side."""

    scenario: str
    harness_runs: list[Any]
    loadgen_runs: list[LoadGenResult]

    @property
    def harness_ns(self) -> np.ndarray:
        """Harness latencies of all blocks: closed-loop steady samples or open-loop responses."""
        return np.concatenate([getattr(r, "steady_ns", None) if self.scenario == "SingleStream"
                               else r.response_ns for r in self.harness_runs])

    @property
    def loadgen_ns(self) -> np.ndarray | None:
        """LoadGen's per-query latencies of all blocks (None when a trace is missing)."""
        parts = [r.latency_ns for r in self.loadgen_runs]
        if any(x is None for x in parts):
            return None
        return np.concatenate(parts)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "harness": [r.to_dict() for r in self.harness_runs],
                "loadgen": [r.to_dict() for r in self.loadgen_runs]}


def compare(check: ScenarioCheck, p: float, confidence: float = 0.95) -> Agreement:
    """Agreement of one percentile: CI overlap, or LoadGen's value inside the harness CI."""

    h = stats.quantile_ci(check.harness_ns, p, confidence)
    lat = check.loadgen_ns
    reported = [r.percentile_ns(p) for r in check.loadgen_runs]
    if lat is not None:
        q = stats.quantile_ci(lat, p, confidence)
        lg_value, lg_ci = q.value, (q.lower, q.upper)
        # LoadGen's reported value must be the nearest rank of its own latencies, per block
        consistent = all(v is None or v == stats.quantile(r.latency_ns, p)
                         for v, r in zip(reported, check.loadgen_runs))
        agree = h.lower <= q.upper and q.lower <= h.upper
        method = f"criterion: the {confidence:.0%} order-statistic intervals overlap"
    else:
        known = [v for v in reported if v is not None]
        lg_value = float(np.median(known)) if known else None
        lg_ci, consistent = None, None
        agree = lg_value is not None and h.lower <= lg_value <= h.upper
        method = f"criterion: LoadGen's value inside the harness's {confidence:.0%} interval"
    return Agreement(check.scenario, p, h.value, (h.lower, h.upper), lg_value, lg_ci,
                     consistent, bool(agree), method)


@dataclass
class CrossCheck:
    """Per scenario the interleaved runs of both tools, and the agreement of each percentile."""

    model: str
    settings: dict[str, Any]
    scenarios: dict[str, ScenarioCheck]
    agreements: list[Agreement]

    @property
    def all_agree(self) -> bool:
        return all(a.agree for a in self.agreements)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "loadgen_crosscheck", "schema_version": RUN_SCHEMA_VERSION,
                "model": self.model, "settings": self.settings,
                "scenarios": {k: v.to_dict() for k, v in self.scenarios.items()},
                "agreements": [a.to_dict() for a in self.agreements],
                "all_agree": self.all_agree}

    def report(self, name: str) -> None:
        """Metrics for both sides of every percentile, pooled samples, one check per percentile."""

        for sc, check in self.scenarios.items():
            report.samples(f"{name}.{sc.lower()}.harness", check.harness_ns, description=(
                f"edgetiming {sc} latency, int64 ns, all blocks in order (warmup excluded)"))
            if check.loadgen_ns is not None:
                report.samples(f"{name}.{sc.lower()}.loadgen", check.loadgen_ns, description=(
                    f"MLPerf LoadGen {sc} per-query latency from its trace log, int64 ns from"
                    " the scheduled start, all blocks in order"))
            report.metric(f"{name}.{sc.lower()}.loadgen_validity", ", ".join(
                r.validity for r in check.loadgen_runs),
                description=f"LoadGen's own verdict ('Result is') for each {sc} block")
        for a in self.agreements:
            key = f"{name}.{a.scenario.lower()}.p{a.percentile * 100:g}"
            for side, value, ci in (("harness", a.harness_ns, a.harness_ci_ns),
                                    ("loadgen", a.loadgen_ns, a.loadgen_ci_ns)):
                ci_ms = None if ci is None else (ci[0] / 1e6, ci[1] / 1e6)
                report.metric(f"{key}.{side}_ms", None if value is None else value / 1e6,
                              unit="ms", ci=ci_ms if ci_ms and all(np.isfinite(ci_ms)) else None,
                              description=f"{'edgetiming' if side == 'harness' else 'LoadGen'}"
                                          f" {a.scenario} P{a.percentile * 100:g}")
            report.check(f"{key}.agree", "PASS" if a.agree else "FAIL", a.describe())


def loadgen_crosscheck(
    model: Any,
    feeds: dict[str, np.ndarray] | None = None,
    *,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    session_config: Any = None,
    scenarios: tuple[str, ...] = SCENARIOS,
    query_count: int = 1000,
    rounds: int = 4,
    server_target_qps: float = 100.0,
    server_target_latency_ms: float | None = None,
    percentiles: tuple[float, ...] = (0.9, 0.99),
    warmup_iters: int = 20,
    confidence: float = 0.95,
    seed: int = 0,
    log_dir: str | Path | None = None,
) -> CrossCheck:
    """Run LoadGen and the harness on one onnxruntime session and compare percentiles.

    Each side runs ``rounds`` blocks of ``query_count // rounds`` queries, in the
    order harness, LoadGen, LoadGen, harness, ... (ABBA), so slow drift of a
    shared machine hits both sides alike; each side's blocks are pooled.

    Parameters
    ----------
    model : an ``InferenceSession``, an .onnx path or a ``rapidocr:*`` alias.
    feeds, input_shapes : the inputs, or the shapes of seeded random inputs.
    query_count : queries per side and scenario, over all rounds.
    server_target_qps : LoadGen Server rate; the harness uses Poisson at the same rate.
    server_target_latency_ms : deadline for both: LoadGen Server's latency bound for its
        verdict and the harness open loop's ``deadline_ms``.
    log_dir : keep LoadGen's logs under ``log_dir/<scenario>-<round>``.

    Example
    -------
    >>> cc = loadgen_crosscheck("rapidocr:cls", input_shapes={"x": (1, 3, 48, 192)},
    ...                         query_count=300)  # doctest: +SKIP
    >>> cc.all_agree  # doctest: +SKIP
    True
    """

    sess = model if hasattr(model, "run") else open_session(model, session_config)
    feeds = feeds if feeds is not None else make_feeds(sess, input_shapes)
    run = sess.run

    def infer() -> None:
        run(None, feeds)

    per_block = max(query_count // max(rounds, 1), 1)
    checks: dict[str, ScenarioCheck] = {}
    for sc in scenarios:
        check = checks[sc] = ScenarioCheck(sc, [], [])
        for r in range(rounds):
            for side in (("harness", "loadgen") if r % 2 == 0 else ("loadgen", "harness")):
                for _ in range(warmup_iters):  # both sides start warm
                    infer()
                if side == "harness" and sc == "SingleStream":
                    check.harness_runs.append(session_loop(
                        sess, feeds, warmup_iters=warmup_iters, iters=per_block,
                        target_percentile=max(percentiles), confidence=confidence))
                elif side == "harness":
                    check.harness_runs.append(open_loop(
                        infer, Poisson(server_target_qps, seed=seed + r), n_requests=per_block,
                        deadline_ms=server_target_latency_ms, warmup_iters=warmup_iters,
                        confidence=confidence))
                else:
                    expected = int(np.median(check.harness_runs[-1].steady_ns)) \
                        if check.harness_runs and sc == "SingleStream" else 1_000_000
                    check.loadgen_runs.append(run_loadgen(
                        infer, scenario=sc, query_count=per_block, target_qps=server_target_qps,
                        expected_latency_ns=max(expected, 1), seed=seed + r,
                        target_latency_ns=None if server_target_latency_ms is None
                        else int(server_target_latency_ms * 1e6),
                        log_dir=None if log_dir is None else Path(log_dir) / f"{sc}-{r}"))
    agreements = [compare(c, p, confidence) for c in checks.values() for p in percentiles]
    settings = session_settings(sess) | {
        "query_count": query_count, "rounds": rounds, "queries_per_block": per_block,
        "order": "ABBA (harness, LoadGen, LoadGen, harness, ...)", "seed": seed,
        "server_target_qps": server_target_qps,
        "server_target_latency_ms": server_target_latency_ms, "confidence": confidence}
    return CrossCheck(str(settings.get("model_path")), settings, checks, agreements)
