"""The workspace in plain language: regimes by their short title with the slug beside it, a
determination's facts as fields and its statuses and outcomes as words, modalities as checkboxes,
figures in scientific notation in edit forms too (kept exactly on save), help-text links that lead
somewhere, "View site" leading to the workspace, the operator's pages (login throttle, periodic
tasks) for superusers only, and no way to delete a published rule version."""
from __future__ import annotations

import re
from html import unescape
from urllib.parse import urljoin

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.urls import reverse

from registry.models import AIModel, ModelRevision
from registry.services import registry_submit
from rules.library_store import draft_create
from rules.models import Determination, RuleVersion
from rules.models.rule_version import RuleVersionState
from tests.factories import ModelRecordFactory, document
from tests.ui.conftest import sb53_draft_text, today

pytestmark = pytest.mark.django_db

ONE_ABOVE = 10**26 + 1


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def latest_facts(name: str) -> dict:
    return ModelRevision.objects.filter(model__name=name).order_by("-number").first().facts


def form_data(response) -> dict:
    """What the browser would send back for the admin change form as shown."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    for form in forms:
        for name, field in form.fields.items():
            value, key = form[name].value(), form.add_prefix(name)
            if value is None:
                continue
            if field.widget.__class__.__name__ == "DeclarationSelect":
                data[key] = {True: "true", False: "false"}.get(value, "unknown")
            elif isinstance(value, bool):
                if value:
                    data[key] = "on"
            elif isinstance(value, (list, tuple)):
                data[key] = list(value)
            else:
                data[key] = field.prepare_value(value) if hasattr(field, "prepare_value") else value
    return data


# Regimes by name


def test_regimes_read_by_their_short_title_with_the_slug_beside_it(agency_client, workspace_registry):
    dashboard = agency_client.get(reverse("admin:index")).content.decode()
    row = re.search(r'<tr data-regime="eu-ai-act"[^>]*>(.*?)</tr>', dashboard, re.S).group(1)
    assert "EU AI Act" in text_of(row) and "eu-ai-act" in text_of(row)

    mid = AIModel.objects.get(name="Mid")
    page = agency_client.get(reverse("admin:registry_aimodel_change", args=[mid.pk])).content.decode()
    sb53 = text_of(re.search(r'<tr class="regime-row" data-regime="us-ca-sb53"[^>]*>(.*?)</tr>', page, re.S).group(1))
    assert sb53.strip().startswith("California SB 53") and "us-ca-sb53@2026-01-01" in sb53
    never = text_of(re.search(r'<tr class="regime-row" data-regime="us-ca-sb1047"[^>]*>(.*?)</tr>', page, re.S).group(1))
    assert "California SB 1047" in never and "us-ca-sb1047" in never  # the slug stays, even with no version in force

    models = agency_client.get(reverse("admin:registry_aimodel_changelist")).content.decode()
    assert "EU AI Act: covered" in text_of(models) and "eu-ai-act: covered" not in text_of(models)
    assert "EU AI Act (eu-ai-act): covered" in text_of(models)  # the status filter's choice

    log = text_of(agency_client.get(reverse("admin:rules_determination_changelist")).content.decode())
    assert "California SB 53 us-ca-sb53" in log and "California SB 53 (us-ca-sb53)" in log  # column and filter
    versions = text_of(agency_client.get(reverse("admin:rules_ruleversion_changelist")).content.decode())
    assert "EU AI Act eu-ai-act" in versions
    designation_form = agency_client.get(reverse("admin:registry_designation_add")).content.decode()
    assert re.search(r'<option value="eu-ai-act"[^>]*>EU AI Act \(eu-ai-act\)</option>', designation_form)


# The determination page


def test_a_determination_shows_its_facts_as_fields_and_its_status_and_outcomes_as_words(agency_client, workspace_registry):
    determination = Determination.objects.filter(subject_ref="model:acme/Mid@1", regime="us-ca-sb53").latest("sequence")
    assert determination.status == "not_covered"
    page = agency_client.get(reverse("admin:rules_determination_change", args=[determination.pk])).content.decode()
    shown = text_of(page)
    assert "FactsSnapshot object" not in shown
    compute = re.search(r'<tr data-fact="training_compute_ops">(.*?)</tr>', page, re.S)
    assert compute and "Training compute ops" in text_of(compute.group(1)) and "3.8e25 ops" in text_of(compute.group(1))
    assert re.search(r'<tr data-fact="general_purpose">.*?<td>Yes</td>', page, re.S)
    assert determination.facts_sha256 in shown  # the snapshot's hash, for whoever checks the chain
    assert "not_covered" not in shown and "us-ca-sb53: not covered" in shown  # title and breadcrumb in words
    tests = text_of(re.search(r'<table class="determination-tests">(.*?)</table>', page, re.S).group(1))
    assert "not met" in tests and "not_met" not in tests


# Edit forms: modalities and figures


def test_modalities_are_checkboxes_and_a_save_keeps_what_was_ticked(admin_client, workspace_registry):
    registry_submit(document(models=[ModelRecordFactory(name="Folding", modalities=["text", "protein-structure"])]),
                    via="import")
    model = AIModel.objects.get(name="Folding")
    url = reverse("admin:registry_aimodel_change", args=[model.pk])
    response = admin_client.get(url)
    page = response.content.decode()
    boxes = dict(re.findall(r'<input type="checkbox" name="modalities" value="([^"]+)"([^>]*)>', page))
    assert set(boxes) == {"text", "image", "audio", "video", "protein-structure"}  # a declared one stays offered
    assert "checked" in boxes["text"] and "checked" in boxes["protein-structure"] and "checked" not in boxes["image"]

    data = form_data(response)
    data["modalities"] = ["text", "image"]
    saved = admin_client.post(url, data)
    assert saved.status_code == 302, text_of(saved.content.decode())[-2000:]
    assert latest_facts("Folding")["modalities"] == ["text", "image"]


def test_edit_forms_write_figures_in_scientific_notation_and_a_save_keeps_every_digit(admin_client, workspace_registry):
    registry_submit(document(models=[ModelRecordFactory(name="Exact", training_compute_ops=str(ONE_ABOVE),
                                                        parameter_count="4.05e11", training_tokens="1.56e13")]),
                    via="import")
    model = AIModel.objects.get(name="Exact")
    url = reverse("admin:registry_aimodel_change", args=[model.pk])
    response = admin_client.get(url)
    page = response.content.decode()
    value = lambda name: re.search(rf'name="{name}" value="([^"]*)"', page).group(1)  # noqa: E731
    assert value("parameter_count") == "4.05e11" and value("training_tokens") == "1.56e13"
    assert value("training_compute_ops") == "1.00000000000000000000000001e26"  # every digit, still scientific
    data = form_data(response)
    data["notes"] = "read back as shown"
    assert admin_client.post(url, data).status_code == 302
    facts = latest_facts("Exact")
    assert facts["notes"] == "read back as shown"
    assert facts["training_compute_ops"] == ONE_ABOVE and facts["parameter_count"] == 405 * 10**9

    cluster_url = reverse("admin:registry_cluster_change", args=[model.organisation.clusters.get().pk])
    assert 'value="400"' in admin_client.get(cluster_url).content.decode()  # small figures stay as digits


# Links


def test_every_help_text_link_in_the_workspace_leads_to_a_page(admin_client, agency_client, workspace_registry):
    draft = draft_create(content=sb53_draft_text(effective_from=today()), origin="a lowered threshold")
    pages = [reverse("admin:rules_ruleversion_add"), reverse("admin:rules_ruleversion_change", args=[draft.pk])]
    for model in admin.site._registry:
        info = model._meta.app_label, model._meta.model_name
        pages.append(reverse("admin:{}_{}_add".format(*info)))
        first = model.objects.order_by("pk").first()
        if first is not None:
            pages.append(reverse("admin:{}_{}_change".format(*info), args=[first.pk]))
    links = {}
    for client in (admin_client, agency_client):
        for page in pages:
            response = client.get(page)
            if response.status_code != 200:
                continue
            for help_block in re.findall(r'<div class="help"[^>]*>(.*?)</div>', response.content.decode(), re.S):
                for href in re.findall(r'href="([^"]+)"', help_block):
                    links.setdefault((client, urljoin(page, unescape(href))), page)
    assert any("format" in url for _, url in links), "the draft form's help no longer links to the rule file format"
    broken = [f"{url} (from {page})" for (client, url), page in links.items() if client.get(url).status_code != 200]
    assert not broken, broken
    format_page = text_of(agency_client.get(reverse("admin:rules_ruleversion_format")).content.decode())
    assert "effective_from" in format_page and "citation" in format_page


def test_view_site_leads_to_the_workspace(agency_client, workspace_registry):
    page = agency_client.get(reverse("admin:registry_aimodel_changelist")).content.decode()
    href = re.search(r'<a href="([^"]+)">View site</a>', page).group(1)
    response = agency_client.get(href, follow=True)
    assert response.status_code == 200 and response.request["PATH_INFO"] == reverse("admin:index")
    assert 'id="status-title"' in response.content.decode()  # the dashboard


# The operator's pages


OPERATOR_LISTS = ["admin:axes_accessattempt_changelist", "admin:axes_accessfailurelog_changelist",
                  "admin:django_celery_beat_periodictask_changelist",
                  "admin:django_celery_beat_crontabschedule_changelist"]


def test_login_throttle_and_periodic_tasks_are_for_superusers_only(agency, agency_client, admin_client):
    agency.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=["axes", "django_celery_beat"]))
    index = text_of(agency_client.get(reverse("admin:index")).content.decode())
    assert "Periodic tasks" not in index and "Access attempts" not in index and "Axes" not in index
    for name in OPERATOR_LISTS:
        assert agency_client.get(reverse(name)).status_code in (403, 404), name
    assert agency_client.get(reverse("admin:app_list", args=["django_celery_beat"])).status_code in (403, 404)

    superuser_index = text_of(admin_client.get(reverse("admin:index")).content.decode())
    assert "Periodic tasks" in superuser_index and "Access attempts" in superuser_index
    for name in OPERATOR_LISTS:
        assert admin_client.get(reverse(name)).status_code == 200, name


# Rule versions


def test_a_published_rule_version_offers_no_delete_action(admin_client, agency_client, db):
    published = RuleVersion.objects.filter(state=RuleVersionState.PUBLISHED, regime="us-ca-sb53").first()
    draft = draft_create(content=sb53_draft_text(effective_from=today()), origin="a lowered threshold")
    changelist = admin_client.get(reverse("admin:rules_ruleversion_changelist")).content.decode()
    assert 'value="delete_selected"' not in changelist
    for client in (admin_client, agency_client):
        page = client.get(reverse("admin:rules_ruleversion_change", args=[published.pk])).content.decode()
        assert "deletelink" not in page and "/delete/" not in page
        refused = client.post(reverse("admin:rules_ruleversion_delete", args=[published.pk]), {"post": "yes"})
        assert refused.status_code == 403
    bulk = admin_client.post(reverse("admin:rules_ruleversion_changelist"),
                             {"action": "delete_selected", "_selected_action": [published.pk], "post": "yes"})
    assert bulk.status_code in (200, 302)
    assert RuleVersion.objects.filter(pk=published.pk).exists()
    assert admin_client.post(reverse("admin:rules_ruleversion_delete", args=[draft.pk]), {"post": "yes"}).status_code == 302
    assert not RuleVersion.objects.filter(pk=draft.pk).exists()  # a draft may still be deleted, from its own page
