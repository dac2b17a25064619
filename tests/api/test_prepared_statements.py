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
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **environment}
    code = ("import json, django; django.setup(); from django.conf import settings; "
            "print(json.dumps(settings.DATABASES['default'].get('OPTIONS', {}), default=str))")
    done = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_prepared_statements_are_on_by_default_and_off_when_asked():
    url = "postgres://registry@127.0.0.1:5432/registry"
    on = _database_options(DATABASE_URL=url, DATABASE_PREPARED_STATEMENTS="")
    assert on.get("server_side_binding") is True and on.get("prepare_threshold") == 5
    off = _database_options(DATABASE_URL=url, DATABASE_PREPARED_STATEMENTS="0")
    assert "server_side_binding" not in off and "prepare_threshold" not in off


def test_sqlite_has_no_prepared_statement_options():
    options = _database_options(DATABASE_URL="", DATABASE_PREPARED_STATEMENTS="1")
    assert "server_side_binding" not in options and "prepare_threshold" not in options


@pytest.mark.skipif(not POSTGRESQL or not settings.DATABASES["default"].get("OPTIONS", {}).get("server_side_binding"),
                    reason="needs PostgreSQL with prepared statements (DATABASE_PREPARED_STATEMENTS on)")
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
