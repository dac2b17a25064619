"""Prepared statements on PostgreSQL: values bound by the server, so that a statement run often can
be kept prepared there, except in a statement with more values than the protocol can carry, whose
values are written into its text as Django's default cursor does (`PreparingCursor`). A lab's
registry writes run with them (`statements_prepared`); with DATABASE_PREPARED_STATEMENTS=all every
connection does, with `off` none (config.settings)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections
from django.db.backends.postgresql.base import ServerBindingCursor

MAX_BOUND_VALUES = 65535  # the protocol counts a statement's parameters in 16 bits


class PreparingCursor(ServerBindingCursor):
    """Django's server-binding cursor; a statement of more than MAX_BOUND_VALUES values (a large
    `bulk_create`, an `__in` of many keys) is bound by the client instead of failing to be sent."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        if params is not None and len(params) > MAX_BOUND_VALUES:
            query, params = psycopg.ClientCursor(self.connection).mogrify(query, params), None
        return super().execute(query, params, **kwargs)


PREPARE_THRESHOLD = 5  # executions of one statement on a connection before it is kept prepared


@contextmanager
def statements_prepared(using: str = "default") -> Iterator[None]:
    """Inside it, on PostgreSQL, the connection binds values by the server and keeps a statement run
    PREPARE_THRESHOLD times prepared, so that PostgreSQL may reuse its plan (`PreparingCursor`):
    for a path of few statements, each cheap to run and dear to plan, run again and again (a lab's
    submission: the token's read, the organisation's names and count, the write of its rows). Outside
    it the connection's own settings hold, so no list page runs on a plan made without its values (a
    generic plan, which made some list pages of a year's log several times slower: BENCHMARKS.md).
    A connection opened inside (the persistent one's health check failed) is left as opened."""
    conn = connections[using]
    if conn.vendor != "postgresql" or settings.PREPARED_STATEMENTS != "writes":  # `all`: prepared already
        yield
        return
    conn.ensure_connection()
    raw = conn.connection
    saved = raw.cursor_factory, raw.prepare_threshold
    raw.cursor_factory, raw.prepare_threshold = PreparingCursor, PREPARE_THRESHOLD
    try:
        yield
    finally:
        raw.cursor_factory, raw.prepare_threshold = saved
