"""Batching servers: the batch-forming decision (pure, exact) and the threaded server (invariants only).

No test asserts a wall-clock duration: the machine running the suite is shared and slow.
The threaded tests check counts, orderings and lower bounds that hold however late a
thread wakes up.
"""

from __future__ import annotations

import doctest
import json
import threading
import time
import types

import numpy as np
import pytest

from edgetiming.measure import batching
from edgetiming.measure.batching import (
    BatchPolicy,
    PooledItems,
    next_batch,
    report_served,
    report_sweep,
    serve,
)
from edgetiming.measure.openloop import Periodic, Poisson

MS = 1_000_000


# --------------------------------------------------------------------------- policy
def test_policy_validation():
    with pytest.raises(ValueError, match="kind"):
        BatchPolicy("greedy", 2)
    with pytest.raises(ValueError, match="max_batch"):
        BatchPolicy.fixed(0)
    with pytest.raises(ValueError, match="timeout_ms"):
        BatchPolicy("dynamic", 4)
    with pytest.raises(ValueError, match="dynamic"):
        BatchPolicy("fixed", 4, 1.0)
    with pytest.raises(ValueError, match="single"):
        BatchPolicy("single", 2)
    assert BatchPolicy.single().label == "one at a time"
    assert BatchPolicy.fixed(8).label == "fixed batches of 8"
    assert BatchPolicy.dynamic(8, timeout_ms=2.5).to_dict()["timeout_ms"] == 2.5


# --------------------------------------------------------------------------- decision
@pytest.mark.parametrize("closed", [False, True])
def test_single_takes_one_whenever_one_waits(closed):
    p = BatchPolicy.single()
    assert next_batch(p, 0, None, 0, closed) == (0, None)
    assert next_batch(p, 1, 0, 0, closed) == (1, None)
    assert next_batch(p, 5, 0, 0, closed) == (1, None)


def test_fixed_waits_for_a_full_batch_and_flushes_only_at_the_end():
    p = BatchPolicy.fixed(4)
    assert next_batch(p, 3, 0, 10**12, closed=False) == (0, None)  # however long it waited
    assert next_batch(p, 4, 0, 0, closed=False) == (4, None)
    assert next_batch(p, 9, 0, 0, closed=False) == (4, None)
    assert next_batch(p, 3, 0, 0, closed=True) == (3, None)


def test_dynamic_fills_or_times_out_from_the_oldest_item():
    p = BatchPolicy.dynamic(4, timeout_ms=2.0)
    assert next_batch(p, 4, 0, 0, closed=False) == (4, None)
    assert next_batch(p, 6, 0, 0, closed=False) == (4, None)
    assert next_batch(p, 1, 10 * MS, 10 * MS, closed=False) == (0, 2 * MS)
    assert next_batch(p, 3, 10 * MS, 11 * MS, closed=False) == (0, 1 * MS)
    assert next_batch(p, 3, 10 * MS, 12 * MS, closed=False) == (3, None)
    # the end of the stream does not shorten the timeout: the server cannot know it
    assert next_batch(p, 2, 10 * MS, 11 * MS, closed=True) == (0, 1 * MS)
    # a zero timeout is "take whatever is there"
    assert next_batch(BatchPolicy.dynamic(4, timeout_ms=0.0), 2, 0, 0, False) == (2, None)


# --------------------------------------------------------------------------- server
class FakeModel:
    """Sleeps a + b*k ms per batch and records the batch sizes it was called with."""

    def __init__(self, base_ms=0.3, per_item_ms=0.1):
        self.base_ms, self.per_item_ms = base_ms, per_item_ms
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, k: int) -> None:
        with self.lock:
            self.calls.append(k)
        time.sleep((self.base_ms + self.per_item_ms * k) / 1e3)


def check_invariants(run, n, max_batch):
    assert run.n_requests == n
    assert run.completed.all()
    assert (run.batch_index >= 0).all()
    assert run.batch_sizes.sum() == n
    assert run.batch_sizes.max() <= max_batch
    # every item went out in exactly one batch of the recorded size
    counts = np.bincount(run.batch_index, minlength=run.batch_sizes.size)
    np.testing.assert_array_equal(counts, run.batch_sizes)
    # timestamps are ordered per item: intended <= queued <= issued < done
    assert (run.queued_ns >= run.intended_ns).all()
    assert (run.issued_ns >= run.queued_ns).all()
    assert (run.done_ns > run.issued_ns).all()
    # latency counts from the intended arrival and includes the batch's service time
    np.testing.assert_array_equal(run.response_ns, run.done_ns - run.intended_ns)
    service_per_item = run.batch_service_ns[run.batch_index]
    assert (run.response_ns >= service_per_item).all()
    # batches are issued in order and never overlap (one server)
    first = np.array([run.issued_ns[run.batch_index == b].min() for b in range(run.batch_sizes.size)])
    last = np.array([run.done_ns[run.batch_index == b].max() for b in range(run.batch_sizes.size)])
    assert (np.diff(first) > 0).all()
    assert (first[1:] >= last[:-1]).all()


def test_single_serves_every_item_alone():
    model = FakeModel()
    run = serve(model, Poisson(rate_hz=500, seed=1), policy=BatchPolicy.single(), n_requests=60,
                warmup_rounds=1)
    check_invariants(run, 60, 1)
    assert set(run.batch_sizes.tolist()) == {1}
    assert model.calls[:1] == [1]  # warmup of the only batch size
    assert not run.flushed.any()


def test_fixed_batches_are_full_except_the_flagged_final_flush():
    model = FakeModel()
    run = serve(model, Periodic(period_ms=0.5), policy=BatchPolicy.fixed(4), n_requests=30,
                warmup_rounds=1)
    check_invariants(run, 30, 4)
    assert (run.batch_sizes[:-1] == 4).all()
    assert run.batch_sizes[-1] == 2  # 30 = 7 * 4 + 2, flushed when the stream ended
    assert run.flushed.sum() == 2 and run.flushed[-2:].all()
    # warmup ran every batch size once before the schedule
    assert model.calls[:4] == [1, 2, 3, 4]
    assert set(run.warmup_ns) == {1, 2, 3, 4}
    # the first item of a full batch waited at least until the batch's last item arrived
    full = run.batch_index[:28]
    for b in range(7):
        items = np.flatnonzero(full == b)
        assert run.issued_ns[items].min() >= run.intended_ns[items].max()


def test_dynamic_never_waits_much_longer_than_its_timeout_for_a_lone_item():
    # arrivals far apart: each item is alone, goes out after its timeout
    run = serve(FakeModel(), Periodic(period_ms=20.0), policy=BatchPolicy.dynamic(8, timeout_ms=2.0),
                n_requests=8, warmup_rounds=0)
    check_invariants(run, 8, 8)
    lone = run.item_batch_size == 1
    # issued no earlier than the timeout after queue entry (a lower bound: holds on a slow machine)
    assert (run.issued_ns[lone] - run.queued_ns[lone] >= 2 * MS).all()


def test_dynamic_fills_batches_when_items_pile_up():
    # all items intended at once (a burst): the server must take full batches
    class Burst(Periodic):
        def offsets_ns(self, n):
            return np.zeros(n, dtype=np.int64)

    run = serve(FakeModel(), Burst(period_ms=1.0), policy=BatchPolicy.dynamic(4, timeout_ms=50.0),
                n_requests=16, warmup_rounds=0)
    check_invariants(run, 16, 4)
    assert run.batch_sizes.max() == 4


def test_server_error_is_raised_in_the_caller():
    def broken(k):
        if k == 2:
            raise RuntimeError("model failed")

    with pytest.raises(RuntimeError, match="model failed"):
        serve(broken, Periodic(period_ms=0.2), policy=BatchPolicy.fixed(2), n_requests=10,
              warmup_rounds=0)


def test_run_metrics_and_dict_are_json_ready():
    run = serve(FakeModel(), Poisson(rate_hz=400, seed=3), policy=BatchPolicy.dynamic(4, timeout_ms=1.0),
                n_requests=40, deadline_ms=1000.0, warmup_rounds=1)
    m = run.miss_rate()
    assert m.n == 40 and m.misses == 0  # nothing can take a second here
    assert run.miss_rate(deadline_ms=0.0).misses == 40
    assert 0 < run.utilization <= 1.0
    assert run.throughput_hz > 0 and run.offered_rate_hz > 0
    d = json.loads(json.dumps(run.to_dict(), allow_nan=False))
    assert d["kind"] == "batched_open_loop" and d["n_requests"] == 40
    assert sum(d["batch_size_counts"].values()) == d["n_batches"]
    assert d["policy"]["kind"] == "dynamic"


def test_miss_rate_needs_a_deadline():
    run = serve(FakeModel(), Periodic(period_ms=1.0), policy=BatchPolicy.single(), n_requests=3,
                warmup_rounds=0)
    with pytest.raises(ValueError, match="deadline_ms"):
        run.miss_rate()


def test_doctests():
    result = doctest.testmod(batching)
    assert result.failed == 0 and result.attempted > 0


# --------------------------------------------------------------------------- summaries over rounds
def _reported(out_dir, kind):
    path = out_dir / f"{kind}.jsonl"
    return {json.loads(line)["name"]: json.loads(line) for line in path.read_text().splitlines()}


def test_report_sweep_reports_every_batch_size_and_the_items_per_second(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGETIMING_OUTPUT_DIR", str(tmp_path))
    rng = np.random.default_rng(1)
    # batch b takes b ms plus noise; two rounds of 400 batches each
    runs = {b: [types.SimpleNamespace(steady_ns=(b * MS * rng.uniform(0.95, 1.05, 400)).astype(np.int64))
                for _ in range(2)] for b in (1, 2, 4)}
    pts = report_sweep(runs, 0.99, name="sweep")
    assert sorted(pts) == [1, 2, 4]
    assert pts[4].items_per_s == pytest.approx(1000.0, rel=0.02)  # b / (b ms) per item
    assert len(pts[2].items_per_s_by_round) == 2 and pts[2].n == 800
    assert pts[4].p50.value == pytest.approx(4.0, rel=0.05) and pts[4].tail.value >= pts[4].p50.value
    metrics = _reported(tmp_path, "metrics")
    for b in (1, 2, 4):
        assert {f"sweep.b{b}.p50_ms", f"sweep.b{b}.p99_ms", f"sweep.b{b}.items_per_s"} <= set(metrics)
        assert metrics[f"sweep.b{b}.items_per_s"]["runs"] == 2
    assert set(_reported(tmp_path, "samples")) == {"sweep.b1", "sweep.b2", "sweep.b4"}


def test_report_served_pools_rounds_and_counts_misses(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGETIMING_OUTPUT_DIR", str(tmp_path))
    runs = [serve(FakeModel(), Periodic(period_ms=2.0), policy=BatchPolicy.single(), n_requests=30,
                  deadline_ms=1000.0, warmup_rounds=0) for _ in range(2)]
    s = report_served("single.load-0.5", runs, label="single at load 0.5", percentile=0.99)
    assert s.n == 60 and s.misses == 0 and s.miss_rate == 0.0 and s.miss_ci[0] == 0.0 < s.miss_ci[1]
    assert len(s.offered_hz) == len(s.served_hz) == 2 and s.mean_batch == 1.0
    assert s.tail.runs == 2 and s.tail.value >= s.p50.value > 0
    metrics = _reported(tmp_path, "metrics")
    assert {"single.load-0.5.p99_ms", "single.load-0.5.served_hz", "single.load-0.5.miss_rate"} <= set(metrics)
    assert metrics["single.load-0.5.miss_rate"]["n"] == 60
    assert "single.load-0.5.response" in _reported(tmp_path, "samples")


def test_pooled_items_see_what_a_dynamic_batcher_waits_for():
    # a lone item waits the whole timeout; a pair leaves as soon as the second arrives
    run = serve(FakeModel(base_ms=0.2, per_item_ms=0.0), Periodic(period_ms=20.0),
                policy=BatchPolicy.dynamic(2, timeout_ms=5.0), n_requests=6, warmup_rounds=0)
    pool = PooledItems.of([run, run], window_ms=5.0)
    assert pool.response_ns.size == 12 and (pool.later == 0).all()  # 20 ms apart: nobody within 5 ms
    assert pool.idle.all() and set(pool.by_batch_ms()) == {1}
    assert (pool.response_ns >= 5 * MS).all()  # every item waited out the timeout alone
    assert pool.median_spread_ms() == 0.0  # one batch size: no spread
    assert pool.future_dependence() is None  # later arrivals do not vary
    # a planted dependence: response grows with the number of later arrivals
    later = np.repeat(np.arange(5), 4)
    planted = PooledItems(later * MS + 1, np.ones(20, dtype=np.int64), np.ones(20, dtype=bool), later)
    assert planted.future_dependence() == pytest.approx(1.0)
