"""The OpenAPI 3 description (drf-spectacular): every operation documents its error responses
with the shared error body, the headers it reads or sets, and examples on the main calls."""
from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

from registry.interchange import SCIENTIFIC

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER,
    description="Any unique string (≤ 255 printable ASCII characters). A retry with the same key and body returns "
                "the first answer and writes nothing; the same key with a different body is a 409.",
)
IF_MATCH = OpenApiParameter(
    "If-Match", str, OpenApiParameter.HEADER,
    description="The ETag of the revision you read. If the record has changed since, the answer is 412 and nothing is "
                "written. Optional: without it the last writer wins.",
)
ETAG_HEADER = OpenApiParameter(
    "ETag", str, OpenApiParameter.HEADER, response=[200, 201],
    description='The latest revision: `"<revision>-<facts digest prefix>"`.',
)
LOCATION_HEADER = OpenApiParameter(
    "Location", str, OpenApiParameter.HEADER, response=[201, 202], description="The URL of what was created.",
)

ERRORS = {
    "400": "Invalid request: each problem names its field. Nothing was stored.",
    "401": "No credentials, or a token that is invalid or revoked.",
    "403": "The role does not allow this (a regulator never edits a lab's submission; a lab never evaluates the "
           "whole registry; an account without a role).",
    "404": "Not found, or not yours: another lab's records are never shown.",
    "409": "Conflict: the record exists already, or the Idempotency-Key was used for a different request.",
    "412": "If-Match names a revision that is no longer the latest.",
    "413": "The request body is over the size limit.",
    "415": "The body is not JSON.",
    "429": "Too many requests for this token; retry after Retry-After seconds.",
}
INVALID_EXAMPLE = OpenApiExample(
    "Refused numbers", response_only=True, status_codes=["400"],
    value={"detail": "the request is invalid; nothing was stored", "errors": [
        {"field": "training_compute_ops", "message": 'must be a non-negative number, got "10^26"'},
        {"field": "training_hardware.utilization", "message": "must be in (0, 1], got 1.5"},
    ]},
)


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "http", "scheme": "bearer",
                "description": "A token from `manage.py create_api_user`, sent as `Authorization: Bearer <token>`."}


class InterchangeNumberField(OpenApiSerializerFieldExtension):
    """A number of the interchange format: a JSON number or a scientific-notation string."""

    target_class = "registry.interchange.InterchangeNumber"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        number: dict[str, Any] = {"type": "number", "minimum": 0}
        if self.target.positive:
            number["exclusiveMinimum"] = True
        if self.target.at_most is not None:
            number["maximum"] = self.target.at_most
        text = {"type": "string", "pattern": SCIENTIFIC.pattern, "example": "1.5e25"}
        schema: dict[str, Any] = {"oneOf": [number, text]}
        if self.target.allow_null:
            schema["nullable"] = True
        return schema


class ApiAutoSchema(AutoSchema):
    def _error_codes(self) -> list[str]:
        codes = ["401", "403", "429"]
        has_path_params = "{" in self.path
        if self.method == "GET":
            if self._is_list_view():
                codes += ["400", "404"]
            elif has_path_params:
                codes.append("404")
        if self.method in ("POST", "PUT", "PATCH"):
            codes += ["400", "413", "415"]
            if has_path_params:
                codes.append("404")
        if self.method == "POST":
            codes.append("409")
        if self.method in ("PUT", "PATCH"):
            codes.append("412")
        return sorted(set(codes))

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        from .serializers.common import ErrorSerializer

        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation["responses"]
        for code in self._error_codes():
            if code in responses:
                continue
            examples = [INVALID_EXAMPLE] if code == "400" and self.method in ("POST", "PUT", "PATCH") else []
            response = self._get_response_for_code(
                OpenApiResponse(ErrorSerializer, description=ERRORS[code], examples=examples), code
            )
            if code == "429":
                response["headers"] = {"Retry-After": {
                    "schema": {"type": "integer"}, "description": "Seconds to wait before the next request.",
                }}
            if code == "401":
                response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
            responses[code] = response
        return operation


def examples_for(kind: str) -> list[OpenApiExample]:
    """Request examples of a record's creation, in the interchange format."""
    if kind == "model":
        return [OpenApiExample("A model with its training hardware", request_only=True, value={
            "name": "Acme-1", "version": "1", "parameter_count": 4.05e11, "training_tokens": "1.56e13",
            "training_compute_ops": None, "general_purpose": True, "modalities": ["text"],
            "training_hardware": {"accelerator": "nvidia-h100-sxm", "accelerator_count": 16384,
                                  "training_hours": 1300, "utilization": 0.4},
            "training_completed_on": "2024-07-01", "released_on": "2024-07-23",
        }), OpenApiExample("A fine-tune of a registered model", request_only=True, value={
            "name": "Acme-1-Med", "version": "1", "base_model": "acme/Acme-1@1", "derivation": "fine_tuning",
            "fine_tuning_compute_ops": "3e24",
        }), INVALID_EXAMPLE]
    if kind == "cluster":
        return [OpenApiExample("Two halls of one datacenter", request_only=True, value={
            "name": "Hall A", "used_for_ai_training": True,
            "groups": [
                {"name": "a", "datacenter": "dc-1", "accelerator": "nvidia-h100-sxm", "accelerator_count": 100000,
                 "accelerators_per_node": 8, "network_gbps": 400},
                {"name": "b", "datacenter": "dc-1", "accelerator": "nvidia-h100-sxm", "accelerator_count": 2048,
                 "accelerators_per_node": 8, "network_gbps": 400},
            ],
            "links": [{"from": "a", "to": "b", "gbps": 800}],
            "operational_from": "2024-09-02",
        }), INVALID_EXAMPLE]
    return [OpenApiExample("An organisation", request_only=True, value={
        "slug": "acme", "name": "Acme AI", "country": "US", "annual_revenue_usd": 6.0e8, "revenue_year": 2025,
    })]


def evaluation_examples() -> list[OpenApiExample]:
    return [
        OpenApiExample("One model under every regime, as of a date", request_only=True,
                       value={"subject": "model:acme/Acme-1@1", "as_of": "2026-01-01", "regimes": []}),
        OpenApiExample("The whole registry under the EU AI Act (regulators)", request_only=True,
                       value={"subject": None, "as_of": "2025-08-02", "regimes": ["eu-ai-act"]}),
    ]
