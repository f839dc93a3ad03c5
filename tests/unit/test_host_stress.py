"""edgetiming.host.stress: stressors start, are logged alive, and never outlive their block."""

from __future__ import annotations

import pytest

from edgetiming.host.stress import stress


def test_cpu_stressor_runs_for_the_block_and_is_stopped():
    log: list[tuple[str, bool]] = []
    with stress("cpu", processes=1, max_s=30, log=log, label="demo") as procs:
        assert len(procs) == 1 and procs[0].poll() is None
    assert log == [("demo", True)]
    assert procs[0].poll() is not None  # terminated when the block ended


def test_no_kind_starts_nothing_and_logs_nothing():
    log: list[tuple[str, bool]] = []
    with stress(None, log=log) as procs:
        assert procs == []
    assert log == []


def test_unknown_kind_names_the_choices():
    with pytest.raises(ValueError, match="'cpu', 'memory'"), stress("disk"):
        pass
