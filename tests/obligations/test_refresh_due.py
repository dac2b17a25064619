"""The nightly refresh works out again only the subjects whose obligation states may have changed
(`obligations.services.refresh_due_states`): day after day, with records made, a determination
revised whose run's own refresh never ran, and a new quarter, the stored states are exactly what a
refresh of every subject gives, while on a quiet day the subjects whose states cannot change are left
alone."""
from __future__ import annotations

import importlib
from datetime import date, timedelta

import pytest

from obligations import recording, services
from obligations.models import REFRESH_NEXT, ObligationState, ObligationStatusChange
from obligations.receivers import refresh_after_run
from obligations.services import obligations_as_of, refresh_due_states, refresh_states
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from tests.factories import ModelRecordFactory, OrganisationRecordFactory, submit

pytestmark = pytest.mark.django_db

FRONTIER, SMALL = "model:acme/Frontier-1@1", "model:acme/Small-1@1"
REGIMES = ["eu-ai-act", "us-ca-sb53"]


def lab(*, small_ops: float = 1e22) -> None:
    """acme, a large frontier developer: Frontier-1 (trained by 2026-03-01, released 2026-04-01),
    Frontier-2 (trained by 2026-05-10, released 2026-06-20), Small-1 (`small_ops`) and Small-2 to
    Small-6, below every threshold."""
    submit(organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI")],
           models=[ModelRecordFactory(organisation="acme", name="Frontier-1", training_compute_ops=2e26,
                                      training_completed_on="2026-03-01", released_on="2026-04-01"),
                   ModelRecordFactory(organisation="acme", name="Frontier-2", training_compute_ops=2e26,
                                      training_completed_on="2026-05-10", released_on="2026-06-20"),
                   ModelRecordFactory(organisation="acme", name="Small-1", training_compute_ops=small_ops,
                                      training_completed_on="2026-02-01", released_on="2026-02-15"),
                   *(ModelRecordFactory(organisation="acme", name=f"Small-{n}", training_compute_ops=1e22,
                                        training_completed_on="2026-02-01", released_on="2026-02-15")
                     for n in range(2, 7))])


def stored() -> dict[tuple[str, str, str, str], tuple]:
    return {(s.subject_ref, s.regime, s.obligation, s.occurrence):
            (s.status, s.due_on, s.due_reason, s.determination_id, s.rule_version_label)
            for s in ObligationState.objects.all()}


def worked_out(as_of: date) -> dict[tuple[str, str, str, str], tuple]:
    return {v.key: (str(v.status), v.due_on, v.due_reason, v.determination_id, v.rule_version_label)
            for v in obligations_as_of(as_of=as_of)}


def test_day_after_day_the_states_refreshed_when_due_are_those_of_a_refresh_of_every_subject(monkeypatch):
    lab()
    start = date(2026, 3, 10)
    run_execute_inline(run_create(kind=Trigger.SCHEDULE, as_of=start, regimes=REGIMES))
    refresh_states(as_of=start)
    refreshed: dict[date, set[str] | None] = {}
    real = services.refresh_states

    def spy(*, as_of, subject_refs=None, run=None):
        refreshed[as_of] = None if subject_refs is None else set(subject_refs)
        return real(as_of=as_of, subject_refs=subject_refs, run=run)

    monkeypatch.setattr(services, "refresh_states", spy)
    day = start + timedelta(days=1)
    while day <= date(2026, 7, 20):
        monkeypatch.setattr(recording, "_today", lambda day=day: day)
        if day == date(2026, 4, 15):  # an incident: its report falls due 15 days later
            recording.incident_record(subject=FRONTIER, discovered_on=day, severity="critical", summary="it happened",
                                      via="api")
        if day == date(2026, 5, 5):
            recording.fulfilment_record(subject=FRONTIER, regime="eu-ai-act", obligation="art-52-1-notification",
                                        fulfilled_on=day, reference="AIO-1", via="api")
        if day == date(2026, 5, 20):  # revised: its run's own refresh never runs, the nightly one catches up
            lab(small_ops=3e26)
            run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=day, regimes=REGIMES))
        refresh_due_states(as_of=day)
        assert stored() == worked_out(day), day
        day += timedelta(days=1)
    nights = [start + timedelta(days=n) for n in range(1, (day - start).days)]
    assert None not in refreshed.values()  # never every subject: a few of ten at most
    # the small models' states (below every tier) are never worked out again, Small-1's until its revision
    assert not any(f"model:acme/Small-{n}@1" in refs for refs in refreshed.values() for n in range(2, 7))
    assert not any(SMALL in refs for night, refs in refreshed.items() if night < date(2026, 5, 20))
    assert SMALL in refreshed[date(2026, 5, 20)]
    # Frontier-1's transparency report is "not yet" due until it is deployed: the reason names each date
    assert all(FRONTIER in refreshed[night] for night in nights if night < date(2026, 4, 1))
    # once deployed and its incident recorded, whole weeks go by with no subject worked out again
    assert sum(1 for night in nights if night not in refreshed) >= 14
    # the first day of the third quarter brings the organisation's new occurrence
    assert "organisation:acme" in refreshed[date(2026, 7, 1)]
    assert ObligationState.objects.filter(subject_ref="organisation:acme", occurrence="2026-Q3").exists()


def test_a_record_marks_its_subjects_states_so_a_failed_refresh_is_caught_up_nightly(monkeypatch):
    lab()
    day = date(2026, 4, 10)
    run_execute_inline(run_create(kind=Trigger.SCHEDULE, as_of=day, regimes=REGIMES))
    refresh_states(as_of=day)
    monkeypatch.setattr(recording, "_today", lambda: day)

    def fails(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(recording, "refresh_states", fails)
    recording.fulfilment_record(subject=FRONTIER, regime="eu-ai-act", obligation="art-52-1-notification",
                                fulfilled_on=day, reference="AIO-1", via="api")
    notification = ObligationState.objects.get(subject_ref=FRONTIER, obligation="art-52-1-notification")
    assert notification.status == "overdue"  # not refreshed: the record's refresh failed
    assert set(ObligationState.objects.filter(changes_on=REFRESH_NEXT).values_list("subject_ref", flat=True)) == {FRONTIER}
    refresh_due_states(as_of=day)
    notification.refresh_from_db()
    assert notification.status == "fulfilled_late"
    assert not ObligationState.objects.filter(changes_on=REFRESH_NEXT).exists()


def test_the_nightly_runs_finish_leaves_alone_the_subjects_whose_states_cannot_have_changed(
        django_capture_on_commit_callbacks, monkeypatch):
    from rules.services import chunks

    lab()
    monkeypatch.setattr(chunks, "today", lambda: date(2026, 4, 10))
    with django_capture_on_commit_callbacks(execute=True):
        run_execute_inline(run_create(kind=Trigger.SCHEDULE, as_of=date(2026, 4, 10), regimes=REGIMES))
    small = ObligationState.objects.filter(subject_ref=SMALL)
    assert small.exists() and not small.exclude(status="not_applicable").exists()
    assert not small.filter(changes_on__isnull=False).exists()  # the date alone never changes them
    before = dict(small.values_list("pk", "updated_at"))
    monkeypatch.setattr(chunks, "today", lambda: date(2026, 4, 11))
    with django_capture_on_commit_callbacks(execute=True):
        run = run_execute_inline(run_create(kind=Trigger.SCHEDULE, as_of=date(2026, 4, 11), regimes=REGIMES))
    assert run.changes_count == 0
    assert dict(small.values_list("pk", "updated_at")) == before
    # Frontier-1's incident report, with no incident recorded, is worked out again each day (the reason
    # names the date)
    report = ObligationState.objects.get(subject_ref=FRONTIER, obligation="critical-safety-incident-report")
    assert "none recorded as of 2026-04-11" in report.due_reason and report.as_of == date(2026, 4, 11)
    assert refresh_after_run(run_id=run.pk) == 0
    assert not ObligationStatusChange.objects.filter(run=run).exists()


def test_a_refresh_works_out_and_writes_the_states_with_the_cyclic_collector_held_off_and_resumed_after(
        monkeypatch):
    """A first refresh after a full run works out and writes a state for every subject's every obligation
    (half a million at N = 100,000): collections would walk them all, again and again."""
    import gc

    lab()
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=date(2026, 4, 10), regimes=REGIMES))
    seen: list[tuple[str, bool]] = []
    for name in ("occurrences", "create_rows"):
        real = getattr(services, name)

        def watched(*args, real=real, name=name, **kwargs):
            seen.append((name, gc.isenabled()))
            return real(*args, **kwargs)

        monkeypatch.setattr(services, name, watched)
    assert gc.isenabled()
    assert refresh_states(as_of=date(2026, 4, 10)) > 0
    assert {name for name, _ in seen} == {"occurrences", "create_rows"}
    assert not any(enabled for _, enabled in seen) and gc.isenabled()
    seen.clear()
    gc.disable()
    try:  # a caller that paused it keeps it paused
        obligations_as_of(as_of=date(2026, 4, 10))
        assert seen and not any(enabled for _, enabled in seen) and not gc.isenabled()
    finally:
        gc.enable()


def test_states_worked_out_for_a_later_day_are_all_worked_out_again_for_an_earlier_one():
    lab()
    run_execute_inline(run_create(kind=Trigger.SCHEDULE, as_of=date(2026, 3, 10), regimes=REGIMES))
    refresh_states(as_of=date(2026, 3, 20))  # the notification is overdue on the 20th
    refresh_due_states(as_of=date(2026, 3, 12))
    assert stored() == worked_out(date(2026, 3, 12))
    assert ObligationState.objects.get(subject_ref=FRONTIER, obligation="art-52-1-notification").status == "due"


@pytest.mark.parametrize(("snapshot", "as_of", "changes_on"), [
    # a designation of the regime decided later (another regime's, or a kind lifting a presumption, is not read)
    ({"kind": "model", "model": {"training_completed_on": "2026-01-05"},
      "designations": [{"regime": "eu-ai-act", "kind": "systemic-risk-designation", "decided_on": "2026-05-01"},
                       {"regime": "us-ca-sb53", "kind": "covered-frontier-model", "decided_on": "2026-04-20"},
                       {"regime": "eu-ai-act", "kind": "presumption-rebutted", "decided_on": "2026-04-10"}]},
     date(2026, 4, 1), date(2026, 5, 1)),
    ({"kind": "model", "designations": [{"regime": "eu-ai-act", "kind": "systemic-risk-designation",
                                         "decided_on": "2026-05-01"}]}, date(2026, 5, 1), None),
    # an organisation whose first model comes into existence later
    ({"kind": "organisation", "organisation": {"slug": "acme"},
      "models": [{"model": {"name": "B", "version": "1", "released_on": "2026-07-01"}},
                 {"model": {"name": "A", "version": "1", "training_completed_on": "2026-06-01"}}]},
     date(2026, 5, 1), date(2026, 6, 1)),
])
def test_a_subjects_dated_facts_change_on_the_day_named(snapshot, as_of, changes_on):
    assert services.dated_facts_change(snapshot, regime="eu-ai-act", as_of=as_of) == changes_on
    facts = [services.dated_facts(snapshot, regime="eu-ai-act", as_of=as_of + timedelta(days=n)) for n in range(120)]
    first = next((n for n, found in enumerate(facts) if found != facts[0]), None)
    assert (as_of + timedelta(days=first) if first is not None else None) == changes_on


@pytest.mark.django_db(transaction=True)
def test_the_states_stored_before_the_migration_are_worked_out_again_at_the_next_refresh():
    from tests.rules.conftest import migrated

    lab()
    run_execute_inline(run_create(kind=Trigger.SCHEDULE, as_of=date(2026, 4, 10), regimes=REGIMES))
    refresh_states(as_of=date(2026, 4, 10))
    expected = stored()
    migrated([("obligations", "0004_lists_read_in_order")])
    migrated()
    assert set(ObligationState.objects.values_list("changes_on", flat=True)) == {REFRESH_NEXT}
    assert stored() == expected
    assert refresh_due_states(as_of=date(2026, 4, 10)) == 0  # no status changed
    assert not ObligationState.objects.filter(changes_on=REFRESH_NEXT).exists()
    assert ObligationState.objects.filter(changes_on__isnull=False).exists()
    assert stored() == expected


def test_a_state_written_while_a_refresh_worked_out_its_views_is_left_to_the_next_refresh(monkeypatch):
    """A long refresh (every subject, after a first run) works out its views before it locks the states.
    A fulfilment recorded meanwhile, its own refresh done first, is not overwritten by the older view;
    the state is marked, and the next refresh works it out again."""
    lab()
    day = date(2026, 4, 10)
    run_execute_inline(run_create(kind=Trigger.SCHEDULE, as_of=day, regimes=REGIMES))
    refresh_states(as_of=day)
    monkeypatch.setattr(recording, "_today", lambda: day)
    real, raced = services.obligations_as_of, []

    def meanwhile(**kwargs):
        views = real(**kwargs)
        if not raced:  # once: the record's own refresh comes through here too
            raced.append(day)
            recording.fulfilment_record(subject=FRONTIER, regime="eu-ai-act", obligation="art-52-1-notification",
                                        fulfilled_on=day, reference="AIO-1", via="api")
        return views

    monkeypatch.setattr(services, "obligations_as_of", meanwhile)
    refresh_states(as_of=day)
    notification = ObligationState.objects.get(subject_ref=FRONTIER, obligation="art-52-1-notification")
    assert (notification.status, notification.changes_on) == ("fulfilled_late", REFRESH_NEXT)
    others = ObligationState.objects.exclude(subject_ref=FRONTIER)
    assert others.exists() and not others.filter(changes_on=REFRESH_NEXT).exists()
    monkeypatch.setattr(services, "obligations_as_of", real)
    refresh_due_states(as_of=day)
    assert stored() == worked_out(day)
    assert not ObligationState.objects.filter(changes_on=REFRESH_NEXT).exists()


@pytest.mark.django_db(transaction=True)
def test_the_slug_indexes_nothing_reads_are_dropped_and_made_again_going_back():
    """Migration 0006 drops the slugs' own indexes (and PostgreSQL's pattern indexes beside them) by
    name, leaving the states and status changes as they were; going back makes them again."""
    from django.db import connection

    from tests.rules.conftest import migrated

    names = importlib.import_module("obligations.migrations.0006_slugs_found_through_the_listing_indexes").INDEXES

    def indexes() -> set[str]:
        with connection.cursor() as cursor:
            return {name for table in ("obligations_obligationstate", "obligations_obligationstatuschange")
                    for name in connection.introspection.get_constraints(cursor, table)}

    lab()
    run_execute_inline(run_create(kind=Trigger.SCHEDULE, as_of=date(2026, 4, 10), regimes=REGIMES))
    refresh_states(as_of=date(2026, 4, 10))
    expected, changes = stored(), ObligationStatusChange.objects.count()
    assert changes and not indexes() & {name for *_, name in names}
    migrated([("obligations", "0005_state_changes_on")])
    assert {name for *_, name in names} <= indexes()
    assert ({f"{name}_like" for *_, name in names} <= indexes()) == (connection.vendor == "postgresql")
    migrated()
    assert not indexes() & ({name for *_, name in names} | {f"{name}_like" for *_, name in names})
    assert {"obligation_state_org_status", "obligation_state_regime", "obligation_state_listed"} <= indexes()
    assert stored() == expected and ObligationStatusChange.objects.count() == changes
