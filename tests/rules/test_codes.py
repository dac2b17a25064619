"""A determination's status, trigger and subject kind, and the index of current determinations' status
and kind, are stored as codes of their vocabularies (`rules.codes`, migration rules.0026) and read,
looked up, sorted and shown as the texts they were, on both databases."""
from __future__ import annotations

from datetime import date

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Count, Max

from reports.exports import determination_record
from rules.codes import CodedField, codes_of, vocabularies
from rules.decision_log import verify_chain
from rules.engine.vocabulary import Status
from rules.models import CurrentDetermination, Determination, facts_sha256_filled
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from tests.rules.conftest import submit_registry

BEFORE = ("rules", "0025_payloads_and_facts_snapshots_numbered")


@pytest.fixture
def logged(db) -> list[Determination]:
    refs = submit_registry(models=2, clusters=1, training_compute_ops=5e25)
    run_execute_inline(run_create(kind="manual", as_of=date(2026, 3, 1), subjects=refs))
    return list(Determination.objects.order_by("sequence"))


def raw(table: str, columns: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT sequence, {columns} FROM {table} ORDER BY sequence")
        return cursor.fetchall()


def raw_log() -> list[tuple]:
    """Each row's sequence, status, trigger and its subject's kind, as stored (the kind with the subject,
    migration rules.0028)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT d.sequence, d.status, d.trigger, s.kind FROM rules_determination d "
                       "JOIN rules_loggedsubject s ON s.id = d.subject_id ORDER BY d.sequence")
        return cursor.fetchall()


def test_every_text_of_a_vocabulary_has_a_code_and_the_codes_sort_as_the_texts():
    assert set(vocabularies()["status"]) == {status.value for status in Status}
    assert set(vocabularies()["trigger"]) == set(Trigger.values)
    for words in vocabularies().values():
        assert list(words) == sorted(words) and len(set(words)) == len(words)


def test_the_texts_are_stored_as_codes_and_read_back_as_texts(logged):
    rows = {row.sequence: row for row in logged}
    for sequence, status, trigger, kind in raw_log():
        row = rows[sequence]
        assert (status, trigger, kind) == (codes_of("status")[row.status], codes_of("trigger")[row.trigger],
                                           codes_of("subject_kind")[row.subject_kind])
        assert row.trigger == "manual" and row.subject_kind in vocabularies()["subject_kind"]
    current = {row.sequence: row for row in CurrentDetermination.objects.all()}
    assert current
    for sequence, status, kind in raw("rules_currentdetermination", "status, subject_kind"):
        assert (status, kind) == (codes_of("status")[current[sequence].status], codes_of("subject_kind")[current[sequence].subject_kind])
    assert {row.status for row in logged} >= {"covered", "not_in_force"}


def test_lookups_sorting_and_aggregates_read_the_texts(logged):
    covered = [row.sequence for row in logged if row.status == "covered"]
    assert list(Determination.objects.filter(status="covered").values_list("sequence", flat=True)) == covered
    assert set(Determination.objects.filter(status__in=["covered", "not_in_force"]).values_list("status", flat=True)) \
        == {"covered", "not_in_force"}
    assert Determination.objects.filter(subject_kind="cluster").count() == sum(r.subject_kind == "cluster" for r in logged)
    assert Determination.objects.filter(status__any=["covered"]).count() == len(covered)
    # sorted by code, as by text
    statuses = list(Determination.objects.order_by("status", "sequence").values_list("status", flat=True))
    assert statuses == sorted(row.status for row in logged)
    counted = dict(Determination.objects.values("status").annotate(n=Count("sequence")).values_list("status", "n"))
    assert counted == {status: sum(r.status == status for r in logged) for status in {r.status for r in logged}}
    assert Determination.objects.aggregate(last=Max("status"))["last"] == max(row.status for row in logged)
    # a text that is not of the vocabulary matches nothing, and raises nothing
    for other in ("altered", "COVERED", "", "1"):
        assert not Determination.objects.filter(status=other).exists()
        assert not Determination.objects.filter(status__in=[other]).exists()
    assert verify_chain().ok


def test_a_text_not_of_its_vocabulary_is_never_stored(logged):
    values = {field.attname: getattr(logged[0], field.attname) for field in Determination._meta.concrete_fields}
    row = Determination(**{**values, "sequence": logged[-1].sequence + 1, "status": "altered"})
    with pytest.raises(ValueError, match="status: 'altered' is not one of covered"), transaction.atomic():
        row.save()
    assert Determination.objects.count() == len(logged)
    with pytest.raises(ValueError, match="trigger"):
        CodedField(vocabulary="trigger", name="trigger").get_db_prep_save("later", connection)


@pytest.mark.django_db(transaction=True)
def test_the_migration_codes_a_stored_log_and_back_and_the_chain_still_verifies():
    refs = submit_registry(models=2, clusters=1, training_compute_ops=5e25)
    run_execute_inline(run_create(kind="manual", as_of=date(2026, 3, 1), subjects=refs))
    rows = list(Determination.objects.order_by("sequence"))
    facts_sha256_filled(rows)
    before = [determination_record(row, with_tests=True) for row in rows]
    current = sorted(CurrentDetermination.objects.values_list("sequence", "status", "subject_kind"))

    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])  # back to texts
    texts = raw("rules_determination", "status, trigger, subject_kind")
    assert texts == [(r["sequence"], r["status"], r["trigger"], r["subject_kind"]) for r in before]
    assert sorted(raw("rules_currentdetermination", "status, subject_kind")) == current

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    rows = list(Determination.objects.order_by("sequence"))
    facts_sha256_filled(rows)
    assert [determination_record(row, with_tests=True) for row in rows] == before
    assert sorted(CurrentDetermination.objects.values_list("sequence", "status", "subject_kind")) == current
    assert all(isinstance(value, int) for _, *values in raw_log() for value in values)
    assert verify_chain().ok
    # the log's once-per-run trigger is there after the tables' remakes: a run appends again
    run_execute_inline(run_create(kind="manual", as_of=date(2027, 3, 1), subjects=refs))
    assert verify_chain().ok
