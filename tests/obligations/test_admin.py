"""Fulfilments and incidents in the admin: a lab member records its own subjects' (a problem shown on
its field, nothing stored), a regulator accepts or rejects with a reason; records are read-only."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from accounts.models import AuditAction, AuditEvent
from accounts.roles import assign_role_groups
from accounts.services import membership_set
from obligations.models import Fulfilment, FulfilmentReview, Incident
from registry.models import Organisation
from tests.factories import UserFactory, submit_acme_and_rival

pytestmark = pytest.mark.django_db

ACME = "model:acme/Acme-1@1"
ADD = "/admin/obligations/fulfilment/add/"


def staff(username: str, *, role: str, organisation: str | None) -> Client:
    assign_role_groups(group_model=Group, permission_model=Permission, content_type_model=ContentType)
    user = UserFactory(username=username, is_staff=True)
    membership_set(user=user, role=role, organisation=Organisation.objects.get(slug=organisation) if organisation else None)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def acme_client(db):
    submit_acme_and_rival(acme_model={"training_compute_ops": 2e26}, rival_models=("Rival-1",))
    return staff("acme-staff", role="lab", organisation="acme")


@pytest.fixture
def agency_client(acme_client):
    return staff("agency", role="regulator", organisation=None)


def form(**overrides):
    data = {"subject": ACME, "regime": "eu-ai-act", "obligation": "art-52-1-notification", "occurrence": "",
            "fulfilled_on": timezone.localdate().isoformat(), "reference": "AIO-1"}
    data.update(overrides)
    return data


def test_a_lab_member_records_a_fulfilment_with_a_document(acme_client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    page = acme_client.get(ADD)
    assert page.status_code == 200
    choices = [value for value, _label in page.context["adminform"].form.fields["subject"].choices]
    assert ACME in choices and "model:rival/Rival-1@1" not in choices
    response = acme_client.post(ADD, {**form(), "document": SimpleUploadedFile("notice.pdf", b"%PDF notice")})
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    row = Fulfilment.objects.get()
    assert (row.subject_ref, row.recorded_via, row.document_size) == (ACME, "admin", 11)
    assert AuditEvent.objects.get(action=AuditAction.FULFILMENT_RECORDED).detail["via"] == "admin"
    change = acme_client.get(f"/admin/obligations/fulfilment/{row.pk}/change/")
    assert change.status_code == 200 and b"AIO-1" in change.content
    document = acme_client.get(f"/admin/obligations/fulfilment/{row.pk}/document/")
    assert b"".join(document.streaming_content) == b"%PDF notice"
    assert f"/admin/obligations/fulfilment/{row.pk}/document/".encode() in change.content
    assert b'name="reference"' not in change.content  # read-only once written
    assert acme_client.post(f"/admin/obligations/fulfilment/{row.pk}/delete/").status_code == 403


@pytest.mark.parametrize(("overrides", "field", "words"), [
    ({"fulfilled_on": (timezone.localdate() + timedelta(days=2)).isoformat()}, "fulfilled_on", "future"),
    ({"obligation": "art-0-none"}, "obligation", "unknown obligation"),
    ({"subject": "model:rival/Rival-1@1"}, "subject", ""),
    ({"reference": ""}, "reference", ""),
])
def test_a_bad_fulfilment_is_shown_on_its_field_and_nothing_is_stored(acme_client, overrides, field, words):
    response = acme_client.post(ADD, form(**overrides))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors and words in " ".join(errors[field])
    assert Fulfilment.objects.count() == 0 and AuditEvent.objects.filter(action=AuditAction.FULFILMENT_RECORDED).count() == 0


def test_a_lab_member_records_an_incident_and_its_report(acme_client):
    today = timezone.localdate().isoformat()
    bad = acme_client.post("/admin/obligations/incident/add/", {"subject": ACME, "discovered_on": today,
                                                                "severity": "awful", "summary": "x"})
    assert "severity" in bad.context["adminform"].form.errors and Incident.objects.count() == 0
    response = acme_client.post("/admin/obligations/incident/add/", {
        "subject": ACME, "discovered_on": today, "severity": "critical", "summary": "Safeguards bypassed"})
    assert response.status_code == 302
    incident = Incident.objects.get()
    assert AuditEvent.objects.get(action=AuditAction.INCIDENT_RECORDED).detail["incident"] == incident.pk
    report = acme_client.post(ADD, form(regime="us-ca-sb53", obligation="critical-safety-incident-report",
                                        occurrence=f"incident-{incident.pk}"))
    assert report.status_code == 302
    assert Fulfilment.objects.get().incident == incident


def test_a_regulator_accepts_or_rejects_with_a_reason(acme_client, agency_client):
    acme_client.post(ADD, form())
    row = Fulfilment.objects.get()
    assert agency_client.get(ADD).status_code == 403  # a regulator records none of a lab's
    change = agency_client.get(f"/admin/obligations/fulfilment/{row.pk}/change/")
    assert b"review-fulfilment" in change.content
    url = f"/admin/obligations/fulfilment/{row.pk}/review/"
    blank = agency_client.post(url, {"decision": "rejected", "reason": ""})
    assert blank.status_code == 200 and "reason" in blank.context["form"].errors
    assert FulfilmentReview.objects.count() == 0
    assert agency_client.post(url, {"decision": "rejected", "reason": "Wrong model named"}).status_code == 302
    assert agency_client.post(url, {"decision": "accepted", "reason": "Corrected"}).status_code == 302
    assert [(r.decision, r.reason, r.reviewed_via) for r in FulfilmentReview.objects.order_by("pk")] == [
        ("rejected", "Wrong model named", "admin"), ("accepted", "Corrected", "admin")]
    assert AuditEvent.objects.filter(action=AuditAction.FULFILMENT_REVIEWED).count() == 2
    assert b"Wrong model named" in agency_client.get(f"/admin/obligations/fulfilment/{row.pk}/change/").content


def test_a_lab_member_cannot_review(acme_client):
    acme_client.post(ADD, form())
    row = Fulfilment.objects.get()
    assert b"review-fulfilment" not in acme_client.get(f"/admin/obligations/fulfilment/{row.pk}/change/").content
    response = acme_client.post(f"/admin/obligations/fulfilment/{row.pk}/review/", {"decision": "accepted", "reason": "ok"})
    assert response.status_code == 403
    assert FulfilmentReview.objects.count() == 0


def test_another_labs_fulfilment_is_not_found(acme_client):
    rival = staff("rival-staff", role="lab", organisation="rival")
    acme_client.post(ADD, form())
    row = Fulfilment.objects.get()
    assert rival.get(f"/admin/obligations/fulfilment/{row.pk}/change/").status_code == 404
    assert b"AIO-1" not in rival.get("/admin/obligations/fulfilment/").content
