"""What a lab sees of another lab's model through its own models' lineages is what that lab has
released (`released_on` on or before today): determinations, status changes and audit reports that
rest on an unreleased model of another organisation are withheld from the lab (never its figures),
and a lab asking for an audit report of a subject it may not see gets the answer a subject that
does not exist gets."""
from __future__ import annotations

from datetime import date

import pytest

from registry.services import registry_submit
from reports.models import ReportArtifact
from reports.services import report_generate
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from tests.factories import ModelRecordFactory, OrganisationRecordFactory, determinations_naming, document

pytestmark = pytest.mark.django_db

AS_OF = date(2026, 6, 1)
SECRET = ModelRecordFactory(organisation="rival", name="Rival-Secret", training_compute_ops=9.87e25,
                            released_on="2025-01-01")
OPEN = ModelRecordFactory(organisation="rival", name="Rival-Open", training_compute_ops=4.56e25, released_on="2025-01-01")
FINE_TUNE = ModelRecordFactory(organisation="acme", name="Acme-FT", base_model="rival/Rival-Secret@1",
                               derivation="fine_tuning", training_compute_ops=1e24, released_on="2026-02-01")
OPEN_FINE_TUNE = ModelRecordFactory(organisation="acme", name="Acme-Open-FT", base_model="rival/Rival-Open@1",
                                    derivation="fine_tuning", training_compute_ops=1e24, released_on="2026-02-01")
SUBJECTS = ["model:acme/Acme-FT@1", "model:acme/Acme-Open-FT@1", "organisation:acme"]


def _rival_secret_released_on(day: str) -> None:
    registry_submit(document(organisations=[], models=[{**SECRET, "released_on": day}]), via="import")


def _evaluate() -> None:
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OF, subjects=SUBJECTS))


@pytest.fixture
def lineages(world):
    """acme fine-tunes rival's Rival-Open (released) and Rival-Secret, released when acme named it as its
    base and since moved to a release date to come (data stored before bases had to be released)."""
    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI"),
                       OrganisationRecordFactory(slug="rival", name="Rival AI")],
        models=[SECRET, OPEN, FINE_TUNE, OPEN_FINE_TUNE],
    ), via="import")
    _evaluate()
    _rival_secret_released_on("2099-01-01")
    _evaluate()


def _all_pages(client, url):
    items, next_url = [], url
    while next_url:
        body = client.get(next_url).json()
        items += body["results"]
        next_url = body["next"]
    return items


def test_a_lab_never_reads_an_unreleased_base_models_figures_in_its_determinations(world, lineages, lab, regulator_api):
    response = lab.get("/api/v1/determinations/?page_size=500")
    assert response.status_code == 200
    # neither the base's figure nor the sum it makes with the fine-tune's own run
    for leaked in (b"Rival-Secret", b"9.87e+25", b"9.97e+25", b"98700000000000000000000000"):
        assert leaked not in response.content
    visible = {d["id"] for d in response.json()["results"]}
    naming_base = {row.pk for row in determinations_naming("rival/Rival-Secret@1")}
    assert naming_base  # the log holds them (the regulator's view)...
    assert visible.isdisjoint(naming_base)  # ...the lab never reads them
    assert lab.get(f"/api/v1/determinations/{min(naming_base)}/").status_code == 404
    assert lab.get("/api/v1/determinations/?subject=organisation:acme&page_size=500").status_code == 200
    # a released base's figures are the lab's to see
    open_rows = [d for d in response.json()["results"] if d["subject_ref"] == "model:acme/Acme-Open-FT@1"]
    assert any("rival/Rival-Open@1" in str(d["quantities"]) for d in open_rows)
    # the regulator reads the whole log
    everything = {d["id"] for d in _all_pages(regulator_api, "/api/v1/determinations/?organisation=acme&page_size=500")}
    assert naming_base <= everything


def test_a_run_shows_a_lab_no_change_that_rests_on_an_unreleased_base(world, lineages, lab, regulator_api):
    # the base's own revision takes the fine-tune over SB 53's 1e26: a status change that rests on it
    registry_submit(document(organisations=[], models=[{**SECRET, "released_on": "2099-01-01",
                                                        "training_compute_ops": 2e26}]), via="import")
    run = run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OF, subjects=SUBJECTS))
    everything = regulator_api.get(f"/api/v1/runs/{run.pk}/").json()
    assert "model:acme/Acme-FT@1" in {c["subject"] for c in everything["changes"]}
    body = lab.get(f"/api/v1/runs/{run.pk}/")
    assert body.status_code == 200 and b"Rival-Secret" not in body.content
    assert {c["subject"] for c in body.json()["changes"]} <= {"model:acme/Acme-Open-FT@1"}
    assert body.json()["changes_count"] == len(body.json()["changes"])
    listed = lab.get(f"/api/v1/runs/{run.pk}/changes/").json()["results"]
    assert "model:acme/Acme-FT@1" not in {c["subject"] for c in listed}


def test_once_the_base_is_released_the_lab_sees_its_determinations(world, lineages, lab):
    _rival_secret_released_on("2025-01-01")
    seen = {d["id"] for d in lab.get("/api/v1/determinations/?page_size=500").json()["results"]}
    assert {row.pk for row in determinations_naming("rival/Rival-Secret@1")} <= seen


def test_a_lab_gets_no_audit_report_that_would_show_an_unreleased_base(world, lineages, lab, regulator_api,
                                                                      django_capture_on_commit_callbacks):
    earlier = report_generate(kind="audit", format="html", subject="model:acme/Acme-FT@1", as_of=AS_OF.isoformat())
    assert b"Rival-Secret" in earlier.file.open("rb").read()  # the regulator's view of it
    assert earlier.pk not in {r["id"] for r in lab.get("/api/v1/reports/").json()["results"]}
    assert lab.get(f"/api/v1/reports/{earlier.pk}/download/").status_code == 404
    assert regulator_api.get(f"/api/v1/reports/{earlier.pk}/download/").status_code == 200
    before = ReportArtifact.objects.count()
    with django_capture_on_commit_callbacks(execute=False):
        refused = lab.post("/api/v1/reports/", {"kind": "audit", "format": "html", "subject": "model:acme/Acme-FT@1",
                                                "as_of": AS_OF.isoformat()}, format="json")
        allowed = lab.post("/api/v1/reports/", {"kind": "audit", "format": "html",
                                                "subject": "model:acme/Acme-Open-FT@1", "as_of": AS_OF.isoformat()},
                           format="json")
    assert refused.status_code == 400 and [e["field"] for e in refused.json()["errors"]] == ["subject"]
    assert "Rival-Secret" not in refused.content.decode()
    assert allowed.status_code == 202
    assert ReportArtifact.objects.count() == before + 1


@pytest.mark.parametrize("subject", ["model:rival/Rival-Secret@1", "model:rival/Rival-Open@1", "organisation:rival",
                                     "cluster:rival/Hall Z"])
def test_an_audit_report_of_a_subject_the_lab_may_not_see_is_answered_as_one_that_does_not_exist(
        world, lineages, lab, subject):
    def ask(ref):
        return lab.post("/api/v1/reports/", {"kind": "audit", "format": "html", "subject": ref,
                                             "as_of": AS_OF.isoformat()}, format="json")

    missing_ref = subject.replace("rival", "acme").replace("Rival", "Acme-None").replace("Hall Z", "Hall None")
    if subject == "organisation:rival":
        missing_ref = "organisation:nobody"
    refused, missing = ask(subject), ask(missing_ref)
    assert refused.status_code == missing.status_code == 400
    assert refused.json()["errors"][0]["message"].replace(subject, "REF") == \
        missing.json()["errors"][0]["message"].replace(missing_ref, "REF")
    assert refused.json()["detail"] == missing.json()["detail"]


def test_a_hypothetical_evaluation_never_shows_a_lab_figures_resting_on_an_unreleased_base(
        world, lineages, lab, regulator_api):
    body = {"subject": "model:acme/Acme-FT@1", "as_of": "2026-06-01", "hypothetical": True}
    refused = lab.post("/api/v1/evaluations/", body, format="json")
    assert refused.status_code == 403
    for leaked in (b"9.87e+25", b"9.97e+25"):
        assert leaked not in refused.content
    seen = lab.post("/api/v1/evaluations/", {**body, "subject": "model:acme/Acme-Open-FT@1"}, format="json")
    assert seen.status_code == 200
    assert regulator_api.post("/api/v1/evaluations/", body, format="json").status_code == 200


def test_a_base_model_a_revision_once_named_stays_withheld_after_the_model_drops_it(world, lineages):
    """The lab's earlier determinations rest on the base its earlier revision named: once the model
    names no base, that base is still found (by the subject ref each model keeps) and still withheld."""
    from registry.models import Organisation
    from rules.visibility import unreleased_elsewhere

    acme = Organisation.objects.get(slug="acme")
    before = unreleased_elsewhere(organisation_id=acme.pk, organisation_slug="acme")
    assert before.foreign == {"rival/Rival-Secret@1"} and "model:acme/Acme-FT@1" in before.own
    registry_submit(document(organisations=[], models=[{**FINE_TUNE, "base_model": None, "derivation": None}]),
                    via="import")
    after = unreleased_elsewhere(organisation_id=acme.pk, organisation_slug="acme")
    assert after.foreign == {"rival/Rival-Secret@1"}
    assert determinations_naming("rival/Rival-Secret@1", subject_ref="model:acme/Acme-FT@1")
