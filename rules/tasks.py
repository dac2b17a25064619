"""Celery tasks: thin wrappers over `rules.services`, retried with backoff on database and broker errors."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.db.models import F, Max, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from . import services
from .models import EvaluationRun, PendingEvaluation
from .models.runs import RunStatus, Trigger

log = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError, BrokerError)
RETRY = {"autoretry_for": TRANSIENT, "retry_backoff": 2, "retry_backoff_max": 120, "retry_jitter": True, "max_retries": 20}
OUTBOX_STALE_AFTER = timedelta(minutes=2)


def run_stalled_after() -> timedelta:
    """How long a running run may go without a chunk finishing before its chunks' messages are taken
    for lost (a broker restarted without persistence; a worker killed between taking a message and
    recording it as unacknowledged, which Redis never hands out again) and sent once more: longer than
    a chunk's time limit and the broker's redelivery of an unacknowledged message, so a chunk still
    being worked on, or about to come back by itself, is not sent twice for nothing. A chunk sent
    twice is written once (`chunk_execute` locks it and leaves it alone once done)."""
    redelivery = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    return timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + redelivery)


class RunTask(Task):
    """A task working on a run (its id the last argument): a final failure marks the run failed."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        run_id = kwargs.get("run_id", args[-1] if args else None)
        if run_id is not None:
            services.run_fail(run_id=run_id, error=f"{self.name}[{task_id}]: {type(exc).__name__}: {exc}")


@shared_task(bind=True, **RETRY)
def evaluate_pending(self, pending_ids: list[int]) -> int | None:
    run = services.pending_evaluate(pending_ids=pending_ids, task_id=self.request.id or "")
    return run.pk if run else None


@shared_task(bind=True, **RETRY)
def evaluate_outbox(self) -> int:
    """The outbox's rows committed before this task started (`rules.receivers.request_outbox_evaluation`),
    oldest first, at most OUTBOX_ROWS_A_TASK of them, each requester's in a run of its own; another
    evaluation is asked for when rows may be left. Returns the rows taken."""
    from .receivers import outbox_evaluation_started, request_outbox_evaluation

    outbox_evaluation_started()
    limit = services.OUTBOX_ROWS_A_TASK
    taken = services.outbox_evaluate(task_id=self.request.id or "", limit=limit)
    if taken >= limit:
        request_outbox_evaluation()
    return taken


@shared_task(bind=True, base=RunTask, **RETRY)
def run_chunk(self, chunk_id: int, run_id: int) -> bool:
    services.chunk_execute(chunk_id=chunk_id, task_id=self.request.id or "")
    return services.run_finish_if_complete(run_id=run_id)


@shared_task(bind=True, base=RunTask, **RETRY)
def run_start(self, run_id: int) -> int:
    """Fans a run's chunks out over the workers; any worker may take any chunk."""
    run = EvaluationRun.objects.get(pk=run_id)
    chunk_ids = list(run.chunks.filter(done=False).order_by("index").values_list("pk", flat=True))
    if not chunk_ids:
        services.run_finish_if_complete(run_id=run_id)
    for chunk_id in chunk_ids:
        run_chunk.apply_async(args=[chunk_id, run_id])
    return len(chunk_ids)


@shared_task(bind=True, **RETRY)
def reevaluate_registry(self, kind: str = Trigger.SCHEDULE) -> int:
    """The nightly re-evaluation of the whole registry under every regime, as of today."""
    run = services.run_create(kind=kind)
    run_start.apply_async(args=[run.pk])
    return run.pk


@shared_task(bind=True, **RETRY)
def pending_sweep(self, min_age_seconds: float = 5) -> int:
    """Enqueues outbox rows never enqueued, or enqueued long ago and still there (a lost message);
    starts again runs that no worker has started since long ago (their start was never sent), and
    running runs none of whose chunks has finished for `run_stalled_after` (their chunks' messages
    lost). A row whose evaluation failed keeps its error and is left alone, as does a failed run."""
    from .receivers import enqueue_pending

    stale = timezone.now() - OUTBOX_STALE_AFTER
    ids = list(
        PendingEvaluation.objects.filter(created_at__lte=timezone.now() - timedelta(seconds=min_age_seconds), failed_at__isnull=True)
        .exclude(enqueued_at__gt=stale)
        .values_list("pk", flat=True)[:1000]
    )
    if ids:
        PendingEvaluation.objects.filter(pk__in=ids).update(attempts=F("attempts") + 1, enqueued_at=None)
        enqueue_pending(ids)
    for run_id in EvaluationRun.objects.filter(status=RunStatus.PENDING, created_at__lte=stale).values_list("pk", flat=True)[:100]:
        run_start.apply_async(args=[run_id], retry=False)
    stalled = timezone.now() - run_stalled_after()
    running = (EvaluationRun.objects.filter(status=RunStatus.RUNNING, started_at__lte=stalled)
               .annotate(last_chunk=Max("chunks__finished_at"))
               .filter(Q(last_chunk__isnull=True) | Q(last_chunk__lte=stalled)))
    for run_id in running.order_by("pk").values_list("pk", flat=True)[:100]:
        log.warning("run %s: no chunk finished since %s; its chunks not done are sent again", run_id, stalled)
        run_start.apply_async(args=[run_id], retry=False)
    return len(ids)


@shared_task(**RETRY)
def rebuild_log_indexes() -> list[str]:
    """The decision log's indexes larger than `DECISION_LOG_INDEX_REBUILD_PERCENT` of their compact size,
    rebuilt concurrently on PostgreSQL (`rules.log_indexes`); returns their names."""
    from django.conf import settings

    from .log_indexes import RebuildInProgress, rebuild_split_indexes

    try:
        _sizes, rebuilt = rebuild_split_indexes(ratio=settings.DECISION_LOG_INDEX_REBUILD_PERCENT / 100)
    except RebuildInProgress:
        return []  # the other process's rebuild covers this day
    return [index.name for index in rebuilt]
