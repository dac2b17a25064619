"""Reports from the command line: audit, registry, changes, export and obligations, written to --out."""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from reports import services
from reports.models import ArtifactStatus
from reports.selectors import ReportInputError


class Command(BaseCommand):
    help = (
        "Write a report. `report audit --subject REF --as-of DATE --format html|pdf --out FILE` "
        "(with the subject's obligations); "
        "`report registry --as-of DATE --format html|pdf|csv|json --out FILE`; "
        "`report changes --run ID --format html|pdf|csv|json --out FILE`; "
        "`report export [--subject REF] [--regime SLUG] [--status STATUS] [--as-of DATE] [--run ID] "
        "--format csv|json --out FILE`; `report obligations --as-of DATE --format html|pdf|csv --out FILE` (the "
        "compliance calendar: every obligation owed as of the date, overdue first, then by month of its due "
        "date, the law quoted once per obligation). Audit, registry and obligations reports read the "
        "determinations recorded as of the date; subjects with none are evaluated and recorded first (the "
        "command says so)."
    )

    def add_arguments(self, parser: Any) -> None:
        kinds = parser.add_subparsers(dest="kind", required=True, metavar="{audit,registry,changes,export,obligations}")

        def common(sub: Any, formats: tuple[str, ...], default: str) -> None:
            sub.add_argument("--format", choices=formats, default=default)
            sub.add_argument("--out", required=True, help="The file to write ('-' for standard output).")
            sub.add_argument("--generated-at", help="The 'generated at' time to print (ISO 8601); default now.")
            sub.add_argument("--store", action="store_true",
                             help="Also keep the report as a stored report (admin and API downloads) with its SHA-256.")

        audit = kinds.add_parser("audit", help="One subject's audit report.")
        audit.add_argument("--subject", required=True, help="model:ORG/NAME@VERSION, cluster:ORG/NAME or organisation:ORG")
        audit.add_argument("--as-of", required=True, help="YYYY-MM-DD")
        common(audit, services.FORMATS["audit"], "html")

        registry = kinds.add_parser("registry", help="The whole registry as of a date.")
        registry.add_argument("--as-of", required=True, help="YYYY-MM-DD")
        common(registry, services.FORMATS["registry"], "html")

        changes = kinds.add_parser("changes", help="The status changes an evaluation run found.")
        changes.add_argument("--run", required=True, help="The evaluation run id.")
        common(changes, services.FORMATS["changes"], "html")

        obligations = kinds.add_parser("obligations", help="The compliance calendar: obligations as of a date.")
        obligations.add_argument("--as-of", required=True, help="YYYY-MM-DD")
        common(obligations, services.FORMATS["obligations"], "html")

        export = kinds.add_parser("export", help="Determinations as CSV or JSON, filtered.")
        for name in ("subject", "regime", "status", "as-of", "run", "organisation"):
            export.add_argument(f"--{name}")
        common(export, services.FORMATS["export"], "csv")

    def handle(self, *args: Any, **options: Any) -> None:
        kind, format = options["kind"], options["format"]
        raw = {key: options.get(key) for key in ("subject", "as_of", "run", "regime", "status", "organisation")
               if options.get(key) not in (None, "")}
        raw["generated_at"] = options.get("generated_at")
        try:
            if options["store"]:
                self._stored(kind, format, raw, options["out"])
            else:
                self._direct(kind, format, raw, options["out"])
        except ReportInputError as exc:
            raise CommandError(str(exc)) from None

    def _direct(self, kind: str, format: str, raw: dict[str, Any], out: str) -> None:
        params = services.report_parameters(kind=kind, format=format, **raw)
        for note in services.record_missing_determinations(kind=kind, params=params):
            self.stderr.write(note)
        self.stderr.write(f"Writing the {kind} report ({format})…")
        digest, size = hashlib.sha256(), 0
        partial = f"{out}.partial"
        target = sys.stdout.buffer if out == "-" else self._open(partial)
        try:
            for chunk in services.report_content(kind=kind, format=format, params=params):
                digest.update(chunk)
                size += len(chunk)
                target.write(chunk)
        except BaseException:
            if out != "-":
                target.close()
                Path(partial).unlink(missing_ok=True)
            raise
        if out != "-":
            target.close()
            os.replace(partial, out)  # a reader never sees half a report
        self.stderr.write(f"Wrote {out}: {size:,} bytes, SHA-256 {digest.hexdigest()}")

    def _stored(self, kind: str, format: str, raw: dict[str, Any], out: str) -> None:
        self.stderr.write(f"Writing the {kind} report ({format})…")
        artifact = services.report_generate(kind=kind, format=format, **raw)
        for note in artifact.notes:
            self.stderr.write(note)
        if artifact.status != ArtifactStatus.DONE:
            raise CommandError(f"report {artifact.pk} failed: {artifact.error}")
        with artifact.file.open("rb") as source:
            if out == "-":
                shutil.copyfileobj(source, sys.stdout.buffer)
            else:
                with self._open(out) as target:
                    shutil.copyfileobj(source, target)
        self.stderr.write(f"Wrote {out}: {artifact.size:,} bytes, SHA-256 {artifact.sha256}; stored as report {artifact.pk}")

    @staticmethod
    def _open(out: str) -> Any:
        path = Path(out)
        if not path.parent.exists():
            raise CommandError(f"--out: the folder {path.parent} does not exist")
        return path.open("wb")
