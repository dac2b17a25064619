"""What each subject owes on a date: `python manage.py obligations [--as-of D] [--subject REF]... [--regime SLUG]...`."""
from __future__ import annotations

import json
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from obligations.services import obligations_as_of
from rules.library_store import published_library
from rules.services.chunks import today
from rules.subjects import SubjectError, resolve_subjects


class Command(BaseCommand):
    help = (
        "The obligations of registry subjects on --as-of (default today), worked out from each subject's "
        "determination of record under the version in force: one object per subject and obligation (one per "
        "occurrence of a recurring or incident-driven one) with its due date, how it was computed, its status "
        "(not_yet_due, due, overdue, fulfilled, fulfilled_late, not_applicable) and the fulfilments recorded "
        "(--format json, DESIGN.md \"Obligations (v1)\") or a table. Nothing is written."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--as-of", help="The date (YYYY-MM-DD); default today.")
        parser.add_argument(
            "--subject", action="append", default=[],
            help="model:ORG/NAME@VERSION, cluster:ORG/NAME or organisation:ORG; repeatable. Default: the whole registry.",
        )
        parser.add_argument("--regime", action="append", default=[], help="A regime slug; repeatable. Default: all.")
        parser.add_argument("--format", choices=["table", "json"], default="table")

    def handle(self, *args: Any, **options: Any) -> None:
        as_of = today()
        if options["as_of"]:
            try:
                as_of = date.fromisoformat(options["as_of"])
            except ValueError:
                raise CommandError(f"--as-of: {options['as_of']!r} is not a date written YYYY-MM-DD that exists") from None
        known = published_library().regimes()
        unknown = [slug for slug in options["regime"] if slug not in known]
        if unknown:
            raise CommandError(f"--regime: unknown regime(s): {', '.join(unknown)}; known: {', '.join(known)}")
        refs = options["subject"] or None
        if refs:
            try:
                resolve_subjects(refs)
            except SubjectError as exc:
                raise CommandError(f"--subject: {exc}") from None
        views = obligations_as_of(as_of=as_of, subject_refs=refs, regimes=options["regime"] or None)
        if options["format"] == "json":
            self.stdout.write(json.dumps([view.as_json() for view in views], indent=2, ensure_ascii=False))
            return
        rows = [("SUBJECT", "REGIME", "OBLIGATION", "OCCURRENCE", "STATUS", "DUE ON", "DUE REASON")]
        for view in views:
            rows.append((view.subject, view.regime, view.obligation, view.occurrence or "—", str(view.status),
                         view.due_on.isoformat() if view.due_on else "—", view.due_reason))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)] + [0]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
