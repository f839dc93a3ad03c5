"""History of metrics across runs: appended by the executor, merged, and regressions found in it."""

from __future__ import annotations

import numpy as np

from edgetiming.results import history
from edgetiming.run import executor
from edgetiming.stats import quantiles as stats


def _entry(i: int, p99_ns: np.ndarray, *, version: str = "v1", mode: str = "full") -> dict:
    est = stats.quantile_ci(p99_ns, 0.99)
    metric = {"value": est.value / 1e6, "ci": [est.lower / 1e6, est.upper / 1e6], "unit": "ms", "valid": True}
    return {"schema_version": 1, "recipe": "r", "recipe_version": version, "mode": mode, "status": "OK",
            "started_at": f"2026-11-{i + 1:02d}T00:00:00+00:00", "cache_key": f"{i:064d}", "git_sha": f"sha{i}",
            "metrics": {"steady.p99_ms": metric}}


def test_noise_is_not_flagged_and_a_real_step_is():
    rng = np.random.default_rng(7)
    base = [_entry(i, rng.lognormal(np.log(10e6), 0.2, 2000)) for i in range(20)]
    assert history.find_regressions(base) == []
    stepped = base + [_entry(20, rng.lognormal(np.log(13e6), 0.2, 2000))]
    (found,) = history.find_regressions(stepped)
    assert found.metric == "steady.p99_ms" and found.ratio > 1.2 and found.ratio_low > 1.05
    assert "regression on board: r steady.p99_ms" in found.message("board")
    assert "git sha19 -> sha20" in found.message("board")


def test_runs_of_other_versions_or_modes_are_not_compared():
    rng = np.random.default_rng(3)
    a = _entry(0, rng.lognormal(np.log(10e6), 0.1, 2000))
    b = _entry(1, rng.lognormal(np.log(20e6), 0.1, 2000), version="v2")
    c = _entry(2, rng.lognormal(np.log(20e6), 0.1, 2000), mode="quick")
    assert history.find_regressions([a, b, c]) == []


def test_executor_appends_one_line_per_executed_run(tmp_path, recipe_copy):
    path = recipe_copy("passes.py")
    options = executor.RunOptions(results_dir=tmp_path, runner="h")
    executor.run_recipes([path], options)
    executor.run_recipes([path], options)  # cached: nothing appended
    executor.run_recipes([path], executor.RunOptions(results_dir=tmp_path, runner="h", force=True))
    entries = history.load(tmp_path / "h")
    assert [e["recipe"] for e in entries] == ["passes", "passes"]
    assert entries[0]["metrics"]["n_values"]["value"] == 10
    assert history.merge([entries, entries, entries[:1]]) == entries


def test_a_run_never_drops_history_lines_it_cannot_read(tmp_path, recipe_copy):
    path = recipe_copy("passes.py")
    options = executor.RunOptions(results_dir=tmp_path, runner="h")
    executor.run_recipes([path], options)
    file = tmp_path / "h" / history.HISTORY_FILE
    damaged = '{"schema_version": 1, "recipe": "pass'
    newer = '{"schema_version": 2, "recipe": "passes", "from": "a newer edgetiming"}'
    file.write_text(file.read_text() + damaged + "\n" + newer + "\n")
    executor.run_recipes([path], executor.RunOptions(results_dir=tmp_path, runner="h", force=True))
    lines = file.read_text().splitlines()
    assert damaged in lines and newer in lines and len(lines) == 4
    problems: list[str] = []
    assert len(history.load(tmp_path / "h", problems)) == 2
    assert len(problems) == 2 and "line 3: not JSON" in problems[0] and "line 4: schema_version 2" in problems[1]
    assert all("kept in the file" in p for p in problems)


# --------------------------------------------------------------------------- history carried between published sites
import contextlib  # noqa: E402
import functools  # noqa: E402
import http.server  # noqa: E402
import json  # noqa: E402
import threading  # noqa: E402

import pytest  # noqa: E402


@contextlib.contextmanager
def _http(folder, *, status: int | None = None):
    """A real HTTP server on localhost serving ``folder`` (or answering ``status`` to everything)."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the stdlib's name)
            if status is not None:
                self.send_error(status)
            else:
                super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _published(tmp_path, histories):
    site_dir = tmp_path / "published"
    history.write_published(site_dir, histories)
    return site_dir


def test_published_history_round_trips_from_a_folder_and_over_http(tmp_path):
    rng = np.random.default_rng(1)
    entries = {"board-a": [_entry(i, rng.lognormal(np.log(10e6), 0.1, 500)) for i in range(3)],
               "board-b": [_entry(5, rng.lognormal(np.log(10e6), 0.1, 500))]}
    site_dir = _published(tmp_path, entries)
    index = json.loads((site_dir / history.PUBLISHED_DIR / "index.json").read_text())
    assert index["runners"]["board-a"] == {"file": "board-a.jsonl", "entries": 3}
    from_folder, note = history.read_published(site_dir)
    assert from_folder == entries and "4 earlier history entries of 2 runner(s)" in note
    with _http(site_dir) as url:
        from_http, _ = history.read_published(url)
    assert from_http == entries


def test_a_site_without_history_is_a_fresh_start_not_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    assert history.read_published(tmp_path / "empty")[0] == {}
    with _http(tmp_path / "empty") as url:
        found, note = history.read_published(url)
    assert found == {} and "first deployment" in note and "runners/history/index.json" in note


def test_an_unreachable_or_failing_site_stops_the_build(tmp_path):
    with _http(tmp_path, status=503) as url:
        with pytest.raises(history.HistoryError, match=r"HTTP 503.*stops rather than publish a shortened history"):
            history.read_published(url)
    with _http(tmp_path) as url:
        pass  # the server is shut down: nothing listens on that port any more
    with pytest.raises(history.HistoryError, match="Retry later"):
        history.read_published(url, timeout_s=5)


def test_a_torn_or_malformed_published_history_is_refused_with_the_line(tmp_path):
    rng = np.random.default_rng(2)
    site_dir = _published(tmp_path, {"board-a": [_entry(i, rng.lognormal(np.log(10e6), 0.1, 500)) for i in range(2)]})
    path = site_dir / history.PUBLISHED_DIR / "board-a.jsonl"
    good = path.read_text()
    path.write_text(good + '{"schema_version": 1, "recipe": "r"\n')
    with pytest.raises(history.HistoryError, match=r"board-a\.jsonl, line 3: not JSON"):
        history.read_published(site_dir)
    path.write_text(good.replace('"schema_version": 1', '"schema_version": 9', 1))
    with pytest.raises(history.HistoryError, match=r"line 1: schema_version 9, but this edgetiming reads 1"):
        history.read_published(site_dir)
    path.unlink()
    with pytest.raises(history.HistoryError, match="listed in index.json but missing; the published history is torn"):
        history.read_published(site_dir)


def test_a_step_names_what_changed_and_only_changes_are_regressions():
    rng = np.random.default_rng(11)
    before = _entry(0, rng.lognormal(np.log(10e6), 0.1, 2000))
    slower = rng.lognormal(np.log(14e6), 0.1, 2000)
    rerun = dict(_entry(1, slower), cache_key=before["cache_key"], git_sha=before["git_sha"])
    new_commit = _entry(1, slower)  # another cache key and another git sha
    new_inputs = dict(_entry(1, slower), git_sha=before["git_sha"])  # same commit, other cache key
    (a,), (b,), (c,) = (history.find_regressions([before, x]) for x in (rerun, new_commit, new_inputs))
    assert (a.cause, b.cause, c.cause) == ("unchanged", "code", "inputs")
    assert not a.is_regression and b.is_regression and c.is_regression
    assert a.message("board").startswith("shift without a change on board") and "not a regression" in a.message("board")
    assert b.message("board").startswith("regression on board") and "git commit changed" in b.message("board")


def test_history_figures_never_draw_quick_and_full_runs_on_one_line(tmp_path):
    from edgetiming.site import fleet_pages

    rng = np.random.default_rng(5)
    full = [_entry(i, rng.lognormal(np.log(10e6), 0.1, 2000)) for i in range(2)]
    quick = _entry(2, rng.lognormal(np.log(30e6), 0.1, 200), mode="quick")
    made = fleet_pages.history_figures("board", full + [quick], tmp_path)
    name, alt = made["r"]
    assert (tmp_path / name).stat().st_size > 1000
    last_full = full[1]["metrics"]["steady.p99_ms"]["value"]
    assert "over 2 full runs" in alt and alt.endswith(f"to {last_full:.3g} ms")
    assert fleet_pages.history_figures("board", [full[0], quick], tmp_path / "one-each") == {}
