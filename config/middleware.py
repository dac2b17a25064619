"""A query parameter holding a NUL character, which no database text can store, is refused with 400
on every page (the API answers the same in JSON: api.middleware)."""
from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest


class QueryNulGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        bad = sorted({name for name, values in request.GET.lists() for value in [name, *values] if "\x00" in value})
        if bad:
            return HttpResponseBadRequest(
                f"The query parameter(s) {', '.join(repr(name) for name in bad)} must not contain a NUL character.",
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)
