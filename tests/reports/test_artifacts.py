"""Stored reports: the Celery task stores the file with its SHA-256, the admin lists and streams
it to those allowed, and a file that no longer matches its hash is refused."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.db import connection, transaction

from reports.models import ArtifactStatus, ReportArtifact
from reports.selectors import artifact_for_download
from reports.services import artifact_create, report_generate, report_request
from reports.tasks import generate_report

from .builders import AS_OF, FRONTIER, GENERATED_AT, build_registry

REPO = Path(__file__).resolve().parents[2]


def file_digest(artifact: ReportArtifact) -> str:
    with artifact.file.open("rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


@pytest.mark.django_db
def test_celery_task_stores_the_report_with_its_sha256(registry):
    artifact = artifact_create(kind="audit", format="html", subject=FRONTIER, as_of=AS_OF, generated_at=GENERATED_AT)
    assert artifact.status == ArtifactStatus.PENDING
    assert generate_report.apply(args=[artifact.pk]).get() == ArtifactStatus.DONE
    artifact.refresh_from_db()
    assert artifact.sha256 == file_digest(artifact) and artifact.size == artifact.file.size > 0
    assert artifact.filename == f"audit-model-acme-frontier-1-1-{AS_OF.isoformat()}-{artifact.pk}.html"
    assert Path(artifact.file.path).is_relative_to(Path(artifact.file.storage.location) / "reports")


@pytest.mark.django_db
def test_a_report_of_something_unknown_fails_with_the_reason(registry):
    artifact = artifact_create(kind="changes", format="html", run=registry.pk)
    registry_run_id = artifact.parameters["run"]
    ReportArtifact.objects.filter(pk=artifact.pk).update(parameters={"run": registry_run_id + 1000})
    assert generate_report.apply(args=[artifact.pk]).get() == ArtifactStatus.FAILED
    artifact.refresh_from_db()
    assert artifact.error.startswith("run: no evaluation run") and not artifact.file


@pytest.mark.django_db
def test_admin_lists_and_streams_a_report_to_those_allowed(registry, admin_client_logged_in, client, django_user_model):
    artifact = report_generate(kind="registry", format="csv", as_of=AS_OF)
    listing = admin_client_logged_in.get("/admin/reports/reportartifact/")
    url = f"/admin/reports/reportartifact/{artifact.pk}/download/"
    assert listing.status_code == 200 and url in listing.content.decode()
    response = admin_client_logged_in.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{artifact.filename}"'
    body = b"".join(response.streaming_content)
    assert hashlib.sha256(body).hexdigest() == artifact.sha256 == response["X-Report-SHA256"]

    clerk = django_user_model.objects.create_user("clerk", password="a-long-test-password", is_staff=True)
    client.force_login(clerk)
    assert client.get(url).status_code == 403
    clerk.user_permissions.add(Permission.objects.get(codename="view_reportartifact"))
    clerk = django_user_model.objects.get(pk=clerk.pk)
    assert artifact_for_download(artifact_id=artifact.pk, user=clerk) == artifact
    assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_a_tampered_file_is_refused(registry, admin_client_logged_in):
    artifact = report_generate(kind="export", format="json", regime="us-eo-14110")
    with open(artifact.file.path, "ab") as handle:
        handle.write(b" ")
    response = admin_client_logged_in.get(f"/admin/reports/reportartifact/{artifact.pk}/download/")
    assert response.status_code == 409 and b"does not match its SHA-256" in response.content


SERVICES = os.environ.get("REDIS_URL") and os.environ.get("DATABASE_URL", "").startswith("postgres")


@pytest.mark.services
@pytest.mark.skipif(not SERVICES, reason="needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_builds_a_requested_report(settings, tmp_path):
    build_registry(frozen=False)
    with transaction.atomic():
        artifact = report_request(kind="audit", format="pdf", subject=FRONTIER, as_of=AS_OF)
    db = connection.settings_dict
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "MEDIA_ROOT": settings.MEDIA_ROOT, "CELERY_TASK_ALWAYS_EAGER": "0"}
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--without-gossip",
             "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + 120  # a bound, not a timing: the loop ends as soon as it is built
            while time.monotonic() < deadline:
                artifact.refresh_from_db()
                if artifact.status != ArtifactStatus.PENDING:
                    break
                time.sleep(0.25)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    assert artifact.status == ArtifactStatus.DONE, (tmp_path / "worker.log").read_text()[-2000:]
    assert file_digest(artifact) == artifact.sha256
    assert artifact.file.open("rb").read(5) == b"%PDF-"


def test_a_worker_process_loads_the_pdf_engine_as_it_starts():
    """Reports are rendered by Celery workers: each loads WeasyPrint and its fonts when its process
    starts (a one-line PDF), so that its first report costs what the next ones do."""
    from celery.signals import worker_process_init

    from reports import render

    answers = dict(worker_process_init.send(sender=None))
    assert answers[render.load_pdf_engine] > 0
    assert "weasyprint" in sys.modules
