"""A submission's evaluation: recorded in the outbox with the submission, enqueued after commit.

If the broker cannot be reached the submission still stands; its outbox rows wait for the
periodic sweep (`rules.tasks.pending_sweep`) to enqueue them once the broker is back.
"""
from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from .models import PendingEvaluation

log = logging.getLogger(__name__)


def enqueue_pending(ids: list[int]) -> bool:
    """Sends the evaluation task for these outbox rows; false (and logged) if the broker is down."""
    from .tasks import evaluate_pending

    try:
        evaluate_pending.apply_async(args=[ids], retry=False)
    except Exception as exc:  # kombu raises several types for an unreachable broker
        log.warning("broker unavailable, %d evaluation(s) left in the outbox: %s", len(ids), exc)
        return False
    PendingEvaluation.objects.filter(pk__in=ids, enqueued_at__isnull=True).update(enqueued_at=timezone.now())
    return True


def enqueue_evaluation(sender: Any, *, subjects: list[str], actor: Any = None, via: str = "", **kwargs: Any) -> None:
    requested_by = actor if getattr(actor, "pk", None) else None
    rows = PendingEvaluation.objects.bulk_create(
        PendingEvaluation(subject_ref=ref, requested_by=requested_by) for ref in subjects
    )
    ids = [row.pk for row in rows]
    transaction.on_commit(lambda: enqueue_pending(ids))
