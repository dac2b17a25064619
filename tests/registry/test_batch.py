"""Rows inserted together (`registry.batch.InsertBatch`): on PostgreSQL in one statement, each row
able to take the key of one inserted before it; elsewhere one by one, in order. Either way the rows
are stored as `save()` stores them, all or none, and what was to follow the commit follows it."""
from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AuditEvent
from registry.batch import InsertBatch
from registry.models import AIModel, ModelRevision, Organisation
from rules.models import PendingEvaluation
from tests.factories import AIModelFactory, OrganisationFactory

pytestmark = pytest.mark.django_db


def new_model(organisation: Organisation, name: str = "Batch-1") -> AIModel:
    model = AIModel(organisation=organisation, name=name, version="1", parameter_count=7e10, training_tokens=1.5e13,
                    general_purpose=True, modalities=["text"])
    model.set_stored_fields()
    return model


def submission(organisation: Organisation, name: str = "Batch-1") -> tuple[InsertBatch, list]:
    """A new model, its first revision, its outbox row (its id as `record_id`) and its audit event."""
    batch = InsertBatch()
    model = batch.add(new_model(organisation, name))
    revision = batch.add(ModelRevision(model=model, number=1, facts={"name": name}, facts_sha256="a" * 64,
                                       submitted_via="api"))
    outbox = batch.add(PendingEvaluation(subject_ref=model.subject_ref, subject_kind="model",
                                         enqueued_at=timezone.now()), record_id=model)
    event = batch.add(AuditEvent(action="record.created", subject=model.subject_ref, detail={"via": "api"}))
    return batch, [model, revision, outbox, event]


def test_each_row_is_stored_as_save_stores_it_and_takes_the_keys_it_refers_to():
    organisation = OrganisationFactory(slug="acme")
    batch, (model, revision, outbox, event) = submission(organisation, "Batch-Ⅰ")
    with transaction.atomic():
        batch.execute()
    assert None not in (model.pk, revision.pk, outbox.pk, event.pk)
    stored = AIModel.objects.get(pk=model.pk)
    assert (stored.name, stored.organisation_id, stored.modalities) == ("Batch-Ⅰ", organisation.pk, ["text"])
    assert stored.name_skeleton == model.name_skeleton != "" and stored.stored_subject_ref == "model:acme/Batch-Ⅰ@1"
    assert stored.created_at == model.created_at is not None  # auto_now_add, as save() sets it
    assert ModelRevision.objects.get(pk=revision.pk).model_id == model.pk
    assert ModelRevision.objects.get(pk=revision.pk).submitted_at is not None
    assert PendingEvaluation.objects.get(pk=outbox.pk).record_id == model.pk
    assert AuditEvent.objects.get(pk=event.pk).detail == {"via": "api"}
    assert not model._state.adding and model._state.db == "default"


def test_on_postgresql_the_rows_are_one_statement_and_elsewhere_one_each():
    batch, _rows = submission(OrganisationFactory())
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        batch.execute()
    inserts = [query["sql"] for query in captured.captured_queries if "INSERT" in query["sql"]]
    if connection.vendor == "postgresql":
        assert batch.in_one_statement
        assert len(inserts) == 1 and inserts[0].startswith("WITH") and inserts[0].count("INSERT INTO") == 4, inserts
    else:
        assert not batch.in_one_statement
        assert len(inserts) == 4, inserts


def test_a_row_refused_by_the_database_leaves_none_of_the_batch_stored():
    organisation = OrganisationFactory(slug="acme")
    AIModelFactory(organisation=organisation, name="Taken", version="1")
    counts = (AIModel.objects.count(), ModelRevision.objects.count(), PendingEvaluation.objects.count(),
              AuditEvent.objects.count())
    batch, _rows = submission(organisation, "Taken")
    with pytest.raises(IntegrityError), transaction.atomic():
        batch.execute()
    assert (AIModel.objects.count(), ModelRevision.objects.count(), PendingEvaluation.objects.count(),
            AuditEvent.objects.count()) == counts


def test_a_key_taken_from_a_stored_row_is_its_own():
    stored = AIModelFactory(name="Stored")
    batch = InsertBatch()
    outbox = batch.add(PendingEvaluation(subject_ref=stored.subject_ref, subject_kind="model"), record_id=stored)
    revision = batch.add(ModelRevision(model=stored, number=2, facts={}, facts_sha256="b" * 64, submitted_via="api"))
    with transaction.atomic():
        batch.execute()
    assert PendingEvaluation.objects.get(pk=outbox.pk).record_id == stored.pk
    assert ModelRevision.objects.get(pk=revision.pk).model_id == stored.pk


def test_rows_it_cannot_write_are_refused_when_added_naming_them():
    organisation = OrganisationFactory()
    batch = InsertBatch()
    with pytest.raises(ValueError, match="stored already"):
        batch.add(AIModelFactory())
    with pytest.raises(ValueError, match="no column 'model_id'"):
        batch.add(PendingEvaluation(subject_ref="model:x/y@1"), model_id=AIModelFactory())
    with pytest.raises(ValueError, match="record_id: .* neither stored nor in this batch"):
        batch.add(PendingEvaluation(subject_ref="model:x/y@1"), record_id=new_model(organisation))
    model = batch.add(new_model(organisation))
    with pytest.raises(ValueError, match="in the batch"):
        batch.add(model)


def test_a_foreign_key_to_a_row_outside_the_batch_and_unsaved_is_refused_and_nothing_written():
    revision = ModelRevision(model=new_model(OrganisationFactory()), number=1, facts={}, facts_sha256="c" * 64,
                             submitted_via="api")
    batch = InsertBatch()
    batch.add(revision)
    refused = r"registry\.ModelRevision\.model: .* neither stored nor in this batch"
    with pytest.raises(ValueError, match=refused), transaction.atomic():
        batch.execute()
    assert not ModelRevision.objects.exists()


def test_an_executed_batch_takes_no_more_rows_and_runs_once():
    batch, _rows = submission(OrganisationFactory())
    with transaction.atomic():
        batch.execute()
    with pytest.raises(RuntimeError, match="never be written"):
        batch.add(AuditEvent(action="record.created", subject="model:x/y@1"))
    with pytest.raises(RuntimeError, match="executed already"):
        batch.execute()
    with pytest.raises(RuntimeError, match="executed already"):
        batch.on_commit(lambda: None)


def test_what_follows_the_commit_runs_after_it_with_every_key_set(django_capture_on_commit_callbacks):
    batch, (model, _revision, outbox, _event) = submission(OrganisationFactory())
    seen: list[tuple[int | None, int | None]] = []
    batch.on_commit(lambda: seen.append((model.pk, outbox.pk)))
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        batch.execute()
        assert seen == []  # not before the commit
    assert len(callbacks) == 1 and seen == [(model.pk, outbox.pk)] and None not in seen[0]


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_statement_is_its_own_commit_and_what_follows_runs_at_once():
    if connection.vendor != "postgresql":
        pytest.skip("one statement needs PostgreSQL's data-modifying WITH")
    batch, (model, *_rest) = submission(OrganisationFactory())
    seen: list[int | None] = []
    batch.on_commit(lambda: seen.append(model.pk))
    assert connection.get_autocommit()
    batch.execute()
    assert seen == [model.pk] and AIModel.objects.filter(pk=model.pk).exists()
