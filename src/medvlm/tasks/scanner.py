"""A tolerant reader for the JSON-like structures models write around and inside prose.

``json.loads`` rejects most of what a fine-tuned model emits: single quotes, unquoted keys,
trailing commas, Python tuples, text before and after, and above all output cut off at the token
limit. :func:`scan` reads every top-level ``{...}``, ``[...]`` or ``(...)`` in a text, plus runs
of ``key: number`` pairs in prose (``x_min: 10, y_min: 20 ...``), and keeps what is complete:

- a list whose closing bracket never came is an :class:`OpenList` (so a cut-off ``[5, 6, 7, 8``
  is never mistaken for a finished box); an object cut off keeps its finished entries;
- a number at the very end of the text is dropped (``[5, 6, 7`` might have been ``[5, 6, 70]``).

It never evaluates anything, never recurses (nesting deeper than ``MAX_DEPTH`` is read and
dropped), never raises on any string, and takes time linear in the length of the text.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

MAX_DEPTH = 16

_TOKEN = re.compile(
    r"""
    (?P<open>[\[{(])
    | (?P<close>[\]})])
    | (?P<colon>[:=])
    | (?P<comma>,)
    | (?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)
    | (?P<quote>["'])
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<other>\S)
    """,
    re.VERBOSE,
)


class OpenList(list):
    """A list whose closing bracket never came (the text was cut off inside it)."""


@dataclass
class Obj:
    """A ``{...}`` object: its entries in order, duplicate keys kept."""

    items: list[tuple[str, Any]] = field(default_factory=list)
    closed: bool = False

    def lookup(self) -> dict[str, Any]:
        """Casefolded key -> first value with that key."""
        found: dict[str, Any] = {}
        for key, value in self.items:
            found.setdefault(key.casefold(), value)
        return found


class _Tokens:
    """The tokens of a text as two parallel lists, kinds and values: no object per token, so a
    long text makes no garbage-collected containers (which would cost more than linear time)."""

    def __init__(self) -> None:
        self.kinds: list[str] = []
        self.values: list[Any] = []

    def add(self, kind: str, value: Any) -> None:
        self.kinds.append(kind)
        self.values.append(value)


# A quoted string runs to its closing quote on the same line; ``\\x`` escapes any character. The
# body is read possessively: it stops at the closing quote, a line end or the end of the text.
_STRING_BODY = {
    '"': re.compile(r'"(?:[^"\\\n]|\\.)*+'),
    "'": re.compile(r"'(?:[^'\\\n]|\\.)*+"),
}
_LETTERS = frozenset(string.ascii_letters)


def _string_end(text: str, start: int, blocked: dict[str, int]) -> int | None:
    """The end of the string opened by the quote at ``start``, or None when it opens none.

    A single quote opens a string only when no letter is on either side of the pair (``it's``
    is a word). When the string from ``start`` fails, every quote of the same kind before the
    place its body stopped is escaped in the body, so a string from there reads the same
    characters and fails the same way: ``blocked`` remembers that place, and no quote is read
    twice, which keeps the scan linear (a run of ``"\\"\\"...`` would otherwise be quadratic).
    """
    quote = text[start]
    if start < blocked[quote] or (quote == "'" and start and text[start - 1] in _LETTERS):
        return None
    end = _STRING_BODY[quote].match(text, start).end()
    closed = end < len(text) and text[end] == quote
    if closed and not (quote == "'" and text[end + 1 : end + 2] in _LETTERS):
        return end + 1
    blocked[quote] = end
    return None


def _tokens(text: str) -> _Tokens:
    tokens = _Tokens()
    blocked = {'"': 0, "'": 0}
    position = 0
    while (match := _TOKEN.search(text, position)) is not None:
        kind, raw, position = match.lastgroup, match.group(), match.end()
        if kind == "number":
            value = float(raw)
            tokens.add(*(("number", value) if math.isfinite(value) else ("word", raw)))
        elif kind == "quote":
            end = _string_end(text, match.start(), blocked)
            if end is not None:
                tokens.add("string", _unquote(text[match.start() : end]))
                position = end
        elif kind != "other":
            tokens.add(kind, raw)
    return tokens


def _unquote(raw: str) -> str:
    """The text of a quoted string: JSON escapes for double quotes, else ``\\x`` -> ``x``."""
    if raw.startswith('"'):
        try:
            return json.loads(raw)
        except ValueError:
            pass
    return re.sub(r"\\(.)", r"\1", raw[1:-1])


def format_number(value: float) -> str:
    """A number as JSON text: integers without ``.0``, other values in their shortest form."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def key_text(value: Any) -> str:
    """An object key as text: numbers as :func:`format_number` writes them."""
    return format_number(value) if isinstance(value, float) else str(value)


class _Frame:
    def __init__(self, kind: str):
        self.kind = kind  # "list" or "obj"
        self.items: list[Any] = []
        self.key: str | None = None
        self.colon = False

    def add(self, value: Any) -> None:
        if self.kind == "list":
            self.items.append(value)
        elif self.kind == "obj":
            if self.key is not None and (self.colon or not isinstance(value, (str, float))):
                self.items.append((self.key, value))
                self.key, self.colon = None, False
            elif isinstance(value, (str, float)):
                self.key = key_text(value)

    def finish(self, closed: bool) -> Any:
        if self.kind == "obj":
            return Obj(self.items, closed)
        return list(self.items) if closed else OpenList(self.items)


def _read_structure(tokens: _Tokens, start: int) -> tuple[Any, int]:
    """Read the structure opened at ``tokens[start]``; return it and the index after it.

    Levels below ``MAX_DEPTH`` are only counted (``deeper``): what they hold is dropped.
    """
    kinds, values = tokens.kinds, tokens.values
    stack: list[_Frame] = []
    deeper = 0
    i = start
    while i < len(kinds):
        kind = kinds[i]
        top = stack[-1] if stack else None
        if deeper and kind in ("open", "close"):
            deeper += 1 if kind == "open" else -1
        elif deeper:
            pass
        elif kind == "open":
            if len(stack) < MAX_DEPTH:
                stack.append(_Frame("obj" if values[i] == "{" else "list"))
            else:
                deeper = 1
        elif kind == "close":
            value = stack.pop().finish(closed=True)
            if not stack:
                return value, i + 1
            stack[-1].add(value)
        elif kind == "colon":
            top.colon = top.key is not None
        elif kind == "comma":
            if top.kind == "obj":
                top.key, top.colon = None, False
        elif i + 1 < len(kinds):  # a scalar; the last token of the text may be cut off
            top.add(values[i])
        i += 1
    value = None
    while stack:
        value = stack.pop().finish(closed=False)
        if stack:
            stack[-1].add(value)
    return value, i


def _read_pairs(tokens: _Tokens, start: int) -> tuple[Obj | None, int]:
    """Read a run of ``key: number`` pairs in prose; None if ``start`` does not begin one."""
    kinds, values = tokens.kinds, tokens.values
    items = []
    i = start
    while (
        i + 2 < len(kinds)
        and kinds[i] in ("word", "string")
        and kinds[i + 1] == "colon"
        and kinds[i + 2] == "number"
    ):
        items.append((str(values[i]), values[i + 2]))
        i += 3
        if i < len(kinds) and kinds[i] == "comma":
            i += 1
    return (Obj(items, closed=True), i) if items else (None, start + 1)


def scan(text: str) -> Iterator[Any]:
    """Every top-level structure in ``text``, in order (see the module docstring), one at a time:
    a caller that drops each once read keeps no million small structures alive."""
    tokens = _tokens(text)
    i = 0
    while i < len(tokens.kinds):
        if tokens.kinds[i] == "open":
            value, i = _read_structure(tokens, i)
            yield value
        else:
            pairs, i = _read_pairs(tokens, i)
            if pairs is not None:
                yield pairs
