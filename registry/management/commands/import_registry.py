"""Loads an interchange document (DESIGN.md, v1) into the registry, all or nothing."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from registry.jsonload import loads
from registry.services import RegistryValidationError, record_count, registry_submit

PROGRESS_FROM = 50  # records: shorter files finish before a bar would be read


class Command(BaseCommand):
    help = (
        "Import an interchange JSON document (organisations, models, clusters, and the regulator's "
        "designations). Every record is "
        "validated first; if any is invalid nothing is written, every problem is printed as "
        "'path: problem' and the command exits 1. Unchanged records are left alone; a changed "
        "record becomes a new revision."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", help="Path to the JSON document, or - for standard input.")
        parser.add_argument("--no-progress", action="store_true", help="Do not show the progress bar.")
        parser.add_argument("--via", default="import", choices=["import", "demo"], help="Recorded as the submission channel.")

    def handle(self, *args: Any, **options: Any) -> None:
        source = options["file"]
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{source}: cannot read: {exc}") from exc
        try:
            document = loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(f"{source}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
        total = record_count(document)
        show = not options["no_progress"] and total >= PROGRESS_FROM
        with tqdm(total=total, desc="Importing", unit="record", disable=not show, file=self.stderr._out) as bar:
            try:
                # the operator running manage.py is a regulator: the document may carry designations
                result = registry_submit(document, via=options["via"], progress=bar.update, may_designate=True)
            except RegistryValidationError as exc:
                bar.close()
                for problem in exc.problems:
                    self.stderr.write(str(problem))
                raise CommandError(
                    f"{source}: {len(exc.problems)} problem(s); nothing was imported."
                ) from exc
        self.stdout.write(result.summary())
