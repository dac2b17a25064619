"""Facts snapshots packed against their kind's dictionary (`rules.snapshots`, migration rules.0021):
the exact text back, one dictionary per kind, what a snapshot stored before reads as it did, and
`verify_log` proving every byte, on both databases."""
from __future__ import annotations

import io
from datetime import date

import pytest
import zstandard
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from reports.exports import determination_record
from rules import snapshots
from rules.decision_log import canonical, sha256_text, verify_chain
from rules.models import Determination, FactsDictionary, FactsSnapshot
from rules.services import run_create, run_execute_inline
from rules.subjects import snapshots_for
from tests.rules.conftest import as_stored, submit_registry, tamper
from tests.rules.test_decision_log import altered_facts

pytestmark = pytest.mark.django_db

sqlite_only = pytest.mark.skipif("connection.vendor != 'sqlite'", reason="raw SQL tampering is possible on SQLite")
postgresql_only = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the trigger exists on PostgreSQL")


def evaluate(refs: list[str], as_of: date = date(2026, 3, 1)) -> None:
    run_execute_inline(run_create(kind="manual", as_of=as_of, subjects=refs, regimes=["eu-ai-act", "us-eo-14110"]))


@pytest.fixture
def refs() -> list[str]:
    found = submit_registry(models=6, clusters=3, organisations=2, training_compute_ops=5e24)
    evaluate(found)
    return found


def verify_log() -> str:
    out = io.StringIO()
    call_command("verify_log", "--no-progress", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_each_snapshot_is_packed_against_its_kinds_dictionary_and_unpacks_to_the_text_its_hash_covers(refs):
    stored = list(FactsSnapshot.objects.all())
    assert stored and all(s.facts is None and s.packed is not None and s.dictionary_id for s in stored)
    dictionaries = {d.sha256: d for d in FactsDictionary.objects.all()}
    assert {d.kind for d in dictionaries.values()} == {"model", "cluster", "organisation"}
    for dictionary in dictionaries.values():
        assert sha256_text(dictionary.text) == dictionary.sha256
        assert dictionary.text.startswith(f"facts {dictionary.kind}\n{{")
    for snapshot in stored:
        assert sha256_text(snapshot.content) == snapshot.sha256
        assert f'"kind":"{dictionaries[snapshot.dictionary_id].kind}"' in snapshot.content
    # the engine's input, read back whole: what each subject's determinations were made on
    for subject in snapshots_for(refs):
        row = Determination.objects.filter(subject_ref=subject.key.ref).first()
        assert row.facts.data() == snapshots.expand_text(canonical(subject.snapshot))
        assert row.facts.content == canonical(subject.snapshot)
    # what packing is for: alike snapshots take a fraction of their text
    packed = sum(len(bytes(s.packed)) for s in stored)
    texts = sum(len(s.content.encode()) for s in stored)
    assert packed < texts / 3, (packed, texts)
    assert "decision log intact" in verify_log()


def test_a_later_run_packs_against_the_dictionaries_stored_and_reads_them_by_hash(refs):
    dictionaries = set(FactsDictionary.objects.values_list("sha256", flat=True))
    before = FactsSnapshot.objects.count()
    more = submit_registry(models=2, organisations=1, training_compute_ops=7e24)
    evaluate(more, as_of=date(2026, 4, 1))
    assert FactsSnapshot.objects.count() > before
    assert set(FactsDictionary.objects.values_list("sha256", flat=True)) == dictionaries
    everything = FactsSnapshot.objects.values_list("sha256", flat=True)
    read = snapshots.texts(everything)
    assert set(read) == set(everything) and all(sha256_text(text) == sha for sha, text in read.items())
    assert snapshots.texts([]) == {} and snapshots.texts(["0" * 64]) == {}


def stored_as_text(sha: str, text: str) -> None:
    """The snapshot's row as a log written before snapshots were packed holds it (on PostgreSQL past
    the append-only trigger, as a migration back does)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE rules_factssnapshot DISABLE TRIGGER rules_factssnapshot_append_only")
        cursor.execute("UPDATE rules_factssnapshot SET facts = %s, packed = NULL, dictionary_sha256 = NULL "
                       "WHERE sha256 = %s", [text, as_stored(sha)])
        assert cursor.rowcount == 1
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE rules_factssnapshot ENABLE TRIGGER rules_factssnapshot_append_only")


def test_a_snapshot_stored_as_text_before_packing_reads_exports_and_verifies_as_it_did(refs):
    row = Determination.objects.filter(subject_kind="model").order_by("sequence").first()
    text = row.facts.content
    record = determination_record(row)
    stored_as_text(row.facts_sha256, text)
    again = Determination.objects.get(pk=row.pk)
    assert again.facts.packed is None and again.facts.content == text and again.facts.data() == row.facts.data()
    assert snapshots.texts([row.facts_sha256]) == {row.facts_sha256: text}
    assert snapshots.numbered_texts([row.facts_id]) == {row.facts_id: text}
    assert determination_record(again) == record
    assert "decision log intact" in verify_log()


def _repacked(snapshot: FactsSnapshot, text: str) -> bytes:
    dictionary = FactsDictionary.objects.get(sha256=snapshot.dictionary_id).text.encode()
    return zstandard.ZstdCompressor(dict_data=zstandard.ZstdCompressionDict(
        dictionary, dict_type=zstandard.DICT_TYPE_RAWCONTENT)).compress(text.encode())


@sqlite_only
def test_an_altered_packed_snapshot_makes_verify_log_name_the_first_row_made_on_it(refs):
    row = Determination.objects.filter(subject_kind="model").order_by("sequence").last()
    first_user = Determination.objects.filter(facts_id=row.facts_id).order_by("sequence").first().sequence
    snapshot = row.facts
    altered = altered_facts(snapshot.content)
    # the same dictionary, another text: it unpacks, to a text the snapshot's hash does not cover
    tamper("UPDATE rules_factssnapshot SET packed = %s WHERE id = %s", [_repacked(snapshot, altered), row.facts_id],
           table="rules_factssnapshot", where="id = %s", where_params=[row.facts_id])
    with pytest.raises(CommandError, match=f"broken at row {first_user}: its facts snapshot"):
        verify_log()


@sqlite_only
@pytest.mark.parametrize("statement", [
    "UPDATE rules_factssnapshot SET packed = X'00ff' WHERE id = %s",  # not Zstandard's
    "UPDATE rules_factssnapshot SET dictionary_sha256 = NULL WHERE id = %s",  # packed, no dictionary named
])
def test_a_snapshot_that_does_not_unpack_breaks_the_chain_and_does_not_stop_verification(refs, statement):
    row = Determination.objects.filter(subject_kind="cluster").order_by("sequence").first()
    tamper(statement, [row.facts_id], table="rules_factssnapshot", where="id = %s", where_params=[row.facts_id])
    report = verify_chain()
    assert not report.ok and report.broken_at == row.sequence and "facts snapshot" in report.reason


@sqlite_only
def test_an_altered_dictionary_makes_verify_log_name_the_first_row_made_on_a_snapshot_packed_against_it(refs):
    dictionary = FactsDictionary.objects.get(kind="organisation")
    first_user = Determination.objects.filter(facts__dictionary=dictionary.sha256).order_by("sequence").first().sequence
    tamper("UPDATE rules_factsdictionary SET text = replace(text, '\"kind\"', '\"Kind\"') WHERE sha256 = %s",
           [as_stored(dictionary.sha256)], table="rules_factsdictionary", where="sha256 = %s",
           where_params=[as_stored(dictionary.sha256)])
    with pytest.raises(CommandError, match=f"broken at row {first_user}: its facts snapshot"):
        verify_log()


@postgresql_only
def test_the_trigger_refuses_to_change_or_remove_a_facts_snapshot_or_dictionary(refs):
    for statement in ("UPDATE rules_factsdictionary SET text = '{}'", "DELETE FROM rules_factsdictionary",
                      "UPDATE rules_factssnapshot SET packed = NULL", "UPDATE rules_factssnapshot SET facts = '{}'",
                      "DELETE FROM rules_factssnapshot"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert verify_chain().ok


def append_only_triggers() -> set[str]:
    """The append-only triggers on the facts snapshots' tables (PostgreSQL; none elsewhere)."""
    if connection.vendor != "postgresql":
        return set()
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
                       "AND tgrelid::regclass::text IN ('rules_factssnapshot', 'rules_factsdictionary')")
        return {name for (name,) in cursor.fetchall()}


@pytest.mark.django_db(transaction=True)
def test_the_migration_unpacks_every_snapshot_back_to_text_and_packs_none_forward_again(refs):
    before = {sha: snapshots.texts([sha])[sha] for sha in FactsSnapshot.objects.values_list("sha256", flat=True)}
    executor = MigrationExecutor(connection)
    executor.migrate([("rules", "0020_index_of_current_determinations_keyed_by_sequence")])  # back
    with connection.cursor() as cursor:
        cursor.execute("SELECT sha256, facts FROM rules_factssnapshot")
        unpacked = {bytes(sha).hex() if isinstance(sha, memoryview | bytes) else sha: text
                    for sha, text in cursor.fetchall()}
    assert unpacked == before
    assert append_only_triggers() == set()
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())  # forwards: what is stored as text stays text
    assert FactsDictionary.objects.count() == 0
    if connection.vendor == "postgresql":
        assert append_only_triggers() == {"rules_factssnapshot_append_only", "rules_factsdictionary_append_only"}
    assert all(s.packed is None and s.content == before[s.sha256] for s in FactsSnapshot.objects.all())
    assert "decision log intact" in verify_log()
    # and the next write packs again, beside the snapshots kept as text
    more = submit_registry(models=1, organisations=1, training_compute_ops=8e24)
    evaluate(more, as_of=date(2026, 5, 1))
    assert FactsSnapshot.objects.filter(packed__isnull=False).exists()
    assert "decision log intact" in verify_log()
