"""What "the current determination" of a subject under a regime is, as of a date D: among its
determinations made as of a date on or before D, the one with the newest as-of date, and of those
the one appended last (highest sequence). An evaluation as of a past date answered "what was the
law then", so it does not replace a later date's answer however recently it was made.

Every reader of "current" uses this: the workspace's statuses and counts (`rules.selectors`) and
change detection (`rules.services.changes`).

The newest determination of each (subject, regime) is also kept in an index of its own
(`rules.models.CurrentDetermination`), written with the rows it names: as of a date on or after it,
under the version it was made under, it is the current one, so the workspace reads it there rather
than ranking the whole log (`current_in_force`). The few subjects it does not answer for (their
newest determination is as of a later date, or under another version) are ranked from the log.

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
from typing import Any, NamedTuple

from django.db import connection
from django.db.models import F, Q, QuerySet, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber

from .models import Confirmation, CurrentDetermination, Determination

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


class IndexedRow(NamedTuple):
    """What the index of current determinations keeps of a row just appended."""

    subject_ref: str
    regime: str
    sequence: int
    as_of: date
    rule_version_id: int | None
    subject_kind: str
    organisation: str
    status: str
    tier: str


_INDEX_COLUMNS = IndexedRow._fields
# A row replaces the index's entry for its (subject, regime) when it comes first in `NEWEST_FIRST`.
_INDEX_UPSERT = (
    " ON CONFLICT (subject_ref, regime) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in _INDEX_COLUMNS[2:])
    + " WHERE {table}.as_of < excluded.as_of OR ({table}.as_of = excluded.as_of AND {table}.sequence < excluded.sequence)"
)
_INDEX_TYPES = ("varchar", "varchar", "bigint", "date", "bigint", "varchar", "varchar", "varchar", "varchar")


def index_appended(rows: list[IndexedRow]) -> None:
    """Brings the index up to date with rows just appended (one each per (subject, regime), the
    newest of the batch); inside the append's transaction, with the log's head locked."""
    if not rows:
        return
    table = connection.ops.quote_name(CurrentDetermination._meta.db_table)
    columns = ", ".join(_INDEX_COLUMNS)
    upsert = _INDEX_UPSERT.format(table=table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(f"%s::{kind}[]" for kind in _INDEX_TYPES)
            cursor.execute(f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays}){upsert}",
                           [list(values) for values in zip(*rows, strict=True)])
        else:
            marks = ", ".join(["%s"] * len(_INDEX_COLUMNS))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks}){upsert}", [list(row) for row in rows])


def _newest_sql() -> str:
    """The newest row of each (subject, regime) in the log, with the index's columns, as SQL."""
    table = connection.ops.quote_name(Determination._meta.db_table)
    columns = ", ".join(_INDEX_COLUMNS)
    return (f"SELECT {columns} FROM (SELECT {columns}, ROW_NUMBER() OVER (PARTITION BY subject_ref, regime "
            f"ORDER BY {NEWEST_FIRST_SQL}) AS newness FROM {table}) AS ranked WHERE newness = 1")


def rebuild_index() -> int:
    """Makes the index of current determinations again from the log (it is derived from it); returns
    its entries."""
    from django.db import transaction

    table = connection.ops.quote_name(CurrentDetermination._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")
        cursor.execute(f"INSERT INTO {table} ({', '.join(_INDEX_COLUMNS)}) {_newest_sql()}")
    return CurrentDetermination.objects.count()


def index_faults(*, limit: int = 10) -> list[tuple[str, str]]:
    """The (subject, regime) keys, at most `limit`, where the index of current determinations
    disagrees with the log: an entry missing, left over, or naming another row than the newest."""
    table = connection.ops.quote_name(CurrentDetermination._meta.db_table)
    columns = ", ".join(_INDEX_COLUMNS)
    newest = _newest_sql()
    # one statement, so one snapshot of the log and the index (they are written in one transaction)
    sql = (f"SELECT DISTINCT subject_ref, regime FROM ("
           f"SELECT subject_ref, regime FROM ({newest} EXCEPT SELECT {columns} FROM {table}) AS missing "
           f"UNION ALL SELECT subject_ref, regime FROM (SELECT {columns} FROM {table} EXCEPT {newest}) AS extra"
           f") AS faults ORDER BY subject_ref, regime LIMIT %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return [tuple(row) for row in cursor.fetchall()]


# Beyond this many subjects the index does not answer for, the whole log is ranked instead (one query).
FEW_UNINDEXED = 2000


def _answered(versions: dict[str, int], as_of: date) -> Q:
    """The index entries that are the current determination as of `as_of` under `versions`."""
    return Q(rule_version_id__in=list(versions.values()), as_of__lte=as_of)


def _scoped(rows: QuerySet, *, organisation: str | None, subject_refs: list[str] | None) -> QuerySet:
    """Determinations, or index entries, of `organisation` or of `subject_refs` (None: any)."""
    if organisation is not None:
        rows = rows.filter(organisation=organisation)
    if subject_refs is not None:
        rows = rows.filter(subject_ref__in=subject_refs)
    return rows


def _index_rows(versions: dict[str, int], *, organisation: str | None,
                subject_refs: list[str] | None) -> QuerySet[CurrentDetermination]:
    return _scoped(CurrentDetermination.objects.filter(regime__in=list(versions)), organisation=organisation,
                   subject_refs=subject_refs)


def _not_answered(versions: dict[str, int], as_of: date) -> Q:
    """The index entries of these regimes that are not the current determination as of `as_of`: under
    another version than the one in force (or none), or under it as of a later date. Each a range of
    `current_version_as_of`, so that finding none reads next to nothing."""
    found = Q(pk__in=[])
    for regime, version_id in versions.items():  # a disjunction of conjunctions: each arm one index range
        found |= (Q(regime=regime, rule_version_id__isnull=True) | Q(regime=regime, rule_version_id__lt=version_id)
                  | Q(regime=regime, rule_version_id__gt=version_id)
                  | Q(regime=regime, rule_version_id=version_id, as_of__gt=as_of))
    return found


def _unindexed(index: QuerySet[CurrentDetermination], versions: dict[str, int], as_of: date
               ) -> list[tuple[str, str]] | None:
    """The (subject, regime) keys whose current determination the index does not give (their newest
    is as of a later date, or under another version than the one in force), or None: too many."""
    keys = list(index.filter(_not_answered(versions, as_of)).order_by()
                .values_list("subject_ref", "regime")[:FEW_UNINDEXED + 1])
    return None if len(keys) > FEW_UNINDEXED else keys


def current_index(versions: dict[str, int], *, as_of: date, organisation: str | None = None,
                  subject_refs: Iterable[str] | None = None) -> QuerySet[CurrentDetermination] | None:
    """The index entries of the current determinations as of `as_of` under `versions` (regime →
    rule version id), when the index answers for every subject (None when it does not: read
    `current_in_force`). What the workspace counts by status and tier, without reading the log."""
    refs = list(subject_refs) if subject_refs is not None else None
    index = _index_rows(versions, organisation=organisation, subject_refs=refs)
    if _unindexed(index, versions, as_of) != []:
        return None
    return index.filter(_answered(versions, as_of))


def current_in_force(versions: dict[str, int], *, as_of: date, organisation: str | None = None,
                     subject_refs: Iterable[str] | None = None) -> QuerySet[Determination]:
    """The current determination as of `as_of` per (subject, regime) among those made under `versions`
    (regime → rule version id), of `organisation` or of `subject_refs`: exactly `current_of` over
    them, read from the index where it answers, and the few other subjects ranked from the log."""
    refs = list(subject_refs) if subject_refs is not None else None
    rows = _scoped(Determination.objects.filter(rule_version_id__in=list(versions.values())),
                   organisation=organisation, subject_refs=refs)
    index = _index_rows(versions, organisation=organisation, subject_refs=refs)
    unindexed = _unindexed(index, versions, as_of)
    if unindexed is None:
        return current_of(rows, as_of=as_of)
    answered = Q(sequence__in=index.filter(_answered(versions, as_of)).values("sequence"))
    if not unindexed:
        return Determination.objects.filter(answered)
    ranked = current_of(rows.filter(subject_ref__in=sorted({ref for ref, _ in unindexed}),
                                    regime__in=sorted({regime for _, regime in unindexed})), as_of=as_of)
    return Determination.objects.filter(answered | Q(sequence__in=ranked.values("sequence")))
