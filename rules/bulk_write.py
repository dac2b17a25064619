"""Writing many rows at once: PostgreSQL's COPY where the database has it, `bulk_create` elsewhere.

The decision log appends thousands of rows per chunk; COPY streams them to the server as they are
formatted, with none of the per-row SQL the ORM would build, inside the caller's transaction.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from django.db.models import Model

from .instrumentation import ROWS_COPIED, stage


def has_copy() -> bool:
    return connection.vendor == "postgresql"


def columns(model: type[Model]) -> list[str]:
    return [field.column for field in model._meta.concrete_fields]


def copy_rows(table: str, names: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """COPY plain Python values (str, int, float, bool, date, datetime, None) into `table`."""
    quoted = ", ".join(connection.ops.quote_name(name) for name in names)
    with stage(ROWS_COPIED), connection.cursor() as cursor, cursor.cursor.copy(
        f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN"
    ) as copy:
        for row in rows:
            copy.write_row(row)


def insert_missing(model: type[Model], rows: list[tuple[Any, ...]]) -> None:
    """Inserts rows (every concrete column, in order) whose primary key is not there yet, whatever
    another transaction inserts meanwhile: COPY into a temporary table, then INSERT ... ON CONFLICT."""
    if not rows:
        return
    if not has_copy():
        names = [field.attname for field in model._meta.concrete_fields]
        model.objects.bulk_create([model(**dict(zip(names, row, strict=True))) for row in rows], ignore_conflicts=True)
        return
    table = connection.ops.quote_name(model._meta.db_table)
    incoming = connection.ops.quote_name(f"{model._meta.db_table}_incoming")
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {incoming} (LIKE {table}) ON COMMIT DELETE ROWS")
    copy_rows(f"{model._meta.db_table}_incoming", columns(model), rows)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} SELECT * FROM {incoming} ON CONFLICT DO NOTHING")
        cursor.execute(f"DELETE FROM {incoming}")
