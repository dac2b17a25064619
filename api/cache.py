"""The Redis caches (`api`: throttle counts; `outbox`: the flag that an evaluation of the outbox is
queued), with one client object per connection pool.

Django's Redis backend builds a new `redis.Redis` for every cache call, and redis-py sets up its
command and response tables in each: about 0.1 ms of CPU per call, on every throttled request.
A `redis.Redis` over a connection pool is safe to share between threads, so it is built once."""
from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class PooledClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            if index not in self._pools:
                self._pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)
            client = self._clients[index] = self._client(connection_pool=self._pools[index])
        return client


class PooledClientRedisCache(RedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = PooledClientRedisCacheClient
