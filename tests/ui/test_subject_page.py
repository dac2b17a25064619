"""A subject's page: status under every regime with the deciding test, value against threshold and
citation; determination history; revision diffs; evaluate now; the audit report; list filters."""
from __future__ import annotations

import re
from datetime import date

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from registry.models import AIModel, Cluster, Organisation
from registry.services import registry_submit
from rules.current import recorded_on
from rules.models import Determination, EvaluationRun
from rules.models.runs import Trigger
from tests.factories import ClusterRecordFactory, ModelRecordFactory, OrganisationRecordFactory, document
from tests.ui.conftest import evaluate_registry

pytestmark = pytest.mark.django_db


def model(name: str) -> AIModel:
    return AIModel.objects.get(name=name)


def page_of(client, obj, **params) -> str:
    url = reverse(f"admin:registry_{obj._meta.model_name}_change", args=[obj.pk])
    response = client.get(url, params)
    assert response.status_code == 200
    return response.content.decode()


def regime_row(page: str, regime: str) -> str:
    row = re.search(rf'<tr class="regime-row" data-regime="{re.escape(regime)}"[^>]*>(.*?)</tr>', page, re.S)
    assert row, f"no row for {regime}"
    return re.sub(r"\s+", " ", row.group(1))


def outcome_line(row: str, test_id: str) -> str:
    found = re.search(rf'<li class="test-outcome[^"]*" data-test="{re.escape(test_id)}"[^>]*>(.*?)</li>', row, re.S)
    assert found, f"no test {test_id} in the row"
    return re.sub(r"\s+", " ", found.group(1))


def test_status_row_names_the_deciding_test_its_value_threshold_and_citation(agency_client, workspace_registry):
    page = page_of(agency_client, model("Frontier"))
    row = regime_row(page, "us-ca-sb53")
    determination = Determination.objects.filter(subject_ref="model:acme/Frontier@1", regime="us-ca-sb53").last()
    test = next(t for t in determination.data()["tests"] if t["id"] == "frontier-model")
    line = outcome_line(row, "frontier-model")
    assert "status-covered" in row and ">frontier-model</code>" in line and "(deciding test)" in line
    assert "3e26 ops &gt; 1e26 ops: met (3 × the threshold)" in line
    assert test["citation"] and test["citation"] in line.replace("&amp;", "&")
    assert f"#{determination.sequence}" in row


def test_an_unmet_test_reads_as_the_negated_comparison(agency_client, workspace_registry):
    row = regime_row(page_of(agency_client, model("Mid")), "us-ca-sb53")
    assert "status-not_covered" in row
    assert "3.8e25 ops ≤ 1e26 ops: not met (0.38 × the threshold)" in outcome_line(row, "frontier-model")
    assert "3.8e25 ops &gt; 1e26 ops" not in row  # never the comparison as if it held


def test_every_test_of_the_version_is_shown_with_its_outcome_and_the_tier_reached(agency_client, workspace_registry):
    from rules.library_store import published_library

    row = regime_row(page_of(agency_client, model("Frontier")), "eu-ai-act")
    version = published_library().in_force("eu-ai-act", date.today())
    tests = [test.id for test in version.tests_for("model")]
    assert len(tests) >= 4
    for test_id in tests:
        assert outcome_line(row, test_id)
    assert 'data-outcome="met"' in outcome_tag(row, "systemic-risk-presumption")
    assert "covered: GPAI model with systemic risk" in row and 'data-tier="gpai-systemic-risk"' in page_of(
        agency_client, model("Frontier"))
    assert "not met: no designation (systemic-risk-designation) is in effect" in outcome_line(row, "systemic-risk-designation")


def outcome_tag(row: str, test_id: str) -> str:
    return re.search(rf'<li class="test-outcome[^"]*" data-test="{re.escape(test_id)}"[^>]*>', row).group(0)


def test_an_unmet_condition_is_named_in_words(agency_client, workspace_registry):
    row = regime_row(page_of(agency_client, model("Secret"), as_of="2024-06-01"), "us-eo-14110")
    line = outcome_line(row, "model-biological")
    assert '<span class="numbers statement">not met: not trained primarily on biological sequence data (' in line
    assert "2e24 ops &gt; 1e23 ops" in line and ": met" not in line


def test_an_indeterminate_status_names_what_is_missing(agency_client, workspace_registry):
    row = regime_row(page_of(agency_client, model("Unknown")), "eu-ai-act")
    line = outcome_line(row, "gpai-indicative")
    assert "status-indeterminate" in row and "— against &gt; 1e23 ops: indeterminate (missing: " in line
    assert "training_tokens" in line


def test_regimes_not_in_force_say_why(agency_client, workspace_registry):
    page = page_of(agency_client, model("Frontier"))
    assert "no longer in force since 2025-01-20" in regime_row(page, "us-eo-14110")
    assert "never in force (proposed)" in regime_row(page, "us-bis-702-nprm")


def test_a_covered_cluster_as_of_a_past_date_is_recorded_for_that_date_first(agency_client, workspace_registry):
    hall = Cluster.objects.get(name="Hall A")
    ref = "cluster:acme/Hall A"
    assert not Determination.objects.filter(subject_ref=ref, as_of=date(2024, 6, 1)).exists()
    page = page_of(agency_client, hall, as_of="2024-06-01")
    recorded = Determination.objects.filter(subject_ref=ref, as_of=date(2024, 6, 1), regime="us-eo-14110").get()
    run = recorded.run
    assert (run.kind, run.requested_by.username) == (Trigger.MANUAL, "agency")
    assert f"recorded now (evaluation run {run.pk})" in page
    row = regime_row(page, "us-eo-14110")
    # 102,048 H100 SXM at 1.979e15 ops/s (dense, fastest format) in one datacenter, linked at 800 Gbit/s
    assert "status-covered" in row and ">cluster</code>" in row and "2.02e20 ops/s ≥ 1e20 ops/s: met" in row
    assert f"#{recorded.sequence}" in row and "as of 2024-06-01" in row
    assert "Evaluate now as of 2024-06-01" in page
    again = page_of(agency_client, hall, as_of="2024-06-01")  # logged now: read, not recorded again
    assert "recorded now" not in again
    assert Determination.objects.filter(subject_ref=ref, as_of=date(2024, 6, 1), regime="us-eo-14110").count() == 1


def test_a_page_as_of_a_date_never_shows_a_determination_of_another_date(agency_client, workspace_registry):
    mid = model("Mid")
    ref = "model:acme/Mid@1"
    earlier = date(2024, 6, 1)
    evaluate_registry(as_of=earlier)
    later = date(2024, 9, 1)  # the same EO 14110 version in force; the log has nothing as of this date
    page = page_of(agency_client, mid, as_of=later.isoformat())
    row = regime_row(page, "us-eo-14110")
    # made as of that date, or an earlier one confirmed unchanged as of it: recorded as of it either way
    shown = recorded_on(Determination.objects.filter(subject_ref=ref, regime="us-eo-14110"), as_of=later, few=True).get()
    assert f"#{shown.sequence}" in row and '<div class="quiet">as of 2024-09-01</div>' in row
    assert '<div class="quiet">as of 2024-06-01</div>' not in row
    if shown.as_of != later:
        assert "made as of 2024-06-01, confirmed unchanged" in row
    shown_dates = set(re.findall(r'<div class="quiet">as of (\d{4}-\d{2}-\d{2})</div>', page.split("subject-actions")[0]))
    assert shown_dates == {later.isoformat()}


@pytest.mark.parametrize("asked", ["2024-02-30", "garbage"])
def test_an_invalid_as_of_is_an_error_on_the_page_not_today(agency_client, workspace_registry, asked):
    mid = model("Mid")
    before = Determination.objects.count()
    url = reverse("admin:registry_aimodel_change", args=[mid.pk])
    response = agency_client.get(url, {"as_of": asked})
    page = response.content.decode()
    assert response.status_code == 400
    assert f"As of: &#x27;{asked}&#x27; is not a date" in page
    assert 'class="regime-row"' not in page  # no statuses of today under a heading that asked for another date
    assert f"as of {date.today().isoformat()}" not in page
    assert f'value="{asked}"' in page  # the form keeps what was typed, to correct it
    assert Determination.objects.count() == before


def test_a_cluster_that_did_not_exist_yet_and_a_regime_without_cluster_tests_read_not_applicable(
        agency_client, workspace_registry):
    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI", annual_revenue_usd=6e8)],
        clusters=[ClusterRecordFactory(organisation="acme", name="Hall B", operational_from="2025-03-01")],
    ), via="import")
    hall_b = Cluster.objects.get(name="Hall B")
    row = regime_row(page_of(agency_client, hall_b, as_of="2024-06-01"), "us-eo-14110")
    assert "status-not_applicable" in row and "not applicable" in row
    assert "cluster:acme/Hall B did not exist yet on 2024-06-01: its operational_from is 2025-03-01" in row
    today_page = page_of(agency_client, Cluster.objects.get(name="Hall A"))
    eu = regime_row(today_page, "eu-ai-act")
    assert "status-not_applicable" in eu and "has no test for a cluster" in eu


def test_history_is_paginated_newest_first(agency_client, workspace_registry):
    evaluate_registry(confirms=False)  # a second determination per regime: 12 in all for the model
    ref = "model:acme/Mid@1"
    sequences = list(Determination.objects.filter(subject_ref=ref).order_by("-sequence").values_list("sequence", flat=True))
    assert len(sequences) == 12
    first = page_of(agency_client, model("Mid"))
    assert "Determination history (12)" in first and "page 1 of 2" in first
    second = page_of(agency_client, model("Mid"), history=2)
    assert "<details class=\"determination-history\" open>" in second
    history = second.split("Determination history")[1]
    assert f">{sequences[-1]}</a>" in history and f">{sequences[0]}</a>" not in history


def test_revision_diffs_show_what_changed_with_units(agency_client, workspace_registry):
    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI", annual_revenue_usd=6e8)],
        models=[ModelRecordFactory(organisation="acme", name="Mid", training_compute_ops="4.2e25")],
    ), via="api")
    page = page_of(agency_client, model("Mid"))
    diff = re.search(r'<table class="revision-diff">(.*?)</table>', page, re.S).group(1)
    assert "<code>training_compute_ops</code>" in diff
    assert '<td class="diff-before">3.8e25 ops</td><td class="diff-after">4.2e25 ops</td>' in diff
    assert "first submission" in page


def test_a_regulator_who_may_only_view_reads_numbers_in_scientific_notation(agency_client, workspace_registry):
    page = page_of(agency_client, model("Mid"))
    assert "3.8e25 ops" in page and "4.05e11 parameters" in page and "1.56e13 tokens" in page
    assert "38000000000000000000000000" not in page and "405000000000" not in page


def test_evaluate_now_records_a_run_of_the_subject_and_shows_it(agency_client, workspace_registry,
                                                               django_capture_on_commit_callbacks):
    mid = model("Mid")
    url = reverse("admin:registry_aimodel_evaluate", args=[mid.pk])
    assert agency_client.get(url).status_code == 405
    with django_capture_on_commit_callbacks(execute=settings.CELERY_TASK_ALWAYS_EAGER) as enqueued:
        response = agency_client.post(url, {"as_of": "2024-06-01"})
    # the run is started once, when the request's transaction has committed (carried out at once in the
    # embedded default, the finished run then asks for its subjects' obligations to be brought up to date)
    assert [c.__qualname__.split(".<locals>")[0] for c in enqueued][:1] == ["SubjectPageMixin.evaluate_view"]
    assert sum("evaluate_view" in c.__qualname__ for c in enqueued) == 1
    run = EvaluationRun.objects.get(kind=Trigger.MANUAL)
    assert response.status_code == 302 and response["Location"] == reverse("admin:rules_evaluationrun_change", args=[run.pk])
    assert (run.subjects, run.as_of, run.requested_by.username, run.total) == (["model:acme/Mid@1"], date(2024, 6, 1), "agency", 1)
    if settings.CELERY_TASK_ALWAYS_EAGER:  # embedded: the run has already been carried out in the request
        run.refresh_from_db()
        assert run.status == "finished" and Determination.objects.filter(run=run).count() == 6


def test_evaluate_now_refuses_a_lab_member(acme_client):
    url = reverse("admin:registry_aimodel_evaluate", args=[model("Mid").pk])
    assert acme_client.post(url).status_code == 403
    assert not EvaluationRun.objects.filter(kind=Trigger.MANUAL).exists()


def test_audit_report_downloads_the_subjects_report(admin_client_logged_in, workspace_registry, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    mid = model("Mid")
    page = page_of(admin_client_logged_in, mid)
    assert 'id="audit-report-pdf"' in page
    url = reverse("admin:registry_aimodel_audit_report", args=[mid.pk])
    response = admin_client_logged_in.post(url, {"format": "html", "as_of": date.today().isoformat()})
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment")
    body = b"".join(response.streaming_content).decode()
    assert "model:acme/Mid@1" in body or "acme/Mid@1" in body
    refused = admin_client_logged_in.post(url, {"format": "docx"}, follow=True)
    assert "Format: choose pdf or html, not &#x27;docx&#x27;" in refused.content.decode()


def test_a_regulator_is_offered_the_audit_report(agency_client, workspace_registry):
    page = page_of(agency_client, Cluster.objects.get(name="Hall A"))
    assert 'id="audit-report-pdf"' in page and 'id="audit-report-html"' in page


def test_audit_report_button_needs_the_report_permission(acme_client):
    mid = model("Mid")
    assert 'id="audit-report-pdf"' in page_of(acme_client, mid)  # lab staff view their own subjects' reports
    Group.objects.get(name="Lab staff").permissions.remove(Permission.objects.get(codename="view_reportartifact"))
    assert 'id="audit-report-pdf"' not in page_of(acme_client, mid)
    assert acme_client.post(reverse("admin:registry_aimodel_audit_report", args=[mid.pk])).status_code == 403


def test_model_list_filters_by_status_under_a_regime(agency_client, workspace_registry):
    url = reverse("admin:registry_aimodel_changelist")
    page = agency_client.get(url, {"status": "eu-ai-act:covered"}).content.decode()
    listed = set(re.findall(r'<th class="field-__str__"><a href="[^"]+">([^<]+)</a>', page))
    assert listed == {"acme/Frontier@1", "acme/Mid@1", "beta/Secret@1"}
    page = agency_client.get(url, {"status": "eu-ai-act:indeterminate"}).content.decode()
    assert set(re.findall(r'<th class="field-__str__"><a href="[^"]+">([^<]+)</a>', page)) == {"acme/Unknown@1"}
    assert "EU AI Act (eu-ai-act): covered" in page and "California SB 53 (us-ca-sb53): indeterminate" in page  # the filter's choices


def test_model_list_shows_each_models_status_today(agency_client, workspace_registry):
    page = agency_client.get(reverse("admin:registry_aimodel_changelist"), {"q": "Small"}).content.decode()
    cell = re.search(r'<td class="field-status_today">(.*?)</td>', page, re.S).group(1)
    assert "EU AI Act: not covered" in cell and "California SB 53: not covered" in cell


def test_cluster_list_filters_by_summed_peak_and_organisation(agency_client, workspace_registry):
    url = reverse("admin:registry_cluster_changelist")
    hall = Cluster.objects.get(name="Hall A")
    assert "acme/Hall A" in agency_client.get(url, {"peak": "1e+20-"}).content.decode()
    assert "acme/Hall A" not in agency_client.get(url, {"peak": "-1e+20"}).content.decode()
    acme = Organisation.objects.get(slug="acme")
    assert "acme/Hall A" in agency_client.get(url, {"organisation__id__exact": acme.pk}).content.decode()
    assert hall.organisation_id == acme.pk
