"""Reading interchange JSON so that no number is silently changed on the way in, and no document
is ambiguous: a key given twice in one object, or nesting deeper than any record has, is refused."""
from __future__ import annotations

import json
import math
import re
from typing import Any


class RawNumber(str):
    """A JSON number literal that a double cannot hold (1e400, 1e-400): kept as its text, refused later."""


class DecimalLiteral(float):
    """A JSON number literal with a fraction or exponent (`1.0000000000001e26`): a float everywhere a
    float is expected, and its `text` as written, so that a field that keeps exact figures reads it
    exactly (`registry.interchange.InterchangeNumber`)."""

    text: str

    def __new__(cls, text: str) -> DecimalLiteral:
        number = super().__new__(cls, text)
        number.text = text
        return number


_NONZERO = re.compile(r"[1-9]")


def _parse_float(text: str) -> DecimalLiteral | RawNumber:
    value = DecimalLiteral(text)
    if not math.isfinite(value):
        return RawNumber(text)
    if value == 0 and _NONZERO.search(text.split("e")[0].split("E")[0]):
        return RawNumber(text)  # 1e-400: too small for a double, not 0
    return value


def _parse_int(text: str) -> int | float | RawNumber:
    if len(text) > 308:
        return RawNumber(text[:20] + "…")
    if text.startswith("-") and int(text) == 0:
        return -0.0  # kept negative, so that it is refused like any other negative
    return int(text)


def _parse_constant(name: str) -> RawNumber:
    return RawNumber(name)  # NaN, Infinity, -Infinity: not JSON; refused by the field that holds them


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _deepest(text: str) -> tuple[int, int]:
    """(the deepest nesting of arrays and objects outside strings, the offset where it is first reached)."""
    depth = deepest = at = 0
    in_string = escaped = False
    for offset, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest, at = depth, offset
        elif char in "]}":
            depth -= 1
    return deepest, at


def _second_occurrence(text: str, key: str) -> int:
    found = [m.start() for m in re.finditer(re.escape(json.dumps(key, ensure_ascii=False)) + r"\s*:", text)]
    return found[1] if len(found) > 1 else 0


def loads(text: str | bytes) -> Any:
    """Parses JSON; raises json.JSONDecodeError (a ValueError) naming the line and column of a problem:
    bad syntax, a key given twice in one object, or nesting too deep to read."""
    try:
        return json.loads(text, parse_float=_parse_float, parse_int=_parse_int, parse_constant=_parse_constant,
                          object_pairs_hook=_object)
    except _DuplicateKey as exc:
        document = text if isinstance(text, str) else bytes(text).decode("utf-8", errors="replace")
        raise json.JSONDecodeError(f"the key {exc.key!r} appears twice in one object", document,
                                   _second_occurrence(document, exc.key)) from None
    except RecursionError:
        document = text if isinstance(text, str) else bytes(text).decode("utf-8", errors="replace")
        depth, offset = _deepest(document)
        raise json.JSONDecodeError(f"nested {depth} levels deep, too deep to read", document, offset) from None
