"""Facts snapshots packed against a dictionary per kind (model, cluster, organisation, lineage node:
the first snapshot of the kind stored). Snapshots stored before stay as text. On PostgreSQL: the
snapshots and their dictionaries are append-only like the payloads and theirs (a trigger refuses
UPDATE and DELETE), and a packed snapshot stays in its row (it is compressed already). Back: each
packed snapshot's text, unpacked, in the text column."""
import django.db.models.deletion
from django.db import migrations, models

import rules.digests

POSTGRESQL = """
DROP TRIGGER IF EXISTS rules_factssnapshot_append_only ON rules_factssnapshot;
CREATE TRIGGER rules_factssnapshot_append_only BEFORE UPDATE OR DELETE ON rules_factssnapshot
    FOR EACH ROW EXECUTE FUNCTION rules_append_only();
DROP TRIGGER IF EXISTS rules_factsdictionary_append_only ON rules_factsdictionary;
CREATE TRIGGER rules_factsdictionary_append_only BEFORE UPDATE OR DELETE ON rules_factsdictionary
    FOR EACH ROW EXECUTE FUNCTION rules_append_only();
ALTER TABLE rules_factssnapshot ALTER COLUMN packed SET STORAGE MAIN;
"""
NOT_POSTGRESQL = """
DROP TRIGGER IF EXISTS rules_factssnapshot_append_only ON rules_factssnapshot;
DROP TRIGGER IF EXISTS rules_factsdictionary_append_only ON rules_factsdictionary;
ALTER TABLE rules_factssnapshot ALTER COLUMN packed SET STORAGE EXTENDED;
"""


def on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, None)
    return run


def unpacked(apps, schema_editor):
    """Back: each packed snapshot's text, unpacked against its dictionary, in the text column."""
    import zstandard

    from rules.digests import shown

    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT sha256, text FROM rules_factsdictionary")
        dictionaries = {shown(sha): zstandard.ZstdCompressionDict(text.encode(), dict_type=zstandard.DICT_TYPE_RAWCONTENT)
                        for sha, text in cursor.fetchall()}
        cursor.execute("SELECT sha256, packed, dictionary_sha256 FROM rules_factssnapshot WHERE packed IS NOT NULL")
        texts = [(zstandard.ZstdDecompressor(dict_data=dictionaries[shown(dictionary)]).decompress(bytes(packed)).decode(),
                  sha) for sha, packed, dictionary in cursor.fetchall()]
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no check left pending before the ALTER TABLEs
            cursor.execute("ALTER TABLE rules_factssnapshot DISABLE TRIGGER rules_factssnapshot_append_only")
        cursor.executemany("UPDATE rules_factssnapshot SET facts = %s, packed = NULL, dictionary_sha256 = NULL "
                           "WHERE sha256 = %s", texts)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE rules_factssnapshot ENABLE TRIGGER rules_factssnapshot_append_only")


class Migration(migrations.Migration):

    dependencies = [
        ('rules', '0020_index_of_current_determinations_keyed_by_sequence'),
    ]

    operations = [
        migrations.CreateModel(
            name='FactsDictionary',
            fields=[
                ('sha256', rules.digests.Sha256Field(max_length=64, primary_key=True, serialize=False)),
                ('kind', models.CharField(max_length=16, unique=True)),
                ('text', models.TextField(help_text='Canonical JSON of the snapshot the others are packed against, headed by its kind.')),
            ],
        ),
        migrations.AddField(
            model_name='factssnapshot',
            name='packed',
            field=models.BinaryField(help_text='The canonical JSON compressed against the dictionary.', null=True),
        ),
        migrations.AlterField(
            model_name='factssnapshot',
            name='facts',
            field=models.TextField(blank=True, help_text="Canonical JSON of the engine's input snapshot (unpacked).", null=True),
        ),
        migrations.AddField(
            model_name='factssnapshot',
            name='dictionary',
            field=models.ForeignKey(db_column='dictionary_sha256', db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='rules.factsdictionary'),
        ),
        migrations.RunPython(on_postgresql(POSTGRESQL), on_postgresql(NOT_POSTGRESQL)),
        migrations.RunPython(migrations.RunPython.noop, unpacked),
    ]
