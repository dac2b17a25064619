"""The index of current determinations (`rules.models.CurrentDetermination`): the newest determination
of each (subject, regime), kept in the transaction that appends it. The workspace reads "current" and
counts statuses through it; what it reads must be exactly what ranking the whole log gives
(`rules.current.current_of`), on any date, whether the index answers for every subject, for some, or
for too few to use, and `verify_log` says when the index and the log disagree."""
from __future__ import annotations

import io
from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import Q

import rules.current
from registry.services import registry_submit
from rules import decision_log
from rules.current import current_of, index_faults, rebuild_index
from rules.models import Confirmation, CurrentDetermination, Determination
from rules.models.runs import Trigger
from rules.selectors import current_counts, current_determinations, regimes_in_force
from rules.services import run_create, run_execute_inline
from tests.factories import ModelRecordFactory, OrganisationRecordFactory, document
from tests.rules.conftest import submit_registry, tamper

pytestmark = pytest.mark.django_db

REGIMES = ["eu-ai-act", "us-eo-14110"]
# us-eo-14110's version is in force on the first date only; the EU AI Act's on the others
PAST, EARLY, LATER, LATEST = date(2024, 6, 1), date(2025, 9, 1), date(2026, 3, 1), date(2026, 3, 2)
READ_ON = [date(2024, 5, 31), PAST, date(2024, 9, 30), EARLY, date(2025, 12, 1), LATER, LATEST, date(2026, 12, 4)]


def evaluate(refs, *, as_of, confirms=True):
    return run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=as_of, subjects=refs, regimes=REGIMES,
                                         chunk_size=2, confirms=confirms))


def newest_in_log() -> dict[tuple[str, str], int]:
    """The definition, in Python: per (subject, regime), the row with the newest as-of date, then the last appended."""
    newest: dict[tuple[str, str], tuple[date, int]] = {}
    for row in Determination.objects.all():
        key = (row.subject_ref, row.regime)
        newest[key] = max(newest.get(key, (row.as_of, row.sequence)), (row.as_of, row.sequence))
    return {key: sequence for key, (_, sequence) in newest.items()}


def indexed() -> dict[tuple[str, str], int]:
    return {(e.subject_ref, e.regime): e.sequence for e in CurrentDetermination.objects.all()}


@pytest.fixture
def history():
    """Five models and a cluster: all evaluated as of EARLY; three again as of LATER; one of them
    grown and all three again as of LATEST (one row, two confirmed); two of them as of PAST, appended
    last but dated first; the last two models again as of EARLY, appended anew."""
    refs = submit_registry(models=5, clusters=1, training_compute_ops=5e24)
    models = sorted(ref for ref in refs if ref.startswith("model:"))
    evaluate(refs, as_of=EARLY)
    evaluate(models[:3], as_of=LATER)
    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="org-0", name="Org 0")],
        models=[ModelRecordFactory(organisation="org-0", name="Model-0", training_compute_ops=5e25)],
    ), via="import")
    evaluate(models[:3], as_of=LATEST)
    evaluate(models[:2], as_of=PAST)
    evaluate(models[3:], as_of=EARLY, confirms=False)
    assert Confirmation.objects.exists()
    return refs


def test_the_index_names_the_newest_determination_of_every_subject_and_regime(history):
    expected = newest_in_log()
    assert indexed() == expected and index_faults() == []
    entry = CurrentDetermination.objects.get(sequence=expected[sorted(expected)[0]])
    row = Determination.objects.get(sequence=entry.sequence)
    assert (entry.as_of, entry.rule_version_id, entry.status, entry.tier, entry.subject_kind, entry.organisation) == (
        row.as_of, row.rule_version_id, row.status, row.tier, row.subject_kind, row.organisation)
    CurrentDetermination.objects.all().delete()
    assert rebuild_index() == len(expected) and indexed() == expected


@pytest.mark.parametrize("few_unindexed", [rules.current.FEW_UNINDEXED, 1, 0],
                         ids=["index-and-log", "whole-log-past-a-few", "whole-log"])
def test_current_read_through_the_index_is_current_ranked_from_the_log(history, monkeypatch, few_unindexed):
    monkeypatch.setattr(rules.current, "FEW_UNINDEXED", few_unindexed)
    some = sorted(history)[:3]
    for as_of in READ_ON:
        regimes = regimes_in_force(as_of=as_of)
        rows = Determination.objects.filter(rule_version_id__in=[r.version.pk for r in regimes])
        ranked = set(current_of(rows, as_of=as_of).values_list("sequence", flat=True))
        assert set(current_determinations(as_of=as_of).values_list("sequence", flat=True)) == ranked, as_of
        assert set(current_determinations(as_of=as_of, organisation="org-0").values_list("sequence", flat=True)) == ranked
        of_some = set(current_of(rows.filter(subject_ref__in=some), as_of=as_of).values_list("sequence", flat=True))
        assert set(current_determinations(as_of=as_of, subject_refs=some).values_list("sequence", flat=True)) == of_some
        # nothing withheld, but read from the determinations: the counts must not differ
        from_log = Q(pk__in=[])
        (counted, tiers), (counted_from_log, tiers_from_log) = (current_counts(as_of=as_of),
                                                                current_counts(as_of=as_of, withheld=from_log))
        assert [(c.regime.regime, c.counts, c.by_kind) for c in counted] == [
            (c.regime.regime, c.counts, c.by_kind) for c in counted_from_log], as_of
        assert tiers == tiers_from_log, as_of


def test_the_index_answers_some_subjects_and_the_log_the_others():
    """As of a date between two subjects' newest determinations: one is read from the index, the
    other (evaluated again, and appended, as of a later date) ranked from the log."""
    refs = submit_registry(models=2, training_compute_ops=5e24)
    models = sorted(ref for ref in refs if ref.startswith("model:"))
    evaluate(refs, as_of=EARLY)
    evaluate(models[:1], as_of=LATER, confirms=False)
    regimes = regimes_in_force(as_of=date(2025, 12, 1))
    versions = {r.regime: r.version.pk for r in regimes}
    index = rules.current._index_rows(versions, organisation=None, subject_refs=None)
    assert rules.current._unindexed(index, versions, date(2025, 12, 1)) == [(models[0], "eu-ai-act")]
    assert rules.current.current_index(versions, as_of=date(2025, 12, 1)) is None
    current = current_determinations(as_of=date(2025, 12, 1), regimes=regimes)
    assert {(row.subject_ref, row.as_of) for row in current.filter(regime="eu-ai-act")} == {
        (ref, EARLY) for ref in refs}


def test_rows_rolled_back_leave_the_index_as_it_was():
    refs = submit_registry(models=1, training_compute_ops=5e24)
    evaluate(refs, as_of=EARLY)
    before = indexed()
    run = run_create(kind=Trigger.MANUAL, as_of=LATER, subjects=refs, regimes=REGIMES, confirms=False)
    with pytest.raises(RuntimeError), transaction.atomic():
        run_execute_inline(run)
        assert indexed() != before
        raise RuntimeError("the caller's transaction fails after the append")
    assert indexed() == before and index_faults() == []
    assert decision_log.verify_chain().ok


def test_verify_log_names_the_subjects_whose_index_entry_disagrees_with_the_log_and_rebuilds_it(history):
    entry = CurrentDetermination.objects.filter(subject_ref__startswith="model:").order_by("subject_ref").first()
    older = Determination.objects.filter(subject_ref=entry.subject_ref, regime=entry.regime).exclude(
        sequence=entry.sequence).order_by("sequence").first()
    tamper("UPDATE rules_currentdetermination SET sequence = %s WHERE id = %s", [older.sequence, entry.pk],
           table="rules_currentdetermination", where="id = %s", where_params=[entry.pk])
    assert index_faults() == [(entry.subject_ref, entry.regime)]
    with pytest.raises(CommandError, match=rf"disagrees with the log for {entry.subject_ref} under {entry.regime}"):
        call_command("verify_log", "--no-progress", stdout=io.StringIO(), stderr=io.StringIO())
    out = io.StringIO()
    call_command("verify_log", "--no-progress", "--rebuild-index", stdout=out, stderr=io.StringIO())
    assert "index of current determinations agrees with the log" in out.getvalue()
    assert indexed() == newest_in_log()
