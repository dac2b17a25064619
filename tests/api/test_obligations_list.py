"""GET /api/v1/obligations/: each obligation's status as last worked out, or worked out for `as_of`;
filtered by regime, status, organisation, subject and due date; tenant-scoped (a lab sees its own);
paginated like the other lists; a bad filter is a 400 naming it."""
from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from obligations.models import ObligationState
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from tests.api.conftest import AS_OF, errors_by_field
from tests.api.test_release_scope import lineages as _lineages
from tests.factories import determinations_naming
from tests.obligation_records import SB53_FRAMEWORK, fulfilment, obligation_state

lineages = _lineages  # the release-scope tests' fixture: acme's model resting on rival's unreleased one

pytestmark = pytest.mark.django_db

URL = "/api/v1/obligations/"
LATER = date(2027, 9, 1)


@pytest.fixture
def states(world):
    """Stored states: acme's model overdue under the EU AI Act and due under SB 53, acme itself fulfilled;
    rival's model overdue."""
    acme = "model:acme/Acme-1@1"
    return {
        "acme_overdue": obligation_state(subject=acme, status="overdue", due_on=date(2027, 8, 2), as_of=date(2027, 9, 1),
                                         due_reason="on or before 2027-08-02 (Art 111(3))"),
        "acme_due": obligation_state(subject=acme, status="due", due_on=date(2027, 9, 10), as_of=date(2027, 9, 1),
                                     regime="us-ca-sb53", obligation="transparency-report", title="Transparency report",
                                     citation="Cal. Bus. & Prof. Code § 22757.12(c)"),
        "acme_fulfilled": obligation_state(subject="organisation:acme", status="fulfilled", due_on=date(2026, 1, 1),
                                           as_of=date(2027, 9, 1), **SB53_FRAMEWORK),
        "rival_overdue": obligation_state(subject="model:rival/Rival-1@1", status="overdue", due_on=date(2027, 8, 2),
                                          as_of=date(2027, 9, 1)),
    }


def listed(response) -> list[tuple[str, str, str]]:
    assert response.status_code == 200, response.content
    return [(f"{o['subject']['kind']}:{o['subject']['organisation']}", o["obligation"], o["status"])
            for o in response.json()["results"]]


def test_a_regulator_lists_every_obligation_overdue_first_then_by_due_date(regulator_api, states):
    assert listed(regulator_api.get(URL)) == [
        ("model:acme", "art-53-provider-obligations", "overdue"),
        ("model:rival", "art-53-provider-obligations", "overdue"),
        ("organisation:acme", "frontier-ai-framework", "fulfilled"),
        ("model:acme", "transparency-report", "due"),
    ]
    first = regulator_api.get(URL).json()["results"][0]
    assert first["subject"] == {"kind": "model", "organisation": "acme", "name": "Acme-1", "version": "1"}
    assert first["due_on"] == "2027-08-02" and first["due_reason"] == "on or before 2027-08-02 (Art 111(3))"
    assert first["citation"] == "Regulation (EU) 2024/1689, Art. 53(1)" and first["fulfilments"] == []


def test_a_lab_lists_its_own_obligations_only(lab, rival, states):
    assert {subject for subject, _, _ in listed(lab.get(URL))} == {"model:acme", "organisation:acme"}
    assert listed(rival.get(URL)) == [("model:rival", "art-53-provider-obligations", "overdue")]
    assert listed(lab.get(URL, {"organisation": "rival"})) == []  # another lab's are never shown


def test_the_filters_regime_status_organisation_subject_and_due_before(regulator_api, states):
    assert listed(regulator_api.get(URL, {"regime": "us-ca-sb53"})) == [
        ("organisation:acme", "frontier-ai-framework", "fulfilled"), ("model:acme", "transparency-report", "due")]
    assert [s for s, _, _ in listed(regulator_api.get(URL, {"status": "overdue"}))] == ["model:acme", "model:rival"]
    assert len(listed(regulator_api.get(URL, {"organisation": "acme"}))) == 3
    assert len(listed(regulator_api.get(URL, {"subject": "model:acme/Acme-1@1"}))) == 2
    assert listed(regulator_api.get(URL, {"due_before": "2027-08-01"})) == [
        ("organisation:acme", "frontier-ai-framework", "fulfilled")]
    assert len(listed(regulator_api.get(URL, {"due_before": "2027-08-02", "organisation": "acme"}))) == 2


def test_fulfilments_carry_the_latest_review(regulator_api, states, world):
    fulfilment(model=world.acme_model, regime="eu-ai-act", obligation="art-53-provider-obligations",
               fulfilled_on=date(2027, 8, 20), reference="EU-AIO-1", review=("rejected", "incomplete"))
    fulfilment(model=world.acme_model, regime="eu-ai-act", obligation="art-53-provider-obligations",
               fulfilled_on=date(2027, 8, 25), reference="EU-AIO-2")
    body = regulator_api.get(URL, {"status": "overdue", "organisation": "acme"}).json()["results"][0]
    assert [(f["fulfilled_on"], f["reference"], f["accepted"]) for f in body["fulfilments"]] == [
        ("2027-08-20", "EU-AIO-1", False), ("2027-08-25", "EU-AIO-2", None)]


@pytest.mark.parametrize(("params", "field", "words"), [
    ({"due_before": "2027-02-30"}, "due_before", "Date has wrong format"),
    ({"as_of": "yesterday"}, "as_of", "Date has wrong format"),
    ({"status": "late"}, "status", '"late" is not a valid choice'),
    ({"regime": "eu-ai-acts"}, "regime", "unknown regime 'eu-ai-acts'"),
])
def test_a_bad_filter_is_a_400_naming_it(regulator_api, states, params, field, words):
    response = regulator_api.get(URL, params)
    assert response.status_code == 400
    errors = errors_by_field(response)
    assert list(errors) == [field] and words in errors[field]


def test_as_of_works_the_obligations_out_for_that_date(lab, rival, world):
    """Acme-1 (2e26 ops, placed on the market 2023-07-18): its EU AI Act obligations fall due on 2027-08-02
    (Art 111(3)): due as of 2026-03-01, overdue as of 2027-09-01."""
    body = lab.get(URL, {"as_of": AS_OF.isoformat(), "subject": "model:acme/Acme-1@1"}).json()
    found = {(o["regime"], o["obligation"]): (o["status"], o["due_on"]) for o in body["results"]}
    assert found[("eu-ai-act", "art-53-provider-obligations")] == ("due", "2027-08-02")
    assert found[("us-ca-sb53", "critical-safety-incident-report")] == ("not_yet_due", None)
    assert body["results"][0]["due_on"] == "2027-08-02"  # by due date, none last
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=LATER, subjects=["model:acme/Acme-1@1"]))
    later = lab.get(URL, {"as_of": LATER.isoformat(), "regime": "eu-ai-act"}).json()["results"]
    assert {(o["obligation"], o["status"]) for o in later} >= {("art-53-provider-obligations", "overdue")}
    overdue = lab.get(URL, {"as_of": LATER.isoformat(), "status": "overdue"}).json()["results"]
    assert overdue and {o["status"] for o in overdue} == {"overdue"}
    assert lab.get(URL, {"as_of": LATER.isoformat(), "due_before": "2027-08-01"}).json()["results"] == []
    assert rival.get(URL, {"as_of": LATER.isoformat(), "subject": "model:acme/Acme-1@1"}).json()["results"] == []


def test_the_list_is_paginated_like_the_others_in_a_bounded_number_of_queries(regulator_api, states, world):
    for day in (1, 2, 3):
        fulfilment(model=world.acme_model, regime="eu-ai-act", obligation="art-53-provider-obligations",
                   fulfilled_on=date(2027, 8, day), reference=f"EU-{day}")
    body = regulator_api.get(URL, {"page_size": 2}).json()
    assert body["count"] == 4 and len(body["results"]) == 2 and "page=2" in body["next"]
    with CaptureQueriesContext(connection) as few:
        regulator_api.get(URL, {"page_size": 1})
    with CaptureQueriesContext(connection) as many:
        regulator_api.get(URL, {"page_size": 4})
    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_list_is_in_the_openapi_schema(client):
    import yaml

    schema = yaml.safe_load(client.get("/api/schema/").content)
    operation = schema["paths"][URL]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"regime", "status", "organisation", "due_before", "as_of", "page", "page_size"} <= names
    assert "400" in operation["responses"]


def test_a_lab_never_reads_obligations_resting_on_another_labs_unreleased_model(world, lineages, lab, regulator_api):
    """acme's Acme-FT fine-tunes rival's Rival-Secret, not released: the determinations resting on it are
    withheld from acme, and so are the obligations they created, stored or worked out for a date."""
    from tests.api.test_release_scope import AS_OF as LINEAGE_DAY

    resting = next(reversed(determinations_naming("rival/Rival-Secret@1", subject_ref="model:acme/Acme-FT@1")), None)
    assert resting is not None
    state = obligation_state(subject="model:acme/Acme-FT@1", status="overdue", due_on=date(2026, 5, 1),
                             as_of=LINEAGE_DAY)
    ObligationState.objects.filter(pk=state.pk).update(determination_id=resting.pk)
    obligation_state(subject="model:acme/Acme-Open-FT@1", status="overdue", due_on=date(2026, 5, 1), as_of=LINEAGE_DAY)
    stored = [o["subject"]["name"] for o in lab.get(URL).json()["results"]]
    assert "Acme-Open-FT" in stored and "Acme-FT" not in stored
    assert "Acme-FT" in [o["subject"]["name"] for o in regulator_api.get(URL).json()["results"]]
    worked_out = lab.get(URL, {"as_of": LINEAGE_DAY.isoformat(), "organisation": "acme"}).json()["results"]
    assert worked_out and all(o["determination"] != resting.pk for o in worked_out)
    assert "Acme-FT" not in {o["subject"]["name"] for o in worked_out}


def test_the_list_reads_its_page_in_the_order_of_an_index(regulator_api, states):
    """The order overdue first, then by due date, is the index `obligation_state_listed`'s."""
    from tests.support.plans import listed_statement, plan_without_sorting

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's plans")
    with CaptureQueriesContext(connection) as queries:
        assert regulator_api.get(URL).status_code == 200
    plan = plan_without_sorting(listed_statement(queries.captured_queries, ObligationState._meta.db_table))
    assert "obligation_state_listed" in plan and "Sort" not in plan, plan
