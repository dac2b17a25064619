"""The decision log's columns in the order of their alignment on PostgreSQL (migration rules.0027):
fixed-width columns first, widest alignment first, then texts, so that a row carries no padding
between them; the table made again keeps its rows, keys, indexes, constraints, triggers and the
references to it."""
from __future__ import annotations

from datetime import date
from importlib import import_module

import pytest
from django.db import DatabaseError, connection, transaction

from rules.decision_log import verify_chain
from rules.models import Determination
from rules.services import run_create, run_execute_inline
from tests.rules.conftest import submit_registry

aligned = import_module("rules.migrations.0027_log_columns_in_order_of_alignment")

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite pads no column: 0027 does nothing there")

ALIGNMENT = {"d": 8, "i": 4, "s": 2, "c": 1}


def layout(table: str) -> list[tuple[str, int, int]]:
    """The table's columns in their order: name, length (-1 for a text), alignment."""
    return query("SELECT a.attname, t.typlen, t.typalign FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
                 "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", [table],
                 lambda name, length, align: (name, length, ALIGNMENT[align]))


def query(sql: str, params: list, row=lambda *values: values) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row(*values) for values in cursor.fetchall()]


def catalog(table: str) -> dict[str, list]:
    """Everything of `table` that making it again must keep, by name."""
    return {
        "constraints": query("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
                             "ORDER BY conname", [table]),
        "references": query("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                            "WHERE confrelid = %s::regclass ORDER BY 1, 2", [table]),
        "indexes": query("SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
                         "WHERE indrelid = %s::regclass ORDER BY 1", [table]),
        "triggers": query("SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s::regclass "
                          "AND NOT tgisinternal ORDER BY 1", [table]),
        "not null": query("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                          "AND attnotnull AND NOT attisdropped ORDER BY 1", [table]),
    }


def rows_of(table: str, key: str) -> list[dict]:
    return query(f"SELECT to_jsonb(t) FROM {table} t ORDER BY {key}", [], lambda value: value)


def made_again(table: str, *, order_by: str) -> None:
    with connection.schema_editor() as editor:
        aligned.made_again_in_order_of_alignment(editor, table, order_by=order_by)


def in_order_of_alignment(columns: list[tuple[str, int, int]]) -> bool:
    fixed = [align for _, length, align in columns if length > 0]
    texts_from = next((place for place, (_, length, _) in enumerate(columns) if length < 0), len(columns))
    return fixed == sorted(fixed, reverse=True) and all(length < 0 for _, length, _ in columns[texts_from:])


@pytest.mark.django_db
def test_the_log_has_its_fixed_width_columns_first_widest_alignment_first():
    columns = layout("rules_determination")
    assert in_order_of_alignment(columns), columns
    assert {name for name, *_ in columns} == {field.column for field in Determination._meta.concrete_fields}
    # the model declares them in another order: the migration, not the declaration, laid them out
    assert [name for name, *_ in columns] != [field.column for field in Determination._meta.concrete_fields]


@pytest.mark.django_db(transaction=True)
def test_a_table_made_again_is_aligned_and_keeps_its_rows_keys_indexes_triggers_and_references():
    with connection.cursor() as cursor:
        cursor.execute("""
            CREATE TABLE scratch_padded (note varchar(20) NOT NULL DEFAULT 'x', id bigint PRIMARY KEY, flag smallint,
                                         at timestamptz NOT NULL, day date, counted integer CHECK (counted >= 0),
                                         digest bytea UNIQUE) WITH (fillfactor = 90);
            CREATE INDEX scratch_padded_day ON scratch_padded (day DESC, id) WHERE flag IS NOT NULL;
            CREATE TABLE scratch_referring (id serial PRIMARY KEY,
                                            padded bigint REFERENCES scratch_padded (id) DEFERRABLE INITIALLY DEFERRED);
            CREATE FUNCTION scratch_refuse() RETURNS trigger LANGUAGE plpgsql AS
                $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
            CREATE TRIGGER scratch_padded_refuse BEFORE DELETE ON scratch_padded FOR EACH ROW EXECUTE FUNCTION scratch_refuse();
            INSERT INTO scratch_padded (note, id, flag, at, day, counted, digest)
                SELECT 'row ' || n, n, CASE WHEN n % 2 = 0 THEN n END, now(), date '2026-01-01' + n, n,
                       sha256(n::text::bytea) FROM generate_series(1, 50) n;
            INSERT INTO scratch_referring (padded) SELECT n FROM generate_series(1, 50, 7) n;
        """)
    try:
        before, rows = catalog("scratch_padded"), rows_of("scratch_padded", "id")
        width = query("SELECT sum(pg_column_size(t.*)) FROM scratch_padded t", [])[0][0]
        assert not in_order_of_alignment(layout("scratch_padded"))

        made_again("scratch_padded", order_by="id")

        assert [name for name, *_ in layout("scratch_padded")] == ["id", "at", "day", "counted", "flag", "note", "digest"]
        assert catalog("scratch_padded") == before
        assert rows_of("scratch_padded", "id") == rows
        assert query("SELECT reloptions FROM pg_class WHERE relname = 'scratch_padded'", [])[0][0] == ["fillfactor=90"]
        assert query("SELECT sum(pg_column_size(t.*)) FROM scratch_padded t", [])[0][0] < width
        with pytest.raises(DatabaseError, match="refused"), transaction.atomic():
            query("DELETE FROM scratch_padded WHERE id = 3", [])
        with pytest.raises(DatabaseError), transaction.atomic():  # the reference is enforced again
            query("INSERT INTO scratch_referring (padded) VALUES (999)", [])
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS scratch_referring, scratch_padded; DROP FUNCTION IF EXISTS scratch_refuse()")


@pytest.mark.django_db(transaction=True)
def test_the_log_made_again_still_verifies_and_still_refuses_changes_and_second_rows():
    refs = submit_registry(models=2, clusters=1, training_compute_ops=5e25)
    run = run_execute_inline(run_create(kind="manual", as_of=date(2026, 3, 1), subjects=refs))
    before, rows = catalog("rules_determination"), rows_of("rules_determination", "sequence")
    assert before["references"], "the status changes and obligations refer to the log"

    made_again("rules_determination", order_by="sequence")

    assert catalog("rules_determination") == before
    assert rows_of("rules_determination", "sequence") == rows
    assert verify_chain().ok
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        query("UPDATE rules_determination SET deciding_test = 'x' WHERE sequence = 1", [])
    others = ", ".join(name for name, *_ in layout("rules_determination") if name != "sequence")
    with pytest.raises(DatabaseError, match="a second determination refused"), transaction.atomic():
        query(f"INSERT INTO rules_determination (sequence, {others}) "  # the run's second row of a subject
              f"SELECT (SELECT max(sequence) + 1 FROM rules_determination), {others} "
              f"FROM rules_determination WHERE sequence = 1", [])
    assert Determination.objects.filter(run=run).count() == len(rows)
    run_execute_inline(run_create(kind="manual", as_of=date(2027, 3, 1), subjects=refs))
    assert verify_chain().ok
