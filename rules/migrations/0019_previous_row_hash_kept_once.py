"""A determination no longer stores the previous row's hash: it is that row's `row_sha256`, which its
own hash still covers (`Determination.previous_sha256` reads it back, `verify_log` hashes each row on
the one before it).

The column is dropped at once (no rewrite): on PostgreSQL, rows stored before keep its bytes until the
table is rewritten (VACUUM FULL); rows stored after do not take them. Migrating back adds the column
again and fills it from the chain (on PostgreSQL with the log's append-only trigger set aside for that
statement).
"""

from django.db import migrations

TABLE = "rules_determination"
GENESIS = "0" * 64


def drop(apps, schema_editor) -> None:
    """The column dropped as Django drops one (ALTER TABLE ... DROP COLUMN, or on an SQLite too old for
    it, the table made again)."""
    model = apps.get_model("rules", "Determination")
    schema_editor.remove_field(model, model._meta.get_field("previous_sha256"))


def restore(apps, schema_editor) -> None:
    """Back: the column again, each row's value the row before it's hash (the genesis hash for the first)."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} ADD COLUMN previous_sha256 bytea NOT NULL DEFAULT ''::bytea")
        schema_editor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER rules_determination_append_only")
        schema_editor.execute(
            f"UPDATE {TABLE} AS d SET previous_sha256 = p.previous FROM ("
            f"SELECT sequence, COALESCE(lag(row_sha256) OVER (ORDER BY sequence), decode(%s, 'hex')) AS previous "
            f"FROM {TABLE}) AS p WHERE p.sequence = d.sequence", [GENESIS])
        schema_editor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER rules_determination_append_only")
        schema_editor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN previous_sha256 DROP DEFAULT")
    else:
        schema_editor.execute(f"ALTER TABLE {TABLE} ADD COLUMN previous_sha256 varchar(64) NOT NULL DEFAULT ''")
        schema_editor.execute(
            f"UPDATE {TABLE} SET previous_sha256 = COALESCE((SELECT p.row_sha256 FROM {TABLE} AS p "
            f"WHERE p.sequence = {TABLE}.sequence - 1), %s)", [GENESIS])


class Migration(migrations.Migration):

    dependencies = [
        ('rules', '0018_digests_stored_as_bytes'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop, restore)],
            state_operations=[migrations.RemoveField(model_name='determination', name='previous_sha256')],
        ),
    ]
