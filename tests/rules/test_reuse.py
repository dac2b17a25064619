"""A run confirms a current determination without evaluating its subject again when the same facts,
rule version and engine cannot give another payload on the run's date (`rules.reuse`). What it
confirms so is what evaluating would have confirmed."""
from __future__ import annotations

import io
import itertools
from datetime import date
from pathlib import Path

import pytest
from django.core.management import call_command

from bench.synthetic import document as synthetic_document
from registry.models import AIModel, Cluster, Organisation
from registry.services import registry_submit
from rules import reuse
from rules.decision_log import FactsHashes, canonical, payload_of, payload_sha256, verify_chain
from rules.library_store import published_library
from rules.models import Confirmation, Determination, EvaluationRun
from rules.models.runs import Trigger
from rules.services import chunk_read, run_create, run_execute_inline
from rules.services import chunks as chunk_services
from rules.services.chunks import chunk_execute, versions_for
from rules.subjects import snapshots_for_ids
from tests.factories import ModelRecordFactory, OrganisationRecordFactory, document
from tests.rules.conftest import submit_registry

DEMO = Path(__file__).resolve().parents[2] / "registry" / "demo" / "registry.json"
FIRST, SECOND, THIRD, FOURTH = date(2026, 3, 3), date(2026, 3, 4), date(2026, 3, 5), date(2026, 3, 6)


@pytest.fixture(autouse=True)
def forget_payloads():
    """Each test starts with no payload's dates remembered, so each reads the texts it asks about."""
    reuse._payload_dates.clear()
    yield


def test_the_dates_of_the_facts_are_found_wherever_they_are_written():
    snapshot = {"model": {"released_on": "2025-08-01", "notes": "trained 2024-02-29 to 2024-13-01"},
                "designations": [{"decided_on": date(2026, 3, 2)}], "compute": 10**30,
                "lineage": [{"training_completed_on": "2023-01-05T10:00:00"}]}
    expected = (date(2023, 1, 5), date(2024, 2, 29), date(2025, 8, 1), date(2026, 3, 2))
    assert reuse.fact_dates(snapshot) == expected  # 2024-13-01 is no date
    assert reuse.fact_dates({**snapshot, "compute": 10}) == expected


def test_two_dates_read_alike_only_in_one_year_with_no_date_of_the_facts_between_them_or_on_either():
    dates = (date(2026, 3, 2), date(2026, 6, 1))
    assert reuse.unchanged_between(dates, date(2026, 3, 3), date(2026, 5, 31))
    assert reuse.unchanged_between(dates, date(2026, 5, 31), date(2026, 3, 3))
    assert reuse.unchanged_between(dates, date(2026, 1, 1), date(2026, 3, 1))
    assert reuse.unchanged_between(dates, date(2026, 6, 2), date(2026, 12, 31))
    assert not reuse.unchanged_between(dates, date(2026, 3, 1), date(2026, 3, 3))  # across 2026-03-02
    assert not reuse.unchanged_between(dates, date(2026, 3, 2), date(2026, 3, 3))  # on one of them
    assert not reuse.unchanged_between(dates, date(2026, 5, 1), date(2026, 6, 1))
    assert not reuse.unchanged_between((), date(2026, 12, 31), date(2027, 1, 1))  # another calendar year
    assert reuse.unchanged_between((), date(2027, 1, 1), date(2027, 1, 1))


def test_ranges_hold_exactly_the_sequences_they_name():
    ranges = reuse.Ranges([(10, 12), (1, 3), (20, 20)])
    assert [n for n in range(25) if n in ranges] == [1, 2, 3, 10, 11, 12, 20]
    assert 5 not in reuse.Ranges([])


def test_the_engine_hash_covers_the_engine_and_the_payload_code(tmp_path, monkeypatch):
    names = {str(path.relative_to(Path(reuse.__file__).parent)) for path in reuse.ENGINE_FILES}
    assert {"engine/evaluate.py", "engine/subject.py", "engine/quantities.py", "engine/defaults.yaml",
            "engine/prices.yaml", "decision_log.py", "models/decision_log.py"} <= names
    first, second = tmp_path / "engine" / "a.py", tmp_path / "engine" / "b.yaml"
    first.parent.mkdir()
    first.write_text("x = 1\n")
    second.write_text("y: 2\n")
    monkeypatch.setattr(reuse, "_RULES", tmp_path)
    monkeypatch.setattr(reuse, "ENGINE_FILES", (first, second))
    reuse.engine_sha256.cache_clear()
    try:
        before = reuse.engine_sha256()
        first.write_text("x = 2\n")
        reuse.engine_sha256.cache_clear()
        assert reuse.engine_sha256() != before
    finally:
        reuse.engine_sha256.cache_clear()


@pytest.mark.django_db
def test_whenever_the_rule_allows_reuse_evaluating_again_gives_the_same_payload():
    """The demo registry (a designation decided on 2026-03-02, revenues of given years, models
    released across 2023-2025) and a synthetic one, every subject under every regime, on dates
    around the facts' dates and across years: where the same rule version is in force on two dates,
    the facts cannot tell them apart and the payload on the first does not name it, the payloads are
    equal; and the cases the rule refuses include payloads that differ."""
    call_command("import_registry", str(DEMO), "--no-progress", "--via", "demo", stdout=io.StringIO())
    registry_submit(synthetic_document(models=40, clusters=6, seed=5), via="import")
    snapshots = snapshots_for_ids(model_ids=AIModel.objects.values_list("pk", flat=True),
                                  cluster_ids=Cluster.objects.values_list("pk", flat=True),
                                  organisation_ids=Organisation.objects.values_list("pk", flat=True))
    days = [date(2023, 12, 31), date(2024, 1, 1), date(2024, 6, 1), date(2025, 3, 1), date(2025, 8, 2),
            date(2025, 12, 31), date(2026, 1, 1), date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3),
            date(2026, 6, 1), date(2026, 12, 31)]
    library = published_library()
    versions = {day: versions_for(library, as_of=day, regimes=None) for day in days}
    from rules.engine import evaluate_subject
    from rules.engine.subject import Subject

    payloads = {}
    for item in snapshots:
        for day in days:
            subject = Subject(item.snapshot, as_of=day)
            for slug, version in versions[day].items():
                text = canonical(payload_of(evaluate_subject(subject, version=version, regime=slug, as_of=day), item.key))
                payloads[item.key.ref, slug, day] = (version.content_hash if version else None, text)
    allowed = refused_differing = 0
    facts = FactsHashes()  # a run reads the dates from the texts it stores, lineage nodes by reference
    assert any(facts.dates(item) != facts.dates(other) for item, other in itertools.pairwise(snapshots))
    assert any(item.snapshot.get("lineage") for item in snapshots)
    assert any(entry["lineage"] for item in snapshots for entry in item.snapshot.get("models") or ())
    for item in snapshots:
        dates = facts.dates(item)
        assert dates == reuse.fact_dates(item.snapshot), item.key.ref
        for slug in versions[days[0]]:
            for first, second in itertools.permutations(days, 2):
                (rule, text), (other_rule, other_text) = payloads[item.key.ref, slug, first], payloads[item.key.ref, slug, second]
                if rule is None or rule != other_rule:
                    continue
                held = (dates, reuse.version_dates(versions[first][slug]))
                if all(reuse.unchanged_between(found, first, second) for found in held) and not reuse.names_date(
                        payload_sha256(text), text, first):
                    allowed += 1
                    assert text == other_text, (item.key.ref, slug, first, second)
                elif text != other_text:
                    refused_differing += 1
    assert allowed > 2000 and refused_differing > 1000


def evaluate(refs, *, as_of, kind=Trigger.SCHEDULE, chunk_size=500):
    return run_execute_inline(run_create(kind=kind, as_of=as_of, subjects=refs, regimes=["eu-ai-act", "us-eo-14110"],
                                         chunk_size=chunk_size))


def engine_calls(monkeypatch):
    calls = []
    evaluate_subject = chunk_services.evaluate_subject

    def counted(subject, **kwargs):
        calls.append((str(subject.ref), kwargs["regime"]))
        return evaluate_subject(subject, **kwargs)

    monkeypatch.setattr(chunk_services, "evaluate_subject", counted)
    return calls


@pytest.mark.django_db
def test_a_nightly_run_of_an_unchanged_registry_confirms_without_evaluating(monkeypatch):
    refs = submit_registry(models=3, clusters=1, training_compute_ops=5e24)
    first = evaluate(refs, as_of=FIRST)
    assert (first.reused, first.engine_sha256) == (0, reuse.engine_sha256())
    rows = {(row.subject_ref, row.regime): row.payload_id for row in Determination.objects.all()}
    calls = engine_calls(monkeypatch)
    second = evaluate(refs, as_of=SECOND, chunk_size=2)
    assert calls == [] and second.reused == 10
    assert Determination.objects.count() == 10 and Confirmation.objects.filter(run=second).count() == 3
    assert sum(Confirmation.objects.filter(run=second).values_list("count", flat=True)) == 10
    assert second.changes_count == 0
    # what the run confirmed is what evaluating gives on its date
    monkeypatch.undo()
    check = run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=SECOND, subjects=refs,
                                          regimes=["eu-ai-act", "us-eo-14110"], confirms=False))
    assert {(row.subject_ref, row.regime): row.payload_id for row in Determination.objects.filter(run=check)} == rows
    assert verify_chain().ok


@pytest.mark.django_db
def test_a_date_among_the_facts_between_the_two_runs_makes_the_run_evaluate(monkeypatch):
    """The model's release date (the engine reads its training date first) lies on the second run's
    date: the second and third runs evaluate it; the fourth compares with the third, which confirmed
    it, and reuses it, though the date lies between it and the determination's own."""
    registry_submit(document(organisations=[OrganisationRecordFactory(slug="org-0", name="Org 0")], models=[
        ModelRecordFactory(organisation="org-0", name="Model-0", training_completed_on="2023-06-01",
                           released_on=SECOND.isoformat())]), via="import")
    ref = "model:org-0/Model-0@1"
    runs = [evaluate([ref], as_of=FIRST)]
    calls = engine_calls(monkeypatch)
    for day in (SECOND, THIRD, FOURTH):
        runs.append(evaluate([ref], as_of=day))
    assert [run.reused for run in runs] == [0, 0, 0, 2]
    assert calls == [(ref, "eu-ai-act"), (ref, "us-eo-14110")] * 2
    assert Determination.objects.count() == 2  # every later run confirmed the first run's rows
    assert [sum(Confirmation.objects.filter(run=run).values_list("count", flat=True)) for run in runs[1:]] == [2, 2, 2]


@pytest.mark.django_db
def test_a_determination_made_under_another_engine_is_evaluated_again(monkeypatch):
    refs = submit_registry(models=2)
    first = evaluate(refs, as_of=FIRST)
    EvaluationRun.objects.filter(pk=first.pk).update(engine_sha256="0" * 64)  # as made before an upgrade
    calls = engine_calls(monkeypatch)
    second = evaluate(refs, as_of=SECOND)
    assert second.reused == 0 and len(calls) == 6
    assert sum(Confirmation.objects.filter(run=second).values_list("count", flat=True)) == 6
    third = evaluate(refs, as_of=THIRD)  # the second run, under this engine, confirmed them
    assert third.reused == 6 and len(calls) == 6


@pytest.mark.django_db
def test_a_run_that_does_not_confirm_or_was_made_under_another_engine_reuses_nothing(monkeypatch):
    refs = submit_registry(models=2)
    evaluate(refs, as_of=FIRST)
    appended = run_execute_inline(run_create(kind=Trigger.SCHEDULE, as_of=SECOND, subjects=refs, confirms=False))
    assert appended.reused == 0 and Determination.objects.filter(run=appended).count() == 3 * 6
    run = run_create(kind=Trigger.SCHEDULE, as_of=THIRD, subjects=refs)
    EvaluationRun.objects.filter(pk=run.pk).update(engine_sha256="0" * 64)
    run.refresh_from_db()
    assert run_execute_inline(run).reused == 0


@pytest.mark.django_db
def test_a_determination_appended_after_the_chunk_was_read_makes_the_writer_evaluate_it(monkeypatch):
    refs = submit_registry(models=2, training_compute_ops=5e24)
    evaluate(refs, as_of=FIRST)
    run = run_create(kind=Trigger.SCHEDULE, as_of=SECOND, subjects=refs, regimes=["eu-ai-act", "us-eo-14110"])
    chunk = run.chunks.get()
    work = chunk_read(chunk)
    assert len(work.reused) == 6
    # meanwhile the lab revises a model and its submission is evaluated: its rows are now current
    registry_submit(document(organisations=[OrganisationRecordFactory(slug="org-0", name="Org 0")],
                             models=[ModelRecordFactory(organisation="org-0", name="Model-1", training_compute_ops=2e25)]),
                    via="import")
    evaluate(["model:org-0/Model-1@1", "organisation:org-0"], as_of=SECOND, kind=Trigger.SUBMISSION)
    calls = engine_calls(monkeypatch)
    assert chunk_execute(chunk_id=chunk.pk, work=work)
    run.refresh_from_db()
    assert run.reused == 0 and len(calls) == 6  # the chunk was read again, every subject evaluated
    confirmed = sum(Confirmation.objects.filter(run=run).values_list("count", flat=True))
    assert confirmed == 6 and not Determination.objects.filter(run=run).exists()
    assert verify_chain().ok
