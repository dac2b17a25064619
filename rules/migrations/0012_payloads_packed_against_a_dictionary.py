"""Payloads packed against a dictionary per regime, rule version, kind of subject and status (the
first payload stored for them), with the strings that may name a model and the quantities' values kept
beside each packed payload. Payloads stored before stay as text. On PostgreSQL: dictionaries are
append-only like payloads; a packed payload stays in its row (it is compressed already); and the
pattern-matching copies of the hash keys' indexes, which no query uses, are dropped."""
import django.db.models.deletion
from django.db import migrations, models

POSTGRESQL = """
DROP TRIGGER IF EXISTS rules_payloaddictionary_append_only ON rules_payloaddictionary;
CREATE TRIGGER rules_payloaddictionary_append_only BEFORE UPDATE OR DELETE ON rules_payloaddictionary
    FOR EACH ROW EXECUTE FUNCTION rules_append_only();
ALTER TABLE rules_payload ALTER COLUMN packed SET STORAGE MAIN;
DO $$
DECLARE found record;
BEGIN
    FOR found IN SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()
            AND tablename IN ('rules_payload', 'rules_factssnapshot', 'rules_payloaddictionary')
            AND indexname LIKE '%\\_like' LOOP
        EXECUTE format('DROP INDEX %I', found.indexname);
    END LOOP;
END $$;
"""
NOT_POSTGRESQL = """
DROP TRIGGER IF EXISTS rules_payloaddictionary_append_only ON rules_payloaddictionary;
ALTER TABLE rules_payload ALTER COLUMN packed SET STORAGE EXTENDED;
"""


def unpacked(apps, schema_editor):
    """Back: each packed payload's text, unpacked against its dictionary, in the text column."""
    import zstandard

    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT sha256, text FROM rules_payloaddictionary")
        dictionaries = {sha: zstandard.ZstdCompressionDict(text.encode(), dict_type=zstandard.DICT_TYPE_RAWCONTENT)
                        for sha, text in cursor.fetchall()}
        cursor.execute("SELECT sha256, packed, dictionary_sha256 FROM rules_payload WHERE packed IS NOT NULL")
        texts = [(zstandard.ZstdDecompressor(dict_data=dictionaries[dictionary]).decompress(bytes(packed)).decode(), sha)
                 for sha, packed, dictionary in cursor.fetchall()]
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE rules_payload DISABLE TRIGGER rules_payload_append_only")
        cursor.executemany("UPDATE rules_payload SET text = %s WHERE sha256 = %s", texts)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE rules_payload ENABLE TRIGGER rules_payload_append_only")


def on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, None)
    return run


class Migration(migrations.Migration):

    dependencies = [
        ('rules', '0011_index_of_current_determinations'),
    ]

    operations = [
        migrations.AddField(
            model_name='payload',
            name='names',
            field=models.TextField(blank=True, default='', help_text='The strings of the text that may name a model, one per line (release scope).'),
        ),
        migrations.AddField(
            model_name='payload',
            name='packed',
            field=models.BinaryField(help_text='The canonical JSON compressed against the dictionary.', null=True),
        ),
        migrations.AddField(
            model_name='payload',
            name='quantities',
            field=models.TextField(blank=True, help_text="JSON: each quantity with a value, by name, as in the text (reports' charts).", null=True),
        ),
        migrations.AlterField(
            model_name='payload',
            name='text',
            field=models.TextField(blank=True, help_text='Canonical JSON: tests, quantities, sensitivity, caveats, notes (unpacked).', null=True),
        ),
        migrations.CreateModel(
            name='PayloadDictionary',
            fields=[
                ('sha256', models.CharField(max_length=64, primary_key=True, serialize=False)),
                ('regime', models.CharField(max_length=64)),
                ('rule_hash', models.CharField(blank=True, max_length=64)),
                ('subject_kind', models.CharField(max_length=16)),
                ('status', models.CharField(max_length=16)),
                ('text', models.TextField(help_text='Canonical JSON of the payload the others are packed against.')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('regime', 'rule_hash', 'subject_kind', 'status'), name='payload_dictionary_once')],
            },
        ),
        migrations.AddField(
            model_name='payload',
            name='dictionary',
            field=models.ForeignKey(db_column='dictionary_sha256', db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='rules.payloaddictionary'),
        ),
        migrations.RunPython(on_postgresql(POSTGRESQL), on_postgresql(NOT_POSTGRESQL)),
        migrations.RunPython(migrations.RunPython.noop, unpacked),
    ]
