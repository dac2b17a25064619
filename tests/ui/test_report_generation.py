"""Generating the registry and audit reports from the workspace: the form queues them through the
reports service (as the API does), the page follows each build's progress to its download link, and a
lab member generates audit reports of its own subjects and registry reports of its organisation's
view only."""
from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from django.urls import reverse

from reports.models import ArtifactStatus, ReportArtifact
from reports.services import artifact_build
from rules.models import Determination
from rules.models.runs import Trigger
from rules.services import chunk_execute, run_create
from tests.ui.conftest import today
from tests.ui.test_release_scope import lineage  # noqa: F401  (a fixture: acme's model resting on beta's unreleased one)
from workspace.admin.reports import report_progress

pytestmark = pytest.mark.django_db

GENERATE = "admin:reports_reportartifact_generate"


def progress(client, artifact: ReportArtifact) -> dict:
    response = client.get(reverse("admin:reports_reportartifact_progress", args=[artifact.pk]))
    assert response.status_code == 200
    return response.json()


def test_the_reports_list_offers_the_form(agency_client, workspace_registry):
    page = agency_client.get(reverse("admin:reports_reportartifact_changelist")).content.decode()
    assert f'href="{reverse(GENERATE)}"' in page and "Generate a report</a>" in page
    form = agency_client.get(reverse(GENERATE)).content.decode()
    assert 'name="kind"' in form and "Registry report" in form and f'value="{today().isoformat()}"' in form


def test_a_regulator_queues_a_registry_report_and_follows_it_to_its_download(
        agency_client, workspace_registry, agency, django_capture_on_commit_callbacks, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    with django_capture_on_commit_callbacks() as queued:
        response = agency_client.post(reverse(GENERATE), {"kind": "registry", "as_of": today().isoformat(),
                                                          "format": "html", "subjects": ""})
    (artifact,) = ReportArtifact.objects.all()
    assert response.status_code == 302 and response["Location"] == f"{reverse(GENERATE)}?report={artifact.pk}"
    assert len(queued) == 1  # the build is sent once the request's transaction commits
    assert (artifact.kind, artifact.format, artifact.parameters["as_of"], artifact.requested_by) == (
        "registry", "html", today().isoformat(), agency)

    page = agency_client.get(response["Location"]).content.decode()
    assert f'data-report-progress-url="{reverse("admin:reports_reportartifact_progress", args=[artifact.pk])}"' in page
    assert "report_progress.js" in page
    before = progress(agency_client, artifact)
    assert (before["status"], before["percent"], before["finished"], before["download_url"]) == ("pending", 0.0, False, None)

    artifact_build(artifact_id=artifact.pk)  # what the worker the message went to does
    after = progress(agency_client, artifact)
    assert (after["status"], after["percent"], after["finished"]) == ("done", 100.0, True)
    download = agency_client.get(after["download_url"])
    assert download.status_code == 200
    assert b"Registry report as of " + today().isoformat().encode() in b"".join(download.streaming_content)
    page = agency_client.get(response["Location"]).content.decode()
    assert "data-report-progress-url" not in page and f'href="{after["download_url"]}"' in page


def test_the_progress_is_the_run_recording_the_reports_determinations(agency_client, workspace_registry):
    as_of = date(2025, 6, 1)  # nothing recorded yet on this date
    artifact = ReportArtifact.objects.create(kind="audit", format="html", parameters={
        "subject": "model:acme/Mid@1", "as_of": as_of.isoformat()})
    run = run_create(kind=Trigger.MANUAL, as_of=as_of, subjects=["model:acme/Mid@1", "model:acme/Small@1"], chunk_size=1)
    ReportArtifact.objects.filter(pk=artifact.pk).update(run=run)
    first = progress(agency_client, artifact)
    assert (first["percent"], first["stage"]) == (0.0, "recording determinations: 0 of 2 subjects")
    chunk_execute(chunk_id=run.chunks.order_by("index").first().pk)
    middle = progress(agency_client, artifact)
    assert (middle["percent"], middle["stage"], middle["finished"]) == (50.0, "recording determinations: 1 of 2 subjects", False)


def test_building_an_audit_report_links_the_run_that_recorded_its_determinations(workspace_registry, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    as_of = date(2025, 6, 1)
    assert not Determination.objects.filter(subject_ref="model:acme/Mid@1", as_of=as_of).exists()
    artifact = ReportArtifact.objects.create(kind="audit", format="html", parameters={
        "subject": "model:acme/Mid@1", "as_of": as_of.isoformat()})
    built = artifact_build(artifact_id=artifact.pk)
    assert built.status == ArtifactStatus.DONE
    assert built.run is not None and built.run.as_of == as_of and built.run.subjects == ["model:acme/Mid@1"]
    assert Determination.objects.filter(subject_ref="model:acme/Mid@1", as_of=as_of, run=built.run).exists()
    assert report_progress(ReportArtifact.objects.get(pk=artifact.pk))["percent"] == 100.0


def test_a_lab_member_queues_an_audit_report_of_its_own_subject_and_downloads_it(
        acme_client, acme_staff, django_capture_on_commit_callbacks, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    form = acme_client.get(reverse(GENERATE)).content.decode()
    assert "every subject" not in form and "Audit report" in form
    with django_capture_on_commit_callbacks() as queued:
        response = acme_client.post(reverse(GENERATE), {"kind": "audit", "as_of": today().isoformat(), "format": "html",
                                                        "subjects": "model:acme/Mid@1\ncluster:acme/Hall A\n"})
    assert response.status_code == 302 and len(queued) == 2
    artifacts = list(ReportArtifact.objects.order_by("id"))
    assert [a.parameters["subject"] for a in artifacts] == ["model:acme/Mid@1", "cluster:acme/Hall A"]
    artifact_build(artifact_id=artifacts[0].pk)
    done = progress(acme_client, artifacts[0])
    assert done["status"] == "done"
    assert acme_client.get(done["download_url"]).status_code == 200


@pytest.mark.parametrize("subjects", ["model:beta/Secret@1", "model:acme/Mid@1\nmodel:beta/Secret@1"])
def test_a_lab_member_is_refused_another_organisations_subject_and_nothing_is_queued(
        acme_client, django_capture_on_commit_callbacks, subjects):
    with django_capture_on_commit_callbacks() as queued:
        response = acme_client.post(reverse(GENERATE), {"kind": "audit", "as_of": today().isoformat(),
                                                        "format": "pdf", "subjects": subjects})
    assert response.status_code == 200
    assert "unknown subject(s): model:beta/Secret@1" in response.content.decode()
    assert ReportArtifact.objects.count() == 0 and queued == []


def csv_subjects(artifact: ReportArtifact) -> dict[str, set[str]]:
    """organisation -> the subjects of a built CSV report."""
    rows = csv.DictReader(io.StringIO(artifact.file.open("rb").read().decode("utf-8")))
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row["organisation"], set()).add(row["subject"])
    return found


def test_a_lab_members_registry_report_is_its_organisations_view(
        acme_client, acme_staff, lineage, django_capture_on_commit_callbacks, settings, tmp_path):  # noqa: F811
    settings.MEDIA_ROOT = tmp_path
    form = acme_client.get(reverse(GENERATE)).content.decode()
    assert "Registry report (your organisation&#x27;s subjects)" in form and "every subject" not in form
    with django_capture_on_commit_callbacks() as queued:
        response = acme_client.post(reverse(GENERATE), {"kind": "registry", "as_of": today().isoformat(),
                                                        "format": "csv", "subjects": ""})
    assert response.status_code == 302 and len(queued) == 1
    (artifact,) = ReportArtifact.objects.filter(kind="registry")
    assert artifact.parameters == {"as_of": today().isoformat(), "organisation": "acme"}
    built = artifact_build(artifact_id=artifact.pk)
    subjects = csv_subjects(built)
    assert set(subjects) == {"acme"}
    assert "model:acme/Mid@1" in subjects["acme"]
    assert "model:acme/Acme-FT@1" not in subjects["acme"]  # it rests on beta's model not yet released
    assert acme_client.get(progress(acme_client, artifact)["download_url"]).status_code == 200

    whole = artifact_build(artifact_id=ReportArtifact.objects.create(
        kind="registry", format="csv", parameters={"as_of": today().isoformat()}).pk)
    everything = csv_subjects(whole)
    assert set(everything) == {"acme", "beta"} and "model:acme/Acme-FT@1" in everything["acme"]
    # the whole registry's report is not the lab's to follow
    response = acme_client.get(reverse("admin:reports_reportartifact_progress", args=[whole.pk]))
    assert response.status_code == 404


def test_an_organisations_registry_report_says_whose_subjects_it_holds(workspace_registry, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    built = artifact_build(artifact_id=ReportArtifact.objects.create(
        kind="registry", format="html", parameters={"as_of": today().isoformat(), "organisation": "beta"}).pk)
    html = built.file.open("rb").read().decode("utf-8")
    assert f"Registry report as of {today().isoformat()}: the subjects of beta" in html
    assert "The subjects of beta only" in html
    assert "model:beta/Secret@1" in html
    assert "model:acme/" not in html


def test_a_lab_member_cannot_follow_another_organisations_report(acme_client):
    other = ReportArtifact.objects.create(kind="audit", format="html", parameters={
        "subject": "model:beta/Secret@1", "as_of": today().isoformat()})
    response = acme_client.get(reverse("admin:reports_reportartifact_progress", args=[other.pk]))
    assert response.status_code == 404


def test_an_unknown_subject_among_several_queues_none_of_them(agency_client, workspace_registry,
                                                              django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as queued:
        response = agency_client.post(reverse(GENERATE), {
            "kind": "audit", "as_of": today().isoformat(), "format": "pdf",
            "subjects": "model:acme/Mid@1\nmodel:acme/Nonesuch@1"}, follow=True)
    page = response.content.decode()
    assert "Nothing was queued: subject: unknown subject(s): model:acme/Nonesuch@1" in page
    assert ReportArtifact.objects.count() == 0 and queued == []


def test_more_reports_than_may_wait_at_once_queues_none(agency_client, workspace_registry, settings,
                                                        django_capture_on_commit_callbacks):
    settings.REPORT_MAX_PENDING = 1
    with django_capture_on_commit_callbacks() as queued:
        response = agency_client.post(reverse(GENERATE), {
            "kind": "audit", "as_of": today().isoformat(), "format": "pdf",
            "subjects": "model:acme/Mid@1\nmodel:acme/Small@1"}, follow=True)
    assert "Nothing was queued: 1 of your reports are still being built" in response.content.decode()
    assert ReportArtifact.objects.count() == 0 and queued == []


@pytest.mark.parametrize(("fields", "words"), [
    ({"as_of": "2024-02-30"}, "Enter a valid date."),
    ({"subjects": ""}, "required for an audit report: at least one subject"),
    ({"subjects": "model:acme"}, "model:acme"),
])
def test_a_bad_request_is_shown_on_its_field(agency_client, workspace_registry, fields, words):
    data = {"kind": "audit", "as_of": today().isoformat(), "format": "pdf", "subjects": "model:acme/Mid@1", **fields}
    response = agency_client.post(reverse(GENERATE), data)
    assert response.status_code == 200 and words in response.content.decode()
    assert ReportArtifact.objects.count() == 0
