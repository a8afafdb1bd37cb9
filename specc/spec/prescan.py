"""A linear pre-scan of spec text that refuses shapes `tomllib` cannot handle in bounded time.

`tomllib` is quadratic in the number of parts of a dotted key (a 40 KB key of 20,000 parts takes
seconds and gigabytes) and recursive in the nesting of arrays and inline tables (500 nested
arrays are a RecursionError). No spec needs either: the deepest key of a real spec has four parts.
This scan reads each character once, skips strings and comments the way TOML does, and returns
the first place where a key has more than MAX_KEY_PARTS parts, values nest deeper than
MAX_VALUE_NESTING, or the spec holds more than MAX_ENTRIES keys and values (every later pass
costs microseconds per entry: this bounds them all). It is not a TOML parser: on text that is not TOML it may miss a problem, and
then `tomllib` reports the syntax error itself (within the same bounds, since neither limit was
exceeded on the way to it).
"""

from __future__ import annotations

MAX_KEY_PARTS = 16
MAX_VALUE_NESTING = 16
MAX_ENTRIES = 5_000  # keys, table headers and array items: a real spec has about two hundred


def structure_problem(text: str) -> tuple[str, int] | None:
    """(message, character offset) of the first key or value too deep for the loader, else None."""
    n = len(text)
    i = 0
    stack: list[str] = []  # open "[" (arrays) and "{" (inline tables) of the current value
    expecting_key = True  # at the start of a statement, or after "{" or "," inside an inline table
    key_parts = 1
    entries = 0
    too_many = f"spec has more than {MAX_ENTRIES} keys, tables and array items"
    while i < n:
        ch = text[i]
        if ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if ch in "\"'":
            i = _skip_string(text, i)
            continue
        if ch == "\n":
            if not stack:
                expecting_key, key_parts = True, 1
            i += 1
            continue
        if expecting_key:
            if ch == "[" and not stack:  # a table header: [a.b] or [[a.b]]
                entries += 1
                if entries > MAX_ENTRIES:
                    return too_many, i
                key_parts = 1
                i += 1
                while i < n and text[i] not in "]\n":
                    if text[i] in "\"'":
                        i = _skip_string(text, i)
                        continue
                    if text[i] == ".":
                        key_parts += 1
                        if key_parts > MAX_KEY_PARTS:
                            return f"table name has more than {MAX_KEY_PARTS} dotted parts", i
                    i += 1
                while i < n and text[i] == "]":
                    i += 1
                key_parts = 1
                continue
            if ch == ".":
                key_parts += 1
                if key_parts > MAX_KEY_PARTS:
                    return f"key has more than {MAX_KEY_PARTS} dotted parts", i
            elif ch == "=":
                expecting_key, key_parts = False, 1
                entries += 1
                if entries > MAX_ENTRIES:
                    return too_many, i
            elif ch == "}" and stack and stack[-1] == "{":  # an empty inline table
                stack.pop()
                expecting_key = False
            i += 1
            continue
        if ch in "[{":
            stack.append(ch)
            if len(stack) > MAX_VALUE_NESTING:
                return f"value nests arrays and inline tables deeper than {MAX_VALUE_NESTING} levels", i
            expecting_key, key_parts = ch == "{", 1
        elif ch in "]}":
            if stack:
                stack.pop()
        elif ch == "," and stack:
            expecting_key, key_parts = stack[-1] == "{", 1
            entries += stack[-1] == "["
            if entries > MAX_ENTRIES:
                return too_many, i
        i += 1
    return None


def _skip_string(text: str, i: int) -> int:
    """The offset just past the string starting at `i` (or the end of the line/text if unterminated)."""
    quote = text[i]
    if text.startswith(quote * 3, i):
        end = i + 3
        while True:
            end = text.find(quote * 3, end)
            if end < 0:
                return len(text)
            if quote == '"' and _escaped(text, end, i + 3):
                end += 1
                continue
            end += 3
            while end < len(text) and text[end] == quote:  # up to two quotes may close with it
                end += 1
            return end
    j = i + 1
    n = len(text)
    while j < n:
        c = text[j]
        if c == "\n":
            return j
        if c == "\\" and quote == '"':
            j += 2
            continue
        if c == quote:
            return j + 1
        j += 1
    return n


def _escaped(text: str, at: int, start: int) -> bool:
    """Whether the quote at `at` is escaped by an odd run of backslashes before it."""
    count = 0
    k = at - 1
    while k >= start and text[k] == "\\":
        count += 1
        k -= 1
    return count % 2 == 1
