"""Designations in the workspace: a regulator records one with a form whose errors name the field,
sees it on the subject page and withdraws one recorded in error; a lab member sees those on its
own subjects and records none."""
from __future__ import annotations

import pytest
from django.urls import reverse

from registry.models import AIModel, Designation
from registry.services import designation_record

pytestmark = pytest.mark.django_db

ADD = "admin:registry_designation_add"


def frontier() -> AIModel:
    return AIModel.objects.get(name="Frontier")


def form_data(**fields):
    return {"model": frontier().pk, "regime": "eu-ai-act", "kind": "systemic-risk-designation",
            "decided_on": "2026-02-01", "reference": "C(2026) 1234", **fields}


def test_a_regulator_records_a_designation_and_sees_it_on_the_subject_page(agency_client, workspace_registry):
    response = agency_client.post(reverse(ADD), form_data())
    assert response.status_code == 302, response.content.decode()[:2000]
    row = Designation.objects.get()
    assert (row.model, row.kind, row.recorded_via, row.recorded_by.username) == (
        frontier(), "systemic-risk-designation", "admin", "agency")
    page = agency_client.get(reverse("admin:registry_aimodel_change", args=[frontier().pk])).content.decode()
    assert "Designations (recorded by a regulator)" in page and "C(2026) 1234" in page
    assert 'id="record-designation"' in page


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"regime": "us-eo-14409"}, "regime", "taken under &#x27;eu-ai-act&#x27;"),
    ({"decided_on": "2026-02-30"}, "decided_on", "Enter a valid date"),
    ({"reference": ""}, "reference", "This field is required"),
    ({"model": ""}, "model", "This field is required"),
])
def test_a_bad_designation_is_refused_with_the_error_on_its_field(agency_client, workspace_registry, fields, field, words):
    response = agency_client.post(reverse(ADD), form_data(**fields))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert words in response.content.decode()
    assert not Designation.objects.exists()


def test_a_regulator_withdraws_a_designation_recorded_in_error(agency_client, workspace_registry):
    row, _ = designation_record(record={"subject": frontier().subject_ref, "regime": "eu-ai-act",
                                        "kind": "systemic-risk-designation", "decided_on": "2026-02-01",
                                        "reference": "C(2026) 1234"}, actor=None, via="import")
    url = reverse("admin:registry_designation_withdraw", args=[row.pk])
    assert agency_client.post(url, {"reason": ""}).status_code == 200  # a reason is required
    assert agency_client.post(url, {"reason": "recorded against the wrong model"}).status_code == 302
    assert Designation.objects.get().withdrawal.reason == "recorded against the wrong model"
    page = agency_client.get(reverse("admin:registry_aimodel_change", args=[frontier().pk])).content.decode()
    assert "withdrawn (recorded in error)" in page


def test_a_lab_member_sees_its_own_designations_and_records_none(acme_client, workspace_registry):
    own, _ = designation_record(record={"subject": frontier().subject_ref, "regime": "eu-ai-act",
                                        "kind": "rebuttal-accepted", "decided_on": "2026-03-01",
                                        "reference": "C(2026) 2001"}, actor=None, via="import")
    other, _ = designation_record(record={"subject": "model:beta/Secret@1", "regime": "eu-ai-act",
                                          "kind": "systemic-risk-designation", "decided_on": "2026-03-01",
                                          "reference": "C(2026) 3001"}, actor=None, via="import")
    assert acme_client.get(reverse(ADD)).status_code == 403
    assert acme_client.post(reverse(ADD), form_data()).status_code == 403
    assert acme_client.post(reverse("admin:registry_designation_withdraw", args=[own.pk]), {"reason": "x"}).status_code == 403
    listing = acme_client.get(reverse("admin:registry_designation_changelist")).content.decode()
    assert "C(2026) 2001" in listing and "C(2026) 3001" not in listing
    assert acme_client.get(reverse("admin:registry_designation_change", args=[other.pk])).status_code in (302, 404)
    page = acme_client.get(reverse("admin:registry_aimodel_change", args=[frontier().pk])).content.decode()
    assert "C(2026) 2001" in page and 'id="record-designation"' not in page
    assert Designation.objects.count() == 2
