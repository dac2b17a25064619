"""Writing many rows at once: PostgreSQL's COPY where the database has it, `bulk_create` elsewhere.

The decision log appends thousands of rows per chunk; COPY streams them to the server as they are
formatted, with none of the per-row SQL the ORM would build, inside the caller's transaction.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from django.db import connection
from django.db.models import Field, Model
from django.db.models.fields import AutoFieldMixin

from . import codes, digests
from .codes import CodedField
from .instrumentation import ROWS_COPIED, stage


def has_copy() -> bool:
    return connection.vendor == "postgresql"


def columns(model: type[Model]) -> list[str]:
    return [field.column for field in model._meta.concrete_fields]


def copy_rows(table: str, names: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """COPY plain Python values (str, int, float, bool, date, datetime, bytes, None) into `table`, each
    as the column stores it (a digest as bytes: `stored_values`)."""
    quoted = ", ".join(connection.ops.quote_name(name) for name in names)
    with stage(ROWS_COPIED), connection.cursor() as cursor, cursor.cursor.copy(
        f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN"
    ) as copy:
        for row in rows:
            copy.write_row(row)


def stored_values(fields: Sequence[Field], rows: Iterable[Sequence[Any]]) -> Iterator[Sequence[Any]]:
    """The rows (values in the fields' order) as COPY sends them: digests (`rules.digests`) as bytes,
    texts of a vocabulary (`rules.codes`) as their codes, every other value as it is. A text not of its
    vocabulary raises `ValueError`, naming the field."""
    converted: list[tuple[int, Callable[[Any], Any]]] = [
        (index, digests.computed if digests.is_digest(field) else _coder(field))
        for index, field in enumerate(fields) if digests.is_digest(field) or isinstance(field, CodedField)]
    if not converted:
        yield from rows
        return
    for row in rows:
        row = list(row)
        for index, convert in converted:
            row[index] = convert(row[index])
        yield row


def _coder(field: CodedField) -> Callable[[Any], Any]:
    found = codes.codes_of(field.vocabulary)

    def coded(value: Any) -> Any:
        if value is None:
            return None
        try:
            return found[value]
        except KeyError:
            raise ValueError(f"{field.name}: {value!r} is not one of {', '.join(found)}") from None
    return coded


def create_rows(model: type[Model], rows: Sequence[dict[str, Any]]) -> None:
    """New rows, each given as {attname: value} for every concrete field but the primary key (the
    database's), in plain Python values: COPY on PostgreSQL, `bulk_create` elsewhere. What
    `bulk_create` would do around each value (a model instance per row, `pre_save` and
    `get_db_prep_save` per field, an array per column) is most of its time for rows of a dozen
    columns; COPY takes the values as they are. No signals; the caller gives every value, those of
    `auto_now` fields included (which `bulk_create`, elsewhere, sets to its own now). A refused row
    raises what the ORM raises (a duplicate key is an `IntegrityError`), and nothing of the statement
    is written."""
    if not rows:
        return
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    if not has_copy():
        model.objects.bulk_create([model(**row) for row in rows])
        return
    with connection.wrap_database_errors:
        copy_rows(model._meta.db_table, [field.column for field in fields],
                  stored_values(fields, ([row[field.attname] for field in fields] for row in rows)))


def written_fields(model: type[Model]) -> list[Field]:
    """The columns a row is written with: every concrete one but a key the database numbers."""
    return [field for field in model._meta.concrete_fields if not isinstance(field, AutoFieldMixin)]


def insert_missing(model: type[Model], rows: list[tuple[Any, ...]]) -> None:
    """Inserts rows (every column of `written_fields`, in order) whose content is not there yet (by
    its primary key or a unique digest), whatever another transaction inserts meanwhile: COPY into
    a temporary table, then INSERT ... ON CONFLICT."""
    if not rows:
        return
    fields = written_fields(model)
    if not has_copy():
        names = [field.attname for field in fields]
        model.objects.bulk_create([model(**dict(zip(names, row, strict=True))) for row in rows], ignore_conflicts=True)
        return
    quote = connection.ops.quote_name
    table, incoming = quote(model._meta.db_table), quote(f"{model._meta.db_table}_incoming")
    names = ", ".join(quote(field.column) for field in fields)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {incoming} ON COMMIT DELETE ROWS "
                       f"AS SELECT {names} FROM {table} WITH NO DATA")
    copy_rows(f"{model._meta.db_table}_incoming", [field.column for field in fields], stored_values(fields, rows))
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {incoming} ON CONFLICT DO NOTHING")
        cursor.execute(f"DELETE FROM {incoming}")


# Rows per UPDATE statement of `update_rows`: each column's values go as one array parameter.
UPDATE_BATCH = 10_000


def update_rows(model: type[Model], objs: Sequence[Model], names: Sequence[str]) -> None:
    """Sets the fields `names` (names or attnames) of each of `objs`, found by primary key, in
    statements linear in the rows: on PostgreSQL each column's values as an array, joined to the table
    by key (`QuerySet.bulk_update` writes a CASE per column over the whole batch, which PostgreSQL
    evaluates for each row it updates: 304 s for 5,000 obligation states, 0.31 s this way); elsewhere an
    UPDATE per row (`executemany`). No signals, no `auto_now`: the caller sets every value."""
    if not objs:
        return
    opts = model._meta
    fields = [opts.get_field(name) for name in names]
    table, pk = connection.ops.quote_name(opts.db_table), opts.pk
    quoted, key = [connection.ops.quote_name(field.column) for field in fields], connection.ops.quote_name(pk.column)
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in (*fields, pk))
        names_in = ", ".join(f"c{index}" for index in range(len(fields))) + ", key"
        setting = ", ".join(f"{column} = incoming.c{index}" for index, column in enumerate(quoted))
        sql = (f"UPDATE {table} SET {setting} FROM unnest({arrays}) AS incoming({names_in}) "
               f"WHERE {table}.{key} = incoming.key")
    else:
        sql = f"UPDATE {table} SET {', '.join(f'{column} = %s' for column in quoted)} WHERE {key} = %s"
    with connection.cursor() as cursor:
        for start in range(0, len(objs), UPDATE_BATCH):
            rows = [[field.get_db_prep_save(getattr(obj, field.attname), connection) for field in fields]
                    + [pk.get_db_prep_save(obj.pk, connection)] for obj in objs[start:start + UPDATE_BATCH]]
            if connection.vendor == "postgresql":
                cursor.execute(sql, [list(values) for values in zip(*rows, strict=True)])
            else:
                cursor.executemany(sql, rows)
