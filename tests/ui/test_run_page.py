"""A run's page and its progress endpoint: the JSON the page polls while the run runs, and the
status changes it found, each linked to its subject."""
from __future__ import annotations

import pytest
from django.urls import reverse

from registry.models import AIModel
from rules.library_store import draft_create
from rules.models.runs import Trigger
from rules.services import chunk_execute, rule_version_publish, run_create, run_execute_inline
from tests.ui.conftest import sb53_draft_text, today

pytestmark = pytest.mark.django_db


def test_progress_endpoint_follows_the_run_chunk_by_chunk(agency_client, workspace_registry):
    run = run_create(kind=Trigger.MANUAL, chunk_size=4)
    url = reverse("admin:rules_evaluationrun_progress", args=[run.pk])
    first = agency_client.get(url)
    assert "no-store" in first["Cache-Control"]
    assert first.json()["status"] == "pending"
    assert (first.json()["done"], first.json()["total"], first.json()["finished"]) == (0, run.total, False)
    chunk = run.chunks.order_by("index").first()
    chunk_execute(chunk_id=chunk.pk)
    middle = agency_client.get(url).json()
    assert (middle["status"], middle["done"], middle["chunks_done"]) == ("running", 4, 1)
    assert 0 < middle["percent"] < 100
    run_execute_inline(run)
    last = agency_client.get(url).json()
    assert (last["status"], last["done"], last["percent"], last["finished"]) == ("finished", run.total, 100.0, True)


def test_run_page_polls_while_running_and_lists_changes_when_finished(agency_client, workspace_registry, agency):
    run = rule_version_publish(version=draft_create(content=sb53_draft_text(effective_from=today()), actor=agency),
                               actor=agency)
    url = reverse("admin:rules_evaluationrun_change", args=[run.pk])
    page = agency_client.get(url).content.decode()
    assert f'data-progress-url="{reverse("admin:rules_evaluationrun_progress", args=[run.pk])}"' in page
    assert "Changes appear here once the run has finished." in page
    assert "workspace/workspace.js" in page
    run_execute_inline(run)
    page = agency_client.get(url).content.decode()
    assert "data-progress-url" not in page and "Status changes found (1)" in page
    mid = AIModel.objects.get(name="Mid")
    assert f'<a href="{reverse("admin:registry_aimodel_change", args=[mid.pk])}">model:acme/Mid@1</a>' in page
    assert "<code>frontier-model</code>: not_met → met" in page


def test_progress_is_not_shown_to_a_lab_member(acme_client):
    run = run_create(kind=Trigger.MANUAL, subjects=["model:acme/Mid@1"])
    assert acme_client.get(reverse("admin:rules_evaluationrun_progress", args=[run.pk])).status_code == 404
