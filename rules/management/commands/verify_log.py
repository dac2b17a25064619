"""Checks the decision log's hash chain from its first row to its head."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from rules.decision_log import verify_chain
from rules.models import Determination


class Command(BaseCommand):
    help = "Verify the decision log's hash chain; names the first row that breaks it and exits 1 then."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        total = Determination.objects.count()
        with tqdm(total=total, desc="Verifying", unit="row", disable=options["no_progress"] or total < 1000,
                  file=self.stderr._out) as bar:
            report = verify_chain(progress=bar.update)
        if not report.ok:
            raise CommandError(
                f"decision log broken at row {report.broken_at}: {report.reason} ({report.checked} row(s) verified before it)"
            )
        self.stdout.write(f"decision log intact: {report.checked} row(s) verified")
