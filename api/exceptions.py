"""Every API error as one JSON shape: `{"detail": "...", "errors": [{"field": ..., "message": ...}]}`.

`field` names the request field a problem concerns (nested as `training_hardware.utilization`,
`groups[1].accelerator`), or is null for a problem with the request as a whole.
"""
from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions, status
from rest_framework.response import Response


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "the object has changed since the ETag given in If-Match"
    default_code = "precondition_failed"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "the request conflicts with the current state"
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "the request body is too large"
    default_code = "payload_too_large"


class FieldErrors(exceptions.APIException):
    """A refused request whose problems are already `{"field", "message"}` pairs."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(self, errors: list[dict[str, Any]], detail: str = "the request is invalid; nothing was stored") -> None:
        super().__init__(detail)
        self.errors = errors


def too_large_detail() -> str:
    from django.conf import settings

    return f"the request body is larger than {settings.API_MAX_BODY_BYTES} bytes"


def _join(prefix: str | None, key: Any) -> str | None:
    if isinstance(key, int):
        return f"{prefix or ''}[{key}]"
    if key in ("non_field_errors", "__all__"):
        return prefix
    return f"{prefix}.{key}" if prefix else str(key)


def flatten(detail: Any, prefix: str | None = None) -> list[dict[str, Any]]:
    """DRF's nested error detail as a flat list of `{"field", "message"}`."""
    if isinstance(detail, dict):
        found: list[dict[str, Any]] = []
        for key, value in detail.items():
            found += flatten(value, _join(prefix, key))
        return found
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return [{"field": prefix, "message": str(item)} for item in detail]
        found = []
        for index, item in enumerate(detail):
            if item:
                found += flatten(item, _join(prefix, index))
        return found
    return [{"field": prefix, "message": str(detail)}]


def error_body(detail: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"detail": detail, "errors": errors if errors is not None else [{"field": None, "message": detail}]}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    from rest_framework.views import exception_handler  # not at import: DRF's settings import this module

    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(too_large_detail())
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, FieldErrors):
        response.data = error_body(str(exc.detail), exc.errors)
    elif isinstance(exc, exceptions.ValidationError):
        request = context.get("request")
        writes = request is not None and request.method not in ("GET", "HEAD", "OPTIONS")
        response.data = error_body("the request is invalid" + ("; nothing was stored" if writes else ""), flatten(exc.detail))
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data.get("detail", "")
        response.data = error_body(str(detail))
    return response
