"""What "the current determination" of a subject under a regime is, as of a date D: among its
determinations made as of a date on or before D, the one with the newest as-of date, and of those
the one appended last (highest sequence). An evaluation as of a past date answered "what was the
law then", so it does not replace a later date's answer however recently it was made.

Every reader of "current" uses this: the workspace's statuses and counts (`rules.selectors`) and
change detection (`rules.services.changes`).

A run that reaches a subject's current determination again (same rule version, facts and payload)
appends no row: it confirms that row as of its own date (`rules.models.Confirmation`). "Current" is
unchanged by it (the confirmed row was current already); what a page or report headed "as of D"
reads, the determinations recorded as of exactly D, counts it (`recorded_on`).
"""
from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Iterable
from datetime import date
from typing import Any

from django.db import connection
from django.db.models import F, Q, QuerySet, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber

from .models import Confirmation, Determination

# The order in which a (subject, regime)'s determinations are candidates for "current": first wins.
NEWEST_FIRST = ("-as_of", "-sequence")
# The same order in SQL, for the raw queries that probe one (subject, regime) at a time.
NEWEST_FIRST_SQL = "as_of DESC, sequence DESC"


def current_of(rows: QuerySet[Determination], *, as_of: date) -> QuerySet[Determination]:
    """The current determination, as of `as_of`, per (subject, regime) among `rows`, as one query."""
    ranked = rows.filter(as_of__lte=as_of).annotate(
        newness=Window(RowNumber(), partition_by=[F("subject_ref"), F("regime")],
                       order_by=[F("as_of").desc(), F("sequence").desc()]),
    )
    return Determination.objects.filter(sequence__in=ranked.filter(newness=1).values("sequence"))


def _confirmed_sql(vendor: str) -> str:
    """The sequences that confirmations as of a date (the one parameter) name, one row each."""
    if vendor == "postgresql":
        return ("SELECT s.sequence FROM rules_confirmation c "
                "CROSS JOIN LATERAL json_array_elements(c.confirmed::json) r "
                "CROSS JOIN LATERAL generate_series((r ->> 0)::bigint, (r ->> 1)::bigint) AS s(sequence) "
                "WHERE c.as_of = %s")
    return ("SELECT d.sequence FROM rules_confirmation c, json_each(c.confirmed) r, rules_determination d "
            "WHERE c.as_of = %s AND d.sequence BETWEEN json_extract(r.value, '$[0]') AND json_extract(r.value, '$[1]')")


def confirmed_among(sequences: Iterable[int], *, as_of: date) -> set[int]:
    """Those of these sequences that a confirmation as of `as_of` names: the confirmations whose
    bounds reach them are read (one query) and their ranges searched here."""
    wanted = sorted(set(sequences))
    if not wanted:
        return set()
    found: set[int] = set()
    texts = Confirmation.objects.filter(as_of=as_of, first_sequence__lte=wanted[-1], last_sequence__gte=wanted[0])
    for text in texts.values_list("confirmed", flat=True).iterator(chunk_size=200):
        ranges = json.loads(text)
        firsts = [first for first, _ in ranges]
        found.update(sequence for sequence in wanted if _in_ranges(ranges, firsts, sequence))
    return found


def _in_ranges(ranges: list[Any], firsts: list[int], sequence: int) -> bool:
    """Whether `sequence` lies in one of the ascending, disjoint `[first, last]` ranges (`firsts`: their starts)."""
    at = bisect_right(firsts, sequence) - 1
    return at >= 0 and sequence <= ranges[at][1]


def recorded_on(rows: QuerySet[Determination], *, as_of: date, few: bool = False) -> QuerySet[Determination]:
    """Those of `rows` recorded as of exactly `as_of`: made as of that date, or made earlier and
    confirmed as of it by a run that reached them again (`rules.models.Confirmation`). A report or a
    page headed "as of D" reads these. `few`: `rows` are a few subjects', so each is probed in the
    confirmations (`confirmed_among`) rather than every confirmed sequence of the date listed."""
    if few:
        candidates = list(rows.filter(as_of__lt=as_of).values_list("sequence", flat=True))
        return rows.filter(Q(as_of=as_of) | Q(sequence__in=sorted(confirmed_among(candidates, as_of=as_of))))
    table = connection.ops.quote_name(Determination._meta.db_table)
    recorded = f"SELECT sequence FROM {table} WHERE as_of = %s UNION ALL {_confirmed_sql(connection.vendor)}"
    return rows.filter(sequence__in=RawSQL(recorded, [as_of, as_of]))


def confirmations_of(sequence: int, *, limit: int = 20) -> tuple[list[Confirmation], int]:
    """The confirmations naming the row at `sequence`, newest first (at most `limit` of them), and how
    many there are: each a date on which a run reached that determination again unchanged."""
    found = []
    rows = Confirmation.objects.filter(first_sequence__lte=sequence, last_sequence__gte=sequence).select_related("run")
    for confirmation in rows.order_by("-position").iterator(chunk_size=200):
        ranges = confirmation.ranges()
        if _in_ranges(ranges, [first for first, _ in ranges], sequence):
            found.append(confirmation)
    return found[:limit], len(found)
