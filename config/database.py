"""The cursor of PostgreSQL connections (DATABASE_PREPARED_STATEMENTS): values bound by the server, so
that a statement run often can be kept prepared there, except in a statement with more values than
the protocol can carry, whose values are written into its text as Django's default cursor does."""
from __future__ import annotations

from typing import Any

import psycopg
from django.db.backends.postgresql.base import ServerBindingCursor

MAX_BOUND_VALUES = 65535  # the protocol counts a statement's parameters in 16 bits


class PreparingCursor(ServerBindingCursor):
    """Django's server-binding cursor; a statement of more than MAX_BOUND_VALUES values (a large
    `bulk_create`, an `__in` of many keys) is bound by the client instead of failing to be sent."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        if params is not None and len(params) > MAX_BOUND_VALUES:
            query, params = psycopg.ClientCursor(self.connection).mogrify(query, params), None
        return super().execute(query, params, **kwargs)
