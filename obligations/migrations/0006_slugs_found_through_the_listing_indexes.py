"""The slug fields of obligation states and status changes lose their own indexes (and, on PostgreSQL,
the pattern index beside each): the lists reach them through the indexes that lead with them and the
status. The indexes are dropped by name, not by altering the fields, so that SQLite does not make the
tables again (which would also make their key to rules.Determination as it stood long ago)."""

from django.db import migrations, models

# (table, column, the index Django named for the field's db_index)
INDEXES = (
    ("obligations_obligationstate", "organisation", "obligations_obligationstate_organisation_7af0fa60"),
    ("obligations_obligationstate", "regime", "obligations_obligationstate_regime_0e1004cd"),
    ("obligations_obligationstate", "obligation", "obligations_obligationstate_obligation_084a552c"),
    ("obligations_obligationstatuschange", "organisation", "obligations_obligationstatuschange_organisation_aa74ac3f"),
    ("obligations_obligationstatuschange", "regime", "obligations_obligationstatuschange_regime_d3a07c23"),
    ("obligations_obligationstatuschange", "obligation", "obligations_obligationstatuschange_obligation_d54a1085"),
)


def drop_indexes(apps, schema_editor):
    quote = schema_editor.quote_name
    for _, _, name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {quote(name)}")
        schema_editor.execute(f"DROP INDEX IF EXISTS {quote(name + '_like')}")


def create_indexes(apps, schema_editor):
    quote = schema_editor.quote_name
    for table, column, name in INDEXES:
        schema_editor.execute(f"CREATE INDEX {quote(name)} ON {quote(table)} ({quote(column)})")
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                f"CREATE INDEX {quote(name + '_like')} ON {quote(table)} ({quote(column)} varchar_pattern_ops)")


class Migration(migrations.Migration):

    dependencies = [
        ('obligations', '0005_state_changes_on'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_indexes, create_indexes)],
            state_operations=[
                migrations.AlterField(model_name=model, name=field,
                                      field=models.SlugField(db_index=False, max_length=64))
                for model in ('obligationstate', 'obligationstatuschange')
                for field in ('obligation', 'organisation', 'regime')
            ],
        ),
    ]
