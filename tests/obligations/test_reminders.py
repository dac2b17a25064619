"""Reminders: a lab's members about its obligations due soon, regulators about newly overdue ones;
each obligation occurrence once per kind and recipient, never twice."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts.selectors import organisation_contacts, regulator_contacts
from accounts.services import membership_set
from accounts.tasks import send_obligation_reminders
from obligations.models import Reminder
from obligations.recording import fulfilment_record
from obligations.reminders import reminders_send
from registry.models import Organisation
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from tests.factories import UserFactory, submit_acme_and_rival

pytestmark = pytest.mark.django_db

ACME = "model:acme/Acme-1@1"


def member(username: str, *, role: str, organisation: str | None, email: str | None = None, active: bool = True):
    user = UserFactory(username=username, email=email if email is not None else f"{username}@example.org",
                       is_active=active)
    membership_set(user=user, role=role, organisation=Organisation.objects.get(slug=organisation) if organisation else None)
    return user


@pytest.fixture
def registry(db):
    """acme's model finished training 10 days ago: its Art 52(1) notification is due in 4 days, and
    acme's SB 53 frontier AI framework (due when the threshold was met) fell overdue 10 days ago."""
    today = timezone.localdate()
    submit_acme_and_rival(acme_model={"training_compute_ops": 2e26,
                                      "training_completed_on": (today - timedelta(days=10)).isoformat(),
                                      "released_on": (today + timedelta(days=60)).isoformat()},
                          rival_models=("Rival-1",))
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=today))
    member("ada", role="lab", organisation="acme")
    member("bob", role="lab", organisation="acme", email="Bob@Example.org")
    member("gone", role="lab", organisation="acme", active=False)
    member("nomail", role="lab", organisation="acme", email="")
    member("rita", role="lab", organisation="rival")
    member("reg", role="regulator", organisation=None)
    return today


def sent_to(recipient: str) -> list:
    return [message for message in mail.outbox if recipient in message.to]


def test_contacts_are_the_active_members_with_an_email(registry):
    assert organisation_contacts("acme") == ["Bob@Example.org", "ada@example.org"]
    assert regulator_contacts() == ["reg@example.org"]


def test_labs_hear_of_what_is_due_soon_and_regulators_of_what_fell_overdue(registry, eager_celery):
    result = send_obligation_reminders.delay().get()
    assert result["emails"] == 3
    lab_mail = sent_to("ada@example.org")
    assert len(lab_mail) == 1 and len(sent_to("bob@example.org")) == 1
    body = lab_mail[0].body
    assert "art-52-1-notification" in body and f"due on {(registry + timedelta(days=4)).isoformat()}" in body
    assert "frontier-ai-framework" not in body  # overdue: the regulators are told
    assert sent_to("rita@example.org") == [] and sent_to("gone@example.org") == [] and sent_to("nomail@example.org") == []
    regulator_mail = sent_to("reg@example.org")
    assert len(regulator_mail) == 1
    assert "frontier-ai-framework" in regulator_mail[0].body and "newly overdue" in regulator_mail[0].subject
    assert "art-52-1-notification" not in regulator_mail[0].body
    assert set(Reminder.objects.values_list("recipient", "obligation", "kind")) == {
        ("ada@example.org", "art-52-1-notification", "due_soon"),
        ("bob@example.org", "art-52-1-notification", "due_soon"),
        ("reg@example.org", "frontier-ai-framework", "overdue"),
    }


def test_running_the_job_twice_sends_once(registry, eager_celery):
    send_obligation_reminders.delay().get()
    first = len(mail.outbox)
    again = send_obligation_reminders.delay().get()
    assert first == 3 and len(mail.outbox) == first
    assert again["emails"] == 0 and Reminder.objects.count() == 3


def test_a_new_member_is_reminded_of_what_the_others_were_told_already(registry, eager_celery):
    send_obligation_reminders.delay().get()
    mail.outbox.clear()
    member("cy", role="lab", organisation="acme")
    send_obligation_reminders.delay().get()
    assert [message.to for message in mail.outbox] == [["cy@example.org"]]


def test_a_fulfilled_obligation_is_not_reminded(registry):
    fulfilment_record(subject=ACME, regime="eu-ai-act", obligation="art-52-1-notification", fulfilled_on=registry,
                      reference="AIO-1", via="api")
    sent = reminders_send(as_of=registry, lab_contacts=organisation_contacts, regulator_contacts=regulator_contacts)
    assert sent.by_kind == {"due_soon": 0, "overdue": 1}
    assert sent_to("ada@example.org") == []


def test_an_obligation_is_due_soon_only_within_the_window(registry, settings):
    settings.OBLIGATION_REMINDER_DAYS = 3  # the notification is due in 4 days: not yet
    reminders_send(as_of=registry, lab_contacts=organisation_contacts, regulator_contacts=regulator_contacts)
    assert sent_to("ada@example.org") == []
    later = registry + timedelta(days=1)
    reminders_send(as_of=later, lab_contacts=organisation_contacts, regulator_contacts=regulator_contacts)
    assert len(sent_to("ada@example.org")) == 1


def test_an_email_that_cannot_be_sent_is_not_recorded_as_sent(registry, settings):
    import socket

    with socket.socket() as probe:  # a port on this machine with no mail server behind it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    sent = reminders_send(as_of=registry, lab_contacts=organisation_contacts, regulator_contacts=regulator_contacts)
    assert sent.emails == 0 and sorted(sent.failed) == ["ada@example.org", "bob@example.org", "reg@example.org"]
    assert Reminder.objects.count() == 0
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert reminders_send(as_of=registry, lab_contacts=organisation_contacts,
                          regulator_contacts=regulator_contacts).emails == 3


def test_the_reminders_are_on_the_beat_schedule():
    task = PeriodicTask.objects.get(task="accounts.tasks.send_obligation_reminders")
    assert task.enabled and task.crontab is not None and (task.crontab.hour, task.crontab.minute) == ("6", "0")


def test_the_command_sends_once_and_names_a_bad_date(registry):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = StringIO()
    call_command("send_obligation_reminders", f"--as-of={registry.isoformat()}", stdout=out)
    assert out.getvalue().startswith("3 email(s) sent") and len(mail.outbox) == 3
    call_command("send_obligation_reminders", stdout=StringIO())
    assert len(mail.outbox) == 3
    with pytest.raises(CommandError, match="--as-of: must be a date"):
        call_command("send_obligation_reminders", "--as-of=2026-02-30")
