"""edgetiming.measure.omission: one injected stall, counted by a closed and an open loop."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from edgetiming.measure.omission import StallDemo, Stalling, stall_demo

MS = 1_000_000


def test_stalling_pauses_once_before_the_chosen_call(monkeypatch) -> None:
    slept = []
    monkeypatch.setattr("edgetiming.measure.omission.time.sleep", slept.append)
    s = Stalling(lambda: 7, at=3, stall_ms=40.0)
    assert [s() for _ in range(5)] == [7] * 5
    assert slept == [0.04] and s.calls == 5


def _demo(closed_ms, open_ms, *, stall_ms=100.0, rate_hz=200.0) -> StallDemo:
    closed = SimpleNamespace(steady_ns=np.asarray(closed_ms, dtype=np.int64) * MS)
    opened = SimpleNamespace(response_with_drops_ns=np.asarray(open_ms, dtype=np.int64) * MS)
    return StallDemo(closed, opened, stall_ms, rate_hz)  # type: ignore[arg-type]


def test_counts_and_verdict_from_the_samples() -> None:
    # 100 ms stall at 200/s: 10 requests were intended during its first 50 ms.
    open_ms = [2] * 40 + [100, 95, 90, 85, 80, 75, 70, 65, 60, 55, 50, 45] + [2] * 40
    d = _demo([2] * 49 + [102] + [2] * 50, open_ms)
    assert d.expected_delayed == 10
    assert d.delayed("closed loop") == 1 and d.delayed("open loop") == 11
    assert d.quantile_ms("closed loop", 0.5) == 2.0
    assert d.open_loop_counts_stall
    hidden = _demo([2] * 100, [2] * 99 + [102])  # an open loop that saw the stall as one slow request
    assert hidden.delayed("open loop") == 1 and not hidden.open_loop_counts_stall


def test_a_real_stall_delays_one_closed_sample_and_several_open_requests() -> None:
    d = stall_demo(lambda: None, stall_ms=60.0, rate_hz=200.0, closed_iters=60, n_requests=60)
    assert d.closed.steady_ns.size == 60 and d.open.n_requests == 60
    assert d.delayed("closed loop") >= 1  # the stall itself (more only if the machine preempted us)
    assert d.latency_ns("closed loop")[29] >= 60 * MS  # the stall is at steady index iters // 2 - 1
    assert d.expected_delayed == 6 and d.open_loop_counts_stall
