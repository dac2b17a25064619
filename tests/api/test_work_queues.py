"""Reports never hold up evaluations: their tasks go to queues of their own, a user may have only so
many reports pending, the same pending report asked for again is that report, and the POSTs that queue
work are throttled at a lower rate than the rest of the API."""
from __future__ import annotations

import pytest

from config.celery import app
from reports.models import ArtifactStatus, ReportArtifact
from reports.services import artifact_build
from rules.models import EvaluationRun

pytestmark = pytest.mark.django_db

AUDIT = {"kind": "audit", "format": "html", "subject": "model:acme/Acme-1@1", "as_of": "2026-03-01"}


def queue_of(task_name: str) -> tuple[str, str, str]:
    queue = app.amqp.router.route({}, task_name, args=(1,), kwargs={})["queue"]
    return queue.name, queue.exchange.name, queue.routing_key


@pytest.mark.parametrize(("task", "queue"), [
    ("reports.tasks.generate_report", "reports"),
    ("rules.tasks.run_start", "evaluations"),
    ("rules.tasks.run_chunk", "evaluations"),
    ("rules.tasks.evaluate_pending", "evaluations"),
    ("rules.tasks.evaluate_outbox", "evaluations"),
    ("rules.tasks.pending_sweep", "evaluations"),
    ("rules.tasks.reevaluate_registry", "evaluations"),
])
def test_each_task_goes_to_its_queue(task, queue):
    assert queue_of(task) == (queue, queue, queue)


def test_a_worker_started_without_a_queue_consumes_both():
    assert sorted(app.amqp.queues.consume_from) == ["evaluations", "reports"]


def test_a_user_past_its_pending_reports_gets_429_and_nothing_is_stored(world, lab, settings,
                                                                       django_capture_on_commit_callbacks):
    settings.REPORT_MAX_PENDING = 2
    with django_capture_on_commit_callbacks(execute=False):  # no worker builds them: they stay pending
        first = lab.post("/api/v1/reports/", AUDIT, format="json")
        second = lab.post("/api/v1/reports/", {**AUDIT, "as_of": "2026-04-01"}, format="json")
        before = ReportArtifact.objects.count()
        third = lab.post("/api/v1/reports/", {**AUDIT, "as_of": "2026-05-01"}, format="json")
    assert (first.status_code, second.status_code) == (202, 202)
    assert third.status_code == 429
    body = third.json()
    assert "at most 2" in body["detail"] and body["errors"] == [{"field": None, "message": body["detail"]}]
    assert ReportArtifact.objects.count() == before
    # another user has its own allowance
    with django_capture_on_commit_callbacks(execute=False):
        assert world.client("regulator").post("/api/v1/reports/", {**AUDIT, "as_of": "2026-05-01"},
                                              format="json").status_code == 202
    # once one of them is built, the lab may ask again
    artifact_build(artifact_id=first.json()["id"])
    with django_capture_on_commit_callbacks(execute=False):
        assert lab.post("/api/v1/reports/", {**AUDIT, "as_of": "2026-06-01"}, format="json").status_code == 202


def test_the_same_pending_report_asked_for_again_is_that_report(world, lab, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as sent:
        first = lab.post("/api/v1/reports/", AUDIT, format="json")
        again = lab.post("/api/v1/reports/", AUDIT, format="json")
        by_regulator = world.client("regulator").post("/api/v1/reports/", AUDIT, format="json")
    assert first.status_code == again.status_code == by_regulator.status_code == 202
    assert first.json()["id"] == again.json()["id"] == by_regulator.json()["id"]
    assert ReportArtifact.objects.filter(kind="audit").count() == 1
    assert len(sent) == 1  # one build sent
    # a done report is not a pending one: asking again builds a fresh one
    artifact_build(artifact_id=first.json()["id"])
    assert ReportArtifact.objects.get(pk=first.json()["id"]).status == ArtifactStatus.DONE
    with django_capture_on_commit_callbacks(execute=False):
        fresh = lab.post("/api/v1/reports/", AUDIT, format="json")
    assert fresh.status_code == 202 and fresh.json()["id"] != first.json()["id"]


def test_posts_that_queue_work_have_a_lower_rate_than_reads(world, lab, settings, django_capture_on_commit_callbacks):
    settings.API_WORK_THROTTLE_RATE = "2/min"
    body = {"subject": "model:acme/Acme-1@1", "as_of": "2026-02-01", "regimes": ["us-ca-sb53"]}
    with django_capture_on_commit_callbacks(execute=False):
        statuses = [lab.post("/api/v1/evaluations/", body, format="json").status_code for _ in range(3)]
        report = lab.post("/api/v1/reports/", AUDIT, format="json")
    assert statuses == [202, 202, 429]
    assert report.status_code == 429 and int(report["Retry-After"]) > 0
    assert report.json()["errors"][0]["field"] is None
    assert EvaluationRun.objects.filter(requested_by__isnull=False).count() == 2
    # reads are counted at the overall rate only
    assert [lab.get("/api/v1/runs/").status_code for _ in range(3)] == [200, 200, 200]
    # another token has its own allowance
    with django_capture_on_commit_callbacks(execute=False):
        assert world.client("regulator").post("/api/v1/evaluations/", body, format="json").status_code == 202
