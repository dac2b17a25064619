"""Rebuilds the decision log's indexes that runs have split past their compact size (PostgreSQL)."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from tqdm import tqdm

from rules.log_indexes import RebuildInProgress, rebuild_split_indexes


class Command(BaseCommand):
    help = ("List the decision log's indexes with their size on disk and the size a fresh build of their entries "
            "would have, and rebuild, one at a time with REINDEX INDEX CONCURRENTLY (runs and readers go on meanwhile), "
            "those larger than --above percent of it (default DECISION_LOG_INDEX_REBUILD_PERCENT, "
            f"{settings.DECISION_LOG_INDEX_REBUILD_PERCENT}). The daily beat entry \"Decision log: indexes rebuilt "
            "when split past their compact size\" does the same. PostgreSQL only: on SQLite nothing is done.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--above", type=int, default=settings.DECISION_LOG_INDEX_REBUILD_PERCENT, metavar="PERCENT",
                            help="rebuild an index larger than this percentage of its compact size (100 or more)")
        parser.add_argument("--dry-run", action="store_true", help="list the indexes, rebuild none")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["above"] < 100:
            raise CommandError(f"--above: expected 100 or more (a percentage of the compact size), got {options['above']}")
        if connection.vendor != "postgresql":
            self.stdout.write(f"nothing to rebuild: the log is on {connection.vendor}, whose file VACUUM compacts")
            return
        bar = tqdm(desc="Rebuilding", unit="index", disable=options["no_progress"] or options["dry_run"], file=self.stderr._out)
        try:
            with bar:
                sizes, rebuilt = rebuild_split_indexes(ratio=options["above"] / 100, dry_run=options["dry_run"],
                                                       progress=lambda name: (bar.set_postfix_str(name), bar.update()))
        except RebuildInProgress as exc:
            raise CommandError(f"{exc}: nothing done") from None
        after = {index.name: index for index in rebuilt}
        self.stdout.write(f"{'index':<34} {'entries':>12} {'MB':>9} {'compact MB':>11} {'%':>6}")
        for size in sizes:
            percent = f"{size.ratio * 100:.0f}" if size.ratio is not None else "-"
            compact = f"{size.compact_bytes / 1e6:.1f}" if size.compact_bytes else "-"
            entries = f"{size.entries:,}" if size.entries is not None else "-"
            if size.name in after:
                done = f"rebuilt: {after[size.name].size_after / 1e6:.1f} MB"
            elif size.ratio is None:
                done = f"not estimated: {size.reason}"
            elif size.due(options["above"] / 100):
                done = "would be rebuilt"
            else:
                done = ""
            self.stdout.write(f"{size.name:<34} {entries:>12} {size.size_bytes / 1e6:>9.1f} {compact:>11} {percent:>6}  {done}".rstrip())
        self.stdout.write(f"{len(rebuilt)} index(es) rebuilt, above {options['above']} % of their compact size")
