"""Change detection: the determinations a chunk's rows are compared with (the current ones before
the run, as `rules.current` defines them) and the status changes recorded against them."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from django.db import connection

from .. import decision_log
from ..current import NEWEST_FIRST_SQL, current_of
from ..engine.vocabulary import NO_OUTCOME
from ..instrumentation import CHANGES_RECORDED, PREVIOUS_DETERMINATIONS, stage
from ..models import Determination, EvaluationRun, LogHead, StatusChange
from ..models.runs import Trigger


class PreviousRow(NamedTuple):
    """What change detection needs of an earlier determination (its payload stays in the database)."""

    pk: int
    sequence: int
    subject_ref: str
    regime: str
    status: str
    rule_version_label: str
    rule_hash: str
    as_of: date
    tier: str


def _previous_determinations(
    keys: set[tuple[str, str]], *, exclude_run: EvaluationRun, after_sequence: int = 0
) -> dict[tuple[str, str], PreviousRow]:
    """The current determination before this run, as of the run's date, per (subject, regime), of
    those after `after_sequence`, payloads left in the database. An evaluation as of a past date
    asked "what was the law then", not "what is it now" (`rules.current`); a scheduled run compares
    with the previous scheduled run."""
    if not keys:
        return {}
    only_run = exclude_run.previous_run_id if exclude_run.kind == Trigger.SCHEDULE and exclude_run.previous_run_id else None
    if connection.vendor == "postgresql":
        return _previous_by_probe(keys, exclude_run=exclude_run, after_sequence=after_sequence, only_run=only_run)
    return _previous_grouped(keys, exclude_run=exclude_run, after_sequence=after_sequence, only_run=only_run)


def _previous_grouped(
    keys: set[tuple[str, str]], *, exclude_run: EvaluationRun, after_sequence: int, only_run: int | None
) -> dict[tuple[str, str], PreviousRow]:
    """Any database: `rules.current.current_of` over the candidates, in one query."""
    refs = {ref for ref, _ in keys}
    regimes = {regime for _, regime in keys}
    candidates = Determination.objects.filter(subject_ref__in=refs, regime__in=regimes)
    if after_sequence:
        candidates = candidates.filter(sequence__gt=after_sequence)
    if only_run:
        candidates = candidates.filter(run_id=only_run)
    candidates = candidates.exclude(run=exclude_run)
    rows = current_of(candidates, as_of=exclude_run.as_of).values_list(*PreviousRow._fields)
    return {(row.subject_ref, row.regime): row for row in map(PreviousRow._make, rows)
            if (row.subject_ref, row.regime) in keys}


def _previous_by_probe(
    keys: set[tuple[str, str]], *, exclude_run: EvaluationRun, after_sequence: int, only_run: int | None
) -> dict[tuple[str, str], PreviousRow]:
    """PostgreSQL: one index probe per (subject, regime) on `determination_latest_as_of`, whatever the
    table's statistics say (a fresh log, or a server without autovacuum, would otherwise be read
    through the wrong index); the first row in `rules.current`'s order."""
    ordered = sorted(keys)
    table = connection.ops.quote_name(Determination._meta.db_table)
    sql = f"""
        SELECT d.id, d.sequence, d.subject_ref, d.regime, d.status, d.rule_version_label, d.rule_hash, d.as_of, d.tier
        FROM unnest(%s::varchar[], %s::varchar[]) AS k(subject_ref, regime)
        CROSS JOIN LATERAL (
            SELECT id, sequence, subject_ref, regime, status, rule_version_label, rule_hash, as_of, tier
            FROM {table} AS e
            WHERE e.subject_ref = k.subject_ref AND e.regime = k.regime
              AND e.as_of <= %s AND e.sequence > %s AND e.run_id IS DISTINCT FROM %s
              AND (%s::bigint IS NULL OR e.run_id = %s::bigint)
            ORDER BY {NEWEST_FIRST_SQL}
            LIMIT 1
        ) AS d
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [[ref for ref, _ in ordered], [regime for _, regime in ordered], exclude_run.as_of,
                             after_sequence, exclude_run.pk, only_run, only_run])
        return {(row.subject_ref, row.regime): row for row in map(PreviousRow._make, cursor.fetchall())}


def _outcomes(payload: str) -> dict[str, str]:
    return {t["id"]: t["outcome"] for t in json.loads(payload).get("tests", [])}


def _flipped_tests(before: dict[str, str], after: dict[str, str]) -> list[dict[str, str]]:
    return [
        {"id": test_id, "from": before.get(test_id, NO_OUTCOME), "to": after.get(test_id, NO_OUTCOME)}
        for test_id in sorted(set(before) | set(after))
        if before.get(test_id) != after.get(test_id)
    ]


def _label(row: decision_log.AppendedRow | PreviousRow) -> str:
    return f"{row.regime}@{row.rule_version_label} ({row.rule_hash[:12]})" if row.rule_version_label else "not in force"


@dataclass
class PreviousDeterminations:
    """The latest determinations before a chunk's, read before the log is locked: `since` is the
    log's length then, so only rows appended after it need reading once the lock is held."""

    rows: dict[tuple[str, str], PreviousRow]
    since: int


def previous_determinations(keys: set[tuple[str, str]], *, run: EvaluationRun) -> PreviousDeterminations:
    """Read before the log is locked; `record_changes` reads only what was appended since. The
    log's length is read first: a row committed after it has a higher sequence, so it is read again."""
    with stage(PREVIOUS_DETERMINATIONS):
        since = LogHead.objects.filter(id=1).values_list("sequence", flat=True).first() or 0
        return PreviousDeterminations(_previous_determinations(keys, exclude_run=run), since)


def _differs(before: PreviousRow, after: decision_log.AppendedRow) -> bool:
    """A change is a new status, or the same status with another tier reached (a GPAI model that
    becomes one with systemic risk stays `covered`)."""
    return before.status != after.status or before.tier != after.tier


def _newer(row: PreviousRow, than: PreviousRow) -> bool:
    """Whether `row` comes before `than` in `rules.current`'s order (newest as-of date, then last appended)."""
    return (row.as_of, row.sequence) > (than.as_of, than.sequence)


def record_changes(run: EvaluationRun, rows: list[decision_log.AppendedRow], previous: PreviousDeterminations) -> int:
    """Status changes (a change of status or of the tier reached) against the current determination
    before this run; with the lock held, so only the rows appended since `previous` was read are read again."""
    with stage(CHANGES_RECORDED):
        return _record_changes(run, rows, previous)


def _record_changes(run: EvaluationRun, rows: list[decision_log.AppendedRow], previous: PreviousDeterminations) -> int:
    keys = {(r.subject_ref, r.regime) for r in rows}
    latest = dict(previous.rows)
    for key, row in _previous_determinations(keys, exclude_run=run, after_sequence=previous.since).items():
        if key not in latest or _newer(row, latest[key]):
            latest[key] = row
    changed = [(latest[(r.subject_ref, r.regime)], r) for r in rows
               if (r.subject_ref, r.regime) in latest and _differs(latest[(r.subject_ref, r.regime)], r)]
    if not changed:
        return 0
    payloads = dict(Determination.objects.filter(pk__in=[before.pk for before, _ in changed]).values_list("pk", "payload"))
    pks = decision_log.pks_by_sequence([row for _, row in changed])
    StatusChange.objects.bulk_create(
        StatusChange(
            run=run, subject_ref=row.subject_ref, organisation=row.organisation, regime=row.regime,
            from_status=before.status, to_status=row.status, from_tier=before.tier, to_tier=row.tier,
            flipped_tests=_flipped_tests(_outcomes(payloads[before.pk]), _outcomes(row.payload)),
            from_determination_id=before.pk, to_determination_id=pks[row.sequence],
            from_rule_version=_label(before), to_rule_version=_label(row),
        )
        for before, row in changed
    )
    return len(changed)
