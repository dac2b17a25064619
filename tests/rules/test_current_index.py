"""The index of current determinations (`rules.models.CurrentDetermination`): the newest determination
of each (subject, regime) dated on or before its horizon (today, as of the last write), kept in the
transaction that appends it, with the earliest date of those dated after it
(`rules.models.DeterminationAhead`). The workspace reads "current" and counts statuses through it;
what it reads must be exactly what ranking the whole log gives (`rules.current.current_of`), on any
date, whether the index answers for every subject, for some, or for too few to use, and `verify_log`
says when the index and the log disagree."""
from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.models import Q

import rules.current
from registry.services import registry_submit
from rules import decision_log
from rules.current import current_of, index_faults, rebuild_index
from rules.models import Confirmation, CurrentDetermination, Determination, DeterminationAhead, LogHead
from rules.models.runs import Trigger
from rules.selectors import current_counts, current_determinations, regimes_in_force
from rules.services import run_create, run_execute_inline, today
from tests.factories import ModelRecordFactory, OrganisationRecordFactory, document
from tests.rules.conftest import submit_registry, tamper

pytestmark = pytest.mark.django_db

REGIMES = ["eu-ai-act", "us-eo-14110"]
# us-eo-14110's version is in force on the first date only; the EU AI Act's on the others
PAST, EARLY, LATER, LATEST = date(2024, 6, 1), date(2025, 9, 1), date(2026, 3, 1), date(2026, 3, 2)
# dated after today, whenever the tests run: past the index's horizon
AHEAD, FURTHER = today() + timedelta(days=60), today() + timedelta(days=90)
READ_ON = [date(2024, 5, 31), PAST, date(2024, 9, 30), EARLY, date(2025, 12, 1), LATER, LATEST, date(2026, 12, 4),
           today(), AHEAD - timedelta(days=1), AHEAD, FURTHER]


def evaluate(refs, *, as_of, confirms=True):
    return run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=as_of, subjects=refs, regimes=REGIMES,
                                         chunk_size=2, confirms=confirms))


def newest_in_log(horizon: date | None = None) -> dict[tuple[str, str], int]:
    """The definition, in Python: per (subject, regime), the row with the newest as-of date on or
    before the horizon (today's), then the last appended."""
    horizon = horizon or today()
    newest: dict[tuple[str, str], tuple[date, int]] = {}
    for row in Determination.objects.filter(as_of__lte=horizon):
        key = (row.subject_ref, row.regime)
        newest[key] = max(newest.get(key, (row.as_of, row.sequence)), (row.as_of, row.sequence))
    return {key: sequence for key, (_, sequence) in newest.items()}


def ahead_in_log(horizon: date | None = None) -> dict[tuple[str, str], date]:
    """Per (subject, regime), the earliest as-of date after the horizon (today's), in Python."""
    horizon = horizon or today()
    earliest: dict[tuple[str, str], date] = {}
    for row in Determination.objects.filter(as_of__gt=horizon):
        key = (row.subject_ref, row.regime)
        earliest[key] = min(earliest.get(key, row.as_of), row.as_of)
    return earliest


def indexed() -> dict[tuple[str, str], int]:
    return {(e.subject_ref, e.regime): e.sequence for e in CurrentDetermination.objects.all()}


def indexed_ahead() -> dict[tuple[str, str], date]:
    return {(e.subject_ref, e.regime): e.as_of for e in DeterminationAhead.objects.all()}


def unindexed(as_of: date) -> list[tuple[str, str]] | None:
    versions = {r.regime: r.version.pk for r in regimes_in_force(as_of=as_of)}
    found = rules.current._unindexed(versions, as_of, organisation=None, subject_refs=None)
    return None if found is None else sorted(found)


@pytest.fixture
def history():
    """Five models and a cluster: all evaluated as of EARLY; three again as of LATER; one of them
    grown and all three again as of LATEST (one row, two confirmed); two of them as of PAST, appended
    last but dated first; the last two models again as of EARLY, appended anew; two of them as of
    FURTHER and one as of AHEAD, after today, appended in that order."""
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
    evaluate(models[1:3], as_of=FURTHER, confirms=False)
    evaluate(models[2:3], as_of=AHEAD, confirms=False)
    assert Confirmation.objects.exists()
    return refs


def test_the_index_names_the_newest_determination_of_every_subject_and_regime(history):
    expected = newest_in_log()
    assert indexed() == expected and index_faults() == []
    assert indexed_ahead() == ahead_in_log() and len(indexed_ahead()) == 2 * len(REGIMES)
    entry = CurrentDetermination.objects.get(sequence=expected[sorted(expected)[0]])
    row = Determination.objects.get(sequence=entry.sequence)
    assert (entry.as_of, entry.rule_version_id, entry.status, entry.tier, entry.subject_kind, entry.organisation) == (
        row.as_of, row.rule_version_id, row.status, row.tier, row.subject_kind, row.organisation)
    CurrentDetermination.objects.all().delete()
    DeterminationAhead.objects.all().delete()
    assert rebuild_index() == len(expected) and indexed() == expected and indexed_ahead() == ahead_in_log()


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
    assert unindexed(date(2025, 12, 1)) == [(models[0], "eu-ai-act")]
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
    tamper("UPDATE rules_currentdetermination SET sequence = %s WHERE subject_ref = %s AND regime = %s",
           [older.sequence, entry.subject_ref, entry.regime], table="rules_currentdetermination",
           where="subject_ref = %s AND regime = %s", where_params=[entry.subject_ref, entry.regime])
    assert index_faults() == [(entry.subject_ref, entry.regime)]
    with pytest.raises(CommandError, match=rf"disagrees with the log for {entry.subject_ref} under {entry.regime}"):
        call_command("verify_log", "--no-progress", stdout=io.StringIO(), stderr=io.StringIO())
    out = io.StringIO()
    call_command("verify_log", "--no-progress", "--rebuild-index", stdout=out, stderr=io.StringIO())
    assert "index of current determinations agrees with the log" in out.getvalue()
    assert indexed() == newest_in_log()


def ranked_from_log(as_of: date, **scope) -> set[int]:
    rows = Determination.objects.filter(rule_version_id__in=[r.version.pk for r in regimes_in_force(as_of=as_of)])
    if "subject_refs" in scope:
        rows = rows.filter(subject_ref__in=scope["subject_refs"])
    return set(current_of(rows, as_of=as_of).values_list("sequence", flat=True))


def read(as_of: date, **scope) -> set[int]:
    return set(current_determinations(as_of=as_of, **scope).values_list("sequence", flat=True))


def test_a_run_dated_after_today_leaves_todays_answers_to_the_index_until_its_date_comes(monkeypatch):
    """A whole registry evaluated as of a date after today (a preview of next quarter, a lab's
    evaluation as of next year) does not displace what is current today: as of today the index still
    answers for every subject. As of that date the subjects are ranked from the log; once a write is
    made on or after it, the index answers for them again."""
    refs = submit_registry(models=3, training_compute_ops=5e24)
    models = sorted(ref for ref in refs if ref.startswith("model:"))
    evaluate(refs, as_of=EARLY)
    before = indexed()
    evaluate(refs, as_of=AHEAD, confirms=False)
    evaluate(models[:1], as_of=FURTHER, confirms=False)
    assert indexed() == before and index_faults() == []
    assert indexed_ahead() == {**{(ref, regime): AHEAD for ref in refs for regime in REGIMES},
                               **{(models[0], regime): AHEAD for regime in REGIMES}}
    assert unindexed(today()) == [] and unindexed(AHEAD - timedelta(days=1)) == []
    assert read(today()) == ranked_from_log(today()) and read(today()) <= set(before.values())
    in_force = [regime for regime in REGIMES if regime in {r.regime for r in regimes_in_force(as_of=AHEAD)}]
    assert in_force == ["eu-ai-act"]  # us-eo-14110 was revoked
    assert unindexed(AHEAD) == sorted((ref, regime) for ref in refs for regime in in_force)
    for as_of in (AHEAD, FURTHER):
        assert read(as_of) == ranked_from_log(as_of) and read(as_of).isdisjoint(before.values())
        assert read(as_of, subject_refs=models[:1]) == ranked_from_log(as_of, subject_refs=models[:1])

    # the day comes: the first write moves the horizon on, even one that only confirms
    monkeypatch.setattr(rules.current, "horizon_today", lambda: AHEAD)
    evaluate(refs[:1], as_of=AHEAD)
    assert LogHead.objects.get().index_horizon == AHEAD
    assert indexed() == newest_in_log(AHEAD) and indexed_ahead() == ahead_in_log(AHEAD) == {
        (models[0], regime): FURTHER for regime in REGIMES}
    assert index_faults() == [] and unindexed(AHEAD) == []
    assert read(AHEAD) == ranked_from_log(AHEAD) and read(today()) == ranked_from_log(today())
    assert unindexed(FURTHER) == [(models[0], regime) for regime in in_force]
    assert read(FURTHER) == ranked_from_log(FURTHER)


def test_a_horizon_does_not_go_back_and_rows_dated_on_or_before_it_are_entries(monkeypatch):
    refs = submit_registry(models=1, training_compute_ops=5e24)
    evaluate(refs, as_of=EARLY)
    horizon = LogHead.objects.get().index_horizon
    assert horizon == today()
    monkeypatch.setattr(rules.current, "horizon_today", lambda: EARLY)  # a clock set back
    evaluate(refs, as_of=today(), confirms=False)
    assert LogHead.objects.get().index_horizon == horizon and indexed_ahead() == {}
    assert indexed() == newest_in_log() and index_faults() == []


def test_verify_log_names_a_date_ahead_that_disagrees_with_the_log_and_rebuilds_it(history):
    entry = DeterminationAhead.objects.order_by("subject_ref", "regime").first()
    tamper("UPDATE rules_determinationahead SET as_of = %s WHERE id = %s", [FURTHER + timedelta(days=1), entry.pk],
           table="rules_determinationahead", where="id = %s", where_params=[entry.pk])
    assert index_faults() == [(entry.subject_ref, entry.regime)]
    DeterminationAhead.objects.filter(pk=entry.pk).delete()
    assert index_faults() == [(entry.subject_ref, entry.regime)]
    with pytest.raises(CommandError, match=rf"disagrees with the log for {entry.subject_ref} under {entry.regime}"):
        call_command("verify_log", "--no-progress", stdout=io.StringIO(), stderr=io.StringIO())
    call_command("verify_log", "--no-progress", "--rebuild-index", stdout=io.StringIO(), stderr=io.StringIO())
    assert indexed_ahead() == ahead_in_log() and index_faults() == []


def test_rebuilding_the_index_brings_a_horizon_left_in_the_future_back_to_today(history):
    """An index kept before it had a horizon holds the newest row whatever its date: its migration sets
    the horizon past every entry, and `verify_log --rebuild-index` brings it back to today."""
    rebuild_index()
    LogHead.objects.filter(id=1).update(index_horizon=FURTHER)
    CurrentDetermination.objects.all().delete()
    DeterminationAhead.objects.all().delete()
    with connection.cursor() as cursor:  # the index as the last append would have left it then
        cursor.execute(f"INSERT INTO rules_currentdetermination ({', '.join(rules.current._INDEX_COLUMNS)}) "
                       f"{rules.current._newest_sql()}", [FURTHER])
    # the two models evaluated after today, under the one regime in force
    assert index_faults() == [] and unindexed(today()) == sorted(key for key in ahead_in_log() if key[1] == "eu-ai-act")
    assert len(unindexed(today())) == 2
    rebuild_index()
    assert LogHead.objects.get().index_horizon == today() and unindexed(today()) == []
    assert indexed() == newest_in_log() and indexed_ahead() == ahead_in_log() and index_faults() == []


@pytest.mark.django_db(transaction=True)
def test_the_migration_sets_the_horizon_past_every_entry_of_the_index_it_finds():
    from django.db.migrations.executor import MigrationExecutor

    refs = submit_registry(models=2, training_compute_ops=5e24)
    evaluate(refs, as_of=EARLY)
    evaluate(refs[:1], as_of=AHEAD, confirms=False)
    executor = MigrationExecutor(connection)
    executor.migrate([("rules", "0014_runs_record_their_engine")])
    with connection.cursor() as cursor:  # the index as it was kept then: the newest row, whatever its date
        cursor.execute("DELETE FROM rules_currentdetermination")
        columns = ", ".join(rules.current._INDEX_COLUMNS)  # read from the log's own columns then
        cursor.execute(f"INSERT INTO rules_currentdetermination ({columns}) SELECT {columns} FROM ("
                       f"SELECT {columns}, ROW_NUMBER() OVER (PARTITION BY subject_ref, regime "
                       f"ORDER BY {rules.current.NEWEST_FIRST_SQL}) AS newness FROM rules_determination "
                       f"WHERE as_of <= %s) AS ranked WHERE newness = 1", [FURTHER])
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert LogHead.objects.get().index_horizon == AHEAD
    assert indexed() == newest_in_log(AHEAD) and indexed_ahead() == {} and index_faults() == []


def test_any_sequence_of_runs_and_days_keeps_the_index_what_the_log_says():
    """Runs of any few subjects dated in the past or after today, confirming or not, and the clock
    moving on between them: after each, the index is the log's newest row on or before its horizon
    and the earliest date after it, and what the workspace reads as of any date is the log's ranking."""
    from unittest import mock

    from hypothesis import HealthCheck, example, given, settings
    from hypothesis import strategies as st

    start = today()
    # a few dates, so that runs meet on them: the past, today, and after today
    step = st.tuples(st.sets(st.integers(0, 2), min_size=1), st.sampled_from([-400, -30, -1, 0, 1, 20, 45, 100]),
                     st.booleans(), st.sampled_from([0, 0, 1, 30, 60]))

    @settings(max_examples=20, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(step, min_size=1, max_size=5))
    # a date ahead come due with nothing after it; one come due with another after it
    @example([({0}, 20, False, 0), ({1}, -1, True, 30)])
    @example([({0}, 20, False, 0), ({0}, 45, False, 0), ({1}, 0, True, 30)])
    def check(steps):
        clock = [start]
        with transaction.atomic(), mock.patch.object(rules.current, "horizon_today", lambda: clock[0]):
            refs = submit_registry(models=3, training_compute_ops=5e24)
            models = sorted(ref for ref in refs if ref.startswith("model:"))
            dates = {start}
            for which, offset, confirms, days in steps:
                clock[0] += timedelta(days=days)
                as_of = start + timedelta(days=offset)
                dates |= {as_of, as_of - timedelta(days=1), clock[0]}
                evaluate([models[i] for i in sorted(which)], as_of=as_of, confirms=confirms)
                horizon = LogHead.objects.get().index_horizon
                assert horizon == clock[0]
                assert indexed() == newest_in_log(horizon) and indexed_ahead() == ahead_in_log(horizon)
                for read_on in sorted(dates):
                    assert read(read_on) == ranked_from_log(read_on), (steps, read_on)
            transaction.set_rollback(True)

    check()


@pytest.mark.django_db(transaction=True)
def test_the_index_keyed_by_sequence_keeps_its_entries_through_the_migration_and_back():
    """Migration rules.0020 makes each entry's sequence its key (no key of its own): the entries are
    the same before and after, both ways, and still agree with the log."""
    from django.db.migrations.executor import MigrationExecutor  # noqa: PLC0415

    refs = submit_registry(models=2, clusters=1, training_compute_ops=5e24)
    evaluate(refs, as_of=EARLY)
    evaluate(refs, as_of=LATER)
    entries = {(e.subject_ref, e.regime): (e.sequence, e.as_of, e.status, e.tier) for e in
               CurrentDetermination.objects.all()}
    assert entries and {key: value[0] for key, value in entries.items()} == newest_in_log()
    assert CurrentDetermination._meta.pk.name == "sequence"
    executor = MigrationExecutor(connection)
    executor.migrate([("rules", "0019_previous_row_hash_kept_once")])
    old = executor.loader.project_state([("rules", "0019_previous_row_hash_kept_once")]).apps
    Old = old.get_model("rules", "CurrentDetermination")
    assert Old._meta.pk.name == "id"
    assert {(e.subject_ref, e.regime): (e.sequence, e.as_of, e.status, e.tier) for e in Old.objects.all()} == entries
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert {(e.subject_ref, e.regime): (e.sequence, e.as_of, e.status, e.tier) for e in
            CurrentDetermination.objects.all()} == entries
    assert not index_faults()
    evaluate(refs, as_of=LATEST)  # kept on by the next write, by its key
    assert indexed() == newest_in_log()
