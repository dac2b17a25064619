"""An unchanged re-evaluation appends no row: it confirms the current determinations, one chained
confirmation per chunk, and the log still answers "what was recorded as of D" for every date a run
reached. Payloads are stored once by their hash, without the as-of date."""
from __future__ import annotations

import hashlib
import io
import json
from datetime import date

import pytest
import zstandard
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from registry.services import registry_submit
from reports import selectors as report_selectors
from rules.current import confirmed_among, recorded_on
from rules.decision_log import sequence_ranges, verify_chain
from rules.engine.subject import SubjectRef
from rules.models import Confirmation, Determination, EvaluationRun, LogHead, Payload, PayloadDictionary, StatusChange
from rules.models.runs import Trigger
from rules.selectors import regimes_in_force, subject_determinations_on
from rules.services import run_create, run_execute_inline
from tests.factories import ModelRecordFactory, OrganisationRecordFactory, document
from tests.rules.conftest import as_stored, submit_registry, tamper

pytestmark = pytest.mark.django_db

sqlite_only = pytest.mark.skipif("connection.vendor != 'sqlite'", reason="raw SQL tampering is possible on SQLite")
postgresql_only = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the trigger exists on PostgreSQL")

FIRST, SECOND, THIRD = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
REGIMES = ["eu-ai-act", "us-eo-14110"]


def evaluate(refs, *, as_of, chunk_size=500, kind=Trigger.MANUAL, confirms=True):
    return run_execute_inline(run_create(kind=kind, as_of=as_of, subjects=refs, regimes=REGIMES,
                                         chunk_size=chunk_size, confirms=confirms))


def verify_log() -> str:
    out = io.StringIO()
    call_command("verify_log", "--no-progress", stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def refs():
    """3 models and a cluster of one organisation: 5 subjects, 10 determinations under two regimes."""
    return submit_registry(models=3, clusters=1, training_compute_ops=5e24)


def test_an_unchanged_reevaluation_confirms_instead_of_appending(refs):
    first = evaluate(refs, as_of=FIRST)
    rows = list(Determination.objects.order_by("sequence"))
    assert len(rows) == 10 and {row.run_id for row in rows} == {first.pk}

    second = evaluate(refs, as_of=SECOND, chunk_size=2)
    assert Determination.objects.count() == 10  # not one row more
    confirmations = list(Confirmation.objects.filter(run=second).order_by("position"))
    assert len(confirmations) == second.chunks_total == 3  # one per chunk
    named = sorted(seq for c in confirmations for first_, last in c.ranges() for seq in range(first_, last + 1))
    assert named == [row.sequence for row in rows]
    assert sum(c.count for c in confirmations) == 10
    assert all(c.as_of == SECOND and c.trigger == Trigger.MANUAL for c in confirmations)
    assert (second.changes_count, second.done) == (0, second.total)
    head = LogHead.objects.get()
    assert (head.sequence, head.confirmation_position) == (10, 3)
    assert confirmations[0].log_sequence == 10 and confirmations[0].log_sha256 == rows[-1].row_sha256
    report = verify_chain()
    assert report.ok and (report.checked, report.confirmations) == (10, 3)
    assert "decision log intact: 10 row(s) verified, and 3 confirmation(s)" in verify_log()


def test_a_changed_subject_gets_a_row_and_the_others_are_confirmed(refs):
    evaluate(refs, as_of=FIRST)
    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="org-0", name="Org 0")],
        models=[ModelRecordFactory(organisation="org-0", name="Model-1", training_compute_ops=2e26)],
    ), via="import")
    run = evaluate(refs, as_of=SECOND)
    written = list(Determination.objects.filter(run=run))
    # the revised model, and the organisation whose snapshot holds its models' facts
    assert {row.subject_ref for row in written} == {"model:org-0/Model-1@1", "organisation:org-0"}
    confirmed = Confirmation.objects.get(run=run)
    assert confirmed.count == 10 - len(written)
    changed = StatusChange.objects.get(run=run, subject_ref="model:org-0/Model-1@1", regime="eu-ai-act")
    assert changed.to_determination.run == run and changed.to_status == "covered"
    assert verify_chain().ok


def test_a_run_that_does_not_confirm_appends_every_row(refs):
    evaluate(refs, as_of=FIRST)
    run = evaluate(refs, as_of=SECOND, confirms=False)
    assert Determination.objects.filter(run=run).count() == 10
    assert not Confirmation.objects.exists()
    # the same outcome on another date: the same payload, stored once, each row with its own date
    assert Payload.objects.count() == len(set(Determination.objects.filter(run=run).values_list("payload", flat=True)))
    for row in Determination.objects.filter(run=run):
        earlier = Determination.objects.get(subject_ref=row.subject_ref, regime=row.regime, as_of=FIRST)
        assert row.payload_id == earlier.payload_id
        assert (row.data()["as_of"], earlier.data()["as_of"]) == (SECOND.isoformat(), FIRST.isoformat())
        assert "as_of" not in json.loads(row.payload.content)


def test_the_same_finding_about_other_subjects_is_one_payload_each_naming_its_own(refs):
    evaluate(refs, as_of=FIRST)
    rows = list(Determination.objects.filter(regime="us-eo-14110").order_by("subject_ref"))
    by_payload = {}
    for row in rows:
        by_payload.setdefault(row.payload_id, []).append(row)
    shared = [group for group in by_payload.values() if len({row.subject_ref for row in group}) > 1]
    assert shared, "two subjects with the same finding share one stored payload"
    for group in shared:
        stored = json.loads(group[0].payload.content)
        assert "subject" not in stored
        for row in group:
            assert str(SubjectRef(**row.data()["subject"])) == row.subject_ref


def test_what_was_recorded_as_of_a_date_counts_the_confirmed_rows(refs):
    evaluate(refs, as_of=FIRST)
    evaluate(refs, as_of=SECOND)
    first_rows = set(Determination.objects.values_list("sequence", flat=True))
    assert set(recorded_on(Determination.objects.all(), as_of=SECOND).values_list("sequence", flat=True)) == first_rows
    assert set(recorded_on(Determination.objects.filter(subject_ref=refs[0]), as_of=SECOND, few=True)
               .values_list("sequence", flat=True)) == set(
        Determination.objects.filter(subject_ref=refs[0]).values_list("sequence", flat=True))
    assert not recorded_on(Determination.objects.all(), as_of=THIRD).exists()
    # a report as of the second date reads them, and records nothing more
    of_record = report_selectors.determinations_of_record(as_of=SECOND)
    assert {row.sequence for row in of_record} == first_rows
    assert report_selectors.subjects_without_determination(as_of=SECOND, subject_refs=refs) == []
    assert report_selectors.subject_count(as_of=SECOND) == len(refs)
    # so does the subject page
    in_force = [regime for regime in regimes_in_force(as_of=SECOND) if regime.regime in REGIMES]
    on = subject_determinations_on(subject_ref=refs[0], as_of=SECOND, regimes=in_force)
    assert set(on) == {regime.regime for regime in in_force} == {"eu-ai-act"}
    assert all(row.as_of == FIRST for row in on.values())


def test_confirmed_among_searches_the_ranges_of_the_date(refs):
    evaluate(refs, as_of=FIRST)
    evaluate(refs, as_of=SECOND, chunk_size=2)
    assert confirmed_among([1, 5, 10, 11], as_of=SECOND) == {1, 5, 10}
    assert confirmed_among([1, 5], as_of=THIRD) == set()
    assert sequence_ranges([7, 3, 4, 5, 9, 8, 1]) == [[1, 1], [3, 5], [7, 9]]


def test_a_nightly_run_reports_a_change_made_in_between_on_the_row_it_confirms(refs):
    nightly = evaluate(refs, as_of=FIRST, kind=Trigger.SCHEDULE)
    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="org-0", name="Org 0")],
        models=[ModelRecordFactory(organisation="org-0", name="Model-1", training_compute_ops=2e26)],
    ), via="import")
    between = evaluate(["model:org-0/Model-1@1"], as_of=FIRST)
    assert Determination.objects.filter(run=between).count() == 2
    nightly.refresh_from_db()
    assert nightly.log_sequence == 10

    second = evaluate(refs, as_of=SECOND, kind=Trigger.SCHEDULE)
    assert second.previous_run == nightly
    assert not Determination.objects.filter(run=second, subject_ref="model:org-0/Model-1@1").exists()
    change = StatusChange.objects.get(run=second, subject_ref="model:org-0/Model-1@1", regime="eu-ai-act")
    assert change.from_determination.run == nightly and change.to_determination.run == between
    assert (change.from_tier, change.to_tier) == ("gpai", "gpai-systemic-risk")
    third = evaluate(refs, as_of=THIRD, kind=Trigger.SCHEDULE)
    assert third.changes_count == 0 and not Determination.objects.filter(run=third).exists()


def test_verify_log_names_a_confirmation_whose_anchor_or_chain_is_broken(refs):
    evaluate(refs, as_of=FIRST)
    evaluate(refs, as_of=SECOND, chunk_size=2)
    assert verify_chain().ok
    LogHead.objects.filter(id=1).update(confirmation_position=2)
    report = verify_chain()
    assert not report.ok and report.confirmation_broken_at == 2 and "head records 2" in report.reason
    with pytest.raises(CommandError, match="broken at confirmation 2"):
        verify_log()


@sqlite_only
@pytest.mark.parametrize("statement", [
    "UPDATE rules_confirmation SET confirmed = '[[1,10]]' WHERE position = 2",
    "UPDATE rules_confirmation SET as_of = '2026-03-09' WHERE position = 2",
    "UPDATE rules_confirmation SET log_sha256 = previous_sha256 WHERE position = 2",
])
def test_an_altered_confirmation_makes_verify_log_name_it(refs, statement):
    evaluate(refs, as_of=FIRST)
    evaluate(refs, as_of=SECOND, chunk_size=2)
    tamper(statement, table="rules_confirmation", where="position = 2")
    with pytest.raises(CommandError, match="broken at confirmation 2"):
        verify_log()


def _repacked(payload: Payload, text: str) -> bytes:
    dictionary = PayloadDictionary.objects.get(sha256=payload.dictionary_id).text.encode()
    compressor = zstandard.ZstdCompressor(dict_data=zstandard.ZstdCompressionDict(
        dictionary, dict_type=zstandard.DICT_TYPE_RAWCONTENT))
    return compressor.compress(text.encode())


@sqlite_only
@pytest.mark.parametrize("altered", ["packed", "names", "quantities"])
def test_an_altered_payload_makes_verify_log_name_the_first_row_using_it(refs, altered):
    evaluate(refs, as_of=FIRST)
    row = Determination.objects.filter(regime="eu-ai-act", subject_kind="model").order_by("sequence").first()
    first_user = Determination.objects.filter(payload_id=row.payload_id).order_by("sequence").first().sequence
    payload = row.payload
    assert payload.text is None and payload.packed is not None and '"value"' in payload.quantities
    value = {
        # the same dictionary, another text: it unpacks, to a text its hash does not cover
        "packed": _repacked(payload, payload.content.replace('"status"', '"Status"')),
        # the text intact, but what the release scope or a chart reads beside it altered
        "names": payload.names.replace("Model", "Mode1"),
        "quantities": payload.quantities.replace('"value":', '"value":1'),
    }[altered]
    assert value != getattr(payload, altered)
    tamper(f"UPDATE rules_payload SET {altered} = %s WHERE id = %s", [value, row.payload_id],
           table="rules_payload", where="id = %s", where_params=[row.payload_id])
    with pytest.raises(CommandError, match=f"broken at row {first_user}: its payload"):
        verify_log()


@sqlite_only
def test_a_packed_payload_that_names_no_dictionary_breaks_the_chain_and_does_not_stop_verification(refs):
    evaluate(refs, as_of=FIRST)
    row = Determination.objects.filter(regime="eu-ai-act", subject_kind="model").order_by("sequence").first()
    first_user = Determination.objects.filter(payload_id=row.payload_id).order_by("sequence").first().sequence
    tamper("UPDATE rules_payload SET dictionary_sha256 = NULL WHERE id = %s", [row.payload_id],
           table="rules_payload", where="id = %s", where_params=[row.payload_id])
    with pytest.raises(CommandError, match=f"broken at row {first_user}: its payload"):
        verify_log()


@sqlite_only
def test_an_altered_dictionary_makes_verify_log_name_the_first_row_packed_against_it(refs):
    evaluate(refs, as_of=FIRST)
    row = Determination.objects.filter(regime="eu-ai-act", subject_kind="model").order_by("sequence").first()
    dictionary = row.payload.dictionary_id
    first_user = Determination.objects.filter(payload__dictionary=dictionary).order_by("sequence").first().sequence
    tamper("UPDATE rules_payloaddictionary SET text = replace(text, '\"status\"', '\"Status\"') WHERE sha256 = %s",
           [as_stored(dictionary)], table="rules_payloaddictionary", where="sha256 = %s",
           where_params=[as_stored(dictionary)])
    with pytest.raises(CommandError, match=f"broken at row {first_user}: its payload"):
        verify_log()


@postgresql_only
def test_the_trigger_refuses_to_change_confirmations_and_payloads(refs):
    evaluate(refs, as_of=FIRST)
    evaluate(refs, as_of=SECOND)
    for statement in ("UPDATE rules_confirmation SET count = 1", "DELETE FROM rules_confirmation",
                      "UPDATE rules_payload SET text = '{}'", "DELETE FROM rules_payload",
                      "UPDATE rules_payload SET names = ''", "UPDATE rules_payloaddictionary SET text = '{}'",
                      "DELETE FROM rules_payloaddictionary"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert verify_chain().ok and Confirmation.objects.count() == 1


def test_confirmations_and_payloads_refuse_the_orm_too(refs):
    from rules.models import AppendOnlyError

    evaluate(refs, as_of=FIRST)
    evaluate(refs, as_of=SECOND)
    confirmation = Confirmation.objects.get()
    with pytest.raises(AppendOnlyError):
        confirmation.save()
    with pytest.raises(AppendOnlyError):
        Confirmation.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        Payload.objects.all().update(text="{}")
    assert EvaluationRun.objects.count() == 2


def test_reevaluate_confirms_by_default_and_appends_every_row_with_anew(refs):
    evaluate(refs, as_of=FIRST)
    args = ["--in-process", "--as-of", SECOND.isoformat(), "--regime", "eu-ai-act", "--regime", "us-eo-14110"]
    for subject in refs:
        args += ["--subject", subject]
    call_command("reevaluate", *args, stdout=io.StringIO(), stderr=io.StringIO())
    confirming = EvaluationRun.objects.latest("id")
    assert confirming.confirms and not Determination.objects.filter(run=confirming).exists()
    assert Confirmation.objects.get(run=confirming).count == 10
    call_command("reevaluate", *args, "--anew", stdout=io.StringIO(), stderr=io.StringIO())
    anew = EvaluationRun.objects.latest("id")
    assert not anew.confirms and Determination.objects.filter(run=anew).count() == 10
    assert not Confirmation.objects.filter(run=anew).exists() and verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_each_rows_payload_to_the_payloads_table_and_every_row_still_verifies():
    """Back to payloads held in each row, then forward again: each row's payload is stored once by its
    hash, the hash each row's own hash covers, so the chain verifies and reads as before."""
    from django.db.migrations.executor import MigrationExecutor

    refs = submit_registry(models=2, clusters=1, training_compute_ops=5e24)
    evaluate(refs, as_of=FIRST, confirms=False)
    evaluate(refs, as_of=SECOND, confirms=False)  # the same payloads again: stored once
    before = {row.sequence: (row.payload_sha256, row.data()) for row in Determination.objects.all()}
    assert Payload.objects.count() < len(before)
    executor = MigrationExecutor(connection)
    executor.migrate([("rules", "0009_determination_tier")])
    with connection.cursor() as cursor:
        cursor.execute("SELECT sequence, payload FROM rules_determination")
        inline = dict(cursor.fetchall())
    assert {sequence: hashlib.sha256(text.encode()).hexdigest() for sequence, text in inline.items()} == {
        sequence: sha for sequence, (sha, _) in before.items()}
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    after = {row.sequence: (row.payload_sha256, row.data()) for row in Determination.objects.all()}
    assert after == before and Payload.objects.count() < len(after)
    assert verify_chain().ok
