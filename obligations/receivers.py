"""Every finished run brings the obligations of the subjects it evaluated up to date, as of today.

A run as of a past date does not change what is owed today, and the stored states are today's. The
nightly run also brings up to date the subjects whose states change with the date though no
determination of theirs did (due -> overdue, a new quarter: `obligations.services.subjects_due`),
and leaves the others alone: their states read today as they were stored.
"""
from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction

log = logging.getLogger(__name__)


def refreshed_subjects(run: Any) -> list[str] | None:
    """The subjects a finished run appended a determination for (one it only confirmed has not
    changed), or None, every subject, for a run of the whole registry that appended determinations
    for at least half of its subjects (a first run, a rule version published). Refreshing every
    subject then costs what refreshing those would, without a list of most of the registry's
    references in each of its queries; the others' states are brought up to date as of today too."""
    from rules.models import Determination, LoggedSubject

    appended = LoggedSubject.objects.filter(id__in=Determination.objects.filter(run=run).values("subject_id"))
    if run.subjects is None and run.total and 2 * appended.count() >= run.total:
        return None
    return sorted(appended.values_list("ref", flat=True))


def refresh_after_run(*, run_id: int) -> int:
    from rules.models import EvaluationRun
    from rules.models.runs import Trigger
    from rules.services.chunks import today

    from .services import refresh_due_states, refresh_states

    run = EvaluationRun.objects.get(pk=run_id)
    refs = refreshed_subjects(run)
    nightly = run.subjects is None and run.kind == Trigger.SCHEDULE

    def refresh() -> int:
        if refs is None:
            return refresh_states(as_of=today(), run=run)
        if nightly:  # those it appended for, and those whose states change by today
            return refresh_due_states(as_of=today(), subject_refs=refs, run=run)
        return refresh_states(as_of=today(), subject_refs=refs, run=run) if refs else 0

    try:
        return refresh()
    except IntegrityError:
        # another run finishing at the same moment created one of the same states first: its rows
        # are there now, so a second pass updates them instead
        return refresh()


def refresh_states_on_run_finished(sender: Any, *, run: Any, **kwargs: Any) -> None:
    run_id = run.pk

    def refresh() -> None:
        try:
            refresh_after_run(run_id=run_id)
        except Exception:  # the run stands; the next run or the nightly one brings the states up to date
            log.exception("obligation states not refreshed after run %s", run_id)

    transaction.on_commit(refresh, robust=True)
