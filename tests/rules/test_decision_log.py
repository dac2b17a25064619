"""The decision log: every determination is a chained row that is never updated or deleted, and
`verify_log` names the first row that breaks the chain."""
from __future__ import annotations

import hashlib
import io
import json
from datetime import date

import orjson
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from rules import decision_log
from rules.codes import code
from rules.decision_log import verify_chain
from rules.models import AppendOnlyError, Determination, FactsSnapshot, LogHead, RuleVersion, previous_filled
from rules.models.decision_log import GENESIS_SHA256
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from tests.rules.conftest import as_stored, submit_registry, tamper

pytestmark = pytest.mark.django_db

sqlite_only = pytest.mark.skipif("connection.vendor != 'sqlite'", reason="raw SQL tampering is possible on SQLite")
postgresql_only = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the trigger exists on PostgreSQL")

AS_OF = date(2026, 3, 1)


def evaluate(subjects=None, *, regimes=None, as_of=AS_OF, kind=Trigger.MANUAL):
    run = run_create(kind=kind, as_of=as_of, subjects=subjects, regimes=regimes)
    return run_execute_inline(run)


@pytest.fixture
def logged():
    """A small registry evaluated twice: 2 models, 1 cluster and 1 organisation under two regimes."""
    refs = submit_registry(models=2, clusters=1, training_compute_ops=5e24)
    evaluate(refs, regimes=["eu-ai-act", "us-eo-14110"])
    evaluate(refs, regimes=["eu-ai-act", "us-eo-14110"], as_of=date(2024, 6, 1))
    return list(Determination.objects.order_by("sequence"))


def verify_log():
    out, err = io.StringIO(), io.StringIO()
    call_command("verify_log", "--no-progress", stdout=out, stderr=err)
    return out.getvalue()


def verify_log_failure() -> CommandError:
    with pytest.raises(CommandError) as excinfo:
        verify_log()
    assert excinfo.value.returncode != 0
    return excinfo.value


def test_each_row_carries_the_hash_of_the_row_before_it(logged):
    assert len(logged) == 16
    assert [row.sequence for row in logged] == list(range(1, 17))
    assert logged[0].previous_sha256 == GENESIS_SHA256
    for before, row in zip(logged, logged[1:], strict=False):
        assert row.previous_sha256 == before.row_sha256
    for row in logged:
        assert row.compute_row_sha256() == row.row_sha256
    head = LogHead.objects.get()
    assert (head.sequence, head.row_sha256) == (16, logged[-1].row_sha256)
    assert "decision log intact: 16 row(s) verified" in verify_log()


def test_a_row_records_subject_rule_version_facts_and_trigger(logged):
    row = next(r for r in logged if r.subject_kind == "model" and r.regime == "eu-ai-act" and r.as_of == AS_OF)
    version = RuleVersion.objects.get(regime="eu-ai-act", state="published")
    assert row.subject_ref == "model:org-0/Model-0@1" and row.organisation == "org-0"
    assert (row.rule_version, row.rule_version_label, row.rule_hash) == (version, version.version_id, version.content_sha256)
    assert (row.status, row.deciding_test) == ("covered", "gpai-indicative")
    assert row.trigger == Trigger.MANUAL and row.run is not None
    assert row.facts_revision == 1 and row.created_at is not None
    payload = row.data()
    outcomes = {test["id"]: test["outcome"] for test in payload["tests"]}
    assert outcomes["gpai-indicative"] == "met" and outcomes["systemic-risk-presumption"] == "not_met"
    assert payload["subject"]["name"] == "Model-0" and payload["status"] == row.status
    assert payload["rule_hash"] == row.rule_hash and payload["as_of"] == AS_OF.isoformat()
    assert "readings" not in payload  # kept once, in the rule version


def test_every_test_outcome_has_its_values_citation_and_method(logged):
    numeric = 0
    for row in logged:
        payload = row.data()
        if payload["status"] == "not_in_force":
            assert payload["tests"] == []
            continue
        if row.subject_kind == "model":
            assert payload["tests"], row
        for test in payload["tests"]:
            assert {"id", "outcome", "quantity", "value", "operator", "threshold", "citation", "method"} <= set(test)
            assert test["outcome"] in {"met", "not_met", "indeterminate"}
            assert test["citation"], (row, test["id"])
            if isinstance(test["threshold"], (int, float)) and not isinstance(test["threshold"], bool) \
                    and test["value"] is not None:
                numeric += 1
                assert test["operator"] in {">", ">="}
                assert test["method"], (row, test["id"])
        for name, quantity in payload["quantities"].items():
            assert quantity["method"], (row, name)
    assert numeric > 0


def test_the_facts_snapshot_is_stored_under_its_sha256(logged):
    for row in logged:
        snapshot = FactsSnapshot.objects.get(pk=row.facts_id)  # by its number
        assert hashlib.sha256(snapshot.content.encode("utf-8")).hexdigest() == snapshot.sha256 == row.facts_sha256
    model_row = next(r for r in logged if r.subject_kind == "model")
    facts = model_row.facts.data()
    assert facts["kind"] == "model" and facts["model"]["training_compute_ops"] == 5 * 10**24


def test_the_orm_refuses_to_update_or_delete_a_row(logged):
    row = Determination.objects.get(pk=logged[0].pk)
    row.status = "not_in_force"
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        row.delete()
    with pytest.raises(AppendOnlyError):
        Determination.objects.filter(pk=row.pk).update(status="covered")
    with pytest.raises(AppendOnlyError):
        Determination.objects.filter(pk=row.pk).delete()
    with pytest.raises(AppendOnlyError):
        Determination.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        Determination.objects.bulk_update([row], ["status"])
    with pytest.raises(AppendOnlyError):
        row.run.determinations.all().delete()
    with pytest.raises(AppendOnlyError):
        row.run.determinations.update(status="not_in_force")
    assert Determination.objects.count() == 16
    assert Determination.objects.get(pk=row.pk).status == logged[0].status
    assert "16 row(s) verified" in verify_log()


def altered_facts(facts: str) -> str:
    """The snapshot text with its training compute (5e24, however it is spelled) changed to 5e23."""
    altered = facts.replace("5e24", "5e23").replace("5e+24", "5e+23").replace(str(5 * 10**24), str(5 * 10**23))
    assert altered != facts, f"no 5e24 in the facts snapshot to alter: {facts[:200]}"
    return altered


def test_the_orm_refuses_to_change_or_remove_a_facts_snapshot(logged):
    snapshot = logged[0].facts
    snapshot.facts = altered_facts(snapshot.content)
    with pytest.raises(AppendOnlyError):
        snapshot.save()
    with pytest.raises(AppendOnlyError):
        snapshot.delete()
    with pytest.raises(AppendOnlyError):
        FactsSnapshot.objects.filter(pk=snapshot.pk).update(facts="{}")
    with pytest.raises(AppendOnlyError):
        FactsSnapshot.objects.all().delete()
    assert "16 row(s) verified" in verify_log()


def test_the_admin_shows_the_log_but_offers_no_add_change_or_delete(logged, admin_client_logged_in):
    row = logged[0]
    changelist = admin_client_logged_in.get(reverse("admin:rules_determination_changelist"))
    assert changelist.status_code == 200
    assert row.subject_ref.encode() in changelist.content
    assert b"delete_selected" not in changelist.content
    change_url = reverse("admin:rules_determination_change", args=[row.pk])
    page = admin_client_logged_in.get(change_url)
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert row.row_sha256.encode() in page.content and b"systemic-risk-presumption" in page.content
    assert admin_client_logged_in.post(change_url, {"status": "covered"}).status_code == 403
    delete_url = reverse("admin:rules_determination_delete", args=[row.pk])
    assert admin_client_logged_in.get(delete_url).status_code == 403
    assert admin_client_logged_in.post(delete_url, {"post": "yes"}).status_code == 403
    assert admin_client_logged_in.get(reverse("admin:rules_determination_add")).status_code == 403
    assert admin_client_logged_in.post(
        reverse("admin:rules_determination_changelist"),
        {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"},
    ).status_code in {200, 302, 403}
    assert Determination.objects.count() == 16 and Determination.objects.get(pk=row.pk).status == row.status


def test_the_log_is_paged_without_being_counted_row_by_row(logged, admin_client_logged_in, monkeypatch):
    """The whole log's length is its head's; a filtered list is counted up to a bound and past it the
    page says "more than" and how to see them all."""
    import rules.pagination

    monkeypatch.setattr(rules.pagination.CappedLogPaginator, "counted_at_most", 5)
    url = reverse("admin:rules_determination_changelist")
    whole = admin_client_logged_in.get(url)
    assert whole.context["cl"].result_count == 16 and not whole.context["cl"].paginator.capped
    assert b"16 determinations" in whole.content
    with connection.cursor() as cursor:  # the head, not the rows, is what the whole log's count reads
        cursor.execute("UPDATE rules_loghead SET sequence = 17 WHERE id = 1")
    assert admin_client_logged_in.get(url).context["cl"].result_count == 17
    LogHead.objects.filter(id=1).update(sequence=16)
    under_one_regime = admin_client_logged_in.get(url, {"regime": "eu-ai-act"})  # 8 rows
    assert under_one_regime.context["cl"].paginator.capped and under_one_regime.context["cl"].result_count == 5
    assert b"more than 5 determinations: narrow the list with its filters or a search" in under_one_regime.content
    few = admin_client_logged_in.get(url, {"q": logged[0].subject_ref})
    expected = Determination.objects.filter(subject_ref=logged[0].subject_ref).count()
    assert few.context["cl"].result_count == expected <= 5 and not few.context["cl"].paginator.capped


def test_verify_chain_ignores_rows_appended_while_it_runs(logged):
    """A row committed by a worker during verification is not mistaken for a broken chain."""
    appended = []

    def append_once(step):
        if not appended:
            refs = [logged[0].subject_ref]
            appended.append(evaluate(refs, regimes=["eu-ai-act"], as_of=date(2025, 9, 1)))

    report = verify_chain(progress=append_once, batch=4)
    assert appended and report.ok, report
    assert report.checked == 16
    assert verify_chain().checked == 17


def test_the_previous_rows_hash_is_read_from_that_row_not_stored_twice(logged, django_assert_num_queries):
    with connection.cursor() as cursor:
        columns = {column.name for column in connection.introspection.get_table_description(cursor, "rules_determination")}
    assert "row_sha256" in columns and "previous_sha256" not in columns
    rows = list(Determination.objects.filter(sequence__in=[1, 5, 6, 12]).order_by("sequence"))
    with django_assert_num_queries(1):  # a page's previous hashes at once
        previous_filled(rows)
    with django_assert_num_queries(0):
        assert [row.previous_sha256 for row in rows] == [GENESIS_SHA256] + [logged[s - 2].row_sha256 for s in (5, 6, 12)]
    row = Determination.objects.get(sequence=9)
    with django_assert_num_queries(1):  # one row alone reads its own
        assert row.previous_sha256 == logged[7].row_sha256


@sqlite_only
def test_a_row_altered_by_sql_makes_verify_log_name_it(logged):
    tamper("UPDATE rules_determination SET status = CASE status WHEN 1 THEN 4 ELSE 1 END WHERE sequence = 5",
           table="rules_determination", where="sequence = 5")
    error = verify_log_failure()
    assert "broken at row 5" in str(error) and "altered" in str(error)
    assert "4 row(s) verified before it" in str(error)


@sqlite_only
@pytest.mark.parametrize("column", ["rule_version_label", "row_sha256"])
def test_any_altered_column_breaks_the_chain(logged, column):
    tamper(f"UPDATE rules_determination SET {column} = {column} || 'x' WHERE sequence = 7",
           table="rules_determination", where="sequence = 7")
    assert "broken at row 7" in str(verify_log_failure())


@sqlite_only
def test_a_row_pointed_at_another_subject_breaks_the_chain(logged):
    other = next(row.subject_id for row in logged if row.subject_id != logged[6].subject_id)
    tamper("UPDATE rules_determination SET subject_id = %s WHERE sequence = 7", [other],
           table="rules_determination", where="sequence = 7")
    assert "broken at row 7" in str(verify_log_failure())


@sqlite_only
def test_a_row_altered_with_its_hash_made_again_breaks_the_chain_at_the_next_row(logged):
    """The row before is hashed into each row: a row rewritten whole, its hash recomputed over its
    altered content, still breaks the chain, at the row after it."""
    row = logged[6]
    row.status = "covered" if row.status != "covered" else "not_covered"
    forged = row.compute_row_sha256(logged[5].row_sha256)
    tamper("UPDATE rules_determination SET status = %s, row_sha256 = %s WHERE sequence = 7",
           [code("status", row.status), forged],
           table="rules_determination", where="sequence = 7")
    error = verify_log_failure()
    assert "broken at row 8" in str(error) and "the hash of the row before it" in str(error)
    assert "7 row(s) verified before it" in str(error)


@sqlite_only
def test_a_row_pointed_at_another_payload_breaks_the_chain(logged):
    other = next(row.payload_id for row in logged if row.payload_id != logged[6].payload_id)
    tamper("UPDATE rules_determination SET payload_id = %s WHERE sequence = 7", [other],
           table="rules_determination", where="sequence = 7")
    error = verify_log_failure()
    assert "broken at row 7" in str(error) and "altered" in str(error)


@sqlite_only
def test_a_row_deleted_by_sql_makes_verify_log_name_the_gap(logged):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM rules_statuschange")  # the rows that refer to it go too
    tamper("DELETE FROM rules_determination WHERE sequence = 9", table="rules_determination", where="sequence = 9")
    error = verify_log_failure()
    assert "broken at row 10" in str(error) and "row 9 is missing" in str(error)


@sqlite_only
def test_the_last_row_deleted_by_sql_is_caught_by_the_head(logged):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM rules_statuschange")
    tamper("DELETE FROM rules_determination WHERE sequence = 16", table="rules_determination", where="sequence = 16")
    error = verify_log_failure()
    assert "broken at row 16" in str(error) and "head records row 16" in str(error)


@sqlite_only
def test_an_altered_facts_snapshot_makes_verify_log_name_the_first_row_using_it(logged):
    target = logged[6]
    first_user = min(r.sequence for r in logged if r.facts_id == target.facts_id)
    tamper("UPDATE rules_factssnapshot SET facts = %s, packed = NULL, dictionary_sha256 = NULL WHERE sha256 = %s",
           [altered_facts(target.facts.content), as_stored(target.facts_sha256)],
           table="rules_factssnapshot", where="id = %s", where_params=[target.facts_id])
    error = verify_log_failure()
    assert f"broken at row {first_user}" in str(error) and "facts snapshot" in str(error)


@postgresql_only
def test_the_trigger_refuses_update_and_delete_by_sql(logged):
    for statement in (
        "UPDATE rules_determination SET status = 1 WHERE sequence = 5",  # covered, by its code
        "DELETE FROM rules_determination WHERE sequence = 5",
        "DELETE FROM rules_determination",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert Determination.objects.count() == 16
    assert Determination.objects.get(sequence=5).status == logged[4].status
    assert "16 row(s) verified" in verify_log()


@postgresql_only
def test_a_row_altered_with_the_trigger_disabled_is_still_caught(logged):
    """A table owner can disable the trigger; the chain still shows what was done."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred checks pending in this test's transaction
        cursor.execute("ALTER TABLE rules_determination DISABLE TRIGGER rules_determination_append_only")
    try:
        tamper("UPDATE rules_determination SET status = CASE status WHEN 1 THEN 4 ELSE 1 END WHERE sequence = 5",
               table="rules_determination", where="sequence = 5")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE rules_determination ENABLE TRIGGER rules_determination_append_only")
    assert "broken at row 5" in str(verify_log_failure())


def test_canonical_text_writes_every_integer_whole_at_the_edges_of_64_bits():
    """Integers beyond 64 bits are written by their digits, wherever they stand: the text is the
    standard library's, so a payload's hash does not depend on the encoder."""
    edges = [2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**26 + 1, -(10**40), 0, 1]
    value = {"top": 2**64, "list": edges, "tuple": tuple(edges), "nested": [{"z": 10**30, "a": [[2**70], (-(2**65),)]}],
             "text": "é", "flag": True, "none": None, "small": -5, "half": 1.5, "empty": {}, "nothing": []}
    text = decision_log.canonical(value)
    assert text == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # the encoder payloads were written by before, orjson with the big integers found by a walk,
    # writes the same text; and the walk finds every big one (not the standard library's fallback)
    assert decision_log.encoded_by_orjson(value) == text
    assert orjson.dumps(decision_log._big_ints_as_text(value), option=orjson.OPT_SORT_KEYS).decode() == text
    assert json.loads(text)["nested"][0]["a"] == [[2**70], [-(2**65)]]
    assert decision_log.canonical(2**80) == str(2**80) and decision_log.canonical([2**63]) == f"[{2**63}]"


def _json_trees():
    from hypothesis import strategies as st

    # every code point, lone surrogates and controls among them; integers and floats of every size
    texts = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=8)
    leaves = (st.none() | st.booleans() | texts | st.integers() | st.integers(-(2**200), 2**200)
              | st.floats(allow_nan=False, allow_infinity=False)
              | st.sampled_from([1e26, 1e25, 1e23, 1e20, 1.5e-7, 1e16, 1e17, -0.0, 9007199254740993.0, 2**63, -(2**63) - 1]))
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                        | st.dictionaries(texts, inner, max_size=4), max_leaves=24)


def test_canonical_text_is_the_text_payloads_were_written_with_before():
    """Payloads and facts snapshots are stored once by their text's hash, so the text of a value must
    not change with the encoder: for any JSON value, msgspec's text is the one orjson (big integers
    handed over as digits) wrote, and where msgspec refuses a value (a lone surrogate) `canonical`
    gives that text too."""
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=3000, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(_json_trees())
    def same_text(value):
        assert decision_log.canonical(value) == decision_log.encoded_by_orjson(value)

    same_text()


def test_canonical_text_of_what_msgspec_refuses_is_written_by_the_earlier_encoder():
    """Keys that are not strings, lone surrogates and subclasses of str and int are written as before
    (by orjson, or where it refuses them too by the standard library), not refused."""
    class Label(str):
        pass

    class Count(int):
        pass

    for value in ({1: "one", 2: [10**30]}, {"a": "\ud800 lone"}, {"\udfff": 1}, {"label": Label("x"), "n": Count(10**30)}):
        with pytest.raises((TypeError, ValueError)):
            decision_log._encode(value)
        assert decision_log.canonical(value) == decision_log.encoded_by_orjson(value)
        assert decision_log.canonical(value) == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_a_payload_marks_its_own_as_of_date_whichever_date_was_marked_before():
    """The texts of notes, reason and caveats are marked where they name the payload's as-of date, and
    only that date: the same text marked for one date and then another gives each its own marking,
    and reading the payload back on its date gives the texts as the engine wrote them."""
    from rules.models.decision_log import payload_data, undated

    text = "no version of x is in force on 2026-12-07; the next is dated 2026-12-08"
    evaluation = {"notes": [text], "reason": text, "caveats": [text, "the same everywhere"], "title": text,
                  "as_of": "ignored here"}
    first = undated(dict(evaluation), as_of="2026-12-07")
    second = undated(dict(evaluation), as_of="2026-12-08")
    assert first["reason"] == "no version of x is in force on {as_of}; the next is dated 2026-12-08"
    assert second["reason"] == "no version of x is in force on 2026-12-07; the next is dated {as_of}"
    assert first["notes"] == [first["reason"]] and first["caveats"] == [first["reason"], "the same everywhere"]
    assert second["notes"] == [second["reason"]] and first["title"] == second["title"] == text
    assert first["schema"] == second["schema"] == "determination/1"
    for data, day in ((first, date(2026, 12, 7)), (second, date(2026, 12, 8))):
        back = payload_data(decision_log.canonical({k: v for k, v in data.items() if k != "as_of"}), as_of=day)
        assert (back["reason"], back["notes"], back["caveats"][0], back["as_of"]) == (text, [text], text, day.isoformat())
