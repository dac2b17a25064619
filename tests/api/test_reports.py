"""`reports/`: request a report, poll it, download the file whose SHA-256 the record states; a lab
member sees and requests only its own subjects' audit reports."""
from __future__ import annotations

import hashlib

import pytest

from reports.models import ReportArtifact
from reports.services import artifact_build, report_generate

pytestmark = pytest.mark.django_db

AUDIT = {"kind": "audit", "format": "html", "subject": "model:acme/Acme-1@1", "as_of": "2026-03-01"}


def fields(response):
    return {error["field"] for error in response.json()["errors"]}


def test_a_regulator_requests_polls_and_downloads_an_audit_report(world, django_capture_on_commit_callbacks):
    client = world.client("regulator")
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post("/api/v1/reports/", AUDIT, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "pending" and body["download_url"] is None
    assert response["Location"] == body["url"]
    pending = client.get(f"{body['url']}download/")
    assert pending.status_code == 409
    artifact_build(artifact_id=body["id"])
    record = client.get(body["url"]).json()
    assert record["status"] == "done" and len(record["sha256"]) == 64
    download = client.get(record["download_url"])
    assert download.status_code == 200
    content = b"".join(download.streaming_content)
    assert hashlib.sha256(content).hexdigest() == record["sha256"] == download["X-Report-SHA256"]
    assert b"Acme-1" in content


def test_a_lab_sees_its_own_audit_reports_and_not_another_labs(world):
    own = report_generate(kind="audit", format="html", subject="model:acme/Acme-1@1", as_of="2026-03-01")
    rival = report_generate(kind="audit", format="html", subject="model:rival/Rival-1@1", as_of="2026-03-01")
    registry = report_generate(kind="registry", format="csv", as_of="2026-03-01")
    lab = world.client("lab")
    listed = {item["id"] for item in lab.get("/api/v1/reports/").json()["results"]}
    assert listed == {own.pk}
    assert lab.get(f"/api/v1/reports/{rival.pk}/").status_code == 404
    assert lab.get(f"/api/v1/reports/{rival.pk}/download/").status_code == 404
    assert lab.get(f"/api/v1/reports/{registry.pk}/").status_code == 404
    assert lab.get(f"/api/v1/reports/{own.pk}/download/").status_code == 200
    regulator = {item["id"] for item in world.client("regulator").get("/api/v1/reports/").json()["results"]}
    assert regulator == {own.pk, rival.pk, registry.pk}


def test_a_lab_may_request_only_its_own_subjects_audit(world):
    lab = world.client("lab")
    before = ReportArtifact.objects.count()
    other = lab.post("/api/v1/reports/", {**AUDIT, "subject": "model:rival/Rival-1@1"}, format="json")
    assert other.status_code == 400 and fields(other) == {"subject"}
    registry = lab.post("/api/v1/reports/", {"kind": "registry", "format": "pdf", "as_of": "2026-03-01"}, format="json")
    assert registry.status_code == 400 and fields(registry) == {"kind"}
    assert ReportArtifact.objects.count() == before
    assert lab.post("/api/v1/reports/", AUDIT, format="json").status_code == 202


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "novel", "format": "pdf"}, "kind"),
        ({**AUDIT, "format": "docx"}, "format"),
        ({"kind": "audit", "format": "pdf", "subject": "model:acme/Acme-1@1"}, "as_of"),
        ({**AUDIT, "as_of": "2026-02-30"}, "as_of"),
        ({**AUDIT, "subject": "model:acme/Nope@1"}, "subject"),
        ({"kind": "changes", "format": "html", "run": 999999}, "run"),
    ],
)
def test_bad_report_requests_are_400_naming_the_field(world, body, field):
    before = ReportArtifact.objects.count()
    response = world.client("regulator").post("/api/v1/reports/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in fields(response)
    assert ReportArtifact.objects.count() == before


def test_reports_need_an_api_role(world):
    assert world.client("anonymous").get("/api/v1/reports/").status_code == 401
    assert world.client("no_role").get("/api/v1/reports/").status_code == 403
    assert world.client("no_role").post("/api/v1/reports/", AUDIT, format="json").status_code == 403
