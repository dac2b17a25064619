"""Records an incident a lab discovered, as a lab does through the API."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from obligations.models import IncidentSeverity
from obligations.recording import ObligationRecordError, incident_record

OPTION_OF = {"subject": "--subject", "discovered_on": "--discovered-on", "severity": "--severity",
             "summary": "--summary", "reference": "--reference"}


class Command(BaseCommand):
    help = (
        "Record an incident: the subject, the date it was discovered (never after today), its severity and a "
        "summary. Incident reports fall due from the date discovered; a fulfilment of one names the incident as "
        "--occurrence incident-<id> (the id printed here). On bad input nothing is recorded, each problem is "
        "printed naming its option, and the command exits 1."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--subject", required=True, help="model:ORG/NAME@VERSION, cluster:ORG/NAME or organisation:ORG.")
        parser.add_argument("--discovered-on", required=True, metavar="DATE", help="The date it was discovered (YYYY-MM-DD).")
        parser.add_argument("--severity", required=True, help=f"One of {', '.join(IncidentSeverity.values)}.")
        parser.add_argument("--summary", required=True, help="What happened, in a sentence or two.")
        parser.add_argument("--reference", default="", help="The lab's own reference for it.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            row = incident_record(subject=options["subject"], discovered_on=options["discovered_on"],
                                  severity=options["severity"], summary=options["summary"],
                                  reference=options["reference"], actor=None, via="import")
        except ObligationRecordError as exc:
            named = "; ".join(f"{OPTION_OF.get(p.path, p.path)}: {p.message}" for p in exc.problems)
            raise CommandError(f"{named}. Nothing was recorded.") from exc
        self.stdout.write(f"Incident {row.pk} recorded: {row.subject_ref}, {row.get_severity_display().lower()} "
                          f"discovered on {row.discovered_on.isoformat()} (occurrence incident-{row.pk})")
