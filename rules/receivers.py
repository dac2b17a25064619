"""A submission's evaluation: recorded in the outbox with the submission, asked of the workers
after commit.

With a broker (Redis), submissions committed while an evaluation of the outbox is queued ask for
nothing more: that evaluation, once a worker starts it, reads every row committed before it started
(`request_outbox_evaluation`). If the broker cannot be reached the submission still stands; its
outbox rows wait for the periodic sweep (`rules.tasks.pending_sweep`) to enqueue them once the
broker is back.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import caches
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
    from .tasks import evaluate_pending

    return _sent(ids, marked_at, lambda: evaluate_pending.apply_async(args=[ids], retry=False))


def _sent(ids: list[int], marked_at: datetime | None, send: Callable[[], Any]) -> bool:
    """The rows marked sent (made again now if the mark is missing or old: `enqueue_pending`), then
    `send`; if it raises, the mark is taken back, so the sweep sends the rows, and False (logged)."""
    from .tasks import OUTBOX_STALE_AFTER

    sent_at, now = marked_at, timezone.now()
    if sent_at is None or now - sent_at > OUTBOX_STALE_AFTER / 4:
        sent_at = now
        PendingEvaluation.objects.filter(pk__in=ids).update(enqueued_at=sent_at)
    try:
        send()
    except Exception as exc:  # kombu and redis-py raise several types for an unreachable server
        log.warning("broker unavailable, %d evaluation(s) left in the outbox: %s", len(ids), exc)
        PendingEvaluation.objects.filter(pk__in=ids, enqueued_at=sent_at).update(enqueued_at=None)
        return False
    return True


# A flag in Redis (the `outbox` cache) says that an evaluation of the outbox is queued and no worker
# has started it yet. It expires, so that one lost with its message (a broker emptied) is asked for
# again by the next submission after OUTBOX_EVALUATION_QUEUED_FOR; the sweep sends the rows in
# between once their mark is stale, as it does for any lost message.
OUTBOX_EVALUATION_QUEUED = "evaluation-queued"
OUTBOX_EVALUATION_QUEUED_FOR = 30  # seconds


def outbox_coalesced() -> bool:
    """Whether submissions ask for an evaluation of the outbox (at most one queued at a time) rather
    than each for its own rows: with a broker and the flag shared through Redis, not when tasks run
    in the process that sends them."""
    from .tasks import evaluate_outbox

    return settings.OUTBOX_COALESCED and not evaluate_outbox.app.conf.task_always_eager


def request_outbox_evaluation() -> bool:
    """Queues an evaluation of the outbox unless one is queued that no worker has started: that one
    will read the rows committed before this call, since its worker clears the flag before it reads
    (`outbox_evaluation_started`). True if one was queued by this call; raises what the flag's
    Redis or the broker raise, the flag taken back when the broker refused."""
    from .tasks import evaluate_outbox

    flags = caches["outbox"]
    if not flags.add(OUTBOX_EVALUATION_QUEUED, timezone.now().isoformat(), timeout=OUTBOX_EVALUATION_QUEUED_FOR):
        return False
    try:
        evaluate_outbox.apply_async(retry=False)
    except Exception:
        _flag_cleared()
        raise
    return True


def outbox_evaluation_started() -> None:
    """A worker starting an evaluation of the outbox: from now on a submission asks for another."""
    _flag_cleared()


def _flag_cleared() -> None:
    try:
        caches["outbox"].delete(OUTBOX_EVALUATION_QUEUED)
    except Exception as exc:  # the flag expires on its own; rows committed meanwhile wait for it or the sweep
        log.warning("could not clear the outbox's flag: %s", exc)


def dispatch_pending(ids: list[int], *, marked_at: datetime | None = None) -> bool:
    """After a submission commits: its rows are evaluated by a worker. Coalesced (`outbox_coalesced`),
    they are read by the evaluation of the outbox queued already or by one this asks for; otherwise
    they are sent in a task of their own (`enqueue_pending`). False (and logged) if the broker or
    the flag's Redis cannot be reached: the rows' mark is taken back, so the sweep sends them."""
    if not outbox_coalesced():
        return enqueue_pending(ids, marked_at=marked_at)
    return _sent(ids, marked_at, request_outbox_evaluation)


def enqueue_evaluation(sender: Any, *, subjects: list[str], records: list[Any] | None = None, actor: Any = None,
                       via: str = "", batch: Any = None, **kwargs: Any) -> None:
    """One outbox row per changed record, kept by kind and id (a sender giving only references has
    its rows resolved by reference when they are evaluated); written with the submission's batch of
    new rows when it has one, each taking its record's id there (`registry.signals`)."""
    requested_by = actor if getattr(actor, "pk", None) else None
    sent_at = timezone.now()
    if records is not None:
        rows = [PendingEvaluation(subject_ref=obj.subject_ref, subject_kind=_kind(obj), record_id=obj.pk,
                                  requested_by=requested_by, enqueued_at=sent_at) for obj in records]
    else:
        rows = [PendingEvaluation(subject_ref=ref, requested_by=requested_by, enqueued_at=sent_at) for ref in subjects]
    if batch is None:
        PendingEvaluation.objects.bulk_create(rows)
        transaction.on_commit(lambda: dispatch_pending([row.pk for row in rows], marked_at=sent_at))
        return
    for row, obj in zip(rows, records or [None] * len(rows), strict=True):
        batch.add(row, **({"record_id": obj} if obj is not None else {}))
    batch.on_commit(lambda: dispatch_pending([row.pk for row in rows], marked_at=sent_at))
