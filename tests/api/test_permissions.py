"""The permission matrix: every endpoint under every role. A lab reads and writes its own
organisation only (another lab's record is a 404, never a 403); a regulator reads everything and
triggers evaluations but never edits a lab's submission; no credentials is a 401."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.api.conftest import AS_OF, World

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Call:
    name: str
    method: str
    url: Callable[[World], str]
    body: dict[str, Any] | None = None
    # expected status for: no_role, lab (acme, the owner), rival (another lab), regulator
    expect: tuple[int, int, int, int] = (403, 200, 200, 200)


def model_url(w: World) -> str:
    return f"/api/v1/models/{w.acme_model.pk}/"


def cluster_url(w: World) -> str:
    return f"/api/v1/clusters/{w.acme_cluster.pk}/"


NEW_MODEL = {"name": "Brand-New", "version": "1", "training_compute_ops": "1e24"}
NEW_CLUSTER = {"name": "Hall Z", "groups": [{"name": "a", "datacenter": "dc", "accelerator": "nvidia-h100-sxm",
                                             "accelerator_count": 8}]}
CALLS = [
    Call("organisations list", "get", lambda w: "/api/v1/organisations/"),
    Call("organisation read", "get", lambda w: "/api/v1/organisations/acme/", expect=(403, 200, 404, 200)),
    Call("organisation revisions", "get", lambda w: "/api/v1/organisations/acme/revisions/", expect=(403, 200, 404, 200)),
    Call("organisation create (exists)", "post", lambda w: "/api/v1/organisations/",
         {"slug": "acme", "name": "Acme"}, expect=(403, 409, 400, 403)),
    Call("organisation replace", "put", lambda w: "/api/v1/organisations/acme/",
         {"name": "Acme Renamed", "country": "GB"}, expect=(403, 200, 404, 403)),
    Call("organisation patch", "patch", lambda w: "/api/v1/organisations/acme/",
         {"annual_revenue_usd": "7e8"}, expect=(403, 200, 404, 403)),
    Call("models list", "get", lambda w: "/api/v1/models/"),
    Call("model read", "get", model_url, expect=(403, 200, 404, 200)),
    Call("model revisions", "get", lambda w: model_url(w) + "revisions/", expect=(403, 200, 404, 200)),
    Call("model create", "post", lambda w: "/api/v1/models/", NEW_MODEL, expect=(403, 201, 201, 403)),
    Call("model replace", "put", model_url, {"training_compute_ops": 3e26}, expect=(403, 200, 404, 403)),
    Call("model patch", "patch", model_url, {"training_tokens": "2e13"}, expect=(403, 200, 404, 403)),
    Call("clusters list", "get", lambda w: "/api/v1/clusters/"),
    Call("cluster read", "get", cluster_url, expect=(403, 200, 404, 200)),
    Call("cluster revisions", "get", lambda w: cluster_url(w) + "revisions/", expect=(403, 200, 404, 200)),
    Call("cluster create", "post", lambda w: "/api/v1/clusters/", NEW_CLUSTER, expect=(403, 201, 201, 403)),
    Call("cluster replace", "put", cluster_url, NEW_CLUSTER | {"name": "Hall A"}, expect=(403, 200, 404, 403)),
    Call("cluster patch", "patch", cluster_url, {"used_for_ai_training": False}, expect=(403, 200, 404, 403)),
    Call("accelerators list", "get", lambda w: "/api/v1/accelerators/"),
    Call("accelerator read", "get", lambda w: "/api/v1/accelerators/nvidia-h100-sxm/"),
    Call("regimes list", "get", lambda w: "/api/v1/regimes/"),
    Call("regime read", "get", lambda w: "/api/v1/regimes/eu-ai-act/"),
    Call("rule versions list", "get", lambda w: "/api/v1/regimes/eu-ai-act/versions/"),
    Call("determinations list", "get", lambda w: "/api/v1/determinations/"),
    Call("determination read", "get", lambda w: f"/api/v1/determinations/{w.acme_determination.pk}/",
         expect=(403, 200, 404, 200)),
    Call("runs list", "get", lambda w: "/api/v1/runs/"),
    Call("run read", "get", lambda w: f"/api/v1/runs/{w.acme_run.pk}/", expect=(403, 200, 404, 200)),
    Call("run changes", "get", lambda w: f"/api/v1/runs/{w.acme_run.pk}/changes/", expect=(403, 200, 404, 200)),
    Call("evaluate a subject", "post", lambda w: "/api/v1/evaluations/",
         {"subject": "model:acme/Acme-1@1", "as_of": AS_OF.isoformat()}, expect=(403, 202, 400, 202)),
    Call("evaluate the registry", "post", lambda w: "/api/v1/evaluations/",
         {"subject": None, "as_of": AS_OF.isoformat()}, expect=(403, 403, 403, 202)),
]


# Refused roles first, the owner last: a refused call writes nothing, so each role meets the same state.
ORDER = ("anonymous", "no_role", "rival", "regulator", "lab")


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.name)
def test_permission_matrix(world, call):
    expected = {"anonymous": 401, **dict(zip(("no_role", "lab", "rival", "regulator"), call.expect, strict=True))}
    got = {}
    for role in ORDER:
        response = getattr(world.client(role), call.method)(call.url(world), call.body, format="json")
        got[role] = response.status_code
        assert response["Content-Type"] == "application/json", (role, response.content)
        if response.status_code >= 400:
            body = response.json()
            assert body["detail"] and body["errors"], (role, body)
    assert got == expected


def test_a_401_names_the_bearer_scheme(world):
    response = world.client("anonymous").get("/api/v1/models/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_another_labs_records_never_appear_in_its_lists(world, rival):
    listed = {
        "organisations": [o["slug"] for o in rival.get("/api/v1/organisations/").json()["results"]],
        "models": [m["organisation"] for m in rival.get("/api/v1/models/").json()["results"]],
        "clusters": [c["organisation"] for c in rival.get("/api/v1/clusters/").json()["results"]],
        "determinations": [d["subject"]["organisation"] for d in rival.get("/api/v1/determinations/").json()["results"]],
        "runs": [r["id"] for r in rival.get("/api/v1/runs/").json()["results"]],
    }
    assert listed["organisations"] == ["rival"]
    assert set(listed["models"]) == {"rival"}
    assert listed["clusters"] == []
    assert listed["determinations"] == []
    assert world.acme_run.pk not in listed["runs"]


def test_the_owner_and_the_regulator_see_what_the_other_lab_cannot(world, lab, regulator_api):
    for client in (lab, regulator_api):
        models = {m["ref"] for m in client.get("/api/v1/models/").json()["results"]}
        assert "acme/Acme-1@1" in models
    assert {m["ref"] for m in lab.get("/api/v1/models/").json()["results"]} == {"acme/Acme-1@1"}
    assert {m["ref"] for m in regulator_api.get("/api/v1/models/").json()["results"]} == {"acme/Acme-1@1", "rival/Rival-1@1"}


def test_a_revoked_token_is_refused(world):
    from accounts.models import ApiToken
    from accounts.services import token_revoke

    client = world.client("lab")
    assert client.get("/api/v1/models/").status_code == 200
    for token in ApiToken.objects.filter(user__membership__organisation__slug="acme"):
        token_revoke(token=token)
    assert client.get("/api/v1/models/").status_code == 401


def test_an_admin_session_reads_as_a_regulator(world, admin_client_logged_in):
    response = admin_client_logged_in.get("/api/v1/models/")
    assert response.status_code == 200
    assert response.json()["count"] == 2
