"""How the site shows a recipe whose result on the primary runner is damaged.

The loaders report each unreadable file as :class:`edgetiming.results.damage.Damage`
(path, reason, how to restore it). A recipe with such a result is not "not run
yet": its page, the recipes index and every ``{{ metric(...) }}`` or
``{{ check(...) }}`` that cites it say *result damaged*, name the file and give
the command that restores it. ``edgetiming site --strict`` refuses to build
while any file is damaged, naming the first one.
"""

from __future__ import annotations

import html
from typing import Any

from edgetiming.results.damage import Damage

__all__ = ["by_recipe", "index_entries", "page_markdown", "strict_message"]


def _all(problems: list[str]) -> list[Damage]:
    return [p for p in problems if isinstance(p, Damage)]


def by_recipe(problems: list[str], runner: str | None) -> dict[str, Damage]:
    """The damaged result (or samples) file of each recipe of ``runner``, first one found per recipe."""
    found: dict[str, Damage] = {}
    for d in _all(problems):
        if runner and d.runner == runner and d.recipe and d.kind in ("result", "samples"):
            found.setdefault(d.recipe, d)
    return found


def index_entries(damaged: dict[str, Damage]) -> dict[str, dict[str, Any]]:
    """What the MkDocs hook needs to say a cited recipe's result is damaged."""
    return {slug: d.to_dict() for slug, d in sorted(damaged.items())}


def page_markdown(title: str, slug: str, runner: str, d: Damage) -> str:
    """The recipe page when its result on ``runner`` cannot be read."""
    return (
        f"# {title}\n\n"
        f'!!! failure "Result damaged"\n\n'
        f"    The result of this recipe on runner `{runner}` cannot be read, so this page shows no numbers.\n\n"
        f"    - File: `{d.path}`\n"
        f"    - Reason: {html.escape(d.reason, quote=False)}\n"
        f"    - To restore it: {html.escape(d.fix, quote=False)}\n\n"
        f"Download: [{slug}.py](downloads/{slug}.py) · [{slug}.ipynb](downloads/{slug}.ipynb)\n"
    )


def strict_message(problems: list[str]) -> str | None:
    """For ``--strict``: the first damaged file, then how many more, or None when nothing is damaged."""
    damaged = _all(problems)
    if not damaged:
        return None
    more = damaged[1:]
    tail = f" ({len(more)} more damaged file(s): {', '.join(str(d.path) for d in more)})" if more else ""
    return f"{damaged[0]}{tail}; --strict builds no site while a file of the store is damaged"
