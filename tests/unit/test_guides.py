"""The rules every guide under ``docs/guides/`` follows (issue 6), as fast text checks.

These run over *every* Markdown file below ``docs/guides/``, whoever wrote it, and never
build the site:

1. A guide links to at least one recipe page (``recipes/<slug>.ipynb``) or says why not on
   a line of its own: ``<!-- no-recipe: reason -->``.
2. Every recipe link resolves to ``docs/recipes/<slug>.ipynb`` from the page that holds it
   and ``recipes/<slug>.py`` exists.
3. Every placeholder (``{{ metric("recipe", "name") }}`` and friends) is well formed, the way
   the build hook parses it (:data:`edgetiming.site.mkdocs_hooks.PLACEHOLDER`), and names a
   recipe that exists. Whether the metric itself exists is checked by the build, which has
   the results.
4. No typed latency number: a number followed by a time unit (``12 ms``, ``3.5 µs``,
   ``2 seconds``) outside a placeholder, a code block or inline code must sit in a
   paragraph, list item or table row that carries a citation (a Markdown link or a
   footnote reference ``[^id]``). Measured numbers come from placeholders; outside numbers
   carry their source.
5. No stubs: at least ``MIN_PROSE_WORDS`` words of prose and no "TODO", "TBD", "FIXME" or
   "coming soon".

Each failure names the file, the line and the fix.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgetiming.site.claims import CLAIM
from edgetiming.site.mkdocs_hooks import PLACEHOLDER

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GUIDES = DOCS / "guides"
RECIPES = ROOT / "recipes"

MIN_PROSE_WORDS = 300

NO_RECIPE = re.compile(r"^\s*<!--\s*no-recipe:\s*(\S.*?)\s*-->\s*$", re.MULTILINE)
# Anything that looks like a call in double braces is meant as a placeholder.
CANDIDATE = re.compile(
    r"\{\{\s*[A-Za-z_]\w*\s*\(|\{\{\s*(?:metric|value|figure|check|runner|headlines)\b"
)
ARG = re.compile(r'"([^"]*)"')
# metric/value/figure/check name a recipe and an item; the other kinds (runner, headlines) take none.
TWO_ARG_KINDS = frozenset({"metric", "value", "figure", "check"})
LINK_TARGET = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEFINITION = re.compile(r"^\s*\[[^\]^][^\]]*\]:\s*(\S+)", re.MULTILINE)
RECIPE_TARGET = re.compile(r"(?:^|/)recipes/([A-Za-z0-9_.-]+)\.ipynb(?:#.*)?$")
CITATION = re.compile(r"\]\(|\]\[|\[\^[^\]\s]+\]|<https?://|https?://")
# A number (not glued to a word, so "P99s" or "v2s" are not numbers) followed by a time unit.
LATENCY = re.compile(
    r"(?<![\w.])\d+(?:[.,]\d+)*[\s\u00a0\u202f-]?"
    r"(?:ms|µs|μs|us|ns|s|milliseconds?|microseconds?|nanoseconds?|seconds?)\b"
)
STUB = re.compile(r"\bTODO\b|\bTBD\b|\bFIXME\b|coming soon", re.IGNORECASE)
WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})")
UNIT_START = re.compile(r"^\s*(?:[-*+]\s|\d+[.)]\s|\||#|\[\^[^\]]+\]:|!!!|\?\?\?)")


def guide_pages() -> list[Path]:
    return sorted(GUIDES.rglob("*.md"))


def _rel(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


@dataclass(frozen=True)
class Page:
    """A guide's text, and the same text with code, comments and placeholders blanked."""

    path: Path
    raw: str
    prose: str  # same length and line breaks as ``raw``; masked spans are spaces

    def line_of(self, offset: int) -> int:
        return self.raw.count("\n", 0, offset) + 1


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def _mask(raw: str) -> str:
    text = raw
    # YAML front matter.
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end != -1:
            text = _blank(text, 0, end + 4)
    # Fenced code blocks (also indented ones, inside lists and admonitions).
    lines = text.split("\n")
    out: list[str] = []
    fence: str | None = None
    for line in lines:
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group(2)[0] * len(m.group(2))
            out.append(" " * len(line))
        elif fence is not None:
            if m and m.group(2).startswith(fence):
                fence = None
            out.append(" " * len(line))
        else:
            out.append(line)
    text = "\n".join(out)
    # HTML comments, placeholders, inline code (any number of backticks).
    for pattern in (
        re.compile(r"<!--.*?-->", re.DOTALL),
        PLACEHOLDER,
        re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL),
    ):
        for m in reversed(list(pattern.finditer(text))):
            text = _blank(text, m.start(), m.end())
    return text


def load(path: Path) -> Page:
    raw = path.read_text(encoding="utf-8")
    return Page(path, raw, _mask(raw))


def units(page: Page) -> list[tuple[int, str]]:
    """Paragraphs, list items, table rows, headings and footnotes: ``(start offset, text)``.

    A citation covers the unit it sits in, so a footnote reference at the end of a list
    item covers that item, not the whole list.
    """
    found: list[tuple[int, str]] = []
    offset = 0
    current_start, current = -1, []
    for line in page.prose.split("\n"):
        if not line.strip() or UNIT_START.match(line):
            if current:
                found.append((current_start, "\n".join(current)))
            current_start, current = (offset, [line]) if line.strip() else (-1, [])
        else:
            if not current:
                current_start = offset
            current.append(line)
        offset += len(line) + 1
    if current:
        found.append((current_start, "\n".join(current)))
    return found


def links(page: Page) -> list[tuple[int, str]]:
    """Link targets outside code: inline links and reference definitions."""
    out = [(m.start(1), m.group(1)) for m in LINK_TARGET.finditer(page.prose)]
    out += [(m.start(1), m.group(1)) for m in REF_DEFINITION.finditer(page.prose)]
    return out


def recipe_links(page: Page) -> list[tuple[int, str, str]]:
    """``(offset, target, slug)`` for every link to a recipe page."""
    return [(o, t, m.group(1)) for o, t in links(page) if (m := RECIPE_TARGET.search(t))]


PAGES = guide_pages()
IDS = [_rel(p) for p in PAGES]


def test_guides_exist() -> None:
    assert (GUIDES / "index.md").is_file(), (
        "docs/guides/index.md is the guides' landing page; restore it"
    )
    assert len(PAGES) > 1, "docs/guides/ holds no guides besides its index"


@pytest.mark.parametrize("path", PAGES, ids=IDS)
def test_links_a_recipe_or_says_why_not(path: Path) -> None:
    page = load(path)
    if recipe_links(page):
        return
    m = NO_RECIPE.search(page.raw)
    assert m, (
        f"{_rel(path)}: links no recipe. Link the recipe that demonstrates the guide, e.g. "
        "[Characterize latency](../recipes/characterize-latency.ipynb) (adjust ../ to the page's depth), "
        "or add a line `<!-- no-recipe: why no recipe applies -->`"
    )
    assert len(m.group(1).split()) >= 3, (
        f"{_rel(path)}:{page.line_of(m.start())}: say why no recipe applies, in a few words"
    )


@pytest.mark.parametrize("path", PAGES, ids=IDS)
def test_recipe_links_resolve(path: Path) -> None:
    page = load(path)
    page_dir = posixpath.dirname(path.relative_to(DOCS).as_posix())
    problems = []
    for offset, target, slug in recipe_links(page):
        where = f"{_rel(path)}:{page.line_of(offset)}"
        if not (RECIPES / f"{slug}.py").is_file():
            problems.append(
                f"{where}: links recipe {slug!r}, but recipes/{slug}.py does not exist; "
                "link an existing recipe or name the planned experiment in prose"
            )
            continue
        if "://" in target:
            problems.append(f"{where}: link recipes with a relative path, not {target!r}")
            continue
        resolved = posixpath.normpath(posixpath.join(page_dir, target.split("#")[0]))
        if resolved != f"recipes/{slug}.ipynb":
            want = posixpath.relpath(f"recipes/{slug}.ipynb", page_dir or ".")
            problems.append(f"{where}: {target!r} resolves to docs/{resolved}; write {want!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", PAGES, ids=IDS)
def test_placeholders_are_well_formed(path: Path) -> None:
    page = load(path)
    problems = []
    spans = [(m.start(), m.end()) for m in PLACEHOLDER.finditer(page.raw)]
    for m in CANDIDATE.finditer(page.raw):
        if not any(a <= m.start() < b for a, b in spans):
            end = page.raw.find("}}", m.start())
            snippet = page.raw[m.start() : end + 2 if end != -1 else m.start() + 60].replace(
                "\n", " "
            )
            problems.append(
                f"{_rel(path)}:{page.line_of(m.start())}: malformed placeholder {snippet!r}; "
                'write e.g. {{ metric("characterize-latency", "steady.p99_ms") }}'
            )
    for m in PLACEHOLDER.finditer(page.raw):
        where = f"{_rel(path)}:{page.line_of(m.start())}"
        kind, raw_args = m.group(1), m.group(2)
        args = ARG.findall(raw_args)
        if kind == "claim":  # recipe, metric, comparison, sentence: edgetiming.site.claims parses it
            if not CLAIM.fullmatch(m.group(0)):
                problems.append(f'{where}: {m.group(0)} must read {{{{ claim("recipe", "metric", "< 1", "sentence") }}}}')
            elif not (RECIPES / f"{args[0]}.py").is_file():
                problems.append(f"{where}: {m.group(0)} names recipe {args[0]!r}, but recipes/{args[0]}.py does not exist")
            continue
        arity = 2 if kind in TWO_ARG_KINDS else 0
        if len(args) != arity or re.sub(r'"[^"]*"|[\s,]', "", raw_args):
            problems.append(
                f"{where}: {m.group(0)} takes {arity} quoted argument(s)"
                + (": a recipe slug and a name" if arity else "")
            )
            continue
        if args and not (RECIPES / f"{args[0]}.py").is_file():
            problems.append(
                f"{where}: {m.group(0)} names recipe {args[0]!r}, but recipes/{args[0]}.py does not exist"
            )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", PAGES, ids=IDS)
def test_no_uncited_latency_numbers(path: Path) -> None:
    page = load(path)
    problems = []
    for start, text in units(page):
        if CITATION.search(text):
            continue
        for m in LATENCY.finditer(text):
            problems.append(
                f"{_rel(path)}:{page.line_of(start + m.start())}: {m.group(0)!r} is typed by hand; "
                "pull a measured number with a placeholder, cite the source of an outside number "
                "in the same paragraph ([text](url) or [^id]), or put it in `code`"
            )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", PAGES, ids=IDS)
def test_not_a_stub(path: Path) -> None:
    page = load(path)
    stub = STUB.search(page.raw)
    assert not stub, (
        f"{_rel(path)}:{page.line_of(stub.start())}: {stub.group(0)!r} marks an unfinished page; finish it"
    )
    words = len(WORD.findall(page.prose))
    assert words >= MIN_PROSE_WORDS, (
        f"{_rel(path)}: {words} words of prose, fewer than {MIN_PROSE_WORDS}; a guide says what problem it "
        "solves, how to measure it, what to do, what it costs and how to verify it"
    )


# The checks themselves, on small examples, so a broken regex cannot pass every page.


def _page(text: str, name: str = "guides/x.md") -> Page:
    return Page(DOCS / name, text, _mask(text))


def test_checker_finds_uncited_numbers_outside_code_only() -> None:
    text = (
        "The loop took 12 ms at P99 and 350 µs at P50.\n\n"
        "A cited figure: 100 s stall [HdrHistogram](https://github.com/HdrHistogram/HdrHistogram).\n\n"
        "- one item with 5 ms\n- another with 7 ms[^src]\n\n"
        'Code `sleep(5 s)` and {{ metric("characterize-latency", "steady.p99_ms") }} are fine; so are P99s.\n\n'
        "```python\ntime.sleep(3)  # 3 s\n```\n"
    )
    flagged = [
        m.group(0)
        for _, unit in units(_page(text))
        if not CITATION.search(unit)
        for m in LATENCY.finditer(unit)
    ]
    assert flagged == ["12 ms", "350 µs", "5 ms"]


def test_checker_resolves_recipe_links_by_depth() -> None:
    page = _page("See [it](../../recipes/characterize-latency.ipynb#tail).", "guides/primers/x.md")
    ((_, target, slug),) = recipe_links(page)
    assert slug == "characterize-latency"
    assert (
        posixpath.normpath(posixpath.join("guides/primers", target.split("#")[0]))
        == "recipes/characterize-latency.ipynb"
    )


def test_checker_sees_placeholders_and_malformed_ones() -> None:
    good = '{{ metric("characterize-latency", "steady.p99_ms") }}'
    assert PLACEHOLDER.fullmatch(good)
    assert CANDIDATE.search("{{ metric('characterize-latency') }}")
    assert not CANDIDATE.search("Prometheus labels {{ $labels.instance }}")
