"""Hostile content in contributed case studies: find it, and neutralise what is shown.

Python-Markdown and mkdocs-jupyter do not sanitize HTML, and MkDocs' Jinja
templates do not escape page titles, so everything a contributor wrote is
treated as hostile. :func:`scan_text` finds active content for the validator
(script, iframe and other active elements, ``on*=`` handlers in HTML and in
``{: attr lists}``, URLs whose scheme is not http, https or mailto in HTML
attributes, Markdown links, link references and autolinks, also when written
with HTML entities or %-encoding). The renderers never rely on it: contributed
text reaches a page only through :func:`md_text` (every HTML, Markdown,
attr-list and placeholder character entity-encoded), :func:`safe_title` (no
HTML-significant character at all) or :func:`render_body_html` (Markdown to
HTML, then Ammonia via nh3 with an allow-list).
"""

from __future__ import annotations

import html
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import markdown
import nh3

__all__ = ["IMAGE_SUFFIXES", "inside", "md_text", "render_body_html", "safe_title", "scan_text", "url_scheme"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")


def inside(base: Path, rel: str) -> Path | None:
    """``base / rel`` when it stays inside ``base`` (no .., no symlinks out), else None."""
    if PurePosixPath(rel).is_absolute() or ".." in PurePosixPath(rel).parts:
        return None
    target = base / rel
    try:
        target.resolve().relative_to(base.resolve())
    except ValueError:
        return None
    return target



_ACTIVE_TAGS = ("script", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "base",
                "meta", "link", "style", "svg", "math", "template", "noscript", "portal", "xml",
                "import", "xss")
_TAG_RE = re.compile(r"<\s*/?\s*([a-zA-Z][a-zA-Z0-9:_-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>?", re.DOTALL)
_ATTR_LIST_RE = re.compile(r"\{:?([^{}\n]*)\}")
_HANDLER_RE = re.compile(r"(?:^|[\s\"'/;])(on[a-zA-Z]{3,})\s*=", re.IGNORECASE)
_URL_ATTR_RE = re.compile(
    r"(?:^|[\s\"'/])(href|src|action|formaction|xlink:href|poster|background|srcset|data|cite|"
    r"longdesc|lowsrc|dynsrc|ping|manifest|codebase|archive)\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+))",
    re.IGNORECASE)
_MD_LINK_RE = re.compile(r"\]\(\s*<?([^)\s>]*)")
_MD_REF_RE = re.compile(r"^[ \t]{0,3}\[[^\]\n]+\]:[ \t]*<?([^\s>]+)", re.MULTILINE)
_AUTOLINK_RE = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]{1,31}:[^<>\s]*)>")
_SAFE_SCHEMES = ("http", "https", "mailto")


def _decode(text: str) -> str:
    """Undo HTML entities and percent-encoding until nothing changes (double encoding too)."""
    for _ in range(6):
        new = html.unescape(urllib.parse.unquote(text))
        if new == text:
            break
        text = new
    return text


def url_scheme(url: str) -> str | None:
    """The scheme a browser would see in ``url`` (entities, controls and spaces removed)."""
    u = re.sub(r"[\x00-\x20\x7f-\x9f\\]+", "", _decode(url)).lower()
    m = re.match(r"([a-z][a-z0-9+.-]*):", u)
    return m.group(1) if m else None


def _findings(text: str) -> Iterator[tuple[int, str, str, str]]:
    """(offset, kind, message, fix) for each active construct in ``text``."""
    for m in _TAG_RE.finditer(text):
        tag = m.group(1).lower()
        if tag in _ACTIVE_TAGS:
            what = "inline SVG" if tag == "svg" else f"<{tag}> element"
            yield m.start(), tag, f"{what} is not allowed: contributed pages may not run code or embed pages", \
                "remove it; show code in a fenced code block without angle brackets, figures as PNG files"
        attrs = m.group(2) or ""
        for h in _HANDLER_RE.finditer(attrs):
            yield m.start(), "handler", f"event-handler attribute {h.group(1)}= is not allowed", \
                "remove the attribute; contributed pages run no script"
        for u in _URL_ATTR_RE.finditer(attrs):
            url = next(g for g in u.groups()[1:] if g is not None)
            scheme = url_scheme(url)
            if scheme is not None and scheme not in _SAFE_SCHEMES:
                yield m.start(), "url", f"{scheme}: URL in {u.group(1)}= is not allowed", \
                    "link with https:// or to a file in this folder"
    for m in _ATTR_LIST_RE.finditer(text):
        for h in _HANDLER_RE.finditer(" " + m.group(1)):
            yield (m.start(), "handler",
                   f"event-handler attribute {h.group(1)}= in an attribute list {{...}} is not allowed",
                   "remove the {...} attribute list")
    for regex, where in ((_MD_LINK_RE, "Markdown link"), (_MD_REF_RE, "link reference"),
                         (_AUTOLINK_RE, "autolink")):
        for m in regex.finditer(text):
            scheme = url_scheme(m.group(1))
            if scheme is not None and scheme not in _SAFE_SCHEMES:
                yield m.start(), "url", f"{scheme}: URL in a {where} is not allowed", \
                    "link with https:// or to a file in this folder"
    squeezed = re.sub(r"[\x00-\x20\x7f-\x9f]+", "", text).lower()
    for bad in ("javascript:", "vbscript:", "livescript:"):
        if bad in squeezed:
            pos = text.lower().find(bad[:4])
            yield max(pos, 0), "url", f"{bad} URL is not allowed", "remove it"


def scan_text(text: str) -> list[tuple[int, str, str]]:
    """Active content in ``text`` as (offset, message, fix); entity-encoded variants included."""
    out, seen = [], set()
    raw = list(_findings(text))
    for off, kind, msg, fix in raw:
        key = (text.count("\n", 0, off), kind)
        if key in seen:
            continue
        seen.add(key)
        out.append((off, msg, fix))
    decoded = _decode(text)
    if decoded != text:
        seen_kinds = {kind for _, kind, _, _ in raw}
        for off, kind, msg, fix in _findings(decoded):
            if kind in seen_kinds:
                continue
            seen_kinds.add(kind)
            # offsets shift when entities are decoded; report the first line the pattern starts on
            out.append((min(off, len(text) - 1), msg + " (written with HTML entities or %-encoding)", fix))
    return out


# --------------------------------------------------------------------------- sanitizing
# Characters that mean something to HTML, Markdown, attr_list or the MkDocs placeholder hook.
_MD_SPECIAL = {c: f"&#{ord(c)};" for c in "&<>\"'`*_{}[]()#+!|~\\=:$^"}


def md_text(value: Any) -> str:
    """``value`` as inert text for a Markdown or HTML context: every character that HTML,
    Markdown, attr lists or ``{{ placeholders }}`` act on becomes a numeric entity.

    Examples
    --------
    >>> md_text("<img onerror=x>")
    '&#60;img onerror&#61;x&#62;'
    """
    text = "" if value is None else str(value)
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", text).replace("\n", " ")
    return "".join(_MD_SPECIAL.get(c, c) for c in text)


def safe_title(value: Any, limit: int = 120) -> str:
    """A plain-text title with no HTML-significant character, safe where a theme does not
    escape (MkDocs' Jinja has no autoescape; nav titles are inserted as they are).
    ``<`` and ``>`` become the look-alike guillemets, ``&`` a full-width ampersand."""
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", "" if value is None else str(value)).strip()
    text = text.replace("<", "\u2039").replace(">", "\u203a").replace("&", "\uff06")
    text = text.replace('"', "\u201d").replace("'", "\u2019").replace("{", "(").replace("}", ")")
    return text[:limit] or "untitled"


_BODY_TAGS = {"p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em", "b", "i",
              "code", "pre", "blockquote", "table", "thead", "tbody", "tr", "th", "td", "a", "img", "sub",
              "sup", "del", "dl", "dt", "dd", "kbd", "details", "summary", "figure", "figcaption"}
_BODY_ATTRS = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"},
               "th": {"align", "colspan", "rowspan"}, "td": {"align", "colspan", "rowspan"}, "ol": {"start"}}


def render_body_html(body: str, *, case_dir: Path, asset_prefix: str) -> tuple[str, list[Path]]:
    """Contributed Markdown to sanitized HTML, and the local images it shows.

    Python-Markdown does not sanitize, so its output goes through Ammonia (nh3) with an
    allow-list of tags and attributes and only http, https and mailto URLs; relative links
    survive only when they name another case study (rewritten to its page) or a file of this
    case study (rewritten under ``asset_prefix``). Headings shift down one level, and
    braces become entities so no ``{{ placeholder }}`` reaches the MkDocs hooks.
    """

    rendered = markdown.markdown(body, extensions=["tables", "fenced_code", "sane_lists"],
                                 output_format="html")
    rendered = re.sub(r"<(/?)h([1-5])\b", lambda m: f"<{m.group(1)}h{int(m.group(2)) + 1}", rendered)
    assets: list[Path] = []

    def keep_url(tag: str, attr: str, value: str) -> str | None:
        if attr not in ("href", "src"):
            return value
        scheme = url_scheme(value)
        if scheme is not None:
            return value if scheme in _SAFE_SCHEMES else None
        if value.startswith("#"):
            return value
        path = value.split("#")[0].split("?")[0]
        m = re.fullmatch(r"\.\./([a-z0-9][a-z0-9-]{2,63})/(index\.md)?", path)
        if m and tag == "a":
            return f"{m.group(1)}.html"
        target = inside(case_dir, path) if path else None
        if target is None or not target.is_file() or target.is_symlink():
            return None
        if tag == "img" and target.suffix.lower() not in IMAGE_SUFFIXES:
            return None
        assets.append(target)
        return f"{asset_prefix}/{urllib.parse.quote(path)}"

    clean = nh3.clean(
        rendered, tags=_BODY_TAGS, attributes=_BODY_ATTRS, attribute_filter=keep_url,
        url_schemes=set(_SAFE_SCHEMES), link_rel="nofollow noopener noreferrer", strip_comments=True)
    clean = clean.replace("{", "&#123;").replace("}", "&#125;")
    return clean, assets


