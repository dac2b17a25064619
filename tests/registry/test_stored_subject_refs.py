"""Each model and cluster keeps the subject ref the decision log names it by (`stored_subject_ref`):
set when it is recorded, by whichever path, kept through its revisions, unique, and set by the
migration for records stored before it. The lists filtered by status or tier join on it."""
from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from registry.models import AIModel, Cluster
from registry.selectors import current_facts
from registry.services import record_save
from tests.factories import AIModelFactory, ClusterFactory, submit_acme_and_rival

pytestmark = pytest.mark.django_db


def stored_and_computed() -> list[tuple[str, str]]:
    records = [*AIModel.objects.select_related("organisation"), *Cluster.objects.select_related("organisation")]
    return sorted((record.stored_subject_ref, record.subject_ref) for record in records)


def test_a_submission_stores_each_records_subject_ref():
    submit_acme_and_rival(rival_models=("Rival-1", "Rival-2"))
    assert stored_and_computed() == [
        ("cluster:acme/Hall A", "cluster:acme/Hall A"),
        ("model:acme/Acme-1@1", "model:acme/Acme-1@1"),
        ("model:rival/Rival-1@1", "model:rival/Rival-1@1"),
        ("model:rival/Rival-2@1", "model:rival/Rival-2@1"),
    ]


def test_records_made_directly_store_their_subject_ref():
    model = AIModelFactory(name="Direct", version="2")
    cluster = ClusterFactory(name="Hall Z")
    assert AIModel.objects.get(pk=model.pk).stored_subject_ref == f"model:{model.organisation.slug}/Direct@2"
    assert Cluster.objects.get(pk=cluster.pk).stored_subject_ref == f"cluster:{cluster.organisation.slug}/Hall Z"


def test_a_revision_keeps_the_subject_ref_without_reading_the_organisation_again():
    submit_acme_and_rival()
    model = AIModel.objects.get(name="Acme-1")
    record = {**current_facts(AIModel.objects.select_related("organisation").get(pk=model.pk)),
              "parameter_count": 7e10}
    _stored, outcome = record_save(kind="model", record=record, current=current_facts(model), actor=None,
                                   via="admin", organisation_scope=None)
    assert outcome == "revised"
    assert AIModel.objects.get(pk=model.pk).stored_subject_ref == "model:acme/Acme-1@1"
    revised = AIModel.objects.get(pk=model.pk)
    revised.notes = "read again"
    with CaptureQueriesContext(connection) as queries:
        revised.save()
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["UPDATE"]


def test_two_records_cannot_keep_the_same_subject_ref():
    submit_acme_and_rival(rival_models=("Rival-1", "Rival-2"))
    with pytest.raises(IntegrityError), transaction.atomic():
        AIModel.objects.filter(name="Rival-2").update(stored_subject_ref="model:rival/Rival-1@1")
    other = ClusterFactory(name="Hall B")
    with pytest.raises(IntegrityError), transaction.atomic():
        Cluster.objects.filter(pk=other.pk).update(stored_subject_ref="cluster:acme/Hall A")


def test_a_record_inserted_without_its_subject_ref_is_refused_by_the_database():
    """A bulk insert bypasses save(): the database itself refuses a record without its ref, which
    would otherwise drop out of every list filtered by status or tier."""
    submit_acme_and_rival()
    organisation = AIModel.objects.get(name="Acme-1").organisation
    with pytest.raises(IntegrityError), transaction.atomic():
        AIModel.objects.bulk_create([AIModel(organisation=organisation, name="Bulk", version="1")])
    with pytest.raises(IntegrityError), transaction.atomic():
        Cluster.objects.bulk_create([Cluster(organisation=organisation, name="Bulk hall")])
    assert not AIModel.objects.filter(name="Bulk").exists() and not Cluster.objects.filter(name="Bulk hall").exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_stores_the_subject_ref_of_every_record_stored_before_it():
    from django.db.migrations.executor import MigrationExecutor

    submit_acme_and_rival(rival_models=("Rival-1",))
    expected = stored_and_computed()
    executor = MigrationExecutor(connection)
    executor.migrate([("registry", "0005_model_uncertainty_at_most_one")])
    with connection.cursor() as cursor:
        columns = [column.name for column in connection.introspection.get_table_description(cursor, "registry_aimodel")]
    assert "stored_subject_ref" not in columns
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert stored_and_computed() == expected
    assert all(stored == computed for stored, computed in expected) and len(expected) == 3
