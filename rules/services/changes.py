"""Change detection and confirmation: the determinations a chunk's rows are compared with (the
current ones before the run, as `rules.current` defines them), which of the chunk's evaluations
only confirm them (same rule version, facts and payload: no row is appended for those), and the
status changes recorded against them."""
from __future__ import annotations

import json
import operator
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from django.db import connection
from django.db.models import F

from .. import codes, decision_log
from ..current import NEWEST_FIRST_SQL, current_of
from ..engine.vocabulary import NO_OUTCOME
from ..instrumentation import CHANGES_RECORDED, PREVIOUS_DETERMINATIONS, stage
from ..models import Determination, EvaluationRun, FactsSnapshot, LoggedSubject, LogHead, Payload, StatusChange
from ..models.runs import Trigger
from ..payloads import texts as payload_texts


class PreviousRow(NamedTuple):
    """What change detection needs of an earlier determination (its payload stays in the database)."""

    sequence: int  # its key
    subject_ref: str
    regime: str
    status: str
    rule_version_label: str
    rule_hash: str
    as_of: date
    tier: str
    organisation: str
    subject_kind: str
    subject_name: str
    subject_version: str
    facts_revision: int | None
    rule_version_id: int | None
    facts_sha256: str
    payload_sha256: str
    run_id: int | None


# PostgreSQL's (`_previous_by_probe`): digests in hexadecimal, as the ORM gives them (`rules.digests`);
# the subject's, the facts snapshot's and the payload's read by their numbers; status and kind stored as
# codes, given back as their texts by looking them up in the vocabularies passed as parameters
# (`rules.codes.text`: a code no text has as its digits)
_COLUMNS = ("e.sequence, s.ref, e.regime, COALESCE((%s::text[])[e.status], e.status::text), e.rule_version_label, "
            "encode(e.rule_hash, 'hex'), e.as_of, e.tier, s.organisation, "
            "COALESCE((%s::text[])[s.kind], s.kind::text), s.name, s.version, e.facts_revision, "
            "e.rule_version_id, encode(f.sha256, 'hex'), encode(p.sha256, 'hex'), e.run_id")


def _previous_determinations(
    keys: set[tuple[str, str]], *, exclude_run: EvaluationRun, after_sequence: int = 0, as_left_by: bool = False,
) -> dict[tuple[str, str], PreviousRow]:
    """The current determination before this run, as of the run's date, per (subject, regime), of
    those after `after_sequence`, payloads left in the database. An evaluation as of a past date
    asked "what was the law then", not "what is it now" (`rules.current`).

    With `as_left_by`, a scheduled run's: the current determinations as the previous scheduled run
    left the log (its rows and those it confirmed, and none appended since it finished), so that a
    change a submission made in between is reported by the next scheduled run too."""
    if not keys:
        return {}
    only_run = up_to = None
    previous_run = exclude_run.previous_run if as_left_by and exclude_run.previous_run_id else None
    if previous_run is not None and previous_run.log_sequence is not None:
        up_to = previous_run.log_sequence
    elif previous_run is not None:  # finished before runs recorded the log's length: its own rows
        only_run = previous_run.pk
    if connection.vendor == "postgresql":
        return _previous_by_probe(keys, exclude_run=exclude_run, after_sequence=after_sequence, only_run=only_run,
                                  up_to=up_to)
    return _previous_grouped(keys, exclude_run=exclude_run, after_sequence=after_sequence, only_run=only_run,
                             up_to=up_to)


def _previous_grouped(
    keys: set[tuple[str, str]], *, exclude_run: EvaluationRun, after_sequence: int, only_run: int | None,
    up_to: int | None,
) -> dict[tuple[str, str], PreviousRow]:
    """Any database: `rules.current.current_of` over the candidates, in one query."""
    refs = {ref for ref, _ in keys}
    regimes = {regime for _, regime in keys}
    candidates = Determination.objects.filter(subject_ref__in=refs, regime__in=regimes)
    if after_sequence:
        candidates = candidates.filter(sequence__gt=after_sequence)
    if only_run:
        candidates = candidates.filter(run_id=only_run)
    if up_to is not None:
        candidates = candidates.filter(sequence__lte=up_to)
    candidates = candidates.exclude(run=exclude_run)
    rows = current_of(candidates, as_of=exclude_run.as_of).annotate(
        facts_sha256=F("facts__sha256"), payload_sha256=F("payload__sha256")).values_list(*PreviousRow._fields)
    return {(row.subject_ref, row.regime): row for row in map(PreviousRow._make, rows)
            if (row.subject_ref, row.regime) in keys}


def _previous_by_probe(
    keys: set[tuple[str, str]], *, exclude_run: EvaluationRun, after_sequence: int, only_run: int | None,
    up_to: int | None,
) -> dict[tuple[str, str], PreviousRow]:
    """PostgreSQL: one index probe per (subject, regime) on `determination_latest_as_of`, whatever the
    table's statistics say (a fresh log, or a server without autovacuum, would otherwise be read
    through the wrong index); the first row in `rules.current`'s order. The subjects and the regimes
    are sent once each, not once per key (a chunk's keys are every subject under every regime): each
    text sent in an array is scanned for what to quote, and most of this read's CPU went there."""
    refs = sorted({ref for ref, _ in keys})
    regimes = sorted({regime for _, regime in keys})
    table, subjects, facts, payloads = (connection.ops.quote_name(model._meta.db_table)
                                        for model in (Determination, LoggedSubject, FactsSnapshot, Payload))
    sql = f"""
        SELECT d.*
        FROM unnest(%s::varchar[]) AS k(subject_ref)
        JOIN {subjects} AS s ON s.ref = k.subject_ref
        CROSS JOIN unnest(%s::varchar[]) AS r(regime)
        CROSS JOIN LATERAL (
            SELECT {_COLUMNS}
            FROM {table} AS e JOIN {facts} AS f ON f.id = e.facts_id JOIN {payloads} AS p ON p.id = e.payload_id
            WHERE e.subject_id = s.id AND e.regime = r.regime
              AND e.as_of <= %s AND e.sequence > %s AND e.run_id IS DISTINCT FROM %s
              AND (%s::bigint IS NULL OR e.run_id = %s::bigint)
              AND (%s::bigint IS NULL OR e.sequence <= %s::bigint)
            ORDER BY {NEWEST_FIRST_SQL}
            LIMIT 1
        ) AS d
    """
    vocabularies = codes.vocabularies()
    with connection.cursor() as cursor:
        cursor.execute(sql, [refs, regimes, list(vocabularies["status"]), list(vocabularies["subject_kind"]),
                             exclude_run.as_of, after_sequence, exclude_run.pk, only_run, only_run, up_to, up_to])
        rows = map(PreviousRow._make, cursor.fetchall())
        # every subject was probed under every regime: only the keys asked for are kept
        return {key: row for row in rows if (key := (row.subject_ref, row.regime)) in keys}


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
    log's length then, so only rows appended after it need reading once the lock is held. `compared`
    is what a scheduled run reports its changes against, when that is not the current determinations
    (`_previous_determinations`'s `as_left_by`)."""

    rows: dict[tuple[str, str], PreviousRow]
    since: int
    compared: dict[tuple[str, str], PreviousRow] | None = None


def previous_determinations(keys: set[tuple[str, str]], *, run: EvaluationRun) -> PreviousDeterminations:
    """Read before the log is locked; `current_before` reads only what was appended since. The
    log's length is read first: a row committed after it has a higher sequence, so it is read again."""
    with stage(PREVIOUS_DETERMINATIONS):
        since = LogHead.objects.filter(id=1).values_list("sequence", flat=True).first() or 0
        rows = _previous_determinations(keys, exclude_run=run)
        compared = None
        if run.kind == Trigger.SCHEDULE and run.previous_run_id:
            left_at = run.previous_run.log_sequence
            # the previous scheduled run left the log as it is now: the same rows answer both questions
            if left_at is None or left_at < since:
                compared = _as_left_at(keys, rows, run=run, left_at=left_at)
        return PreviousDeterminations(rows, since, compared)


def _as_left_at(keys: set[tuple[str, str]], rows: dict[tuple[str, str], PreviousRow], *, run: EvaluationRun,
                left_at: int | None) -> dict[tuple[str, str], PreviousRow]:
    """The current determinations as the previous scheduled run left the log (`_previous_determinations`'s
    `as_left_by`), given the current ones now (`rows`). The log as it was then is the log now less the rows
    appended since, so a current row that was already there was current then too, and a key with no
    current row had none then. Only the keys whose current row came later are read again: after a day
    of submissions, a few of a chunk's, not all of them."""
    if left_at is None:  # finished before runs recorded the log's length: its own rows, read as they are
        return _previous_determinations(keys, exclude_run=run, as_left_by=True)
    kept = {key: row for key, row in rows.items() if row.sequence <= left_at}
    later = {key for key, row in rows.items() if row.sequence > left_at}
    if later:
        kept.update(_previous_determinations(later, exclude_run=run, as_left_by=True))
    return kept


def current_before(run: EvaluationRun, keys: set[tuple[str, str]],
                   previous: PreviousDeterminations) -> dict[tuple[str, str], PreviousRow]:
    """The current determination before this run per (subject, regime), with the lock held: those
    read before it, brought up to date with the rows appended since."""
    latest = dict(previous.rows)
    for key, row in _previous_determinations(keys, exclude_run=run, after_sequence=previous.since).items():
        if key not in latest or _newer(row, latest[key]):
            latest[key] = row
    return latest


# What a determination was made under and on: its rule version (`made_under`), then its facts and
# subject as named (`made_on`), in the order those two give them
made_key = operator.itemgetter(
    *(PreviousRow._fields.index(name) for name in (
        "rule_hash", "rule_version_id", "rule_version_label",
        "facts_sha256", "facts_revision", "organisation", "subject_kind", "subject_name", "subject_version")))


def made_under(*, rule_hash: str, rule_version_id: int | None, rule_version_label: str) -> tuple[object, ...]:
    """The rule version part of `made_key`: the same for every subject under one regime in a run."""
    return rule_hash, rule_version_id, rule_version_label


def made_on(*, kind: str, organisation: str, name: str, version: str, revision: int | None,
            facts_sha256: str) -> tuple[object, ...]:
    """The facts and subject part of `made_key`: the same for one subject under every regime."""
    return facts_sha256, revision, organisation, kind, name, version


def made_alike(current: PreviousRow, *, kind: str, organisation: str, name: str, version: str, revision: int | None,
               rule_hash: str, rule_version_id: int | None, rule_version_label: str, facts_sha256: str) -> bool:
    """Whether the current determination was made on these facts (and revision), under this rule
    version, for the same subject as named now."""
    return made_key(current) == (
        made_under(rule_hash=rule_hash, rule_version_id=rule_version_id, rule_version_label=rule_version_label)
        + made_on(kind=kind, organisation=organisation, name=name, version=version, revision=revision,
                  facts_sha256=facts_sha256))


def confirms(item: decision_log._Prepared, current: PreviousRow | None) -> bool:
    """Whether an evaluation reaches what the current determination already records: the same rule
    version, the same facts (and revision), the same payload (so the same status, tier, tests and
    values), for the same subject as named then (`made_alike`). Its as-of date may differ: that is
    what a confirmation records."""
    return current is not None and current.payload_sha256 == item.payload_sha256 and current.status == item.status \
        and current.tier == item.tier and made_alike(
            current, kind=item.kind, organisation=item.organisation, name=item.name, version=item.version,
            revision=item.revision, rule_hash=item.rule_hash, rule_version_id=item.rule_version_id,
            rule_version_label=item.rule_version_label, facts_sha256=item.facts_sha256)


def split_confirmed(items: list[decision_log._Prepared], current: dict[tuple[str, str], PreviousRow]
                    ) -> tuple[set[int], list[PreviousRow]]:
    """The positions of the items that only confirm the current determination, and those determinations."""
    positions: set[int] = set()
    rows: list[PreviousRow] = []
    for index, item in enumerate(items):
        row = current.get((item.ref, item.regime))
        if confirms(item, row):
            positions.add(index)
            rows.append(row)
    return positions, rows


def _differs(before: PreviousRow, after: decision_log.AppendedRow | PreviousRow) -> bool:
    """A change is a new status, or the same status with another tier reached (a GPAI model that
    becomes one with systemic risk stays `covered`)."""
    return before.status != after.status or before.tier != after.tier


def _newer(row: PreviousRow, than: PreviousRow) -> bool:
    """Whether `row` comes before `than` in `rules.current`'s order (newest as-of date, then last appended)."""
    return (row.as_of, row.sequence) > (than.as_of, than.sequence)


def record_changes(run: EvaluationRun, rows: list[decision_log.AppendedRow], previous: PreviousDeterminations,
                   *, current: dict[tuple[str, str], PreviousRow] | None = None,
                   confirmed: list[PreviousRow] = ()) -> int:
    """Status changes (a change of status or of the tier reached) against the current determination
    before this run (`current`, read with the lock held; read here when not given), or, for a
    scheduled run, against the log as the previous scheduled run left it. A confirmed determination
    is the run's finding too: it differs from what a scheduled run compares with when a submission
    changed it in between."""
    with stage(CHANGES_RECORDED):
        if current is None:
            current = current_before(run, {(r.subject_ref, r.regime) for r in rows}, previous)
        return _record_changes(run, rows, list(confirmed), previous.compared if previous.compared is not None else current)


def _record_changes(run: EvaluationRun, rows: list[decision_log.AppendedRow], confirmed: list[PreviousRow],
                    compared: dict[tuple[str, str], PreviousRow]) -> int:
    found = [*rows, *confirmed]
    changed = [(compared[(r.subject_ref, r.regime)], r) for r in found
               if (r.subject_ref, r.regime) in compared and compared[(r.subject_ref, r.regime)].sequence != r.sequence
               and _differs(compared[(r.subject_ref, r.regime)], r)]
    if not changed:
        return 0
    wanted = {before.payload_sha256 for before, _ in changed} | {
        after.payload_sha256 for _, after in changed if isinstance(after, PreviousRow)}
    payloads = payload_texts(wanted)

    def after_payload(row: decision_log.AppendedRow | PreviousRow) -> str:
        return payloads[row.payload_sha256] if isinstance(row, PreviousRow) else row.payload

    StatusChange.objects.bulk_create(
        StatusChange(
            run=run, subject_ref=row.subject_ref, organisation=row.organisation, regime=row.regime,
            from_status=before.status, to_status=row.status, from_tier=before.tier, to_tier=row.tier,
            flipped_tests=_flipped_tests(_outcomes(payloads[before.payload_sha256]), _outcomes(after_payload(row))),
            from_determination_id=before.sequence, to_determination_id=row.sequence,
            from_rule_version=_label(before), to_rule_version=_label(row),
        )
        for before, row in changed
    )
    return len(changed)
