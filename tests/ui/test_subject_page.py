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
from rules.models import Determination, EvaluationRun
from rules.models.runs import Trigger
from tests.factories import ModelRecordFactory, OrganisationRecordFactory, document
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
    row = re.search(rf'<tr class="regime-row" data-regime="{re.escape(regime)}">(.*?)</tr>', page, re.S)
    assert row, f"no row for {regime}"
    return re.sub(r"\s+", " ", row.group(1))


def test_status_row_names_the_deciding_test_its_value_threshold_and_citation(agency_client, workspace_registry):
    page = page_of(agency_client, model("Frontier"))
    row = regime_row(page, "us-ca-sb53")
    determination = Determination.objects.filter(subject_ref="model:acme/Frontier@1", regime="us-ca-sb53").last()
    test = next(t for t in determination.data()["tests"] if t["id"] == "frontier-model")
    assert "status-covered" in row and ">frontier-model</code>" in row and "deciding test" in row
    assert "3e26 ops &gt; 1e26 ops" in row
    assert test["citation"] and test["citation"] in row.replace("&amp;", "&")
    assert f"#{determination.sequence}" in row


def test_a_status_no_test_decided_shows_the_test_nearest_its_threshold(agency_client, workspace_registry):
    row = regime_row(page_of(agency_client, model("Mid")), "us-ca-sb53")
    assert "status-not_covered" in row and "nearest its threshold" in row
    assert "3.8e25 ops &gt; 1e26 ops" in row


def test_an_indeterminate_status_names_what_is_missing(agency_client, workspace_registry):
    row = regime_row(page_of(agency_client, model("Unknown")), "eu-ai-act")
    assert "status-indeterminate" in row and "— &gt; 1e23 ops" in row  # an unknown value reads as the reports print it
    assert "missing: " in row and "training_tokens" in row


def test_regimes_not_in_force_say_why(agency_client, workspace_registry):
    page = page_of(agency_client, model("Frontier"))
    assert "no longer in force since 2025-01-20" in regime_row(page, "us-eo-14110")
    assert "never in force (proposed)" in regime_row(page, "us-bis-702-nprm")


def test_a_covered_cluster_as_of_a_past_date(agency_client, workspace_registry):
    hall = Cluster.objects.get(name="Hall A")
    page = page_of(agency_client, hall, as_of="2024-06-01")
    assert "not evaluated under this version yet" in regime_row(page, "us-eo-14110")
    evaluate_registry(as_of=date(2024, 6, 1))
    page = page_of(agency_client, hall, as_of="2024-06-01")
    row = regime_row(page, "us-eo-14110")
    # 102,048 H100 SXM at 1.979e15 ops/s (dense, fastest format) in one datacenter, linked at 800 Gbit/s
    assert "status-covered" in row and ">cluster</code>" in row and "2.02e20 ops/s &gt;= 1e20 ops/s" in row
    assert "as of 2024-06-01" in row
    assert "Evaluate now as of 2024-06-01" in page
    assert "as_of: &#x27;June&#x27; is not a date" in page_of(agency_client, hall, as_of="June")


def test_history_is_paginated_newest_first(agency_client, workspace_registry):
    evaluate_registry()  # a second determination per regime: 12 in all for the model
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
    assert len(enqueued) == 1  # the run is started once the request's transaction has committed
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
    assert "eu-ai-act: covered" in page and "us-ca-sb53: indeterminate" in page  # the filter's choices


def test_model_list_shows_each_models_status_today(agency_client, workspace_registry):
    page = agency_client.get(reverse("admin:registry_aimodel_changelist"), {"q": "Small"}).content.decode()
    cell = re.search(r'<td class="field-status_today">(.*?)</td>', page, re.S).group(1)
    assert "eu-ai-act: not covered" in cell and "us-ca-sb53: not covered" in cell


def test_cluster_list_filters_by_summed_peak_and_organisation(agency_client, workspace_registry):
    url = reverse("admin:registry_cluster_changelist")
    hall = Cluster.objects.get(name="Hall A")
    assert "acme/Hall A" in agency_client.get(url, {"peak": "1e+20-"}).content.decode()
    assert "acme/Hall A" not in agency_client.get(url, {"peak": "-1e+20"}).content.decode()
    acme = Organisation.objects.get(slug="acme")
    assert "acme/Hall A" in agency_client.get(url, {"organisation__id__exact": acme.pk}).content.decode()
    assert hall.organisation_id == acme.pk
