"""The workspace and the API at a year's scale: a decision log of many runs over dated as-of dates
(`build_history`), then the server-side time and the SQL statements of each page a regulator opens
(`measure_pages`): the dashboard, the models and clusters lists with each of their filters, a subject
page, the determinations list, the obligations list and the API's lists.

Pages are requested through Django's test client in this process (the whole middleware stack, the
templates rendered; no network, no browser), as a logged-in superuser and with a regulator's API
token, so what is timed is the server's own work.
"""
from __future__ import annotations

import sys
import time
from datetime import date, timedelta
from typing import Any

from .measure import Stopwatch, latency_summary, rate

BENCH_REGULATOR = "bench-regulator"


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_history(*, runs: int, start: str, step_days: int, changes_per_run: int, chunk_size: int,
                  seed: int = 1, anew: bool = False, index_upkeep: bool = True) -> dict[str, Any]:
    """`runs` full re-evaluations as of `start`, `start + step_days`, ...; before each after the first,
    `changes_per_run` models get a new revision with ten times their training compute, so some runs
    find status changes and most determinations repeat the subject's earlier one: confirmed, or with
    `anew` appended again. With `index_upkeep`, after each run the log's indexes split past
    DECISION_LOG_INDEX_REBUILD_PERCENT of their compact size are rebuilt, as the daily beat entry
    does after each nightly run (PostgreSQL)."""
    import random
    import resource

    from django.conf import settings
    from django.db import connection
    from django.db.models import Sum

    from registry.models import AIModel, ModelRevision
    from registry.services import record_save
    from rules import services
    from rules.log_indexes import rebuild_split_indexes
    from rules.models import Confirmation, Determination
    from rules.models.runs import Trigger

    rng = random.Random(seed)
    clock = Stopwatch()
    first = date.fromisoformat(start)
    model_ids = list(AIModel.objects.values_list("pk", flat=True))
    per_run: list[dict[str, Any]] = []
    for index in range(runs):
        as_of = first + timedelta(days=index * step_days)
        revised = 0
        if index and changes_per_run and model_ids:
            for model_id in rng.sample(model_ids, min(changes_per_run, len(model_ids))):
                current = ModelRevision.objects.filter(model_id=model_id).order_by("-number").first().facts
                record = dict(current)
                compute = record.get("training_compute_ops")
                record["training_compute_ops"] = (float(compute) if compute else 1e24) * 10
                record_save(kind="model", record=record, current=current, actor=None, via="import",
                            organisation_scope=None)
                revised += 1
        run_clock = Stopwatch()
        run = services.run_create(kind=Trigger.SCHEDULE, as_of=as_of, chunk_size=chunk_size, confirms=not anew)
        services.run_execute_inline(run)
        run.refresh_from_db()
        rows = Determination.objects.filter(run=run).count()
        confirmed = Confirmation.objects.filter(run=run).aggregate(n=Sum("count"))["n"] or 0
        peak_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        run_seconds = run_clock.seconds
        upkeep: dict[str, Any] = {}
        if index_upkeep and connection.vendor == "postgresql":
            upkeep_clock = Stopwatch()
            _sizes, rebuilt = rebuild_split_indexes(ratio=settings.DECISION_LOG_INDEX_REBUILD_PERCENT / 100)
            upkeep = {"indexes_rebuilt": [index.name for index in rebuilt],
                      "index_upkeep_seconds": round(upkeep_clock.seconds, 2),
                      "log_table_bytes_per_row": round(_log_table_bytes() / Determination.objects.count(), 1)}
        per_run.append({"as_of": as_of.isoformat(), "determinations": rows, "confirmed": confirmed,
                        "revised_models": revised, "peak_rss_mb": peak_mb,
                        "changes": run.changes_count, "seconds": round(run_seconds, 2),
                        "determinations_per_second": rate(rows, run_seconds), **upkeep})
        upkept = (f"; indexes rebuilt: {', '.join(upkeep['indexes_rebuilt']) or 'none'} "
                  f"({upkeep['index_upkeep_seconds']:.0f} s), {upkeep['log_table_bytes_per_row']} bytes a row"
                  if upkeep else "")
        _progress(f"  history: run {index + 1} of {runs} as of {as_of}: {rows:,} determinations appended, "
                  f"{confirmed:,} confirmed, "
                  f"{run.changes_count:,} changes, {run_seconds:.0f} s, peak memory {peak_mb:,.0f} MB{upkept}")
    log_rows = Determination.objects.count()
    log_bytes = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        log_bytes = _log_table_bytes()
    return {"runs": per_run, "log_rows": log_rows, "log_bytes": log_bytes,
            "log_bytes_per_row": round(log_bytes / log_rows, 1) if log_bytes and log_rows else None,
            "index_upkeep": index_upkeep, "seconds": round(clock.seconds, 2)}


def _log_table_bytes() -> int:
    """The determinations' table with its indexes and TOAST, in bytes (PostgreSQL)."""
    from django.db import connection

    from rules.models import Determination

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size(%s)", [Determination._meta.db_table])
        return cursor.fetchone()[0]


def vacuum_database() -> bool:
    """VACUUM (ANALYZE) every table: the state PostgreSQL's autovacuum (on as PostgreSQL ships) keeps a
    database in after a run, with its visibility map set, so that counts and lists may read an index
    alone. This machine's server runs without autovacuum. False where the database is not PostgreSQL."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return False
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    _progress(f"  VACUUM (ANALYZE) in {time.perf_counter() - started:.0f} s")
    return True


def _regulator() -> tuple[Any, str]:
    """A superuser for the workspace and a regulator's API token, made once per database."""
    from django.contrib.auth import get_user_model

    from accounts.models import Role
    from accounts.services import api_user_create

    user, _created, _token, key = api_user_create(username=BENCH_REGULATOR, role=Role.REGULATOR, organisation_slug=None,
                                                  token_name=f"bench-pages-{int(time.time())}")
    if not user.is_superuser or not user.is_staff:
        get_user_model().objects.filter(pk=user.pk).update(is_superuser=True, is_staff=True)
        user.refresh_from_db()
    return user, key


def _filter_pages(client: Any, name: str, url: str) -> list[tuple[str, str]]:
    """One page per filter of a changelist: its first choice that is not "All" (read from the page's
    own filter specs, so a filter added later is measured without naming it here)."""
    response = client.get(url)
    changelist = (response.context or {}).get("cl") if response.status_code == 200 else None
    if changelist is None:
        return []
    pages = []
    for spec in changelist.filter_specs:
        choices = [c for c in spec.choices(changelist) if not c.get("selected") and c.get("query_string")]
        choices = [c for c in choices if c["query_string"] not in ("?", "")]
        if choices:
            title = getattr(spec, "title", type(spec).__name__)
            pages.append((f"{name} filtered by {title}", f"{url}{choices[0]['query_string']}"))
    return pages


def _pages(client: Any) -> list[tuple[str, str, dict[str, str]]]:
    """(name, url, extra headers) of every page measured, each filter of each list included."""
    from django.urls import NoReverseMatch, reverse

    from registry.models import AIModel, Cluster

    def admin_url(name: str, *args: Any) -> str | None:
        try:
            return reverse(f"admin:{name}", args=args)
        except NoReverseMatch:
            return None

    pages: list[tuple[str, str]] = [("dashboard", reverse("admin:index"))]
    for name, view in (("models list", "registry_aimodel_changelist"), ("clusters list", "registry_cluster_changelist"),
                       ("determinations list", "rules_determination_changelist"),
                       ("obligations list", "obligations_obligationstate_changelist")):
        url = admin_url(view)
        if url:
            pages.append((name, url))
            pages.extend(_filter_pages(client, name, url))
    model = AIModel.objects.filter(base_model__isnull=False).order_by("pk").first() or AIModel.objects.order_by("pk").first()
    if model is not None:
        pages.append(("subject page (model)", admin_url("registry_aimodel_change", model.pk)))
    cluster = Cluster.objects.order_by("pk").first()
    if cluster is not None:
        pages.append(("subject page (cluster)", admin_url("registry_cluster_change", cluster.pk)))
    measured = [(name, url, {}) for name, url in pages if url]
    for name in ("models", "clusters", "determinations", "obligations"):
        measured.append((f"API {name} list", f"/api/v1/{name}/", {"api": "1"}))
    return measured


def measure_pages(*, samples: int = 20) -> dict[str, Any]:
    """p50 / p99 server time and the SQL statements of each page, after one request to warm it."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    setup_test_environment()  # the test client's template context, and `testserver` allowed
    user, key = _regulator()
    browser, api = Client(), Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    browser.force_login(user)
    results: dict[str, Any] = {}
    for name, url, headers in _pages(browser):
        client = api if headers else browser
        first = client.get(url)
        if first.status_code == 404 and headers:
            continue  # an API list this build does not have
        timings: list[float] = []
        statements = 0
        for _sample in range(samples):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url)
                timings.append(time.perf_counter() - started)
            statements = max(statements, len(captured.captured_queries))
            if response.status_code != 200:
                break
        results[name] = {"url": url, "status": response.status_code, "queries": statements,
                         **latency_summary(timings)}
        _progress(f"  {name}: p50 {results[name]['p50_ms']} ms, {statements} statements")
    return results


def slowest(pages: dict[str, Any], *, key: str = "p50_ms") -> list[tuple[str, float]]:
    """The pages by `key`, slowest first: what BENCHMARKS.md lists."""
    timed = [(name, page[key]) for name, page in pages.items() if page.get(key) is not None]
    return sorted(timed, key=lambda pair: pair[1], reverse=True)

