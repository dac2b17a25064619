"""`manage.py bench --models N --clusters M [--json]`: the benchmark of BENCHMARKS.md."""
from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from bench.environment import BenchError
from bench.runner import Options, run


def _workers(text: str) -> tuple[int, ...]:
    if text.strip() in ("", "0"):
        return ()
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise CommandError(f"--workers: a comma-separated list of worker counts, e.g. 1,2; got {text!r}") from None
    if any(count < 1 for count in counts):
        raise CommandError(f"--workers: each count must be at least 1, got {text!r}")
    return counts


def _positive(name: str, value: int) -> int:
    if value < 0:
        raise CommandError(f"--{name}: must be 0 or more, got {value}")
    return value


class Command(BaseCommand):
    help = (
        "Build a synthetic registry (lineage chains, mixture-of-experts and biological models, clusters over "
        "several datacenters) in a database of its own (PostgreSQL bench_* beside the configured one, or a "
        "temporary SQLite file), and measure: the full re-evaluation against the same database's COPY rate, peak "
        "memory, the decision log's bytes per determination, a second run of the unchanged registry as of the "
        "next day, single-subject latency, the same run over 1..k Celery workers, the API beside /healthz under "
        "gunicorn (then, with a broker, one Celery worker evaluating what the submissions left in the outbox), "
        "and the reports. The database is dropped afterwards unless --keep."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--models", type=int, default=1000, help="AI models in the synthetic registry.")
        parser.add_argument("--clusters", type=int, default=100, help="Clusters in the synthetic registry.")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--chunk-size", type=int, default=500, help="Subjects per chunk of the run; an organisation counts as one plus its models.")
        parser.add_argument("--readers", type=int, default=None,
                            help="Reader processes of the in-process run (default RUN_READER_PROCESSES, the cores; 0: a thread).")
        parser.add_argument("--json", action="store_true", help="Print one JSON object (progress goes to stderr).")
        parser.add_argument("--database-name", default="bench_main",
                            help="PostgreSQL database created and dropped for the run; must start with bench_.")
        parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""),
                            help="Broker for the scale-out (default: REDIS_URL).")
        parser.add_argument("--workers", default="1,2", help="Celery worker counts for the scale-out; 0 skips it.")
        parser.add_argument("--api-seconds", type=float, default=10.0, help="Seconds of load per endpoint (submissions and /healthz, taken in turns).")
        parser.add_argument("--api-concurrency", type=int, default=8, help="Concurrent clients of the load generator.")
        parser.add_argument("--api-only", action="store_true",
                            help="Build the synthetic registry and measure only the API beside /healthz (no "
                                 "re-evaluation, baseline, latency, scale-out or reports).")
        parser.add_argument("--latency-samples", type=int, default=200)
        parser.add_argument("--skip-verify", action="store_true", help="Do not verify the chain after the run.")
        parser.add_argument("--skip-reports", action="store_true", help="Do not time the reports.")
        parser.add_argument("--skip-unchanged-run", action="store_true",
                            help="Do not re-evaluate the unchanged registry a second time, as of the day after the "
                                 "first full run, as a scheduled run (its wall time and the database's growth: "
                                 "unchanged_run_seconds, unchanged_run_bytes).")
        parser.add_argument("--keep", action="store_true", help="Keep the benchmark database afterwards.")
        parser.add_argument("--history-runs", type=int, default=0,
                            help="After the measurements, build a year's decision log: this many more full runs, "
                                 "as of dates --history-step-days apart, --history-changes models revised before "
                                 "each. A determination a run reaches unchanged is confirmed, not appended, unless "
                                 "--history-anew.")
        parser.add_argument("--history-anew", action="store_true",
                            help="The history runs append every determination anew instead of confirming those "
                                 "unchanged: a log of rows of the size a year of changing registries gives (10 runs of "
                                 "a 111,000-subject registry append over 6 million rows).")
        parser.add_argument("--history-without-index-upkeep", action="store_true",
                            help="Do not rebuild the log's indexes split past their compact size after each history "
                                 "run, as the daily \"Decision log: indexes rebuilt when split past their compact "
                                 "size\" does after each nightly run (PostgreSQL): the log as it grows without it.")
        parser.add_argument("--history-start", default="2026-01-01", help="The first history run's as-of date.")
        parser.add_argument("--history-step-days", type=int, default=30)
        parser.add_argument("--history-changes", type=int, default=200)
        parser.add_argument("--pages", action="store_true",
                            help="Time, server side, each workspace page (every list filter included) and API "
                                 "list, and count its SQL statements: the `pages` key, p50 / p99 per page.")
        parser.add_argument("--pages-samples", type=int, default=20, help="Requests timed per page.")
        parser.add_argument("--pages-vacuum", action="store_true",
                            help="VACUUM (ANALYZE) the database before timing the pages: the state autovacuum (on "
                                 "as PostgreSQL ships) keeps it in, its visibility map set so that counts may read "
                                 "an index alone (the `pages_vacuumed` key). Without it the pages are timed as built, "
                                 "after an ANALYZE.")
        parser.add_argument("--reuse", action="store_true",
                            help="Use the kept database --database-name as it is (no new registry, no full run): "
                                 "only the history runs and the pages asked for. Implies --keep.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["models"] < 1 or options["clusters"] < 0:
            raise CommandError(f"--models must be at least 1 and --clusters 0 or more, got {options['models']} "
                               f"and {options['clusters']}")
        if options["chunk_size"] < 1:
            raise CommandError(f"--chunk-size: must be at least 1, got {options['chunk_size']}")
        if options["readers"] is not None and options["readers"] < 0:
            raise CommandError(f"--readers: must be 0 or more, got {options['readers']}")
        settings = Options(
            models=options["models"], clusters=options["clusters"], seed=options["seed"],
            chunk_size=options["chunk_size"], readers=options["readers"], database_name=options["database_name"], redis_url=options["redis_url"],
            workers=_workers(options["workers"]), api_seconds=float(_positive("api-seconds", options["api_seconds"])),
            api_concurrency=max(1, options["api_concurrency"]),
            latency_samples=max(1, _positive("latency-samples", options["latency_samples"])),
            verify=not options["skip_verify"], reports=not options["skip_reports"], keep=options["keep"],
            api_only=options["api_only"],
            history_runs=_positive("history-runs", options["history_runs"]), history_start=options["history_start"],
            history_step_days=max(1, options["history_step_days"]),
            history_changes=_positive("history-changes", options["history_changes"]),
            history_anew=options["history_anew"], history_index_upkeep=not options["history_without_index_upkeep"],
            pages=options["pages"], pages_samples=max(1, options["pages_samples"]),
            pages_vacuum=options["pages_vacuum"], reuse=options["reuse"],
            unchanged_run=not options["skip_unchanged_run"],
        )
        as_json = options["json"]

        def say(message: str) -> None:
            if as_json:
                print(message, file=sys.stderr, flush=True)
            else:
                self.stdout.write(message)
                self.stdout.flush()

        # a stopped benchmark still drops its database and stops what it started
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        try:
            result = run(settings, say)
        except BenchError as exc:
            raise CommandError(str(exc)) from exc
        if as_json:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write("")
        for key in ("determinations_per_second", "copy_rows_per_second", "ratio_to_copy", "peak_rss_mb"):
            self.stdout.write(f"{key}: {result.get(key)}")
        self.stdout.write(json.dumps(result, indent=2))
