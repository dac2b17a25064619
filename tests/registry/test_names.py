"""Names the registry can tell apart (issue 17.2, 17.10): a name confusable with one its organisation
has is refused, organisation names are unique, and stored names breaking the rules stop the migration."""
from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from registry.models import AIModel, Cluster, Organisation
from registry.names import name_skeleton
from registry.services import RegistryValidationError, registry_submit
from tests.factories import ClusterRecordFactory, ModelRecordFactory, OrganisationRecordFactory, document

pytestmark = pytest.mark.django_db

CYRILLIC_ACME = "\u0410\u0441\u043c\u0435-1"  # "Асме-1": reads as "Acme-1"


@pytest.fixture
def acme(db):
    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI"),
                       OrganisationRecordFactory(slug="rival", name="Rival AI")],
        models=[ModelRecordFactory(name="Acme-1")], clusters=[ClusterRecordFactory(name="Hall A")],
    ), via="import")


def problems_of(doc) -> list[str]:
    with pytest.raises(RegistryValidationError) as refused:
        registry_submit(doc, via="import")
    return [str(problem) for problem in refused.value.problems]


def test_names_that_read_alike_have_one_skeleton():
    assert name_skeleton(CYRILLIC_ACME) == name_skeleton("Acme-1") == name_skeleton("ACME\u20101")
    assert name_skeleton("Acme-1") != name_skeleton("Acme-2")


def test_a_model_name_confusable_with_one_of_its_organisations_is_refused(acme):
    problems = problems_of(document(organisations=[], models=[ModelRecordFactory(name=CYRILLIC_ACME)]))
    assert problems == [f"models[0].name: {CYRILLIC_ACME!r} reads like 'Acme-1', a model 'acme' already has: "
                        "choose a name that cannot be mistaken for it"]
    assert AIModel.objects.count() == 1


def test_the_same_name_with_another_version_or_at_another_organisation_is_accepted(acme):
    registry_submit(document(organisations=[], models=[
        ModelRecordFactory(name="Acme-1", version="2"), ModelRecordFactory(organisation="rival", name=CYRILLIC_ACME)]),
        via="import")
    assert AIModel.objects.count() == 3


def test_a_cluster_name_confusable_with_one_of_its_organisations_is_refused(acme):
    problems = problems_of(document(organisations=[], clusters=[ClusterRecordFactory(name="HALL A")]))
    assert problems == ["clusters[0].name: 'HALL A' reads like 'Hall A', a cluster 'acme' already has: choose a "
                        "name that cannot be mistaken for it"]
    assert Cluster.objects.count() == 1


def test_two_confusable_names_in_one_document_are_refused(acme):
    problems = problems_of(document(organisations=[], models=[ModelRecordFactory(name="Zeta"),
                                                              ModelRecordFactory(name="ZETA")]))
    assert problems == ["models[1].name: 'ZETA' reads like 'Zeta', a model 'acme' already has: choose a name that "
                        "cannot be mistaken for it"]


@pytest.mark.parametrize("name", ["Acme AI", "\u0410cme AI"])
def test_an_organisation_name_another_organisation_has_is_refused(acme, name):
    problems = problems_of(document(organisations=[OrganisationRecordFactory(slug="copycat", name=name)]))
    assert len(problems) == 1 and problems[0].startswith("organisations[0].name: ")
    assert "of organisation 'acme'" in problems[0]
    assert not Organisation.objects.filter(slug="copycat").exists()


def test_an_organisation_keeps_its_own_name_when_revised(acme):
    result = registry_submit(document(organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI",
                                                                               country="GB")]), via="import")
    assert result.revised["organisations"] == 1


@pytest.mark.django_db(transaction=True)
def test_the_migration_refuses_stored_names_a_reference_cannot_be_parsed_from():
    executor = MigrationExecutor(connection)
    executor.migrate([("registry", "0001_initial")])
    old = executor.loader.project_state([("registry", "0001_initial")]).apps
    Org, Model = old.get_model("registry", "Organisation"), old.get_model("registry", "AIModel")
    acme = Org.objects.create(slug="acme", name="Acme AI")
    Org.objects.create(slug="acme-two", name="Acme AI")
    Model.objects.create(organisation=acme, name="a/b", version="1")
    Model.objects.create(organisation=acme, name="fine", version="1\n2")
    executor = MigrationExecutor(connection)
    with pytest.raises(RuntimeError) as refused:
        executor.migrate(executor.loader.graph.leaf_nodes())
    message = str(refused.value)
    assert "organisations acme, acme-two share the name 'Acme AI'" in message
    assert "(acme) name 'a/b' must not contain '/' or '@'" in message
    assert "(acme) version '1\\n2' must not contain line breaks" in message
    Model.objects.all().delete()
    Org.objects.filter(slug="acme-two").delete()
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert Organisation.objects.get(slug="acme").name_skeleton == "acme ai"
