"""One write path: an admin save, an API submission and an import go through the same service, so
identity rules, base-model visibility and name rules cannot differ between them (issue 17.1, 17.7)."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.services import membership_set
from registry.models import AIModel, Cluster, Organisation
from registry.services import registry_submit
from tests.factories import (
    ClusterRecordFactory,
    ModelRecordFactory,
    OrganisationRecordFactory,
    UserFactory,
    api_user,
    document,
)
from tests.ui.conftest import ensure_role_groups

pytestmark = pytest.mark.django_db

TOMORROW = (date.today() + timedelta(days=1)).isoformat()


@pytest.fixture(autouse=True)
def _generous_api_throttle(settings):
    settings.API_THROTTLE_RATE = "100000/min"


@pytest.fixture
def two_labs(db):
    """acme (Acme-1, Hall A) and rival, with one released model and one not released yet."""
    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI"),
                       OrganisationRecordFactory(slug="rival", name="Rival AI")],
        models=[ModelRecordFactory(organisation="acme", name="Acme-1"),
                ModelRecordFactory(organisation="rival", name="Open", released_on="2024-01-01"),
                ModelRecordFactory(organisation="rival", name="Secret", released_on=TOMORROW),
                ModelRecordFactory(organisation="rival", name="Unannounced", released_on=None)],
        clusters=[ClusterRecordFactory(organisation="acme", name="Hall A")],
    ), via="import")


@pytest.fixture
def acme_staff_client(two_labs) -> Client:
    ensure_role_groups()
    user = UserFactory(username="acme-staff", is_staff=True)
    membership_set(user=user, role="lab", organisation=Organisation.objects.get(slug="acme"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def acme_api(two_labs) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_user(role='lab', organisation='acme')[1]}")
    return client


def form_data(client: Client, url: str) -> dict[str, Any]:
    """What the change page would post back unchanged: the form's and every inline's current values."""
    page = client.get(url)
    assert page.status_code == 200
    data: dict[str, Any] = {}
    for bound in page.context["adminform"].form:
        value = bound.value()
        if value is None:
            continue
        data[bound.html_name] = value if not isinstance(value, bool) else ("on" if value else "")
        if isinstance(value, bool) and not value:
            del data[bound.html_name]
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        for bound in formset.management_form:
            data[bound.html_name] = bound.value()
        for form in formset.forms:
            for bound in form:
                value = bound.value()
                if value is not None and value is not False:
                    data[bound.html_name] = "on" if value is True else value
    return {key: ("" if value is None else value) for key, value in data.items() if not isinstance(value, list)} | {
        key: value for key, value in data.items() if isinstance(value, list)}


def error_messages(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- identity (17.7) ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [("name", "Acme-Renamed"), ("version", "2")])
def test_a_lab_cannot_rename_its_models_identity_in_the_admin(acme_staff_client, field, value):
    model = AIModel.objects.get(name="Acme-1")
    url = reverse("admin:registry_aimodel_change", args=[model.pk])
    data = form_data(acme_staff_client, url) | {field: value}
    response = acme_staff_client.post(url, data)
    assert response.status_code == 302
    assert any(f"{field}: cannot be changed by a revision" in message for message in error_messages(response))
    model.refresh_from_db()
    assert (model.name, model.version, model.revision) == ("Acme-1", "1", 1)
    assert AIModel.objects.filter(organisation__slug="acme").count() == 1


def test_a_regulator_cannot_move_a_model_to_another_organisation_in_the_admin(admin_client_logged_in, two_labs):
    model = AIModel.objects.get(name="Acme-1")
    url = reverse("admin:registry_aimodel_change", args=[model.pk])
    data = form_data(admin_client_logged_in, url) | {"organisation": str(Organisation.objects.get(slug="rival").pk)}
    response = admin_client_logged_in.post(url, data)
    assert any("organisation: cannot be changed by a revision" in m for m in error_messages(response))
    model.refresh_from_db()
    assert model.organisation.slug == "acme" and model.revision == 1


def test_a_lab_cannot_rename_its_cluster_in_the_admin(acme_staff_client):
    cluster = Cluster.objects.get(name="Hall A")
    url = reverse("admin:registry_cluster_change", args=[cluster.pk])
    response = acme_staff_client.post(url, form_data(acme_staff_client, url) | {"name": "Hall B"})
    assert any("name: cannot be changed by a revision" in m for m in error_messages(response))
    assert list(Cluster.objects.values_list("name", flat=True)) == ["Hall A"]


def test_an_admin_edit_of_a_clusters_groups_is_a_revision_through_the_write_path(admin_client_logged_in, two_labs):
    cluster = Cluster.objects.get(name="Hall A")
    url = reverse("admin:registry_cluster_change", args=[cluster.pk])
    data = form_data(admin_client_logged_in, url) | {"groups-0-accelerator_count": "50000"}
    response = admin_client_logged_in.post(url, data)
    assert response.status_code == 302
    assert not [m for m in error_messages(response) if m.startswith("Not saved")]
    cluster.refresh_from_db()
    revision = cluster.revisions.get(number=2)
    assert revision.submitted_via == "admin"
    assert revision.facts["groups"][0]["accelerator_count"] == 50000
    assert cluster.groups.order_by("id").first().accelerator_count == 50000
    assert [link["from"] for link in revision.facts["links"]] == [link["from"] for link in cluster.revisions.get(
        number=1).facts["links"]]


def test_an_admin_name_the_api_refuses_is_refused_in_the_admin_too(admin_client_logged_in, two_labs):
    model = AIModel.objects.get(name="Acme-1")
    response = admin_client_logged_in.post(reverse("admin:registry_aimodel_add"), form_data(
        admin_client_logged_in, reverse("admin:registry_aimodel_change", args=[model.pk])) | {"name": "acme/evil"})
    assert any("name: must not contain '/' or '@'" in m for m in error_messages(response))
    assert not AIModel.objects.filter(name__contains="evil").exists()


# --- base models of other labs (17.1) ----------------------------------------------------------------


def test_an_unreleased_model_of_another_lab_answers_as_one_that_does_not_exist(acme_api):
    def body(base: str) -> dict[str, Any]:
        return {"name": "Tuned", "version": "1", "base_model": base, "derivation": "fine_tuning"}

    missing = acme_api.post("/api/v1/models/", body("rival/Nothing@1"), format="json")
    for unreleased in ("rival/Secret@1", "rival/Unannounced@1"):
        response = acme_api.post("/api/v1/models/", body(unreleased), format="json")
        assert response.status_code == missing.status_code == 400
        assert response.json() == {**missing.json(), "errors": [
            {**error, "message": error["message"].replace("rival/Nothing@1", unreleased)}
            for error in missing.json()["errors"]]}
    assert not AIModel.objects.filter(name="Tuned").exists()
    assert acme_api.post("/api/v1/models/", body("rival/Open@1"), format="json").status_code == 201


def test_a_regulator_may_name_any_model_as_a_base(two_labs):
    result = registry_submit(document(organisations=[], models=[
        ModelRecordFactory(organisation="acme", name="Tuned", base_model="rival/Secret@1", derivation="fine_tuning")]),
        via="import")
    assert result.created["models"] == 1


def test_the_admins_base_model_field_offers_a_lab_no_other_labs_unreleased_model(acme_staff_client):
    page = acme_staff_client.get(reverse("admin:registry_aimodel_add"))
    offered = set(page.context["adminform"].form.fields["base_model"].queryset.values_list("name", flat=True))
    assert offered == {"Acme-1", "Open"}
    search = acme_staff_client.get(reverse("admin:autocomplete"), {
        "app_label": "registry", "model_name": "aimodel", "field_name": "base_model", "term": ""})
    assert {item["text"] for item in search.json()["results"]} == {"acme/Acme-1@1", "rival/Open@1"}


def test_an_admin_save_naming_another_labs_unreleased_model_is_refused_like_a_missing_one(acme_staff_client):
    model = AIModel.objects.get(name="Acme-1")
    url = reverse("admin:registry_aimodel_change", args=[model.pk])
    answers = []
    for base in (AIModel.objects.get(name="Secret").pk, 999_999):
        response = acme_staff_client.post(url, form_data(acme_staff_client, url) | {
            "base_model": str(base), "derivation": "fine_tuning"})
        assert response.status_code == 200
        answers.append(response.context["adminform"].form.errors["base_model"])
    assert answers[0] == answers[1]
    model.refresh_from_db()
    assert model.base_model is None and model.revision == 1


# --- names (17.10) -----------------------------------------------------------------------------------


def test_a_name_in_compatibility_characters_is_stored_nfkc_normalised(acme_api):
    response = acme_api.post("/api/v1/models/", {"name": "Ａｃｍｅ－２", "version": "１"}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["name"], response.json()["version"]) == ("Acme-2", "1")
