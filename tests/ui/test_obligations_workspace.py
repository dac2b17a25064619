"""Obligations in the workspace: the dashboard's "Overdue and due soon" panel, the obligations section of
a subject's page, and the read-only obligations list with its filters and CSV download; a lab member
sees its own organisation's obligations only."""
from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import pytest
from django.urls import reverse

from obligations.models import ObligationState
from registry.models import AIModel
from tests.obligation_records import ART_55, SB53_FRAMEWORK, fulfilment, obligation_state
from tests.ui.conftest import evaluate_registry, today
from tests.ui.test_release_scope import lineage as _lineage

lineage = _lineage  # the release-scope tests' fixture: acme's model resting on beta's unreleased one

pytestmark = pytest.mark.django_db

LIST = "admin:obligations_obligationstate_changelist"


@pytest.fixture
def obligations(workspace_registry):
    """acme: one obligation overdue, one due in 3 days, one due in 30 days, one fulfilled; beta: one overdue."""
    day = today()
    return {
        "overdue": obligation_state(subject="model:acme/Frontier@1", status="overdue", due_on=day - timedelta(days=5),
                                    as_of=day, due_reason="14 days after the threshold is met"),
        "soon": obligation_state(subject="model:acme/Mid@1", status="due", due_on=day + timedelta(days=3), as_of=day,
                                 **SB53_FRAMEWORK),
        "later": obligation_state(subject="model:acme/Frontier@1", status="due", due_on=day + timedelta(days=30),
                                  as_of=day, **ART_55),
        "fulfilled": obligation_state(subject="model:acme/Mid@1", status="fulfilled", due_on=day + timedelta(days=2),
                                      as_of=day),
        "beta": obligation_state(subject="model:beta/Secret@1", status="overdue", due_on=day - timedelta(days=1),
                                 as_of=day),
    }


def panel(page: str) -> str:
    found = re.search(r'<section class="workspace-panel obligations-panel".*?</section>', page, re.S)
    assert found, "no obligations panel on the dashboard"
    return found.group(0)


def panel_rows(page: str) -> list[tuple[str, str]]:
    """(subject, status) of each row of the panel, in order."""
    return re.findall(r'<tr class="obligation-row" data-status="(\w+)">\s*<td>(?:<a href="[^"]*">)?([^<]+)', panel(page))


def test_dashboard_panel_lists_overdue_first_then_due_within_14_days(agency_client, obligations):
    page = agency_client.get(reverse("admin:index")).content.decode()
    rows = panel_rows(page)
    assert rows == [("overdue", "model:acme/Frontier@1"), ("overdue", "model:beta/Secret@1"), ("due", "model:acme/Mid@1")]
    text = panel(page)
    assert "2 overdue" in text and "1 due by" in text
    assert f'{reverse(LIST)}?status=overdue' in text
    frontier = AIModel.objects.get(name="Frontier")
    assert reverse("admin:registry_aimodel_change", args=[frontier.pk]) in text  # each subject linked to its page
    assert "Frontier AI framework" in text and "Cal. Bus. &amp; Prof. Code" in text


def test_dashboard_panel_of_a_lab_member_shows_its_own_organisation_only(acme_client, obligations):
    page = acme_client.get(reverse("admin:index")).content.decode()
    assert [subject for _, subject in panel_rows(page)] == ["model:acme/Frontier@1", "model:acme/Mid@1"]
    assert "beta" not in panel(page)
    assert "1 overdue" in panel(page)


def test_dashboard_panel_says_when_nothing_is_owed(agency_client, workspace_registry):
    page = agency_client.get(reverse("admin:index")).content.decode()
    assert "Nothing is overdue or due within 14 days." in panel(page)


def section(page: str) -> str:
    found = re.search(r'<section class="workspace-panel subject-obligations".*?</section>', page, re.S)
    assert found, "no obligations section on the subject's page"
    return found.group(0)


PAGE_DAY = date(2026, 6, 1)


def test_subject_page_shows_each_obligation_on_the_page_date_with_due_date_reason_citation_and_fulfilments(
        agency_client, workspace_registry):
    """Frontier (3e26 ops, placed on the market 2023-07-18), evaluated as of 2026-06-01: its EU AI Act
    obligations are due by 2027-08-02 (Art 111(3)); an accepted fulfilment meets Art 55's, a rejected one
    does not count for Art 53's; SB 53's transparency report does not apply to a model deployed before SB 53."""
    evaluate_registry(as_of=PAGE_DAY)
    frontier = AIModel.objects.get(name="Frontier")
    fulfilment(model=frontier, regime="eu-ai-act", obligation="art-55-systemic-risk-obligations",
               fulfilled_on=date(2026, 2, 1), reference="EU-AIO-55-0001", review=("accepted", "complete"))
    fulfilment(model=frontier, regime="eu-ai-act", obligation="art-53-provider-obligations",
               fulfilled_on=date(2026, 3, 1), reference="EU-AIO-2026-001", review=("rejected", "no Annex XI information"))
    url = reverse("admin:registry_aimodel_change", args=[frontier.pk])
    text = section(agency_client.get(url, {"as_of": PAGE_DAY.isoformat()}).content.decode())
    assert "Obligations as of 2026-06-01" in text
    rows = re.findall(r'data-obligation-regime="([\w-]+)" data-obligation="([\w-]+)" data-status="(\w+)"', text)
    assert rows == [
        ("eu-ai-act", "art-52-1-notification", "due"),
        ("eu-ai-act", "art-53-provider-obligations", "due"),
        ("eu-ai-act", "art-55-systemic-risk-obligations", "fulfilled"),
        ("us-ca-sb53", "critical-safety-incident-report", "not_yet_due"),
    ]
    art53 = text.split('data-obligation="art-53-provider-obligations"')[1].split("</tr>")[0]
    assert '<span class="obligation-status obligation-due">due</span>' in art53
    assert "2027-08-02" in art53 and "placed on the market before 2025-08-02" in art53
    assert "Reg. (EU) 2024/1689, Art 53(1)" in art53
    assert "EU-AIO-2026-001" in art53 and "(rejected)" in art53
    art55 = text.split('data-obligation="art-55-systemic-risk-obligations"')[1].split("</tr>")[0]
    assert '<span class="obligation-status obligation-fulfilled">fulfilled</span>' in art55
    assert "EU-AIO-55-0001" in art55 and "(accepted)" in art55
    assert "<code>us-ca-sb53:transparency-report</code>" in text.split("Not applicable on 2026-06-01")[1]
    # the page's date moves the statuses: after 2027-08-02 Art 53's obligations are overdue, Art 55's stay met
    evaluate_registry(as_of=date(2027, 9, 1))
    later = section(agency_client.get(url, {"as_of": "2027-09-01"}).content.decode())
    assert 'data-obligation="art-53-provider-obligations" data-status="overdue"' in later
    assert 'data-obligation="art-55-systemic-risk-obligations" data-status="fulfilled"' in later


def test_subject_page_of_a_subject_owing_nothing_says_so_and_lists_what_does_not_apply(agency_client, workspace_registry):
    evaluate_registry(as_of=PAGE_DAY)
    small = AIModel.objects.get(name="Small")
    page = agency_client.get(reverse("admin:registry_aimodel_change", args=[small.pk]), {"as_of": PAGE_DAY.isoformat()})
    text = section(page.content.decode())
    assert "No obligation arises for this subject on 2026-06-01" in text
    assert "<code>eu-ai-act:art-53-provider-obligations</code>: the determination (not_covered, no tier) does not reach" in text


def listed(response) -> list[str]:
    """The subjects of the list's rows, in order."""
    return re.findall(r'<td class="field-subject_link">(?:<a href="[^"]*">)?([^<]+)', response.content.decode())


def test_obligations_list_filters_by_regime_status_organisation_and_due_date(agency_client, obligations):
    url = reverse(LIST)
    day = today()
    assert sorted(listed(agency_client.get(url))) == sorted(
        ["model:acme/Frontier@1", "model:acme/Mid@1", "model:acme/Frontier@1", "model:acme/Mid@1", "model:beta/Secret@1"])
    assert listed(agency_client.get(url, {"regime": "us-ca-sb53"})) == ["model:acme/Mid@1"]
    assert listed(agency_client.get(url, {"status": "overdue"})) == ["model:acme/Frontier@1", "model:beta/Secret@1"]
    assert listed(agency_client.get(url, {"organisation": "beta"})) == ["model:beta/Secret@1"]
    due_soon = listed(agency_client.get(url, {"due_before": (day + timedelta(days=3)).isoformat()}))
    assert due_soon == ["model:acme/Frontier@1", "model:beta/Secret@1", "model:acme/Mid@1", "model:acme/Mid@1"]
    assert listed(agency_client.get(url, {"q": "Secret"})) == ["model:beta/Secret@1"]


def test_obligations_list_names_a_bad_due_date_and_filters_nothing_by_it(agency_client, obligations):
    response = agency_client.get(reverse(LIST), {"due_before": "2027-02-30"}, follow=True)
    page = response.content.decode()
    assert "Filter due_before: &#x27;2027-02-30&#x27; is not a date written YYYY-MM-DD" in page
    assert len(listed(response)) == 5


def test_obligations_list_of_a_lab_member_is_its_own_and_read_only(acme_client, obligations):
    response = acme_client.get(reverse(LIST))
    assert response.status_code == 200
    assert set(listed(response)) == {"model:acme/Frontier@1", "model:acme/Mid@1"}
    other = obligations["beta"]
    assert acme_client.get(reverse("admin:obligations_obligationstate_change", args=[other.pk])).status_code in (302, 404)
    own = obligations["overdue"]
    page = acme_client.get(reverse("admin:obligations_obligationstate_change", args=[own.pk])).content.decode()
    assert "art-53-provider-obligations" in page and 'name="_save"' not in page


def test_obligations_csv_download_is_the_filtered_list(agency_client, obligations):
    fulfilment(model=AIModel.objects.get(name="Frontier"), regime="eu-ai-act", obligation="art-53-provider-obligations",
               fulfilled_on=today(), reference="EU-AIO-7", review=("accepted", "complete"))
    obligation_state(subject="model:acme/Small@1", status="overdue", due_on=today(), as_of=today(),
                     title="=HYPERLINK(\"http://x\")", obligation="art-52-1-notification")
    response = agency_client.get(reverse("admin:obligations_obligationstate_export_csv"), {"status": "overdue"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["subject"], r["obligation"], r["status"]) for r in rows] == [
        ("model:acme/Frontier@1", "art-53-provider-obligations", "overdue"),
        ("model:beta/Secret@1", "art-53-provider-obligations", "overdue"),
        ("model:acme/Small@1", "art-52-1-notification", "overdue"),
    ]
    assert rows[0]["due_on"] == (today() - timedelta(days=5)).isoformat()
    assert rows[0]["citation"] == "Regulation (EU) 2024/1689, Art. 53(1)"
    assert rows[0]["fulfilments"] == f"{today().isoformat()} EU-AIO-7 (accepted)"
    assert rows[2]["title"] == "'=HYPERLINK(\"http://x\")"  # a spreadsheet shows it, never runs it
    page = agency_client.get(reverse(LIST), {"status": "overdue"}).content.decode()
    assert f'href="{reverse("admin:obligations_obligationstate_export_csv")}?status=overdue" class="csv-export"' in page


def test_obligations_csv_of_a_lab_member_holds_its_own_only(acme_client, obligations):
    response = acme_client.get(reverse("admin:obligations_obligationstate_export_csv"))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {r["organisation"] for r in rows} == {"acme"} and len(rows) == 4


def test_a_lab_never_reads_obligations_resting_on_another_organisations_unreleased_model(
        acme_client, agency_client, lineage):
    """acme's Acme-FT fine-tunes beta's Secret, which is not released: its determinations are withheld from
    acme, and so are the obligations they created (the panel, the list, the CSV, the subject's page)."""
    withheld = sorted(lineage)[-1]
    resting = obligation_state(subject="model:acme/Acme-FT@1", status="overdue", due_on=today() - timedelta(days=2),
                               as_of=today(), occurrence="withheld-check")
    ObligationState.objects.filter(pk=resting.pk).update(determination_id=withheld)
    obligation_state(subject="model:acme/Frontier@1", status="overdue", due_on=today() - timedelta(days=2),
                     as_of=today(), occurrence="shown-check")
    lab_page = acme_client.get(reverse("admin:index")).content.decode()
    assert "model:acme/Frontier@1" in panel(lab_page) and "Acme-FT" not in panel(lab_page)
    assert "Acme-FT" not in acme_client.get(reverse(LIST)).content.decode()
    csv_text = b"".join(acme_client.get(reverse("admin:obligations_obligationstate_export_csv")).streaming_content)
    assert b"Acme-FT" not in csv_text and b"Frontier" in csv_text
    fine_tune = AIModel.objects.get(name="Acme-FT")
    lab_section = section(acme_client.get(reverse("admin:registry_aimodel_change", args=[fine_tune.pk])).content.decode())
    assert "Withheld: the subject's determinations rest on another organisation's model not yet released" in lab_section
    assert "model:acme/Acme-FT@1" in panel(agency_client.get(reverse("admin:index")).content.decode())  # a regulator reads it


def test_a_page_asked_for_a_date_that_is_not_one_shows_no_obligations(agency_client, obligations):
    frontier = AIModel.objects.get(name="Frontier")
    response = agency_client.get(reverse("admin:registry_aimodel_change", args=[frontier.pk]), {"as_of": "2027-02-30"})
    assert response.status_code == 400 and "subject-obligations" not in response.content.decode()


def test_the_obligations_list_reads_its_page_in_the_order_of_an_index(agency_client, obligations):
    """Overdue first, then by due date, read from `obligation_state_listed`: with half a million states,
    sorting them all for a page of 50 took 311 ms (BENCHMARKS.md)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.support.plans import listed_statement, plan_without_sorting

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's plans")
    for params in ({}, {"regime__exact": "eu-ai-act"}, {"status": "overdue"}):
        with CaptureQueriesContext(connection) as queries:
            assert agency_client.get(reverse(LIST), params).status_code == 200
        plan = plan_without_sorting(listed_statement(queries.captured_queries, ObligationState._meta.db_table))
        assert "obligation_state_listed" in plan and "Sort" not in plan, plan
