"""Reminders by email: each lab's contacts about its obligations due within the reminder window
(OBLIGATION_REMINDER_DAYS, 14 days), each regulator about obligations newly overdue (fallen overdue
within that window). Each obligation occurrence is reminded once per kind and recipient, never twice
(the Reminder rows, unique on exactly that); one email per recipient lists what is new for them.

Who the contacts are is the accounts app's knowledge (it sits above this app): the scheduled task
(accounts.tasks.send_obligation_reminders) passes them in.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction

from rules.engine.vocabulary import ObligationStatus, obligation_status_label

from .models import ObligationState, Reminder, ReminderKind
from .services import refresh_due_states

log = logging.getLogger(__name__)


@dataclass
class RemindersSent:
    emails: int = 0
    reminders: int = 0
    failed: list[str] = field(default_factory=list)  # recipients whose email could not be sent: tried again next run
    by_kind: dict[str, int] = field(default_factory=lambda: {kind: 0 for kind in ReminderKind.values})


def due_soon(*, as_of: date, days: int) -> list[ObligationState]:
    """Obligations not yet met whose due date is within `days` from `as_of` (inclusive)."""
    return list(ObligationState.objects.filter(
        status__in=[ObligationStatus.DUE, ObligationStatus.NOT_YET_DUE],
        due_on__gte=as_of, due_on__lte=as_of + timedelta(days=days)))


def newly_overdue(*, as_of: date, days: int) -> list[ObligationState]:
    """Obligations overdue on `as_of` whose due date passed within the last `days` days."""
    return list(ObligationState.objects.filter(
        status=ObligationStatus.OVERDUE, due_on__gte=as_of - timedelta(days=days), due_on__lt=as_of))


def _line(state: ObligationState, kind: str) -> str:
    occurrence = f" ({state.occurrence})" if state.occurrence else ""
    when = (f"due on {state.due_on.isoformat()}" if kind == ReminderKind.DUE_SOON
            else f"was due on {state.due_on.isoformat()}")
    return (f"- {state.subject_ref}: {state.regime} {state.obligation}{occurrence}, {state.title} "
            f"[{state.citation}]: {when}, {obligation_status_label(state.status)}. {state.due_reason}")


def _message(recipient: str, items: list[tuple[str, ObligationState]], as_of: date, days: int) -> EmailMessage:
    soon = [state for kind, state in items if kind == ReminderKind.DUE_SOON]
    late = [state for kind, state in items if kind == ReminderKind.OVERDUE]
    parts, sections = [], []
    if soon:
        parts.append(f"{len(soon)} due within {days} days")
        sections.append(f"Due within {days} days of {as_of.isoformat()}:\n" + "\n".join(
            _line(state, ReminderKind.DUE_SOON) for state in soon))
    if late:
        parts.append(f"{len(late)} newly overdue")
        sections.append(f"Newly overdue on {as_of.isoformat()} (no standing fulfilment):\n" + "\n".join(
            _line(state, ReminderKind.OVERDUE) for state in late))
    body = "\n\n".join(sections) + (
        "\n\nA fulfilment is recorded through the API (POST /api/v1/fulfilments/), the workspace or "
        "`manage.py fulfil`.\n")
    return EmailMessage(subject=f"Compute Threshold Registry: obligations {', '.join(parts)}", body=body,
                        from_email=settings.DEFAULT_FROM_EMAIL, to=[recipient])


def _send(recipient: str, items: list[tuple[str, ObligationState]], as_of: date, days: int) -> list[tuple[str, ObligationState]]:
    """Records a reminder for each item not yet reminded to `recipient` and sends them in one email, in
    one transaction: if the email cannot be sent, nothing is recorded and the next run tries again."""
    with transaction.atomic():
        new = []
        for kind, state in items:
            try:
                with transaction.atomic():
                    _, created = Reminder.objects.get_or_create(
                        subject_ref=state.subject_ref, regime=state.regime, obligation=state.obligation,
                        occurrence=state.occurrence, kind=kind, recipient=recipient,
                        defaults={"due_on": state.due_on})
            except IntegrityError:  # a concurrent run recorded it first: it sends that reminder
                created = False
            if created:
                new.append((kind, state))
        if new:
            _message(recipient, new, as_of, days).send(fail_silently=False)
    return new


def reminders_send(*, as_of: date, lab_contacts: Callable[[str], Iterable[str]],
                   regulator_contacts: Callable[[], Iterable[str]], days: int | None = None) -> RemindersSent:
    """Brings every obligation's state up to `as_of`, then emails what is due soon to each lab's
    contacts (`lab_contacts(organisation_slug)`) and what is newly overdue to each regulator."""
    days = settings.OBLIGATION_REMINDER_DAYS if days is None else days
    refresh_due_states(as_of=as_of)
    plan: dict[str, list[tuple[str, ObligationState]]] = defaultdict(list)
    contacts: dict[str, list[str]] = {}
    for state in due_soon(as_of=as_of, days=days):
        if state.organisation not in contacts:
            contacts[state.organisation] = sorted({e.strip().lower() for e in lab_contacts(state.organisation) if e.strip()})
        for recipient in contacts[state.organisation]:
            plan[recipient].append((ReminderKind.DUE_SOON, state))
    regulators = sorted({e.strip().lower() for e in regulator_contacts() if e.strip()})
    for state in newly_overdue(as_of=as_of, days=days):
        for recipient in regulators:
            plan[recipient].append((ReminderKind.OVERDUE, state))
    sent = RemindersSent()
    for recipient in sorted(plan):
        try:
            new = _send(recipient, plan[recipient], as_of, days)
        except Exception:  # the others' reminders go out; this one's are not recorded, so the next run retries
            log.exception("obligation reminders to %s not sent", recipient)
            sent.failed.append(recipient)
            continue
        if new:
            sent.emails += 1
            sent.reminders += len(new)
            for kind, _state in new:
                sent.by_kind[kind] += 1
    return sent
