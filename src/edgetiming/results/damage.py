"""Name the damage in a file of the store: which file, what is wrong with it, and how to restore it.

Every reader of the store (``result.json``, ``runner.json``, ``history.jsonl``
lines, samples files) reports a file it cannot use with its path and a reason a
person can act on, for example ``truncated JSON at byte 300`` or ``sha256
differs from the one recorded``. :class:`Damage` carries those parts, so the
site can render a recipe whose result is damaged as such (with the path and the
command that restores it) instead of as "not run yet".

A :class:`Damage` is also a ``str`` (its one-line message), so it travels in the
lists of problems the loaders already return.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["Damage", "decode_reason", "json_reason", "restore_hint"]


def json_reason(exc: json.JSONDecodeError) -> str:
    """What is wrong with a JSON text, telling a cut-off text from other syntax errors.

    Offsets are in bytes of the UTF-8 text (``exc.pos`` counts characters). A text
    that ends where the parser still expected more is *truncated* and its length is
    given; any other syntax error gives the byte, line and column where it is.
    """
    doc = exc.doc or ""
    size = len(doc.encode("utf-8"))
    if not doc.strip():
        return f"empty file ({size} bytes)"
    # cut off: the parser wanted more at the very end, or a string runs to the end unclosed
    if exc.pos >= len(doc.rstrip()) or exc.msg.startswith("Unterminated string"):
        return f"truncated JSON at byte {size}: the text ends where more was expected"
    at = len(doc[: exc.pos].encode("utf-8"))
    return f"invalid JSON at byte {at}, line {exc.lineno} column {exc.colno} ({exc.msg})"


def decode_reason(exc: UnicodeDecodeError) -> str:
    """What is wrong with bytes that should be UTF-8 text (a flipped bit often gives this)."""
    bad = exc.object[exc.start: exc.start + 1]
    return f"not UTF-8 text: byte 0x{bad.hex()} at byte {exc.start} ({exc.reason})"


def restore_hint(path: Path, *, runner: str | None = None, recipe: str | None = None,
                 results_dir: Path | None = None) -> str:
    """How to get a good copy of ``path`` back: from git, or by re-running what wrote it."""
    git = f"restore it from git (`git checkout -- {path}`) if it is committed"
    if recipe and runner:
        results = f" --results {results_dir}" if results_dir is not None and Path(results_dir).name != "results" else ""
        return f"{git}, or re-run `edgetiming run recipes/{recipe}.py --runner {runner}{results}`"
    if runner:
        return f"{git}, or re-run any recipe with `edgetiming run --runner {runner}` to write it again"
    return git


class Damage(str):
    """One damaged file: its path, the reason, how to restore it, and whose result it held.

    ``kind`` is ``"result"``, ``"runner"``, ``"history"`` or ``"samples"``;
    ``runner`` and ``recipe`` are the folders the file lies in, where known.
    """

    path: Path
    reason: str
    fix: str
    kind: str
    runner: str | None
    recipe: str | None

    def __new__(cls, path: str | Path, reason: str, fix: str, *, kind: str,
                runner: str | None = None, recipe: str | None = None) -> Damage:
        self = super().__new__(cls, f"{path}: damaged: {reason}; {fix}")
        self.path = Path(path)
        self.reason = reason
        self.fix = fix
        self.kind = kind
        self.runner = runner
        self.recipe = recipe
        return self

    def __reduce__(self):  # str subclasses with attributes need this to pickle and copy
        return (_rebuild, (str(self.path), self.reason, self.fix, self.kind, self.runner, self.recipe))

    def to_dict(self) -> dict[str, str | None]:
        return {"path": str(self.path), "reason": self.reason, "fix": self.fix, "kind": self.kind,
                "runner": self.runner, "recipe": self.recipe}


def _rebuild(path: str, reason: str, fix: str, kind: str, runner: str | None, recipe: str | None) -> Damage:
    return Damage(path, reason, fix, kind=kind, runner=runner, recipe=recipe)
