"""Each organisation's number of models, kept by the database (`OrganisationModelCount`, triggers of
migration registry.0008) and read by the submission's checks for REGISTRY_MAX_MODELS_PER_ORGANISATION
in place of counting the organisation's models. Run on both databases (`make test`, `make test-embedded`)."""
from __future__ import annotations

import contextlib
import threading

import pytest
from django.conf import settings as django_settings
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.models.signals import post_save

from registry.models import AIModel, ModelRevision, Organisation, OrganisationModelCount
from registry.services import RegistryValidationError, registry_submit
from tests.factories import ModelRecordFactory, OrganisationRecordFactory, document

pytestmark = pytest.mark.django_db


def kept() -> dict[str, int]:
    """The counts the database keeps, by organisation slug."""
    return {row.organisation.slug: row.count for row in OrganisationModelCount.objects.select_related("organisation")}


def counted() -> dict[str, int]:
    """The organisations' models counted one by one (organisations without models left out)."""
    counts: dict[str, int] = {}
    for slug in AIModel.objects.values_list("organisation__slug", flat=True):
        counts[slug] = counts.get(slug, 0) + 1
    return counts


def without_zeros(counts: dict[str, int]) -> dict[str, int]:
    return {slug: count for slug, count in counts.items() if count}


def unsaved(organisation: Organisation, name: str) -> AIModel:
    model = AIModel(organisation=organisation, name=name, version="1")
    model.set_stored_fields()  # what save() sets; bulk_create does not call it
    return model


@pytest.fixture
def two_organisations(db) -> tuple[Organisation, Organisation]:
    registry_submit(document(organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI"),
                                            OrganisationRecordFactory(slug="bolt", name="Bolt Labs")]), via="import")
    return Organisation.objects.get(slug="acme"), Organisation.objects.get(slug="bolt")


def test_every_way_of_writing_a_model_row_is_counted(two_organisations):
    acme, bolt = two_organisations
    assert kept() == {}
    # a submission through the registry's checks (the ORM, in a transaction)
    registry_submit(document(models=[ModelRecordFactory(name=f"M{i}") for i in range(3)]), via="import")
    assert kept() == counted() == {"acme": 3}
    # one statement inserting rows of two organisations
    AIModel.objects.bulk_create([unsaved(acme, "Bulk-a"), unsaved(bolt, "Bulk-b1"), unsaved(bolt, "Bulk-b2")])
    assert kept() == counted() == {"acme": 4, "bolt": 2}
    # raw SQL, outside the ORM: a copy of a stored row under another name
    columns = [f.column for f in AIModel._meta.concrete_fields if not f.primary_key]
    copied = ["'Raw'" if c == "name" else "'model:bolt/Raw@1'" if c == "stored_subject_ref" else c for c in columns]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {AIModel._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(copied)} "
                       f"FROM {AIModel._meta.db_table} WHERE name = 'Bulk-b1'")
    assert kept() == counted() == {"acme": 4, "bolt": 3}
    # a model moved to another organisation, one row and several in one statement
    AIModel.objects.filter(name="Bulk-a").update(organisation=bolt)
    AIModel.objects.filter(organisation=bolt).update(organisation=acme)
    assert without_zeros(kept()) == counted() == {"acme": 7}
    # deleted, one by one and several in one statement
    AIModel.objects.filter(name="Raw").delete()
    AIModel.objects.filter(name__startswith="Bulk").delete()
    assert without_zeros(kept()) == counted() == {"acme": 3}
    ModelRevision.objects.all().delete()  # a model with revisions is protected
    AIModel.objects.all().delete()
    assert without_zeros(kept()) == counted() == {}


def test_an_update_that_keeps_the_organisation_changes_no_count(two_organisations):
    registry_submit(document(models=[ModelRecordFactory(name="Kept")]), via="import")
    AIModel.objects.update(parameter_count=1e9)
    revised = ModelRecordFactory(name="Kept", parameter_count=2e9)
    assert registry_submit(document(models=[revised]), via="import").revised["models"] == 1
    assert kept() == {"acme": 1}


def test_a_refused_submission_changes_no_count(two_organisations, limits):
    registry_submit(document(models=[ModelRecordFactory(name=f"M{i}") for i in range(5)]), via="import")
    with pytest.raises(RegistryValidationError):
        registry_submit(document(models=[ModelRecordFactory(name="One-too-many")]), via="import")
    assert kept() == counted() == {"acme": 5}


def test_the_limit_is_checked_against_the_kept_count(two_organisations, limits):
    """What the checks read is the kept count: set above the limit, the next model is refused though
    the organisation's rows number fewer (the count is never taken from the rows themselves)."""
    registry_submit(document(models=[ModelRecordFactory(name="First")]), via="import")
    OrganisationModelCount.objects.filter(organisation__slug="acme").update(count=5)
    with pytest.raises(RegistryValidationError) as refused:
        registry_submit(document(models=[ModelRecordFactory(name="Second")]), via="import")
    (problem,) = refused.value.problems
    assert problem.path == "models[0].organisation" and "'acme' would have 6 models" in problem.message
    assert AIModel.objects.count() == 1


def test_an_organisation_deleted_takes_its_count_with_it(db):
    gone = Organisation.objects.create(slug="gone", name="Gone Labs")
    unsaved(gone, "Gone").save()
    assert kept() == {"gone": 1}
    AIModel.objects.all().delete()
    gone.delete()
    assert not OrganisationModelCount.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_counts_the_models_stored_before_it():
    before = [("registry", "0007_foreign_keys_indexed_by_composites")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    Org, Model = old.get_model("registry", "Organisation"), old.get_model("registry", "AIModel")
    acme, bolt = Org.objects.create(slug="acme", name="Acme AI"), Org.objects.create(slug="bolt", name="Bolt Labs")
    Org.objects.create(slug="none", name="No Models")
    for index in range(3):
        Model.objects.create(organisation=acme, name=f"A{index}", version="1", stored_subject_ref=f"model:acme/A{index}@1")
    Model.objects.create(organisation=bolt, name="B", version="1", stored_subject_ref="model:bolt/B@1")
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert kept() == {"acme": 3, "bolt": 1}
    unsaved(Organisation.objects.get(slug="none"), "N").save()
    assert kept() == counted() == {"acme": 3, "bolt": 1, "none": 1}


def imports_side_by_side(documents: list[dict], *, sender: type, new: bool) -> list[Exception]:
    """Imports `documents` at once, one thread each, each stopped after it first saves a `sender`
    row (`new`: one it creates, else one it revises) until the other has saved one too, or for two
    seconds; the imports' failures."""
    both_saved_one = threading.Barrier(len(documents))
    local, failures = threading.local(), []

    def first_saved(sender: type, created: bool = False, **kwargs: object) -> None:
        if created is new and not getattr(local, "waited", False):
            local.waited = True
            with contextlib.suppress(threading.BrokenBarrierError):  # the other import waits for this one's commit
                both_saved_one.wait(timeout=2)

    def importing(doc: dict) -> None:
        try:
            registry_submit(doc, via="import")
        except Exception as exc:  # a deadlock is an OperationalError
            failures.append(exc)
        finally:
            connections.close_all()

    post_save.connect(first_saved, sender=sender, dispatch_uid="imports_side_by_side")
    try:
        threads = [threading.Thread(target=importing, args=(doc,)) for doc in documents]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        post_save.disconnect(dispatch_uid="imports_side_by_side", sender=sender)
    return failures


ORDERS = (("acme", "bolt"), ("bolt", "acme"))


@pytest.mark.services
@pytest.mark.skipif("postgresql" not in django_settings.DATABASES["default"]["ENGINE"],
                    reason="needs PostgreSQL: concurrent transactions with row locks")
@pytest.mark.django_db(transaction=True)
def test_imports_naming_two_organisations_in_opposite_orders_wait_for_each_other_rather_than_deadlock():
    """Each import's transaction holds the count of every organisation it adds models to until it
    commits. Two imports at once, one of acme's then bolt's models and one of bolt's then acme's, each
    stopped after its first model until the other has written one too (or for two seconds): taken
    in the documents' orders, the counts would deadlock (one import refused); taken first, in the
    organisations' order, the second import waits for the first."""
    registry_submit(document(organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI"),
                                            OrganisationRecordFactory(slug="bolt", name="Bolt Labs")]), via="import")
    for slug in ("acme", "bolt"):  # both counts' rows exist, as for any organisation with models
        registry_submit(document(models=[ModelRecordFactory(organisation=slug, name="Seed")]), via="import")
    documents = [document(organisations=[], models=[ModelRecordFactory(organisation=slug, name=f"{slug}-after-{order[0]}-{index}")
                                                    for slug in order for index in range(2)])
                 for order in ORDERS]
    assert imports_side_by_side(documents, sender=AIModel, new=True) == []
    assert kept() == counted() == {"acme": 5, "bolt": 5}


@pytest.mark.services
@pytest.mark.skipif("postgresql" not in django_settings.DATABASES["default"]["ENGINE"],
                    reason="needs PostgreSQL: concurrent transactions with row locks")
@pytest.mark.django_db(transaction=True)
def test_imports_revising_two_organisations_in_opposite_orders_wait_for_each_other_rather_than_deadlock():
    """Each import's transaction holds the row of every organisation it revises until it commits. Two
    imports at once, one revising acme then bolt and one bolt then acme, each stopped after its first
    organisation until the other has revised one too (or for two seconds): taken in the documents'
    orders, the rows would deadlock (one import refused); taken first, in the organisations' order,
    the second import waits for the first."""
    registry_submit(document(organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI"),
                                            OrganisationRecordFactory(slug="bolt", name="Bolt Labs")]), via="import")
    names = {"acme": "Acme AI", "bolt": "Bolt Labs"}
    documents = [document(organisations=[OrganisationRecordFactory(slug=slug, name=f"{names[slug]} after {order[0]}")
                                         for slug in order])
                 for order in ORDERS]
    assert imports_side_by_side(documents, sender=Organisation, new=False) == []
    # the import that waited revised both organisations last, over the other's names
    assert dict(Organisation.objects.values_list("slug", "name")) in (
        {"acme": "Acme AI after acme", "bolt": "Bolt Labs after acme"},
        {"acme": "Acme AI after bolt", "bolt": "Bolt Labs after bolt"})
