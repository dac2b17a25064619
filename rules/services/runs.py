"""Run planning: a run and its chunks, carried out in this process or marked finished or failed."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from registry.models import AIModel, Cluster, Organisation

from .. import signals
from ..library_store import published_library
from ..models import EvaluationRun, LogHead, RuleVersion, RunChunk
from ..models.runs import RunStatus
from ..reuse import engine_sha256
from ..subjects import resolve_subjects
from .chunks import KINDS, chunk_execute, today, versions_for
from .pipeline import can_pipeline, chunks_execute_pipelined

DEFAULT_CHUNK_SIZE = 500


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


def _owners(ids: dict[str, list[int]]) -> dict[str, dict[int, str]]:
    """Kind → record id → its organisation's slug (one query per kind)."""
    return {
        "model": dict(AIModel.objects.filter(pk__any=ids["model"]).values_list("pk", "organisation__slug"))
        if ids["model"] else {},
        "cluster": dict(Cluster.objects.filter(pk__any=ids["cluster"]).values_list("pk", "organisation__slug"))
        if ids["cluster"] else {},
        "organisation": dict(Organisation.objects.filter(pk__any=ids["organisation"]).values_list("pk", "slug"))
        if ids["organisation"] else {},
    }


def _shares(chunk: dict[str, list[int]], owners: dict[str, dict[int, str]]) -> dict[str, int]:
    """Organisation slug → how many of the chunk's subjects are its own."""
    shares: dict[str, int] = {}
    for kind_name, pks in chunk.items():
        for pk in pks:
            slug = owners[kind_name].get(pk)
            if slug is not None:
                shares[slug] = shares.get(slug, 0) + 1
    return shares


def run_create(
    *,
    kind: str,
    as_of: date | None = None,
    regimes: list[str] | None = None,
    subjects: list[str] | None = None,
    subject_ids: dict[str, list[int]] | None = None,
    rule_version: RuleVersion | None = None,
    requested_by: Any = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    confirms: bool = True,
) -> EvaluationRun:
    """A run and its chunks; the caller enqueues the chunks (see `rules.tasks.run_start`). A chunk
    holds `chunk_size` subjects, an organisation counting as one plus its models. The subjects are
    `subjects` (references), or `subject_ids` (kind → record ids, as the outbox keeps them), or
    else the whole registry. With `confirms` false, a determination the run reaches again unchanged
    is appended anew rather than confirmed."""
    as_of = as_of or today()
    library = published_library()
    versions_for(library, as_of=as_of, regimes=regimes)  # refuses an unknown regime now, not in a worker
    ids = {kind_name: list(subject_ids.get(kind_name, [])) for kind_name in KINDS} if subject_ids is not None \
        else _subject_ids(subjects)
    with transaction.atomic():
        run = EvaluationRun.objects.create(
            kind=kind, as_of=as_of, regimes=list(regimes or []), subjects=list(subjects) if subjects is not None else None,
            rule_version=rule_version, requested_by=requested_by, total=sum(len(v) for v in ids.values()),
            confirms=confirms, engine_sha256=engine_sha256(),
            previous_run=EvaluationRun.objects.filter(kind=kind, status=RunStatus.FINISHED).order_by("-id").first(),
        )
        weights = _organisation_weights(ids["organisation"])
        owners = _owners(ids)
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
        RunChunk.objects.bulk_create(RunChunk(run=run, index=i, subjects=c, organisations=_shares(c, owners))
                                     for i, c in enumerate(chunks))
        run.chunks_total = len(chunks)
        run.save(update_fields=["chunks_total"])
    return run


def run_finish_if_complete(*, run_id: int) -> bool:
    """Marks the run finished once every chunk is done; true for the one caller that finished it."""
    with transaction.atomic():
        run = EvaluationRun.objects.select_for_update().get(pk=run_id)
        if run.status == RunStatus.FINISHED or run.chunks.filter(done=False).exists():
            return False
        run.status = RunStatus.FINISHED
        run.finished_at = timezone.now()
        run.started_at = run.started_at or run.finished_at
        run.log_sequence = LogHead.objects.values_list("sequence", flat=True).filter(id=1).first() or 0
        run.save(update_fields=["status", "finished_at", "started_at", "log_sequence"])
    signals.run_finished.send(sender=EvaluationRun, run=run)
    return True


def run_fail(*, run_id: int, error: str) -> None:
    """Records that a chunk of the run gave up; starting the run again finishes what is left."""
    EvaluationRun.objects.filter(pk=run_id).exclude(status=RunStatus.FINISHED).update(
        status=RunStatus.FAILED, error=error[:4000], finished_at=timezone.now())


def run_execute_inline(run: EvaluationRun, *, task_id: str = "", on_chunk: Callable[[int], None] | None = None,
                       readers: int | None = None) -> EvaluationRun:
    """Every chunk of a run in this process: pipelined (`chunks_execute_pipelined`, with `readers`)
    where it can be, otherwise chunk after chunk (SQLite, or inside the caller's transaction, as in tests)."""
    chunk_ids = list(run.chunks.filter(done=False).order_by("index").values_list("pk", flat=True))
    if can_pipeline() and len(chunk_ids) > 1:
        chunks_execute_pipelined(chunk_ids, task_id=task_id, on_chunk=on_chunk, readers=readers)
    else:
        for chunk_id in chunk_ids:
            chunk_execute(chunk_id=chunk_id, task_id=task_id)
            if on_chunk:
                on_chunk(chunk_id)
    run_finish_if_complete(run_id=run.pk)
    run.refresh_from_db()
    return run
