"""Guards in front of the API: a declared body over the cap is a JSON 413 before anything reads it,
and a query parameter holding a NUL character (which no database field can store) is a JSON 400."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from .exceptions import error_body, too_large_detail

API_PREFIX = "/api/"


class ApiRequestGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.API_MAX_BODY_BYTES:
                return self._too_large()
            bad = sorted({name for name, values in request.GET.lists() for value in [name, *values] if "\x00" in value})
            if bad:
                errors = [{"field": name, "message": "must not contain a NUL character"} for name in bad]
                return JsonResponse(error_body("the request is invalid", errors), status=400)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> Any:
        if isinstance(exception, RequestDataTooBig) and request.path.startswith(API_PREFIX):
            return self._too_large()
        return None

    @staticmethod
    def _too_large() -> JsonResponse:
        return JsonResponse(error_body(too_large_detail()), status=413)
