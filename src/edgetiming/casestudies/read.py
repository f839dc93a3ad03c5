"""Strict reading of a contributed ``index.md``: bytes, front matter, YAML, keys, samples.

What this module refuses, and why (the contributor guide lists the same):

* bytes that are not UTF-8: reported with the line and the byte offset of the
  first bad byte (:func:`decode_utf8`); a leading byte-order mark is accepted
  and dropped;
* a YAML mapping that names a key twice: YAML parsers keep the last value, so a
  reviewer could read one number where the site publishes another
  (:class:`StrictLoader` records every repeat with both line numbers);
* YAML aliases (``*name``): a case study has no use for them and they allow
  exponential expansion;
* a YAML syntax error is placed on the line where the broken construct starts
  (an unterminated string where its quote opens, an unclosed bracket where it
  opens), not where the parser gave up (:func:`yaml_error_position`);
* latency samples of zero, or below the timer resolution the contributor
  recorded (``measurement.timer_resolution_ms``): no clock measures a
  latency shorter than one of its ticks (:func:`impossible_samples`).

Example
-------
>>> front = "a: 1\\nb: 2\\na: 3\\n"
>>> meta, node, dups = read_yaml(front)
>>> [(d.key, d.first_line, d.second_line) for d in dups]
[('a', 1, 3)]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import yaml

__all__ = [
    "Duplicate",
    "StrictLoader",
    "decode_utf8",
    "impossible_samples",
    "read_yaml",
    "walk_keys",
    "yaml_error_position",
]


@dataclass(frozen=True)
class Duplicate:
    """A key named twice in one mapping; lines are 1-based within the YAML text."""

    path: tuple[str, ...]  # the mapping that holds the key
    key: str
    first_line: int
    second_line: int


class StrictLoader(yaml.SafeLoader):
    """Safe loading without aliases, recording every duplicated mapping key."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[Duplicate] = []

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None, None, "YAML aliases (*name) are not allowed in a case study", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    self.duplicates.append(Duplicate(_path_of(node, self), str(key), seen[key], line))
                else:
                    seen[key] = line
            except TypeError:  # an unhashable key: the constructor reports it
                continue
        return super().construct_mapping(node, deep=deep)


def _path_of(target: Any, loader: StrictLoader) -> tuple[str, ...]:
    """The key path from the document root to ``target`` (a MappingNode)."""
    root = getattr(loader, "_root", None)

    def find(node: Any, path: tuple[str, ...]) -> tuple[str, ...] | None:
        if node is target:
            return path
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                found = find(v, path + (str(k.value),))
                if found is not None:
                    return found
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                found = find(v, path + (str(i),))
                if found is not None:
                    return found
        return None

    return (find(root, ()) or ()) if root is not None else ()


def read_yaml(text: str) -> tuple[Any, Any, list[Duplicate]]:
    """(value, root node, duplicated keys) of one YAML document; raises :class:`yaml.YAMLError`."""
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        loader._root = node  # type: ignore[attr-defined]  # for the paths of duplicates
        value = loader.construct_document(node) if node is not None else None
        return value, node, sorted(set(loader.duplicates), key=lambda d: (d.second_line, d.key))
    finally:
        loader.dispose()


def yaml_error_position(exc: yaml.YAMLError, first_line: int = 1) -> tuple[int | None, str]:
    """(line where the broken construct starts, message) for a YAML error; ``first_line``
    is the file line of the YAML text's first line.

    The scanner and the parser notice an unterminated string or an unclosed
    bracket only where the text ends; the place to fix is where it opens, which
    PyYAML keeps as the error's context mark.

    >>> try:
    ...     read_yaml('a: 1\\nb: "open\\nc: 2\\n')
    ... except yaml.YAMLError as exc:
    ...     yaml_error_position(exc)
    (2, 'found unexpected end of stream on line 4, while scanning a quoted scalar that starts on this line')
    """
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    problem_mark = getattr(exc, "problem_mark", None)
    opens_here = context_mark is not None and context is not None and (
        context.startswith("while scanning") or context.startswith("while parsing a flow")
        or "end of stream" in problem or "<stream end>" in problem)
    if opens_here:
        message = f"{problem}, {context} that starts on this line"
        if problem_mark is not None and problem_mark.line != context_mark.line:
            message = f"{problem} on line {problem_mark.line + first_line}, {context} that starts on this line"
        return context_mark.line + first_line, message
    mark = problem_mark or context_mark
    return (mark.line + first_line if mark is not None else None), problem


def decode_utf8(raw: bytes) -> tuple[str | None, tuple[int, int, str] | None]:
    """(text, None) for UTF-8 bytes (a leading byte-order mark dropped), else
    (None, (1-based line, 0-based byte offset in the file, description)).

    >>> decode_utf8(b"ok\\n\\xef\\xbb\\xbfmid")[0] == "ok\\n\\ufeffmid"
    True
    >>> decode_utf8(b"a\\nb\\xffc")[1]
    (2, 3, 'byte 0xff (invalid start byte) at byte 3, column 2 of line 2')
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        what = f"byte 0x{raw[exc.start]:02x} ({exc.reason})"
        return None, (line, exc.start, f"{what} at byte {exc.start}, column {column} of line {line}")
    return text.removeprefix("\ufeff"), None


def walk_keys(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """(path of the mapping, key) for every mapping key, at every depth."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield path, str(k)
            yield from walk_keys(v, path + (str(k),))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk_keys(v, path + (str(i),))


def impossible_samples(values_ms: np.ndarray, resolution_ms: float | None) -> tuple[int, int]:
    """(how many, index of the first) samples that are zero or below ``resolution_ms``.

    >>> impossible_samples(np.array([1.0, 0.0, 0.0004, 2.0]), 0.001)
    (2, 1)
    >>> impossible_samples(np.array([1.0, 0.0004]), None)
    (0, -1)
    """
    floor = resolution_ms if resolution_ms is not None and resolution_ms > 0 else 0.0
    bad = np.flatnonzero((values_ms <= 0.0) | (values_ms < floor))
    return int(bad.size), int(bad[0]) if bad.size else -1
