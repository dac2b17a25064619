"""Reading interchange JSON so that no number is silently changed on the way in."""
from __future__ import annotations

import json
import math
from typing import Any


class RawNumber(str):
    """A JSON number literal that a double cannot hold (1e400): kept as its text, refused later."""


def _parse_float(text: str) -> float | RawNumber:
    value = float(text)
    return value if math.isfinite(value) else RawNumber(text)


def _parse_int(text: str) -> int | float | RawNumber:
    if len(text) > 308:
        return RawNumber(text[:20] + "…")
    return int(text)


def _parse_constant(name: str) -> RawNumber:
    return RawNumber(name)  # NaN, Infinity, -Infinity: not JSON; refused by the field that holds them


def loads(text: str | bytes) -> Any:
    return json.loads(text, parse_float=_parse_float, parse_int=_parse_int, parse_constant=_parse_constant)
