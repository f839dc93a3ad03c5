"""The "Run it on this device" page in Debian's Chromium: it measures the classifier with
onnxruntime-web, and its numbers, verdict and case study hold up against Python.

The page is built by MkDocs into a small site holding only that page (the real page, its
JavaScript and ``docs/webbench/`` as ``edgetiming site`` writes it from the committed
reference bundles), so the test needs no recipe runs. The browser's median is compared
with native onnxruntime on the same model, input and thread count; the ratio is printed,
not asserted (no wall-clock assertions).
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from edgetiming.results import store
from edgetiming.results.result import typed_bundles
from edgetiming.site import webbench
from edgetiming.stats import quantiles as stats
from edgetiming.workload import models

from ..conftest import ROOT

playwright_sync = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PAGE = "guides/measurement/run-on-this-device.html"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def mini_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("webbench-project")
    docs = project / "docs"
    (docs / "guides" / "measurement").mkdir(parents=True)
    shutil.copytree(ROOT / "docs" / "javascripts", docs / "javascripts")
    shutil.copytree(ROOT / "docs" / "stylesheets", docs / "stylesheets")
    shutil.copyfile(ROOT / "docs" / "guides" / "measurement" / "run-on-this-device.md",
                    docs / "guides" / "measurement" / "run-on-this-device.md")
    (docs / "index.md").write_text("# edgetiming\n", encoding="utf-8")
    bundles, problems = store.merge_results_dirs([ROOT / "reference"])
    assert not problems, problems
    webbench.write_assets(docs, typed_bundles(bundles), project_dir=ROOT)
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    config.update(docs_dir=str(docs), site_dir=str(project / "site"), strict=False,
                  nav=[{"Home": "index.md"}, {"Run it on this device": "guides/measurement/run-on-this-device.md"}],
                  plugins=["search"])
    (project / "mkdocs.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(project / "mkdocs.yml")],
                          capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return project / "site"


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm"}

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base_url(mini_site: Path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(mini_site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), "Chromium is missing: ./scripts/test installs Debian's chromium package"
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                     "--disable-background-networking", "--disable-component-update", "--no-first-run"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()


def _open(page, base_url: str, query: str) -> None:
    page.goto(base_url + PAGE + query)
    page.wait_for_function("() => window.edgetimingWebbench && window.edgetimingWebbench.status !== 'idle'", timeout=30000)
    assert page.evaluate("window.edgetimingWebbench.status") == "ready", page.locator(".et-wb-status").inner_text()
    page.fill(".et-wb-device", "CI container")
    page.select_option(".et-wb-hwclass", "x86-server")
    page.fill(".et-wb-author", "edgetiming test suite")


def _wait_end(page, timeout_ms: int = 600_000) -> str:
    page.wait_for_function("() => !['running', 'ready'].includes(window.edgetimingWebbench.status)", timeout=timeout_ms)
    return page.evaluate("window.edgetimingWebbench.status")


def _native_median_ms(model_path: Path, shape: list[int], threads: int, iters: int = 300) -> float:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
    size = int(np.prod(shape))
    # the page's input: ((i * 2654435761) mod 2^32) / 2^32 * 2 - 1 (webbench-worker.js)
    x = (((np.arange(size, dtype=np.uint64) * 2654435761) % 2**32) / 2**32 * 2 - 1).astype(np.float32).reshape(shape)
    feeds = {session.get_inputs()[0].name: x}
    for _ in range(20):
        session.run(None, feeds)
    times = np.empty(iters, dtype=np.int64)
    for i in range(iters):
        t0 = time.perf_counter_ns()
        session.run(None, feeds)
        times[i] = time.perf_counter_ns() - t0
    return stats.quantile(times / 1e6, 0.5)


def test_page_measures_the_classifier_and_its_case_study_validates(page, base_url, mini_site, tmp_path):
    _open(page, base_url, "?iterations=400&warmup_iters=10&frames=60&rate_hz=30")
    page.click(".et-wb-run")
    status = _wait_end(page)
    assert status == "done", page.locator(".et-wb-status").inner_text()
    res = page.evaluate("""() => { const r = window.edgetimingWebbench.result;
        return {closed: r.run.closed, warmup: r.run.warmup, periodic: r.run.periodic, timer: r.run.timer,
                threads: r.run.threads, env: r.env, params: r.params, verdict: r.verdict.verdict,
                periodicVerdict: r.periodicVerdict.verdict,
                ests: r.closed.map(q => ({p: q.p, value: q.value, lower: q.lower, upper: q.upper, lr: q.lowerRank,
                                          ur: q.upperRank, below: q.belowResolution}))}; }""")
    closed = np.array(res["closed"]["all"])
    assert closed.size == 400 and len(res["closed"]["disabled"]) == 400
    assert len(res["warmup"]["all"]) == 10 and len(res["periodic"]["responseMs"]) == 60
    assert np.all(closed > 0)
    resolution = res["timer"]["medianMs"]
    assert 0 < resolution < 1, f"timer resolution {resolution} ms"
    # the page's intervals are Python's, on the samples the page reports
    for est in res["ests"]:
        q = stats.quantile_ci(closed, est["p"])
        assert (est["value"], est["lr"], est["ur"]) == (q.value, q.lower_rank, q.upper_rank)
        assert (est["lower"], est["upper"]) == (q.lower, q.upper)
        assert est["below"] == bool(q.upper - q.lower < resolution)
    # and so is the verdict (slo_verdict takes nanoseconds; compare with the same rule on ms)
    p, deadline = res["params"]["percentile"], res["params"]["deadlineMs"]
    q = stats.quantile_ci(closed, p)
    expected = "PASS" if q.upper <= deadline else "FAIL" if q.lower > deadline else "INCONCLUSIVE"
    assert res["verdict"] == expected
    shown = page.locator(".et-wb-verdict").inner_text()
    assert shown.startswith(expected)
    p50 = stats.quantile_ci(closed, 0.5).value
    cell = page.locator(".et-wb-table").first.locator("tr[data-p='0.5'] td").first.inner_text()
    assert float(cell) == pytest.approx(p50, abs=0.0005 if p50 < 10 else 0.05)
    assert "Timer resolution" in page.locator(".et-wb-timer").inner_text()
    backend = page.locator(".et-wb-backend").inner_text()
    assert "WebAssembly" in backend and "cross-origin isolated: no" in backend
    # the comparison: one row per runner setting in the manifest, plus this device
    manifest = json.loads((mini_site / "webbench" / "manifest.json").read_text(encoding="utf-8"))
    runners = next(m for m in manifest["models"] if m["key"] == "cls")["runners"]
    assert runners, "the reference bundles hold threads-and-kernels on the classifier"
    assert page.locator(".et-wb-chart circle").count() == 2 * (1 + len(runners))
    assert page.locator(".et-wb-ratios tr").count() == 1 + len(runners)
    # the case study
    with page.expect_download() as info:
        page.click(".et-wb-download")
    data = Path(info.value.path()).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        zf.extractall(tmp_path / "case_studies")
    (folder,) = [d for d in (tmp_path / "case_studies").iterdir() if d.is_dir()]
    after = np.loadtxt(folder / "after.csv", skiprows=1)
    assert after.size == 400 and np.allclose(after, closed, atol=5e-5)
    done = subprocess.run([sys.executable, "-m", "edgetiming.cli", "validate", str(folder)],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert done.returncode == 0, done.stdout + done.stderr
    # browser against native onnxruntime, same model, input and threads on this machine: printed
    native = _native_median_ms(models.resolve("rapidocr:cls"), [1, 3, 48, 192], res["threads"])
    browser_median = stats.quantile(closed, 0.5)
    print(f"\nclassifier 1x3x48x192, {res['threads']} thread(s): browser P50 {browser_median:.3f} ms, "
          f"native onnxruntime P50 {native:.3f} ms, browser/native {browser_median / native:.2f}")
    assert page.errors == []


def test_a_model_whose_hash_does_not_match_is_never_run(page, base_url):
    def corrupt(route):
        body = bytearray(route.fetch().body())
        body[len(body) // 2] ^= 0xFF
        route.fulfill(status=200, body=bytes(body), headers={"content-type": "application/octet-stream"})

    page.route("**/webbench/models/*.onnx", corrupt)
    _open(page, base_url, "?iterations=10&warmup_iters=0&frames=1")
    page.click(".et-wb-run")
    assert _wait_end(page, 60_000) == "error"
    assert page.evaluate("window.edgetimingWebbench.error.kind") == "hash"
    assert "does not match" in page.locator(".et-wb-status").inner_text()
    assert page.locator(".et-wb-result").is_hidden()
    assert page.evaluate("window.edgetimingWebbench.result") is None


def test_a_tab_hidden_mid_run_makes_the_run_invalid(page, base_url):
    _open(page, base_url, "?iterations=100000&warmup_iters=0&frames=1")
    page.click(".et-wb-run")
    page.wait_for_function("() => /closed loop/.test(document.querySelector('.et-wb-status').textContent)", timeout=60000)
    page.evaluate("""() => { Object.defineProperty(document, 'hidden', {value: true, configurable: true});
                             document.dispatchEvent(new Event('visibilitychange')); }""")
    assert _wait_end(page, 10_000) == "invalid"
    assert "hidden" in page.locator(".et-wb-status").inner_text()
    assert page.locator(".et-wb-result").is_hidden()


def test_cancel_shows_no_partial_result(page, base_url):
    _open(page, base_url, "?iterations=100000&warmup_iters=0&frames=1")
    page.click(".et-wb-run")
    page.wait_for_function("() => /closed loop/.test(document.querySelector('.et-wb-status').textContent)", timeout=60000)
    page.click(".et-wb-cancel")
    assert _wait_end(page, 30_000) == "error"
    assert page.evaluate("window.edgetimingWebbench.error.kind") == "cancelled"
    assert page.locator(".et-wb-result").is_hidden()
