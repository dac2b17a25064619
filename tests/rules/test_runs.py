"""Evaluation runs: chunks written once each, progress, the status changes a run finds, the
nightly schedule, and a bounded number of queries per chunk."""
from __future__ import annotations

import importlib
import io
import math
import pickle
from datetime import date

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.services import registry_submit
from rules import decision_log, services
from rules.decision_log import verify_chain
from rules.instrumentation import Span, observing
from rules.library_store import draft_create, published_library
from rules.models import Determination, EvaluationRun, LogHead, PendingEvaluation, RunChunk, StatusChange
from rules.models.runs import RunStatus, Trigger
from rules.services import (
    chunk_execute,
    pending_evaluate,
    rule_version_publish,
    run_create,
    run_execute_inline,
    run_finish_if_complete,
)
from rules.services.changes import PreviousRow
from rules.services.pipeline import chunk_read_ahead
from rules.tasks import reevaluate_registry
from tests.factories import ModelRecordFactory, OrganisationRecordFactory, document
from tests.rules.conftest import submit_registry

pytestmark = pytest.mark.django_db

REGIMES = 6  # every regime of the published library
AS_OF = date(2026, 3, 1)
beat_schedule = importlib.import_module("rules.migrations.0003_beat_schedule")
sweep_renamed = importlib.import_module("rules.migrations.0030_sweep_schedule_named_for_what_it_does")


def per_subject_and_regime(run: EvaluationRun) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for ref, regime in Determination.objects.filter(run=run).values_list("subject_ref", "regime"):
        counts[ref, regime] = counts.get((ref, regime), 0) + 1
    return counts


def chunk_ids(run: EvaluationRun) -> list[int]:
    return list(run.chunks.order_by("index").values_list("pk", flat=True))


@pytest.fixture
def registry():
    """8 models and 2 clusters over 2 organisations: 12 subjects."""
    return submit_registry(models=8, clusters=2, organisations=2)


def test_a_run_writes_one_determination_per_subject_and_regime(registry):
    run = run_create(kind=Trigger.MANUAL, as_of=AS_OF, chunk_size=5)
    # 8 models and 2 clusters in two chunks of 5; each organisation weighs 1 + its 4 models: a chunk each
    assert (run.total, run.chunks_total, run.status) == (12, 4, RunStatus.PENDING)
    assert [sum(len(ids) for ids in c.subjects.values()) for c in run.chunks.order_by("index")] == [5, 5, 1, 1]
    run = run_execute_inline(run)
    counts = per_subject_and_regime(run)
    assert set(counts) == {(ref, regime) for ref in registry for regime in counts_regimes(counts)}
    assert len(counts) == 12 * REGIMES and set(counts.values()) == {1}
    assert (run.status, run.done, run.total, run.chunks_done, run.progress_percent) == (RunStatus.FINISHED, 12, 12, 4, 100.0)
    assert run.started_at <= run.finished_at


def test_an_organisation_weighs_one_plus_its_models_in_a_chunk(registry):
    """An organisation's snapshot holds all its models: a chunk is bounded in the facts it holds."""
    run = run_create(kind=Trigger.MANUAL, as_of=AS_OF, chunk_size=10)
    organisations = [c.subjects.get("organisation", []) for c in run.chunks.order_by("index")]
    assert [len(ids) for ids in organisations] == [0, 2]  # 10 models and clusters, then 5 + 5
    run = run_create(kind=Trigger.MANUAL, as_of=AS_OF, chunk_size=500)
    assert run.chunks_total == 1  # small registries stay in one chunk


def counts_regimes(counts):
    return {regime for _, regime in counts}


def test_progress_counts_the_chunks_done(registry):
    run = run_create(kind=Trigger.MANUAL, as_of=AS_OF, chunk_size=5)
    first, second, third, fourth = chunk_ids(run)
    chunk_execute(chunk_id=first)
    assert not run_finish_if_complete(run_id=run.pk)
    run.refresh_from_db()
    assert (run.status, run.done, run.chunks_done, run.progress_percent) == (RunStatus.RUNNING, 5, 1, 41.7)
    chunk_execute(chunk_id=fourth)
    chunk_execute(chunk_id=third)
    assert not run_finish_if_complete(run_id=run.pk)
    chunk_execute(chunk_id=second)
    assert run_finish_if_complete(run_id=run.pk)
    assert not run_finish_if_complete(run_id=run.pk)  # only one caller finishes it
    run.refresh_from_db()
    assert (run.status, run.done, run.chunks_done) == (RunStatus.FINISHED, 12, 4)


def test_a_chunk_run_twice_writes_once(registry):
    run = run_create(kind=Trigger.MANUAL, as_of=AS_OF, chunk_size=5)
    first = chunk_ids(run)[0]
    assert chunk_execute(chunk_id=first, task_id="task-1")
    head = LogHead.objects.get()
    assert not chunk_execute(chunk_id=first, task_id="task-1-redelivered")
    assert LogHead.objects.get().sequence == head.sequence == 5 * REGIMES
    assert not Determination.objects.filter(task_id="task-1-redelivered").exists()
    run = run_execute_inline(run)
    counts = per_subject_and_regime(run)
    assert len(counts) == 12 * REGIMES and set(counts.values()) == {1}
    assert run.done == 12 and run.chunks_done == 4


def test_a_chunk_whose_transaction_was_lost_is_simply_redone(registry, monkeypatch):
    """A worker dying mid-chunk leaves nothing of it: the redelivered task does all of it once."""
    run = run_create(kind=Trigger.MANUAL, as_of=AS_OF, chunk_size=5)
    first = chunk_ids(run)[0]

    def crash(*args, **kwargs):
        raise RuntimeError("worker lost after writing the chunk's determinations")

    with monkeypatch.context() as patch:
        patch.setattr(services.chunks, "record_changes", crash)
        with pytest.raises(RuntimeError):
            chunk_execute(chunk_id=first)
    assert Determination.objects.count() == 0 and not LogHead.objects.filter(sequence__gt=0).exists()
    assert not RunChunk.objects.get(pk=first).done
    run = run_execute_inline(run)
    counts = per_subject_and_regime(run)
    assert len(counts) == 12 * REGIMES and set(counts.values()) == {1}
    assert (run.status, run.done) == (RunStatus.FINISHED, 12)
    assert [r.sequence for r in Determination.objects.all()] == list(range(1, 12 * REGIMES + 1))


def lowered_eu_draft(*, version_id: str = "2026-12-01"):
    """The EU AI Act's rule file with the systemic-risk presumption at 1e24 instead of 1e25."""
    from django.conf import settings

    text = (settings.REGISTRY_RULE_LIBRARY / "eu-ai-act" / "2025-08-02.yaml").read_text(encoding="utf-8")
    replaced = (
        text.replace('id: "2025-08-02"', f'id: "{version_id}"', 1)
        .replace("effective_from: 2025-08-02", f"effective_from: {version_id}", 1)
        .replace("  systemic_risk_compute:\n    value: 1.0e+25", "  systemic_risk_compute:\n    value: 1.0e+24", 1)
    )
    assert replaced.count("1.0e+24") == 1 and f'id: "{version_id}"' in replaced
    return draft_create(content=replaced, origin="tests: systemic risk at 1e24")


def test_publishing_a_lower_threshold_records_who_changed_and_which_test_flipped(regulator):
    """Models generating no language, so only the systemic-risk presumption can make them covered."""
    refs = submit_registry(models=3, training_compute_ops=5e24, modalities=["protein-structure"])
    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="org-0", name="Org 0")],
        models=[ModelRecordFactory(organisation="org-0", name="Small", training_compute_ops=5e23,
                                   modalities=["protein-structure"])],
    ), via="import")
    run_execute_inline(run_create(kind=Trigger.MANUAL, regimes=["eu-ai-act"]))
    assert set(Determination.objects.filter(subject_kind="model").values_list("status", flat=True)) == {"not_covered"}

    draft = lowered_eu_draft()
    run = rule_version_publish(version=draft, actor=regulator)
    assert (run.kind, run.rule_version, run.regimes, run.requested_by) == (Trigger.PUBLICATION, draft, ["eu-ai-act"], regulator)
    assert run.as_of >= date(2026, 12, 1)
    run = run_execute_inline(run)

    changes = list(StatusChange.objects.filter(run=run).order_by("subject_ref"))
    assert run.changes_count == 3 == len(changes)
    assert [c.subject_ref for c in changes] == sorted(r for r in refs if r.startswith("model:"))
    for change in changes:
        assert (change.regime, change.from_status, change.to_status) == ("eu-ai-act", "not_covered", "covered")
        assert change.flipped_tests == [{"id": "systemic-risk-presumption", "from": "not_met", "to": "met"}]
        assert change.from_rule_version.startswith("eu-ai-act@2025-08-02 ")
        assert change.to_rule_version.startswith("eu-ai-act@2026-12-01 ")
        assert change.to_determination.run == run and change.to_determination.rule_version == draft
        assert change.from_determination.sequence < change.to_determination.sequence
    small = Determination.objects.get(run=run, subject_ref="model:org-0/Small@1")
    assert small.status == "not_covered" and small.rule_version == draft


def test_the_nightly_run_reports_changes_since_the_previous_nightly_run(eager_celery):
    submit_registry(models=3)
    reevaluate_registry.delay()
    first = EvaluationRun.objects.get(kind=Trigger.SCHEDULE)
    assert (first.status, first.changes_count, first.done) == (RunStatus.FINISHED, 0, first.total)

    # a model revised during the day to 2e26: its submission is evaluated, then the next nightly run
    # still reports it, against the nightly run before
    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="org-0", name="Org 0")],
        models=[ModelRecordFactory(organisation="org-0", name="Model-1", training_compute_ops=2e26)],
    ), via="import")
    pending_evaluate(pending_ids=list(PendingEvaluation.objects.values_list("pk", flat=True)))
    assert not PendingEvaluation.objects.exists()
    submission = EvaluationRun.objects.get(kind=Trigger.SUBMISSION)
    assert submission.changes_count > 0

    reevaluate_registry.delay()
    second = EvaluationRun.objects.filter(kind=Trigger.SCHEDULE).latest("id")
    assert second.previous_run == first and second.status == RunStatus.FINISHED
    changes = {(c.subject_ref, c.regime): c for c in StatusChange.objects.filter(run=second)}
    sb53 = changes["model:org-0/Model-1@1", "us-ca-sb53"]
    assert (sb53.from_status, sb53.to_status) == ("not_covered", "covered")
    assert {"id": "frontier-model", "from": "not_met", "to": "met"} in sb53.flipped_tests
    assert sb53.from_determination.run == first
    assert {ref for ref, _ in changes} <= {"model:org-0/Model-1@1", "organisation:org-0"}
    assert second.changes_count == len(changes)

    reevaluate_registry.delay()
    third = EvaluationRun.objects.filter(kind=Trigger.SCHEDULE).latest("id")
    assert third.previous_run == second and third.changes_count == 0


def test_the_log_as_the_previous_nightly_run_left_it_reads_again_only_what_came_since():
    """A nightly run compares with the log as the previous nightly run left it. Of the current
    determinations, those appended since are read again as of then; the others were current then
    too. What it finds is what reading every key as of then finds, on both databases."""
    refs = submit_registry(models=4, clusters=1)
    nightly = run_execute_inline(run_create(kind=Trigger.SCHEDULE, as_of=AS_OF))
    registry_submit(document(  # revised during the day, evaluated at once
        organisations=[OrganisationRecordFactory(slug="org-0", name="Org 0")],
        models=[ModelRecordFactory(organisation="org-0", name="Model-1", training_compute_ops=2e26)],
    ), via="import")
    run_execute_inline(run_create(kind=Trigger.SUBMISSION, as_of=AS_OF, subjects=["model:org-0/Model-1@1"]))
    added = {"model:org-0/Model-9@1"}  # and a model added: nothing of it was current last night
    registry_submit(document(organisations=[OrganisationRecordFactory(slug="org-0", name="Org 0")],
                             models=[ModelRecordFactory(organisation="org-0", name="Model-9")]), via="import")
    run_execute_inline(run_create(kind=Trigger.SUBMISSION, as_of=AS_OF, subjects=sorted(added)))
    run = run_create(kind=Trigger.SCHEDULE, as_of=AS_OF)
    assert run.previous_run == nightly
    keys = {(ref, regime) for ref in [*refs, *added] for regime in published_library().regimes()}
    previous = services.previous_determinations(keys, run=run)
    every_key = services.changes._previous_determinations(keys, exclude_run=run, as_left_by=True)
    assert previous.compared == every_key
    since = {key for key, row in previous.rows.items() if row.sequence > nightly.log_sequence}
    assert {ref for ref, _ in since} == {"model:org-0/Model-1@1", *added}
    assert all(previous.compared[key].run_id == nightly.pk for key in since if key[0] not in added)
    assert not any(key[0] in added for key in previous.compared)
    assert all(previous.compared[key] == previous.rows[key] for key in previous.rows.keys() - since)


def test_a_chunk_read_by_a_reader_reaches_the_writer_as_it_was_read():
    """A reader sends its chunk to the writer pickled, its rows as plain tuples (`ChunkWork.__reduce__`).
    What arrives equals what was read, each row of its own named type again, and a row the nightly
    run compares with that is the current row itself arrives as that one row, not a copy."""
    submit_registry(models=4, clusters=1)
    run_execute_inline(run_create(kind=Trigger.SCHEDULE, as_of=AS_OF))
    registry_submit(document(  # revised during the day, evaluated at once: it compares with last night's row
        organisations=[OrganisationRecordFactory(slug="org-0", name="Org 0")],
        models=[ModelRecordFactory(organisation="org-0", name="Model-1", training_compute_ops=2e26)],
    ), via="import")
    run_execute_inline(run_create(kind=Trigger.SUBMISSION, as_of=AS_OF, subjects=["model:org-0/Model-1@1"]))
    run = run_create(kind=Trigger.SCHEDULE, as_of=AS_OF)
    with observing(lambda span: None), CaptureQueriesContext(connection) as queries:  # timed, as the benchmark does
        work = chunk_read_ahead(RunChunk.objects.get(run=run, subjects__has_key="model").pk)  # as a reader does
    # the run, and the nightly run before it whose log it compares with, are read with the chunk
    assert not [q["sql"] for q in queries.captured_queries if 'WHERE "rules_evaluationrun"."id" = ' in q["sql"]]
    previous = work.previous
    assert work.reused and work.spans and previous.compared is not None
    same = {key for key, row in previous.compared.items() if row is previous.rows.get(key)}
    assert same and same != previous.compared.keys()  # some compared rows are the current ones, some are not

    sent = pickle.loads(pickle.dumps(work, protocol=pickle.HIGHEST_PROTOCOL))

    assert (sent.chunk_id, sent.run.pk, sent.subjects, sent.reused) == (work.chunk_id, run.pk, work.subjects, work.reused)
    assert sent.prepared == work.prepared and sent.spans == work.spans
    assert (sent.previous.rows, sent.previous.since, sent.previous.compared) == (
        previous.rows, previous.since, previous.compared)
    assert {type(item) for item in sent.prepared.items} == {decision_log._Prepared}
    assert {type(row) for row in [*sent.previous.rows.values(), *sent.previous.compared.values()]} == {PreviousRow}
    assert {type(span) for span in sent.spans} == {Span}
    assert {key for key, row in sent.previous.compared.items() if row is sent.previous.rows.get(key)} == same
    assert sent.prepared.items[0].payload_sha256 == work.prepared.items[0].payload_sha256


def test_the_nightly_schedule_exists_once_after_migrate():
    from django_celery_beat.models import PeriodicTask

    nightly = PeriodicTask.objects.get(name=beat_schedule.NIGHTLY)
    assert nightly.task == "rules.tasks.reevaluate_registry" and nightly.enabled
    assert (nightly.crontab.minute, nightly.crontab.hour) == ("30", "2") and nightly.interval is None
    sweep = PeriodicTask.objects.get(name=sweep_renamed.SWEEP)
    assert sweep.task == "rules.tasks.pending_sweep" and sweep.interval.every == 1
    assert not PeriodicTask.objects.filter(name=beat_schedule.SWEEP).exists()
    for _ in range(2):  # the migrations' functions run again change nothing
        beat_schedule.create_schedule(apps, None)
    assert PeriodicTask.objects.filter(task="rules.tasks.reevaluate_registry").count() == 1
    assert PeriodicTask.objects.filter(name=beat_schedule.SWEEP).count() == 1  # as 0003 left it: renamed by 0030
    PeriodicTask.objects.filter(name=sweep_renamed.SWEEP).delete()
    for _ in range(2):
        sweep_renamed.forwards(apps, None)
    assert list(PeriodicTask.objects.filter(task="rules.tasks.pending_sweep").values_list("name", flat=True)) == [
        sweep_renamed.SWEEP]


def test_the_sweep_keeps_a_name_an_operator_gave_it_and_its_old_name_back_when_migrated_backwards():
    from django_celery_beat.models import PeriodicTask

    sweep = PeriodicTask.objects.get(task="rules.tasks.pending_sweep")
    sweep_renamed.backwards(apps, None)
    sweep.refresh_from_db()
    assert sweep.name == beat_schedule.SWEEP
    sweep_renamed.forwards(apps, None)
    sweep.refresh_from_db()
    assert sweep.name == sweep_renamed.SWEEP
    PeriodicTask.objects.filter(pk=sweep.pk).update(name="Sweep (every minute, on call)", enabled=False)
    sweep_renamed.backwards(apps, None)
    sweep_renamed.forwards(apps, None)
    sweep.refresh_from_db()
    assert (sweep.name, sweep.enabled) == ("Sweep (every minute, on call)", False)


def test_reevaluate_wait_shows_progress_and_the_final_counts(registry, eager_celery):
    out, err = io.StringIO(), io.StringIO()
    call_command("reevaluate", "--wait", "--chunk-size", "4", "--as-of", "2026-03-01", stdout=out, stderr=err)
    run = EvaluationRun.objects.get(kind=Trigger.MANUAL)
    assert f"Run {run.pk}: 12 subject(s) in 4 chunk(s), as of 2026-03-01" in out.getvalue()
    assert f"Run {run.pk} finished: 12/12 subject(s), 0 status change(s)" in out.getvalue()
    assert "12/12" in err.getvalue() and "100%" in err.getvalue()
    assert len(per_subject_and_regime(run)) == 12 * REGIMES


@pytest.mark.django_db(transaction=True)
def test_reevaluate_in_process_writes_the_run_here_with_a_progress_bar(registry):
    """No worker: the chunks are read and evaluated by reader processes forked from the command (on
    PostgreSQL) and written by it, each one counted on the progress bar as it commits."""
    out, err = io.StringIO(), io.StringIO()
    call_command("reevaluate", "--in-process", "--readers", "2", "--chunk-size", "4", "--as-of", "2026-03-01",
                 stdout=out, stderr=err)
    run = EvaluationRun.objects.get(kind=Trigger.MANUAL)
    assert (run.status, run.done, run.chunks_done) == (RunStatus.FINISHED, 12, run.chunks_total)
    assert f"Run {run.pk} finished: 12/12 subject(s), 0 status change(s)" in out.getvalue()
    assert "12/12" in err.getvalue() and "100%" in err.getvalue()
    assert len(per_subject_and_regime(run)) == 12 * REGIMES
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_reevaluate_in_process_that_fails_says_so_and_marks_the_run_failed(registry, monkeypatch):
    from django.core.management.base import CommandError

    read = services.chunks.chunk_read

    def failing_second(chunk):
        if chunk.index == 1:
            raise RuntimeError("facts unreadable")
        return read(chunk)

    monkeypatch.setattr(services.chunks, "chunk_read", failing_second)
    with pytest.raises(CommandError, match=r"run \d+ failed after 4/12 subject\(s\): facts unreadable"):
        call_command("reevaluate", "--in-process", "--readers", "0", "--chunk-size", "4", "--as-of", "2026-03-01",
                     stdout=io.StringIO(), stderr=io.StringIO())
    run = EvaluationRun.objects.get(kind=Trigger.MANUAL)
    assert run.status == RunStatus.FAILED and "facts unreadable" in run.error
    assert run.chunks.filter(done=True).count() == 1 and verify_chain().ok


def test_reevaluate_refuses_bad_arguments_naming_them(registry):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--as-of: '2026-13-01' is not a date"):
        call_command("reevaluate", "--as-of", "2026-13-01")
    with pytest.raises(CommandError, match="unknown regime"):
        call_command("reevaluate", "--regime", "eu-ai-acts")
    with pytest.raises(CommandError, match="unknown subject"):
        call_command("reevaluate", "--subject", "model:nobody/None@1")
    with pytest.raises(CommandError, match="--readers: a number of processes, 0 or more, with --in-process"):
        call_command("reevaluate", "--readers", "2")
    with pytest.raises(CommandError, match="--readers: a number of processes"):
        call_command("reevaluate", "--in-process", "--readers", "-1")
    assert not EvaluationRun.objects.exists()


def only_chunk(refs: list[str]) -> int:
    run = run_create(kind=Trigger.MANUAL, as_of=AS_OF, subjects=refs, chunk_size=10_000)
    (chunk,) = run.chunks.all()
    assert sum(len(ids) for ids in chunk.subjects.values()) == len(refs)
    return chunk.pk


def log_insert_batches(subjects: int) -> int:
    """INSERT statements for a chunk's log rows: one on PostgreSQL, one per ~33 rows on SQLite (whose
    Django backend caps a statement at 999 parameters)."""
    fields = [f for f in Determination._meta.concrete_fields if not f.primary_key]
    rows = subjects * REGIMES
    return math.ceil(rows / connection.ops.bulk_batch_size(fields, [None] * rows))


def test_a_chunk_makes_the_same_number_of_queries_for_10_or_40_subjects(django_assert_max_num_queries):
    organisations = [OrganisationRecordFactory(slug=f"org-{i}", name=f"Org {i}") for i in range(4)]
    registry_submit(document(
        organisations=organisations,
        models=[ModelRecordFactory(organisation=f"org-{i % 4}", name=f"Base-{i}") for i in range(4)],
    ), via="import")
    plain = submit_registry(models=26, clusters=6, organisations=4)
    registry_submit(document(
        organisations=organisations,
        models=[ModelRecordFactory(organisation=f"org-{i % 4}", name=f"Tuned-{i}", base_model=f"org-{i % 4}/Base-{i}@1",
                                   fine_tuning_compute_ops=1e24) for i in range(4)],
    ), via="import")
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OF))  # every subject has a determination before
    models = [ref for ref in plain if ref.startswith("model:")]
    clusters = [ref for ref in plain if ref.startswith("cluster:")]
    tuned = [f"model:org-{i}/Tuned-{i}@1" for i in range(4)]
    organisations = [f"organisation:org-{i}" for i in range(4)]
    ten = only_chunk(models[:4] + tuned[:2] + clusters[:2] + organisations[:2])
    forty = only_chunk(models + tuned + clusters + organisations)
    with CaptureQueriesContext(connection) as queries:
        chunk_execute(chunk_id=ten)
    assert len(queries) <= 40
    with django_assert_max_num_queries(len(queries) + log_insert_batches(40) - log_insert_batches(10)):
        chunk_execute(chunk_id=forty)


def test_a_submission_is_evaluated_with_the_same_number_of_queries_for_10_or_40_models(django_assert_max_num_queries):
    def submit(count: int, prefix: str) -> list[int]:
        registry_submit(document(
            organisations=[OrganisationRecordFactory(slug="org-0", name="Org 0")],
            models=[ModelRecordFactory(organisation="org-0", name=f"{prefix}-{i}") for i in range(count)],
        ), via="import")
        return list(PendingEvaluation.objects.values_list("pk", flat=True))

    pending = submit(10, "Ten")
    with CaptureQueriesContext(connection) as queries:
        run = pending_evaluate(pending_ids=pending)
    assert run.total == 11 and len(per_subject_and_regime(run)) == 11 * REGIMES  # and the organisation
    pending = submit(40, "Forty")
    with django_assert_max_num_queries(len(queries) + log_insert_batches(41) - log_insert_batches(11)):
        run = pending_evaluate(pending_ids=pending)
    assert run.total == 41 and len(per_subject_and_regime(run)) == 41 * REGIMES
    assert not PendingEvaluation.objects.exists()


def test_an_evaluation_as_of_a_past_date_is_not_mistaken_for_a_change_today():
    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="acme")],
        models=[ModelRecordFactory(organisation="acme", name="Big", training_compute_ops=2e26)],
    ), via="import")
    today_run = run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=date(2026, 6, 1)))
    # someone asks how the law stood in 2024 (EO 14110 in force: covered) ...
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=date(2024, 6, 1)))
    # ... the next run of today's law compares with the state as of 2026-06-01, not with 2024's
    again = run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=date(2026, 6, 2)))
    assert again.changes_count == 0, list(StatusChange.objects.filter(run=again).values("regime", "from_status", "to_status"))
    assert today_run.status == RunStatus.FINISHED
    # a run after the law changed still records it: EO 14110 lapsed between 2024 and 2025
    lapsed = run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=date(2025, 6, 1), regimes=["us-eo-14110"]))
    change = StatusChange.objects.get(run=lapsed, subject_ref="model:acme/Big@1")
    assert (change.from_status, change.to_status) == ("covered", "not_in_force")
