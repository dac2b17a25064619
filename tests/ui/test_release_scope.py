"""The workspace applies the API's release rule (`rules.visibility`): a lab member never reads in the
admin a determination or status change resting on another organisation's model not yet released (its
figures would show), nor that model's own lineage; a regulator reads them all; once the model is
released, the lab reads them too."""
from __future__ import annotations

import re
from datetime import date

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from registry.models import AIModel
from registry.services import registry_submit
from reports.models import ReportArtifact
from reports.services import report_generate
from rules.models import Determination, StatusChange
from tests.factories import ModelRecordFactory, determinations_naming, document
from tests.ui.conftest import evaluate_registry, today

pytestmark = pytest.mark.django_db

# beta's Secret (factory: released 2024) with a base of its own, which acme fine-tuned while it was released
BETA_BASE = ModelRecordFactory(organisation="beta", name="Beta-Base", training_compute_ops="1.5e24")
SECRET = ModelRecordFactory(organisation="beta", name="Secret", training_compute_ops="2e24",
                            base_model="beta/Beta-Base@1", derivation="fine_tuning")
FINE_TUNE = ModelRecordFactory(organisation="acme", name="Acme-FT", training_compute_ops="1e24",
                               base_model="beta/Secret@1", derivation="fine_tuning")
NAMING_SECRET = "beta/Secret@1"


def _secret_released_on(day: str) -> None:
    registry_submit(document(organisations=[], models=[{**SECRET, "released_on": day}]), via="import")


@pytest.fixture
def lineage(workspace_registry):
    """acme's Acme-FT fine-tunes beta's Secret, evaluated (twice, its status changing) while Secret was released; then Secret's release
    date moved to one to come (data stored before bases had to be released) and the registry evaluated again."""
    registry_submit(document(organisations=[], models=[BETA_BASE, SECRET]), via="import")
    registry_submit(document(organisations=[], models=[FINE_TUNE]), via="import")
    evaluate_registry()
    # more compute of its own puts the lineage's sum (9.7e25 + 2e24 + 1.5e24) over SB 53's 1e26: a status change
    registry_submit(document(organisations=[], models=[{**FINE_TUNE, "training_compute_ops": "9.7e25"}]), via="import")
    evaluate_registry()
    _secret_released_on("2099-01-01")
    evaluate_registry()
    withheld = {row.pk for row in determinations_naming(NAMING_SECRET, organisation="acme")}
    assert withheld  # the log holds acme's determinations resting on beta's Secret
    return withheld


@pytest.fixture
def acme_log_client(acme_staff):
    """acme's member, should it be given the decision log's view permission."""
    acme_staff.user_permissions.add(Permission.objects.get(codename="view_determination"))
    lab_client = Client()
    lab_client.force_login(acme_staff)
    return lab_client


def _fine_tune_page(client: Client):
    response = client.get(reverse("admin:registry_aimodel_change", args=[AIModel.objects.get(name="Acme-FT").pk]))
    assert response.status_code == 200
    return response


def _history(response) -> set[int]:
    return {d.pk for d in response.context["history_page"].paginator.object_list}


def _status_rows(response) -> dict[str, object]:
    return {row.regime: row for row in response.context["status_rows"]}


def _listed_determinations(client: Client) -> set[int]:
    response = client.get(reverse("admin:rules_determination_changelist"), {"organisation": "acme"})
    assert response.status_code == 200
    return {d.pk for d in response.context["cl"].queryset}


def _dashboard_changes(client: Client) -> set[int]:
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return {change.pk for change, _ in response.context["changes"]}


def test_a_lab_member_never_reads_determinations_resting_on_an_unreleased_base(lineage, acme_client):
    page = _fine_tune_page(acme_client)
    assert _history(page).isdisjoint(lineage)
    shown = [row.determination.pk for row in _status_rows(page).values() if row.determination is not None]
    assert lineage.isdisjoint(shown)
    assert any("withheld" in row.note for row in _status_rows(page).values())
    text = page.content.decode()
    assert "Beta-Base" not in text  # the unreleased base's own lineage
    assert "beta/Secret@1 (another organisation&#x27;s model, not yet released)" in text
    for figure in ("1.005e26", "2e24", "1.5e24"):  # the base's figures and the sums with them
        assert figure not in text
    organisation = acme_client.get(reverse("admin:registry_organisation_change",
                                           args=[AIModel.objects.get(name="Acme-FT").organisation_id]))
    assert _history(organisation).isdisjoint(lineage)


def test_a_lab_member_never_lists_them_in_the_log_or_its_status_changes(lineage, acme_log_client):
    listed = _listed_determinations(acme_log_client)
    assert listed and listed.isdisjoint(lineage)
    hidden_changes = set(StatusChange.objects.filter(to_determination__in=lineage).values_list("pk", flat=True))
    assert hidden_changes  # evaluating acme's fine-tune changed statuses...
    assert _dashboard_changes(acme_log_client).isdisjoint(hidden_changes)  # ...that acme does not read
    missing = acme_log_client.get(reverse("admin:rules_determination_change", args=[min(lineage)]))
    assert missing.status_code in (302, 404)  # as if it did not exist


def test_a_regulator_reads_them_all(lineage, agency_client):
    page = _fine_tune_page(agency_client)
    assert lineage <= _history(page) | set(Determination.objects.filter(organisation="acme", subject_kind="organisation")
                                           .values_list("pk", flat=True))
    assert "Beta-Base" in page.content.decode()
    assert "1.005e26 ops &gt; 1e26 ops" in page.content.decode()  # the sum with the unreleased base's runs
    assert lineage <= _listed_determinations(agency_client)
    changes = set(StatusChange.objects.filter(to_determination__in=lineage).order_by("-id")
                  .values_list("pk", flat=True)[:1])
    assert changes <= _dashboard_changes(agency_client)


def test_once_released_the_lab_reads_them(lineage, acme_log_client):
    _secret_released_on("2025-01-01")
    page = _fine_tune_page(acme_log_client)
    model_rows = set(Determination.objects.filter(pk__in=lineage, subject_kind="model").values_list("pk", flat=True))
    assert model_rows and model_rows <= _history(page)
    assert not any("withheld" in row.note for row in _status_rows(page).values())
    assert "Beta-Base" in page.content.decode()
    assert "1.005e26 ops &gt; 1e26 ops" in page.content.decode()
    assert lineage <= _listed_determinations(acme_log_client)
    hidden_before = set(StatusChange.objects.filter(to_determination__in=lineage).values_list("pk", flat=True))
    assert hidden_before <= _dashboard_changes(acme_log_client)


def test_a_lab_member_never_gets_an_audit_report_resting_on_an_unreleased_base(lineage, acme_staff, agency):
    acme_staff.user_permissions.add(Permission.objects.get(codename="view_reportartifact"))
    lab_client = Client()
    lab_client.force_login(acme_staff)
    fine_tune = AIModel.objects.get(name="Acme-FT")
    before = ReportArtifact.objects.count()
    response = lab_client.post(reverse("admin:registry_aimodel_audit_report", args=[fine_tune.pk]),
                               {"format": "html"}, follow=True)
    assert response.status_code == 200
    assert any("rests on a base model another organisation has not released" in str(m)
               for m in response.context["messages"])
    assert ReportArtifact.objects.count() == before  # nothing written
    # reports the regulator wrote: the lab lists and downloads its own, never one resting on beta's Secret
    withheld = report_generate(kind="audit", format="html", requested_by=agency, subject=fine_tune.subject_ref,
                               as_of=today())
    own = report_generate(kind="audit", format="html", requested_by=agency, subject="model:acme/Mid@1", as_of=today())
    listed = lab_client.get(reverse("admin:reports_reportartifact_changelist"))
    assert listed.status_code == 200
    assert {a.pk for a in listed.context["cl"].queryset} == {own.pk}
    assert lab_client.get(reverse("admin:reports_reportartifact_download", args=[withheld.pk])).status_code == 404
    assert lab_client.get(reverse("admin:reports_reportartifact_download", args=[own.pk])).status_code == 200
    _secret_released_on("2025-01-01")
    listed = lab_client.get(reverse("admin:reports_reportartifact_changelist"))
    assert {a.pk for a in listed.context["cl"].queryset} == {own.pk, withheld.pk}


def _sb53_covered(client: Client) -> tuple[set[str], int, str]:
    """The models a status filter lists as covered by SB 53, the dashboard's count of such models, and the
    fine-tune's status in the model list."""
    url = reverse("admin:registry_aimodel_changelist")
    filtered = client.get(url, {"status": "us-ca-sb53:covered"})
    assert filtered.status_code == 200
    listed = {str(obj) for obj in filtered.context["cl"].result_list}
    rows = client.get(reverse("admin:index")).context["regime_rows"]
    counts = next(row["counts"] for row in rows if row["counts"].regime.regime == "us-ca-sb53")
    count = counts.by_kind.get("covered", {}).get("model", 0)
    page = client.get(url, {"q": "Acme-FT"}).content.decode()
    return listed, count, re.search(r'<td class="field-status_today">(.*?)</td>', page, re.S).group(1)


def test_lists_filters_and_dashboard_counts_leave_out_the_withheld_status(lineage, acme_client, agency_client):
    listed, count, status = _sb53_covered(agency_client)
    assert "acme/Acme-FT@1" in listed and "us-ca-sb53" in status
    lab_listed, lab_count, lab_status = _sb53_covered(acme_client)
    assert "acme/Acme-FT@1" not in lab_listed and "us-ca-sb53" not in lab_status
    assert lab_listed == {ref for ref in listed if ref.startswith("acme/") and ref != "acme/Acme-FT@1"}
    assert lab_count == len(lab_listed)
    _secret_released_on("2025-01-01")
    lab_listed, lab_count, lab_status = _sb53_covered(acme_client)
    assert "acme/Acme-FT@1" in lab_listed and "us-ca-sb53" in lab_status and lab_count == len(lab_listed)


def test_a_lab_members_form_keeps_a_base_whose_release_was_withdrawn(lineage, acme_client):
    """The base-model field offers a lab only released models of others, but never drops the model's
    current base: the form still holds it (a save keeps it), while no other unreleased model is offered."""
    fine_tune = AIModel.objects.get(name="Acme-FT")
    form = _fine_tune_page(acme_client).context_data["adminform"].form
    choices = form.fields["base_model"].queryset
    assert form.initial["base_model"] == fine_tune.base_model_id
    assert list(choices.filter(organisation__slug="beta", released_on__gt=today()).values_list("name", flat=True)) \
        == ["Secret"]
    AIModel.objects.filter(name="Beta-Base").update(released_on=date(2099, 1, 1))  # another unreleased model
    choices = _fine_tune_page(acme_client).context_data["adminform"].form.fields["base_model"].queryset
    assert not choices.filter(name="Beta-Base").exists() and choices.filter(name="Secret").exists()
