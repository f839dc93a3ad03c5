"""The built site in a real browser: Debian's Chromium driven by Playwright, served on localhost.

The site is the real one (guides, recipes, runners, case studies) built from
quick runs of every recipe. Screenshots of key pages are kept under
``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import threading
from collections import deque
from pathlib import Path
from urllib.parse import urljoin, urlparse

import jupytext
import pytest

from edgetiming.run import recipe as recipes

from ..conftest import ROOT

playwright_sync = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
RECIPES = [p.stem for p in recipes.discover(ROOT / "recipes")]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base_url(real_site: Path):
    handler = functools.partial(_Quiet, directory=str(real_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), "Chromium is missing: ./scripts/test installs Debian's chromium package"
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def test_home_loads_without_console_errors(page, base_url):
    page.goto(base_url)
    assert "edgetiming" in page.title()
    assert page.locator("h1").first.inner_text().strip()
    shot(page, "home")
    assert page.errors == []


def test_navigation_reaches_every_section(page, base_url):
    page.goto(base_url)
    sections = ["Guides", "Recipes", "Runners"]
    if (ROOT / "case_studies").is_dir():
        sections.append("Case studies")
    for section in sections:
        page.goto(base_url)
        link = page.locator(".md-nav--primary").get_by_role("link", name=section, exact=True).first
        if not link.count():  # a section shown as a label: its index page is its first link
            link = page.locator(".md-nav--primary label", has_text=section).first
            link.click()
            link = page.locator(f'.md-nav--primary a[href*="{section.lower().replace(" ", "-")}/index.html"]').first
        link.click()
        page.wait_for_load_state("load")
        assert section.lower().replace(" ", "-") in page.url, (section, page.url)
        assert page.locator("h1").count() == 1
    assert page.errors == []


def _guide_word() -> tuple[str, str]:
    """A distinctive word from the body (not the title) of a guide, and that guide's path."""
    for md in sorted((ROOT / "docs" / "guides").rglob("*.md")):
        body = md.read_text().split("\n", 1)[1]
        words = re.findall(r"\b[a-z]{11,}\b", re.sub(r"\{\{.*?\}\}|`[^`]*`|\(.*?\)", " ", body))
        if words:
            return words[0], md.relative_to(ROOT / "docs").with_suffix("").as_posix()
    raise AssertionError("no guide with a long word to search for")


def test_search_finds_a_guide_by_a_word_in_its_body(page, base_url):
    word, _ = _guide_word()
    page.goto(base_url)
    box = page.locator("input.md-search__input")
    box.click()
    box.fill(word)
    results = page.locator(".md-search-result__item")
    results.first.wait_for(timeout=15000)
    hrefs = [a.get_attribute("href") or "" for a in page.locator(".md-search-result__link").all()]
    assert any("guides/" in h for h in hrefs), (word, hrefs)
    shot(page, "search")


@pytest.mark.parametrize("slug", RECIPES)
def test_recipe_page_shows_header_figures_and_downloads(page, base_url, slug):
    page.goto(urljoin(base_url, f"recipes/{slug}.html"))
    header = page.locator(".et-result")
    assert header.count() == 1, f"{slug}: no result header"
    text = header.inner_text()
    assert "quick-runner" in text and "quick" in text and "OK" in text
    figures = page.locator(".et-figure img")
    assert figures.count() >= 1, f"{slug}: no figure"
    for img in figures.all():
        img.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle(), timeout=15000)
        assert img.get_attribute("alt"), f"{slug}: figure without alt text"
    if slug == RECIPES[0]:
        shot(page, f"recipe-{slug}")
    source = (ROOT / "recipes" / f"{slug}.py").read_text()
    got_py = page.request.get(urljoin(base_url, f"recipes/downloads/{slug}.py"))
    assert got_py.ok and got_py.text() == source
    got_nb = page.request.get(urljoin(base_url, f"recipes/downloads/{slug}.ipynb"))
    nb = json.loads(got_nb.text())
    expected = jupytext.reads(source, fmt="py:percent")
    sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in nb["cells"]]
    assert sources == [c.source for c in expected.cells]
    assert page.errors == []


def test_light_dark_toggle(page, base_url):
    page.goto(base_url)
    scheme = lambda: page.evaluate("document.body.getAttribute('data-md-color-scheme')")  # noqa: E731
    before = scheme()
    page.locator("form[data-md-component=palette] label:visible").first.click()
    page.wait_for_function(f"document.body.getAttribute('data-md-color-scheme') !== '{before}'")
    after = scheme()
    assert {before, after} == {"default", "slate"}
    shot(page, "home-dark" if after == "slate" else "home-light")


def _contrast(rgb_a: tuple[float, ...], rgb_b: tuple[float, ...]) -> float:
    def lum(rgb: tuple[float, ...]) -> float:
        chan = [c / 255 for c in rgb[:3]]
        chan = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in chan]
        return 0.2126 * chan[0] + 0.7152 * chan[1] + 0.0722 * chan[2]

    hi, lo = sorted((lum(rgb_a), lum(rgb_b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _rgb(css: str) -> tuple[float, ...]:
    return tuple(float(x) for x in re.findall(r"[\d.]+", css)[:3])


def test_crawl_links_images_headings_alt_and_contrast(page, base_url):
    """Every internal link and image resolves; headings do not skip levels; images have alt text;
    the project's own badges have a contrast ratio of at least 4.5:1."""
    seen: set[str] = set()
    queue = deque([base_url])
    problems: list[str] = []
    files_checked: set[str] = set()
    while queue:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        response = page.goto(url)
        if response is None or not response.ok:
            problems.append(f"{url}: HTTP {response.status if response else 'no response'}")
            continue
        levels = page.evaluate("[...document.querySelectorAll('article h1, article h2, article h3, article h4, article h5, article h6')].map(h => +h.tagName[1])")
        for prev, cur in zip(levels, levels[1:]):
            if cur > prev + 1:
                problems.append(f"{url}: heading level jumps from h{prev} to h{cur}")
                break
        if levels and levels[0] != 1:
            problems.append(f"{url}: first heading is h{levels[0]}, not h1")
        for img in page.evaluate("[...document.querySelectorAll('article img')].map(i => [i.getAttribute('src'), i.getAttribute('alt')])"):
            src, alt = img
            if not alt or not alt.strip() or alt.startswith("No description"):
                problems.append(f"{url}: image {src[:60]} has no alt text")
            if src and not src.startswith("data:"):
                target = urljoin(url, src)
                if target not in files_checked:
                    files_checked.add(target)
                    got = page.request.get(target)
                    if not got.ok:
                        problems.append(f"{url}: image {src} -> HTTP {got.status}")
        for fg, bg in page.evaluate(
            "[...document.querySelectorAll('.et-status, .et-verdict, .et-mode')].map(e => "
            "[getComputedStyle(e).color, getComputedStyle(e).backgroundColor])"
        ):
            ratio = _contrast(_rgb(fg), _rgb(bg))
            if ratio < 4.5:
                problems.append(f"{url}: badge contrast {ratio:.2f} < 4.5 ({fg} on {bg})")
        for href in page.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))"):
            target = urljoin(url, href).split("#")[0]
            if urlparse(target).netloc != urlparse(base_url).netloc:
                continue
            if target.endswith(".html") or target.endswith("/"):
                if target not in seen:
                    queue.append(target)
            elif target not in files_checked:
                files_checked.add(target)
                got = page.request.get(target)
                if not got.ok:
                    problems.append(f"{url}: link {href} -> HTTP {got.status}")
    assert len(seen) > 10
    assert problems == [], "\n".join(problems[:40])
    assert page.errors == []


def test_case_study_table_sorts_and_filters(page, base_url):
    page.goto(urljoin(base_url, "case-studies/index.html"))
    table = page.locator(".et-cs-index table")
    rows = table.locator("tbody tr")
    n = rows.count()
    assert n >= 3, "the seed collection has at least three case studies"

    def column(i: int) -> list[str]:
        return [r.locator("td").nth(i).inner_text().strip() for r in rows.all() if r.is_visible()]

    def number(text: str) -> float:
        return float(re.search(r"-?\d+(?:\.\d+)?", text.replace("\u2212", "-").replace(",", "")).group())

    header = table.locator("thead th").nth(4)  # P99 before
    header.click()
    ascending = [number(t) for t in column(4)]
    assert ascending == sorted(ascending) and header.get_attribute("aria-sort") == "ascending"
    header.click()
    descending = [number(t) for t in column(4)]
    assert descending == sorted(descending, reverse=True)

    # filter by free text: the first row's model name keeps only rows mentioning it
    first_name = column(0)[0]
    page.locator(".et-cs-controls input[type=search]").fill(first_name)
    visible = [r for r in rows.all() if r.is_visible()]
    assert 1 <= len(visible) < n and all(first_name in r.inner_text() for r in visible)
    assert f"of {n} shown" in page.locator(".et-cs-count").inner_text()
    page.locator(".et-cs-controls input[type=search]").fill("")
    # filter by technique
    select = page.locator(".et-cs-controls select").nth(1)
    options = [o for o in select.locator("option").all_inner_texts() if o != "all"]
    select.select_option(options[0])
    shown = column(2)
    assert shown and all(options[0] in t for t in shown)
    shot(page, "case-studies")
    assert page.errors == []
