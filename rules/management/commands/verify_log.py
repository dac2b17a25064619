"""Checks the decision log's hash chain from its first row to its head."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from rules.current import index_faults, rebuild_index
from rules.decision_log import verify_chain
from rules.models import Determination


class Command(BaseCommand):
    help = ("Verify the decision log's hash chain, its payloads and facts, and the chain of confirmations "
            "(a run's finding that determinations still hold); names the first row or confirmation that "
            "breaks it and exits 1 then. Then check the index of current determinations the workspace reads "
            "against the log, and exit 1 naming the subjects where it disagrees (--rebuild-index makes it "
            "again from the verified log).")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument("--rebuild-index", action="store_true",
                            help="Once the log is verified, make the index of current determinations again from it, "
                                 "with its horizon today (determinations dated after today are noted as ahead).")

    def handle(self, *args: Any, **options: Any) -> None:
        total = Determination.objects.count()
        with tqdm(total=total, desc="Verifying", unit="row", disable=options["no_progress"] or total < 1000,
                  file=self.stderr._out) as bar:
            report = verify_chain(progress=bar.update)
        if report.broken_at is not None:
            raise CommandError(
                f"decision log broken at row {report.broken_at}: {report.reason} ({report.checked} row(s) verified before it)"
            )
        if report.confirmation_broken_at is not None:
            raise CommandError(
                f"decision log broken at confirmation {report.confirmation_broken_at}: {report.reason} "
                f"({report.checked} row(s) and {report.confirmations} confirmation(s) verified before it)"
            )
        self.stdout.write(f"decision log intact: {report.checked} row(s) verified, "
                          f"and {report.confirmations} confirmation(s)")
        if options["rebuild_index"]:
            entries = rebuild_index()
            self.stdout.write(f"index of current determinations made again from the log: {entries} entries")
        faults = index_faults()
        if faults:
            named = ", ".join(f"{ref} under {regime}" for ref, regime in faults)
            raise CommandError(f"the index of current determinations disagrees with the log for {named} "
                               f"(the first {len(faults)} at most); the workspace would show them wrongly: "
                               f"run verify_log --rebuild-index")
        self.stdout.write("index of current determinations agrees with the log")
