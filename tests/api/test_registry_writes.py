"""Submitting and revising through the API: the same validation as the import command, each field's
problem named in a 400, nothing written by a refused request, every revision kept."""
from __future__ import annotations

import json

import pytest

from accounts.models import Membership
from registry.models import AIModel, Cluster, ModelRevision
from tests.api.conftest import errors_by_field

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, int, int]:
    return AIModel.objects.count(), ModelRevision.objects.count(), Cluster.objects.count()


def post_raw(client, url, text, content_type="application/json"):
    return client.generic("POST", url, text, content_type=content_type)


def test_a_lab_submits_a_model_for_its_own_organisation(lab):
    response = lab.post("/api/v1/models/", {"name": "Acme-2", "version": "1", "training_compute_ops": "1.5E+25",
                                            "training_hardware": {"accelerator": "nvidia-h100-sxm", "accelerator_count": 64,
                                                                  "training_hours": 10, "utilization": 1}},
                        format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["organisation"] == "acme" and body["training_compute_ops"] == 15 * 10**24  # exactly as written, "1.5E+25"
    assert body["revision"] == 1 and response["ETag"] == body["etag"]
    assert response["Location"] == body["url"]
    stored = AIModel.objects.get(organisation__slug="acme", name="Acme-2")
    assert stored.revisions.get().submitted_via == "api"
    assert stored.revisions.get().submitted_by == Membership.objects.get(organisation__slug="acme").user


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"training_tokens": -1}, "training_tokens", "got -1"),
        ({"training_compute_ops": "10^26"}, "training_compute_ops", 'got "10^26"'),
        ({"training_compute_ops": "1e400"}, "training_compute_ops", 'got "1e400"'),
        ({"released_on": "2023-02-29"}, "released_on", "is not a date that exists: 2023-02-29"),
        ({"training_hardware": {"accelerator": "warp-core-9000"}}, "training_hardware.accelerator", "unknown accelerator"),
        ({"training_hardware": {"utilization": 0}}, "training_hardware.utilization", "must be greater than 0"),
        ({"training_hardware": {"utilization": 1.01}}, "training_hardware.utilization", "must be in (0, 1]"),
        ({"base_model": "acme/Nothing@1"}, "base_model", "unknown base model"),
        ({"base_model": "not a reference"}, "base_model", "organisation/name@version"),
        ({"name": "x" * 201}, "name", "no more than 200 characters"),
        ({"modalities": "text"}, "modalities", "Expected a list"),
    ],
)
def test_each_bad_field_is_a_400_naming_it_and_nothing_is_written(lab, fields, field, message):
    before = counts()
    response = lab.post("/api/v1/models/", {"name": "Bad", "version": "1", **fields}, format="json")
    assert response.status_code == 400, response.content
    problems = errors_by_field(response)
    assert field in problems, problems
    assert message in problems[field]
    assert counts() == before


def test_a_nested_problem_is_named_by_its_path(lab):
    groups = [{"name": "a", "datacenter": "dc", "accelerator": "nvidia-h100-sxm", "accelerator_count": 8},
              {"name": "b", "datacenter": "dc", "accelerator": "warp-core-9000", "accelerator_count": 8}]
    response = lab.post("/api/v1/clusters/", {"name": "Hall Q", "groups": groups}, format="json")
    assert response.status_code == 400
    assert "unknown accelerator" in errors_by_field(response)["groups[1].accelerator"]


def test_several_problems_are_all_named_at_once(lab):
    response = lab.post("/api/v1/models/", {"name": "Bad", "version": "1", "training_tokens": "lots",
                                            "parameter_count": -5, "released_on": "yesterday"}, format="json")
    assert set(errors_by_field(response)) == {"training_tokens", "parameter_count", "released_on"}


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_and_infinity_in_the_json_are_refused_by_field(lab, literal):
    before = counts()
    response = post_raw(lab, "/api/v1/models/", f'{{"name": "N", "version": "1", "training_compute_ops": {literal}}}')
    assert response.status_code == 400
    assert "must be a non-negative number" in errors_by_field(response)["training_compute_ops"]
    assert counts() == before


@pytest.mark.parametrize("text", ['{"name": "N", ', "[1, 2", "\x00", '{"a": 1} trailing'])
def test_malformed_json_is_a_400(lab, text):
    response = post_raw(lab, "/api/v1/models/", text)
    assert response.status_code == 400
    body = response.json()
    assert body["errors"][0]["field"] is None
    assert body["errors"][0]["message"].startswith("malformed JSON")


def test_a_body_that_is_not_an_object_is_a_400(lab):
    response = lab.post("/api/v1/models/", [1, 2], format="json")
    assert response.status_code == 400
    assert errors_by_field(response) == {None: "the body must be a JSON object: one record of the interchange format"}


def test_a_body_over_the_limit_is_a_413_and_writes_nothing(lab, settings):
    settings.API_MAX_BODY_BYTES = 2048
    before = counts()
    response = lab.post("/api/v1/models/", {"name": "Big", "version": "1", "notes": "n" * 4000}, format="json")
    assert response.status_code == 413
    assert "larger than 2048 bytes" in response.json()["detail"]
    assert counts() == before


def test_a_body_over_the_limit_without_a_declared_length_is_a_413(lab, settings):
    import io

    from api.exceptions import PayloadTooLarge
    from api.parsers import InterchangeJSONParser

    settings.API_MAX_BODY_BYTES = 16
    with pytest.raises(PayloadTooLarge):
        InterchangeJSONParser().parse(io.BytesIO(b'{"notes": "' + b"n" * 100 + b'"}'))


def test_djangos_own_size_limit_becomes_a_json_413(rf):
    """DRF reads API bodies itself, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE check is a second line:
    wherever it is met (in a view, or in middleware) the answer is the API's JSON 413."""
    import json

    from django.core.exceptions import RequestDataTooBig

    from api.exceptions import api_exception_handler
    from api.middleware import ApiRequestGuardMiddleware

    from_view = api_exception_handler(RequestDataTooBig("too big"), {})
    assert from_view.status_code == 413
    assert from_view.data["errors"][0]["field"] is None
    guard = ApiRequestGuardMiddleware(lambda request: None)
    from_middleware = guard.process_exception(rf.post("/api/v1/models/"), RequestDataTooBig("too big"))
    assert from_middleware.status_code == 413
    assert json.loads(from_middleware.content)["detail"].startswith("the request body is larger than")
    assert guard.process_exception(rf.post("/admin/"), RequestDataTooBig("too big")) is None


def test_a_nul_character_in_a_query_parameter_is_a_400(lab):
    response = lab.get("/api/v1/models/?organisation=ac%00me")
    assert response.status_code == 400
    assert errors_by_field(response) == {"organisation": "must not contain a NUL character"}


def test_a_form_body_is_a_415(lab):
    response = lab.post("/api/v1/models/", "name=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["errors"][0]["field"] is None


def test_a_lab_naming_another_organisation_is_refused_with_the_field_named(lab):
    before = counts()
    response = lab.post("/api/v1/models/", {"organisation": "rival", "name": "Sneaky", "version": "1"}, format="json")
    assert response.status_code == 400
    assert "you may only submit for 'acme'" in errors_by_field(response)["organisation"]
    assert counts() == before


def test_a_base_model_that_would_make_a_cycle_is_refused(lab):
    first = lab.post("/api/v1/models/", {"name": "A", "version": "1"}, format="json").json()
    second = lab.post("/api/v1/models/", {"name": "B", "version": "1", "base_model": "acme/A@1",
                                          "derivation": "fine_tuning"}, format="json")
    assert second.status_code == 201
    response = lab.patch(first["url"], {"base_model": "acme/B@1"}, format="json")
    assert response.status_code == 400
    assert "lineage cycle" in errors_by_field(response)["base_model"]
    assert AIModel.objects.get(name="A").base_model is None


def test_creating_a_record_that_exists_is_a_409_pointing_at_it(world, lab):
    response = lab.post("/api/v1/models/", {"name": "Acme-1", "version": "1"}, format="json")
    assert response.status_code == 409
    assert f"/api/v1/models/{world.acme_model.pk}/" in response.json()["detail"]


def test_patch_merges_into_the_latest_revision_and_keeps_every_revision(world, lab):
    url = f"/api/v1/models/{world.acme_model.pk}/"
    response = lab.patch(url, {"training_tokens": "2e13"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["training_tokens"] == 2e13
    assert body["training_compute_ops"] == 2 * 10**26  # kept from the earlier revision
    assert body["revision"] == 2
    revisions = lab.get(url + "revisions/").json()["results"]
    assert [r["number"] for r in revisions] == [2, 1]
    assert revisions[0]["changed_fields"] == {"training_tokens": [1.56e13, 2e13]}
    assert revisions[1]["facts"]["training_tokens"] == 1.56e13


def test_put_replaces_the_facts_and_keeps_the_identity(world, lab):
    url = f"/api/v1/models/{world.acme_model.pk}/"
    response = lab.put(url, {"training_compute_ops": 5e25}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["version"], body["organisation"]) == ("Acme-1", "1", "acme")
    assert body["training_compute_ops"] == 5 * 10**25
    assert body["parameter_count"] is None  # a replacement: fields left out are no longer declared


def test_a_revision_cannot_rename_the_record(world, lab):
    response = lab.patch(f"/api/v1/models/{world.acme_model.pk}/", {"name": "Renamed"}, format="json")
    assert response.status_code == 400
    assert "cannot be changed" in errors_by_field(response)["name"]
    assert AIModel.objects.filter(name="Renamed").count() == 0


def test_an_unchanged_revision_adds_no_revision(world, lab):
    url = f"/api/v1/models/{world.acme_model.pk}/"
    before = lab.get(url)
    response = lab.patch(url, {"training_compute_ops": 2e26}, format="json")
    assert response.status_code == 200
    assert response["ETag"] == before["ETag"]
    assert world.acme_model.revisions.count() == 1


def test_a_cluster_is_revised_with_its_topology(world, lab):
    url = f"/api/v1/clusters/{world.acme_cluster.pk}/"
    current = lab.get(url).json()
    groups = current["groups"] + [{"name": "c", "datacenter": "dc-2", "accelerator": "nvidia-h100-sxm",
                                   "accelerator_count": 512}]
    response = lab.patch(url, {"groups": groups, "links": current["links"] + [{"from": "b", "to": "c", "gbps": 100}]},
                         format="json")
    assert response.status_code == 200, response.content
    assert [g["name"] for g in response.json()["groups"]] == ["a", "b", "c"]
    assert world.acme_cluster.groups.count() == 3
    bad = lab.patch(url, {"links": [{"from": "a", "to": "nowhere", "gbps": 1}]}, format="json")
    assert bad.status_code == 400
    assert "is not a group of this cluster" in errors_by_field(bad)["links[0].to"]


def test_an_organisation_is_revised_by_its_lab(world, lab):
    response = lab.patch("/api/v1/organisations/acme/", {"annual_revenue_usd": "7.5e8"}, format="json")
    assert response.status_code == 200
    assert response.json()["annual_revenue_usd"] == 7.5e8
    assert json.loads(json.dumps(response.json()))["revision"] == 2


def test_the_api_keeps_an_undeclared_declaration_null_and_refuses_a_non_boolean(lab):
    response = lab.post("/api/v1/models/", {"name": "Bio-1", "version": "1", "training_compute_ops": "5e23"},
                        format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["primarily_biological_sequence_data"] is None and body["weights_published"] is None
    assert AIModel.objects.get(name="Bio-1").primarily_biological_sequence_data is None
    refused = lab.post("/api/v1/models/", {"name": "Bio-2", "version": "1", "weights_published": "yes"}, format="json")
    assert refused.status_code == 400 and "weights_published" in refused.content.decode()
    assert not AIModel.objects.filter(name="Bio-2").exists()
