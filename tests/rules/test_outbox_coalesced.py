"""Submissions coalesced: with a broker, a submission committed while an evaluation of the outbox is
queued asks for no other; the worker that starts it clears the flag first, then reads every row
committed before, and runs each requester's rows apart. (Each submission sending its rows in a task
of their own, and what both ways share, is in test_outbox.py; a real worker in test_worker.py.)"""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import caches

from registry.services import registry_submit
from rules import receivers, services, tasks
from rules.decision_log import verify_chain
from rules.models import Determination, EvaluationRun, PendingEvaluation
from rules.models.runs import RunStatus, Trigger
from tests.factories import ModelRecordFactory, OrganisationRecordFactory, document

REGIMES = 6


@pytest.fixture
def coalesced(settings, monkeypatch) -> list[str]:
    """Coalescing on, with a broker (not eager); each request for an evaluation of the outbox recorded."""
    from config.celery import app as celery_app

    settings.OUTBOX_COALESCED = True
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    requested: list[str] = []
    monkeypatch.setattr(tasks.evaluate_outbox, "apply_async", lambda *args, **kwargs: requested.append("the outbox"))
    return requested


def submit(name: str, *, actor=None, organisation: str = "acme") -> None:
    registry_submit(document(organisations=[OrganisationRecordFactory(slug=organisation, name=organisation.title())],
                             models=[ModelRecordFactory(organisation=organisation, name=name)]),
                    actor=actor, via="api" if actor else "import")


def queued() -> bool:
    return caches["outbox"].get(receivers.OUTBOX_EVALUATION_QUEUED) is not None


@pytest.mark.django_db
def test_submissions_committed_while_an_evaluation_of_the_outbox_is_queued_ask_for_no_other(
    coalesced, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        submit("First")
    assert coalesced == ["the outbox"] and queued()
    for name in ("Second", "Third"):
        with django_capture_on_commit_callbacks(execute=True):
            submit(name)
    assert coalesced == ["the outbox"], "one evaluation queued answers for every submission committed before it starts"
    rows = list(PendingEvaluation.objects.all())
    assert len(rows) == 4 and all(row.enqueued_at is not None for row in rows)  # the organisation, three models

    assert tasks.evaluate_outbox() == 4  # a worker starts it: the flag cleared, every row read
    assert not PendingEvaluation.objects.exists() and not queued()
    run = EvaluationRun.objects.get(kind=Trigger.SUBMISSION)
    assert run.status == RunStatus.FINISHED and run.total == 4
    refs = {"organisation:acme", "model:acme/First@1", "model:acme/Second@1", "model:acme/Third@1"}
    assert set(Determination.objects.filter(run=run).values_list("subject_ref", flat=True)) == refs
    assert Determination.objects.filter(run=run).count() == len(refs) * REGIMES and verify_chain().ok

    with django_capture_on_commit_callbacks(execute=True):
        submit("Fourth")
    assert coalesced == ["the outbox", "the outbox"], "once it started, the next submission asks again"


@pytest.mark.django_db
def test_an_evaluation_of_the_outbox_runs_each_requesters_rows_apart(coalesced, django_capture_on_commit_callbacks):
    users = get_user_model().objects
    lab_a, lab_b = users.create_user("lab-a"), users.create_user("lab-b")
    with django_capture_on_commit_callbacks(execute=True):
        submit("A-1", actor=lab_a, organisation="org-a")
        submit("B-1", actor=lab_b, organisation="org-b")
        submit("A-2", actor=lab_a, organisation="org-a")
        submit("Imported", organisation="org-c")
    assert tasks.evaluate_outbox() == 7
    runs = {run.requested_by_id: run for run in EvaluationRun.objects.filter(kind=Trigger.SUBMISSION)}
    assert set(runs) == {lab_a.pk, lab_b.pk, None}
    evaluated = {requester: set(Determination.objects.filter(run=run).values_list("subject_ref", flat=True))
                 for requester, run in runs.items()}
    assert evaluated[lab_a.pk] == {"organisation:org-a", "model:org-a/A-1@1", "model:org-a/A-2@1"}
    assert evaluated[lab_b.pk] == {"organisation:org-b", "model:org-b/B-1@1"}
    assert evaluated[None] == {"organisation:org-c", "model:org-c/Imported@1"}


@pytest.mark.django_db
def test_an_evaluation_of_the_outbox_takes_the_oldest_rows_and_asks_for_another_when_it_took_its_fill(
    coalesced, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(services, "OUTBOX_ROWS_A_TASK", 3)
    for name in ("First", "Second", "Third"):  # no commit callbacks run here: nothing asked for yet
        submit(name)
    oldest = sorted(PendingEvaluation.objects.values_list("pk", flat=True))[:3]
    assert tasks.evaluate_outbox() == 3
    assert coalesced == ["the outbox"] and queued(), "it took as many as it may: it asks for another"
    left = PendingEvaluation.objects.get()
    assert left.pk not in oldest and left.subject_ref == "model:acme/Third@1"
    assert tasks.evaluate_outbox() == 1
    assert coalesced == ["the outbox"] and not queued() and not PendingEvaluation.objects.exists()


@pytest.mark.django_db
def test_a_row_whose_evaluation_failed_is_left_to_its_error(coalesced, monkeypatch):
    submit("Broken")
    failing = PendingEvaluation.objects.get(subject_ref="model:acme/Broken@1")
    PendingEvaluation.objects.filter(pk=failing.pk).update(failed_at=failing.created_at, error="ValueError: kept")
    assert tasks.evaluate_outbox() == 1  # the organisation's row only
    assert list(PendingEvaluation.objects.values_list("pk", flat=True)) == [failing.pk]


@pytest.mark.django_db
def test_without_coalescing_or_with_eager_tasks_each_submission_sends_its_own_rows(
    settings, django_capture_on_commit_callbacks, monkeypatch
):
    from config.celery import app as celery_app

    sent: list[list[int]] = []
    monkeypatch.setattr(tasks.evaluate_pending, "apply_async", lambda args, **kwargs: sent.append(sorted(args[0])))
    monkeypatch.setattr(tasks.evaluate_outbox, "apply_async", lambda *args, **kwargs: pytest.fail("coalesced"))
    for coalesce, eager in ((False, False), (True, True)):
        settings.OUTBOX_COALESCED = coalesce
        monkeypatch.setitem(celery_app.conf, "task_always_eager", eager)
        assert receivers.outbox_coalesced() is False
        with django_capture_on_commit_callbacks(execute=True):
            submit(f"Model-{coalesce}")
    assert len(sent) == 2 and not queued()
