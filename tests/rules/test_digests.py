"""The decision log's SHA-256 digests: 32 bytes where PostgreSQL stores them (migration rules.0018),
64 hexadecimal characters wherever the product reads them, on both databases (`rules.digests`)."""
from __future__ import annotations

import io
from datetime import date

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

from reports.exports import determination_record
from rules.decision_log import verify_chain
from rules.digests import HEX, NOT_A_DIGEST, Sha256Field, looked_up
from rules.models import Determination, FactsSnapshot, Payload, PayloadDictionary
from rules.models.decision_log import GENESIS_SHA256
from rules.services import run_create, run_execute_inline
from tests.rules.conftest import submit_registry

pytestmark = pytest.mark.django_db

# a row refers to its payload and facts snapshot by number since migration rules.0025: their digests
# are kept once, with them
DIGESTS = ("rule_hash", "row_sha256")
# before migration rules.0019 the row kept the previous row's hash too
DIGESTS_0017 = ("rule_hash", "payload_sha256", "facts_sha256", "previous_sha256", "row_sha256")
KEYS = {"rules_payloaddictionary": ("sha256",), "rules_payload": ("sha256", "dictionary_sha256"),
        "rules_factssnapshot": ("sha256", "dictionary_sha256"), "rules_factsdictionary": ("sha256",),
        "rules_determination": DIGESTS}


def evaluate(refs: list[str], as_of: date = date(2026, 3, 1)) -> None:
    run_execute_inline(run_create(kind="manual", as_of=as_of, subjects=refs, regimes=["eu-ai-act", "us-eo-14110"]))


@pytest.fixture
def logged() -> list[Determination]:
    evaluate(submit_registry(models=2, clusters=1, training_compute_ops=5e24))
    return list(Determination.objects.order_by("sequence"))


def raw(table: str, columns: tuple[str, ...]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY 1")
        return cursor.fetchall()


def as_text(value) -> str | None:
    """A stored digest in hexadecimal, whichever way the database stores it."""
    return bytes(value).hex() if isinstance(value, memoryview | bytes) else value


def test_the_log_stores_each_digest_once_in_the_form_of_its_database(logged):
    rows = {row.sequence: row for row in logged}
    stored = raw("rules_determination", ("sequence", *DIGESTS))
    assert len(stored) == len(rows) == 8
    for sequence, *values in stored:
        shown = [getattr(rows[sequence], name) for name in DIGESTS]
        assert all(HEX.fullmatch(value) for value in shown[1:]) and HEX.fullmatch(shown[0] or "0" * 64)
        assert HEX.fullmatch(rows[sequence].payload_sha256) and HEX.fullmatch(rows[sequence].facts_sha256)
        if connection.vendor == "postgresql":
            assert all(isinstance(value, bytes) for value in values)
            assert [len(value) for value in values[1:]] == [32] and len(values[0]) in (0, 32)
        else:
            assert all(isinstance(value, str) for value in values)
        assert [as_text(value) for value in values] == shown
    # the keys of what the rows refer to, stored the same way
    for table, columns in KEYS.items():
        if table == "rules_determination":
            continue
        for values in raw(table, columns):
            for value in values:
                assert value is None or (len(value) == 32 if connection.vendor == "postgresql" else HEX.fullmatch(value))
    assert verify_chain().ok


def test_lookups_by_digest_find_what_they_name_and_nothing_for_what_is_no_digest(logged):
    row = logged[3]
    assert Determination.objects.get(row_sha256=row.row_sha256) == row
    assert list(Determination.objects.filter(row_sha256__in=[row.row_sha256, logged[5].row_sha256])
                .values_list("sequence", flat=True)) == [row.sequence, logged[5].sequence]
    assert set(Determination.objects.filter(payload_id__any=[row.payload_id]).values_list("payload_id", flat=True)) \
        == {row.payload_id}
    assert Determination.objects.filter(facts=row.facts_id).count() == sum(r.facts_id == row.facts_id for r in logged)
    assert Determination.objects.filter(payload__dictionary=row.payload.dictionary_id).exists()
    assert Payload.objects.filter(sha256__any=[row.payload_sha256, "f" * 64]).count() == 1
    # a text of ten characters would make 32 bytes after the mark: it is made longer
    assert len(looked_up("0123456789")) != 32 and looked_up("0123456789").startswith(NOT_A_DIGEST)
    assert FactsSnapshot.objects.get(sha256=row.facts_sha256).pk == row.facts_id
    # what is no digest, or not one as the product writes them, matches nothing and raises nothing
    for other in ("not-a-digest", row.row_sha256.upper(), row.row_sha256[:-1], "é" * 64, "x" * 32, "0123456789"):
        assert not Determination.objects.filter(row_sha256=other).exists()
        assert not Determination.objects.filter(row_sha256__in=[other]).exists()
        assert not Payload.objects.filter(sha256__any=[other]).exists()
    versioned = next(r for r in logged if r.rule_hash)
    unversioned = [r.sequence for r in logged if not r.rule_hash]
    assert list(Determination.objects.filter(rule_hash="").values_list("sequence", flat=True)) == unversioned
    assert Determination.objects.filter(rule_hash=versioned.rule_hash).count() == \
        sum(r.rule_hash == versioned.rule_hash for r in logged)


@pytest.mark.parametrize("value", ["not-a-digest", "F" * 64, "f" * 63, "g" * 64])
def test_a_digest_that_is_not_one_is_never_stored(value):
    with pytest.raises(ValueError, match="not a SHA-256 digest"):
        Sha256Field().get_db_prep_save(value, connection)
    with pytest.raises(ValueError, match="not a SHA-256 digest"), transaction.atomic():
        FactsSnapshot(sha256=value, facts="{}").save()
    assert not FactsSnapshot.objects.exists()


def test_the_records_the_api_and_exports_give_show_the_digests_in_hexadecimal(logged):
    exported = [determination_record(row) for row in Determination.objects.order_by("sequence")]
    assert [row["row_sha256"] for row in exported] == [row.row_sha256 for row in logged]
    assert [row["previous_sha256"] for row in exported] == [GENESIS_SHA256] + [row.row_sha256 for row in logged[:-1]]
    assert [row["facts_sha256"] for row in exported] == [row.facts_sha256 for row in logged]
    assert all(HEX.fullmatch(row["facts_sha256"]) for row in exported)
    assert [row["rule_hash"] for row in exported] == [row.rule_hash or None for row in logged]


@pytest.mark.django_db(transaction=True)
def test_the_migration_converts_a_stored_log_and_back_and_the_chain_still_verifies():
    evaluate(submit_registry(models=2, clusters=1, training_compute_ops=5e24))
    before = {row.sequence: tuple(getattr(row, name) for name in ("rule_hash", "payload_sha256", "facts_sha256",
                                                                   "previous_sha256", "row_sha256"))
              for row in Determination.objects.all()}
    keys = {model: set(model.objects.values_list("sha256", flat=True)) for model in (FactsSnapshot, Payload,
                                                                                     PayloadDictionary)}
    constraints = foreign_keys()
    target = [("rules", "0017_determinations_by_tier_in_log_order")]
    executor = MigrationExecutor(connection)
    executor.migrate(target)  # back to text
    text = {sequence: tuple(values) for sequence, *values in raw("rules_determination", ("sequence", *DIGESTS_0017))}
    assert text == before  # hexadecimal text, as before the migrations, the previous row's hash filled in again
    # a row referred to its texts by their digests then (rules.0025 numbers them)
    assert all("(sha256)" in definition for _, definition in foreign_keys())
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())  # and forwards again
    after = {row.sequence: tuple(getattr(row, name) for name in ("rule_hash", "payload_sha256", "facts_sha256",
                                                                  "previous_sha256", "row_sha256"))
             for row in Determination.objects.all()}
    assert after == before
    assert {model: set(model.objects.values_list("sha256", flat=True)) for model in keys} == keys
    assert foreign_keys() == constraints
    if connection.vendor == "postgresql":
        assert {len(value) for (value,) in raw("rules_determination", ("row_sha256",))} == {32}
    out = io.StringIO()
    call_command("verify_log", "--no-progress", stdout=out, stderr=io.StringIO())
    assert "decision log intact" in out.getvalue()


def foreign_keys() -> list[tuple[str, str]]:
    """The foreign keys to the digest-keyed tables, with their definitions (PostgreSQL; none to check elsewhere)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f' "
                       "AND confrelid::regclass::text = ANY(%s) ORDER BY conname",
                       [["rules_payloaddictionary", "rules_payload", "rules_factssnapshot"]])
        found = cursor.fetchall()
    assert len(found) == 3  # a row's payload and facts, a payload's dictionary
    return found


def test_lists_of_digests_and_numbers_find_what_the_same_list_finds_by_in(logged):
    """`__any` finds what `__in` finds: lists of digests as the product writes them and of integers
    (sent joined into one text on PostgreSQL), and lists that are not all such (sent as arrays):
    uppercase, foreign and empty digests, texts."""
    from django.test.utils import CaptureQueriesContext

    from rules.models import LoggedSubject

    payloads = [row.payload_sha256 for row in logged[:4]]
    versioned = next(row.rule_hash for row in logged if row.rule_hash)
    cases = [
        (Payload, "sha256", [*payloads, "f" * 64], True),
        (Payload, "sha256", [payloads[0], payloads[1].upper(), "not-a-digest"], False),
        (Determination, "rule_hash", [versioned, ""], False),
        (Determination, "sequence", [*(row.sequence for row in logged[1:6]), 10**6], True),
        (Determination, "facts", [row.facts_id for row in logged], True),
        (LoggedSubject, "ref", [logged[0].subject_ref, "nobody/Nothing@1"], False),
    ]
    client_side = not connection.settings_dict.get("OPTIONS", {}).get("server_side_binding")
    for model, field, values, joined in cases:
        with CaptureQueriesContext(connection) as queries:
            found = set(model.objects.filter(**{f"{field}__any": values}).values_list("pk", flat=True))
        assert found and found == set(model.objects.filter(**{f"{field}__in": values}).values_list("pk", flat=True))
        sent_joined = "string_to_array" in queries[0]["sql"]
        assert sent_joined == (joined and connection.vendor == "postgresql" and client_side), (field, values)
