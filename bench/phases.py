"""The benchmark's phases, each run in its own process against the benchmark database so its
memory and timing are its own: `python -m bench.phases NAME '{"json": "arguments"}'`.

Each phase prints one JSON object as its last line of output; progress goes to stderr.
"""
from __future__ import annotations

import json
import os
import random
import sys
import time
from typing import Any

PHASES: dict[str, Any] = {}


def phase(function: Any) -> Any:
    PHASES[function.__name__] = function
    return function


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@phase
def database_version() -> dict[str, Any]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()" if connection.vendor == "postgresql" else "SELECT 'SQLite ' || sqlite_version()")
        return {"version": cursor.fetchone()[0]}


@phase
def generate(*, models: int, clusters: int, seed: int = 1) -> dict[str, Any]:
    from django.db import connection

    from .measure import Stopwatch
    from .synthetic import write_registry

    clock, written = Stopwatch(), [0]
    total = models + clusters

    def progress(count: int) -> None:
        before, written[0] = written[0], written[0] + count
        if total and before * 10 // total != written[0] * 10 // total:
            _progress(f"  generated {written[0]:,} of about {total:,} records")

    counts = write_registry(models=models, clusters=clusters, seed=seed, progress=progress)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # fresh statistics after a bulk load, as after any import
    return {**counts, "subjects": sum(counts.values()), "seconds": round(clock.seconds, 2)}


@phase
def reevaluate(*, chunk_size: int, as_of: str | None = None, readers: int | None = None) -> dict[str, Any]:
    """The full re-evaluation as `run_execute_inline` runs it: on PostgreSQL, reader processes forked
    from this one (`RUN_READER_PROCESSES`, or `readers`) read and evaluate the next chunks while this
    process chains and writes each; every subject under every regime, written to the log. What the
    readers measure (their stages, their statements) travels back with each chunk they prepared."""
    import multiprocessing
    import threading
    from collections import Counter
    from datetime import date

    from django.conf import settings
    from django.db import connection
    from django.db.backends.signals import connection_created

    from rules import instrumentation, services
    from rules.models import Determination, Payload
    from rules.models.runs import Trigger

    from .measure import Stopwatch, peak_rss_mb, process_cpu_seconds, rate, rss_mb

    if readers is not None:
        settings.RUN_READER_PROCESSES = readers
    # Per chunk: SQL statements on any connection, and COPY streams (which Django's query wrapper does
    # not see). A reader's are collected with the chunk it read and replayed here as it is written.
    statements: Counter[int | None] = Counter()
    stages = _Stages()
    lock = threading.Lock()

    def observe(span: instrumentation.Span) -> None:
        with lock:
            if span.name in (STATEMENT, instrumentation.ROWS_COPIED):
                statements[span.chunk_id] += 1
            if span.name != STATEMENT:
                stages.add(span)

    def counted_sql(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        instrumentation.count(STATEMENT)
        return execute(sql, params, many, context)

    connection.execute_wrappers.append(counted_sql)
    def count_on(connection: Any, **_: Any) -> None:
        """Every connection opened from here on, a reader's included (the receiver is inherited by the fork)."""
        if counted_sql not in connection.execute_wrappers:  # a wrapper reconnecting keeps its list
            connection.execute_wrappers.append(counted_sql)

    connection_created.connect(count_on, weak=False)
    clock = Stopwatch()
    cpu_before = process_cpu_seconds()
    run = services.run_create(kind=Trigger.MANUAL, as_of=date.fromisoformat(as_of) if as_of else None,
                              chunk_size=chunk_size)
    chunk_ids = list(run.chunks.order_by("index").values_list("pk", flat=True))
    finished, rss_early, reader_peaks, last_chunk = [0], [None], {}, [0.0]

    def footprint() -> float:
        """This process's resident memory and its readers'."""
        return round((rss_mb() or 0) + sum(rss_mb(child.pid) or 0 for child in multiprocessing.active_children()), 1)

    def on_chunk(chunk_id: int) -> None:
        finished[0] += 1
        last_chunk[0] = clock.seconds
        index = finished[0]
        for child in multiprocessing.active_children():
            reader_peaks[child.pid] = max(reader_peaks.get(child.pid, 0.0), peak_rss_mb(child.pid) or 0.0)
        if index == max(1, len(chunk_ids) // 10):
            rss_early[0] = footprint()
        if index * 10 // len(chunk_ids) != (index - 1) * 10 // len(chunk_ids):
            _progress(f"  re-evaluated {index} of {len(chunk_ids)} chunks ({clock.seconds:.0f} s)")

    pipelined = services.can_pipeline() and len(chunk_ids) > 1
    processes = min(services.reader_processes(), len(chunk_ids))
    with instrumentation.observing(observe):
        services.run_execute_inline(run, on_chunk=on_chunk)
    queries = [statements[chunk_id] for chunk_id in chunk_ids]
    seconds = clock.seconds
    cpu = process_cpu_seconds() - cpu_before  # with the readers', which have ended and been waited for
    rows = Determination.objects.filter(run=run).count()
    writer_peak = peak_rss_mb()
    peaks = sorted(reader_peaks.values(), reverse=True)
    result = {
        "run_id": run.pk, "as_of": run.as_of.isoformat(), "subjects": run.total, "determinations": rows,
        "chunks": len(chunk_ids), "chunk_size": chunk_size, "seconds": round(seconds, 2),
        "pipelined": pipelined, "reader_processes": processes if pipelined else 0,
        "determinations_per_second": rate(rows, seconds),
        # the chunks alone: what the run's finish sets off after its last chunk (the obligation states
        # brought up to date, for every subject) is in `seconds` above, not here
        "chunks_seconds": round(last_chunk[0], 2), "chunks_determinations_per_second": rate(rows, last_chunk[0]),
        "finish_seconds": round(seconds - last_chunk[0], 2),
        "peak_rss_mb": round((writer_peak or 0) + sum(peaks), 1), "writer_peak_rss_mb": writer_peak,
        "reader_peak_rss_mb": peaks,
        "rss_mb_after_a_tenth": rss_early[0], "rss_mb_at_end": rss_mb(),
        "cpu_seconds": round(cpu, 2),
        "queries_per_chunk": {"max": max(queries, default=0), "mean": round(sum(queries) / max(len(queries), 1), 1)},
    }
    with connection.cursor() as cursor:
        table = Determination._meta.db_table
        payloads = Payload._meta.db_table
        # a row, and the payload it points to (stored once, by its number)
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT avg(pg_column_size(d.*)), avg(octet_length(p.text)) FROM "
                           f"(SELECT * FROM {table} WHERE run_id = %s LIMIT 20000) d "
                           f"JOIN {payloads} p ON p.id = d.payload_id", [run.pk])
        else:
            cursor.execute(f"SELECT avg(length(p.text)), avg(length(p.text)) FROM {table} d "
                           f"JOIN {payloads} p ON p.id = d.payload_id WHERE d.run_id = %s", [run.pk])
        stored, payload = cursor.fetchone()
    result.update(row_bytes=round(float(stored or 0), 1), payload_bytes=round(float(payload or 0), 1))
    result["profile"] = stages.per_row(rows, cpu_seconds=cpu)
    return result


# The decision log's tables: the rows, and the payloads, facts snapshots (each with the dictionaries they
# are packed against) and confirmations they point to (a table not in this database counts 0 bytes).
# the index of current determinations is counted with the log: it is written with every row appended
LOG_TABLES = ("rules_determination", "rules_payload", "rules_payloaddictionary", "rules_factssnapshot",
              "rules_factsdictionary", "rules_loggedsubject", "rules_confirmation",
              "rules_currentdetermination", "rules_determinationahead")


@phase
def log_size() -> dict[str, Any]:
    """The decision log's size on disk (each table with its indexes and TOAST) per determination."""
    from django.db import connection

    from rules.models import Determination

    determinations = Determination.objects.count()
    if connection.vendor != "postgresql":
        return {"tables": None, "determinations": determinations, "bytes_per_determination": None,
                "reason": "SQLite gives no portable on-disk size per table: measured on PostgreSQL"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, to_regclass(name) IS NOT NULL, COALESCE(pg_total_relation_size(to_regclass(name)), 0) "
                       "FROM unnest(%s::text[]) AS name", [list(LOG_TABLES)])
        rows = cursor.fetchall()
    tables = {name: size for name, _exists, size in rows}
    total = sum(tables.values())
    return {"tables": tables, "missing": [name for name, exists, _size in rows if not exists], "bytes": total,
            "determinations": determinations,
            "bytes_per_determination": round(total / determinations, 1) if determinations else None}


@phase
def unchanged_run(*, as_of: str, chunk_size: int, readers: int | None = None) -> dict[str, Any]:
    """A second full re-evaluation of the same registry, nothing in it changed, as of the next day: a
    scheduled run, as the nightly one is, carried out in this process as `reevaluate`'s is. Its wall
    time, and how much the whole database grew (PostgreSQL). The wall time includes what the run's
    finish sets off in this process (the obligation states brought up to date, the change reports,
    built here by the eager task, by a worker in production); `seconds_to_finished` stops where the
    run was marked finished."""
    import threading
    from datetime import date

    from django.db import connection
    from django.db.models import Sum
    from django.utils import timezone

    from rules import instrumentation, services
    from rules.models import Confirmation, Determination
    from rules.models.runs import Trigger

    from .measure import Stopwatch, process_cpu_seconds

    postgresql = connection.vendor == "postgresql"

    def database_bytes() -> int | None:
        if not postgresql:
            return None
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            return cursor.fetchone()[0]

    log_rows_before, size_before = Determination.objects.count(), database_bytes()
    stages, lock = _Stages(), threading.Lock()

    def observe(span: instrumentation.Span) -> None:
        with lock:
            stages.add(span)

    clock, started, cpu_before = Stopwatch(), timezone.now(), process_cpu_seconds()
    run = services.run_create(kind=Trigger.SCHEDULE, as_of=date.fromisoformat(as_of), chunk_size=chunk_size)
    with instrumentation.observing(observe):
        run = services.run_execute_inline(run, readers=readers)
    seconds, cpu = clock.seconds, process_cpu_seconds() - cpu_before
    size_after = database_bytes()
    written = Determination.objects.filter(run=run).count()
    confirmed = Confirmation.objects.filter(run=run).aggregate(n=Sum("count"))["n"] or 0
    result = {
        "as_of": run.as_of.isoformat(), "run_id": run.pk, "kind": run.kind, "status": run.status,
        "seconds": round(seconds, 2),
        "seconds_to_finished": round((run.finished_at - started).total_seconds(), 2) if run.finished_at else None,
        "bytes": size_after - size_before if postgresql else None,
        "database_bytes_before": size_before, "database_bytes_after": size_after,
        "determinations_written": written,
        "determinations_confirmed": confirmed,
        # confirmed without evaluating their subject again (`rules.reuse`)
        "determinations_reused": run.reused,
        "profile": stages.per_row(written + confirmed, cpu_seconds=cpu),
        "confirmations": Confirmation.objects.filter(run=run).count(), "changes": run.changes_count,
        "log_rows_before": log_rows_before, "log_rows_after": Determination.objects.count(),
    }
    try:
        from reports.models import ReportArtifact
    except ImportError:
        pass
    else:  # files beside the database, under MEDIA_ROOT
        result["change_report_file_bytes"] = sum(ReportArtifact.objects.filter(run_id=run.pk).values_list("size", flat=True))
    if not postgresql:
        result["reason"] = "SQLite gives no portable on-disk size of the database's tables: bytes measured on PostgreSQL"
    return result


STATEMENT = "sql statement"  # an event the benchmark counts through `rules.instrumentation.count`
# What the profile calls each stage `rules.instrumentation` reports.
STAGE_LABELS = {
    "chunk_read": "chunk read, evaluated and serialized (reader)",
    "chunk_write": "chunk chained, written and committed (writer)",
    "snapshots": "snapshots: facts read, lineage joined",
    "engine": "engine: every subject under every regime",
    "previous_determinations": "change detection: earlier determinations read",
    "reused": "which determinations to confirm without evaluating (facts serialized and hashed)",
    "payloads_serialized": "payloads and facts serialized (canonical JSON)",
    "facts_stored": "facts snapshots stored",
    "rows_copied": "rows chained (SHA-256) and streamed by COPY",
    "changes_recorded": "status changes recorded",
}


class _Stages:
    """CPU and wall time of each stage of a chunk, summed over the run (a profile by stage)."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self.wall: dict[str, float] = {}

    def add(self, span: Any) -> None:
        name = STAGE_LABELS.get(span.name, span.name)
        self.cpu[name] = self.cpu.get(name, 0.0) + span.cpu_seconds
        self.wall[name] = self.wall.get(name, 0.0) + span.wall_seconds

    def per_row(self, rows: int, *, cpu_seconds: float) -> dict[str, Any]:
        def us(value: float) -> float:
            return round(value / max(rows, 1) * 1e6, 1)

        return {"unit": "microseconds per determination", "total_cpu": us(cpu_seconds),
                "stages": {name: {"cpu": us(self.cpu[name]), "wall": us(self.wall[name])} for name in self.cpu}}


@phase
def copy_baseline(*, rows: int, run_id: int) -> dict[str, Any]:
    from .copy_baseline import copy_rate

    return copy_rate(rows=rows, run_id=run_id)


@phase
def verify() -> dict[str, Any]:
    from rules.decision_log import verify_chain

    from .measure import Stopwatch, rate

    clock = Stopwatch()
    report = verify_chain()
    return {"ok": report.ok, "rows": report.checked, "broken_at": report.broken_at, "reason": report.reason,
            "seconds": round(clock.seconds, 2), "rows_per_second": rate(report.checked, clock.seconds)}


@phase
def compare(*, reference_run: int, other_run: int) -> dict[str, Any]:
    """Whether two runs made the same determinations: status and payload per subject and regime."""
    from django.db import connection

    from rules.models import Determination

    table = Determination._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT run_id, count(*) FROM {table} WHERE run_id IN (%s, %s) GROUP BY run_id",
                       [reference_run, other_run])
        counts = dict(cursor.fetchall())
        cursor.execute(
            f"SELECT count(*), sum(CASE WHEN a.status <> b.status THEN 1 ELSE 0 END), "
            f"sum(CASE WHEN a.payload_id <> b.payload_id THEN 1 ELSE 0 END) FROM {table} a JOIN {table} b "
            f"ON a.subject_id = b.subject_id AND a.regime = b.regime WHERE a.run_id = %s AND b.run_id = %s",
            [reference_run, other_run])
        matched, status_differs, payload_differs = cursor.fetchone()
    same = (counts.get(reference_run) == counts.get(other_run) == matched and not status_differs and not payload_differs)
    return {"same": bool(same), "reference_rows": counts.get(reference_run, 0), "rows": counts.get(other_run, 0),
            "matched": matched, "status_differs": int(status_differs or 0), "payload_differs": int(payload_differs or 0)}


@phase
def latency(*, samples: int, seed: int = 1) -> dict[str, Any]:
    """One subject at a time, in this process: evaluation alone (snapshot + engine, every regime),
    and evaluation of record (a one-subject run written to the log)."""
    from registry.models import AIModel, Cluster
    from rules import services
    from rules.library_store import published_library
    from rules.models.runs import Trigger
    from rules.subjects import snapshots_for

    from .measure import latency_summary

    rng = random.Random(seed)  # the same subjects for the same registry and seed
    model_ids = list(AIModel.objects.order_by("pk").values_list("pk", flat=True))
    cluster_ids = list(Cluster.objects.order_by("pk").values_list("pk", flat=True))
    models = AIModel.objects.select_related("organisation").filter(
        pk__in=rng.sample(model_ids, min(samples, len(model_ids))))
    clusters = Cluster.objects.select_related("organisation").filter(
        pk__in=rng.sample(cluster_ids, min(max(1, samples // 10), len(cluster_ids))))
    refs = sorted([m.subject_ref for m in models] + [c.subject_ref for c in clusters])
    rng.shuffle(refs)
    refs = refs[:samples]
    as_of = services.today()
    versions = services.versions_for(published_library(), as_of=as_of, regimes=None)
    evaluate, record = [], []
    for ref in refs:
        started = time.perf_counter()
        services.evaluate_snapshots(snapshots_for([ref]), versions=versions, as_of=as_of)
        evaluate.append(time.perf_counter() - started)
    for ref in refs[: max(1, samples // 4)]:
        started = time.perf_counter()
        services.run_execute_inline(services.run_create(kind=Trigger.MANUAL, subjects=[ref], chunk_size=1))
        record.append(time.perf_counter() - started)
    return {"evaluate": latency_summary(evaluate), "evaluate_of_record": latency_summary(record)}


@phase
def audit_reports(*, as_of: str, repeat: int = 2) -> dict[str, Any]:
    """Audit-report PDFs for a model with a lineage, a cluster and an organisation, with the time
    of each step: the context read from the log, the HTML, and the PDF rendering. The PDF engine is
    loaded first, as a Celery worker process loads it when it starts (its time is given apart)."""
    from datetime import date

    try:
        from reports import render
        from reports.context import audit_context
        from reports.models import ReportKind
        from reports.services import report_content, report_parameters
    except ImportError as exc:
        return {"seconds": None, "reason": f"the reports module is not available: {exc}"}
    from django.utils import timezone

    from registry.models import AIModel, Cluster, Organisation

    from .measure import latency_summary

    subjects = []
    derived = AIModel.objects.select_related("organisation").filter(base_model__isnull=False).order_by("-pk").first()
    for obj in (derived, Cluster.objects.select_related("organisation").first(), Organisation.objects.first()):
        if obj is not None:
            subjects.append(obj.subject_ref)
    engine_load = render.load_pdf_engine()  # as a Celery worker process does when it starts
    times, sizes, steps = [], [], {"context": [], "html": [], "pdf": []}
    for _ in range(repeat):
        for ref in subjects:
            params = report_parameters(kind=ReportKind.AUDIT, format="pdf", subject=ref, as_of=as_of)
            started = time.perf_counter()
            pdf = b"".join(report_content(kind=ReportKind.AUDIT, format="pdf", params=params))
            times.append(time.perf_counter() - started)
            sizes.append(len(pdf))
            started = time.perf_counter()
            context = audit_context(subject_ref=ref, as_of=date.fromisoformat(as_of), generated_at=timezone.now())
            steps["context"].append(time.perf_counter() - started)
            started = time.perf_counter()
            html = render.render_html(ReportKind.AUDIT, context)
            steps["html"].append(time.perf_counter() - started)
            started = time.perf_counter()
            render.html_to_pdf(html)
            steps["pdf"].append(time.perf_counter() - started)
    return {"subjects": subjects, "pdf_engine_load_ms": round(engine_load * 1000, 1),
            **latency_summary(times), "bytes_max": max(sizes, default=0),
            "steps_p50_ms": {name: latency_summary(values)["p50_ms"] for name, values in steps.items()}}


@phase
def registry_report(*, as_of: str, format: str = "pdf") -> dict[str, Any]:
    """The registry report of every subject as of the date, in one format; for PDF and HTML also the
    time of its steps (context read from the log, HTML, PDF), each measured once more after the whole."""
    from datetime import date

    try:
        from reports import render
        from reports.context import registry_context
        from reports.models import ReportKind
        from reports.services import report_content, report_parameters
    except ImportError as exc:
        return {"seconds": None, "reason": f"the reports module is not available: {exc}"}
    from django.utils import timezone

    from .measure import Stopwatch, peak_rss_mb

    params = report_parameters(kind=ReportKind.REGISTRY, format=format, as_of=as_of)
    clock, size = Stopwatch(), 0
    for chunk in report_content(kind=ReportKind.REGISTRY, format=format, params=params):
        size += len(chunk)
    result = {"format": format, "seconds": round(clock.seconds, 2), "bytes": size, "peak_rss_mb": peak_rss_mb()}
    if format in ("pdf", "html"):
        steps = {}
        clock = Stopwatch()
        context = registry_context(as_of=date.fromisoformat(as_of), generated_at=timezone.now())
        steps["context"] = round(clock.seconds, 2)
        clock = Stopwatch()
        html = render.render_html(ReportKind.REGISTRY, context)
        steps["html"] = round(clock.seconds, 2)
        if format == "pdf":
            clock = Stopwatch()
            render.html_to_pdf(html)
            steps["pdf"] = round(clock.seconds, 2)
        result["steps_seconds"] = steps
    return result


@phase
def latest_as_of() -> dict[str, Any]:
    """The as-of date of the decision log's last row (a kept benchmark database's run)."""
    from registry.models import AIModel, Cluster
    from rules.models import Determination

    row = Determination.objects.order_by("-sequence").values_list("as_of", flat=True).first()
    return {"as_of": row.isoformat() if row else None, "models": AIModel.objects.count(),
            "clusters": Cluster.objects.count()}


@phase
def api_token(*, organisation: str) -> dict[str, Any]:
    try:
        from accounts.models import Role
        from accounts.services import api_user_create
    except ImportError as exc:
        return {"token": None, "reason": f"the API accounts module is not available: {exc}"}
    _user, _created, _token, key = api_user_create(username=f"bench-{organisation}", role=Role.LAB,
                                                   organisation_slug=organisation, token_name="bench")
    return {"token": key, "organisation": organisation}


@phase
def history(*, runs: int, start: str, step_days: int, changes_per_run: int, chunk_size: int,
            seed: int = 1, anew: bool = False, index_upkeep: bool = True) -> dict[str, Any]:
    """A year's decision log: many full runs over dated as-of dates, some with changes."""
    from .pages import build_history

    return build_history(runs=runs, start=start, step_days=step_days, changes_per_run=changes_per_run,
                         chunk_size=chunk_size, seed=seed, anew=anew, index_upkeep=index_upkeep)


@phase
def pages(*, samples: int, vacuum: bool = False) -> dict[str, Any]:
    """Server time (p50 / p99) and SQL statements of each workspace page and API list, after a
    VACUUM (ANALYZE) of the database when asked (PostgreSQL only)."""
    from .pages import measure_pages, vacuum_database

    vacuumed = vacuum_database() if vacuum else False
    return {"pages": measure_pages(samples=samples), "vacuumed": vacuumed}


@phase
def scaleout_run(*, workers: int, chunk_size: int, as_of: str, reference_run: int, timeout: float) -> dict[str, Any]:
    """The same full re-evaluation through the broker, spread over the running Celery workers."""
    from datetime import date

    from config.celery import app
    from rules import services, tasks
    from rules.models import Determination, EvaluationRun
    from rules.models.runs import RunStatus, Trigger

    from .measure import Stopwatch, rate

    deadline = time.monotonic() + 120
    while len(app.control.ping(timeout=1.0) or []) < workers:
        if time.monotonic() > deadline:
            return {"determinations_per_second": None, "reason": f"{workers} worker(s) did not answer within 120 s"}
    clock = Stopwatch()
    # every determination appended anew, as the in-process run's were: a run that confirmed them would write none
    run = services.run_create(kind=Trigger.MANUAL, as_of=date.fromisoformat(as_of), chunk_size=chunk_size,
                              confirms=False)
    tasks.run_start.delay(run.pk)
    last = -1
    while True:
        state = EvaluationRun.objects.filter(pk=run.pk).values("status", "chunks_done", "chunks_total").get()
        if state["status"] in (RunStatus.FINISHED, RunStatus.FAILED):
            break
        if clock.seconds > timeout:
            return {"determinations_per_second": None, "run_id": run.pk, "reason": f"not finished after {timeout:.0f} s"}
        if state["chunks_done"] * 10 // max(state["chunks_total"], 1) != last:
            last = state["chunks_done"] * 10 // max(state["chunks_total"], 1)
            _progress(f"  {workers} worker(s): {state['chunks_done']} of {state['chunks_total']} chunks ({clock.seconds:.0f} s)")
        time.sleep(0.2)
    seconds = clock.seconds
    rows = Determination.objects.filter(run=run).count()
    return {"workers": workers, "run_id": run.pk, "status": state["status"], "determinations": rows,
            "seconds": round(seconds, 2), "determinations_per_second": rate(rows, seconds),
            "same_as_in_process": compare(reference_run=reference_run, other_run=run.pk)}


@phase
def outbox_drain(*, timeout: float) -> dict[str, Any]:
    """One Celery worker started on what the API's submissions left queued (with Redis: one evaluation
    of the outbox): the seconds from its start until the outbox is empty, and the runs it made."""
    from rules.models import EvaluationRun, PendingEvaluation
    from rules.models.runs import Trigger

    from .measure import Stopwatch, rate
    from .servers import celery_workers

    waiting = PendingEvaluation.objects.filter(failed_at__isnull=True)
    rows, runs_before = waiting.count(), EvaluationRun.objects.filter(kind=Trigger.SUBMISSION).count()
    if not rows:
        return {"rows": 0, "reason": "no submission left anything in the outbox"}
    peaks: list[float | None] = []
    clock = Stopwatch()
    with celery_workers(1, env=dict(os.environ), peaks=peaks, purge=False):
        while waiting.exists() and clock.seconds < timeout:
            time.sleep(0.2)
        seconds = clock.seconds
    left = waiting.count()
    return {"rows": rows, "left": left, "seconds": round(seconds, 2), "rows_per_second": rate(rows - left, seconds),
            "runs": EvaluationRun.objects.filter(kind=Trigger.SUBMISSION).count() - runs_before,
            "failed": PendingEvaluation.objects.filter(failed_at__isnull=False).count(), "worker_peak_rss_mb": peaks}


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    name, arguments = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    result = PHASES[name](**arguments)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
