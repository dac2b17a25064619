"""The outbox, rules' side: a submission's evaluations wait in `PendingEvaluation` rows, written with
the submission; a worker evaluates them in one run and clears them."""
from __future__ import annotations

from django.db import transaction

from ..models import EvaluationRun, PendingEvaluation
from ..models.runs import RunKind
from .publication import affected_subjects
from .runs import run_create, run_execute_inline


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
