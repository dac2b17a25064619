"""A submission's evaluation: recorded in the outbox with the submission, enqueued after commit.

If the broker cannot be reached the submission still stands; its outbox rows wait for the
periodic sweep (`rules.tasks.pending_sweep`) to enqueue them once the broker is back.
"""
from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from registry.models import AIModel, Cluster, Organisation

from .models import PendingEvaluation

log = logging.getLogger(__name__)

SUBJECT_KINDS = ((AIModel, "model"), (Cluster, "cluster"), (Organisation, "organisation"))


def _kind(obj: Any) -> str:
    return next(kind for model, kind in SUBJECT_KINDS if isinstance(obj, model))


def enqueue_pending(ids: list[int], *, marked_at: Any = None) -> bool:
    """Sends the evaluation task for these outbox rows; false (and logged) if the broker is down.

    The rows are marked sent, and that committed, before the task is sent: a worker that takes the
    task at once must not find them locked by this update (its `skip_locked` read would pass over
    them and the submission would wait for the sweep). A submission's rows are written marked
    (`marked_at`, committed with the submission), which spares the request a statement and a
    commit; should the process stop between the commit and the send, the sweep sends them again
    once the mark is stale (`rules.tasks.OUTBOX_STALE_AFTER`), as it does a lost message. A mark
    made long before the commit (a large import's transaction) is made again here, so the sweep
    does not take the rows for lost as soon as they are committed. If the broker refuses the task,
    the mark is taken back so the sweep sends them on its next pass."""
    from .tasks import OUTBOX_STALE_AFTER, evaluate_pending

    sent_at, now = marked_at, timezone.now()
    if sent_at is None or now - sent_at > OUTBOX_STALE_AFTER / 4:
        sent_at = now
        PendingEvaluation.objects.filter(pk__in=ids).update(enqueued_at=sent_at)
    try:
        evaluate_pending.apply_async(args=[ids], retry=False)
    except Exception as exc:  # kombu raises several types for an unreachable broker
        log.warning("broker unavailable, %d evaluation(s) left in the outbox: %s", len(ids), exc)
        PendingEvaluation.objects.filter(pk__in=ids, enqueued_at=sent_at).update(enqueued_at=None)
        return False
    return True


def enqueue_evaluation(sender: Any, *, subjects: list[str], records: list[Any] | None = None, actor: Any = None,
                       via: str = "", **kwargs: Any) -> None:
    """One outbox row per changed record, kept by kind and id (a sender giving only references has
    its rows resolved by reference when they are evaluated)."""
    requested_by = actor if getattr(actor, "pk", None) else None
    sent_at = timezone.now()
    if records is not None:
        rows = [PendingEvaluation(subject_ref=obj.subject_ref, subject_kind=_kind(obj), record_id=obj.pk,
                                  requested_by=requested_by, enqueued_at=sent_at) for obj in records]
    else:
        rows = [PendingEvaluation(subject_ref=ref, requested_by=requested_by, enqueued_at=sent_at) for ref in subjects]
    ids = [row.pk for row in PendingEvaluation.objects.bulk_create(rows)]
    transaction.on_commit(lambda: enqueue_pending(ids, marked_at=sent_at))
