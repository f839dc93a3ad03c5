"""What sets one runner apart from the others: the fingerprint fields whose values differ.

A runner page leads with this, so a reader comparing two recipe results sees at
once whether the machines differ in CPU model, cores, ISA extensions, memory or
onnxruntime version, and how. Fields equal on every runner are left out.

Example
-------
>>> a = {"runner": "a", "cpu": {"model": "X", "logical_cores": 2, "isa_flags": ["avx2"]},
...      "memory_bytes": 2**33, "onnxruntime": {"version": "1.32.0"}}
>>> b = {"runner": "b", "cpu": {"model": "X", "logical_cores": 16, "isa_flags": ["avx2", "avx512f"]},
...      "memory_bytes": 2**33, "onnxruntime": {"version": "1.32.0"}}
>>> [d.sentence for d in differences(a, [b])]
['2 here; 16 on b', 'lacks `avx512f`, which b has']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Difference", "differences", "markdown"]

_NA = "not available"


@dataclass(frozen=True)
class Difference:
    """One field in which this runner differs from at least one other."""

    field: str
    sentence: str


def _get(fp: dict[str, Any], *path: str) -> Any:
    node: Any = fp
    for key in path:
        if not isinstance(node, dict):
            return _NA
        node = node.get(key, _NA)
    return node


def _memory(fp: dict[str, Any]) -> Any:
    value = fp.get("memory_bytes", _NA)
    return f"{value / 2**30:.1f} GiB" if isinstance(value, int) and not isinstance(value, bool) else value


_FIELDS: tuple[tuple[str, Callable[[dict[str, Any]], Any], str], ...] = (
    # (field, how to read it, how to name a value of it)
    ("CPU", lambda fp: _get(fp, "cpu", "model"), "{}"),
    ("Architecture", lambda fp: _get(fp, "cpu", "architecture"), "{}"),
    ("Logical cores", lambda fp: _get(fp, "cpu", "logical_cores"), "{}"),
    ("Memory", _memory, "{}"),
    ("onnxruntime", lambda fp: _get(fp, "onnxruntime", "version"), "{}"),
)


def _codes(flags: list[str]) -> str:
    return ", ".join(f"`{f}`" for f in flags)


def _text(value: Any) -> str:
    """A fingerprint value as Markdown text: HTML and Markdown characters entity-encoded."""
    return "".join(f"&#{ord(c)};" if c in "<>&*_[]`|\\" else c for c in str(value))


def differences(fp: dict[str, Any], others: list[dict[str, Any]]) -> list[Difference]:
    """The fields in which ``fp`` differs from at least one of ``others``, each as a sentence."""
    out: list[Difference] = []
    for name, read, form in _FIELDS:
        mine = read(fp)
        theirs = [(o.get("runner", "?"), read(o)) for o in others]
        differ = [(r, v) for r, v in theirs if v != mine]
        if not differ:
            continue
        elsewhere = "; ".join(f"{form.format(_text(v))} on {r}" for r, v in differ)
        mine = _text(mine)
        out.append(Difference(name, f"{form.format(mine)} here; {elsewhere}"))
    flags = _get(fp, "cpu", "isa_flags")
    if isinstance(flags, list):
        mine_set = set(flags)
        has_more: dict[str, list[str]] = {}
        lacks: dict[str, list[str]] = {}
        for other in others:
            theirs = _get(other, "cpu", "isa_flags")
            if not isinstance(theirs, list):
                continue
            runner = other.get("runner", "?")
            extra = [f for f in flags if f not in theirs]
            missing = [f for f in theirs if f not in mine_set]
            if extra:
                has_more[runner] = extra
            if missing:
                lacks[runner] = missing
        parts = [f"has {_codes(v)}, which {r} lacks" for r, v in has_more.items()]
        parts += [f"lacks {_codes(v)}, which {r} has" for r, v in lacks.items()]
        if parts:
            out.append(Difference("ISA extensions", "; ".join(parts)))
    return out


def markdown(fp: dict[str, Any], others: list[dict[str, Any]]) -> list[str]:
    """The opening section of a runner page: how this runner differs from the others."""
    if not others:
        return ["The only runner with results on this site: there is no other machine to compare with.", ""]
    names = ", ".join(f"`{o.get('runner', '?')}`" for o in others)
    found = differences(fp, others)
    if not found:
        return [f"Same CPU model, architecture, logical cores, memory, ISA extensions and onnxruntime version "
                f"as {names}.", ""]
    lines = [f"**How this runner differs** from {names}:", ""]
    lines += [f"- **{d.field}**: {d.sentence}." for d in found]
    return lines + [""]
