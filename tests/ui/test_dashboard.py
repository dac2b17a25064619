"""The admin index as the regulator's dashboard: counts per regime in force today, the latest runs,
recent status changes, the note on rule files due for re-verification, and a bounded query count."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.services import registry_submit
from rules.library_store import draft_create
from rules.models import RuleVersion
from rules.models.runs import Trigger
from rules.selectors import current_counts, regimes_in_force
from rules.services import rule_version_publish, run_create, run_execute_inline
from tests.factories import ModelRecordFactory, OrganisationRecordFactory, document
from tests.ui.conftest import evaluate_registry, sb53_draft_text, submit_workspace_registry, today

pytestmark = pytest.mark.django_db


def counts_row(page: str, regime: str) -> list[str]:
    """The numbers in the dashboard's row for a regime: covered, not covered, indeterminate, not applicable,
    not yet evaluated."""
    row = re.search(rf'<tr data-regime="{re.escape(regime)}">(.*?)</tr>', page, re.S)
    assert row, f"no row for {regime}"
    return re.findall(r'<span class="total[^"]*">(\d+)</span>', row.group(1))


def test_dashboard_counts_each_regime_in_force_by_status(agency_client, workspace_registry):
    page = agency_client.get(reverse("admin:index")).content.decode()
    assert f"Status today, {today().isoformat()}" in page
    # eu-ai-act's tests apply to models only: Frontier, Mid and Secret are above 1e23 ops, Small is
    # below, Unknown has no figures.
    assert counts_row(page, "eu-ai-act") == ["3", "1", "1", "0", "0"]
    in_force = {regime.regime for regime in regimes_in_force(as_of=today())}
    for slug in in_force:
        assert f'<tr data-regime="{slug}">' in page
    assert '<tr data-regime="us-eo-14110">' not in page  # revoked in 2025


def test_dashboard_counts_only_the_version_in_force_and_the_latest_determination(agency_client, workspace_registry, agency):
    registry_submit_more()
    evaluate_registry()  # the new model is evaluated; the others are evaluated a second time
    page = agency_client.get(reverse("admin:index")).content.decode()
    assert counts_row(page, "eu-ai-act") == ["4", "1", "1", "0", "0"]

    draft = draft_create(content=sb53_draft_text(effective_from=today()), actor=agency)
    run_execute_inline(rule_version_publish(version=draft, actor=agency))
    page = agency_client.get(reverse("admin:index")).content.decode()
    sb53 = next(r for r in current_counts(as_of=today())[0] if r.regime.regime == "us-ca-sb53")
    assert sb53.regime.version == draft
    # Under 1e25 ops, Frontier, Mid and Late (above 1e25) are frontier models; acme is a large
    # frontier developer (revenue above $500M with a frontier model).
    assert sb53.counts.get("covered") == 4
    assert counts_row(page, "us-ca-sb53")[0] == "4"
    covered = re.search(r'<tr data-regime="us-ca-sb53">.*?<td class="count" data-status="covered">(.*?)</td>', page, re.S)
    assert "3 models</a>" in covered.group(1) and "1 organisation" in covered.group(1)
    assert '?status=us-ca-sb53:covered">3 models' in covered.group(1)
    assert f">{draft.version_id}</a>" in page


def registry_submit_more() -> None:
    from registry.services import registry_submit

    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI", annual_revenue_usd=6e8)],
        models=[ModelRecordFactory(organisation="acme", name="Late", training_compute_ops="4e25")],
    ), via="import")


def test_dashboard_shows_runs_with_progress_and_recent_changes(agency_client, workspace_registry, agency):
    draft = draft_create(content=sb53_draft_text(effective_from=today()), actor=agency)
    run = run_execute_inline(rule_version_publish(version=draft, actor=agency))
    pending = run_create(kind=Trigger.MANUAL, subjects=["model:acme/Mid@1"])
    page = agency_client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:rules_evaluationrun_change", args=[run.pk]) in page
    assert f"{run.total} of {run.total} subjects (100.0 %)" in page
    # a run still pending is polled for its progress; a finished one is not
    assert reverse("admin:rules_evaluationrun_progress", args=[pending.pk]) in page
    assert reverse("admin:rules_evaluationrun_progress", args=[run.pk]) not in page
    changes = re.search(r'<table class="changes">(.*?)</table>', page, re.S).group(1)
    assert "model:acme/Mid@1" in changes and "status-not_covered" in changes and "status-covered" in changes
    assert "model:acme/Small@1" not in changes


def test_dashboard_notes_rule_files_not_verified_for_a_long_time(agency_client, workspace_registry):
    stale_on = today() - timedelta(days=400)
    version = RuleVersion.objects.get(regime="us-ca-sb53", state="published")
    RuleVersion.objects.filter(pk=version.pk).update(last_verified_on=stale_on)  # as if verified long ago
    page = agency_client.get(reverse("admin:index")).content.decode()
    assert "Rule files due for re-verification" in page
    assert f"us-ca-sb53@{version.version_id}</a>:\n        last verified {stale_on.isoformat()}" in page
    assert "eu-ai-act@2025-08-02</a>" not in page.split("Rule files due for re-verification")[1].split("</section>")[0]


def test_dashboard_query_count_does_not_grow_with_the_registry(agency_client, workspace_registry):
    agency_client.get(reverse("admin:index"))  # warm the rule library cache and the session
    with CaptureQueriesContext(connection) as small:
        agency_client.get(reverse("admin:index"))
    from registry.services import registry_submit

    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI", annual_revenue_usd=6e8)],
        models=[ModelRecordFactory(organisation="acme", name=f"Extra-{i}", training_compute_ops="2e24") for i in range(12)],
    ), via="import")
    run_execute_inline(run_create(kind=Trigger.MANUAL))
    with CaptureQueriesContext(connection) as large:
        page = agency_client.get(reverse("admin:index")).content.decode()
    assert counts_row(page, "eu-ai-act")[0] == "15"
    assert len(large) == len(small), [q["sql"] for q in large.captured_queries]


def test_lab_member_sees_its_own_counts_and_changes_only(acme_client):
    page = acme_client.get(reverse("admin:index")).content.decode()
    assert "Status today" in page and ": acme</h2>" in page
    assert counts_row(page, "eu-ai-act") == ["2", "1", "1", "0", "0"]  # beta's Secret is not counted
    assert "Latest re-evaluation runs" not in page
    assert "Rule files due for re-verification" not in page


def test_a_staff_user_without_a_role_sees_no_counts(client, workspace_registry, django_user_model):
    user = django_user_model.objects.create_user("no-role", password="x-long-password", is_staff=True)
    client.force_login(user)
    page = client.get(reverse("admin:index")).content.decode()
    assert "belongs to no organisation and no regulator" in page
    assert 'data-regime="eu-ai-act"' not in page


def test_a_fresh_registry_shows_subjects_not_yet_evaluated(agency_client):
    submit_workspace_registry()  # submitted, never evaluated (the outbox waits for the broker)
    page = agency_client.get(reverse("admin:index")).content.decode()
    assert counts_row(page, "eu-ai-act") == ["0", "0", "0", "0", "5"]


def test_a_model_that_does_not_exist_yet_is_counted_not_applicable(agency_client):
    """A model whose training completes after today is not_applicable today, under every regime in force."""
    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI", annual_revenue_usd=6e8)],
        models=[ModelRecordFactory(organisation="acme", name="Next", training_compute_ops="3e26",
                                   training_completed_on=(today() + timedelta(days=30)).isoformat())],
    ), via="import")
    evaluate_registry()
    page = agency_client.get(reverse("admin:index")).content.decode()
    assert counts_row(page, "eu-ai-act") == ["0", "0", "0", "1", "0"]
