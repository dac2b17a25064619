"""Requests per token (per user for a session, per address otherwise) at settings.API_THROTTLE_RATE;
over it, 429 with Retry-After. Counts live in the `api` cache (Redis when configured); while that
cache cannot be reached requests are let through uncounted, so a broker outage never refuses a
submission."""
from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.cache import caches
from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiToken

log = logging.getLogger(__name__)


class TokenRateThrottle(SimpleRateThrottle):
    scope = "api"

    def allow_request(self, request: Any, view: Any) -> bool:
        try:
            return super().allow_request(request, view)
        except (RedisError, OSError) as exc:
            log.warning("throttle counts unavailable, request let through: %s", exc)
            return True

    @property
    def cache(self) -> Any:  # type: ignore[override]
        return caches["api"]

    def get_rate(self) -> str:
        return settings.API_THROTTLE_RATE

    def get_cache_key(self, request: Any, view: Any) -> str:
        if isinstance(request.auth, ApiToken):
            ident = f"token:{request.auth.key_sha256[:24]}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"address:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class WorkRateThrottle(TokenRateThrottle):
    """The lower rate of the POSTs that queue work (evaluations/, reports/): settings.API_WORK_THROTTLE_RATE
    per token, counted apart from (and on top of) the overall rate. Reading them is not counted here."""

    scope = "work"

    def allow_request(self, request: Any, view: Any) -> bool:
        if request.method != "POST":
            return True
        return super().allow_request(request, view)

    def get_rate(self) -> str:
        return settings.API_WORK_THROTTLE_RATE
