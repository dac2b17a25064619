"""Obligations worked out from the decision log: due dates from the subject's dated facts, statuses on
both sides of each due date, fulfilments and their reviews, and the stored states with their changes."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from obligations.models import (
    Fulfilment,
    FulfilmentReview,
    Incident,
    ObligationState,
    ObligationStatusChange,
)
from obligations.services import declared_obligations, obligations_as_of, refresh_states
from registry.models import AIModel, Organisation
from rules.models import Determination
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from tests.factories import ModelRecordFactory, OrganisationRecordFactory, submit

pytestmark = pytest.mark.django_db

MODEL = "model:acme/Frontier-1@1"


def evaluate(as_of: date, *, regimes=("eu-ai-act", "us-ca-sb53"), kind=Trigger.MANUAL):
    return run_execute_inline(run_create(kind=kind, as_of=as_of, regimes=list(regimes)))


def frontier(**fields) -> None:
    """acme (revenue above $500M in 2025) with Frontier-1: 2e26 ops, trained by 2026-03-01, released 2026-04-01."""
    record = {"training_compute_ops": 2e26, "training_completed_on": "2026-03-01", "released_on": "2026-04-01",
              **fields}
    submit(organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI")],
           models=[ModelRecordFactory(organisation="acme", name="Frontier-1", **record)])


def one(as_of: date, obligation: str, *, subject: str = MODEL, occurrence: str = ""):
    found = [v for v in obligations_as_of(as_of=as_of, subject_refs=[subject])
             if v.obligation == obligation and v.occurrence == occurrence]
    assert len(found) == 1, [(v.obligation, v.occurrence) for v in obligations_as_of(as_of=as_of, subject_refs=[subject])]
    return found[0]


def record(model_ref: str = MODEL, **fields):
    org = Organisation.objects.get(slug="acme")
    name, version = model_ref.split("/")[1].split("@")
    model = AIModel.objects.get(organisation=org, name=name, version=version)
    return dict(organisation=org, subject_kind="model", model=model, recorded_via="import", **fields)


def fulfil(obligation: str, on: date, *, regime="eu-ai-act", occurrence="", decision=None):
    fulfilment = Fulfilment.objects.create(**record(regime=regime, obligation=obligation, occurrence=occurrence,
                                                    fulfilled_on=on, reference=f"REF-{on}"))
    if decision:
        FulfilmentReview.objects.create(fulfilment=fulfilment, decision=decision, reason="checked", reviewed_via="import")
    return fulfilment


@pytest.mark.parametrize(("as_of", "status"), [
    (date(2026, 3, 14), "due"), (date(2026, 3, 15), "due"), (date(2026, 3, 16), "overdue"),
])
def test_art_52_1_notification_is_due_14_days_after_the_threshold_is_met(as_of, status):
    frontier()
    evaluate(date(2026, 3, 1))
    view = one(as_of, "art-52-1-notification")
    assert (view.due_on, view.status) == (date(2026, 3, 15), status)
    assert view.due_reason == "14 days after the threshold was met on 2026-03-01 (training completed)"
    assert view.determination_id is not None and view.rule_version_label == "2025-08-02"
    assert view.citation.startswith("Reg. (EU) 2024/1689, Art 52(1)") and "two weeks" in view.quote


def test_a_model_that_did_not_exist_yet_owes_nothing_not_applicable():
    frontier()
    evaluate(date(2026, 2, 28))
    view = one(date(2026, 2, 28), "art-55-systemic-risk-obligations")
    assert (view.status, view.due_on) == ("not_applicable", None)
    assert view.due_reason == "the determination (not_applicable, no tier) does not reach the tier gpai-systemic-risk"
    assert one(date(2026, 2, 28), "art-52-1-notification").due_reason == (
        "the determination (not_applicable) does not meet the test systemic-risk-presumption")


def test_a_model_below_the_tier_has_the_obligation_not_applicable_and_the_lower_tier_one_applies():
    frontier(training_compute_ops=5e24)
    evaluate(date(2026, 5, 1))
    assert one(date(2026, 5, 1), "art-55-systemic-risk-obligations").status == "not_applicable"
    art53 = one(date(2026, 5, 1), "art-53-provider-obligations")
    assert (art53.status, art53.due_on) == ("overdue", date(2026, 4, 1))


@pytest.mark.parametrize(("as_of", "status", "due_on"), [
    (date(2026, 3, 31), "not_yet_due", None), (date(2026, 4, 1), "due", date(2026, 4, 1)),
    (date(2026, 4, 2), "overdue", date(2026, 4, 1)),
])
def test_the_transparency_report_is_due_when_the_model_is_deployed(as_of, status, due_on):
    frontier()
    evaluate(date(2026, 3, 1))
    view = one(as_of, "transparency-report")
    assert (view.status, view.due_on) == (status, due_on)


def test_a_model_placed_on_the_market_before_2025_08_02_complies_by_2027_08_02():
    frontier(training_completed_on="2024-06-01", released_on="2024-07-23")
    evaluate(date(2026, 3, 1))
    for obligation in ("art-52-1-notification", "art-53-provider-obligations", "art-55-systemic-risk-obligations"):
        assert (one(date(2027, 8, 2), obligation).status, one(date(2027, 8, 2), obligation).due_on) == (
            "due", date(2027, 8, 2))
        assert one(date(2027, 8, 3), obligation).status == "overdue"
    assert "placed on the market before 2025-08-02" in one(date(2027, 8, 3), "art-53-provider-obligations").due_reason


@pytest.mark.parametrize(("fulfilments", "status"), [
    ([(date(2026, 3, 10), None)], "fulfilled"),
    ([(date(2026, 3, 15), "accepted")], "fulfilled"),
    ([(date(2026, 3, 20), None)], "fulfilled_late"),
    ([(date(2026, 3, 10), "rejected")], "overdue"),
    ([(date(2026, 3, 10), "rejected"), (date(2026, 3, 25), "accepted")], "fulfilled_late"),
])
def test_a_standing_fulfilment_fulfils_and_a_rejected_one_counts_for_nothing(fulfilments, status):
    frontier()
    evaluate(date(2026, 3, 1))
    for on, decision in fulfilments:
        fulfil("art-52-1-notification", on, decision=decision)
    view = one(date(2026, 4, 1), "art-52-1-notification")
    assert view.status == status
    assert [(f.fulfilled_on, f.accepted) for f in view.fulfilments] == [
        (on, None if d is None else d == "accepted") for on, d in fulfilments]


def test_a_fulfilment_dated_after_the_as_of_date_does_not_count_yet():
    frontier()
    evaluate(date(2026, 3, 1))
    fulfil("art-52-1-notification", date(2026, 3, 20))
    assert one(date(2026, 3, 16), "art-52-1-notification").status == "overdue"


@pytest.mark.parametrize(("severity", "discovered", "as_of", "status", "due_on"), [
    ("critical", date(2026, 5, 1), date(2026, 5, 16), "due", date(2026, 5, 16)),
    ("critical", date(2026, 5, 1), date(2026, 5, 17), "overdue", date(2026, 5, 16)),
    ("imminent_risk", date(2026, 5, 1), date(2026, 5, 2), "due", date(2026, 5, 2)),
    ("imminent_risk", date(2026, 5, 1), date(2026, 5, 3), "overdue", date(2026, 5, 2)),
])
def test_a_critical_safety_incident_report_is_due_15_days_or_24_hours_after_discovery(
        severity, discovered, as_of, status, due_on):
    frontier()
    evaluate(date(2026, 3, 1))
    incident = Incident.objects.create(**record(discovered_on=discovered, severity=severity, summary="it happened"))
    view = one(as_of, "critical-safety-incident-report", occurrence=f"incident-{incident.pk}")
    assert (view.status, view.due_on) == (status, due_on)
    assert f"discovered on {discovered}" in view.due_reason


def test_without_an_incident_the_incident_report_is_not_yet_due():
    frontier()
    evaluate(date(2026, 3, 1))
    view = one(date(2026, 6, 1), "critical-safety-incident-report")
    assert (view.status, view.due_on) == ("not_yet_due", None)


def test_the_internal_use_summary_has_one_occurrence_per_quarter_for_a_large_frontier_developer():
    frontier()
    evaluate(date(2026, 5, 1))
    views = [v for v in obligations_as_of(as_of=date(2026, 5, 1), subject_refs=["organisation:acme"])
             if v.obligation == "internal-use-risk-summary"]
    assert [(v.occurrence, v.due_on, v.status) for v in views] == [
        ("2026-Q1", date(2026, 3, 31), "overdue"), ("2026-Q2", date(2026, 6, 30), "due")]
    fulfil_org = Fulfilment.objects.create(
        organisation=Organisation.objects.get(slug="acme"), subject_kind="organisation", recorded_via="import",
        regime="us-ca-sb53", obligation="internal-use-risk-summary", occurrence="2026-Q1",
        fulfilled_on=date(2026, 3, 31), reference="OES-1")
    views = {v.occurrence: v for v in obligations_as_of(as_of=date(2026, 5, 1), subject_refs=["organisation:acme"])
             if v.obligation == "internal-use-risk-summary"}
    assert views["2026-Q1"].status == "fulfilled" and views["2026-Q1"].fulfilments[0].id == fulfil_org.pk
    assert views["2026-Q2"].status == "due"


def test_refresh_states_records_each_change_of_status_and_only_changes():
    frontier()
    evaluate(date(2026, 3, 1))
    assert refresh_states(as_of=date(2026, 3, 15), subject_refs=[MODEL]) > 0
    state = ObligationState.objects.get(subject_ref=MODEL, regime="eu-ai-act", obligation="art-52-1-notification")
    assert (state.status, state.due_on, state.determination_id is not None) == ("due", date(2026, 3, 15), True)
    assert refresh_states(as_of=date(2026, 3, 15), subject_refs=[MODEL]) == 0
    refresh_states(as_of=date(2026, 3, 16), subject_refs=[MODEL])
    state.refresh_from_db()
    assert state.status == "overdue"
    change = ObligationStatusChange.objects.filter(obligation="art-52-1-notification").order_by("pk").last()
    assert (change.from_status, change.to_status, change.as_of) == ("due", "overdue", date(2026, 3, 16))


def test_states_rewritten_in_batches_read_back_as_written(monkeypatch):
    """A refresh rewrites the states that changed by key, in batches (`rules.bulk_write.update_rows`):
    every kind of column reads back as it was set, and the rows not named are left alone."""
    from rules import bulk_write

    frontier()
    evaluate(date(2026, 3, 1))
    refresh_states(as_of=date(2026, 3, 15), subject_refs=[MODEL])
    states = list(ObligationState.objects.order_by("pk"))
    assert len(states) >= 4
    untouched = states.pop()
    monkeypatch.setattr(bulk_write, "UPDATE_BATCH", 2)
    now = timezone.now()
    for index, state in enumerate(states):
        state.status = "overdue" if index % 2 else "fulfilled"
        state.due_on = None if index % 2 else date(2027, 1, index + 1)
        state.due_reason = f"reason {index}: \u2018quoted\u2019, 50% done"
        state.updated_at = now + timedelta(seconds=index)
    fields = ("status", "due_on", "due_reason", "updated_at")
    bulk_write.update_rows(ObligationState, states, fields)
    read = {state.pk: state for state in ObligationState.objects.all()}
    assert [tuple(getattr(read[s.pk], f) for f in fields) for s in states] == [
        tuple(getattr(s, f) for f in fields) for s in states]
    assert tuple(getattr(read[untouched.pk], f) for f in fields) == tuple(getattr(untouched, f) for f in fields)


def test_states_and_changes_created_by_a_refresh_read_back_with_every_value():
    """A first refresh writes its states and changes with `rules.bulk_write.create_rows` (COPY on
    PostgreSQL): each column reads back as the ORM would have stored it."""
    frontier()
    run = evaluate(date(2026, 3, 1))
    before = timezone.now()
    changed = refresh_states(as_of=date(2026, 3, 16), subject_refs=[MODEL], run=run)
    views = {(v.regime, v.obligation, v.occurrence): v for v in obligations_as_of(as_of=date(2026, 3, 16),
                                                                                 subject_refs=[MODEL])}
    states = list(ObligationState.objects.filter(subject_ref=MODEL))
    assert len(states) == len(views) >= 4
    for state in states:
        view = views[(state.regime, state.obligation, state.occurrence)]
        assert (state.subject_kind, state.organisation, state.title, state.citation, state.rule_version_label,
                state.due_on, state.due_reason, state.status, state.determination_id, state.as_of) == (
            view.subject_kind, view.organisation, view.title[:300], view.citation[:200], view.rule_version_label,
            view.due_on, view.due_reason[:400], str(view.status), view.determination_id, date(2026, 3, 16))
        assert before <= state.updated_at <= timezone.now()
    changes = list(ObligationStatusChange.objects.filter(subject_ref=MODEL))
    assert len(changes) == changed > 0
    for change in changes:
        view = views[(change.regime, change.obligation, change.occurrence)]
        assert (change.organisation, change.from_status, change.to_status, change.due_on, change.as_of,
                change.run_id, change.determination_id) == (
            view.organisation, "", str(view.status), view.due_on, date(2026, 3, 16), run.pk, view.determination_id)
        assert before <= change.recorded_at <= timezone.now()


def test_a_state_created_twice_is_refused_as_the_orm_refuses_it_and_nothing_is_written():
    """Two runs finishing at once may both create a subject's states: the second's write must fail as
    an IntegrityError, which `refresh_after_run` answers by refreshing again (then updating)."""
    from django.db import IntegrityError, transaction

    from rules import bulk_write

    frontier()
    evaluate(date(2026, 3, 1))
    refresh_states(as_of=date(2026, 3, 16), subject_refs=[MODEL])
    stored = ObligationState.objects.filter(subject_ref=MODEL).order_by("pk").first()
    fields = [f for f in ObligationState._meta.concrete_fields if not f.primary_key]
    again = {f.attname: getattr(stored, f.attname) for f in fields}
    fresh = {**again, "obligation": "another-obligation"}
    count = ObligationState.objects.count()
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk_write.create_rows(ObligationState, [fresh, again])
    assert ObligationState.objects.count() == count
    assert not ObligationState.objects.filter(obligation="another-obligation").exists()


def test_a_finished_run_brings_the_states_up_to_date_as_of_today(django_capture_on_commit_callbacks):
    frontier(training_completed_on="2024-06-01", released_on="2024-07-23")
    with django_capture_on_commit_callbacks(execute=True):
        run = evaluate(date(2026, 3, 1))
    state = ObligationState.objects.get(subject_ref=MODEL, obligation="art-53-provider-obligations")
    assert (state.status, state.due_on) == ("due", date(2027, 8, 2))
    assert ObligationStatusChange.objects.filter(run=run, subject_ref=MODEL, from_status="").exists()


def test_the_nightly_run_moves_due_to_overdue_when_no_determination_changed(django_capture_on_commit_callbacks,
                                                                             monkeypatch):
    from rules.services import chunks

    frontier()
    monkeypatch.setattr(chunks, "today", lambda: date(2026, 3, 15))
    with django_capture_on_commit_callbacks(execute=True):
        evaluate(date(2026, 3, 15), kind=Trigger.SCHEDULE)
    state = ObligationState.objects.get(subject_ref=MODEL, obligation="art-52-1-notification")
    assert state.status == "due"
    monkeypatch.setattr(chunks, "today", lambda: date(2026, 3, 16))
    with django_capture_on_commit_callbacks(execute=True):
        run = evaluate(date(2026, 3, 16), kind=Trigger.SCHEDULE)
    assert run.changes_count == 0
    state.refresh_from_db()
    assert state.status == "overdue"
    change = ObligationStatusChange.objects.get(run=run, obligation="art-52-1-notification")
    assert (change.from_status, change.to_status) == ("due", "overdue")


def frontier_lab(names: tuple[str, ...], **fields) -> None:
    """acme with a frontier model of each name, as `frontier` makes Frontier-1 (fields override them all)."""
    record = {"training_compute_ops": 2e26, "training_completed_on": "2026-03-01", "released_on": "2026-04-01",
              **fields}
    submit(organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI")],
           models=[ModelRecordFactory(organisation="acme", name=name, **record) for name in names])


@pytest.mark.parametrize(("revised", "refreshed_everyone"), [(("F1", "F2", "F3"), True), (("F1",), False)])
def test_a_whole_registry_run_that_appended_for_most_subjects_refreshes_everyone(
        django_capture_on_commit_callbacks, monkeypatch, revised, refreshed_everyone):
    """A requested run of the whole registry refreshes the subjects it appended a determination for;
    when they are at least half of its subjects it refreshes every subject's states, as the nightly
    run does (here F5, whose determination it only confirmed, moves from due to overdue with the
    date), and its reads name no subject."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from obligations.receivers import refresh_after_run
    from rules.services import chunks

    names = ("F1", "F2", "F3", "F4", "F5")
    frontier_lab(names)
    monkeypatch.setattr(chunks, "today", lambda: date(2026, 3, 15))
    with django_capture_on_commit_callbacks(execute=True):
        evaluate(date(2026, 3, 15), kind=Trigger.SCHEDULE)
    untouched = "model:acme/F5@1"
    state = ObligationState.objects.get(subject_ref=untouched, obligation="art-52-1-notification")
    assert state.status == "due"
    frontier_lab(revised, training_compute_ops=3e26)  # the revised models' determinations change; F5's do not
    monkeypatch.setattr(chunks, "today", lambda: date(2026, 3, 16))
    run = evaluate(date(2026, 3, 16))  # the finish's refresh is run below, its queries captured
    appended = set(Determination.objects.filter(run=run).values_list("subject_ref", flat=True))
    assert appended == {f"model:acme/{name}@1" for name in revised} | {"organisation:acme"}
    assert run.total == len(names) + 1
    with CaptureQueriesContext(connection) as queries:
        refresh_after_run(run_id=run.pk)
    state.refresh_from_db()
    assert state.status == ("overdue" if refreshed_everyone else "due")
    assert ObligationStatusChange.objects.filter(run=run, subject_ref=untouched).exists() == refreshed_everyone
    for name in revised:  # each revised model's states were brought up to date either way
        assert ObligationState.objects.get(subject_ref=f"model:acme/{name}@1",
                                           obligation="art-52-1-notification").status == "overdue"
    named = [query["sql"] for query in queries.captured_queries  # reads scoped by reference (writes name them)
             if query["sql"].lstrip().upper().startswith("SELECT") and "model:acme/F" in query["sql"]]
    assert bool(named) != refreshed_everyone


def test_declared_obligations_name_what_a_fulfilment_may_name():
    declared = declared_obligations("us-ca-sb53")
    assert {"frontier-ai-framework", "transparency-report", "critical-safety-incident-report"} <= set(declared)
    assert declared["critical-safety-incident-report"]["incident_driven"] is True
    assert declared["internal-use-risk-summary"]["recurring"] is True
    assert declared["transparency-report"]["due_kind"] == "before"
    assert set(declared_obligations("eu-ai-act")) == {
        "art-52-1-notification", "art-53-provider-obligations", "art-55-systemic-risk-obligations"}
    assert declared_obligations("us-eo-14110") == {}


def test_the_obligations_command_prints_designs_json(capsys):
    frontier()
    evaluate(date(2026, 3, 1))
    call_command("obligations", "--as-of", "2026-03-16", "--subject", MODEL, "--regime", "eu-ai-act",
                 "--format", "json")
    rows = json.loads(capsys.readouterr().out)
    notification = next(r for r in rows if r["obligation"] == "art-52-1-notification")
    assert notification["subject"] == {"kind": "model", "organisation": "acme", "name": "Frontier-1", "version": "1"}
    assert (notification["regime"], notification["due_on"], notification["status"]) == (
        "eu-ai-act", "2026-03-15", "overdue")
    assert set(notification) >= {"title", "citation", "due_reason", "fulfilments"}
    assert {r["regime"] for r in rows} == {"eu-ai-act"}


@pytest.mark.parametrize(("arguments", "named"), [
    (["--as-of", "2026-02-30"], "--as-of"),
    (["--subject", "model:acme/Nope@1"], "--subject"),
    (["--regime", "xx-nope"], "--regime"),
])
def test_the_obligations_command_refuses_bad_options_naming_them(arguments, named):
    frontier()
    with pytest.raises(CommandError, match=named):
        call_command("obligations", *arguments)


def test_the_obligations_of_many_subjects_take_the_same_few_queries(django_assert_max_num_queries):
    submit(organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI")],
           models=[ModelRecordFactory(organisation="acme", name=f"Frontier-{i}", training_compute_ops=2e26,
                                      training_completed_on="2026-03-01", released_on="2026-04-01") for i in range(6)])
    evaluate(date(2026, 3, 1))
    Incident.objects.create(**record("model:acme/Frontier-0@1", discovered_on=date(2026, 5, 1), severity="critical",
                                     summary="it happened"))
    fulfil_model = Fulfilment.objects.create(**record("model:acme/Frontier-1@1", regime="eu-ai-act",
                                                      obligation="art-52-1-notification", fulfilled_on=date(2026, 3, 2),
                                                      reference="N-1"))
    FulfilmentReview.objects.create(fulfilment=fulfil_model, decision="accepted", reason="ok", reviewed_via="import")
    with django_assert_max_num_queries(10):
        views = obligations_as_of(as_of=date(2026, 6, 1))
    assert len({v.subject for v in views}) == 7
    assert {v.status for v in views if v.obligation == "art-52-1-notification"} == {"overdue", "fulfilled"}


def test_a_model_designated_by_the_commission_comes_under_art_55_when_the_designation_is_decided():
    from registry.services import registry_submit

    registry_submit({
        "organisations": [OrganisationRecordFactory(slug="acme", name="Acme AI")],
        "models": [ModelRecordFactory(organisation="acme", name="Frontier-1", training_compute_ops=8e24,
                                      training_completed_on="2025-12-01", released_on="2026-01-15")],
        "designations": [{"subject": MODEL, "regime": "eu-ai-act", "kind": "systemic-risk-designation",
                          "decided_on": "2026-03-02", "reference": "C(2026) 1"}],
    }, via="import", may_designate=True)
    evaluate(date(2026, 3, 10), regimes=("eu-ai-act",))
    notification = one(date(2026, 3, 10), "art-52-1-notification")
    assert notification.status == "not_applicable"
    assert notification.due_reason.endswith("does not meet the test systemic-risk-presumption")
    art55 = one(date(2026, 3, 10), "art-55-systemic-risk-obligations")
    assert (art55.due_on, art55.status) == (date(2026, 3, 2), "overdue")
    assert art55.due_reason.endswith("; the designation was decided on 2026-03-02")
    art53 = one(date(2026, 3, 10), "art-53-provider-obligations")  # a GPAI model since it was placed on the market
    assert (art53.due_on, art53.status) == (date(2026, 1, 15), "overdue")


def test_a_corrections_obligations_run_from_the_day_the_corrected_version_took_effect():
    from pathlib import Path

    from obligations.services import _in_force_from
    from rules.engine.library import Library, parse_rule_version

    text = (Path(__file__).resolve().parents[2] / "rules/library/eu-ai-act/2025-08-02.yaml").read_text(encoding="utf-8")
    original = parse_rule_version(text, origin="eu.yaml")
    correction = parse_rule_version(
        text.replace('id: "2025-08-02"', 'id: "2026-02-01-correction"\n  corrects: "2025-08-02"')
        .replace("effective_from: 2025-08-02", "effective_from: 2026-02-01")
        .replace("effective_to: null", "effective_to: 2026-05-01"), origin="correction.yaml")
    library = Library([original, correction])
    assert _in_force_from(library, correction) == date(2025, 8, 2)
    assert _in_force_from(library, original) == date(2025, 8, 2)
