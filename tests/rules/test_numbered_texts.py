"""A determination refers to its payload and facts snapshot by their numbers (4 bytes a row), not their
digests: migration rules.0025 numbers the stored texts and moves the log's references, both ways, on
both databases, and the chain the rows' hashes make is whole after each move."""
from __future__ import annotations

import hashlib
from datetime import date

import pytest
from django.db import IntegrityError, connection, transaction

from reports.exports import determination_record
from rules.decision_log import verify_chain
from rules.models import Determination, FactsSnapshot, Payload, facts_sha256_filled
from rules.services import run_create, run_execute_inline
from tests.rules.conftest import migrated, submit_registry

BEFORE = ("rules", "0024_determinations_by_rule_version_in_force")


def columns(table: str) -> set[str]:
    with connection.cursor() as cursor:
        return {c.name for c in connection.introspection.get_table_description(cursor, table)}


def records() -> list[dict]:
    rows = list(Determination.objects.order_by("sequence"))
    facts_sha256_filled(rows)
    return [determination_record(row, with_tests=True) for row in rows]


def test_a_row_refers_to_its_texts_by_number_and_its_hash_covers_their_digests(db):
    run_execute_inline(run_create(kind="manual", as_of=date(2026, 3, 1), subjects=submit_registry(models=2)))
    rows = list(Determination.objects.order_by("sequence"))
    assert rows
    assert {"payload_id", "facts_id"} <= columns("rules_determination")
    assert not {"payload_sha256", "facts_sha256"} & columns("rules_determination")
    for row in rows:
        assert isinstance(row.payload_id, int) and isinstance(row.facts_id, int)
        payload, snapshot = Payload.objects.get(pk=row.payload_id), FactsSnapshot.objects.get(pk=row.facts_id)
        assert row.payload_sha256 == payload.sha256 == hashlib.sha256(payload.content.encode()).hexdigest()
        assert row.facts_sha256 == snapshot.sha256 == hashlib.sha256(snapshot.content.encode()).hexdigest()
        assert row.compute_row_sha256() == row.row_sha256
    assert verify_chain().ok


def test_a_text_is_stored_once_under_its_digest(db):
    payload = Payload.objects.order_by("id").first()
    if payload is None:
        run_execute_inline(run_create(kind="manual", as_of=date(2026, 3, 1), subjects=submit_registry(models=1)))
        payload = Payload.objects.order_by("id").first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Payload.objects.create(sha256=payload.sha256, text=payload.content)


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_references_from_digests_to_numbers_and_back():
    refs = submit_registry(models=2, training_compute_ops=5e25)
    run_execute_inline(run_create(kind="manual", as_of=date(2026, 3, 1), subjects=refs))
    before = records()
    assert verify_chain().ok

    executor = migrated([BEFORE])  # back: each row refers to its texts by digest, which are their keys
    assert {"payload_sha256", "facts_sha256"} <= columns("rules_determination")
    assert not {"payload_id", "facts_id"} & columns("rules_determination")
    assert "id" not in columns("rules_payload") and "id" not in columns("rules_factssnapshot")
    old = executor.loader.project_state([BEFORE]).apps
    OldDetermination, OldPayload = old.get_model("rules", "Determination"), old.get_model("rules", "Payload")
    old_rows = list(OldDetermination.objects.order_by("sequence").values_list("payload_id", "facts_id"))
    assert [(row["facts_sha256"]) for row in before] == [facts for _, facts in old_rows]
    assert all(OldPayload.objects.filter(pk=payload).exists() for payload, _ in old_rows)
    # a text stored in the old shape, after the rows: it is numbered too
    OldPayload.objects.create(sha256=hashlib.sha256(b'{"added":true}').hexdigest(), text='{"added":true}')

    migrated()
    assert {"payload_id", "facts_id"} <= columns("rules_determination")
    assert not {"payload_sha256", "facts_sha256"} & columns("rules_determination")
    assert records() == before
    report = verify_chain()
    assert report.ok, report
    assert Payload.objects.filter(text='{"added":true}').exists()
    # numbers go on from the highest: a new text is stored beside the migrated ones
    run_execute_inline(run_create(kind="manual", as_of=date(2027, 3, 1), subjects=refs))
    assert verify_chain().ok
