"""Guards in front of the API: a declared body over the cap is a JSON 413 before anything reads it; a
body sent with Transfer-Encoding instead of Content-Length (which the WSGI server hands on unread, so it
would be taken as empty) is a JSON 411; a query parameter holding a NUL character (which no database
field can store) is a JSON 400."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from .exceptions import error_body, too_large_detail

API_PREFIX = "/api/"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LENGTH_REQUIRED = "a request body must be sent with a Content-Length header (Transfer-Encoding is not accepted)"


class ApiRequestGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            if request.method in BODY_METHODS and "HTTP_TRANSFER_ENCODING" in request.META:
                return JsonResponse(error_body(LENGTH_REQUIRED, [{"field": "Content-Length", "message": LENGTH_REQUIRED}]),
                                    status=411)
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
