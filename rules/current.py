"""What "the current determination" of a subject under a regime is, as of a date D: among its
determinations made as of a date on or before D, the one with the newest as-of date, and of those
the one appended last (highest sequence). An evaluation as of a past date answered "what was the
law then", so it does not replace a later date's answer however recently it was made.

Every reader of "current" uses this: the workspace's statuses and counts (`rules.selectors`) and
change detection (`rules.services.changes`).

The newest determination of each (subject, regime) dated on or before the index's horizon (today, as
of the last write to the log) is also kept in an index of its own (`rules.models.CurrentDetermination`),
written with the rows it names: as of a date on or after it, under the version it was made under, it
is the current one, so the workspace reads it there rather than ranking the whole log
(`current_in_force`). A determination dated after the horizon (a run of the whole registry dated in
the future, a lab's evaluation as of next year) does not displace that entry: the index notes only
the earliest such date (`rules.models.DeterminationAhead`), so that today's pages still read the
index, and each write moves the horizon on to its day, making the determinations that have come due
the entries. The few subjects the index does not answer for as of a date (their entry is as of a
later date or under another version, or they have a determination dated after the horizon and on or
before that date) are ranked from the log.

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

from .bulk_write import stored_values
from .models import Confirmation, CurrentDetermination, Determination, DeterminationAhead, LoggedSubject, LogHead
from .models.decision_log import SUBJECT_NAMES, horizon_today, log_with_subjects_sql

# The order in which a (subject, regime)'s determinations are candidates for "current": first wins.
NEWEST_FIRST = ("-as_of", "-sequence")
# The same order in SQL, for the raw queries that probe one (subject, regime) at a time.
NEWEST_FIRST_SQL = "as_of DESC, sequence DESC"


def _table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def current_of(rows: QuerySet[Determination], *, as_of: date) -> QuerySet[Determination]:
    """The current determination, as of `as_of`, per (subject, regime) among `rows`, as one query."""
    ranked = rows.filter(as_of__lte=as_of).annotate(
        newness=Window(RowNumber(), partition_by=[F("subject_id"), F("regime")],
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
    table = _table(Determination)
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


class AheadRow(NamedTuple):
    """What the index keeps of a row just appended dated after its horizon: the date it comes due."""

    subject_ref: str
    regime: str
    organisation: str
    as_of: date


_INDEX_COLUMNS = IndexedRow._fields
_AHEAD_COLUMNS = AheadRow._fields
# A row replaces the index's entry for its (subject, regime) when it comes first in `NEWEST_FIRST`.
_INDEX_UPSERT = (
    " ON CONFLICT (subject_ref, regime) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in _INDEX_COLUMNS[2:])
    + " WHERE {table}.as_of < excluded.as_of OR ({table}.as_of = excluded.as_of AND {table}.sequence < excluded.sequence)"
)
# A row dated after the horizon moves its (subject, regime)'s date ahead earlier, never later.
_AHEAD_UPSERT = " ON CONFLICT (subject_ref, regime) DO UPDATE SET as_of = excluded.as_of WHERE {table}.as_of > excluded.as_of"
_INDEX_TYPES = ("varchar", "varchar", "bigint", "date", "bigint", "smallint", "varchar", "smallint", "varchar")
_AHEAD_TYPES = ("varchar", "varchar", "varchar", "date")


def _upsert(model: Any, columns: tuple[str, ...], types: tuple[str, ...], upsert: str, rows: list[Any]) -> None:
    if not rows:
        return
    table = _table(model)
    names, upsert = ", ".join(columns), upsert.format(table=table)
    fields = {field.attname: field for field in model._meta.concrete_fields}
    rows = list(stored_values([fields[column] for column in columns], rows))  # status and kind as their codes
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(f"%s::{kind}[]" for kind in types)
            cursor.execute(f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}){upsert}",
                           [list(values) for values in zip(*rows, strict=True)])
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}){upsert}", [list(row) for row in rows])


def index_appended(rows: list[IndexedRow], ahead: list[AheadRow] | None = None) -> None:
    """Brings the index up to date with rows just appended: `rows` dated on or before the horizon (one
    each per (subject, regime), the newest of the batch), `ahead` dated after it (one each, the earliest
    of the batch); inside the append's transaction, with the log's head locked (`advance_horizon` first)."""
    _upsert(CurrentDetermination, _INDEX_COLUMNS, _INDEX_TYPES, _INDEX_UPSERT, rows)
    _upsert(DeterminationAhead, _AHEAD_COLUMNS, _AHEAD_TYPES, _AHEAD_UPSERT, ahead or [])


def advance_horizon(head: LogHead) -> date:
    """Moves the index's horizon on to today, inside a writer's transaction with the log's head locked,
    and returns it: each (subject, regime) whose date ahead has come due gets its newest determination
    dated on or before today as its entry, and the earliest dated after today (if any) as its date ahead.
    Nothing is read from the log unless a date ahead has come due."""
    today = horizon_today()
    if head.index_horizon >= today:
        return head.index_horizon
    log, current, ahead = log_with_subjects_sql(), _table(CurrentDetermination), _table(DeterminationAhead)
    columns = ", ".join(_INDEX_COLUMNS)
    same_key = f"d.subject_ref = {ahead}.subject_ref AND d.regime = {ahead}.regime"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {current} ({columns}) SELECT {columns} FROM {log} AS logged WHERE sequence IN ("
            f"SELECT (SELECT d.sequence FROM {log} d WHERE {same_key} AND d.as_of <= %s "
            f"ORDER BY d.as_of DESC, d.sequence DESC LIMIT 1) "
            f"FROM {ahead} WHERE {ahead}.as_of <= %s)" + _INDEX_UPSERT.format(table=current), [today, today])
        cursor.execute(f"DELETE FROM {ahead} WHERE as_of <= %s AND NOT EXISTS ("
                       f"SELECT 1 FROM {log} d WHERE {same_key} AND d.as_of > %s)", [today, today])
        cursor.execute(f"UPDATE {ahead} SET as_of = (SELECT MIN(d.as_of) FROM {log} d WHERE {same_key} "
                       f"AND d.as_of > %s) WHERE as_of <= %s", [today, today])
    LogHead.objects.filter(id=1).update(index_horizon=today)
    head.index_horizon = today
    return today


def _with_subjects(columns: tuple[str, ...], rows: str) -> str:
    """`columns` of `rows` (an alias), each under its name, the subject's values read from its subject, `s`."""
    return ", ".join(f"s.{SUBJECT_NAMES[column]} AS {column}" if column in SUBJECT_NAMES else f"{rows}.{column}"
                     for column in columns)


def _newest_sql() -> str:
    """The newest row dated on or before the horizon of each (subject, regime) in the log, with the
    index's columns, as SQL with one parameter (the horizon): ranked by subject number, in the order
    of `determination_latest_as_of`, and each joined to its subject once ranked."""
    return (f"SELECT {_with_subjects(_INDEX_COLUMNS, 'ranked')} FROM (SELECT d.*, ROW_NUMBER() OVER ("
            f"PARTITION BY subject_id, regime ORDER BY {NEWEST_FIRST_SQL}) AS newness FROM {_table(Determination)} d "
            f"WHERE as_of <= %s) AS ranked JOIN {_table(LoggedSubject)} s ON s.id = ranked.subject_id "
            f"WHERE newness = 1")


def _ahead_sql() -> str:
    """The earliest as-of date after the horizon of each (subject, regime) in the log, as SQL with one
    parameter (the horizon)."""
    return (f"SELECT {_with_subjects(_AHEAD_COLUMNS, 'later')} FROM (SELECT subject_id, regime, MIN(as_of) AS as_of "
            f"FROM {_table(Determination)} WHERE as_of > %s GROUP BY subject_id, regime) AS later "
            f"JOIN {_table(LoggedSubject)} s ON s.id = later.subject_id")


def rebuild_index() -> int:
    """Makes the index of current determinations again from the log (it is derived from it), with its
    horizon today; returns its entries."""
    from django.db import transaction

    with transaction.atomic(), connection.cursor() as cursor:
        LogHead.objects.get_or_create(id=1)
        LogHead.objects.select_for_update().get(id=1)
        horizon = horizon_today()
        cursor.execute(f"DELETE FROM {_table(CurrentDetermination)}")
        cursor.execute(f"DELETE FROM {_table(DeterminationAhead)}")
        cursor.execute(f"INSERT INTO {_table(CurrentDetermination)} ({', '.join(_INDEX_COLUMNS)}) {_newest_sql()}",
                       [horizon])
        cursor.execute(f"INSERT INTO {_table(DeterminationAhead)} ({', '.join(_AHEAD_COLUMNS)}) {_ahead_sql()}",
                       [horizon])
        LogHead.objects.filter(id=1).update(index_horizon=horizon)
    return CurrentDetermination.objects.count()


def index_faults(*, limit: int = 10) -> list[tuple[str, str]]:
    """The (subject, regime) keys, at most `limit`, where the index of current determinations
    disagrees with the log at its horizon: an entry or a date ahead missing, left over, or naming
    another row or date than the log's."""
    current, ahead = _table(CurrentDetermination), _table(DeterminationAhead)
    columns, ahead_columns = ", ".join(_INDEX_COLUMNS), ", ".join(_AHEAD_COLUMNS)
    horizon = f"(SELECT index_horizon FROM {_table(LogHead)} WHERE id = 1)"
    newest, later = _newest_sql().replace("%s", horizon), _ahead_sql().replace("%s", horizon)
    # one statement, so one snapshot of the log, the index and its horizon (written in one transaction)
    sql = (f"SELECT DISTINCT subject_ref, regime FROM ("
           f"SELECT subject_ref, regime FROM ({newest} EXCEPT SELECT {columns} FROM {current}) AS missing "
           f"UNION ALL SELECT subject_ref, regime FROM (SELECT {columns} FROM {current} EXCEPT {newest}) AS extra "
           f"UNION ALL SELECT subject_ref, regime FROM ({later} EXCEPT SELECT {ahead_columns} FROM {ahead}) AS due "
           f"UNION ALL SELECT subject_ref, regime FROM (SELECT {ahead_columns} FROM {ahead} EXCEPT {later}) AS undue"
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


def _unindexed(versions: dict[str, int], as_of: date, *, organisation: str | None,
               subject_refs: list[str] | None) -> list[tuple[str, str]] | None:
    """The (subject, regime) keys whose current determination the index does not give (their entry is
    as of a later date, or under another version than the one in force, or they have a determination
    dated after the horizon and on or before `as_of`), or None: too many. One query, each of its two
    halves a few index ranges, so that finding none reads next to nothing."""
    index = _index_rows(versions, organisation=organisation, subject_refs=subject_refs)
    due = _scoped(DeterminationAhead.objects.filter(as_of__lte=as_of, regime__in=list(versions)),
                  organisation=organisation, subject_refs=subject_refs)
    keys = list(index.filter(_not_answered(versions, as_of)).order_by().values_list("subject_ref", "regime")
                .union(due.order_by().values_list("subject_ref", "regime"), all=True)[:FEW_UNINDEXED + 1])
    return None if len(keys) > FEW_UNINDEXED else keys


def current_index(versions: dict[str, int], *, as_of: date, organisation: str | None = None,
                  subject_refs: Iterable[str] | None = None) -> QuerySet[CurrentDetermination] | None:
    """The index entries of the current determinations as of `as_of` under `versions` (regime →
    rule version id), when the index answers for every subject (None when it does not: read
    `current_in_force`). What the workspace counts by status and tier, without reading the log."""
    refs = list(subject_refs) if subject_refs is not None else None
    if _unindexed(versions, as_of, organisation=organisation, subject_refs=refs) != []:
        return None
    return _index_rows(versions, organisation=organisation, subject_refs=refs).filter(_answered(versions, as_of))


def current_in_force(versions: dict[str, int], *, as_of: date, organisation: str | None = None,
                     subject_refs: Iterable[str] | None = None) -> QuerySet[Determination]:
    """The current determination as of `as_of` per (subject, regime) among those made under `versions`
    (regime → rule version id), of `organisation` or of `subject_refs`: exactly `current_of` over
    them, read from the index where it answers, and the subjects it does not answer for (a few)
    ranked from the log, every regime of theirs."""
    refs = list(subject_refs) if subject_refs is not None else None
    rows = _scoped(Determination.objects.filter(rule_version_id__in=list(versions.values())),
                   organisation=organisation, subject_refs=refs)
    unindexed = _unindexed(versions, as_of, organisation=organisation, subject_refs=refs)
    if unindexed is None:
        return current_of(rows, as_of=as_of)
    answered = _index_rows(versions, organisation=organisation, subject_refs=refs).filter(_answered(versions, as_of))
    if not unindexed:
        return Determination.objects.filter(sequence__in=answered.values("sequence"))
    # an entry of a subject with a determination come due since the horizon is not its current one
    ranked_refs = sorted({ref for ref, _ in unindexed})
    ranked = current_of(rows.filter(subject_ref__in=ranked_refs), as_of=as_of)
    return Determination.objects.filter(Q(sequence__in=answered.exclude(subject_ref__in=ranked_refs).values("sequence"))
                                        | Q(sequence__in=ranked.values("sequence")))
