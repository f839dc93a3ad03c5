"""A reader's-eye audit of the built site: Markdown that did not render, cells left empty.

Markdown that a renderer did not understand reaches the reader as literal
characters: ``**3 **`` (a bold marker with a space before its closing half),
``[text](url)`` inside an HTML block, ``{{ placeholder }}`` a hook did not fill,
``[text][label]`` whose label is not defined, or a numbered step swallowed into
the paragraph above it (Python-Markdown does not let a list interrupt a
paragraph). :func:`audit_html` finds these in one page's visible text, leaving
code, preformatted output, scripts and styles alone; :func:`audit_site` runs it
over every page of a built site.

Empty cells are not reported inside a notebook's output (a table the recipe
printed is its data, corrected by changing the recipe and running it again);
unrendered Markdown is reported there too.

Example
-------
>>> [f.kind for f in audit_html("<p>P99 is <strong>3</strong> ms, <code>**kwargs</code></p>")]
[]
>>> [f.kind for f in audit_html("<p>P99 is **3 ** ms</p>")]
['bold marker']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

__all__ = ["Finding", "audit_html", "audit_site"]

# text inside these is code, data or machinery, not prose
_IGNORED = {"code", "pre", "script", "style", "kbd", "samp", "textarea", "svg", "math", "template",
            "noscript", "head"}
# a new block of text starts and ends at these
_BLOCKS = {"p", "li", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "dt", "dd", "caption", "figcaption",
           "blockquote", "div", "section", "article", "summary", "details", "label", "option", "button",
           "tr", "table", "ul", "ol", "nav", "header", "footer", "aside", "main", "body", "figure"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_NOTEBOOK_OUTPUT = "jp-OutputArea-output"  # mkdocs-jupyter's class for a cell's output
_CONTENT_ELEMENTS = {"img", "svg", "input", "canvas", "video", "audio", "iframe", "object", "progress", "meter"}

_PATTERNS = (
    ("bold marker", re.compile(r"\*\*[^*\n]{0,80}\*\*|\*\*|(?<![\w*])\*(?=\S)[^*\n]{1,80}(?<=\S)\*(?![\w*])")),
    ("link syntax", re.compile(r"\]\(")),
    ("template placeholder", re.compile(r"\{\{[^\n]{0,80}?\}\}|\{%[^\n]{0,80}?%\}|\{\{|\}\}|\{%|%\}")),
    ("reference-link label", re.compile(r"\[[^\[\]\n]+\]\[[^\[\]\n]*\]")),
)
# a line of a paragraph that starts like a list item: "5. Step", "- item", "* item"
_SWALLOWED_ITEM = re.compile(r"\n[ \t]*(?:\d{1,3}[.)]|[-*+])[ \t]+\S")


@dataclass(frozen=True)
class Finding:
    """One place where the reader sees what the author did not mean them to see."""

    page: str
    kind: str
    snippet: str

    def __str__(self) -> str:
        return f"{self.page}: {self.kind}: {self.snippet!r}"


def _hidden(attrs: list[tuple[str, str | None]]) -> bool:
    """An element a reader does not see: ``hidden``, ``display: none``, a copy button's text."""
    values = dict(attrs)
    style = (values.get("style") or "").replace(" ", "").lower()
    return ("hidden" in values or "display:none" in style
            or "clipboard-copy-txt" in (values.get("class") or "").split())


def _snippet(text: str, start: int, end: int, width: int = 40) -> str:
    lo, hi = max(0, start - width), min(len(text), end + width)
    out = re.sub(r"\s+", " ", text[lo:hi]).strip()
    return ("..." if lo else "") + out + ("..." if hi < len(text) else "")


class _Auditor(HTMLParser):
    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self.findings: list[Finding] = []
        self.ignored: list[str] = []  # open ignored elements
        self.blocks: list[tuple[str, list[str]]] = []  # (tag, text parts) of open blocks
        self.cells: list[dict[str, object]] = []  # open table cells: tag, filled
        self.rows: list[list[tuple[str, str, bool]]] = []  # open rows: (tag, text, filled) per cell
        self.open: list[tuple[str, bool]] = []  # open elements: (tag, is a notebook output area)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _CONTENT_ELEMENTS or tag in _VOID:
            self._content()
        if tag in _VOID:
            return
        self.open.append((tag, _NOTEBOOK_OUTPUT in (dict(attrs).get("class") or "").split()))
        if self.ignored or tag in _IGNORED or _hidden(attrs):
            self.ignored.append(tag)  # every element inside an ignored one, to match the end tags
            return
        if tag in _BLOCKS:
            self.blocks.append((tag, []))
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self.cells.append({"tag": tag, "filled": False, "output": any(out for _, out in self.open)})

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID or tag in _CONTENT_ELEMENTS:
            self._content()

    def handle_endtag(self, tag: str) -> None:
        if any(t == tag for t, _ in self.open):
            while self.open and self.open.pop()[0] != tag:
                pass
        if self.ignored:
            if tag in self.ignored:  # close up to the matching element, also in unbalanced markup
                while self.ignored and self.ignored.pop() != tag:
                    pass
            return
        text = ""
        if tag in _BLOCKS:
            for i in range(len(self.blocks) - 1, -1, -1):  # the innermost open block of this tag
                if self.blocks[i][0] == tag:
                    text = "".join(self.blocks[i][1])
                    for closed in self.blocks[i:][::-1]:
                        self._check_block(*closed)
                    del self.blocks[i:]
                    break
        if tag in ("td", "th") and self.cells:
            cell = self.cells.pop()
            if self.rows:
                # a notebook's output table is the recipe's data, fixed by re-running it, not here
                filled = bool(cell["filled"]) or bool(cell["output"])
                self.rows[-1].append((str(cell["tag"]), re.sub(r"\s+", " ", text).strip(), filled))
        if tag == "tr" and self.rows:
            self._check_row(self.rows.pop())

    def handle_data(self, data: str) -> None:
        if data.strip():
            self._content()
        if not self.ignored and self.blocks:
            self.blocks[-1][1].append(data)

    def _content(self) -> None:
        if self.cells:
            self.cells[-1]["filled"] = True

    def _check_row(self, cells: list[tuple[str, str, bool]]) -> None:
        for i, (tag, _, filled) in enumerate(cells):
            # the top-left header cell of a table is often empty on purpose
            if not filled and not (tag == "th" and i == 0):
                shown = " | ".join(t or ("(no text)" if f else "(empty)") for _, t, f in cells)
                self.findings.append(Finding(self.page, "empty table cell",
                                             f"cell {i + 1} of the row: {_snippet(shown, 0, 0, 120)}"))

    def _check_block(self, tag: str, parts: list[str]) -> None:
        text = "".join(parts)
        if not text.strip():
            return
        for kind, pattern in _PATTERNS:
            for m in pattern.finditer(text):
                self.findings.append(Finding(self.page, kind, _snippet(text, m.start(), m.end())))
        if tag == "p":
            m = _SWALLOWED_ITEM.search(text)
            if m:
                self.findings.append(Finding(self.page, "list item inside a paragraph",
                                             _snippet(text, m.start(), m.end())))


def audit_html(html: str, page: str = "") -> list[Finding]:
    """Every unrendered Markdown construct and empty table cell in one page's visible text."""
    auditor = _Auditor(page)
    auditor.feed(html)
    auditor.close()
    for tag, parts in auditor.blocks[::-1]:  # blocks the page left open
        auditor._check_block(tag, parts)
    return auditor.findings


def audit_site(site_dir: Path) -> list[Finding]:
    """:func:`audit_html` over every HTML page of a built site, pages named relative to it."""
    site_dir = Path(site_dir)
    findings: list[Finding] = []
    for path in sorted(site_dir.rglob("*.html")):
        rel = path.relative_to(site_dir).as_posix()
        if rel.startswith(("assets/", "search/")):
            continue
        findings.extend(audit_html(path.read_text(encoding="utf-8", errors="replace"), rel))
    return findings
