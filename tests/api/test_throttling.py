"""The throttle counts requests that arrive at once one by one: of many sent together by many threads,
exactly the limit passes (on Redis through one atomic script, on the embedded cache under a lock)."""
from __future__ import annotations

import hashlib
import secrets
import threading
from types import SimpleNamespace

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from accounts.models import ApiToken
from api.throttling import TokenRateThrottle

THREADS, ATTEMPTS_PER_THREAD, LIMIT = 12, 20, 100


def token_request() -> SimpleNamespace:
    """What the throttle reads of a request made with a token of its own (nothing is stored)."""
    token = ApiToken(key_sha256=hashlib.sha256(secrets.token_bytes(16)).hexdigest())
    return SimpleNamespace(auth=token, user=None)


def attempts_at_once(request: SimpleNamespace) -> list[bool]:
    """THREADS threads released together, each asking ATTEMPTS_PER_THREAD times; every answer."""
    barrier = threading.Barrier(THREADS)
    answers: list[bool] = []
    answers_lock = threading.Lock()

    def attempt() -> None:
        barrier.wait(timeout=30)
        mine = [TokenRateThrottle().allow_request(request, None) for _ in range(ATTEMPTS_PER_THREAD)]
        with answers_lock:
            answers.extend(mine)

    threads = [threading.Thread(target=attempt) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def test_of_requests_sent_at_once_by_many_threads_exactly_the_limit_passes(settings):
    settings.API_THROTTLE_RATE = f"{LIMIT}/min"
    request = token_request()
    answers = attempts_at_once(request)
    assert len(answers) == THREADS * ATTEMPTS_PER_THREAD
    assert answers.count(True) == LIMIT
    refused = TokenRateThrottle()
    assert refused.allow_request(request, None) is False
    assert 0 < refused.wait() <= 60
    # another token has its own allowance
    assert TokenRateThrottle().allow_request(token_request(), None) is True


@pytest.mark.services
def test_the_counts_are_kept_in_redis_when_redis_is_configured(settings):
    if not isinstance(caches["api"], RedisCache):
        pytest.skip("needs Redis (REDIS_URL)")
    settings.API_THROTTLE_RATE = "2/min"
    request = token_request()
    throttle = TokenRateThrottle()
    assert [TokenRateThrottle().allow_request(request, None) for _ in range(3)] == [True, True, False]
    cache = caches["api"]
    key = cache.make_and_validate_key(throttle.get_cache_key(request, None))
    client = cache._cache.get_client(write=True)
    assert client.zcard(key) == 2 and 0 < client.pttl(key) <= 60_000
