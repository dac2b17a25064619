"""The decision log's SHA-256 digests stored as 32 bytes on PostgreSQL, not 64 hexadecimal characters
(`rules.digests`): a determination's five, and the keys of facts snapshots, payloads and payload
dictionaries.

On PostgreSQL each column is rewritten in place (`decode(column, 'hex')`); the foreign keys between
them are dropped first and added again after, as they were. The log's table is rewritten with its
indexes, under an exclusive lock, once. A digest that is not hexadecimal stops the migration, and
nothing of it is kept. On SQLite nothing changes in the database: digests stay text there.
"""

from django.db import migrations

import rules.digests

REFERENCED = ("rules_payloaddictionary", "rules_payload", "rules_factssnapshot")
COLUMNS = {
    "rules_payloaddictionary": ("sha256",),
    "rules_payload": ("sha256", "dictionary_sha256"),
    "rules_factssnapshot": ("sha256",),
    "rules_determination": ("rule_hash", "payload_sha256", "facts_sha256", "previous_sha256", "row_sha256"),
}


def _convert(schema_editor, *, forwards: bool) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'f' AND confrelid::regclass::text = ANY(%s) ORDER BY conname", [list(REFERENCED)])
        foreign_keys = cursor.fetchall()
        for table, name, _ in foreign_keys:
            cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
        # Django's index for LIKE on a text key: its operator class has no meaning for bytes
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = ANY(%s) AND indexdef LIKE %s",
                       [list(COLUMNS), "%(sha256 varchar_pattern_ops)%"])
        for (index,) in cursor.fetchall():
            cursor.execute(f"DROP INDEX {quote(index)}")
        for table, columns in COLUMNS.items():
            if forwards:
                changes = (f"ALTER COLUMN {quote(column)} TYPE bytea USING decode({quote(column)}, 'hex')"
                           for column in columns)
            else:
                changes = (f"ALTER COLUMN {quote(column)} TYPE varchar(64) USING encode({quote(column)}, 'hex')"
                           for column in columns)
            cursor.execute(f"ALTER TABLE {quote(table)} {', '.join(changes)}")
        for table, name, definition in foreign_keys:
            cursor.execute(f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}")


def to_bytes(apps, schema_editor) -> None:
    _convert(schema_editor, forwards=True)


def to_text(apps, schema_editor) -> None:
    _convert(schema_editor, forwards=False)


class Migration(migrations.Migration):

    dependencies = [
        ('rules', '0017_determinations_by_tier_in_log_order'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(to_bytes, to_text)],
            state_operations=[
                migrations.AlterField(
                    model_name='determination',
                    name='previous_sha256',
                    field=rules.digests.Sha256Field(max_length=64),
                ),
                migrations.AlterField(
                    model_name='determination',
                    name='row_sha256',
                    field=rules.digests.Sha256Field(max_length=64),
                ),
                migrations.AlterField(
                    model_name='determination',
                    name='rule_hash',
                    field=rules.digests.Sha256Field(blank=True, max_length=64),
                ),
                migrations.AlterField(
                    model_name='factssnapshot',
                    name='sha256',
                    field=rules.digests.Sha256Field(max_length=64, primary_key=True, serialize=False),
                ),
                migrations.AlterField(
                    model_name='payload',
                    name='sha256',
                    field=rules.digests.Sha256Field(max_length=64, primary_key=True, serialize=False),
                ),
                migrations.AlterField(
                    model_name='payloaddictionary',
                    name='sha256',
                    field=rules.digests.Sha256Field(max_length=64, primary_key=True, serialize=False),
                ),
            ],
        ),
    ]
