"""The decision log's columns in the order of their alignment, on PostgreSQL: about 18 bytes less a row.

PostgreSQL lays a row's columns out in the table's order and pads each fixed-width one to its
alignment: a `bigint` or `timestamptz` after a text starts on the next multiple of 8, a `date` or
`integer` on the next multiple of 4. The log's columns were in the order they were added, so that
a row carried padding before most of its numbers. The table is made again with its fixed-width
columns first, widest alignment first, then its texts (which need none): the same columns, rows,
keys, indexes, constraints, triggers and references, and the rows in the log's order.

Django's state is unchanged (a column's place is not part of it). SQLite pads nothing: nothing is
done there. Nothing is done backwards either: the columns' order means nothing to the product."""
from django.db import migrations

LOG = "rules_determination"

# pg_type.typalign: the bytes a value of the type is aligned to
ALIGNMENT = {"d": 8, "i": 4, "s": 2, "c": 1}


def _rows(schema_editor, sql: str, params: list | None = None) -> list[tuple]:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def columns_in_order_of_alignment(schema_editor, table: str) -> list[tuple[str, str]]:
    """The table's columns, each with its definition (type, NOT NULL, default), fixed-width first by
    widest alignment, then variable-width, each group in the table's order."""
    columns = _rows(schema_editor, """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
               t.typlen, t.typalign, a.attnum
        FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped""", [table])
    ordered = sorted(columns, key=lambda column: (column[4] < 0, -ALIGNMENT[column[5]], column[6]))
    quote = schema_editor.quote_name
    return [(name, f"{quote(name)} {kind}" + (" NOT NULL" if not_null else "") + (f" DEFAULT {default}" if default else ""))
            for name, kind, not_null, default, *_ in ordered]


def made_again_in_order_of_alignment(schema_editor, table: str, *, order_by: str) -> None:
    """Makes `table` again with its columns in the order of their alignment (PostgreSQL), its rows
    copied in `order_by`'s order; its keys, indexes, constraints, triggers, storage options and the
    foreign keys that refer to it made again under the same names, in the caller's transaction."""
    quote = schema_editor.quote_name
    own = _rows(schema_editor, "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                               "WHERE conrelid = %s::regclass ORDER BY contype <> 'p', conname", [table])
    referring = _rows(schema_editor, "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
                                     "FROM pg_constraint WHERE confrelid = %s::regclass AND conrelid <> confrelid "
                                     "AND contype = 'f' ORDER BY 1, 2", [table])
    indexes = _rows(schema_editor, "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = %s::regclass "
                                   "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid "
                                   "AND c.conrelid = i.indrelid) ORDER BY i.indexrelid", [table])
    triggers = _rows(schema_editor, "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s::regclass "
                                    "AND NOT tgisinternal ORDER BY tgname", [table])
    options = _rows(schema_editor, "SELECT array_to_string(reloptions, ', ') FROM pg_class WHERE oid = %s::regclass",
                    [table])[0][0]
    columns = columns_in_order_of_alignment(schema_editor, table)
    names = ", ".join(quote(name) for name, _ in columns)
    made = f"{table}__aligned"
    schema_editor.execute(f"CREATE TABLE {quote(made)} ({', '.join(definition for _, definition in columns)})"
                          + (f" WITH ({options})" if options else ""))
    schema_editor.execute(f"INSERT INTO {quote(made)} ({names}) SELECT {names} FROM {quote(table)} ORDER BY {order_by}")
    for referrer, name, _ in referring:
        schema_editor.execute(f"ALTER TABLE {quote(referrer)} DROP CONSTRAINT {quote(name)}")
    schema_editor.execute(f"DROP TABLE {quote(table)}")
    schema_editor.execute(f"ALTER TABLE {quote(made)} RENAME TO {quote(table)}")
    for name, definition in own:  # the primary key first: the foreign keys to the table need it
        schema_editor.execute(f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}")
    for (definition,) in indexes + triggers:
        schema_editor.execute(definition)
    for referrer, name, definition in referring:
        schema_editor.execute(f"ALTER TABLE {quote(referrer)} ADD CONSTRAINT {quote(name)} {definition}")
    schema_editor.execute(f"ANALYZE {quote(table)}")


def aligned(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        made_again_in_order_of_alignment(schema_editor, LOG, order_by="sequence")


class Migration(migrations.Migration):

    dependencies = [
        ("rules", "0026_status_trigger_and_kind_stored_as_codes"),
    ]

    operations = [
        migrations.RunPython(aligned, migrations.RunPython.noop, elidable=False),
    ]
