"""The throttle's cache on Redis: one client per connection pool, the values as Django's backend keeps them."""
from __future__ import annotations

import os

import pytest

from api.cache import PooledClientRedisCache

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")


def test_one_client_serves_every_call_and_values_round_trip():
    cache = PooledClientRedisCache(os.environ["REDIS_URL"], {"KEY_PREFIX": "test-api-cache"})
    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client() is client and cache._cache.get_client(write=True) is client
    cache.set("history", [3.5, 2.5, 1.5], 30)
    assert cache.get("history") == [3.5, 2.5, 1.5]
    assert cache.get("missing", "default") == "default"
    cache.delete("history")
    assert cache.get("history") is None
