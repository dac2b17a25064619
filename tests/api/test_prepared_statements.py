"""On PostgreSQL the values of a statement are bound by the server, and a statement run often on a
connection is kept prepared there, so that PostgreSQL need not plan a submission's statements anew
each time (DATABASE_PREPARED_STATEMENTS, on unless set to 0)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from registry.models import Organisation

BASE_DIR = settings.BASE_DIR
POSTGRESQL = "postgresql" in settings.DATABASES["default"]["ENGINE"]


def _database_options(**environment: str) -> dict:
    """The default database's OPTIONS as settings build them from `environment`."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "test-only-not-secret",
           **environment}
    code = ("import json, django; django.setup(); from django.conf import settings; "
            "print(json.dumps(settings.DATABASES['default'].get('OPTIONS', {}), default=str))")
    done = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_prepared_statements_are_on_by_default_and_off_when_asked():
    url = "postgres://registry@127.0.0.1:5432/registry"
    on = _database_options(DATABASE_URL=url, DATABASE_PREPARED_STATEMENTS="")
    assert on.get("server_side_binding") is True and "PreparingCursor" in on.get("cursor_factory", "")
    assert on.get("prepare_threshold") == 5
    off = _database_options(DATABASE_URL=url, DATABASE_PREPARED_STATEMENTS="0")
    assert not {"server_side_binding", "cursor_factory", "prepare_threshold"} & set(off)


def test_sqlite_has_no_prepared_statement_options():
    options = _database_options(DATABASE_URL="", DATABASE_PREPARED_STATEMENTS="1")
    assert not {"server_side_binding", "cursor_factory", "prepare_threshold"} & set(options)


PREPARING = POSTGRESQL and settings.DATABASES["default"].get("OPTIONS", {}).get("prepare_threshold") is not None
needs_prepared_statements = pytest.mark.skipif(
    not PREPARING, reason="needs PostgreSQL with prepared statements (DATABASE_PREPARED_STATEMENTS on)")


@needs_prepared_statements
@pytest.mark.django_db
def test_a_statement_run_often_is_prepared_on_the_server():
    def prepared() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            return [row[0] for row in cursor.fetchall() if "registry_organisation" in row[0]]

    assert prepared() == []
    for number in range(3):
        Organisation.objects.filter(slug=f"org-{number}").exists()
    assert prepared() == []  # not yet: a statement run once or twice is only bound
    for number in range(3, 8):
        Organisation.objects.filter(slug=f"org-{number}").exists()
    statements = prepared()
    assert len(statements) == 1 and "$1" in statements[0]  # one statement, its value a parameter


@needs_prepared_statements
@pytest.mark.django_db
def test_a_statement_of_more_values_than_the_protocol_carries_is_still_run():
    """The protocol counts a statement's values in 16 bits: one with more (a large `bulk_create`, an
    `__in` of many keys) has its values written into its text instead, as without prepared statements."""
    from accounts.models import AuditEvent
    from config.database import MAX_BOUND_VALUES

    events = [AuditEvent(action="record.created", subject=f"model:acme/M-{n}@1", detail={"n": n})
              for n in range(MAX_BOUND_VALUES // 5 + 1)]  # five values a row: actor, action, subject, detail, at
    AuditEvent.objects.bulk_create(events)
    assert AuditEvent.objects.filter(subject__startswith="model:acme/M-").count() == len(events)
    keys = list(AuditEvent.objects.values_list("pk", flat=True)) + list(range(-MAX_BOUND_VALUES, 0))
    assert len(keys) > MAX_BOUND_VALUES
    assert AuditEvent.objects.filter(pk__in=keys).count() == AuditEvent.objects.count() >= len(events)
