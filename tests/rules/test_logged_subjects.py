"""A determination refers to its subject by number (`LoggedSubject`, migration rules.0028): each
subject is stored once, the row's subject values are read back by their old names in queries and on
the row, the row's hash still covers them, and the migration moves a stored log there and back."""
from __future__ import annotations

from datetime import date

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from reports.exports import determination_record
from rules.decision_log import verify_chain
from rules.models import AppendOnlyError, Determination, LoggedSubject, facts_sha256_filled
from rules.services import run_create, run_execute_inline
from tests.rules.conftest import migrated, submit_registry, tamper

BEFORE = ("rules", "0027_log_columns_in_order_of_alignment")
AS_OF = date(2026, 3, 1)


@pytest.fixture
def refs(db) -> list[str]:
    refs = submit_registry(models=2, clusters=1, training_compute_ops=5e25)
    run_execute_inline(run_create(kind="manual", as_of=AS_OF, subjects=refs))
    return refs


def records() -> list[dict]:
    rows = list(Determination.objects.order_by("sequence"))
    facts_sha256_filled(rows)
    return [determination_record(row, with_tests=True) for row in rows]


@pytest.mark.django_db
def test_each_subject_is_stored_once_and_read_back_through_its_rows(refs):
    rows = list(Determination.objects.order_by("sequence"))
    subjects = {subject.id: subject for subject in LoggedSubject.objects.all()}
    assert {row.subject_ref for row in rows} == {subject.ref for subject in subjects.values()} >= set(refs)
    assert len(subjects) == len({row.subject_id for row in rows})
    for row in rows:
        subject = subjects[row.subject_id]
        assert (row.subject_ref, row.subject_kind, row.organisation, row.subject_name, row.subject_version) == (
            subject.ref, subject.kind, subject.organisation, subject.name, subject.version)
    model = next(row for row in rows if row.subject_kind == "model")
    assert model.subject_ref == f"model:{model.organisation}/{model.subject_name}@{model.subject_version}"

    # a second run, of subjects revised, stores no subject again
    submit_registry(models=2, clusters=1, training_compute_ops=7e25)
    run_execute_inline(run_create(kind="manual", as_of=date(2026, 9, 1), subjects=refs))
    assert Determination.objects.count() > len(rows)
    assert LoggedSubject.objects.count() == len(subjects)


@pytest.mark.django_db
def test_lookups_values_and_orderings_read_the_subjects_values(refs):
    ref = refs[0]
    rows = Determination.objects.filter(subject_ref=ref)
    assert rows.exists() and all(row.subject_ref == ref for row in rows)
    organisation = rows[0].organisation
    assert Determination.objects.filter(organisation=organisation).count() == Determination.objects.count()
    assert not Determination.objects.filter(organisation="someone-else").exists()
    kinds = list(Determination.objects.order_by("subject_kind", "subject_ref").values_list("subject_kind", flat=True))
    assert kinds == sorted(kinds) and set(kinds) == {"model", "cluster", "organisation"}
    assert set(Determination.objects.filter(subject_kind="cluster").values_list("subject_ref", flat=True)) == {
        r for r in refs if r.startswith("cluster:")}
    # a row read without the log's manager (through a relation) reads its subject's values all the same
    row = Determination._base_manager.get(pk=rows[0].pk)
    assert (row.subject_ref, row.organisation) == (ref, organisation)


def suspended() -> None:
    """On PostgreSQL, the subjects' append-only trigger suspended for the test's transaction, as
    someone with the database's owner could: what the tests below alter, `verify_log` must find."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE rules_loggedsubject DISABLE TRIGGER rules_loggedsubject_append_only")


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's trigger")
def test_the_database_refuses_to_change_or_remove_a_subject(refs):
    for statement in ("UPDATE rules_loggedsubject SET name = 'renamed'", "DELETE FROM rules_loggedsubject"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)


@pytest.mark.django_db
def test_a_subject_is_never_changed_or_removed(refs):
    subject = LoggedSubject.objects.first()
    subject.name = "renamed"
    with pytest.raises(AppendOnlyError):
        subject.save()
    with pytest.raises(AppendOnlyError):
        LoggedSubject.objects.filter(pk=subject.pk).update(name="renamed")
    with pytest.raises(AppendOnlyError):
        subject.delete()


@pytest.mark.django_db
@pytest.mark.parametrize("column", ["ref", "kind", "organisation", "name", "version"])
def test_the_rows_hash_covers_its_subjects_values(refs, column):
    assert verify_chain().ok
    model = Determination.objects.filter(subject_kind="model").order_by("sequence").first()
    altered = "kind = CASE kind WHEN 2 THEN 1 ELSE 2 END" if column == "kind" else f"{column} = {column} || '-altered'"
    suspended()
    tamper(f"UPDATE rules_loggedsubject SET {altered} WHERE id = {model.subject_id}",
           table="rules_loggedsubject", where=f"id = {model.subject_id}")
    report = verify_chain()  # broken at the first row naming the subject
    assert not report.ok and report.broken_at == model.sequence
    assert "content does not match" in report.reason


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's indexes")
def test_the_log_keeps_no_subject_text_and_its_index_by_subject_leads_with_the_number():
    with connection.cursor() as cursor:
        cursor.execute("SELECT attname FROM pg_attribute WHERE attrelid = 'rules_determination'::regclass "
                       "AND attnum > 0 AND NOT attisdropped")
        columns = {name for (name,) in cursor.fetchall()}
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'rules_determination'")
        indexes = dict(cursor.fetchall())
    assert "subject_id" in columns
    assert not columns & {"subject_ref", "subject_kind", "organisation", "subject_name", "subject_version"}
    assert "determination_organisation" not in indexes
    assert "(subject_id, regime, as_of DESC, sequence DESC)" in indexes["determination_latest_as_of"]


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_a_stored_log_to_subjects_and_back_and_the_chain_still_verifies():
    refs = submit_registry(models=2, clusters=1, training_compute_ops=5e25)
    run = run_execute_inline(run_create(kind="manual", as_of=AS_OF, subjects=refs))
    before = records()
    subjects = LoggedSubject.objects.count()

    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])  # back to the five columns
    with connection.cursor() as cursor:
        cursor.execute("SELECT sequence, subject_ref, organisation, subject_name, subject_version "
                       "FROM rules_determination ORDER BY sequence")
        columns = cursor.fetchall()
    assert columns == [(r["sequence"], r["subject"], r["organisation"], r["subject_name"] or "",
                        r["subject_version"] or "") for r in before]

    migrated()
    assert records() == before
    assert LoggedSubject.objects.count() == subjects
    assert verify_chain().ok
    # the once-per-run trigger finds a run's earlier row by the subject's number
    row = Determination.objects.filter(run=run).first()
    others = [f.column for f in Determination._meta.concrete_fields if f.column != "sequence"]
    with pytest.raises(DatabaseError, match="refused"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO rules_determination (sequence, {', '.join(others)}) "
                       f"SELECT (SELECT max(sequence) + 1 FROM rules_determination), {', '.join(others)} "
                       f"FROM rules_determination WHERE sequence = %s", [row.sequence])
    run_execute_inline(run_create(kind="manual", as_of=date(2027, 3, 1), subjects=refs))
    assert verify_chain().ok


@pytest.mark.django_db
def test_a_row_whose_subject_is_gone_breaks_the_chain(refs):
    model = Determination.objects.filter(subject_kind="model").order_by("sequence").first()
    columns = "id, ref, kind, organisation, name, version"
    suspended()
    with connection.cursor() as cursor:  # the reference is checked at commit: the subject is put back before
        cursor.execute(f"SELECT {columns} FROM rules_loggedsubject WHERE id = %s", [model.subject_id])
        subject = cursor.fetchone()
        cursor.execute("DELETE FROM rules_loggedsubject WHERE id = %s", [model.subject_id])
        assert cursor.rowcount == 1
        report = verify_chain()
        cursor.execute(f"INSERT INTO rules_loggedsubject ({columns}) VALUES (%s, %s, %s, %s, %s, %s)", subject)
    assert not report.ok and report.broken_at == model.sequence and "its subject is missing" in report.reason
    assert verify_chain().ok
