"""Requests per token (per user for a session, per address otherwise) at settings.API_THROTTLE_RATE;
over it, 429 with Retry-After. Counts live in the `api` cache: on Redis, a sliding window kept and
checked by one Lua script, so requests arriving at once on several processes are counted one by one
and exactly the limit passes; on the embedded in-process cache, under a lock. While Redis cannot be
reached requests are let through uncounted, so a broker outage never refuses a submission."""
from __future__ import annotations

import logging
import secrets
import threading
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiToken

log = logging.getLogger(__name__)

# KEYS[1]: the sorted set of one caller's requests (member: a unique id, score: arrival time in seconds).
# ARGV: now, window (seconds), limit, a unique member for this request. Drops arrivals older than the
# window, then admits the request if fewer than `limit` remain. Returns {1, ""} when admitted, else
# {0, seconds until the oldest arrival leaves the window} (a string: Lua numbers reach the client as
# integers). Redis runs a script without interleaving any other command, which is what makes it atomic.
SLIDING_WINDOW_LUA = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
  return {1, ''}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tostring(tonumber(oldest[2]) + window - now)}
"""

# The embedded default's in-process cache: one lock makes its read-check-write one step.
_local_counts_lock = threading.Lock()
_script: Any = None


def _sliding_window(cache: RedisCache, *, keys: list[str], args: list[Any]) -> Any:
    """Runs the script on the cache's Redis client (EVALSHA, loaded again if Redis lost it)."""
    global _script
    client = cache._cache.get_client(write=True)
    if _script is None:
        _script = client.register_script(SLIDING_WINDOW_LUA)
    return _script(keys=keys, args=args, client=client)


class TokenRateThrottle(SimpleRateThrottle):
    scope = "api"
    # Not DRF's key: a count left in Redis in DRF's format (a pickled list) is not a sorted set.
    cache_format = "throttle_%(scope)s_window_%(ident)s"
    _retry_after: float | None = None

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        try:
            if isinstance(self.cache, RedisCache):
                return self._allow_in_redis()
            with _local_counts_lock:
                return super().allow_request(request, view)
        except (RedisError, OSError) as exc:
            log.warning("throttle counts unavailable, request let through: %s", exc)
            return True

    def _allow_in_redis(self) -> bool:
        cache = self.cache
        admitted, retry_after = _sliding_window(
            cache, keys=[cache.make_and_validate_key(self.key)],
            args=[repr(self.timer()), self.duration, self.num_requests, secrets.token_hex(8)],
        )
        if int(admitted) == 1:
            return True
        self._retry_after = max(float(retry_after), 0.0)
        return False

    def wait(self) -> float | None:
        if self._retry_after is not None:
            return self._retry_after
        return super().wait()

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
