"""The rule workflow in the admin: a draft uploaded or pasted (malformed files refused with file,
path and reason), edited, previewed (who would change status, from what to what), published by a
regulator only (starting the re-evaluation), and never edited once published."""
from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from rules.models import EvaluationRun, RuleVersion, StatusChange
from rules.models.runs import Trigger
from rules.services import run_execute_inline
from tests.ui.conftest import sb53_draft_text, today

pytestmark = pytest.mark.django_db

ADD = "admin:rules_ruleversion_add"
# `created_by__isnull=False`: a draft a regulator uploaded, not one `migrate` copied from the library


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_pasting_a_draft_stores_it_and_shows_its_preview(agency_client, workspace_registry, agency):
    response = agency_client.post(reverse(ADD), {"content": sb53_draft_text(effective_from=today())})
    draft = RuleVersion.objects.get(state="draft", created_by__isnull=False)
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:rules_ruleversion_preview", args=[draft.pk])
    assert (draft.regime, draft.version_id, draft.created_by) == ("us-ca-sb53", today().isoformat(), agency)
    assert draft.origin == "pasted text, uploaded by agency"


def test_uploading_a_file_names_it_as_the_drafts_origin(agency_client, workspace_registry):
    upload = SimpleUploadedFile("sb53-lowered.yaml", sb53_draft_text(effective_from=today()).encode())
    assert agency_client.post(reverse(ADD), {"file": upload, "content": ""}).status_code == 302
    assert RuleVersion.objects.get(state="draft", created_by__isnull=False).origin == "sb53-lowered.yaml, uploaded by agency"


def test_a_malformed_file_is_refused_naming_path_and_reason(agency_client, workspace_registry):
    text = sb53_draft_text(effective_from=today()).replace("value: 1.0e+25", "value: lots", 1)
    response = agency_client.post(reverse(ADD), {"content": text}, follow=True)
    shown = messages_of(response)
    assert shown and all(m.startswith("pasted text, uploaded by agency: ") for m in shown)
    assert any("parameters.frontier_compute.value" in m for m in shown), shown
    assert not RuleVersion.objects.filter(state="draft", created_by__isnull=False).exists()
    assert "value: lots" in response.content.decode()  # the text is kept to be corrected


def test_an_empty_form_and_a_non_utf8_file_are_refused_by_field(agency_client, workspace_registry):
    page = agency_client.post(reverse(ADD), {"content": "  "}).content.decode()
    assert "paste the rule file" in page
    upload = SimpleUploadedFile("latin1.yaml", "schéma: 1".encode("latin-1"))
    assert "not UTF-8 text" in agency_client.post(reverse(ADD), {"file": upload}).content.decode()
    assert not RuleVersion.objects.filter(state="draft", created_by__isnull=False).exists()


def test_preview_lists_who_would_change_status_and_what_the_draft_changes(agency_client, workspace_registry, agency):
    agency_client.post(reverse(ADD), {"content": sb53_draft_text(effective_from=today())})
    draft = RuleVersion.objects.get(state="draft", created_by__isnull=False)
    page = agency_client.get(reverse("admin:rules_ruleversion_preview", args=[draft.pk])).content.decode()
    changes = re.search(r'<table class="changes status-changes">(.*?)</table>', page, re.S).group(1)
    rows = re.findall(r"<tr><td>(.*?)</tr>", changes, re.S)
    assert len(rows) == 1 and "model:acme/Mid@1" in rows[0]
    assert 'status-not_covered">not covered</span> → <span class="status status-covered">covered' in rows[0]
    assert "<code>frontier-model</code>: not_met → met" in rows[0]
    assert "Subjects whose status would change (1)" in page
    assert '<td class="diff-before">&gt; 1e26 ops</td><td class="diff-after">&gt; 1e25 ops</td>' in page
    assert 'id="publish"' in page
    assert RuleVersion.objects.get(pk=draft.pk).state == "draft"


def test_publishing_starts_the_reevaluation_and_shows_its_run(agency_client, workspace_registry, agency):
    agency_client.post(reverse(ADD), {"content": sb53_draft_text(effective_from=today())})
    draft = RuleVersion.objects.get(state="draft", created_by__isnull=False)
    url = reverse("admin:rules_ruleversion_publish", args=[draft.pk])
    assert agency_client.get(url).status_code == 405
    response = agency_client.post(url, {"content_sha256": draft.content_sha256})
    run = EvaluationRun.objects.get(kind=Trigger.PUBLICATION)
    assert response.status_code == 302 and response["Location"] == reverse("admin:rules_evaluationrun_change", args=[run.pk])
    draft.refresh_from_db()
    assert draft.is_published and draft.published_by == agency and run.rule_version == draft
    run_execute_inline(run)  # the test never commits, so the enqueued start never runs: carry the run out here
    page = agency_client.get(response["Location"]).content.decode()
    assert "Status changes found (1)" in page and "model:acme/Mid@1" in page
    change = StatusChange.objects.get(run=run)
    assert (change.subject_ref, change.from_status, change.to_status) == ("model:acme/Mid@1", "not_covered", "covered")


def test_publishing_needs_the_publish_permission(client, workspace_registry, agency, django_user_model):
    from django.contrib.auth.models import Permission

    clerk = django_user_model.objects.create_user("clerk", password="x-long-password", is_staff=True)
    from accounts.services import membership_set

    membership_set(user=clerk, role="regulator", organisation=None)
    clerk.groups.clear()  # a regulator's role without the Regulators group's permissions
    clerk.user_permissions.add(*Permission.objects.filter(codename__in=["view_ruleversion", "add_ruleversion"]))
    client.force_login(clerk)
    client.post(reverse(ADD), {"content": sb53_draft_text(effective_from=today())})
    draft = RuleVersion.objects.get(state="draft", created_by__isnull=False)
    page = client.get(reverse("admin:rules_ruleversion_preview", args=[draft.pk])).content.decode()
    assert 'id="publish"' not in page and "Only a regulator with the permission" in page
    response = client.post(reverse("admin:rules_ruleversion_publish", args=[draft.pk]),
                           {"content_sha256": draft.content_sha256})
    assert response.status_code == 403
    assert RuleVersion.objects.get(pk=draft.pk).state == "draft"


def test_a_draft_edited_after_its_preview_is_not_published(agency_client, workspace_registry):
    agency_client.post(reverse(ADD), {"content": sb53_draft_text(effective_from=today())})
    draft = RuleVersion.objects.get(state="draft", created_by__isnull=False)
    previewed = draft.content_sha256
    edit = reverse("admin:rules_ruleversion_change", args=[draft.pk])
    assert "rule-yaml" in agency_client.get(edit).content.decode()
    agency_client.post(edit, {"content": sb53_draft_text(effective_from=today(), frontier_compute="2.0e+25")})
    draft.refresh_from_db()
    assert draft.content_sha256 != previewed and "2.0e+25" in draft.content
    response = agency_client.post(reverse("admin:rules_ruleversion_publish", args=[draft.pk]),
                                  {"content_sha256": previewed}, follow=True)
    assert any("changed after its preview" in m for m in messages_of(response))
    assert RuleVersion.objects.get(pk=draft.pk).state == "draft"


def test_a_draft_the_lint_refuses_shows_why_and_is_not_published(agency_client, workspace_registry):
    # starts the same day as the version in force: two versions of one regime on one day
    text = (settings.REGISTRY_RULE_LIBRARY / "us-ca-sb53" / "2026-01-01.yaml").read_text()
    text = text.replace('id: "2026-01-01"', 'id: "2026-01-01-bis"', 1).replace("value: 1.0e+26", "value: 1.0e+25", 1)
    agency_client.post(reverse(ADD), {"content": text})
    draft = RuleVersion.objects.get(state="draft", created_by__isnull=False)
    page = agency_client.get(reverse("admin:rules_ruleversion_preview", args=[draft.pk])).content.decode()
    assert "cannot be published until these are fixed" in page and 'id="publish"' not in page
    response = agency_client.post(reverse("admin:rules_ruleversion_publish", args=[draft.pk]),
                                  {"content_sha256": draft.content_sha256}, follow=True)
    assert any(m.startswith("Not published: ") for m in messages_of(response))
    assert RuleVersion.objects.get(pk=draft.pk).state == "draft"


def test_a_published_version_cannot_be_edited(agency_client, workspace_registry):
    published = RuleVersion.objects.get(regime="us-ca-sb53", state="published")
    url = reverse("admin:rules_ruleversion_change", args=[published.pk])
    page = agency_client.get(url).content.decode()
    assert "never edited" in page and "<textarea" not in page and 'name="_save"' not in page
    assert "frontier_compute" in page  # the file itself is shown, read only
    before = published.content
    assert agency_client.post(url, {"content": sb53_draft_text(effective_from=today())}).status_code == 403
    published.refresh_from_db()
    assert published.content == before
    assert agency_client.get(reverse("admin:rules_ruleversion_preview", args=[published.pk])).status_code == 404
