"""The registry through service outages, with real processes on a private PostgreSQL cluster and a
private Redis (never the machine's own): PostgreSQL restarted in the middle of a re-evaluation, and
Redis stopped while labs submit through the API. Every submission is kept, every run completes once
the service is back, no determination is missing or duplicated, and the decision log verifies.

(A worker SIGKILLed mid-run, and an import while Redis is down, are in tests/rules/test_worker.py.)"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from django.conf import settings

from registry.models import AIModel
from rules.codes import code
from rules.models import Determination, EvaluationRun, PendingEvaluation
from tests.factories import ClusterRecordFactory, ModelRecordFactory, OrganisationRecordFactory
from tests.support.processes import PrivatePostgres, PrivateRedis, Registry, free_port, wait_for

pytestmark = pytest.mark.services

REGIMES = 6
AS_OF = "2026-03-01"
# a subject's number in the log, by its reference (the one parameter)
SUBJECT_ID = "SELECT id FROM rules_loggedsubject WHERE ref = %s"


@dataclass
class Stack:
    postgres: PrivatePostgres
    redis: PrivateRedis
    registry: Registry
    database_url: str

    def query(self, sql: str, *params: Any) -> list[tuple]:
        """Reads the private database directly (the test process's own Django database is another one)."""
        with psycopg.connect(self.database_url, connect_timeout=5) as conn:
            return conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, *params: Any) -> Any:
        return self.query(sql, *params)[0][0]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        pytest.skip("the embedded default: the outage tests run with the services (make test)")
    logs = tmp_path_factory.mktemp("outages")
    postgres = PrivatePostgres(free_port(5440, 5449))
    redis = PrivateRedis(free_port(6381, 6389), logs)
    registry = None
    try:
        postgres.create()
        postgres.createdb("registry")
        redis.start()
        registry = Registry(database_url=postgres.url("registry"), redis_url=redis.url, logs=logs,
                            CELERY_VISIBILITY_TIMEOUT="2", API_THROTTLE_RATE="100000/min",
                            API_WORK_THROTTLE_RATE="100000/min")
        migrated = registry.manage("migrate", "--noinput", timeout=900)
        assert migrated.returncode == 0, migrated.stderr
        document = tmp_path_factory.mktemp("documents") / "registry.json"
        orgs = [OrganisationRecordFactory(slug=f"org-{i}", name=f"Org {i}") for i in range(10)]
        document.write_text(json.dumps({
            "organisations": orgs,
            "models": [ModelRecordFactory(organisation=f"org-{i % 10}", name=f"Model-{i}",
                                          training_compute_ops=f"{1 + i % 9}e{22 + i % 5}") for i in range(70)],
            "clusters": [ClusterRecordFactory(organisation=f"org-{i % 10}", name=f"Hall {i}") for i in range(20)],
        }))
        imported = registry.manage("import_registry", str(document), "--no-progress", timeout=300)
        assert imported.returncode == 0, imported.stderr
        yield Stack(postgres, redis, registry, postgres.url("registry"))
    finally:
        if registry is not None:
            registry.stop_all()
        redis.stop()
        postgres.destroy()


def table(model: type) -> str:
    return model._meta.db_table


def test_a_run_survives_postgresql_restarting_in_its_middle(stack):
    worker = stack.registry.start_worker(concurrency=2)
    wait_for(lambda: stack.scalar(f"SELECT count(*) FROM {table(PendingEvaluation)}") == 0,
             what="the import's own evaluation", timeout=300)
    subjects = stack.scalar(f"SELECT count(*) FROM {table(AIModel)}") + 20 + 10
    waiting = stack.registry.manage_in_background("reevaluate", "--chunk-size", "2", "--as-of", AS_OF, "--wait",
                                                  "--timeout", "600")
    run_id = wait_for(lambda: stack.query(f"SELECT id FROM {table(EvaluationRun)} WHERE kind = 'manual'"),
                      what="the run record")[0][0]
    wait_for(lambda: stack.scalar(f"SELECT chunks_done FROM {table(EvaluationRun)} WHERE id = %s", run_id) >= 3,
             what="3 chunks done", timeout=300)

    stack.postgres.restart(mode="immediate")  # a crash: every connection dropped, recovery on start
    done_after_restart = stack.scalar(f"SELECT chunks_done FROM {table(EvaluationRun)} WHERE id = %s", run_id)
    chunks_total = stack.scalar(f"SELECT chunks_total FROM {table(EvaluationRun)} WHERE id = %s", run_id)
    assert done_after_restart < chunks_total, "the run finished before PostgreSQL restarted: nothing was tested"

    out, err = waiting.communicate(timeout=600)
    assert waiting.returncode == 0, err[-3000:] + stack.registry.log_text()
    assert f"Run {run_id} finished: {subjects}/{subjects} subject(s)" in out
    status, done, total = stack.query(f"SELECT status, done, total FROM {table(EvaluationRun)} WHERE id = %s", run_id)[0]
    assert (status, done, total) == ("finished", subjects, subjects)
    per_subject_and_regime = stack.query(
        f"SELECT subject_id, regime, count(*) FROM {table(Determination)} WHERE run_id = %s "
        "GROUP BY subject_id, regime", run_id)
    assert len(per_subject_and_regime) == subjects * REGIMES
    assert {count for _, _, count in per_subject_and_regime} == {1}, "a determination was written twice"
    log = stack.registry.log_text(tail=None)
    assert "OperationalError" in log and "Retry in" in log, log[-3000:]  # the workers met the outage, and retried

    verified = stack.registry.manage("verify_log", "--no-progress")
    assert verified.returncode == 0 and "decision log intact" in verified.stdout, verified.stderr
    stack.registry.kill(worker)


def api(base: str, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                                              "X-Forwarded-Proto": "https"})  # as the TLS proxy in front sets it
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_api_submissions_while_redis_is_down_are_kept_and_evaluated_once_it_is_back(stack):
    made = stack.registry.manage("create_api_user", "--username", "lab-0", "--role", "lab", "--organisation", "org-0")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    port = free_port(8431, 8439)
    stack.registry.start_web(port)
    base = f"http://127.0.0.1:{port}"
    worker = stack.registry.start_worker()
    wait_for(lambda: stack.scalar(f"SELECT count(*) FROM {table(PendingEvaluation)}") == 0,
             what="earlier evaluations", timeout=300)
    before = stack.scalar(f"SELECT count(*) FROM {table(Determination)}")

    stack.redis.stop()
    answers = [api(base, token, "POST", "/api/v1/models/", {"name": f"Outage-{n}", "version": "1",
                                                             "training_compute_ops": "2e26" if n == 0 else "1e24"})
               for n in range(4)]
    status, model = api(base, token, "GET", "/api/v1/models/?name=Model-0")
    revised = api(base, token, "PATCH", urlsplit(model["results"][0]["url"]).path, {"training_compute_ops": "3e26"})
    assert [code for code, _ in answers] == [201] * 4, answers
    assert status == 200 and revised[0] == 200, revised
    refs = {f"model:org-0/Outage-{n}@1" for n in range(4)} | {"model:org-0/Model-0@1"}
    pending = {ref for (ref,) in stack.query(f"SELECT subject_ref FROM {table(PendingEvaluation)}")}
    assert refs <= pending, pending  # kept in the outbox, to be evaluated
    assert stack.scalar(f"SELECT count(*) FROM {table(Determination)}") == before

    stack.redis.start()
    swept = stack.registry.manage("shell", "-c",
                                  "from rules.tasks import pending_sweep; print(pending_sweep(min_age_seconds=0))")
    assert swept.returncode == 0 and int(swept.stdout.split()[-1]) >= len(refs), swept.stderr
    wait_for(lambda: stack.scalar(f"SELECT count(*) FROM {table(PendingEvaluation)}") == 0,
             what="the outbox to empty", timeout=300)
    for ref in refs:
        regimes = stack.query(f"SELECT regime, max(facts_revision) FROM {table(Determination)} "
                              f"WHERE subject_id = ({SUBJECT_ID}) GROUP BY regime", ref)
        assert len(regimes) == REGIMES, ref
    latest = stack.query(f"SELECT facts_revision, status FROM {table(Determination)} WHERE subject_id = ({SUBJECT_ID}) "
                         "AND regime = 'us-ca-sb53' ORDER BY sequence DESC LIMIT 1", "model:org-0/Model-0@1")[0]
    assert latest == (2, code("status", "covered"))  # the revision made while Redis was down, evaluated
    verified = stack.registry.manage("verify_log", "--no-progress")
    assert verified.returncode == 0 and "decision log intact" in verified.stdout, verified.stderr
    stack.registry.kill(worker)
