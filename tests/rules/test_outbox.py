"""The outbox: rows keep their record's kind and id, so a name that cannot be read back as a
reference blocks nobody; a record whose evaluation fails fails alone, its error kept on its row;
and a worker that takes the task at once finds the rows the web marked sent already unlocked."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection, connections

from registry.models import AIModel
from rules import receivers, services, tasks
from rules.decision_log import verify_chain
from rules.models import Determination, EvaluationRun, PendingEvaluation
from rules.services import pending_evaluate
from tests.rules.conftest import submit_registry

WAIT_S = 60  # a bound on waiting for another thread, so a broken test fails instead of hanging


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def evaluated_refs(run: EvaluationRun | None) -> set[str]:
    return set(Determination.objects.filter(run=run).values_list("subject_ref", flat=True))


@pytest.mark.django_db
def test_a_submission_keeps_each_records_kind_and_id_in_the_outbox():
    submit_registry(models=2, clusters=1)  # its transaction never commits here: the rows stay
    kept = {(row.subject_kind, row.record_id, row.subject_ref) for row in PendingEvaluation.objects.all()}
    model = AIModel.objects.get(name="Model-1")
    assert ("model", model.pk, model.subject_ref) in kept
    assert {kind for kind, _, _ in kept} == {"model", "cluster", "organisation"} and len(kept) == 4


@pytest.mark.django_db
def test_a_name_that_cannot_be_read_as_a_reference_does_not_block_the_rest_of_the_outbox():
    submit_registry(models=3)
    AIModel.objects.filter(name="Model-1").update(name="Model/1@x")  # refused today; stored before it was
    ids = list(PendingEvaluation.objects.values_list("pk", flat=True))
    run = pending_evaluate(pending_ids=ids)
    assert not PendingEvaluation.objects.exists()
    assert {"model:org-0/Model-0@1", "model:org-0/Model-2@1", "organisation:org-0"} <= evaluated_refs(run)
    assert verify_chain().ok


@pytest.mark.django_db
def test_a_record_that_cannot_be_evaluated_fails_alone_and_keeps_its_error(monkeypatch):
    submit_registry(models=3)
    evaluate = services.chunks.evaluate_snapshots

    def engine_fails_on_model_1(snapshots, **kwargs):
        snapshots = list(snapshots)
        if any(item.key.name == "Model-1" for item in snapshots):
            raise ValueError("the facts of Model-1 cannot be evaluated")
        return evaluate(snapshots, **kwargs)

    monkeypatch.setattr(services.chunks, "evaluate_snapshots", engine_fails_on_model_1)
    pending_evaluate(pending_ids=list(PendingEvaluation.objects.values_list("pk", flat=True)))
    failed = PendingEvaluation.objects.get()
    assert failed.subject_ref == "model:org-0/Model-1@1" and failed.failed_at is not None
    assert failed.error == "ValueError: the facts of Model-1 cannot be evaluated"
    refs = set(Determination.objects.values_list("subject_ref", flat=True))
    assert {"model:org-0/Model-0@1", "model:org-0/Model-2@1", "organisation:org-0"} <= refs
    assert "model:org-0/Model-1@1" not in refs and verify_chain().ok
    sent = []
    monkeypatch.setattr(tasks.evaluate_pending, "apply_async", lambda args, **kwargs: sent.append(args))
    assert tasks.pending_sweep(min_age_seconds=0) == 0 and not sent  # the sweep leaves it alone
    assert pending_evaluate(pending_ids=[failed.pk]) is None  # and so does a task still in the queue


LOCK_KEY = 170012  # the advisory lock the outbox's update waits on in the test below


@pytest.mark.django_db(transaction=True)
def test_a_worker_taking_the_task_at_once_is_not_kept_from_the_rows_by_the_mark_that_they_were_sent(monkeypatch):
    """The interleaving of issue 17.12, forced: the web's update of `enqueued_at` is held, its row
    locks taken, until the worker has read the outbox. The worker must find the rows and evaluate them."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks and advisory locks of PostgreSQL")
    sent: list[list[int]] = []
    monkeypatch.setattr(tasks.evaluate_pending, "apply_async", lambda args, **kwargs: sent.append(args))
    submit_registry(models=1)
    ids = list(PendingEvaluation.objects.values_list("pk", flat=True))
    PendingEvaluation.objects.update(enqueued_at=None)
    table = connection.ops.quote_name(PendingEvaluation._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute("CREATE FUNCTION outbox_update_waits() RETURNS trigger AS $$ BEGIN "
                       f"PERFORM pg_advisory_xact_lock_shared({LOCK_KEY}); RETURN NEW; END $$ LANGUAGE plpgsql")
        cursor.execute(f"CREATE TRIGGER outbox_update_waits AFTER UPDATE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION outbox_update_waits()")
    holder = connections.create_connection("default")
    worker_started, web_done, results = threading.Event(), threading.Event(), []

    def web_blocked() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND wait_event_type = 'Lock' AND wait_event = 'advisory'")
            return cursor.fetchone()[0] > 0

    def worker(pending_ids: list[int]) -> None:
        try:
            wait_until(lambda: web_blocked() or web_done.is_set(), "the web to update the outbox")
            results.append(pending_evaluate(pending_ids=pending_ids))
        finally:
            connection.close()

    def send(args: list[list[int]], **kwargs: object) -> None:  # the broker and a worker taking the task at once
        worker_started.set()
        threads.append(threading.Thread(target=worker, args=args))
        threads[-1].start()

    def web() -> None:
        try:
            receivers.enqueue_pending(ids)
        finally:
            connection.close()
            web_done.set()

    threads: list[threading.Thread] = []
    monkeypatch.setattr(tasks.evaluate_pending, "apply_async", send)
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        web_thread = threading.Thread(target=web)
        web_thread.start()
        wait_until(web_blocked, "the web's update to hold the outbox rows")
        if worker_started.is_set():  # the task was sent before the rows were marked: the worker reads now
            threads[0].join(WAIT_S)
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
        web_thread.join(WAIT_S)
        wait_until(lambda: bool(threads) and not threads[0].is_alive(), "the worker to finish")
    finally:
        holder.close()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER IF EXISTS outbox_update_waits ON {table}")
            cursor.execute("DROP FUNCTION IF EXISTS outbox_update_waits()")
    assert results and results[0] is not None, "the worker found no outbox row to evaluate"
    assert not PendingEvaluation.objects.filter(pk__in=ids).exists()
    assert "model:org-0/Model-0@1" in evaluated_refs(results[0])


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_waiting_rows_their_record_and_marks_a_row_naming_none_failed():
    from django.db.migrations.executor import MigrationExecutor

    submit_registry(models=1)
    model = AIModel.objects.get()
    PendingEvaluation.objects.all().delete()
    before, after = [("rules", "0006_decision_log_no_facts_index")], [("rules", "0007_outbox_record_ids")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("rules", "PendingEvaluation")
    old.objects.create(subject_ref=model.subject_ref)
    old.objects.create(subject_ref="model:org-0/Model/1@x@1")
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    rows = {row.subject_ref: row for row in PendingEvaluation.objects.all()}
    # back to the latest schema, so the tests after this one see every later migration's columns
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert (rows[model.subject_ref].subject_kind, rows[model.subject_ref].record_id) == ("model", model.pk)
    assert rows[model.subject_ref].failed_at is None
    unreadable = rows["model:org-0/Model/1@x@1"]
    assert unreadable.record_id is None and unreadable.failed_at is not None and "names no record" in unreadable.error


class Sending:
    """How a submission's rows reach a worker once it has committed, the broker's send recorded (or
    refused): in a task of their own (`evaluate_pending`, its rows' ids), or coalesced, by asking
    for an evaluation of the outbox (`evaluate_outbox`) unless one is queued."""

    def __init__(self, coalesced: bool, monkeypatch: pytest.MonkeyPatch) -> None:
        self.coalesced, self.monkeypatch, self.sent = coalesced, monkeypatch, []
        self.task = tasks.evaluate_outbox if coalesced else tasks.evaluate_pending
        monkeypatch.setattr(self.task, "apply_async",
                            lambda args=None, **kwargs: self.sent.append(sorted(args[0]) if args else "the outbox"))

    def of(self, ids: list[int]) -> list[object]:
        """What the send of these rows carries."""
        return ["the outbox"] if self.coalesced else [sorted(ids)]

    def refuse(self) -> None:
        def refuse(*args: object, **kwargs: object) -> None:
            raise ConnectionRefusedError("the broker is down")

        self.monkeypatch.setattr(self.task, "apply_async", refuse)


@pytest.fixture(params=["a task of its own", "coalesced"])
def sending(request, settings, monkeypatch) -> Sending:
    from config.celery import app as celery_app

    settings.OUTBOX_COALESCED = request.param == "coalesced"
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    return Sending(settings.OUTBOX_COALESCED, monkeypatch)


@pytest.mark.django_db
def test_a_submission_marks_its_outbox_rows_sent_in_its_own_transaction_and_writes_nothing_after_it(
    django_capture_on_commit_callbacks, sending
):
    from django.test.utils import CaptureQueriesContext

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        submit_registry(models=2)
    rows = list(PendingEvaluation.objects.all())
    assert len(rows) == 3 and all(row.enqueued_at is not None for row in rows)
    with CaptureQueriesContext(connection) as queries:
        for callback in callbacks:
            callback()
    assert sending.sent == sending.of([row.pk for row in rows])
    assert not queries.captured_queries, [query["sql"] for query in queries.captured_queries]


@pytest.mark.django_db
def test_rows_committed_but_never_sent_are_sent_by_the_sweep_once_their_mark_is_stale(
    django_capture_on_commit_callbacks, monkeypatch
):
    """The process stopped between the submission's commit and its send: the rows are marked sent,
    so the sweep treats them as a lost message, neither sooner nor later."""
    from datetime import timedelta

    from django.utils import timezone

    sent: list[list[int]] = []
    monkeypatch.setattr(tasks.evaluate_pending, "apply_async", lambda args, **kwargs: sent.append(sorted(args[0])))
    with django_capture_on_commit_callbacks(execute=False):
        submit_registry(models=1)
    ids = sorted(PendingEvaluation.objects.values_list("pk", flat=True))
    marked = PendingEvaluation.objects.values_list("enqueued_at", flat=True).first()
    assert tasks.pending_sweep(min_age_seconds=0) == 0 and not sent

    later = marked + tasks.OUTBOX_STALE_AFTER + timedelta(seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert tasks.pending_sweep(min_age_seconds=0) == len(ids)
    assert sent == [ids]
    assert set(PendingEvaluation.objects.values_list("attempts", flat=True)) == {1}


@pytest.mark.django_db
@pytest.mark.parametrize("down", ["the broker", "the flag's Redis"])
def test_a_submission_refused_by_the_broker_leaves_its_rows_for_the_sweep_at_once(
    django_capture_on_commit_callbacks, monkeypatch, sending, down
):
    from django.core.cache import caches

    if down == "the broker":
        sending.refuse()
    elif sending.coalesced:
        def unreachable(*args: object, **kwargs: object) -> bool:
            raise ConnectionRefusedError("Redis is down")

        monkeypatch.setattr(caches["outbox"], "add", unreachable)
    else:
        pytest.skip("a submission sending its rows in a task of their own sets no flag")
    with django_capture_on_commit_callbacks(execute=True):
        submit_registry(models=1)
    assert set(PendingEvaluation.objects.values_list("enqueued_at", flat=True)) == {None}
    # no flag left saying that an evaluation of the outbox is queued: the next submission asks again
    assert caches["outbox"].get(receivers.OUTBOX_EVALUATION_QUEUED) is None
    sent: list[list[int]] = []
    monkeypatch.setattr(tasks.evaluate_pending, "apply_async", lambda args, **kwargs: sent.append(sorted(args[0])))
    assert tasks.pending_sweep(min_age_seconds=0) == 2 and len(sent[0]) == 2


@pytest.mark.django_db
def test_rows_marked_long_before_their_commit_are_marked_again_when_sent(
    django_capture_on_commit_callbacks, monkeypatch, sending
):
    """A large import's transaction can outlast the sweep's patience: its rows, marked when written,
    are marked again as they are sent, so the sweep does not send them a second time at once."""
    from django.utils import timezone

    sweeps: list[list[int]] = []
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        submit_registry(models=1)
    marked = PendingEvaluation.objects.values_list("enqueued_at", flat=True).first()
    committed = marked + tasks.OUTBOX_STALE_AFTER + timedelta(seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: committed)
    for callback in callbacks:
        callback()
    assert len(sending.sent) == 1
    assert set(PendingEvaluation.objects.values_list("enqueued_at", flat=True)) == {committed}
    monkeypatch.setattr(tasks.evaluate_pending, "apply_async", lambda args, **kwargs: sweeps.append(args))
    assert tasks.pending_sweep(min_age_seconds=0) == 0 and not sweeps
