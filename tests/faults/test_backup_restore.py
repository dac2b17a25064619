"""`make backup` and `make restore`, tried on a copy: the registry's database is dumped, restored into
a scratch database on the same server, and the copy holds the same rows and a decision log that
verifies. A restore asks for CONFIRM=yes, refuses a file that is not a backup, and replaces what the
target held; neither target works on the embedded SQLite default."""
from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from datetime import date
from urllib.parse import quote

import psycopg
import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection

from accounts.services import token_issue
from config.celery import app as celery_app
from registry.services import registry_submit
from rules.models import Determination, LogHead
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from tests.factories import ClusterRecordFactory, ModelRecordFactory, UserFactory, document

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def database_url(name: str) -> str:
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else ""
    return f"postgres://{quote(db['USER'])}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def make(target: str, *args: str, url: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEST_DATABASE_NAME", "MAKEFLAGS"}}
    if url is not None:
        env["DATABASE_URL"] = url
    env["SECRET_KEY"] = settings.SECRET_KEY
    return subprocess.run(["make", "-s", target, *args], cwd=settings.BASE_DIR, env=env, capture_output=True,
                          text=True, timeout=300)


def row_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {model._meta.db_table: conn.execute(f'SELECT count(*) FROM "{model._meta.db_table}"').fetchone()[0]
                for model in apps.get_models() if model._meta.managed}


@pytest.fixture
def scratch():
    """An empty database on the same server, dropped afterwards."""
    if connection.vendor != "postgresql":
        pytest.skip("backups are of PostgreSQL; the embedded default is a single SQLite file")
    if shutil.which("make") is None or shutil.which("pg_dump") is None:
        pytest.skip("needs make and pg_dump")
    name = f"{connection.settings_dict['NAME']}_restore_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(database_url("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(database_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def evaluated_registry(transactional_db):
    saved = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True  # the submission's own evaluation, here rather than queued
    try:
        registry_submit(document(models=[ModelRecordFactory(name=f"Model-{n}", training_compute_ops=f"{n + 1}e25")
                                         for n in range(6)],
                                 clusters=[ClusterRecordFactory(name="Hall A")]), via="import")
    finally:
        celery_app.conf.task_always_eager = saved
    for as_of in (date(2024, 6, 1), date(2026, 3, 1)):
        run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=as_of))
    token_issue(user=UserFactory(username="lab-member"))


def test_a_backup_restored_into_a_copy_holds_the_same_registry_and_a_sound_decision_log(
        evaluated_registry, scratch, tmp_path):
    source = database_url(connection.settings_dict["NAME"])
    backed_up = make("backup", f"BACKUP_DIR={tmp_path}", url=source)
    assert backed_up.returncode == 0, backed_up.stderr
    (dump,) = tmp_path.glob("registry-*.dump")
    assert f"Backed up to {dump}" in backed_up.stdout
    assert not list(tmp_path.glob("*.partial"))

    copy = database_url(scratch)
    restored = make("restore", f"FILE={dump}", "CONFIRM=yes", url=copy)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert f"decision log intact: {Determination.objects.count()} row(s) verified" in restored.stdout
    counts = row_counts(source)
    assert row_counts(copy) == counts
    with psycopg.connect(copy) as conn:
        head = conn.execute(f'SELECT sequence, row_sha256 FROM "{LogHead._meta.db_table}"').fetchone()
    source_head = LogHead.objects.get()
    assert head == (source_head.sequence, source_head.row_sha256)

    # a restore replaces what the target holds: rows added to the copy since are gone again
    with psycopg.connect(copy) as conn:
        conn.execute("DELETE FROM accounts_apitoken")
    again = make("restore", f"FILE={dump}", "CONFIRM=yes", url=copy)
    assert again.returncode == 0, again.stderr
    assert row_counts(copy) == counts


def test_a_restore_asks_for_confirmation_and_refuses_what_is_not_a_backup(evaluated_registry, scratch, tmp_path):
    copy = database_url(scratch)
    assert make("backup", f"BACKUP_DIR={tmp_path}", url=database_url(connection.settings_dict["NAME"])).returncode == 0
    dump = next(tmp_path.glob("registry-*.dump"))

    unconfirmed = make("restore", f"FILE={dump}", url=copy)
    assert unconfirmed.returncode != 0 and "run it again with CONFIRM=yes" in unconfirmed.stderr
    not_a_backup = tmp_path / "notes.dump"
    not_a_backup.write_text("not a backup")
    refused = make("restore", f"FILE={not_a_backup}", "CONFIRM=yes", url=copy)
    assert refused.returncode != 0 and "is not a readable pg_dump archive" in refused.stderr
    missing = make("restore", "CONFIRM=yes", url=copy)
    assert missing.returncode != 0 and "name the backup" in missing.stderr
    with psycopg.connect(copy) as conn:  # nothing was restored by any of them
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0


@pytest.mark.parametrize("target", ["backup", "restore"])
def test_backup_and_restore_refuse_the_embedded_sqlite_default(target):
    if shutil.which("make") is None:
        pytest.skip("needs make")
    result = make(target, "FILE=x.dump", "CONFIRM=yes", url=None)
    assert result.returncode != 0
    assert f"make {target}: DATABASE_URL must name a PostgreSQL database" in result.stderr
