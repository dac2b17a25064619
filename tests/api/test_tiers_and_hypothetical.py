"""The API on tiers and existence in time: a determination carries its tier (and `?tier=` filters
on it), a not_applicable one its reason; `evaluations/` with `hypothetical: true` answers at once with
the law of `as_of` applied to the subject as it stands today, and records nothing."""
from __future__ import annotations

from datetime import date

import pytest

from rules.models import Determination, EvaluationRun
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from tests.api.conftest import errors_by_field

pytestmark = pytest.mark.django_db

ACME = "model:acme/Acme-1@1"


def test_a_determination_shows_the_tier_reached_and_is_filtered_by_it(world, lab):
    """The world's run evaluated Acme-1 (2e26) under every regime."""
    rows = lab.get("/api/v1/determinations/?regime=eu-ai-act&tier=gpai-systemic-risk").json()["results"]
    assert [(r["subject_ref"], r["status"], r["tier"], r["tier_title"], r["reason"]) for r in rows] == [
        (ACME, "covered", "gpai-systemic-risk", "GPAI model with systemic risk", None)]
    assert lab.get("/api/v1/determinations/?regime=eu-ai-act&tier=gpai").json()["results"] == []


def test_a_not_applicable_determination_gives_its_reason(world, lab):
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=date(2026, 3, 1), subjects=["cluster:acme/Hall A"],
                                  regimes=["eu-ai-act"]))
    (row,) = lab.get("/api/v1/determinations/?subject=cluster:acme/Hall A&status=not_applicable").json()["results"]
    assert (row["status"], row["tier"]) == ("not_applicable", None)
    assert row["reason"] == "eu-ai-act version 2025-08-02 has no test for a cluster"


def _later_model(world):
    """Acme-1 revised: completed on 2026-02-01, so it did not exist yet on 2026-01-31."""
    from registry.services import registry_submit
    from tests.factories import ModelRecordFactory, document

    registry_submit(document(organisations=[], models=[ModelRecordFactory(
        organisation="acme", name="Acme-1", training_compute_ops=2e26, training_completed_on="2026-02-01")]),
        via="import")


def test_a_hypothetical_evaluation_is_answered_at_once_and_never_recorded(world, lab):
    _later_model(world)
    rows, runs = Determination.objects.count(), EvaluationRun.objects.count()
    body = {"subject": ACME, "as_of": "2026-01-31", "regimes": ["us-ca-sb53"]}
    response = lab.post("/api/v1/evaluations/", {**body, "hypothetical": True}, format="json")
    assert response.status_code == 200, response.content
    answer = response.json()
    assert (answer["hypothetical"], answer["recorded"], answer["as_of"]) == (True, False, "2026-01-31")
    (evaluation,) = answer["evaluations"]
    assert (evaluation["status"], evaluation["tier"], evaluation["reason"]) == ("covered", "frontier-model", None)
    assert (Determination.objects.count(), EvaluationRun.objects.count()) == (rows, runs)


def test_the_same_question_not_hypothetical_is_a_run_that_finds_the_model_did_not_exist_yet(
        world, lab, eager_celery, django_capture_on_commit_callbacks):
    _later_model(world)
    with django_capture_on_commit_callbacks(execute=True):
        response = lab.post("/api/v1/evaluations/", {"subject": ACME, "as_of": "2026-01-31", "regimes": ["us-ca-sb53"]},
                            format="json")
    assert response.status_code == 202
    row = Determination.objects.get(run_id=response.json()["id"])
    assert row.status == "not_applicable"
    assert row.data()["reason"] == f"{ACME} did not exist yet on 2026-01-31: its training_completed_on is 2026-02-01"


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"subject": None, "hypothetical": True}, "subject", "names one subject"),
    ({"subject": ACME, "hypothetical": True, "regimes": ["no-such-law"]}, "regimes", "unknown regime"),
    ({"subject": ACME, "hypothetical": "perhaps"}, "hypothetical", "valid boolean"),
])
def test_a_bad_hypothetical_request_is_a_400_naming_the_field(world, regulator_api, body, field, message):
    response = regulator_api.post("/api/v1/evaluations/", body, format="json")
    assert response.status_code == 400, response.content
    assert message in errors_by_field(response)[field]


def test_a_lab_asks_hypothetical_questions_about_its_own_subjects_only(world, lab):
    response = lab.post("/api/v1/evaluations/", {"subject": "model:rival/Rival-1@1", "hypothetical": True},
                        format="json")
    assert response.status_code == 400
    assert "unknown subject" in errors_by_field(response)["subject"]


def test_hypothetical_may_be_asked_in_the_query_string(world, lab):
    _later_model(world)
    response = lab.post("/api/v1/evaluations/?hypothetical=true",
                        {"subject": ACME, "as_of": "2026-01-31", "regimes": ["us-ca-sb53"]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["evaluations"][0]["status"] == "covered"
    bad = lab.post("/api/v1/evaluations/?hypothetical=perhaps", {"subject": ACME}, format="json")
    assert bad.status_code == 400 and "valid boolean" in errors_by_field(bad)["hypothetical"]
