"""Where every key and value of a TOML document stands in its text.

`tomllib` returns values without positions, so this module scans the same text a
second time and records, for every key path (``("rewards", "terms", "x", "expr")``,
with integers for array elements and array-of-tables entries), the position of the
key and of its value. It runs only on text that `tomllib` has already accepted, so
it can be small: it tracks structure, it does not decode values. String values keep
their raw source so that a position inside the decoded string (an expression's
offending character) maps back to the exact file column, escapes included.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from specc.diagnostics import Position

KeyPath = tuple[str | int, ...]

_BARE_KEY_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_SIMPLE_ESCAPES = set('btnfr"\\e')


@dataclass(frozen=True)
class RawValue:
    """A value's source text and the position of its first character."""

    text: str
    start: Position


@dataclass
class PositionMap:
    """Positions of keys and values by key path; `locate` falls back to the nearest ancestor."""

    keys: dict[KeyPath, Position] = field(default_factory=dict)
    values: dict[KeyPath, RawValue] = field(default_factory=dict)

    def key(self, path: KeyPath) -> Position:
        return self._nearest(path, prefer_value=False)

    def value(self, path: KeyPath) -> Position:
        return self._nearest(path, prefer_value=True)

    def _nearest(self, path: KeyPath, prefer_value: bool) -> Position:
        probe = tuple(path)
        while probe:
            if prefer_value and probe in self.values:
                return self.values[probe].start
            if probe in self.keys:
                return self.keys[probe]
            if probe in self.values:
                return self.values[probe].start
            probe = probe[:-1]
        return Position(1, 1)

    def string_char_positions(self, path: KeyPath) -> list[Position] | None:
        """File positions of each character of the decoded string at `path` (plus one past the end)."""
        raw = self.values.get(tuple(path))
        if raw is None or not raw.text or raw.text[0] not in "\"'":
            return None
        return _decoded_positions(raw.text, raw.start)


def offset_position(text: str, offset: int) -> Position:
    """The line and column of character `offset` of `text` (one pass, no line table)."""
    offset = max(0, min(offset, len(text)))
    line_start = text.rfind("\n", 0, offset) + 1
    return Position(text.count("\n", 0, offset) + 1, offset - line_start + 1)


def scan_positions(text: str) -> PositionMap:
    """Scan valid TOML `text` and return the positions of all its keys and values."""
    return _Scanner(text).run()


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.map = PositionMap()
        self.line_starts = [0] + [k + 1 for k, ch in enumerate(text) if ch == "\n"]
        # Last index of every array of tables, so `[a.b]` after `[[a]]` lands in a's last entry.
        self.array_tables: dict[KeyPath, int] = {}

    def pos(self, offset: int) -> Position:
        line = bisect.bisect_right(self.line_starts, offset) - 1
        return Position(line + 1, offset - self.line_starts[line] + 1)

    def run(self) -> PositionMap:
        current: KeyPath = ()
        text = self.text
        while True:
            self.skip_blank(newlines=True)
            if self.i >= len(text):
                return self.map
            if text.startswith("[[", self.i):
                start = self.i
                self.i += 2
                names = self.read_key()
                self.i = text.index("]]", self.i) + 2
                # Parents may be arrays of tables themselves; the array named last is not indexed yet.
                path = self.resolve(names[:-1]) + (names[-1][0],)
                index = self.array_tables.get(path, -1) + 1
                self.array_tables[path] = index
                current = path + (index,)
                self.map.keys.setdefault(path, self.pos(names[-1][1]))
                self.map.keys[current] = self.pos(start)
            elif text[self.i] == "[":
                start = self.i
                self.i += 1
                names = self.read_key()
                self.i = text.index("]", self.i) + 1
                current = self.resolve(names)
            else:
                self.read_key_value(current)

    def resolve(self, names: list[tuple[str, int]]) -> KeyPath:
        path: KeyPath = ()
        for name, offset in names:
            path = path + (name,)
            self.map.keys.setdefault(path, self.pos(offset))
            if path in self.array_tables:
                path = path + (self.array_tables[path],)
        return path

    def skip_blank(self, newlines: bool) -> None:
        text = self.text
        while self.i < len(text):
            ch = text[self.i]
            if ch in " \t\r" or (newlines and ch == "\n"):
                self.i += 1
            elif ch == "#":
                end = text.find("\n", self.i)
                self.i = len(text) if end < 0 else end
            else:
                return

    def read_key(self) -> list[tuple[str, int]]:
        """A dotted key: each part's name and offset."""
        parts: list[tuple[str, int]] = []
        while True:
            self.skip_blank(newlines=False)
            start = self.i
            ch = self.text[self.i]
            if ch in "\"'":
                raw = self.read_string_raw()
                name = _decode_simple(raw)
            else:
                while self.i < len(self.text) and self.text[self.i] in _BARE_KEY_CHARS:
                    self.i += 1
                name = self.text[start : self.i]
            parts.append((name, start))
            self.skip_blank(newlines=False)
            if self.i < len(self.text) and self.text[self.i] == ".":
                self.i += 1
                continue
            return parts

    def read_key_value(self, table: KeyPath) -> None:
        names = self.read_key()
        path = table
        for name, offset in names:
            path = path + (name,)
            self.map.keys[path] = self.pos(offset)
        self.skip_blank(newlines=False)
        assert self.text[self.i] == "=", "positions scanned on invalid TOML"
        self.i += 1
        self.skip_blank(newlines=False)
        self.read_value(path)

    def read_value(self, path: KeyPath) -> None:
        text = self.text
        start = self.i
        ch = text[start]
        if ch in "\"'":
            raw = self.read_string_raw()
            self.map.values[path] = RawValue(raw, self.pos(start))
        elif ch == "[":
            self.i += 1
            index = 0
            while True:
                self.skip_blank(newlines=True)
                if text[self.i] == "]":
                    self.i += 1
                    break
                self.read_value(path + (index,))
                index += 1
                self.skip_blank(newlines=True)
                if text[self.i] == ",":
                    self.i += 1
            self.map.values[path] = RawValue(text[start : self.i], self.pos(start))
        elif ch == "{":
            self.i += 1
            while True:
                self.skip_blank(newlines=True)
                if text[self.i] == "}":
                    self.i += 1
                    break
                self.read_key_value(path)
                self.skip_blank(newlines=True)
                if text[self.i] == ",":
                    self.i += 1
            self.map.values[path] = RawValue(text[start : self.i], self.pos(start))
        else:
            while self.i < len(text) and text[self.i] not in ",]}\n#":
                self.i += 1
            self.map.values[path] = RawValue(text[start : self.i].rstrip(), self.pos(start))

    def read_string_raw(self) -> str:
        text = self.text
        start = self.i
        for delim in ('"""', "'''", '"', "'"):
            if text.startswith(delim, start):
                break
        self.i = start + len(delim)
        escapes = delim[0] == '"'
        while True:
            if escapes and text[self.i] == "\\":
                self.i += 2
                continue
            if text.startswith(delim, self.i):
                self.i += len(delim)
                # A multi-line string may end with up to two extra quotes that belong to it.
                while len(delim) == 3 and self.i < len(text) and text[self.i] == delim[0]:
                    self.i += 1
                return text[start : self.i]
            self.i += 1


def _decode_simple(raw: str) -> str:
    """Decode a quoted key (keys are single-line strings)."""
    import json

    if raw[0] == "'":
        return raw[1:-1]
    return json.loads(raw)


def _decoded_positions(raw: str, start: Position) -> list[Position]:
    """For each character of the decoded string, the file position of its source; plus one past the end."""
    delim = raw[:3] if raw[:3] in ('"""', "'''") else raw[0]
    basic = delim[0] == '"'
    body_end = len(raw) - len(delim)
    line, col = start.line, start.col + len(delim)
    i = len(delim)
    out: list[Position] = []

    def advance(chunk: str) -> None:
        nonlocal line, col
        for ch in chunk:
            if ch == "\n":
                line, col = line + 1, 1
            else:
                col += 1

    if len(delim) == 3 and raw.startswith("\n", i):  # a newline right after """ is trimmed
        advance("\n")
        i += 1
    elif len(delim) == 3 and raw.startswith("\r\n", i):
        advance("\r\n")
        i += 2
    while i < body_end:
        ch = raw[i]
        if basic and ch == "\\":
            nxt = raw[i + 1]
            if nxt in _SIMPLE_ESCAPES:
                width = 2
            elif nxt == "x":
                width = 4
            elif nxt == "u":
                width = 6
            elif nxt == "U":
                width = 10
            else:  # line-ending backslash: swallow whitespace and newlines, emit nothing
                j = i + 1
                while j < body_end and raw[j] in " \t\r\n":
                    j += 1
                advance(raw[i:j])
                i = j
                continue
            out.append(Position(line, col))
            advance(raw[i : i + width])
            i += width
            continue
        out.append(Position(line, col))
        advance(ch)
        i += 1
    out.append(Position(line, col))
    return out
