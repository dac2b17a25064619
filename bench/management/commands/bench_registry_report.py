"""`manage.py bench_registry_report --models N --clusters M`: the registry report alone, at scale.

The same synthetic registry and full re-evaluation as `manage.py bench`, in a database of its own,
then only the `registry_report` phase (PDF, and any other format asked for), each in its own
process with the benchmark's memory limit. `--reuse` times the report again on a database kept by
an earlier `--keep` run, without generating and re-evaluating.
"""
from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from bench.environment import BenchDatabase, BenchError, child_environment, manage, run_phase


class Command(BaseCommand):
    help = ("Time the registry report (and its peak memory) on a synthetic registry of N models and M clusters, "
            "re-evaluated once; the other benchmark phases are not run.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--models", type=int, default=1000, help="AI models in the synthetic registry.")
        parser.add_argument("--clusters", type=int, default=100, help="Clusters in the synthetic registry.")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--chunk-size", type=int, default=500, help="Subjects per chunk of the re-evaluation.")
        parser.add_argument("--database-name", default="bench_reports",
                            help="PostgreSQL database of the run; must start with bench_.")
        parser.add_argument("--formats", default="pdf", help="Comma-separated report formats to time (pdf,html,csv).")
        parser.add_argument("--timeout", type=float, default=600.0, help="Seconds allowed to each report.")
        parser.add_argument("--memory-mb", type=int, default=8192, help="Address-space limit of the report process.")
        parser.add_argument("--keep", action="store_true", help="Keep the database afterwards (for --reuse).")
        parser.add_argument("--reuse", action="store_true",
                            help="Use the database as kept by an earlier --keep run: no generation, no re-evaluation.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            database = BenchDatabase.beside_configured(options["database_name"])
        except BenchError as exc:
            raise CommandError(str(exc)) from exc
        if options["reuse"] and database.vendor != "postgresql":
            raise CommandError("--reuse: only a PostgreSQL benchmark database can be kept between runs")
        env = child_environment(database)
        result: dict[str, Any] = {"models": options["models"], "clusters": options["clusters"]}
        try:
            if not options["reuse"]:
                database.create()
                manage(["migrate", "--noinput"], env=env)
                self.stderr.write(f"generating {options['models']:,} models and {options['clusters']:,} clusters")
                result["generate"] = run_phase("generate", {"models": options["models"], "clusters": options["clusters"],
                                                            "seed": options["seed"]}, env=env)
                self.stderr.write("full re-evaluation in one process")
                reevaluation = run_phase("reevaluate", {"chunk_size": options["chunk_size"]}, env=env)
                result["reevaluate"] = {key: reevaluation.get(key) for key in
                                        ("run_id", "as_of", "determinations", "seconds", "determinations_per_second")}
                as_of = reevaluation["as_of"]
            else:
                kept = run_phase("latest_as_of", {}, env=env)
                as_of = kept["as_of"]
                result.update(models=kept["models"], clusters=kept["clusters"])
            result["as_of"] = as_of
            for format in [part.strip() for part in options["formats"].split(",") if part.strip()]:
                self.stderr.write(f"registry report ({format})")
                result[f"registry_report_{format}"] = run_phase(
                    "registry_report", {"as_of": as_of, "format": format}, env=env, optional=True,
                    timeout=options["timeout"], memory_limit_mb=options["memory_mb"])
        except BenchError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if not (options["keep"] or options["reuse"]):
                database.drop()
        self.stdout.write(json.dumps(result, indent=2))
