"""Records that a subject met one of its obligations, as a lab does through the API."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from obligations.recording import Document, ObligationRecordError, fulfilment_record

OPTION_OF = {"subject": "--subject", "regime": "--regime", "obligation": "--obligation", "occurrence": "--occurrence",
             "fulfilled_on": "--on", "reference": "--reference", "document": "--document"}


class Command(BaseCommand):
    help = (
        "Record a fulfilment of an obligation: the subject met it on a date, under a reference, optionally with "
        "a copy of the filing (kept under MEDIA_ROOT with its SHA-256). The obligation must be one the regime "
        "declares; a recurring obligation names its period (--occurrence 2027-Q1), an incident report the "
        "incident (--occurrence incident-<id>). The date is never after today. On bad input nothing is "
        "recorded, each problem is printed naming its option, and the command exits 1."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--subject", required=True, help="model:ORG/NAME@VERSION, cluster:ORG/NAME or organisation:ORG.")
        parser.add_argument("--regime", required=True, help="The regime's slug, e.g. eu-ai-act.")
        parser.add_argument("--obligation", required=True, help="The obligation's id, e.g. art-52-1-notification.")
        parser.add_argument("--on", required=True, metavar="DATE", help="The date it was met (YYYY-MM-DD).")
        parser.add_argument("--reference", required=True, help="The filing's reference, e.g. a submission number.")
        parser.add_argument("--occurrence", default="", help="The period (2027-Q1) or incident (incident-<id>) it is for.")
        parser.add_argument("--document", metavar="PATH", help="A file to keep with the fulfilment.")

    def handle(self, *args: Any, **options: Any) -> None:
        document = None
        if options["document"]:
            path = Path(options["document"])
            try:
                stream = path.open("rb")
            except OSError as exc:
                raise CommandError(f"--document: cannot read {path}: {exc.strerror or exc}") from exc
            document = Document(name=path.name, stream=stream)
        try:
            row = fulfilment_record(
                subject=options["subject"], regime=options["regime"], obligation=options["obligation"],
                occurrence=options["occurrence"], fulfilled_on=options["on"], reference=options["reference"],
                document=document, actor=None, via="import",
            )
        except ObligationRecordError as exc:
            named = "; ".join(f"{OPTION_OF.get(p.path, p.path)}: {p.message}" for p in exc.problems)
            raise CommandError(f"{named}. Nothing was recorded.") from exc
        finally:
            if document is not None:
                document.stream.close()
        occurrence = f" ({row.occurrence})" if row.occurrence else ""
        kept = f"; document {row.document_name} sha256 {row.document_sha256}" if row.document_sha256 else ""
        self.stdout.write(f"Fulfilment {row.pk} recorded: {row.subject_ref} {row.regime}:{row.obligation}{occurrence} "
                          f"met on {row.fulfilled_on.isoformat()}, reference {row.reference}{kept}")
