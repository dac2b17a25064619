"""Evaluate subjects under the law in force on a date; print JSON (DESIGN.md) or a table."""
from __future__ import annotations

import json
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from rules.engine import evaluate_subject
from rules.engine.formatting import format_compared, format_quantity
from rules.engine.subject import Subject
from rules.library_store import published_library
from rules.services import versions_for
from rules.subjects import SubjectError, snapshots_for


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--as-of: {text!r} is not a date written YYYY-MM-DD that exists") from None


class Command(BaseCommand):
    help = (
        "Evaluate registry subjects under each regime's rule version in force on --as-of. "
        "Prints one object per subject and regime (--format json, the DESIGN.md contract) or a table. "
        "Nothing is written unless --record is given (then the evaluations join the decision log). "
        "A subject that did not exist yet on --as-of (a model completed or released later, a cluster "
        "operational later) is not_applicable, unless --hypothetical."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--as-of", required=True, help="The date whose law applies (YYYY-MM-DD).")
        parser.add_argument("--regime", action="append", default=[], help="A regime slug; repeatable. Default: all.")
        parser.add_argument(
            "--subject", action="append", default=[],
            help="model:ORG/NAME@VERSION, cluster:ORG/NAME or organisation:ORG; repeatable. Default: the whole registry.",
        )
        parser.add_argument("--format", choices=["table", "json"], default="table")
        parser.add_argument("--record", action="store_true", help="Record the evaluations in the decision log.")
        parser.add_argument(
            "--hypothetical", action="store_true",
            help="Apply the law of --as-of to each subject as it stands today ('would it have been covered?'), "
                 "counting models and clusters that did not exist yet on that date. A preview: refused with --record.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        as_of = iso_date(options["as_of"])
        hypothetical = options["hypothetical"]
        if hypothetical and options["record"]:
            raise CommandError("--hypothetical: a hypothetical answer is a preview, never a determination of record; "
                               "drop --record")
        library = published_library()
        try:
            versions = versions_for(library, as_of=as_of, regimes=options["regime"] or None)
            snapshots = snapshots_for(options["subject"] or None)
        except (SubjectError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if options["record"]:
            from rules.models.runs import Trigger
            from rules.services import run_create, run_execute_inline

            run = run_create(kind=Trigger.MANUAL, as_of=as_of, regimes=options["regime"] or None,
                             subjects=options["subject"] or None)
            run_execute_inline(run)
            self.stderr.write(f"Recorded run {run.pk}: {run.done} subject(s), {run.changes_count} status change(s).")
        evaluations = []
        for item in snapshots:
            subject = Subject(item.snapshot, as_of=as_of, hypothetical=hypothetical)
            for slug, version in versions.items():
                evaluations.append(evaluate_subject(subject, version=version, regime=slug, as_of=as_of))
        if options["format"] == "json":
            self.stdout.write(json.dumps([e.to_dict() for e in evaluations], indent=2, ensure_ascii=False))
            return
        self._table(evaluations)

    def _table(self, evaluations: list[Any]) -> None:
        rows = [("SUBJECT", "REGIME", "VERSION", "STATUS", "TIER", "DECIDING TEST", "VALUE", "OP", "THRESHOLD")]
        for e in evaluations:
            test = e.deciding_test() or (e.tests[0] if e.tests else None)
            rows.append((
                str(e.subject), e.regime, e.rule_version or "—", e.status, e.tier or "—",
                test.id if test else (e.reason or "—"),
                _compared(test)[0] if test else "—",
                test.operator if test else "",
                _compared(test)[1] if test else "",
            ))
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _compared(test: Any) -> tuple[str, str]:
    """The deciding test's value and threshold, in every digit where four figures would hide the difference."""
    if isinstance(test.threshold, (int, float)) and not isinstance(test.threshold, bool) and test.value is not None:
        return format_compared(test.value, test.threshold)
    return format_quantity(test.value), format_quantity(test.threshold)
