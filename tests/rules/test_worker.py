"""The jobs against a real Redis broker and real `celery worker` processes on the test database:
a submission becomes determinations; a worker killed mid-run finishes the run once restarted; a
run whose chunks' messages went with a restarted Redis finishes once the periodic sweep sends them
again; a submission made while Redis is down is evaluated once it is back."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from rules.models import Determination, EvaluationRun, PendingEvaluation
from rules.models.runs import RunStatus, Trigger
from tests.factories import ClusterRecordFactory, ModelRecordFactory, OrganisationRecordFactory, document
from tests.rules.conftest import submit_registry, tamper
from tests.support.processes import PrivateRedis, free_port, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

BIN = Path(sys.executable).parent
REGIMES = 6
VISIBILITY_TIMEOUT_S = 2  # how long Redis keeps a dead worker's unacknowledged message before redelivery
TASK_TIME_LIMIT_S = 20  # a chunk of these tests takes well under a second
STALLED_AFTER_S = TASK_TIME_LIMIT_S + VISIBILITY_TIMEOUT_S  # `rules.tasks.run_stalled_after` in the workers
DEADLINE_S = 120


class Services:
    """Subprocesses sharing the test database and the private Redis: workers and manage.py commands."""

    def __init__(self, redis: PrivateRedis, logs: Path) -> None:
        self.redis, self.logs = redis, logs
        self.workers: list[subprocess.Popen] = []
        self.sweeps: list[subprocess.CompletedProcess] = []  # the periodic sweeps `finished` ran
        db = connection.settings_dict
        self.env = {
            key: value for key, value in os.environ.items()
            if key not in {"TEST_DATABASE_NAME", "DATABASE_URL", "REDIS_URL", "PYTEST_CURRENT_TEST"}
        }
        self.env.update(
            DATABASE_URL=(f"postgres://{db['USER']}{':' + db['PASSWORD'] if db['PASSWORD'] else ''}"
                          f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"),
            REDIS_URL=redis.url, SECRET_KEY=settings.SECRET_KEY, CELERY_TASK_ALWAYS_EAGER="0",
            CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT_S), CELERY_TASK_TIME_LIMIT=str(TASK_TIME_LIMIT_S),
            CELERY_TASK_SOFT_TIME_LIMIT=str(TASK_TIME_LIMIT_S - 5), DJANGO_SETTINGS_MODULE="config.settings",
            PYTHONUNBUFFERED="1",
        )

    def start_worker(self) -> subprocess.Popen:
        name = f"test-{uuid.uuid4().hex[:8]}"
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        worker = subprocess.Popen(
            [str(BIN / "celery"), "-A", "config", "worker", "--pool", "prefork", "--concurrency", "1", "-Q", "evaluations,reports",
             "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel", "INFO", "-n", f"{name}@%h"],
            cwd=settings.BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        worker.log = log
        self.workers.append(worker)
        return worker

    def kill(self, worker: subprocess.Popen) -> None:
        """SIGKILL to the worker and its pool: nothing acknowledged, nothing cleaned up."""
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=20)
        worker.log.close()

    def manage(self, *args: str, timeout: float = DEADLINE_S) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=self.env, capture_output=True,
            text=True, timeout=timeout,
        )

    def sweep(self, *, min_age_seconds: float = 5) -> subprocess.CompletedProcess:
        """The periodic sweep (`rules.tasks.pending_sweep`) run once, as beat runs it; its stdout ends
        with the outbox rows it sent."""
        sweep = self.manage("shell", "-c", "from rules.tasks import pending_sweep; "
                                           f"print(pending_sweep(min_age_seconds={min_age_seconds}))")
        assert sweep.returncode == 0, sweep.stderr
        return sweep

    def manage_in_background(self, *args: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        self.workers.append(process)
        return process

    def worker_log(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in sorted(self.logs.glob("*.log")))

    def stop_all(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)
            if getattr(process, "log", None):
                process.log.close()


@pytest.fixture
def services(transactional_db, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: a worker process cannot see the in-memory SQLite test database")
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server to run a private broker")
    redis = PrivateRedis(free_port(6391, 6399), tmp_path)
    redis.start()
    running = Services(redis, tmp_path)
    yield running
    running.stop_all()
    redis.stop()


def write_document(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / f"submission-{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps(doc))
    return path


def subject_regime_counts(run: EvaluationRun) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for key in Determination.objects.filter(run=run).values_list("subject_ref", "regime"):
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_an_import_through_the_broker_becomes_determinations(services, tmp_path):
    services.start_worker()
    doc = document(models=[ModelRecordFactory(name="Frontier", training_compute_ops=2e26),
                           ModelRecordFactory(name="Small", training_compute_ops=1e22)],
                   clusters=[ClusterRecordFactory(name="Hall A")])
    result = services.manage("import_registry", str(write_document(tmp_path, doc)), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "models: 2 created" in result.stdout

    refs = {"model:acme/Frontier@1", "model:acme/Small@1", "cluster:acme/Hall A", "organisation:acme"}
    wait_for(lambda: Determination.objects.filter(subject_ref__in=refs).count() == len(refs) * REGIMES
             and not PendingEvaluation.objects.exists(), what="the submission's determinations")
    run = EvaluationRun.objects.get(kind=Trigger.SUBMISSION)
    assert run.status == RunStatus.FINISHED and set(subject_regime_counts(run).values()) == {1}
    frontier = Determination.objects.get(subject_ref="model:acme/Frontier@1", regime="us-ca-sb53")
    assert (frontier.status, frontier.trigger, frontier.deciding_test) == ("covered", "submission", "frontier-model")
    assert frontier.task_id, "the determination names the Celery task that made it"
    assert Determination.objects.get(subject_ref="model:acme/Small@1", regime="us-ca-sb53").status == "not_covered"


def test_submissions_made_while_no_worker_runs_are_evaluated_by_one_task(services, tmp_path):
    """Three imports, each a submission of its own process, before any worker runs: the first asks for
    an evaluation of the outbox, the others find one queued; the worker started afterwards evaluates
    all of them in one run."""
    import redis

    for i in range(3):
        doc = document(organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI")],
                       models=[ModelRecordFactory(name=f"Model-{i}", training_compute_ops=1e24)])
        result = services.manage("import_registry", str(write_document(tmp_path, doc)), "--no-progress")
        assert result.returncode == 0 and "models: 1 created" in result.stdout, result.stderr
    assert PendingEvaluation.objects.count() == 4  # the organisation and three models
    assert redis.Redis.from_url(services.redis.url).llen("evaluations") == 1, "one task queued, not three"

    services.start_worker()
    refs = {"organisation:acme", "model:acme/Model-0@1", "model:acme/Model-1@1", "model:acme/Model-2@1"}
    wait_for(lambda: not PendingEvaluation.objects.exists()
             and Determination.objects.filter(subject_ref__in=refs).count() == len(refs) * REGIMES,
             what="the outbox's evaluation")
    run = EvaluationRun.objects.get(kind=Trigger.SUBMISSION)  # one run
    counts = subject_regime_counts(run)
    assert run.status == RunStatus.FINISHED and run.total == len(refs)
    assert {ref for ref, _regime in counts} == refs and len(counts) == len(refs) * REGIMES and set(counts.values()) == {1}


def start_bulk_run(services, *, subjects: int, chunks: int) -> tuple[subprocess.Popen, EvaluationRun]:
    """`reevaluate --wait` over the whole registry in chunks of 5, as a regulator would run it."""
    waiting = services.manage_in_background("reevaluate", "--chunk-size", "5", "--as-of", "2026-03-01", "--wait")
    run = wait_for(lambda: EvaluationRun.objects.filter(kind=Trigger.MANUAL).first(), what="the run record")
    assert (run.total, run.chunks_total) == (subjects, chunks)
    return waiting, run


def finished(waiting: subprocess.Popen, run: EvaluationRun, services, *, sweeping: bool = False) -> EvaluationRun:
    """The run's `reevaluate --wait` once it has returned. `sweeping`: the periodic sweep runs as beat
    runs it in production, here whenever no chunk has finished for longer than the workers'
    `run_stalled_after`: a chunk's message taken by a worker killed before Redis recorded it as
    unacknowledged is never handed out again, and the sweep is what sends it again."""
    deadline = time.monotonic() + DEADLINE_S
    progress, moved_at, sweeps = None, time.monotonic(), 0
    while True:
        try:
            out, err = waiting.communicate(timeout=1)
            break
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() > deadline:
            run.refresh_from_db()
            left = list(run.chunks.filter(done=False).order_by("index").values_list("index", flat=True))
            pytest.fail(f"run {run.pk} not finished after {DEADLINE_S} s ({sweeps} sweeps): {run.status}, "
                        f"{run.chunks_done} of {run.chunks_total} chunks done; chunks not done: {left}\n"
                        f"{services.worker_log()}")
        done = EvaluationRun.objects.get(pk=run.pk).chunks_done
        if done != progress:
            progress, moved_at = done, time.monotonic()
        elif sweeping and time.monotonic() - moved_at > STALLED_AFTER_S + 1:
            services.sweeps.append(services.sweep())
            sweeps, moved_at = sweeps + 1, time.monotonic()
    assert waiting.returncode == 0, err + services.worker_log()
    run.refresh_from_db()
    assert f"Run {run.pk} finished: {run.total}/{run.total} subject(s)" in out
    assert f"{run.total}/{run.total}" in err  # the progress bar's last state
    return run


def assert_once_per_subject_and_regime(run: EvaluationRun, subjects: int) -> None:
    counts = subject_regime_counts(run)
    assert len(counts) == subjects * REGIMES and set(counts.values()) == {1}
    assert (run.status, run.done, run.chunks_done) == (RunStatus.FINISHED, run.total, run.chunks_total)


# 180 models and clusters in chunks of 5, then each organisation (1 + its 7 or 8 models) in one of its own
BULK_CHUNKS = 180 // 5 + 20


@pytest.fixture
def registry_of_200(eager_celery):
    """150 models, 30 clusters and 20 organisations, each already evaluated once (in this process)."""
    refs = submit_registry(models=150, clusters=30, organisations=20)
    assert len(refs) == 200
    return refs


def test_a_worker_killed_mid_run_and_started_again_finishes_the_run_once(services, registry_of_200):
    worker = services.start_worker()
    waiting, run = start_bulk_run(services, subjects=200, chunks=BULK_CHUNKS)
    wait_for(lambda: EvaluationRun.objects.get(pk=run.pk).chunks_done >= 3, what="3 chunks done")
    services.kill(worker)
    killed_at = time.monotonic()
    run.refresh_from_db()
    assert run.chunks_done < run.chunks_total, "the run finished before the worker could be killed"
    assert run.status == RunStatus.RUNNING

    # Redis hands a dead worker's unacknowledged message out again once its visibility timeout has
    # passed, when a worker starts consuming: start the new one after that
    time.sleep(max(0.0, VISIBILITY_TIMEOUT_S + 0.5 - (time.monotonic() - killed_at)))
    services.start_worker()
    run = finished(waiting, run, services, sweeping=True)
    assert_once_per_subject_and_regime(run, 200)
    check = services.manage("verify_log", "--no-progress")
    assert check.returncode == 0 and "decision log intact" in check.stdout, check.stderr


def test_a_run_whose_chunk_messages_went_with_the_broker_finishes_once_the_sweep_sends_them_again(
        services, registry_of_200):
    """Redis restarted without persistence in the middle of a run (as this machine runs it: nothing
    saved, no append-only file): the chunks' messages still queued are gone and the run stays
    running. The periodic sweep, run as beat runs it, sends the chunks not done again once none has
    finished for `run_stalled_after`, and the run finishes with each subject and regime written once."""
    services.start_worker()
    waiting, run = start_bulk_run(services, subjects=200, chunks=BULK_CHUNKS)
    wait_for(lambda: EvaluationRun.objects.get(pk=run.pk).chunks_done >= 3, what="3 chunks done")
    services.redis.stop()
    services.redis.start()
    done = None
    for _ in range(20):  # what the worker had taken before the restart is written; then nothing more
        time.sleep(3)
        stalled = EvaluationRun.objects.get(pk=run.pk)
        if stalled.chunks_done == done:
            break
        done = stalled.chunks_done
    assert stalled.chunks_done == done, "the run kept going after its messages were gone"
    assert stalled.chunks_done < stalled.chunks_total, "the run finished before the broker restarted"
    assert stalled.status == RunStatus.RUNNING
    run = finished(waiting, run, services, sweeping=True)
    assert services.sweeps, "the run finished without the sweep"
    assert_once_per_subject_and_regime(run, 200)
    check = services.manage("verify_log", "--no-progress")
    assert check.returncode == 0 and "decision log intact" in check.stdout, check.stderr


def pool_children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def test_a_pool_process_killed_mid_chunk_has_its_chunk_requeued_at_once(services, registry_of_200):
    """reject_on_worker_lost: the worker that survives its pool process puts the task back."""
    worker = services.start_worker()
    waiting, run = start_bulk_run(services, subjects=200, chunks=BULK_CHUNKS)
    for attempt in range(1, 6):  # a kill between two tasks loses nothing: kill again until one is lost mid-task
        wait_for(lambda n=3 * attempt: EvaluationRun.objects.get(pk=run.pk).chunks_done >= n, what="more chunks done")
        (child,) = wait_for(lambda: pool_children(worker.pid), what="the worker's pool process")
        os.kill(child, signal.SIGKILL)
        wait_for(lambda n=attempt: services.worker_log().count("exited with 'signal 9") == n, what="the worker to notice")
        if "WorkerLostError" in services.worker_log():
            break
    assert "WorkerLostError" in services.worker_log(), "no pool process was killed in the middle of a task"
    assert EvaluationRun.objects.get(pk=run.pk).chunks_done < run.chunks_total
    run = finished(waiting, run, services)
    assert_once_per_subject_and_regime(run, 200)
    assert worker.poll() is None, "the worker itself kept running"


def test_submissions_while_redis_is_down_are_evaluated_once_it_is_back(services, tmp_path):
    services.start_worker()
    services.redis.stop()

    doc = document(
        organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI")],
        models=[ModelRecordFactory(name=f"Model-{i}", training_compute_ops=2e26 if i == 0 else 1e24) for i in range(3)],
    )
    result = services.manage("import_registry", str(write_document(tmp_path, doc)), "--no-progress", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "models: 3 created" in result.stdout
    pending = set(PendingEvaluation.objects.values_list("subject_ref", flat=True))
    assert pending == {"organisation:acme", "model:acme/Model-0@1", "model:acme/Model-1@1", "model:acme/Model-2@1"}
    assert not PendingEvaluation.objects.filter(enqueued_at__isnull=False).exists()
    assert not Determination.objects.exists()

    # a second submission, also while the broker is down
    revised = document(models=[ModelRecordFactory(name="Model-2", training_compute_ops=3e26)])
    result = services.manage("import_registry", str(write_document(tmp_path, revised)), "--no-progress", timeout=60)
    assert result.returncode == 0 and "models: 0 created, 1 revised" in result.stdout, result.stderr
    assert PendingEvaluation.objects.count() == 5

    services.redis.start()
    sweep = services.sweep(min_age_seconds=0)
    assert sweep.stdout.split()[-1] == "5", sweep.stderr  # outbox rows sent
    wait_for(lambda: not PendingEvaluation.objects.exists(), what="the outbox to empty")
    for ref in pending:
        assert Determination.objects.filter(subject_ref=ref).count() == REGIMES, ref
    latest = Determination.objects.filter(subject_ref="model:acme/Model-2@1", regime="us-ca-sb53").latest("sequence")
    assert (latest.facts_revision, latest.status) == (2, "covered")
    assert Determination.objects.get(subject_ref="model:acme/Model-1@1", regime="us-ca-sb53").status == "not_covered"


def test_verify_log_exits_non_zero_naming_a_row_altered_behind_the_trigger(services, eager_celery):
    """`manage.py verify_log` as run from a shell: 0 while the chain holds, 1 naming the row once
    someone who could disable the trigger has altered it."""
    submit_registry(models=2)
    intact = services.manage("verify_log", "--no-progress")
    assert intact.returncode == 0 and "decision log intact: 18 row(s) verified" in intact.stdout, intact.stderr
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE rules_determination DISABLE TRIGGER rules_determination_append_only")
        try:
            tamper("UPDATE rules_determination SET status = CASE status WHEN 1 THEN 4 ELSE 1 END WHERE sequence = 4",
                   table="rules_determination", where="sequence = 4")
        finally:
            cursor.execute("ALTER TABLE rules_determination ENABLE TRIGGER rules_determination_append_only")
    broken = services.manage("verify_log", "--no-progress")
    assert broken.returncode == 1, broken.stdout
    assert "decision log broken at row 4" in broken.stderr and "3 row(s) verified before it" in broken.stderr
