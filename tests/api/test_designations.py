"""/api/v1/designations/: a regulator records and lists; a lab lists those on its own subjects,
records none, and cannot slip one into a record it submits."""
from __future__ import annotations

import pytest

from registry.models import Designation

from .conftest import errors_by_field

pytestmark = pytest.mark.django_db

URL = "/api/v1/designations/"


def body(**fields):
    return {"subject": "model:acme/Acme-1@1", "regime": "eu-ai-act", "kind": "systemic-risk-designation",
            "decided_on": "2026-02-01", "reference": "C(2026) 1234", **fields}


def test_a_regulator_records_a_designation_once(regulator_api):
    created = regulator_api.post(URL, body(), format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert {k: data[k] for k in ("subject", "regime", "kind", "decided_on", "reference", "recorded_via", "withdrawal")} == {
        **body(), "recorded_via": "api", "withdrawal": None}
    again = regulator_api.post(URL, body(), format="json")
    assert again.status_code == 200 and again.json()["id"] == data["id"]
    assert Designation.objects.count() == 1


@pytest.mark.parametrize("role", ["lab", "rival"])
def test_a_lab_cannot_record_a_designation(world, role):
    response = world.client(role).post(URL, body(), format="json")
    assert response.status_code == 403
    assert not Designation.objects.exists()


def test_a_bad_designation_is_a_400_naming_the_field(regulator_api):
    response = regulator_api.post(URL, body(kind="covered-frontier-model"), format="json")
    assert response.status_code == 400
    assert "us-eo-14409" in errors_by_field(response)["regime"]
    response = regulator_api.post(URL, body(subject="model:rival/Nope@1"), format="json")
    assert response.status_code == 400 and "unknown subject" in errors_by_field(response)["subject"]
    assert not Designation.objects.exists()


def test_a_lab_sees_designations_on_its_own_subjects_and_never_another_labs(world, regulator_api, lab, rival):
    regulator_api.post(URL, body(), format="json")
    regulator_api.post(URL, body(subject=f"model:{world.rival_model.ref}", reference="C(2026) 5"), format="json")
    assert [d["subject"] for d in lab.get(URL).json()["results"]] == ["model:acme/Acme-1@1"]
    assert [d["subject"] for d in rival.get(URL).json()["results"]] == [f"model:{world.rival_model.ref}"]
    assert len(regulator_api.get(URL).json()["results"]) == 2
    acme_id = Designation.objects.get(model=world.acme_model).pk
    assert rival.get(f"{URL}{acme_id}/").status_code == 404
    assert lab.get(f"{URL}{acme_id}/").status_code == 200


@pytest.mark.parametrize("method", ["post", "patch"])
def test_a_labs_record_carrying_designations_is_refused_naming_the_field(world, lab, method):
    if method == "post":
        response = lab.post("/api/v1/models/", {"name": "Acme-9", "version": "1", "designations": [body()]}, format="json")
    else:
        response = lab.patch(f"/api/v1/models/{world.acme_model.pk}/", {"designations": [body()]}, format="json")
    assert response.status_code == 400
    assert "only a regulator" in errors_by_field(response)["designations"]
    assert not Designation.objects.exists()
