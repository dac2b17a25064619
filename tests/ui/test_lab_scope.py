"""A lab member in the admin sees its own organisation only: lists, change pages (another lab's is
a 404), filters, autocomplete and form choices; it never sees rule drafts, runs or the log."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse

from registry.models import AIModel, Cluster, Organisation
from rules.library_store import draft_create
from tests.ui.conftest import sb53_draft_text, today

pytestmark = pytest.mark.django_db


def listed_models(page: str) -> set[str]:
    return set(re.findall(r'<th class="field-__str__"><a href="[^"]+">([^<]+)</a>', page))


def test_lab_member_lists_only_its_organisations_models(acme_client, agency_client):
    url = reverse("admin:registry_aimodel_changelist")
    assert listed_models(acme_client.get(url).content.decode()) == {
        "acme/Frontier@1", "acme/Mid@1", "acme/Small@1", "acme/Unknown@1"}
    assert "beta/Secret@1" in listed_models(agency_client.get(url).content.decode())


def test_another_labs_record_is_a_404_for_a_lab_member(acme_client, agency_client):
    secret = AIModel.objects.get(name="Secret")
    beta = Organisation.objects.get(slug="beta")
    for url in (
        reverse("admin:registry_aimodel_change", args=[secret.pk]),
        reverse("admin:registry_aimodel_history", args=[secret.pk]),
        reverse("admin:registry_organisation_change", args=[beta.pk]),
    ):
        assert acme_client.get(url).status_code == 404, url
    assert acme_client.post(reverse("admin:registry_aimodel_evaluate", args=[secret.pk])).status_code == 404
    assert agency_client.get(reverse("admin:registry_aimodel_change", args=[secret.pk])).status_code == 200
    own = AIModel.objects.get(name="Mid")
    assert acme_client.get(reverse("admin:registry_aimodel_change", args=[own.pk])).status_code == 200


def test_filters_and_choices_offer_no_other_organisation(acme_client):
    page = acme_client.get(reverse("admin:registry_aimodel_changelist")).content.decode()
    assert "Beta Labs" not in page and "beta/" not in page  # a single organisation needs no filter
    form = acme_client.get(reverse("admin:registry_aimodel_change", args=[AIModel.objects.get(name="Mid").pk]))
    options = re.search(r'<select name="organisation"[^>]*>(.*?)</select>', form.content.decode(), re.S).group(1)
    assert "Acme AI" in options and "Beta Labs" not in options
    assert acme_client.get(reverse("admin:registry_organisation_add")).status_code == 403


def test_autocomplete_offers_another_organisations_model_only_once_released(acme_client, agency_client):
    url = reverse("admin:autocomplete")
    params = {"app_label": "registry", "model_name": "aimodel", "field_name": "base_model", "term": "Secret"}
    assert [r["text"] for r in acme_client.get(url, params).json()["results"]] == ["beta/Secret@1"]  # released
    AIModel.objects.filter(name="Secret").update(released_on=None)
    assert acme_client.get(url, params).json()["results"] == []
    assert [r["text"] for r in agency_client.get(url, params).json()["results"]] == ["beta/Secret@1"]


def test_lab_member_sees_no_drafts_runs_or_decision_log(acme_client, agency):
    draft = draft_create(content=sb53_draft_text(effective_from=today()), actor=agency)
    assert acme_client.get(reverse("admin:rules_ruleversion_changelist")).status_code == 403
    assert acme_client.get(reverse("admin:rules_ruleversion_preview", args=[draft.pk])).status_code == 403
    assert acme_client.post(reverse("admin:rules_ruleversion_publish", args=[draft.pk]),
                            {"content_sha256": draft.content_sha256}).status_code == 403
    assert acme_client.get(reverse("admin:rules_evaluationrun_changelist")).status_code == 403
    assert acme_client.get(reverse("admin:rules_determination_changelist")).status_code == 403
    draft.refresh_from_db()
    assert not draft.is_published


def test_lab_member_reads_its_own_subjects_status(acme_client):
    hall = Cluster.objects.get(name="Hall A")
    page = acme_client.get(reverse("admin:registry_cluster_change", args=[hall.pk])).content.decode()
    assert "Status of <code>cluster:acme/Hall A</code>" in page
    assert 'id="evaluate-now"' not in page  # only a regulator starts an evaluation
