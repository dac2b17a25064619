"""A refresh of obligation states never overwrites a state with views older than a record it did not
see, whatever the order records and refreshes commit in and whatever the application hosts' clocks
say: it waits for the records being written before it works out its views, and compares times by the
database's clock (`obligations.services._records_settled`, `database_now`). PostgreSQL: concurrent
transactions, each in its own thread and connection."""
from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from obligations import recording, services
from obligations.models import REFRESH_NEXT, ObligationState
from obligations.services import refresh_states
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from tests.obligations.test_refresh_due import FRONTIER, REGIMES, lab, stored, worked_out
from tests.support.concurrency import DEADLINE_S, in_thread, sessions_waiting_on_a_lock

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

DAY = date(2026, 4, 10)
NOTIFICATION = {"subject_ref": FRONTIER, "obligation": "art-52-1-notification"}


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: concurrent transactions, and a clock of the database's own")


@pytest.fixture
def refreshed_lab(monkeypatch):
    """acme's states refreshed as of DAY: Frontier-1's notification overdue, nothing recorded."""
    lab()
    run_execute_inline(run_create(kind=Trigger.SCHEDULE, as_of=DAY, regimes=REGIMES))
    refresh_states(as_of=DAY)
    monkeypatch.setattr(recording, "_today", lambda: DAY)
    assert ObligationState.objects.get(**NOTIFICATION).status == "overdue"


def record_fulfilment() -> None:
    recording.fulfilment_record(subject=FRONTIER, regime="eu-ai-act", obligation="art-52-1-notification",
                                fulfilled_on=DAY, reference="AIO-1", via="api")


def test_a_record_still_being_written_when_a_refresh_starts_is_in_the_refreshs_views(refreshed_lab, monkeypatch):
    """A fulfilment has marked its subject's states but not committed when a refresh starts; it commits,
    and its own refresh fails. The refresh waited for it, so its views hold the fulfilment: the state
    is fulfilled, not left overdue until its next change."""

    def fails(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(recording, "refresh_states", fails)  # the record's own refresh; not the one below
    marked, commit = threading.Event(), threading.Event()

    def record() -> None:
        with transaction.atomic():
            record_fulfilment()  # saved and marked; its own refresh fails, and is logged
            marked.set()
            assert commit.wait(DEADLINE_S)

    recorder, recorded = in_thread(record)
    assert marked.wait(DEADLINE_S)
    refresher, refreshed = in_thread(lambda: refresh_states(as_of=DAY))
    deadline = timezone.now() + timedelta(seconds=DEADLINE_S)
    while not sessions_waiting_on_a_lock():  # the refresh waits for the record
        assert refresher.is_alive() and timezone.now() < deadline, refreshed
    commit.set()
    recorder.join(DEADLINE_S)
    refresher.join(DEADLINE_S)
    assert "error" not in recorded and "error" not in refreshed, (recorded, refreshed)
    assert ObligationState.objects.get(**NOTIFICATION).status == "fulfilled_late"
    assert stored() == worked_out(DAY)


def test_a_state_written_during_a_refresh_is_left_to_the_next_even_by_a_host_whose_clock_is_behind(
        refreshed_lab, monkeypatch):
    """The application host that records a fulfilment (and works out its states) while a refresh works
    out its views has a clock an hour behind. The refresh still finds the state newer than its views,
    leaves it as written and marks it, because both read the database's clock."""
    real_views, real_now, once = services.obligations_as_of, timezone.now, []

    def meanwhile(**kwargs):
        views = real_views(**kwargs)
        if not once:  # once: the record's own refresh comes through here too
            once.append(True)
            monkeypatch.setattr(timezone, "now", lambda: real_now() - timedelta(hours=1))
            try:
                record_fulfilment()
            finally:
                monkeypatch.setattr(timezone, "now", real_now)
        return views

    monkeypatch.setattr(services, "obligations_as_of", meanwhile)
    refresh_states(as_of=DAY)
    notification = ObligationState.objects.get(**NOTIFICATION)
    assert (notification.status, notification.changes_on) == ("fulfilled_late", REFRESH_NEXT)
    monkeypatch.setattr(services, "obligations_as_of", real_views)
    services.refresh_due_states(as_of=DAY)
    assert stored() == worked_out(DAY)
    assert not ObligationState.objects.filter(changes_on=REFRESH_NEXT).exists()


def test_a_refresh_inside_a_callers_transaction_does_not_hold_the_states_table(refreshed_lab):
    """Inside a caller's transaction the wait for records is skipped: a SHARE lock taken there would be
    held to its end, keeping every record waiting, and two such refreshes could deadlock."""
    with transaction.atomic():
        refresh_states(as_of=DAY)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND mode = 'ShareLock' "
                           "AND relation = %s::regclass", [ObligationState._meta.db_table])
            assert cursor.fetchone()[0] == 0


def test_a_refresh_waits_for_records_only_so_long(refreshed_lab, monkeypatch, caplog):
    """A write to the states left open (a stuck request) does not hold the refresh up for good: after
    `RECORDS_SETTLED_TIMEOUT` it goes on, says so, and brings the other subjects up to date."""
    monkeypatch.setattr(services, "RECORDS_SETTLED_TIMEOUT", "200ms")
    held, release = threading.Event(), threading.Event()

    def left_open() -> None:
        with transaction.atomic():
            ObligationState.objects.filter(subject_ref=FRONTIER).update(changes_on=REFRESH_NEXT)
            held.set()
            assert release.wait(DEADLINE_S)

    holder, outcome = in_thread(left_open)
    assert held.wait(DEADLINE_S)
    try:
        other = "model:acme/Frontier-2@1"
        ObligationState.objects.filter(subject_ref=other).delete()
        with caplog.at_level("WARNING", logger="obligations.services"):
            refresh_states(as_of=DAY, subject_refs=[other])
        assert "refreshed without waiting" in caplog.text
        assert {(s.subject_ref, s.status) for s in ObligationState.objects.filter(subject_ref=other)} == {
            (view.subject, str(view.status)) for view in services.obligations_as_of(as_of=DAY, subject_refs=[other])}
        assert ObligationState.objects.filter(subject_ref=other).exists()
    finally:
        release.set()
        holder.join(DEADLINE_S)
    assert "error" not in outcome, outcome
