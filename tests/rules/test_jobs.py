"""Celery as configured for a regulator's data, and the outbox that keeps a submission's evaluation
until a worker has recorded it (on the embedded default; tests/rules/test_worker.py does the same
against a real broker and worker)."""
from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from django.db import InterfaceError, OperationalError
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import EncodeError
from kombu.exceptions import OperationalError as BrokerError

from config.celery import app as celery_app
from registry.models import Organisation
from rules import services, tasks
from rules.models import Determination, EvaluationRun, PendingEvaluation
from rules.models.runs import RunStatus, Trigger
from tests.rules.conftest import submit_registry

RULES_TASKS = [tasks.evaluate_pending, tasks.evaluate_outbox, tasks.run_chunk, tasks.run_start, tasks.reevaluate_registry, tasks.pending_sweep,
              tasks.rebuild_log_indexes]


def test_celery_speaks_json_only_and_acknowledges_late():
    conf = celery_app.conf
    assert (conf.task_serializer, conf.result_serializer, list(conf.accept_content)) == ("json", "json", ["json"])
    assert conf.task_acks_late is True and conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit
    # a message is handed out again only after the longest a task may run
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit
    assert conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"


@pytest.mark.parametrize("task", RULES_TASKS, ids=lambda t: t.name)
def test_every_task_retries_with_backoff_on_database_and_broker_errors(task):
    assert {OperationalError, InterfaceError, BrokerError} <= set(task.autoretry_for)
    assert task.retry_backoff and task.retry_backoff_max and task.retry_jitter
    assert task.max_retries >= 5
    assert task.acks_late is True and task.reject_on_worker_lost is True


def test_a_non_json_argument_is_refused_when_sent():
    with pytest.raises(EncodeError):
        tasks.run_chunk.apply_async(args=[object(), 1], serializer=celery_app.conf.task_serializer)


@pytest.mark.django_db
def test_a_transient_database_error_is_retried_and_a_logic_error_is_not(monkeypatch, eager_celery):
    calls = []

    def flaky(*, chunk_id, task_id=""):
        calls.append(chunk_id)
        if len(calls) < 3:
            raise OperationalError("server closed the connection unexpectedly")
        return True

    monkeypatch.setattr(services, "chunk_execute", flaky)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", False)  # each retry runs in place
    monkeypatch.setattr(services, "run_finish_if_complete", lambda *, run_id: True)
    assert tasks.run_chunk.apply(args=[7, 1], throw=False).get() is True
    assert calls == [7, 7, 7]

    def broken(*, chunk_id, task_id=""):
        calls.append(chunk_id)
        raise ValueError("not a transient error")

    calls.clear()
    monkeypatch.setattr(services, "chunk_execute", broken)
    with pytest.raises(ValueError):
        tasks.run_chunk.apply(args=[7, 1], throw=False).get()
    assert calls == [7]


@pytest.mark.django_db
def test_a_submission_is_evaluated_only_after_it_commits(django_capture_on_commit_callbacks, eager_celery):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        refs = submit_registry(models=2)
    assert len(callbacks) == 1
    assert set(PendingEvaluation.objects.values_list("subject_ref", flat=True)) == set(refs)
    assert not Determination.objects.exists()
    callbacks[0]()
    assert not PendingEvaluation.objects.exists()
    run = EvaluationRun.objects.get(kind=Trigger.SUBMISSION)
    assert run.status == RunStatus.FINISHED and run.total == 3
    assert Determination.objects.filter(run=run, trigger="submission").count() == 3 * 6


@pytest.fixture
def broker_down(monkeypatch):
    """Celery sends to a Redis port where nothing listens: a real refused connection."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    monkeypatch.setitem(celery_app.conf, "broker_url", f"redis://127.0.0.1:{port}/0")
    monkeypatch.setattr(celery_app, "_pool", None)
    monkeypatch.setattr(celery_app.amqp, "_producer_pool", None)


@pytest.mark.django_db
def test_a_submission_while_the_broker_is_down_is_kept_and_swept_later(
    broker_down, django_capture_on_commit_callbacks, monkeypatch
):
    with django_capture_on_commit_callbacks(execute=True):
        refs = submit_registry(models=2)
    assert Organisation.objects.filter(slug="org-0").exists()  # the submission stands
    outbox = list(PendingEvaluation.objects.all())
    assert {row.subject_ref for row in outbox} == set(refs)
    assert all(row.enqueued_at is None for row in outbox)
    assert tasks.pending_sweep(min_age_seconds=0) == 3  # still down: kept, attempts counted
    assert set(PendingEvaluation.objects.values_list("attempts", flat=True)) == {1}
    assert not Determination.objects.exists()

    monkeypatch.undo()  # the broker is back (here: eager, in this process)
    saved = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        assert tasks.pending_sweep(min_age_seconds=0) == 3
    finally:
        celery_app.conf.task_always_eager = saved
    assert not PendingEvaluation.objects.exists()
    assert {d.subject_ref for d in Determination.objects.all()} == set(refs)


@pytest.mark.django_db
def test_the_sweep_resends_only_rows_never_sent_or_sent_long_ago(monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.evaluate_pending, "apply_async", lambda args, **kw: sent.append(sorted(args[0])))
    now = timezone.now()
    never = PendingEvaluation.objects.create(subject_ref="model:a/never@1")
    lost = PendingEvaluation.objects.create(subject_ref="model:a/lost@1")
    recent = PendingEvaluation.objects.create(subject_ref="model:a/recent@1")
    young = PendingEvaluation.objects.create(subject_ref="model:a/young@1")
    PendingEvaluation.objects.filter(pk__in=[never.pk, lost.pk, recent.pk]).update(created_at=now - timedelta(hours=1))
    PendingEvaluation.objects.filter(pk=lost.pk).update(enqueued_at=now - tasks.OUTBOX_STALE_AFTER - timedelta(seconds=1))
    PendingEvaluation.objects.filter(pk=recent.pk).update(enqueued_at=now - timedelta(seconds=10))
    assert tasks.pending_sweep(min_age_seconds=5) == 2
    assert sent == [sorted([never.pk, lost.pk])]
    assert PendingEvaluation.objects.get(pk=lost.pk).attempts == 1
    assert PendingEvaluation.objects.get(pk=young.pk).enqueued_at is None  # its own on_commit send is due


@pytest.mark.django_db
def test_an_admin_edit_is_evaluated_for_the_regulator_who_made_it(
    admin_client_logged_in, regulator, django_capture_on_commit_callbacks, eager_celery
):
    submit_registry(models=1)
    PendingEvaluation.objects.all().delete()
    org = Organisation.objects.get(slug="org-0")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_logged_in.post(reverse("admin:registry_organisation_change", args=[org.pk]), {
            "slug": "org-0", "name": "Org 0", "country": "US", "annual_revenue_usd": "4e8", "revenue_year": "2025",
            "source": "", "revisions-TOTAL_FORMS": "1", "revisions-INITIAL_FORMS": "1",
            "revisions-MIN_NUM_FORMS": "0", "revisions-MAX_NUM_FORMS": "1000",
            "revisions-0-id": str(org.revisions.get().pk), "revisions-0-organisation": str(org.pk),
        })
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not PendingEvaluation.objects.exists()
    rows = Determination.objects.filter(subject_ref="organisation:org-0")
    assert rows.count() == 6 and {(r.requested_by, r.trigger, r.facts_revision) for r in rows} == {(regulator, "submission", 2)}
    assert rows.get(regime="us-ca-sb53").facts.data()["organisation"]["annual_revenue_usd"] == 4e8


@pytest.mark.django_db
def test_a_chunk_that_gives_up_marks_its_run_failed_and_the_run_can_be_started_again(monkeypatch, eager_celery):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    submit_registry(models=4)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", False)  # as in a worker: the caller goes on
    original = services.chunks.evaluate_snapshots

    def engine_bug(snapshots, **kwargs):
        raise ValueError("the engine could not evaluate this chunk")

    monkeypatch.setattr(services.chunks, "evaluate_snapshots", engine_bug)
    with pytest.raises(CommandError, match="failed: rules.tasks.run_chunk.*ValueError: the engine could not"):
        call_command("reevaluate", "--wait", "--chunk-size", "2", "--as-of", "2026-03-01")
    run = EvaluationRun.objects.get(kind=Trigger.MANUAL)
    assert (run.status, run.done, run.chunks_done) == (RunStatus.FAILED, 0, 0)
    assert not Determination.objects.filter(run=run).exists()

    monkeypatch.setattr(services.chunks, "evaluate_snapshots", original)
    tasks.run_start.delay(run.pk)
    run.refresh_from_db()
    assert (run.status, run.done, run.total) == (RunStatus.FINISHED, 5, 5)
    assert Determination.objects.filter(run=run).count() == 5 * 6


@pytest.mark.django_db
def test_the_sweep_starts_a_run_whose_start_was_never_sent(eager_celery):
    submit_registry(models=2)
    forgotten = services.run_create(kind=Trigger.PUBLICATION, as_of=timezone.now().date())
    recent = services.run_create(kind=Trigger.MANUAL, as_of=timezone.now().date())
    EvaluationRun.objects.filter(pk=forgotten.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    tasks.pending_sweep(min_age_seconds=0)
    forgotten.refresh_from_db()
    recent.refresh_from_db()
    assert (forgotten.status, forgotten.done) == (RunStatus.FINISHED, 3)
    assert (recent.status, recent.done) == (RunStatus.PENDING, 0)  # its own start may still be on its way


@pytest.mark.django_db
def test_the_sweep_sends_again_the_chunks_of_a_run_whose_messages_were_lost(eager_celery, monkeypatch):
    """A run whose first chunk was written and whose other chunks' messages were lost (a broker
    restarted without persistence): once no chunk has finished for `run_stalled_after`, the sweep
    starts it again, and each subject is evaluated once. A run still making progress, a failed run
    and a finished one are left alone."""
    submit_registry(models=4)
    as_of = timezone.now().date()
    lost = services.run_create(kind=Trigger.SCHEDULE, as_of=as_of, chunk_size=2, confirms=False)
    first = lost.chunks.order_by("index").first()
    services.chunk_execute(chunk_id=first.pk)
    failed = services.run_create(kind=Trigger.MANUAL, as_of=as_of, chunk_size=2)
    services.chunk_execute(chunk_id=failed.chunks.order_by("index").first().pk)
    services.run_fail(run_id=failed.pk, error="given up")
    finished = services.run_execute_inline(services.run_create(kind=Trigger.MANUAL, as_of=as_of))
    lost.refresh_from_db()
    assert lost.status == RunStatus.RUNNING and 0 < lost.chunks_done < lost.chunks_total
    started: list[int] = []
    real_start = tasks.run_start.apply_async
    monkeypatch.setattr(tasks.run_start, "apply_async",
                        lambda args, **kwargs: started.append(args[0]) or real_start(args=args, **kwargs))
    written = lost.chunks.get(pk=first.pk).finished_at
    now = timezone.now

    monkeypatch.setattr(timezone, "now", lambda: written + tasks.run_stalled_after() - timedelta(seconds=1))
    tasks.pending_sweep(min_age_seconds=0)
    assert started == []  # its chunks may still be queued, or about to be handed out again

    monkeypatch.setattr(timezone, "now", lambda: written + tasks.run_stalled_after() + timedelta(seconds=1))
    tasks.pending_sweep(min_age_seconds=0)
    monkeypatch.setattr(timezone, "now", now)
    assert started == [lost.pk]
    lost.refresh_from_db()
    assert (lost.status, lost.done, lost.chunks_done) == (RunStatus.FINISHED, lost.total, lost.chunks_total)
    rows = list(Determination.objects.filter(run=lost).values_list("subject_ref", "regime"))
    assert len(rows) == len(set(rows)) == lost.total * 6
    assert EvaluationRun.objects.get(pk=failed.pk).status == RunStatus.FAILED
    assert EvaluationRun.objects.get(pk=finished.pk).status == RunStatus.FINISHED


@pytest.mark.django_db
def test_reevaluate_with_the_broker_down_says_so_and_keeps_the_run(broker_down):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    submit_registry(models=2)
    with pytest.raises(CommandError, match=r"broker cannot be reached .*run \d+ is recorded"):
        call_command("reevaluate", "--as-of", "2026-03-01")
    run = EvaluationRun.objects.get(kind=Trigger.MANUAL)
    assert (run.status, run.total) == (RunStatus.PENDING, 3)
