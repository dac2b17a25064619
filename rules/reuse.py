"""When a run may confirm a determination without evaluating it again.

An evaluation is a function of four things: the subject's facts, the rule version, the as-of date
and the engine (its code and data files, and the code that turns an evaluation into the log's
payload). The engine reads the as-of date in three ways only:

- it compares it with dates among the facts (when a model finished training or was released, when
  a cluster became operational, when a designation was decided);
- it takes its calendar year (SB 53's revenue "in the preceding calendar year");
- it writes it into notes and reasons, which the log stores with the date marked (`undated`), and
  into the note of the revenue's reading, which it stores as written.

A date the engine writes from elsewhere (the rule version's own texts, its data files) is a date
the as-of date may be mistaken for where the log marks it. So the same facts under the same rule
version, evaluated by the same engine, give the same payload on two dates when no date among the
facts, the rule version or the engine's files lies between them or on either (`unchanged_between`
over `fact_dates` and `version_dates`), both fall in one calendar year, and the payload does not
name the earlier date (`names_date`). A run that finds all of that true for a subject's current
determination confirms it as it stands, without evaluating the subject again
(`rules.services.chunks.reusable_determinations`). `tests/rules/test_reuse.py` checks the rule
against the engine: every pair of dates it allows gives the same payload.

The earlier date is that of the determination itself, or that of the previous run of the same
kind when that run confirmed it (so a determination confirmed every night is compared with
yesterday, not with the day it was first made). Either counts only when made by this engine
(`engine_sha256`, recorded on each run). A determination appended by another writer after the
run read the log is not confirmed this way: the chunk is then evaluated in full
(`rules.services.chunks.chunk_write`).
"""
from __future__ import annotations

import bisect
import contextlib
import functools
import hashlib
import json
import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

_RULES = Path(__file__).resolve().parent
# What an evaluation's payload depends on besides facts, rule version and date: the engine's code
# and data files, and the code that makes the payload the log stores.
ENGINE_FILES = (*sorted((_RULES / "engine").rglob("*.py")), *sorted((_RULES / "engine").rglob("*.yaml")),
                _RULES / "decision_log.py", _RULES / "models" / "decision_log.py")

# How many (payload, date) answers a process remembers; past it the memory is cleared.
PAYLOADS_KEPT = 200_000
_payload_dates: dict[tuple[str, date], bool] = {}


@functools.cache
def engine_sha256() -> str:
    """The SHA-256 of the engine's files (`ENGINE_FILES`), each under its name: a run records it, and
    a determination made by a run under another engine is evaluated again, never reused."""
    digest = hashlib.sha256()
    for path in ENGINE_FILES:
        digest.update(f"{path.relative_to(_RULES)}\n".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


# A month and a day after a hyphen: found fast (a literal first), the year before it checked after.
_MONTH_DAY = re.compile(r"-[01]\d-[0-3]\d")


def dates_written(text: str) -> set[date]:
    """Every calendar date written in the text as YYYY-MM-DD (alone or inside a longer string): the
    registry keeps its dates as dates, and a snapshot writes them so."""
    found: set[date] = set()
    for match in _MONTH_DAY.finditer(text):
        at = match.start()
        year = text[at - 4:at]
        if len(year) == 4 and year.isdigit():
            with contextlib.suppress(ValueError):  # not a calendar date: the engine reads no date from it
                found.add(date(int(year), int(text[at + 1:at + 3]), int(text[at + 4:at + 6])))
    return found


@functools.cache
def engine_dates() -> tuple[date, ...]:
    """Every calendar date written in the engine's files, sorted."""
    found: set[date] = set()
    for path in ENGINE_FILES:
        found |= dates_written(path.read_text(encoding="utf-8"))
    return tuple(sorted(found))


_version_dates: dict[str | None, tuple[date, ...]] = {}


def version_dates(version: Any) -> tuple[date, ...]:
    """Every calendar date written in a rule version's document (its periods, caveats, quotes) or in
    the engine's files (`engine_dates`), sorted."""
    key = version.content_hash if version is not None else None
    found = _version_dates.get(key)
    if found is None:
        written = set(fact_dates(version.document)) if version is not None else set()
        found = _version_dates[key] = tuple(sorted(written | set(engine_dates())))
    return found


def fact_dates(snapshot: dict[str, Any]) -> tuple[date, ...]:
    """Every calendar date written anywhere in a subject's facts (in any key or string, or as a date),
    sorted: the dates the engine may compare the as-of date with."""
    return tuple(sorted(dates_written(json.dumps(snapshot, default=str))))


def unchanged_between(dates: tuple[date, ...], first: date, second: date) -> bool:
    """Whether an evaluation of facts holding these dates reads the same on both as-of dates: both in
    one calendar year, and no date of the facts between them or on either."""
    low, high = (first, second) if first <= second else (second, first)
    if low.year != high.year:
        return False
    at = bisect.bisect_left(dates, low)
    return at == len(dates) or dates[at] > high


def names_date(payload_sha256: str, text: str | None, day: date) -> bool:
    """Whether the payload's text names the date (as the revenue's reading names the as-of date): such
    a payload holds on that date only. A text that could not be read (None) counts as naming it."""
    key = (payload_sha256, day)
    named = _payload_dates.get(key)
    if named is None:
        if text is None:
            return True
        if len(_payload_dates) >= PAYLOADS_KEPT:
            _payload_dates.clear()
        named = _payload_dates[key] = day.isoformat() in text
    return named


def dates_known(payloads: Iterable[tuple[str, date]]) -> set[tuple[str, date]]:
    """Which of these (payload, date) this process remembers already (their texts need not be read)."""
    return {key for key in payloads if key in _payload_dates}


def confirmed_ranges(text: str) -> list[tuple[int, int]]:
    """A confirmation's sequences, as the ranges it stores them in."""
    return [(first, last) for first, last in json.loads(text)]


class Ranges:
    """Sequences held as sorted, disjoint ranges: whether a sequence is among them, by bisection."""

    def __init__(self, ranges: Iterable[tuple[int, int]]) -> None:
        ordered = sorted(ranges)
        self.firsts = [first for first, _ in ordered]
        self.lasts = [last for _, last in ordered]

    def __contains__(self, sequence: int) -> bool:
        at = bisect.bisect_right(self.firsts, sequence) - 1
        return at >= 0 and self.lasts[at] >= sequence


# Worked out as the process starts, from the files its engine was loaded from.
engine_sha256()
