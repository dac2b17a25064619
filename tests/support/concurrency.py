"""Concurrent transactions on PostgreSQL for the tests: a target run in a thread with its own connection,
and how many sessions wait on a lock (the moment a race is held open)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections

# how long a test waits for a thread, a lock or an event before it fails
DEADLINE_S = 60


def sessions_waiting_on_a_lock() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else the view is read once per transaction
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Runs `target` in a thread with its own database connection; its result or exception lands in the dict."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = target()
        except BaseException as exc:  # noqa: BLE001 (handed to the test)
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome
