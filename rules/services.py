"""Evaluations of record: runs over chunks of subjects, written to the decision log with the
status changes they found. Tasks and views call these; nothing here knows about Celery."""
from __future__ import annotations

import contextvars
import gc
import json
import multiprocessing
import multiprocessing.util
import signal
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import Count, F, Max
from django.utils import timezone

from registry.models import AIModel, Cluster, Organisation
from rules.memory import collector_paused

from . import decision_log, signals
from .engine import Library, evaluate_subject
from .engine.subject import Subject
from .library_store import published_library
from .models import Determination, EvaluationRun, LogHead, PendingEvaluation, RuleVersion, RunChunk, StatusChange
from .models.rule_version import RuleVersionState
from .models.runs import RunKind, RunStatus
from .subjects import SubjectSnapshot, resolve_subjects, snapshots_for_ids

DEFAULT_CHUNK_SIZE = 500
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
    snapshots: Iterable[SubjectSnapshot], *, versions: dict[str, Any], as_of: date
) -> list[decision_log.Entry]:
    """Every subject under every regime, each subject's quantities computed once."""
    version_ids = _rule_version_ids(versions)
    entries = []
    for item in snapshots:
        subject = Subject(item.snapshot)
        for slug, version in versions.items():
            evaluation = evaluate_subject(subject, version=version, regime=slug, as_of=as_of)
            entries.append(decision_log.Entry(item, evaluation, version_ids[slug]))
    return entries


class PreviousRow(NamedTuple):
    """What change detection needs of an earlier determination (its payload stays in the database)."""

    pk: int
    sequence: int
    subject_ref: str
    regime: str
    status: str
    rule_version_label: str
    rule_hash: str


def _previous_determinations(
    keys: set[tuple[str, str]], *, exclude_run: EvaluationRun, after_sequence: int = 0
) -> dict[tuple[str, str], PreviousRow]:
    """The latest determination of record before this run, per (subject, regime), of those after
    `after_sequence`, payloads left in the database. The state before this run is the newest
    determination as of a date on or before the run's own (an evaluation as of a past date asked
    "what was the law then", not "what is it now"); a scheduled run compares with the previous
    scheduled run."""
    if not keys:
        return {}
    only_run = exclude_run.previous_run_id if exclude_run.kind == RunKind.SCHEDULE and exclude_run.previous_run_id else None
    if connection.vendor == "postgresql":
        return _previous_by_probe(keys, exclude_run=exclude_run, after_sequence=after_sequence, only_run=only_run)
    return _previous_grouped(keys, exclude_run=exclude_run, after_sequence=after_sequence, only_run=only_run)


def _previous_grouped(
    keys: set[tuple[str, str]], *, exclude_run: EvaluationRun, after_sequence: int, only_run: int | None
) -> dict[tuple[str, str], PreviousRow]:
    """Any database: the newest date per key, then the last row of that date, in three queries."""
    refs = {ref for ref, _ in keys}
    regimes = {regime for _, regime in keys}
    candidates = Determination.objects.filter(subject_ref__in=refs, regime__in=regimes)
    if after_sequence:
        candidates = candidates.filter(sequence__gt=after_sequence)
    if only_run:
        candidates = candidates.filter(run_id=only_run)
    candidates = candidates.exclude(run=exclude_run).filter(as_of__lte=exclude_run.as_of)
    newest_date = dict(
        ((ref, regime), day)
        for ref, regime, day in candidates.values("subject_ref", "regime").annotate(day=Max("as_of"))
        .values_list("subject_ref", "regime", "day")
    )
    latest = [
        last
        for ref, regime, day, last in candidates.filter(as_of__in=set(newest_date.values()))
        .values("subject_ref", "regime", "as_of").annotate(last=Max("sequence"))
        .values_list("subject_ref", "regime", "as_of", "last")
        if newest_date.get((ref, regime)) == day
    ]
    rows = Determination.objects.filter(sequence__in=latest).values_list(*PreviousRow._fields)
    return {(row.subject_ref, row.regime): row for row in map(PreviousRow._make, rows)
            if (row.subject_ref, row.regime) in keys}


def _previous_by_probe(
    keys: set[tuple[str, str]], *, exclude_run: EvaluationRun, after_sequence: int, only_run: int | None
) -> dict[tuple[str, str], PreviousRow]:
    """PostgreSQL: one index probe per (subject, regime) on `determination_latest_as_of`, whatever the
    table's statistics say (a fresh log, or a server without autovacuum, would otherwise be read
    through the wrong index)."""
    ordered = sorted(keys)
    table = connection.ops.quote_name(Determination._meta.db_table)
    sql = f"""
        SELECT d.id, d.sequence, d.subject_ref, d.regime, d.status, d.rule_version_label, d.rule_hash
        FROM unnest(%s::varchar[], %s::varchar[]) AS k(subject_ref, regime)
        CROSS JOIN LATERAL (
            SELECT id, sequence, subject_ref, regime, status, rule_version_label, rule_hash
            FROM {table} AS e
            WHERE e.subject_ref = k.subject_ref AND e.regime = k.regime
              AND e.as_of <= %s AND e.sequence > %s AND e.run_id IS DISTINCT FROM %s
              AND (%s::bigint IS NULL OR e.run_id = %s::bigint)
            ORDER BY e.as_of DESC, e.sequence DESC
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
        {"id": test_id, "from": before.get(test_id, "absent"), "to": after.get(test_id, "absent")}
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
    """Read before the log is locked; `_record_changes` reads only what was appended since. The
    log's length is read first: a row committed after it has a higher sequence, so it is read again."""
    since = LogHead.objects.filter(id=1).values_list("sequence", flat=True).first() or 0
    return PreviousDeterminations(_previous_determinations(keys, exclude_run=run), since)


def _record_changes(run: EvaluationRun, rows: list[decision_log.AppendedRow], previous: PreviousDeterminations) -> int:
    """Status changes against the latest determination before this run; with the lock held, so
    only the rows appended since `previous` was read are read again."""
    keys = {(r.subject_ref, r.regime) for r in rows}
    latest = dict(previous.rows)
    for key, row in _previous_determinations(keys, exclude_run=run, after_sequence=previous.since).items():
        if key not in latest or latest[key].sequence < row.sequence:
            latest[key] = row
    changed = [(latest[(r.subject_ref, r.regime)], r) for r in rows
               if (r.subject_ref, r.regime) in latest and latest[(r.subject_ref, r.regime)].status != r.status]
    if not changed:
        return 0
    payloads = dict(Determination.objects.filter(pk__in=[before.pk for before, _ in changed]).values_list("pk", "payload"))
    pks = decision_log.pks_by_sequence([row for _, row in changed])
    StatusChange.objects.bulk_create(
        StatusChange(
            run=run, subject_ref=row.subject_ref, organisation=row.organisation, regime=row.regime,
            from_status=before.status, to_status=row.status,
            flipped_tests=_flipped_tests(_outcomes(payloads[before.pk]), _outcomes(row.payload)),
            from_determination_id=before.pk, to_determination_id=pks[row.sequence],
            from_rule_version=_label(before), to_rule_version=_label(row),
        )
        for before, row in changed
    )
    return len(changed)


def _subject_ids(refs: Iterable[str] | None) -> dict[str, list[int]]:
    if refs is None:
        return {
            "model": list(AIModel.objects.order_by("pk").values_list("pk", flat=True)),
            "cluster": list(Cluster.objects.order_by("pk").values_list("pk", flat=True)),
            "organisation": list(Organisation.objects.order_by("pk").values_list("pk", flat=True)),
        }
    models, clusters, organisations = resolve_subjects(refs)
    return {
        "model": [m.pk for m in models],
        "cluster": [c.pk for c in clusters],
        "organisation": [o.pk for o in organisations],
    }


def _organisation_weights(ids: list[int]) -> dict[int, int]:
    """An organisation's share of a chunk: one, plus one per model, since its snapshot holds every
    model's facts and lineage and its tests look at each model. A chunk is then bounded in the facts
    it holds, not only in subjects: 500 organisations of 100 models each would otherwise be read,
    evaluated and held at once (50,000 models' facts)."""
    if not ids:
        return {}
    counts = dict(AIModel.objects.filter(organisation_id__any=ids).order_by().values("organisation_id")
                  .annotate(models=Count("id")).values_list("organisation_id", "models"))
    return {pk: 1 + counts.get(pk, 0) for pk in ids}


def run_create(
    *,
    kind: str,
    as_of: date | None = None,
    regimes: list[str] | None = None,
    subjects: list[str] | None = None,
    rule_version: RuleVersion | None = None,
    requested_by: Any = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> EvaluationRun:
    """A run and its chunks; the caller enqueues the chunks (see `rules.tasks.run_start`). A chunk
    holds `chunk_size` subjects, an organisation counting as one plus its models."""
    as_of = as_of or today()
    library = published_library()
    versions_for(library, as_of=as_of, regimes=regimes)  # refuses an unknown regime now, not in a worker
    ids = _subject_ids(subjects)
    with transaction.atomic():
        run = EvaluationRun.objects.create(
            kind=kind, as_of=as_of, regimes=list(regimes or []), subjects=list(subjects) if subjects is not None else None,
            rule_version=rule_version, requested_by=requested_by, total=sum(len(v) for v in ids.values()),
            previous_run=EvaluationRun.objects.filter(kind=kind, status=RunStatus.FINISHED).order_by("-id").first(),
        )
        weights = _organisation_weights(ids["organisation"])
        chunks, current, size = [], {k: [] for k in KINDS}, 0
        for kind_name in KINDS:
            for pk in ids[kind_name]:
                current[kind_name].append(pk)
                size += weights.get(pk, 1) if kind_name == "organisation" else 1
                if size >= chunk_size:
                    chunks.append(current)
                    current, size = {k: [] for k in KINDS}, 0
        if size:
            chunks.append(current)
        RunChunk.objects.bulk_create(RunChunk(run=run, index=i, subjects=c) for i, c in enumerate(chunks))
        run.chunks_total = len(chunks)
        run.save(update_fields=["chunks_total"])
    return run


@dataclass
class ChunkWork:
    """A chunk read and evaluated, its rows serialized, ready to be chained and written."""

    chunk_id: int
    run: EvaluationRun
    subjects: int
    prepared: decision_log.Prepared
    previous: PreviousDeterminations


# The chunk the current thread is working on (for instruments such as the benchmark's query count).
current_chunk: contextvars.ContextVar[int | None] = contextvars.ContextVar("current_chunk", default=None)


def _chunk_prepare(chunk: RunChunk) -> ChunkWork:
    """Reads the chunk's subjects, evaluates each under every regime, serializes the rows and reads
    the determinations they will be compared with: everything before the log is locked."""
    with collector_paused():
        return _chunk_evaluated(chunk)


def _chunk_evaluated(chunk: RunChunk) -> ChunkWork:
    run = chunk.run
    library = published_library()
    versions = versions_for(library, as_of=run.as_of, regimes=run.regimes or None)
    snapshots = snapshots_for_ids(
        model_ids=chunk.subjects.get("model", []),
        cluster_ids=chunk.subjects.get("cluster", []),
        organisation_ids=chunk.subjects.get("organisation", []),
    )
    entries = evaluate_snapshots(snapshots, versions=versions, as_of=run.as_of)
    previous = previous_determinations({(e.subject.key.ref, e.evaluation.regime) for e in entries}, run=run)
    return ChunkWork(chunk.pk, run, sum(len(ids) for ids in chunk.subjects.values()), decision_log.prepare(entries),
                     previous)


def _chunk_write(chunk: RunChunk, work: ChunkWork, *, task_id: str) -> None:
    """Chains and writes the rows, records the status changes and marks the chunk done; inside the
    caller's transaction, with the chunk's row locked."""
    run = work.run
    if run.status == RunStatus.PENDING:
        EvaluationRun.objects.filter(pk=run.pk, status=RunStatus.PENDING).update(
            status=RunStatus.RUNNING, started_at=timezone.now())
    rows = decision_log.append(work.prepared, trigger=run.kind, requested_by=run.requested_by, run=run, task_id=task_id)
    changes = _record_changes(run, rows, work.previous)
    chunk.done = True
    chunk.finished_at = timezone.now()
    chunk.save(update_fields=["done", "finished_at"])
    EvaluationRun.objects.filter(pk=run.pk).update(
        done=F("done") + work.subjects, chunks_done=F("chunks_done") + 1, changes_count=F("changes_count") + changes,
    )


def _locked_chunk(chunk_id: int) -> RunChunk:
    return RunChunk.objects.select_for_update(of=("self",)).select_related("run", "run__requested_by").get(pk=chunk_id)


def _execute(chunk_id: int, *, task_id: str, work: ChunkWork | None = None) -> bool:
    """One chunk in one transaction, its row locked: evaluated here unless `work` was prepared
    already. A chunk already done is left alone (returns False) and any prepared work thrown away."""
    token = current_chunk.set(chunk_id)
    try:
        with transaction.atomic():
            chunk = _locked_chunk(chunk_id)
            if chunk.done:
                return False
            _chunk_write(chunk, work or _chunk_prepare(chunk), task_id=task_id)
        return True
    finally:
        current_chunk.reset(token)


def run_chunk_execute(*, chunk_id: int, task_id: str = "") -> bool:
    """Evaluates one chunk in one transaction. A chunk already done is left alone (returns False)."""
    return _execute(chunk_id, task_id=task_id)


def _write_prepared(work: ChunkWork, task_id: str) -> bool:
    """The writer's half of a pipelined chunk: its own transaction, on the writer's connection."""
    return _execute(work.chunk_id, task_id=task_id, work=work)


def _prepare_by_id(chunk_id: int) -> ChunkWork | None:
    """The reader's half of a pipelined chunk (None when it is done already), its facts snapshots
    stored already so that the writer has only the rows to write."""
    token = current_chunk.set(chunk_id)
    try:
        chunk = RunChunk.objects.select_related("run", "run__requested_by").get(pk=chunk_id)
        if chunk.done:
            return None
        work = _chunk_prepare(chunk)
        decision_log.store_facts(work.prepared)
        return work
    finally:
        current_chunk.reset(token)


def _close_connections() -> None:
    connections.close_all()


def _reader_started() -> None:
    """In a reader process: Ctrl-C is the writer's to handle, the reader's database connection is
    closed when the pool shuts it down, and the collector leaves alone the objects it was forked with."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    multiprocessing.util.Finalize(None, _close_connections, exitpriority=10)
    gc.freeze()  # what it inherited (Django, the rule library) is never garbage: collections skip it


def reader_processes(wanted: int | None = None) -> int:
    """How many processes read and evaluate chunks for one writer (`wanted`, by default
    `RUN_READER_PROCESSES`); 0 when they cannot be forked here (a daemonic process such as a Celery
    prefork child, or a platform without `fork`)."""
    wanted = settings.RUN_READER_PROCESSES if wanted is None else wanted
    if wanted < 1 or "fork" not in multiprocessing.get_all_start_methods() or multiprocessing.current_process().daemon:
        return 0
    return wanted


def _readers(processes: int) -> Executor:
    if not processes:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="chunk-reader")
    published_library()  # parsed once here, inherited by the readers
    connections.close_all()  # a forked reader must not share this process's connections
    return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"), initializer=_reader_started)


def run_chunks_pipelined(chunk_ids: Iterable[int], *, task_id: str = "",
                         on_chunk: Callable[[int], None] | None = None, readers: int | None = None) -> int:
    """Executes the chunks in order while the next ones are read and evaluated: by `readers`
    processes forked from this one (default `RUN_READER_PROCESSES`), or by a thread of this process
    when that is 0 or they cannot be forked. This thread chains and writes each chunk in turn, so
    the readers' Python, the writer's and the database's work overlap. Each chunk is still one
    transaction that locks its row and skips it if done, as `run_chunk_execute` does, so the result
    is the same as running the chunks one by one. At most `readers + 1` chunks are read ahead.
    Returns the number of chunks written; `on_chunk(chunk_id)` is called as each one commits."""
    chunk_ids = list(chunk_ids)
    processes = min(reader_processes(readers), len(chunk_ids))
    written = 0
    executor = _readers(processes)
    ahead: deque[tuple[int, Future[ChunkWork | None]]] = deque()
    waiting = iter(chunk_ids)

    def read_next() -> None:
        chunk_id = next(waiting, None)
        if chunk_id is not None:
            ahead.append((chunk_id, executor.submit(_prepare_by_id, chunk_id)))

    try:
        for _ in range(max(processes, 1) + 1):
            read_next()
        while ahead:
            chunk_id, future = ahead.popleft()
            work = future.result()  # re-raises the reader's error here
            read_next()
            if work is not None:
                written += _write_prepared(work, task_id)
                if on_chunk:
                    on_chunk(chunk_id)
    finally:
        for _, future in ahead:
            future.cancel()
        if not processes:
            executor.submit(_close_connections).result()
        executor.shutdown(wait=True, cancel_futures=True)
    return written


def run_finish_if_complete(*, run_id: int) -> bool:
    """Marks the run finished once every chunk is done; true for the one caller that finished it."""
    with transaction.atomic():
        run = EvaluationRun.objects.select_for_update().get(pk=run_id)
        if run.status == RunStatus.FINISHED or run.chunks.filter(done=False).exists():
            return False
        run.status = RunStatus.FINISHED
        run.finished_at = timezone.now()
        run.started_at = run.started_at or run.finished_at
        run.save(update_fields=["status", "finished_at", "started_at"])
    signals.run_finished.send(sender=EvaluationRun, run=run)
    return True


def run_fail(*, run_id: int, error: str) -> None:
    """Records that a chunk of the run gave up; starting the run again finishes what is left."""
    EvaluationRun.objects.filter(pk=run_id).exclude(status=RunStatus.FINISHED).update(
        status=RunStatus.FAILED, error=error[:4000], finished_at=timezone.now())


def can_pipeline() -> bool:
    """Pipelined chunks need a second connection that sees what this one committed: PostgreSQL,
    outside any transaction of the caller's."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def run_execute_inline(run: EvaluationRun, *, task_id: str = "", on_chunk: Callable[[int], None] | None = None,
                       readers: int | None = None) -> EvaluationRun:
    """Every chunk of a run in this process: pipelined (`run_chunks_pipelined`, with `readers`) where
    it can be, otherwise chunk after chunk (SQLite, or inside the caller's transaction, as in tests)."""
    chunk_ids = list(run.chunks.filter(done=False).order_by("index").values_list("pk", flat=True))
    if can_pipeline() and len(chunk_ids) > 1:
        run_chunks_pipelined(chunk_ids, task_id=task_id, on_chunk=on_chunk, readers=readers)
    else:
        for chunk_id in chunk_ids:
            run_chunk_execute(chunk_id=chunk_id, task_id=task_id)
            if on_chunk:
                on_chunk(chunk_id)
    run_finish_if_complete(run_id=run.pk)
    run.refresh_from_db()
    return run


def affected_subjects(refs: Iterable[str]) -> list[str]:
    """A changed model also changes the models derived from it and its organisation's subject.
    Unknown subjects (a record since removed) are left out; one pair of queries per lineage level."""
    refs = list(dict.fromkeys(refs))
    models, clusters, organisations = resolve_subjects(refs, skip_unknown=True)
    known = {obj.subject_ref for obj in (*models, *clusters, *organisations)}
    result = [ref for ref in refs if ref in known]
    frontier, slugs = models, {m.organisation.slug for m in models}
    while frontier:
        derived = [m for m in AIModel.objects.filter(base_model__in=frontier).select_related("organisation")
                   if m.subject_ref not in known]
        known.update(m.subject_ref for m in derived)
        result.extend(m.subject_ref for m in derived)
        slugs.update(m.organisation.slug for m in derived)
        frontier = derived
    return result + [f"organisation:{slug}" for slug in sorted(slugs) if f"organisation:{slug}" not in known]


def pending_evaluate(*, pending_ids: list[int], task_id: str = "") -> EvaluationRun | None:
    """Evaluates the outbox rows given (those still there) in one run and clears them."""
    with transaction.atomic():
        pending = list(PendingEvaluation.objects.select_for_update(skip_locked=True).filter(pk__in=pending_ids))
        if not pending:
            return None
        known = affected_subjects(p.subject_ref for p in pending)
        run = run_create(kind=RunKind.SUBMISSION, subjects=known, requested_by=pending[0].requested_by,
                         chunk_size=max(len(known), 1))
        run_execute_inline(run, task_id=task_id)
        PendingEvaluation.objects.filter(pk__in=[p.pk for p in pending]).delete()
    return run


def rule_version_publish(*, version: RuleVersion, actor: Any) -> EvaluationRun:
    """Publishes a draft and creates the re-evaluation of every subject under its regime."""
    from .engine import lint
    from .library_store import engine_version

    with transaction.atomic():
        locked = RuleVersion.objects.select_for_update().get(pk=version.pk)
        if locked.is_published:
            raise ValueError(f"{locked} is already published")
        candidate = engine_version(locked)
        candidate.published = True
        library = published_library()
        problems = lint(Library([*library, candidate]))
        mine = [p for p in problems if p.severity == "error"
                and (p.file == candidate.origin or candidate.regime_slug in p.message)]
        if mine:
            raise ValueError("; ".join(str(p) for p in mine))
        locked.state = RuleVersionState.PUBLISHED
        locked.published_at = timezone.now()
        locked.published_by = actor
        locked.save()
        signals.rule_version_published.send(sender=RuleVersion, version=locked, actor=actor)
        as_of = max(today(), locked.effective_from) if locked.effective_from else today()
        return run_create(kind=RunKind.PUBLICATION, as_of=as_of, regimes=[locked.regime], rule_version=locked,
                          requested_by=actor)
