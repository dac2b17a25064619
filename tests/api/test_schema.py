"""The OpenAPI description: served at /api/schema/, with Swagger UI (assets served locally) at
/api/docs/, documenting every error response; and schemathesis run against it in-process with a
regulator's and a lab's token: no 5xx, and every answer conforms to the schema."""
from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = 5


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def test_the_schema_is_served_without_credentials(client, openapi):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    served = yaml.safe_load(response.content)
    assert served["openapi"].startswith("3.")
    assert set(served["paths"]) == set(openapi["paths"])


def operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in openapi["paths"].items() for method, op in item.items()]


def test_the_schema_covers_every_resource(openapi):
    paths = set(openapi["paths"])
    for expected in ("/api/v1/organisations/", "/api/v1/models/{id}/", "/api/v1/models/{id}/revisions/",
                     "/api/v1/clusters/{id}/revisions/", "/api/v1/accelerators/", "/api/v1/regimes/",
                     "/api/v1/regimes/{regime_slug}/versions/{id}/", "/api/v1/determinations/",
                     "/api/v1/evaluations/", "/api/v1/runs/{id}/", "/api/v1/runs/{id}/changes/"):
        assert expected in paths


def test_every_operation_documents_its_error_responses(openapi):
    for path, method, op in operations(openapi):
        codes = set(op["responses"])
        assert {"401", "403", "429"} <= codes, (method, path)
        if method in ("post", "put", "patch"):
            assert {"400", "413"} <= codes, (method, path)
        if method == "post":
            assert "409" in codes, (method, path)
        if method in ("put", "patch"):
            assert {"404", "412"} <= codes, (method, path)
        if "{" in path:
            assert "404" in codes, (method, path)
        assert "Retry-After" in op["responses"]["429"]["headers"]
        error = op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"]
        assert error.endswith("/Error")


def test_the_main_calls_carry_examples(openapi):
    create = openapi["paths"]["/api/v1/models/"]["post"]
    assert create["requestBody"]["content"]["application/json"]["examples"]
    evaluate = openapi["paths"]["/api/v1/evaluations/"]["post"]
    assert evaluate["requestBody"]["content"]["application/json"]["examples"]
    assert "Idempotency-Key" in {p["name"] for p in create["parameters"]}
    revise = openapi["paths"]["/api/v1/models/{id}/"]["patch"]
    assert "If-Match" in {p["name"] for p in revise["parameters"]}


def body_of(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_swagger_ui_is_served_with_local_assets_and_no_inline_script(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<div id="swagger-ui">' in page
    assert "cdn.jsdelivr.net" not in page and "unpkg.com" not in page
    sources = re.findall(r'<script src="([^"]+)"></script>', page)
    assert len(sources) == 3 and page.count("<script") == 3  # every script is a file, as the CSP requires
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200, source
        assert "javascript" in asset["Content-Type"], source
    assert b"SwaggerUIBundle" in body_of(client.get(sources[-1]))
    for sheet in re.findall(r'<link rel="stylesheet" href="([^"]+)">', page):
        assert client.get(sheet).status_code == 200, sheet


# --- schemathesis ----------------------------------------------------------------------------------


def _checks() -> list[Any]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
            response_schema_conformance]


class InTestTransaction:
    """The project's WSGI application, called as Django's test client calls it: the test's database
    connection (and its transaction) stays open across requests."""

    def __init__(self) -> None:
        self.handler = WSGIHandler()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            response = self.handler(environ, start_response)
            body = b"".join(response)
            response.close()
            return [body]
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)


def _pinned_path_parameters(world: Any, path: str) -> dict[str, Any]:
    """Real objects for the path's parameters, so that writes and reads reach the code behind the 404."""
    if "{regime_slug}" in path:
        from rules.models import RuleVersion

        row = RuleVersion.objects.filter(state="published").order_by("pk").first()
        return {"regime_slug": row.regime, **({"id": row.pk} if "{id}" in path else {})}
    if path.startswith("/api/v1/organisations/{slug}"):
        return {"slug": "acme"}
    if path.startswith("/api/v1/accelerators/{slug}"):
        return {"slug": "nvidia-h100-sxm"}
    if path.startswith("/api/v1/regimes/{slug}"):
        return {"slug": "eu-ai-act"}
    ids = {"models": world.acme_model.pk, "clusters": world.acme_cluster.pk, "runs": world.acme_run.pk,
           "determinations": world.acme_determination.pk}
    for prefix, pk in ids.items():
        if path.startswith(f"/api/v1/{prefix}/{{id}}"):
            return {"id": pk}
    return {}


def _exercise(strategy: Any, *, label: str, headers: dict[str, str], checks: list[Any], failures: list[str]) -> int:
    """Runs a few generated cases of one operation; returns how many were sent, collecting failures."""
    from schemathesis.core.failures import FailureGroup

    sent = 0

    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(case=strategy)
    def exercise(case: Any) -> None:
        nonlocal sent
        sent += 1
        try:
            case.call_and_validate(headers=headers, checks=checks)
        except (Exception, FailureGroup) as exc:  # collected: one run reports every failing operation
            failures.append(f"{label}: {type(exc).__name__}: {str(exc)[:800]}")

    exercise()
    return sent


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_schemathesis_finds_no_server_error_and_no_nonconforming_answer(world, eager_celery):
    import schemathesis
    from schemathesis.generation.modes import GenerationMode

    schema = schemathesis.openapi.from_wsgi("/api/schema/", InTestTransaction())
    checks = _checks()
    failures: list[str] = []
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        pinned = _pinned_path_parameters(world, operation.path)
        variants = [(GenerationMode.POSITIVE, None), (GenerationMode.NEGATIVE, None)]
        if pinned:
            variants.append((GenerationMode.POSITIVE, pinned))
        method = operation.method.upper()
        writes_a_record = method in ("PUT", "PATCH") or (method == "POST" and "evaluations" not in operation.path)
        # Regulators' registry writes are all 403 (the permission matrix pins that): labs exercise them.
        for role in ("lab",) if writes_a_record else ("regulator", "lab"):
            for mode, path_parameters in variants:
                strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
                sent += _exercise(strategy, label=f"{role} {mode.value} {operation.label}", checks=checks,
                                  headers={"Authorization": f"Bearer {world.tokens[role]}"}, failures=failures)
    assert sent > 200
    assert not failures, "\n\n".join(failures[:20])
