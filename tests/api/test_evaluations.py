"""`evaluations/` creates a run to poll; `runs/` shows its progress and the status changes it found;
`determinations/` is the decision log, filtered by subject, regime, status, as-of and run."""
from __future__ import annotations

from datetime import date

import pytest

from rules.models import Determination, EvaluationRun
from rules.models.runs import RunStatus, Trigger
from rules.services import run_create, run_execute_inline
from tests.api.conftest import AS_OF, errors_by_field

pytestmark = pytest.mark.django_db


def evaluate(client, body, capture):
    with capture(execute=True):
        return client.post("/api/v1/evaluations/", body, format="json")


def test_a_lab_evaluates_its_model_and_polls_the_run(world, lab, eager_celery, django_capture_on_commit_callbacks):
    response = evaluate(lab, {"subject": "model:acme/Acme-1@1", "as_of": "2026-02-01", "regimes": ["us-ca-sb53"]},
                        django_capture_on_commit_callbacks)
    assert response.status_code == 202, response.content
    run = response.json()
    assert response["Location"] == run["url"]
    assert (run["kind"], run["subjects"], run["regimes"], run["total"]) == ("manual", ["model:acme/Acme-1@1"], ["us-ca-sb53"], 1)
    polled = lab.get(run["url"]).json()
    assert polled["status"] == RunStatus.FINISHED
    assert (polled["done"], polled["progress_percent"]) == (1, 100.0)
    decided = lab.get(f"/api/v1/determinations/?run={run['id']}").json()["results"]
    assert [(d["subject_ref"], d["regime"], d["status"]) for d in decided] == [("model:acme/Acme-1@1", "us-ca-sb53", "covered")]
    assert decided[0]["tests"][0]["id"] == "frontier-model"


def test_the_registry_evaluation_is_for_regulators(world, regulator_api, lab, eager_celery,
                                                   django_capture_on_commit_callbacks):
    assert evaluate(lab, {"subject": None}, django_capture_on_commit_callbacks).status_code == 403
    response = evaluate(regulator_api, {"subject": None, "as_of": AS_OF.isoformat(), "regimes": ["eu-ai-act"]},
                        django_capture_on_commit_callbacks)
    assert response.status_code == 202
    run = EvaluationRun.objects.get(pk=response.json()["id"])
    assert run.subjects is None and run.total == 5  # 2 models, 1 cluster, 2 organisations
    assert run.status == RunStatus.FINISHED
    assert run.requested_by.username.startswith("regulator")


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"subject": "model:rival/Rival-1@1"}, "subject", "unknown subject"),
        ({"subject": "model:acme/Nothing@1"}, "subject", "unknown subject"),
        ({"subject": "acme"}, "subject", "is not a subject"),
        ({"subject": "model:acme/Acme-1@1", "as_of": "2026-02-30"}, "as_of", "is not a date that exists"),
        ({"subject": "model:acme/Acme-1@1", "regimes": ["no-such-law"]}, "regimes", "unknown regime"),
        ({"subject": "model:acme/Acme-1@1", "regimes": "eu-ai-act"}, "regimes", "Expected a list"),
    ],
)
def test_a_bad_evaluation_request_is_a_400_naming_the_field_and_starts_nothing(world, lab, body, field, message,
                                                                               django_capture_on_commit_callbacks):
    before = EvaluationRun.objects.count()
    response = evaluate(lab, body, django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert message in errors_by_field(response)[field]
    assert EvaluationRun.objects.count() == before


def test_another_labs_subject_reads_as_unknown(world, lab, django_capture_on_commit_callbacks):
    theirs = evaluate(lab, {"subject": "model:rival/Rival-1@1"}, django_capture_on_commit_callbacks)
    missing = evaluate(lab, {"subject": "model:rival/Nothing@1"}, django_capture_on_commit_callbacks)
    assert errors_by_field(theirs)["subject"].replace("Rival-1", "X") == errors_by_field(missing)["subject"].replace("Nothing", "X")


def test_a_run_shows_the_status_changes_it_found(world, lab, rival, regulator_api):
    before = run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=date(2024, 1, 1), subjects=[
        "model:acme/Acme-1@1", "model:rival/Rival-1@1"], regimes=["us-eo-14110"]))
    after = run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=date(2025, 6, 1), subjects=[
        "model:acme/Acme-1@1", "model:rival/Rival-1@1"], regimes=["us-eo-14110"]))
    assert before.status == after.status == RunStatus.FINISHED
    everything = regulator_api.get(f"/api/v1/runs/{after.pk}/").json()
    assert {c["subject"] for c in everything["changes"]} == {"model:acme/Acme-1@1", "model:rival/Rival-1@1"}
    change = next(c for c in everything["changes"] if c["subject"] == "model:acme/Acme-1@1")
    assert (change["from_status"], change["to_status"]) == ("covered", "not_in_force")
    mine = lab.get(f"/api/v1/runs/{after.pk}/").json()
    assert [c["subject"] for c in mine["changes"]] == ["model:acme/Acme-1@1"]
    assert mine["changes_count"] == 1
    assert mine["subjects"] == ["model:acme/Acme-1@1"]
    listed = lab.get(f"/api/v1/runs/{after.pk}/changes/").json()
    assert [c["subject"] for c in listed["results"]] == ["model:acme/Acme-1@1"]
    assert [c["subject"] for c in rival.get(f"/api/v1/runs/{after.pk}/").json()["changes"]] == ["model:rival/Rival-1@1"]


def test_determinations_are_filtered_by_subject_regime_status_as_of_and_run(world, regulator_api):
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=date(2024, 1, 1), regimes=["us-eo-14110"]))

    def refs(query: str) -> set[tuple[str, str, str, str]]:
        rows = regulator_api.get(f"/api/v1/determinations/?page_size=500&{query}").json()["results"]
        return {(d["subject_ref"], d["regime"], d["status"], d["as_of"]) for d in rows}

    assert refs("subject=model:acme/Acme-1@1&regime=us-eo-14110") == {
        ("model:acme/Acme-1@1", "us-eo-14110", "covered", "2024-01-01"),
        ("model:acme/Acme-1@1", "us-eo-14110", "not_in_force", AS_OF.isoformat()),
    }
    assert refs("status=covered&as_of=2024-01-01") == {
        ("model:acme/Acme-1@1", "us-eo-14110", "covered", "2024-01-01"),
        ("cluster:acme/Hall A", "us-eo-14110", "covered", "2024-01-01"),
    }
    assert {r[0] for r in refs(f"run={world.acme_run.pk}")} == {"model:acme/Acme-1@1"}
    assert refs("as_of_before=2024-12-31&regime=eu-ai-act") == set()
    assert len(refs("as_of_after=2026-01-01")) == Determination.objects.filter(as_of__gte="2026-01-01").count()


def test_a_determination_shows_the_evaluate_json_fields_and_its_chain(world, lab):
    row = world.acme_determination
    body = lab.get(f"/api/v1/determinations/{row.pk}/").json()
    payload = row.data()
    for key in ("regime", "rule_version", "rule_hash", "as_of", "status"):
        assert body[key] == payload[key]
    assert body["subject"] == {"kind": "model", "organisation": "acme", "name": "Acme-1", "version": "1"}
    assert [t["id"] for t in body["tests"]] == [t["id"] for t in payload["tests"]]
    assert (body["sequence"], body["row_sha256"], body["previous_sha256"]) == (row.sequence, row.row_sha256, row.previous_sha256)
    assert (body["run"], body["trigger"]) == (world.acme_run.pk, "manual")


@pytest.mark.parametrize("query", ["status=maybe", "as_of=01/02/2026", "run=abc"])
def test_a_bad_filter_is_a_400_naming_it(world, lab, query):
    response = lab.get(f"/api/v1/determinations/?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in errors_by_field(response)


def test_a_lab_sees_its_own_share_of_a_whole_registry_runs_counts(world, lab, rival, regulator_api):
    from rules.models import RunChunk
    from rules.services import chunk_execute

    run = run_create(kind=Trigger.MANUAL, as_of=AS_OF, regimes=["us-ca-sb53"], chunk_size=1)
    model_chunk = next(c for c in RunChunk.objects.filter(run=run) if c.subjects["model"] == [world.acme_model.pk])
    chunk_execute(chunk_id=model_chunk.pk, task_id="")
    everything = regulator_api.get(f"/api/v1/runs/{run.pk}/").json()
    assert (everything["total"], everything["done"]) == (5, 1)  # acme, rival, two models, one cluster
    mine = lab.get(f"/api/v1/runs/{run.pk}/").json()
    assert (mine["total"], mine["done"], mine["progress_percent"]) == (3, 1, 33.3)  # acme, Acme-1, Hall A
    listed = next(r for r in lab.get("/api/v1/runs/").json()["results"] if r["id"] == run.pk)
    assert (listed["total"], listed["done"]) == (3, 1)
    assert run.pk not in {r["id"] for r in rival.get("/api/v1/runs/").json()["results"]}  # nothing of rival's yet
    for chunk in RunChunk.objects.filter(run=run, done=False):
        chunk_execute(chunk_id=chunk.pk, task_id="")
    from rules.services import run_finish_if_complete

    run_finish_if_complete(run_id=run.pk)
    assert (regulator_api.get(f"/api/v1/runs/{run.pk}/").json()["total"]) == 5
    assert [(r["total"], r["done"], r["progress_percent"]) for r in (
        lab.get(f"/api/v1/runs/{run.pk}/").json(), rival.get(f"/api/v1/runs/{run.pk}/").json())] == [
        (3, 3, 100.0), (2, 2, 100.0)]


def test_a_lab_sees_only_its_subjects_in_a_named_runs_counts(world, lab):
    run = run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OF, regimes=["us-ca-sb53"], subjects=[
        "model:acme/Acme-1@1", "model:rival/Rival-1@1", "organisation:rival"]))
    mine = lab.get(f"/api/v1/runs/{run.pk}/").json()
    assert (mine["subjects"], mine["total"], mine["done"]) == (["model:acme/Acme-1@1"], 1, 1)


def test_determinations_recorded_on_a_date_include_those_a_later_run_confirmed(world, lab, rival):
    """A run that reaches a lab's determination again unchanged appends no row; `recorded_on` lists
    it as recorded on the run's date, and a lab still reads only its own."""
    later = date(2026, 3, 2)
    run = run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=later, subjects=["model:acme/Acme-1@1"]))
    assert not Determination.objects.filter(run=run).exists()
    made = {row["id"] for row in lab.get(f"/api/v1/determinations/?as_of={AS_OF}&page_size=500").json()["results"]}
    body = lab.get(f"/api/v1/determinations/?recorded_on={later}&page_size=500").json()
    assert made and {row["id"] for row in body["results"]} == made
    assert {row["as_of"] for row in body["results"]} == {AS_OF.isoformat()}  # each row keeps its own date
    assert lab.get(f"/api/v1/determinations/?as_of={later}").json()["results"] == []
    assert rival.get(f"/api/v1/determinations/?recorded_on={later}").json()["results"] == []
    assert lab.get("/api/v1/determinations/?recorded_on=2026-02-30").status_code == 400


def test_a_runs_page_embeds_its_first_changes_and_pages_through_all_of_them(world, regulator_api, settings):
    """A run may change every subject's status (the day a law takes effect): its page embeds the first
    API_MAX_PAGE_SIZE changes by subject; `changes_count` counts all and `changes/` pages through all."""
    refs = ["model:acme/Acme-1@1", "model:rival/Rival-1@1"]
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=date(2024, 1, 1), subjects=refs, regimes=["us-eo-14110"]))
    after = run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=date(2025, 6, 1), subjects=refs,
                                          regimes=["us-eo-14110"]))
    settings.API_MAX_PAGE_SIZE = 1
    page = regulator_api.get(f"/api/v1/runs/{after.pk}/").json()
    assert page["changes_count"] == 2 and [c["subject"] for c in page["changes"]] == refs[:1]
    first = regulator_api.get(page["changes_url"], {"page_size": 1}).json()
    second = regulator_api.get(first["next"]).json()
    assert first["count"] == 2 and [c["subject"] for c in first["results"] + second["results"]] == refs
