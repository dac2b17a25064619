"""Payloads stored once by their SHA-256 (the row keeps the hash, which its own hash already covered),
the unique index on the row hash dropped (the unique sequence keeps the chain's order), and
confirmations: a run's finding that current determinations still hold, in place of a row for each."""
import hashlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION rules_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the decision log is append-only: % refused on %', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS rules_payload_append_only ON rules_payload;
CREATE TRIGGER rules_payload_append_only BEFORE UPDATE OR DELETE ON rules_payload
    FOR EACH ROW EXECUTE FUNCTION rules_append_only();
DROP TRIGGER IF EXISTS rules_confirmation_append_only ON rules_confirmation;
CREATE TRIGGER rules_confirmation_append_only BEFORE UPDATE OR DELETE ON rules_confirmation
    FOR EACH ROW EXECUTE FUNCTION rules_append_only();
"""
# Payloads and facts snapshots are JSON of 1 to 3 kB: compressed when a row passes 256 bytes (not
# PostgreSQL's default of 2 kB), with lz4 where the server has it (PostgreSQL 14 and later).
COMPRESSED = """
ALTER TABLE rules_payload SET (toast_tuple_target = 256);
ALTER TABLE rules_factssnapshot SET (toast_tuple_target = 256);
DO $$ BEGIN
    EXECUTE 'ALTER TABLE rules_payload ALTER COLUMN text SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE rules_factssnapshot ALTER COLUMN facts SET COMPRESSION lz4';
EXCEPTION WHEN OTHERS THEN NULL;
END $$;
"""
NOT_COMPRESSED = """
ALTER TABLE rules_payload RESET (toast_tuple_target);
ALTER TABLE rules_factssnapshot RESET (toast_tuple_target);
"""
NO_APPEND_ONLY = """
DROP TRIGGER IF EXISTS rules_payload_append_only ON rules_payload;
DROP TRIGGER IF EXISTS rules_confirmation_append_only ON rules_confirmation;
DROP FUNCTION IF EXISTS rules_append_only();
"""


def payloads_by_hash(apps, schema_editor):
    """Each row's payload text moves, unchanged, to the payloads table under its SHA-256: the hash the
    row's own hash covers, so every row verifies as before."""
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        digest = "encode(sha256(convert_to(payload, 'UTF8')), 'hex')"
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no check left pending when the trigger is altered
            cursor.execute(f"INSERT INTO rules_payload (sha256, text) SELECT DISTINCT ON ({digest}) {digest}, payload "
                           f"FROM rules_determination ON CONFLICT DO NOTHING")
            cursor.execute("ALTER TABLE rules_determination DISABLE TRIGGER rules_determination_append_only")
            cursor.execute(f"UPDATE rules_determination SET payload_sha256 = {digest}")
            cursor.execute("ALTER TABLE rules_determination ENABLE TRIGGER rules_determination_append_only")
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, payload FROM rules_determination")
        rows = cursor.fetchall()
        digests = [(hashlib.sha256(text.encode("utf-8")).hexdigest(), pk, text) for pk, text in rows]
        cursor.executemany("INSERT OR IGNORE INTO rules_payload (sha256, text) VALUES (%s, %s)",
                           [(sha, text) for sha, _, text in digests])
        cursor.executemany("UPDATE rules_determination SET payload_sha256 = %s WHERE id = %s",
                           [(sha, pk) for sha, pk, _ in digests])


def payloads_inline(apps, schema_editor):
    """Back: each row's payload text from the payloads table (a payload stored since has no as-of date)."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE rules_determination DISABLE TRIGGER rules_determination_append_only")
            cursor.execute("UPDATE rules_determination d SET payload = p.text FROM rules_payload p "
                           "WHERE p.sha256 = d.payload_sha256")
            cursor.execute("ALTER TABLE rules_determination ENABLE TRIGGER rules_determination_append_only")
        else:
            cursor.execute("UPDATE rules_determination SET payload = (SELECT p.text FROM rules_payload p "
                           "WHERE p.sha256 = rules_determination.payload_sha256)")


def triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY, params=None)
        schema_editor.execute(COMPRESSED, params=None)


def no_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(NOT_COMPRESSED, params=None)
        schema_editor.execute(NO_APPEND_ONLY, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ("rules", "0009_determination_tier"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Payload",
            fields=[
                ("sha256", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("text", models.TextField(help_text="Canonical JSON: tests, quantities, sensitivity, caveats, notes.")),
            ],
        ),
        migrations.AddField(
            model_name="determination",
            name="payload_ref",
            field=models.ForeignKey(null=True, db_column="payload_sha256", db_index=False, related_name="+",
                                    on_delete=django.db.models.deletion.PROTECT, to="rules.payload"),
        ),
        # nullable while it is emptied (and, backwards, while it is filled again)
        migrations.AlterField(
            model_name="determination",
            name="payload",
            field=models.TextField(null=True, help_text="Canonical JSON: tests, quantities, sensitivity, readings, caveats."),
        ),
        migrations.RunPython(payloads_by_hash, payloads_inline),
        migrations.RemoveField(model_name="determination", name="payload"),
        migrations.RenameField(model_name="determination", old_name="payload_ref", new_name="payload"),
        migrations.AlterField(
            model_name="determination",
            name="payload",
            field=models.ForeignKey(db_column="payload_sha256", db_index=False,
                                    help_text="The payload (tests, quantities, caveats) as stored once by its SHA-256.",
                                    on_delete=django.db.models.deletion.PROTECT, related_name="+", to="rules.payload"),
        ),
        migrations.RemoveConstraint(model_name="determination", name="determination_row_sha256_unique"),
        migrations.AddField(
            model_name="loghead",
            name="confirmation_position",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="loghead",
            name="confirmation_sha256",
            field=models.CharField(default="0" * 64, max_length=64),
        ),
        migrations.AddField(
            model_name="evaluationrun",
            name="log_sequence",
            field=models.BigIntegerField(
                blank=True, null=True,
                help_text="The decision log's length when the run finished: what the next scheduled run compares with."),
        ),
        migrations.AddField(
            model_name="runchunk",
            name="organisations",
            field=models.JSONField(
                blank=True, default=dict,
                help_text="Organisation slug → how many of the chunk's subjects are its own (a lab's share of a run's progress)."),
        ),
        migrations.AddField(
            model_name="evaluationrun",
            name="confirms",
            field=models.BooleanField(
                default=True,
                help_text="Whether a determination the run reaches again unchanged is confirmed (one record per chunk) "
                          "rather than appended anew."),
        ),
        migrations.CreateModel(
            name="Confirmation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("position", models.BigIntegerField(help_text="Position in the confirmations' chain, from 1.", unique=True)),
                ("as_of", models.DateField()),
                ("trigger", models.CharField(choices=[("submission", "Submission"), ("publication", "Rule version published"),
                                                      ("schedule", "Scheduled re-evaluation"), ("manual", "Requested re-evaluation")],
                                             max_length=16)),
                ("task_id", models.CharField(blank=True, max_length=64)),
                ("created_at", models.DateTimeField()),
                ("count", models.PositiveIntegerField(help_text="Determinations confirmed.")),
                ("first_sequence", models.BigIntegerField(help_text="The lowest sequence confirmed.")),
                ("last_sequence", models.BigIntegerField(help_text="The highest sequence confirmed.")),
                ("confirmed", models.TextField(help_text="The sequences confirmed, as JSON ranges [[first, last], ...].")),
                ("log_sequence", models.BigIntegerField(help_text="The log's length when this was written.")),
                ("log_sha256", models.CharField(help_text="The hash of the log's last row then.", max_length=64)),
                ("previous_sha256", models.CharField(max_length=64)),
                ("row_sha256", models.CharField(max_length=64)),
                ("requested_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT,
                                                   related_name="+", to=settings.AUTH_USER_MODEL)),
                ("run", models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT,
                                          related_name="confirmations", to="rules.evaluationrun")),
            ],
            options={
                "ordering": ["position"],
                "indexes": [models.Index(fields=["as_of", "first_sequence"], name="confirmation_as_of")],
                "constraints": [models.UniqueConstraint(condition=models.Q(("run__isnull", False)),
                                                        fields=("run", "first_sequence"),
                                                        name="confirmation_once_per_run_rows")],
            },
        ),
        migrations.RunPython(triggers, no_triggers),
    ]
