"""DATABASE_PREPARED_STATEMENTS (`writes` unless `all` or `off`): on PostgreSQL, values bound by the
server and a statement run often on a connection kept prepared there, for a lab's registry writes
only by default, for every statement with `all`; a statement of more values than the protocol
carries is bound by the client instead."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

BASE_DIR = settings.BASE_DIR
POSTGRESQL = "postgresql" in settings.DATABASES["default"]["ENGINE"]
OPTION_NAMES = {"server_side_binding", "cursor_factory", "prepare_threshold"}


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


def test_every_connection_prepares_statements_only_when_asked():
    url = "postgres://registry@127.0.0.1:5432/registry"
    for value in ("", "writes", "off", "0"):
        assert not OPTION_NAMES & set(_database_options(DATABASE_URL=url, DATABASE_PREPARED_STATEMENTS=value)), value
    for value in ("all", "1"):
        on = _database_options(DATABASE_URL=url, DATABASE_PREPARED_STATEMENTS=value)
        assert on.get("server_side_binding") is True and "PreparingCursor" in on.get("cursor_factory", "")
        assert on.get("prepare_threshold") == 5


def test_a_value_that_is_none_of_them_is_refused_naming_the_variable():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "test-only-not-secret",
           "DATABASE_URL": "postgres://registry@127.0.0.1:5432/registry", "DATABASE_PREPARED_STATEMENTS": "sometimes"}
    done = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "DATABASE_PREPARED_STATEMENTS: expected writes, all (1) or off (0), got 'sometimes'" in done.stderr


def test_sqlite_has_no_prepared_statement_options():
    assert not OPTION_NAMES & set(_database_options(DATABASE_URL="", DATABASE_PREPARED_STATEMENTS="1"))


@pytest.fixture
def preparing_connection(db):
    """A connection to the test database as DATABASE_PREPARED_STATEMENTS=1 opens one."""
    if not POSTGRESQL:
        pytest.skip("prepared statements are PostgreSQL's")
    import psycopg

    from api.prepared import PreparingCursor

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("prepare_threshold", None)
    with psycopg.connect(**params, cursor_factory=PreparingCursor, prepare_threshold=5, autocommit=True) as conn:
        yield conn


def test_a_statement_run_often_is_prepared_on_the_server(preparing_connection):
    def prepared() -> list[str]:
        rows = preparing_connection.execute("SELECT statement FROM pg_prepared_statements").fetchall()
        return [row[0] for row in rows if "registry_organisation" in row[0]]

    query = 'SELECT 1 FROM "registry_organisation" WHERE "slug" = %s'
    for number in range(3):
        preparing_connection.cursor().execute(query, [f"org-{number}"])
    assert prepared() == []  # not yet: a statement run a few times is only bound
    for number in range(3, 8):
        preparing_connection.cursor().execute(query, [f"org-{number}"])
    statements = prepared()
    assert len(statements) == 1 and "$1" in statements[0]  # one statement, its value a parameter


def test_a_statement_of_more_values_than_the_protocol_carries_is_still_run(preparing_connection):
    """The protocol counts a statement's values in 16 bits: one with more (a large `bulk_create`, an
    `__in` of many keys) has its values written into its text instead, as without prepared statements."""
    from api.prepared import MAX_BOUND_VALUES

    values = list(range(MAX_BOUND_VALUES + 5))
    marks = ", ".join(["(%s)"] * len(values))
    cursor = preparing_connection.cursor()
    cursor.execute(f"SELECT count(*), sum(v) FROM (VALUES {marks}) AS t(v)", values)
    assert cursor.fetchone() == (len(values), sum(values))
    cursor.execute("SELECT count(*) FROM generate_series(1, 10) AS n WHERE n IN (" + ", ".join(["%s"] * len(values)) + ")",
                   values)
    assert cursor.fetchone() == (10,)


def _prepared_here() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def _submit(client, number: int) -> None:
    response = client.post("/api/v1/models/", {
        "name": f"Model-{number}", "version": "1", "parameter_count": 7e10, "training_tokens": 1.5e13,
        "general_purpose": True, "modalities": ["text"], "released_on": "2026-01-15"}, format="json")
    assert response.status_code == 201, response.content


def test_a_labs_submissions_run_on_statements_prepared_and_its_reads_do_not(lab, settings,
                                                                              django_capture_on_commit_callbacks):
    if not POSTGRESQL:
        pytest.skip("prepared statements are PostgreSQL's")
    settings.PREPARED_STATEMENTS = "writes"
    raw = connection.connection
    before = raw.cursor_factory, raw.prepare_threshold
    with django_capture_on_commit_callbacks(execute=False):
        for number in range(7):
            _submit(lab, number)
    prepared = _prepared_here()
    # the token's read and the model's INSERT, each run seven times, are kept prepared, values as parameters
    assert any('INSERT INTO "registry_aimodel"' in text and "$1" in text for text in prepared), prepared
    assert any('FROM "accounts_apitoken"' in text for text in prepared), prepared
    assert connection.connection is raw and (raw.cursor_factory, raw.prepare_threshold) == before

    for _ in range(7):
        assert lab.get("/api/v1/models/?ordering=name").status_code == 200
    read = [text for text in _prepared_here() if text not in prepared]
    assert read == [], "a list read after the writes is planned with its values, not kept prepared"


def test_with_prepared_statements_off_a_submission_prepares_nothing(lab, settings,
                                                                    django_capture_on_commit_callbacks):
    if not POSTGRESQL:
        pytest.skip("prepared statements are PostgreSQL's")
    settings.PREPARED_STATEMENTS = "off"
    with django_capture_on_commit_callbacks(execute=False):
        for number in range(7):
            _submit(lab, number)
    assert not any("registry_aimodel" in text for text in _prepared_here())
