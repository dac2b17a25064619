"""Scheduled work that needs to know who people are: the obligation reminders, sent to each lab's
members and to the regulators (obligations.reminders decides what to remind of)."""
from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from obligations.reminders import reminders_send

from .selectors import organisation_contacts, regulator_contacts


@shared_task(name="accounts.tasks.send_obligation_reminders", autoretry_for=(OperationalError, InterfaceError),
             retry_backoff=2, retry_backoff_max=120, max_retries=20)
def send_obligation_reminders() -> dict[str, Any]:
    """Emails each lab about its obligations due soon and each regulator about newly overdue ones,
    each once; returns what was sent."""
    sent = reminders_send(as_of=timezone.now().date(), lab_contacts=organisation_contacts,
                          regulator_contacts=regulator_contacts)
    return {"emails": sent.emails, "reminders": sent.reminders, **sent.by_kind, "failed": sent.failed}
