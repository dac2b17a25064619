"""Sends the obligation reminders now, as the daily scheduled task does."""
from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from obligations.reminders import reminders_send

from ...selectors import organisation_contacts, regulator_contacts


class Command(BaseCommand):
    help = (
        "Email each lab's members about obligations due within OBLIGATION_REMINDER_DAYS days and each regulator "
        "about those newly overdue, as the daily scheduled task does: each obligation occurrence once per "
        "recipient, never twice (running it again sends nothing new). Brings every obligation's state up to "
        "date as of --as-of (default today) first. Exits 1 if an email could not be sent (it is tried again "
        "next time)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--as-of", metavar="DATE", help="The date to remind as of (YYYY-MM-DD); default today.")

    def handle(self, *args: Any, **options: Any) -> None:
        as_of = timezone.now().date()
        if options["as_of"]:
            try:
                as_of = date.fromisoformat(options["as_of"])
            except ValueError:
                raise CommandError(f"--as-of: must be a date as YYYY-MM-DD, got {options['as_of']!r}") from None
        sent = reminders_send(as_of=as_of, lab_contacts=organisation_contacts, regulator_contacts=regulator_contacts)
        self.stdout.write(f"{sent.emails} email(s) sent as of {as_of.isoformat()}: {sent.by_kind['due_soon']} "
                          f"due-soon and {sent.by_kind['overdue']} newly-overdue reminder(s)")
        if sent.failed:
            raise CommandError(f"not sent to {', '.join(sent.failed)}: they are tried again next time")
