"""The outbox, rules' side: a submission's evaluations wait in `PendingEvaluation` rows (a record's
kind and id each), written with the submission; a worker evaluates them in one run and clears them.
A row whose evaluation fails is evaluated alone, so it fails alone: it keeps its error and leaves
the sweep, and the others are evaluated all the same."""
from __future__ import annotations

from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from registry.models import AIModel, Cluster, Organisation

from ..models import EvaluationRun, PendingEvaluation
from ..models.runs import Trigger
from ..subjects import resolve_subjects
from .chunks import KINDS
from .publication import affected_subjects
from .runs import run_create, run_execute_inline

# Errors a retry of the task may overcome: raised to the task, never recorded against a row.
TRANSIENT = (OperationalError, InterfaceError)
RECORDS = {"model": AIModel, "cluster": Cluster, "organisation": Organisation}


def _records(pending: list[PendingEvaluation]) -> dict[str, list[int]]:
    """The rows' records by kind; a row written with a reference only (by an older sender) is
    resolved by it, and one that cannot be is an error for that row."""
    records: dict[str, list[int]] = {kind: [] for kind in KINDS}
    for row in pending:
        if row.record_id is not None:
            records[row.subject_kind].append(row.record_id)
            continue
        models, clusters, organisations = resolve_subjects([row.subject_ref])
        for kind, found in zip(KINDS, (models, clusters, organisations), strict=True):
            records[kind].extend(obj.pk for obj in found)
    return records


def _evaluated(pending: list[PendingEvaluation], *, task_id: str) -> EvaluationRun:
    """One run of the records these rows name and those their change affects, executed here."""
    ids = affected_subjects(_records(pending))
    refs = [obj.subject_ref for kind in KINDS
            for obj in RECORDS[kind].objects.filter(pk__in=ids[kind]).select_related(
                *(["organisation"] if kind != "organisation" else []))]
    run = run_create(kind=Trigger.SUBMISSION, subjects=refs, subject_ids=ids, requested_by=pending[0].requested_by,
                     chunk_size=max(sum(len(v) for v in ids.values()), 1))
    return run_execute_inline(run, task_id=task_id)


def _failed(row: PendingEvaluation, exc: Exception) -> None:
    PendingEvaluation.objects.filter(pk=row.pk).update(failed_at=timezone.now(),
                                                       error=f"{type(exc).__name__}: {exc}"[:4000])


def _evaluated_alone(row: PendingEvaluation, *, task_id: str) -> EvaluationRun | None:
    """The row's records in a run of their own; if it fails, the row keeps the error (None)."""
    try:
        with transaction.atomic():
            return _evaluated([row], task_id=task_id)
    except TRANSIENT:
        raise
    except Exception as exc:
        _failed(row, exc)
        return None


def pending_evaluate(*, pending_ids: list[int], task_id: str = "") -> EvaluationRun | None:
    """Evaluates the outbox rows given (those still there, not failed, and not being evaluated by
    another worker) in one run and clears them. If that run fails, each row is evaluated in a run of
    its own: those that succeed are cleared, the others keep their error and leave the sweep.
    Returns the batch's run, or the first of the rows' own runs that succeeded."""
    with transaction.atomic():
        pending = list(PendingEvaluation.objects.select_for_update(skip_locked=True)
                       .filter(pk__in=pending_ids, failed_at__isnull=True))
        if not pending:
            return None
        try:
            with transaction.atomic():
                run = _evaluated(pending, task_id=task_id)
            cleared = pending
        except TRANSIENT:
            raise
        except Exception as exc:
            if len(pending) == 1:
                _failed(pending[0], exc)
                return None
            runs = {row.pk: _evaluated_alone(row, task_id=task_id) for row in pending}
            cleared = [row for row in pending if runs[row.pk] is not None]
            run = next((r for r in runs.values() if r is not None), None)
        PendingEvaluation.objects.filter(pk__in=[row.pk for row in cleared]).delete()
    return run


OUTBOX_ROWS_A_TASK = 200  # rows one evaluation of the outbox takes; it asks for another if it took as many


def outbox_evaluate(*, task_id: str = "", limit: int = OUTBOX_ROWS_A_TASK) -> int:
    """Evaluates the oldest outbox rows that no worker holds and whose evaluation has not failed, at
    most `limit`: the rows of each requester in a run of their own (`pending_evaluate`), so that a
    run names one requester, as a run of one submission does. Returns the rows taken."""
    with transaction.atomic():
        taken = list(PendingEvaluation.objects.select_for_update(skip_locked=True).filter(failed_at__isnull=True)
                     .order_by("pk").values_list("pk", "requested_by_id")[:limit])
        by_requester: dict[int | None, list[int]] = {}
        for pk, requester in taken:
            by_requester.setdefault(requester, []).append(pk)
        for ids in by_requester.values():
            pending_evaluate(pending_ids=ids, task_id=task_id)
    return len(taken)
