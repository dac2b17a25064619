"""A chunk of a run: `chunk_read` (its subjects read and evaluated under every regime, its rows
serialized, before the log is locked), `chunk_write` (the rows chained and written, the status
changes recorded) and `chunk_execute` (both, in one transaction that locks the chunk's row)."""
from __future__ import annotations

from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from rules.memory import collector_paused

from .. import decision_log
from ..engine import Library, evaluate_subject
from ..engine.subject import Subject
from ..instrumentation import CHUNK_READ, CHUNK_WRITE, ENGINE, SNAPSHOTS, Span, current_chunk, stage
from ..library_store import published_library
from ..models import EvaluationRun, RuleVersion, RunChunk
from ..models.rule_version import RuleVersionState
from ..models.runs import RunStatus
from ..subjects import SubjectSnapshot, snapshots_for_ids
from .changes import PreviousDeterminations, current_before, previous_determinations, record_changes, split_confirmed

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
    with stage(ENGINE):
        for item in snapshots:
            subject = Subject(item.snapshot, as_of=as_of)
            for slug, version in versions.items():
                evaluation = evaluate_subject(subject, version=version, regime=slug, as_of=as_of)
                entries.append(decision_log.Entry(item, evaluation, version_ids[slug]))
    return entries


@dataclass
class ChunkWork:
    """A chunk read and evaluated, its rows serialized, ready to be chained and written; `spans`
    are what a reader observed while reading it, for the writer to replay."""

    chunk_id: int
    run: EvaluationRun
    subjects: int
    prepared: decision_log.Prepared
    previous: PreviousDeterminations
    spans: list[Span] = field(default_factory=list)


def chunk_read(chunk: RunChunk) -> ChunkWork:
    """Reads the chunk's subjects, evaluates each under every regime, serializes the rows and reads
    the determinations they will be compared with: everything before the log is locked."""
    with stage(CHUNK_READ), collector_paused():
        run = chunk.run
        versions = versions_for(published_library(), as_of=run.as_of, regimes=run.regimes or None)
        with stage(SNAPSHOTS):
            snapshots = snapshots_for_ids(
                model_ids=chunk.subjects.get("model", []),
                cluster_ids=chunk.subjects.get("cluster", []),
                organisation_ids=chunk.subjects.get("organisation", []),
            )
        entries = evaluate_snapshots(snapshots, versions=versions, as_of=run.as_of)
        previous = previous_determinations({(e.subject.key.ref, e.evaluation.regime) for e in entries}, run=run)
        return ChunkWork(chunk.pk, run, sum(len(ids) for ids in chunk.subjects.values()), decision_log.prepare(entries),
                         previous)


def chunk_write(chunk: RunChunk, work: ChunkWork, *, task_id: str) -> None:
    """Chains and writes the rows, confirms the current determinations the run reached again (one
    confirmation, no row for each), records the status changes and marks the chunk done; inside the
    caller's transaction, with the chunk's row locked."""
    run = work.run
    if run.status == RunStatus.PENDING:
        EvaluationRun.objects.filter(pk=run.pk, status=RunStatus.PENDING).update(
            status=RunStatus.RUNNING, started_at=timezone.now())
    items = work.prepared.items
    decision_log.lock_head()  # the current determinations read next stay current until the commit
    current = current_before(run, {(item.ref, item.regime) for item in items}, work.previous)
    positions, confirmed = split_confirmed(items, current) if run.confirms else (set(), [])
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
    )


def _locked_chunk(chunk_id: int) -> RunChunk:
    return RunChunk.objects.select_for_update(of=("self",)).select_related("run", "run__requested_by").get(pk=chunk_id)


def chunk_execute(*, chunk_id: int, task_id: str = "", work: ChunkWork | None = None) -> bool:
    """One chunk in one transaction, its row locked: read here (`chunk_read`) unless `work` was read
    already, then written (`chunk_write`). A chunk already done is left alone (returns False) and
    any work read for it thrown away."""
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
