"""Fulfilments of obligations and incidents through the API: a lab records its own, a regulator
reviews; every refusal names its field and stores nothing."""
from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import AuditAction, AuditEvent
from obligations.models import Fulfilment, FulfilmentReview, Incident

from .conftest import errors_by_field

pytestmark = pytest.mark.django_db

ACME = "model:acme/Acme-1@1"
RIVAL = "model:rival/Rival-1@1"


def fulfilment(**overrides):
    body = {"subject": ACME, "regime": "eu-ai-act", "obligation": "art-52-1-notification",
            "fulfilled_on": timezone.localdate().isoformat(), "reference": "AIO-2026-0042"}
    body.update(overrides)
    return body


def counts():
    return (Fulfilment.objects.count(), FulfilmentReview.objects.count(), Incident.objects.count(),
            AuditEvent.objects.count())


def test_lab_records_a_fulfilment_with_its_audit_event(lab):
    response = lab.post("/api/v1/fulfilments/", fulfilment(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["subject"], body["regime"], body["obligation"], body["reference"]) == (
        ACME, "eu-ai-act", "art-52-1-notification", "AIO-2026-0042")
    assert body["accepted"] is None and body["reviews"] == [] and body["recorded_via"] == "api"
    event = AuditEvent.objects.get(action=AuditAction.FULFILMENT_RECORDED)
    assert event.subject == ACME and event.detail["fulfilment"] == body["id"] and event.detail["via"] == "api"
    assert event.actor.username.startswith("lab-acme")


def test_lab_uploads_a_document_kept_with_its_sha256(lab, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    content = b"%PDF-1.4 notification to the AI Office\n"
    upload = SimpleUploadedFile("../../etc/Notification letter (final).pdf", content, content_type="application/pdf")
    response = lab.post("/api/v1/fulfilments/", {**fulfilment(), "document": upload}, format="multipart")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["document_sha256"] == hashlib.sha256(content).hexdigest()
    assert body["document_size"] == len(content)
    assert body["document_name"] == "Notification_letter_final.pdf"
    stored = Fulfilment.objects.get(pk=body["id"])
    path = tmp_path / stored.document.name
    assert path.read_bytes() == content
    assert path.resolve().is_relative_to(tmp_path.resolve())


def test_a_document_over_the_limit_is_refused_and_not_kept(lab, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.FULFILMENT_DOCUMENT_MAX_BYTES = 10
    before = counts()
    upload = SimpleUploadedFile("big.pdf", b"x" * 11)
    response = lab.post("/api/v1/fulfilments/", {**fulfilment(), "document": upload}, format="multipart")
    assert response.status_code == 400
    assert "at most 10 bytes" in errors_by_field(response)["document"]
    assert counts() == before
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


@pytest.mark.parametrize(("overrides", "field", "words"), [
    ({"fulfilled_on": (timezone.localdate() + timedelta(days=1)).isoformat()}, "fulfilled_on", "future"),
    ({"fulfilled_on": "2026-13-01"}, "fulfilled_on", "YYYY-MM-DD"),
    ({"fulfilled_on": 20260301}, "fulfilled_on", "must be a date"),
    ({"fulfilled_on": "20260301"}, "fulfilled_on", "must be a date"),
    ({"obligation": "art-99-nothing"}, "obligation", "unknown obligation"),
    ({"regime": "no-such-regime"}, "regime", "unknown regime"),
    ({"subject": RIVAL}, "subject", "unknown subject"),
    ({"subject": "model:acme/Nope@1"}, "subject", "unknown subject"),
    ({"reference": "  "}, "reference", "required"),
    ({"reference": None}, "reference", "required"),
    ({"occurrence": "2027-Q1"}, "occurrence", "owed once"),
])
def test_a_bad_fulfilment_names_its_field_and_stores_nothing(lab, overrides, field, words):
    before = counts()
    body = fulfilment(**overrides)
    if overrides.get("reference", "") is None:
        del body["reference"]
    response = lab.post("/api/v1/fulfilments/", body, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["detail"].endswith("nothing was stored")
    assert words in errors_by_field(response)[field]
    assert counts() == before


def test_an_incident_report_names_an_incident_of_its_own_subject(lab, world):
    today = timezone.localdate().isoformat()
    incident = lab.post("/api/v1/incidents/", {"subject": ACME, "discovered_on": today, "severity": "critical",
                                               "summary": "Safeguards bypassed in deployment"}, format="json")
    assert incident.status_code == 201, incident.json()
    occurrence = incident.json()["occurrence"]
    assert occurrence == f"incident-{incident.json()['id']}"
    report = dict(fulfilment(regime="us-ca-sb53", obligation="critical-safety-incident-report"))
    before = counts()
    missing = lab.post("/api/v1/fulfilments/", report, format="json")
    assert "incident-<id>" in errors_by_field(missing)["occurrence"]
    unknown = lab.post("/api/v1/fulfilments/", {**report, "occurrence": "incident-999999"}, format="json")
    assert "no incident 999999" in errors_by_field(unknown)["occurrence"]
    assert counts() == before
    done = lab.post("/api/v1/fulfilments/", {**report, "occurrence": occurrence}, format="json")
    assert done.status_code == 201, done.json()
    assert Fulfilment.objects.get(pk=done.json()["id"]).incident_id == incident.json()["id"]


def test_another_labs_incident_is_not_an_occurrence_of_this_subject(lab, rival, world):
    today = timezone.localdate().isoformat()
    theirs = rival.post("/api/v1/incidents/", {"subject": RIVAL, "discovered_on": today, "severity": "serious",
                                               "summary": "An outage"}, format="json")
    assert theirs.status_code == 201
    before = counts()
    response = lab.post("/api/v1/fulfilments/", fulfilment(
        regime="us-ca-sb53", obligation="critical-safety-incident-report",
        occurrence=theirs.json()["occurrence"]), format="json")
    assert response.status_code == 400
    assert "occurrence" in errors_by_field(response)
    assert counts() == before


@pytest.mark.parametrize(("overrides", "field"), [
    ({"discovered_on": (timezone.localdate() + timedelta(days=1)).isoformat()}, "discovered_on"),
    ({"severity": "mild"}, "severity"),
    ({"summary": ""}, "summary"),
    ({"subject": RIVAL}, "subject"),
])
def test_a_bad_incident_names_its_field_and_stores_nothing(lab, overrides, field):
    before = counts()
    body = {"subject": ACME, "discovered_on": timezone.localdate().isoformat(), "severity": "critical",
            "summary": "Safeguards bypassed", **overrides}
    response = lab.post("/api/v1/incidents/", body, format="json")
    assert response.status_code == 400
    assert field in errors_by_field(response)
    assert counts() == before


def test_a_lab_lists_only_its_own_fulfilments_and_incidents(lab, rival, regulator_api):
    assert lab.post("/api/v1/fulfilments/", fulfilment(), format="json").status_code == 201
    assert rival.post("/api/v1/fulfilments/", fulfilment(subject=RIVAL, reference="R-1"), format="json").status_code == 201
    today = timezone.localdate().isoformat()
    assert rival.post("/api/v1/incidents/", {"subject": RIVAL, "discovered_on": today, "severity": "serious",
                                             "summary": "An outage"}, format="json").status_code == 201
    mine = lab.get("/api/v1/fulfilments/").json()["results"]
    assert [row["subject"] for row in mine] == [ACME]
    assert lab.get("/api/v1/incidents/").json()["results"] == []
    everything = regulator_api.get("/api/v1/fulfilments/").json()["results"]
    assert sorted(row["subject"] for row in everything) == sorted([ACME, RIVAL])
    assert regulator_api.get(f"/api/v1/fulfilments/?subject={RIVAL}").json()["results"][0]["reference"] == "R-1"
    theirs = Fulfilment.objects.get(reference="R-1")
    assert lab.get(f"/api/v1/fulfilments/{theirs.pk}/").status_code == 404


def test_a_regulator_records_no_fulfilment(regulator_api):
    before = counts()
    response = regulator_api.post("/api/v1/fulfilments/", fulfilment(), format="json")
    assert response.status_code == 403
    assert counts() == before


def test_a_regulator_reviews_and_a_later_review_is_a_new_row(lab, regulator_api):
    made = lab.post("/api/v1/fulfilments/", fulfilment(), format="json").json()
    url = f"/api/v1/fulfilments/{made['id']}/review/"
    rejected = regulator_api.post(url, {"decision": "rejected", "reason": "The notice names the wrong model"},
                                  format="json")
    assert rejected.status_code == 201, rejected.json()
    assert rejected.json()["accepted"] is False
    accepted = regulator_api.post(url, {"decision": "accepted", "reason": "Corrected notice received"}, format="json")
    assert accepted.json()["accepted"] is True
    assert [r["decision"] for r in accepted.json()["reviews"]] == ["rejected", "accepted"]
    assert FulfilmentReview.objects.filter(fulfilment_id=made["id"]).count() == 2
    events = AuditEvent.objects.filter(action=AuditAction.FULFILMENT_REVIEWED).order_by("pk")
    assert [e.detail["decision"] for e in events] == ["rejected", "accepted"]
    assert lab.get(f"/api/v1/fulfilments/{made['id']}/").json()["accepted"] is True


def test_a_lab_cannot_review_and_nothing_is_stored(lab):
    made = lab.post("/api/v1/fulfilments/", fulfilment(), format="json").json()
    before = counts()
    response = lab.post(f"/api/v1/fulfilments/{made['id']}/review/", {"decision": "accepted", "reason": "ok"},
                        format="json")
    assert response.status_code == 403
    assert "regulator" in response.json()["detail"]
    assert counts() == before


@pytest.mark.parametrize(("body", "field"), [
    ({"decision": "maybe", "reason": "x"}, "decision"),
    ({"decision": "rejected", "reason": " "}, "reason"),
])
def test_a_bad_review_names_its_field_and_stores_nothing(lab, regulator_api, body, field):
    made = lab.post("/api/v1/fulfilments/", fulfilment(), format="json").json()
    before = counts()
    response = regulator_api.post(f"/api/v1/fulfilments/{made['id']}/review/", body, format="json")
    assert response.status_code == 400
    assert field in errors_by_field(response)
    assert counts() == before


def test_a_retried_fulfilment_with_the_same_idempotency_key_is_recorded_once(lab):
    first = lab.post("/api/v1/fulfilments/", fulfilment(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = lab.post("/api/v1/fulfilments/", fulfilment(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    assert Fulfilment.objects.count() == 1


def test_a_recorded_fulfilment_brings_the_obligations_state_up_to_date(lab, regulator_api):
    from obligations.models import ObligationState, ObligationStatusChange

    key = {"subject_ref": ACME, "regime": "eu-ai-act", "obligation": "art-52-1-notification", "occurrence": ""}
    made = lab.post("/api/v1/fulfilments/", fulfilment(), format="json").json()
    state = ObligationState.objects.get(**key)
    assert state.status in ("fulfilled", "fulfilled_late") and state.as_of == timezone.localdate()
    assert ObligationStatusChange.objects.filter(**key, to_status=state.status).exists()
    regulator_api.post(f"/api/v1/fulfilments/{made['id']}/review/", {"decision": "rejected", "reason": "Not filed"},
                       format="json")
    state.refresh_from_db()
    assert state.status not in ("fulfilled", "fulfilled_late")  # a rejected fulfilment does not stand


def test_an_obligation_of_another_kind_of_subject_is_refused(lab):
    before = counts()
    response = lab.post("/api/v1/fulfilments/", fulfilment(subject="organisation:acme"), format="json")
    assert response.status_code == 400
    assert "owed by a model, not by an organisation" in errors_by_field(response)["subject"]
    assert counts() == before


def test_an_incident_report_is_owed_for_its_severities_and_after_the_discovery(lab):
    today = timezone.localdate()
    serious = lab.post("/api/v1/incidents/", {"subject": ACME, "discovered_on": today.isoformat(),
                                              "severity": "serious", "summary": "An outage"}, format="json").json()
    critical = lab.post("/api/v1/incidents/", {"subject": ACME, "discovered_on": today.isoformat(),
                                               "severity": "critical", "summary": "Safeguards bypassed"},
                        format="json").json()
    report = fulfilment(regime="us-ca-sb53", obligation="critical-safety-incident-report")
    before = counts()
    response = lab.post("/api/v1/fulfilments/", {**report, "occurrence": serious["occurrence"]}, format="json")
    assert "serious incident" in errors_by_field(response)["occurrence"]
    early = lab.post("/api/v1/fulfilments/", {**report, "occurrence": critical["occurrence"],
                                              "fulfilled_on": (today - timedelta(days=1)).isoformat()}, format="json")
    assert "before incident" in errors_by_field(early)["fulfilled_on"]
    assert counts() == before


def test_the_document_is_read_back_as_uploaded_by_its_lab_and_regulators_only(lab, rival, regulator_api, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    content = b"%PDF-1.4 the filing\n"
    made = lab.post("/api/v1/fulfilments/", {**fulfilment(), "document": SimpleUploadedFile("filing.pdf", content)},
                    format="multipart").json()
    url = f"/api/v1/fulfilments/{made['id']}/document/"
    for client in (lab, regulator_api):
        response = client.get(url)
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == content
        assert response["X-Document-SHA256"] == hashlib.sha256(content).hexdigest()
        assert 'filename="filing.pdf"' in response["Content-Disposition"]
    assert rival.get(url).status_code == 404
    without = lab.post("/api/v1/fulfilments/", fulfilment(reference="no-doc"), format="json").json()
    assert lab.get(f"/api/v1/fulfilments/{without['id']}/document/").status_code == 404


def test_a_document_changed_on_disk_is_refused(lab, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    made = lab.post("/api/v1/fulfilments/", {**fulfilment(), "document": SimpleUploadedFile("f.pdf", b"original")},
                    format="multipart").json()
    stored = Fulfilment.objects.get(pk=made["id"])
    (tmp_path / stored.document.name).write_bytes(b"tampered")
    response = lab.get(f"/api/v1/fulfilments/{made['id']}/document/")
    assert response.status_code == 409 and "does not match its SHA-256" in response.json()["detail"]
