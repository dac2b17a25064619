"""One benchmark run, end to end: a fresh database, the synthetic registry, the full re-evaluation in
one process, the decision log's size, the unchanged registry re-evaluated as of the next day, the
COPY baseline, latency, the same re-evaluation over 1..k Celery workers, the API under load beside
/healthz, and the reports. Every measurement is taken in this one run."""
from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.conf import settings

from .environment import BenchDatabase, BenchError, child_environment, manage, run_phase


@dataclass
class Options:
    models: int
    clusters: int
    seed: int = 1
    chunk_size: int = 500
    readers: int | None = None  # reader processes of the in-process run; None: RUN_READER_PROCESSES
    database_name: str = "bench_main"
    redis_url: str = ""
    workers: tuple[int, ...] = (1, 2)
    api_seconds: float = 10.0
    api_concurrency: int = 8
    api_max_requests: int = 5000
    api_rounds: int = 6  # submissions and /healthz taken in turn, so the machine's drift weighs on both alike
    api_drain_timeout: float = 600.0  # for one worker to evaluate what the submissions left in the outbox
    latency_samples: int = 200
    verify: bool = True
    reports: bool = True
    registry_report_timeout: float = 600.0
    registry_report_memory_mb: int = 8192
    keep: bool = False
    api_only: bool = False  # the synthetic registry and the API phase, nothing else
    history_runs: int = 0  # more full runs over dated as-of dates, for a year's decision log
    history_start: str = "2026-01-01"
    history_step_days: int = 30
    history_changes: int = 200
    history_anew: bool = False  # the history runs append every determination, none confirmed
    history_index_upkeep: bool = True  # after each history run, the log's indexes upkept as the daily task does
    pages: bool = False  # time each workspace page and API list
    pages_samples: int = 20
    pages_vacuum: bool = False  # VACUUM (ANALYZE) before timing the pages, as autovacuum leaves a database
    reuse: bool = False  # the kept database as it is: only the history and the pages
    unchanged_run: bool = True  # a second full run, the registry unchanged, as of the next day


def machine() -> dict[str, Any]:
    memory = None
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            memory = round(int(meminfo.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "memory_gb": memory, "python": platform.python_version(),
            "platform": platform.platform()}


def _database_version(env: dict[str, str]) -> str | None:
    try:
        return run_phase("database_version", {}, env=env).get("version")
    except BenchError:
        return None


def _api(options: Options, env: dict[str, str], say: Callable[[str], None]) -> dict[str, Any]:
    from importlib.util import find_spec

    from . import load
    from .servers import gunicorn

    if find_spec("api") is None:
        return {"submissions_per_second": None, "reason": "the api module is not installed"}
    token = run_phase("api_token", {"organisation": "org-00000"}, env=env, optional=True)
    if not token.get("token"):
        return {"submissions_per_second": None, "reason": token.get("reason")}
    workers = os.cpu_count() or 2
    say(f"API: gunicorn with {workers} workers; {options.api_concurrency} clients for {options.api_seconds:g} s "
        f"of submissions and of /healthz, in {options.api_rounds} turns")
    # room for every submission of the load beside the organisation's generated models: at the limit a
    # submission would be a refusal (a 400), not a submission; the limit's check costs the same at any count
    limit = settings.REGISTRY_MAX_MODELS_PER_ORGANISATION + options.api_max_requests
    env = {**env, "REGISTRY_MAX_MODELS_PER_ORGANISATION": str(limit)}
    with gunicorn(env=env, workers=workers) as port:
        # /healthz is bounded by time alone; submissions by the count too (a model each, in one organisation)
        measured = load.alternating(port, {
            "submission": (load.model_submission(token["token"], token["organisation"], str(int(time.time()))),
                           (201,), options.api_max_requests),
            "healthz": (load.healthz, (200,), options.api_max_requests * 100),
        }, seconds=options.api_seconds, concurrency=options.api_concurrency, rounds=options.api_rounds)
        submit, trivial = measured["submission"], measured["healthz"]
    drain: dict[str, Any] = {"reason": "no broker: each submission was evaluated as it was made"}
    if options.redis_url:
        say("API: one Celery worker started on what the submissions left in the outbox")
        drain = run_phase("outbox_drain", {"timeout": options.api_drain_timeout}, env=env, optional=True)
    ratio = (submit["requests_per_second"] / trivial["requests_per_second"]
             if submit["requests_per_second"] and trivial["requests_per_second"] else None)
    return {"submissions_per_second": submit["requests_per_second"], "submission_p99_ms": submit["p99_ms"],
            "healthz_per_second": trivial["requests_per_second"], "healthz_p99_ms": trivial["p99_ms"],
            "ratio_to_healthz": round(ratio, 4) if ratio is not None else None, "gunicorn_workers": workers,
            "submission": submit, "healthz": trivial, "outbox_drain": drain}


def _api_phase(options: Options, database: BenchDatabase, say: Callable[[str], None]) -> dict[str, Any]:
    try:
        return _api(options, child_environment(database, redis_url=options.redis_url, eager=not options.redis_url), say)
    except BenchError as exc:
        return {"submissions_per_second": None, "reason": str(exc)}


def _scale_out(options: Options, database: BenchDatabase, reference: dict[str, Any],
               say: Callable[[str], None]) -> dict[str, Any]:
    from .servers import celery_workers

    if not options.workers:
        return {"reason": "not asked for"}
    if not options.redis_url:
        return {"reason": "no broker: set REDIS_URL (or --redis-url) to spread the run over Celery workers"}
    if database.vendor != "postgresql":
        return {"reason": "SQLite takes one writer at a time: the scale-out is measured on PostgreSQL"}
    env = child_environment(database, redis_url=options.redis_url, eager=False)
    results: dict[str, Any] = {}
    for count in options.workers:
        say(f"scale-out: the same re-evaluation over {count} Celery worker process(es)")
        peaks: list[float | None] = []
        with celery_workers(count, env=env, peaks=peaks):
            outcome = run_phase("scaleout_run", {
                "workers": count, "chunk_size": options.chunk_size, "as_of": reference["as_of"],
                "reference_run": reference["run_id"], "timeout": 3600,
            }, env=env)
        outcome["worker_peak_rss_mb"] = peaks
        results[str(count)] = outcome
    return results


def _log_size(env: dict[str, str], result: dict[str, Any], say: Callable[[str], None]) -> None:
    """The decision log's bytes on disk per determination, after the first full run."""
    size = result["log_size"] = run_phase("log_size", {}, env=env, optional=True)
    result["log_bytes_per_determination"] = size.get("bytes_per_determination")
    if size.get("bytes_per_determination") is not None:
        say(f"  the log: {size['bytes']:,} bytes on disk, {size['bytes_per_determination']:,} per determination")


def _unchanged_run(options: Options, env: dict[str, str], first: dict[str, Any], result: dict[str, Any],
                   say: Callable[[str], None]) -> None:
    """The same registry, unchanged, re-evaluated again as of the day after the first run."""
    if not options.unchanged_run:
        outcome = {"seconds": None, "bytes": None, "reason": "not asked for (--skip-unchanged-run)"}
    else:
        as_of = (date.fromisoformat(first["as_of"]) + timedelta(days=1)).isoformat()
        say(f"the unchanged registry re-evaluated again as of {as_of} (a scheduled run)")
        outcome = run_phase("unchanged_run", {"as_of": as_of, "chunk_size": options.chunk_size,
                                              "readers": options.readers}, env=env, optional=True)
        if outcome.get("seconds") is not None:
            growth = f", the database grew by {outcome['bytes']:,} bytes" if outcome.get("bytes") is not None else ""
            say(f"  {outcome['seconds']} s, {outcome['determinations_written']:,} determinations written{growth}")
    result["unchanged_run"] = outcome
    result["unchanged_run_seconds"] = outcome.get("seconds")
    result["unchanged_run_bytes"] = outcome.get("bytes")


def _year_scale(options: Options, env: dict[str, str], result: dict[str, Any], say: Callable[[str], None]) -> None:
    """The history runs, then the pages, as asked for."""
    if options.history_runs:
        say(f"history: {options.history_runs} full runs from {options.history_start}, "
            f"{options.history_step_days} days apart, {options.history_changes} models revised before each")
        result["history"] = run_phase("history", {
            "runs": options.history_runs, "start": options.history_start, "step_days": options.history_step_days,
            "changes_per_run": options.history_changes, "chunk_size": options.chunk_size, "seed": options.seed,
            "anew": options.history_anew, "index_upkeep": options.history_index_upkeep,
        }, env=env)
        say(f"  the log holds {result['history']['log_rows']:,} rows")
    if options.pages:
        say(f"pages: {options.pages_samples} requests per page, server side"
            + (", after VACUUM (ANALYZE)" if options.pages_vacuum else ""))
        measured = run_phase("pages", {"samples": options.pages_samples, "vacuum": options.pages_vacuum}, env=env)
        result["pages"] = measured["pages"]
        result["pages_vacuumed"] = measured["vacuumed"]


def run(options: Options, say: Callable[[str], None]) -> dict[str, Any]:
    database = BenchDatabase.beside_configured(options.database_name)
    env = child_environment(database)
    result: dict[str, Any] = {"models": options.models, "clusters": options.clusters, "database": database.vendor,
                              "machine": machine()}
    if options.reuse:
        if database.vendor != "postgresql":
            raise BenchError("--reuse needs PostgreSQL: the embedded default's benchmark database is a temporary file")
        say(f"database: {database.vendor} {database.name} (kept from an earlier run, used as it is)")
        # the kept registry's size is what it is, not what --models and --clusters would have made
        result["models"] = result["clusters"] = None
        manage(["migrate", "--noinput"], env=env)
        _year_scale(options, env, result, say)
        return result
    say(f"database: {database.vendor} {database.name} (created for this run)")
    database.create()
    try:
        manage(["migrate", "--noinput"], env=env)
        result["database_version"] = _database_version(env)
        say(f"generating {options.models:,} models and {options.clusters:,} clusters")
        result["generate"] = run_phase("generate", {"models": options.models, "clusters": options.clusters,
                                                    "seed": options.seed}, env=env)
        say(f"  {result['generate']['subjects']:,} subjects in {result['generate']['seconds']} s")
        if options.api_only:
            result["api"] = _api_phase(options, database, say)
            _year_scale(options, env, result, say)
            return result
        say("full re-evaluation in one process, its reader processes forked from it")
        reevaluation = result["reevaluate"] = run_phase(
            "reevaluate", {"chunk_size": options.chunk_size, "readers": options.readers}, env=env)
        say(f"  {reevaluation['determinations']:,} determinations at {reevaluation['determinations_per_second']}/s")
        _log_size(env, result, say)
        _unchanged_run(options, env, reevaluation, result, say)
        say("COPY baseline: the same number of rows of the same width into a scratch table")
        copy = result["copy_baseline"] = run_phase(
            "copy_baseline", {"rows": reevaluation["determinations"], "run_id": reevaluation["run_id"]}, env=env)
        say(f"  {copy.get('copy_rows_per_second')} rows/s")
        rate, baseline = reevaluation["determinations_per_second"], copy.get("copy_rows_per_second")
        result.update(
            determinations_per_second=rate, copy_rows_per_second=baseline,
            ratio_to_copy=round(rate / baseline, 4) if rate and baseline else None,
            peak_rss_mb=reevaluation["peak_rss_mb"],
        )
        if options.verify:
            say("verifying the chain")
            result["verify"] = run_phase("verify", {}, env=env)
        say("single-subject latency")
        result["latency"] = run_phase("latency", {"samples": options.latency_samples, "seed": options.seed}, env=env)
        result["scale_out"] = _scale_out(options, database, reevaluation, say)
        result["api"] = _api_phase(options, database, say)
        if options.reports:
            say("reports: audit PDFs, then the registry report")
            result["audit_pdf"] = run_phase("audit_reports", {"as_of": reevaluation["as_of"]}, env=env, optional=True)
            result["registry_report"] = run_phase(
                "registry_report", {"as_of": reevaluation["as_of"]}, env=env, optional=True,
                timeout=options.registry_report_timeout, memory_limit_mb=options.registry_report_memory_mb)
        _year_scale(options, env, result, say)
    finally:
        if options.keep:
            say(f"kept the benchmark database: {database.url}")
        else:
            database.drop()
    return result
