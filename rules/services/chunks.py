"""A chunk of a run: `chunk_read` (its subjects read and evaluated under every regime, its rows
serialized, before the log is locked), `chunk_write` (the rows chained and written, the status
changes recorded) and `chunk_execute` (both, in one transaction that locks the chunk's row)."""
from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from rules.memory import collector_paused

from .. import decision_log, reuse
from ..engine import Library, evaluate_subject
from ..engine.subject import Subject
from ..instrumentation import (
    CHUNK_READ,
    CHUNK_WRITE,
    ENGINE,
    REUSED,
    SNAPSHOTS,
    Span,
    current_chunk,
    stage,
)
from ..library_store import published_library
from ..models import Confirmation, EvaluationRun, RuleVersion, RunChunk
from ..models.rule_version import RuleVersionState
from ..models.runs import RunStatus
from ..payloads import texts as payload_texts
from ..subjects import SubjectSnapshot, snapshots_for_ids
from .changes import (
    PreviousDeterminations,
    PreviousRow,
    current_before,
    made_key,
    made_on,
    made_under,
    previous_determinations,
    record_changes,
    split_confirmed,
)

KINDS = ("model", "cluster", "organisation")


def today() -> date:
    return timezone.now().date()


def versions_for(library: Library, *, as_of: date, regimes: Iterable[str] | None) -> dict[str, Any]:
    slugs = list(regimes) if regimes else library.regimes()
    unknown = [slug for slug in slugs if slug not in library.regimes()]
    if unknown:
        raise ValueError(f"unknown regime(s): {', '.join(unknown)}; known: {', '.join(library.regimes())}")
    return {slug: library.in_force(slug, as_of) for slug in slugs}


def _rule_version_ids(versions: dict[str, Any]) -> dict[str, int | None]:
    hashes = {v.content_hash for v in versions.values() if v is not None}
    ids = dict(RuleVersion.objects.filter(content_sha256__in=hashes, state=RuleVersionState.PUBLISHED)
               .values_list("content_sha256", "pk"))
    return {slug: (ids.get(v.content_hash) if v is not None else None) for slug, v in versions.items()}


def evaluate_snapshots(
    snapshots: Iterable[SubjectSnapshot], *, versions: dict[str, Any], as_of: date,
    reused: dict[tuple[str, str], decision_log.Reused] | None = None, version_ids: dict[str, int | None] | None = None,
) -> list[decision_log.Entry | decision_log.Reused]:
    """Every subject under every regime, each subject's quantities computed once; a determination
    in `reused` (by subject and regime) is confirmed as it stands, not evaluated again. `version_ids`,
    the versions' record ids where the caller read them already."""
    version_ids = version_ids if version_ids is not None else _rule_version_ids(versions)
    reused = reused or {}
    entries: list[decision_log.Entry | decision_log.Reused] = []
    with stage(ENGINE):
        for item in snapshots:
            subject = None
            for slug, version in versions.items():
                found = reused.get((item.key.ref, slug))
                if found is not None:
                    entries.append(found)
                    continue
                subject = subject or Subject(item.snapshot, as_of=as_of)
                evaluation = evaluate_subject(subject, version=version, regime=slug, as_of=as_of)
                entries.append(decision_log.Entry(item, evaluation, version_ids[slug]))
    return entries


@dataclass
class _Remembered:
    """What a reader remembers between the chunks of the run it is reading for (`of`): the engine
    and date of each run that made a current determination, and what the previous run confirmed.
    Those runs are finished, so nothing remembered changes while the run lasts."""

    run: tuple[int, Any] | None = None
    runs: dict[int, tuple[str, date]] = field(default_factory=dict)
    confirmed: dict[int, reuse.Ranges] = field(default_factory=dict)

    def of(self, run: EvaluationRun) -> _Remembered:
        if self.run != (run.pk, run.created_at):  # another run: forget (ids alone may be used again)
            self.run, self.runs, self.confirmed = (run.pk, run.created_at), {}, {}
        return self

    def runs_of(self, run_ids: set[int]) -> dict[int, tuple[str, date]]:
        """Run id -> the engine it evaluated under and its as-of date: one query for those not remembered."""
        wanted = run_ids - self.runs.keys()
        if wanted:
            self.runs.update((pk, (engine, as_of)) for pk, engine, as_of in
                             EvaluationRun.objects.filter(pk__in=wanted).values_list("pk", "engine_sha256", "as_of"))
        return {pk: self.runs[pk] for pk in run_ids if pk in self.runs}

    def confirmed_by(self, run_id: int) -> reuse.Ranges:
        """The sequences the run confirmed: its confirmations read once."""
        ranges = self.confirmed.get(run_id)
        if ranges is None:
            texts = Confirmation.objects.filter(run_id=run_id).values_list("confirmed", flat=True)
            ranges = self.confirmed[run_id] = reuse.Ranges(r for text in texts for r in reuse.confirmed_ranges(text))
        return ranges


_remembered = threading.local()


def _remembered_for(run: EvaluationRun) -> _Remembered:
    if not hasattr(_remembered, "value"):
        _remembered.value = _Remembered()
    return _remembered.value.of(run)


def reusable_determinations(
    run: EvaluationRun, snapshots: list[SubjectSnapshot], *, versions: dict[str, Any],
    version_ids: dict[str, int | None], previous: PreviousDeterminations, facts: decision_log.FactsHashes,
) -> dict[tuple[str, str], decision_log.Reused]:
    """The current determinations this run confirms without evaluating their subjects again, by
    subject and regime (`rules.reuse`): the same facts (and subject, as named) under the same rule
    version, by this engine, on a date the facts cannot tell from the one the determination was
    made or last confirmed on by the previous run, its payload not naming that date."""
    engine = reuse.engine_sha256()
    if not run.confirms or run.engine_sha256 != engine or not previous.rows:
        return {}
    rows = previous.rows
    remembered = _remembered_for(run)
    runs = remembered.runs_of({row.run_id for row in rows.values() if row.run_id} | {run.previous_run_id} - {None})
    engines = {pk: found[0] for pk, found in runs.items()}
    # the previous run of this kind, by this engine: what it confirmed holds on its date
    last = runs[run.previous_run_id][1] if engines.get(run.previous_run_id) == engine else None
    confirmed = remembered.confirmed_by(run.previous_run_id) if last is not None else None
    # each regime's rule version as this run applies it, and whether its dates (and the engine's) leave
    # a day's reading unchanged on the run's date: the same for every subject
    under = {slug: made_under(rule_hash=version.content_hash if version else "", rule_version_id=version_ids[slug],
                              rule_version_label=version.version_id if version else "")
             for slug, version in versions.items()}
    version_holds: dict[tuple[str, date], bool] = {}
    candidates = []
    for item in snapshots:
        key = item.key
        on = made_on(kind=key.kind, organisation=key.organisation, name=key.name or "", version=key.version or "",
                     revision=item.revision, facts_sha256=facts.of(item))  # worked out once per subject, for its rows too
        dates: tuple[date, ...] | None = None
        facts_hold: dict[date, bool] = {}  # by day: whether the subject's facts read the same on the run's date
        for slug, version in versions.items():
            row = rows.get((key.ref, slug))
            if row is None or made_key(row) != under[slug] + on:
                continue
            since = []
            for day, holds in ((last, confirmed is not None and row.sequence in confirmed),
                               (row.as_of, engines.get(row.run_id) == engine)):
                if not holds:
                    continue
                same = facts_hold.get(day)
                if same is None:
                    dates = dates if dates is not None else facts.dates(item)
                    same = facts_hold[day] = reuse.unchanged_between(dates, day, run.as_of)
                if not same:
                    continue
                same = version_holds.get((slug, day))
                if same is None:
                    same = version_holds[slug, day] = reuse.unchanged_between(reuse.version_dates(version), day,
                                                                              run.as_of)
                if same:
                    since.append(day)
            if since:
                candidates.append((slug, version, item, row, since))
    if not candidates:
        return {}
    asked = {(row.payload_sha256, day) for *_, row, since in candidates for day in since}
    unread = {sha for sha, _ in asked - reuse.dates_known(asked)}
    texts = payload_texts(unread) if unread else {}
    return {
        (item.key.ref, slug): decision_log.Reused(item, slug, version_ids[slug], row.rule_version_label, row.rule_hash,
                                                  run.as_of, row.status, row.tier, row.payload_sha256)
        for slug, version, item, row, since in candidates
        if any(not reuse.names_date(row.payload_sha256, texts.get(row.payload_sha256), day) for day in since)
    }


@dataclass
class ChunkWork:
    """A chunk read and evaluated, its rows serialized, ready to be chained and written; `spans`
    are what a reader observed while reading it, for the writer to replay. `reused` are the
    positions of the determinations confirmed without evaluating their subjects again."""

    chunk_id: int
    run: EvaluationRun
    subjects: int
    prepared: decision_log.Prepared
    previous: PreviousDeterminations
    spans: list[Span] = field(default_factory=list)
    reused: frozenset[int] = frozenset()

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Sent from a reader to the writer with its rows as plain tuples. Pickle writes a named tuple
        through a call of Python code for each, and reads it back through another (`__getnewargs__`,
        the class's `__new__`): for a chunk's rows and the determinations they are compared with,
        some 6,000 a chunk, half the time a chunk took to be pickled and a quarter of its reading back."""
        prepared, previous = self.prepared, self.previous
        rows = previous.rows
        # what a scheduled run compares with is mostly the current rows themselves: those are sent once
        compared = (None if previous.compared is None else
                    {key: None if rows.get(key) is row else tuple(row) for key, row in previous.compared.items()})
        return _chunk_work, (self.chunk_id, self.run, self.subjects, _plain(prepared.items), prepared.facts,
                             prepared.payloads, prepared.facts_numbers, prepared.payload_numbers, list(rows),
                             _plain(rows.values()), previous.since, compared, _plain(self.spans), self.reused)


def _plain(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return list(map(tuple, rows))


def _named(cls: type, rows: Iterable[tuple[Any, ...]]) -> list[Any]:
    """Named tuples of `cls` made from plain ones, without calling Python code for each."""
    return list(map(functools.partial(tuple.__new__, cls), rows))


def _chunk_work(chunk_id: int, run: EvaluationRun, subjects: int, items: list[tuple[Any, ...]], facts: Any,
                payloads: Any, facts_numbers: dict[str, int], payload_numbers: dict[str, int],
                keys: list[tuple[str, str]], rows: list[tuple[Any, ...]], since: int,
                compared: dict[tuple[str, str], tuple[Any, ...] | None] | None, spans: list[tuple[Any, ...]],
                reused: frozenset[int]) -> ChunkWork:
    """A `ChunkWork` as `ChunkWork.__reduce__` sent it."""
    current = dict(zip(keys, _named(PreviousRow, rows), strict=True))
    if compared is not None:
        compared = {key: current[key] if row is None else tuple.__new__(PreviousRow, row)
                    for key, row in compared.items()}
    prepared = decision_log.Prepared(_named(decision_log._Prepared, items), facts, payloads, facts_numbers,
                                     payload_numbers)
    return ChunkWork(chunk_id, run, subjects, prepared, PreviousDeterminations(current, since, compared),
                     _named(Span, spans), reused)


def chunk_read(chunk: RunChunk, *, reuse_determinations: bool = True) -> ChunkWork:
    """Reads the chunk's subjects and the determinations they will be compared with, evaluates each
    subject under every regime (but those whose current determination it can confirm as it stands,
    `reusable_determinations`, unless `reuse_determinations` is false) and serializes the rows:
    everything before the log is locked. The cyclic collector is held off while it runs and resumed
    once its snapshots and evaluations are freed, so that the collection the resumption sets off
    walks the chunk's work, not everything that made it."""
    with stage(CHUNK_READ), collector_paused():
        return _chunk_read(chunk, reuse_determinations=reuse_determinations)


def _chunk_read(chunk: RunChunk, *, reuse_determinations: bool) -> ChunkWork:
    run = chunk.run
    versions = versions_for(published_library(), as_of=run.as_of, regimes=run.regimes or None)
    with stage(SNAPSHOTS):
        snapshots = list(snapshots_for_ids(
            model_ids=chunk.subjects.get("model", []),
            cluster_ids=chunk.subjects.get("cluster", []),
            organisation_ids=chunk.subjects.get("organisation", []),
        ))
    previous = previous_determinations({(item.key.ref, slug) for item in snapshots for slug in versions}, run=run)
    facts, version_ids = decision_log.FactsHashes(), _rule_version_ids(versions)
    reused = {}
    if reuse_determinations:
        with stage(REUSED):
            reused = reusable_determinations(run, snapshots, versions=versions, version_ids=version_ids,
                                             previous=previous, facts=facts)
    entries = evaluate_snapshots(snapshots, versions=versions, as_of=run.as_of, reused=reused,
                                 version_ids=version_ids)
    return ChunkWork(chunk.pk, run, sum(len(ids) for ids in chunk.subjects.values()),
                     decision_log.prepare(entries, facts=facts), previous,
                     reused=frozenset(i for i, e in enumerate(entries) if type(e) is decision_log.Reused))


def chunk_write(chunk: RunChunk, work: ChunkWork, *, task_id: str) -> None:
    """Chains and writes the rows, confirms the current determinations the run reached again (one
    confirmation, no row for each), records the status changes and marks the chunk done; inside the
    caller's transaction, with the chunk's row locked. Where a determination the reader reused is no
    longer current (another writer appended one since), the chunk is read again and every subject
    evaluated, now that the log is locked."""
    run = work.run
    if run.status == RunStatus.PENDING:
        EvaluationRun.objects.filter(pk=run.pk, status=RunStatus.PENDING).update(
            status=RunStatus.RUNNING, started_at=timezone.now())
    decision_log.lock_head()  # the current determinations read next stay current until the commit
    items = work.prepared.items
    current = current_before(run, {(item.ref, item.regime) for item in items}, work.previous)
    positions, confirmed = split_confirmed(items, current) if run.confirms else (set(), [])
    if not work.reused <= positions:
        work = chunk_read(chunk, reuse_determinations=False)
        items = work.prepared.items
        current = current_before(run, {(item.ref, item.regime) for item in items}, work.previous)
        positions, confirmed = split_confirmed(items, current)
    rows = decision_log.append(work.prepared.without(positions), trigger=run.kind, requested_by=run.requested_by,
                               run=run, task_id=task_id)
    decision_log.confirm([row.sequence for row in confirmed], as_of=run.as_of, trigger=run.kind,
                         requested_by=run.requested_by, run=run, task_id=task_id)
    changes = record_changes(run, rows, work.previous, current=current, confirmed=confirmed)
    chunk.done = True
    chunk.finished_at = timezone.now()
    chunk.save(update_fields=["done", "finished_at"])
    EvaluationRun.objects.filter(pk=run.pk).update(
        done=F("done") + work.subjects, chunks_done=F("chunks_done") + 1, changes_count=F("changes_count") + changes,
        reused=F("reused") + len(work.reused),
    )


def _locked_chunk(chunk_id: int) -> RunChunk:
    return RunChunk.objects.select_for_update(of=("self",)).select_related("run", "run__requested_by").get(pk=chunk_id)


@collector_paused()
def chunk_execute(*, chunk_id: int, task_id: str = "", work: ChunkWork | None = None) -> bool:
    """One chunk in one transaction, its row locked: read here (`chunk_read`) unless `work` was read
    already, then written (`chunk_write`). A chunk already done is left alone (returns False) and
    any work read for it thrown away. The cyclic collector is held off while it runs: a chunk's
    rows, read back, chained and written, set off collections that walked everything the process
    holds (a quarter or more of a benchmark writer's CPU)."""
    token = current_chunk.set(chunk_id)
    try:
        # the write's span starts once the chunk is read and ends once the transaction has committed
        with ExitStack() as writing, transaction.atomic():
            chunk = _locked_chunk(chunk_id)
            if chunk.done:
                return False
            work = work or chunk_read(chunk)
            writing.enter_context(stage(CHUNK_WRITE))
            chunk_write(chunk, work, task_id=task_id)
        return True
    finally:
        current_chunk.reset(token)
