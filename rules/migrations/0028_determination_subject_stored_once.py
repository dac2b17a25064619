"""A determination's subject (its kind, reference, organisation, name and version) stored once, as a
`LoggedSubject`, and referred to by its number: 4 bytes a row where the five took about 60, and 28
bytes less an entry of `determination_latest_as_of`, which leads with the subject's number. An
organisation's rows are found through its subjects (`LoggedSubject.organisation`, indexed), so the
log's own index by organisation goes. The rows' hashes cover the subject's values as before.

On PostgreSQL the migration's own SQL moves the log's references, with the log's append-only trigger
suspended for that one statement, refuses changes to the subjects by a trigger as it does the log's
texts', and makes the table again in the order of its columns' alignment
(`rules.0027`), which also drops the removed columns' bytes from its rows. On SQLite the table is
remade. On both, the log's once-per-run trigger (rules.0022) is made again to find a run's earlier
row of a subject by its number."""
from importlib import import_module

import django.db.models.deletion
from django.db import migrations, models

import rules.codes

once_per_run = import_module("rules.migrations.0022_once_per_run_refused_by_a_trigger")
keyed = import_module("rules.migrations.0023_determination_keyed_by_its_position")
numbered = import_module("rules.migrations.0025_payloads_and_facts_snapshots_numbered")
aligned = import_module("rules.migrations.0027_log_columns_in_order_of_alignment")

LOG = "rules_determination"
SUBJECTS = "rules_loggedsubject"
# the log's columns of the subject and the subject's, in pairs
COLUMNS = (("subject_ref", "ref"), ("subject_kind", "kind"), ("organisation", "organisation"),
           ("subject_name", "name"), ("subject_version", "version"))
DEFINITIONS = {"subject_ref": "varchar(500)", "subject_kind": "smallint", "organisation": "varchar(64)",
               "subject_name": "varchar(200)", "subject_version": "varchar(64)"}

POSTGRESQL_TRIGGER = """
CREATE OR REPLACE FUNCTION rules_determination_once_per_run() RETURNS trigger AS $$
DECLARE
    refused record;
BEGIN
    IF NOT EXISTS (SELECT FROM appended WHERE run_id IS NOT NULL) THEN  -- a lab's own evaluation
        RETURN NULL;
    END IF;
    -- planned each time (EXECUTE): the plan fits this statement's rows and the log's size
    EXECUTE 'SELECT a.run_id, s.ref AS subject_ref, a.regime, a.as_of, r.as_of AS run_as_of
             FROM appended a JOIN rules_evaluationrun r ON r.id = a.run_id JOIN rules_loggedsubject s ON s.id = a.subject_id
             WHERE a.as_of <> r.as_of LIMIT 1' INTO refused;
    IF refused.run_id IS NOT NULL THEN
        RAISE EXCEPTION 'run % is as of %: its determination of % under % as of % refused',
            refused.run_id, refused.run_as_of, refused.subject_ref, refused.regime, refused.as_of
            USING ERRCODE = 'check_violation';
    END IF;
    -- a probe of determination_latest_as_of for each row, whatever the planner's estimates (a LATERAL
    -- subquery with a LIMIT is never made a join)
    EXECUTE 'SELECT a.run_id, s.ref AS subject_ref, a.regime FROM appended a
             CROSS JOIN LATERAL (SELECT FROM rules_determination d
                                 WHERE d.subject_id = a.subject_id AND d.regime = a.regime
                                   AND d.as_of = a.as_of AND d.run_id = a.run_id AND d.sequence <> a.sequence
                                 LIMIT 1) AS earlier
             JOIN rules_loggedsubject s ON s.id = a.subject_id
             WHERE a.run_id IS NOT NULL
             LIMIT 1' INTO refused;
    IF refused.run_id IS NOT NULL THEN
        RAISE EXCEPTION 'run % has determined % under % already: a second determination refused',
            refused.run_id, refused.subject_ref, refused.regime
            USING ERRCODE = 'unique_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""
SQLITE_TRIGGER = once_per_run.SQLITE.replace("d.subject_ref = NEW.subject_ref", "d.subject_id = NEW.subject_id")
assert SQLITE_TRIGGER != once_per_run.SQLITE


def _subjects_stored(schema_editor) -> None:
    """Each subject the log names stored once; refused if two rows name one reference with other values."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT subject_ref FROM {LOG} GROUP BY subject_ref HAVING "
                       + " OR ".join(f"count(DISTINCT {column}) > 1" for column, _ in COLUMNS[1:]) + " LIMIT 1")
        differing = cursor.fetchone()
    if differing:
        raise ValueError(f"the log names subject {differing[0]!r} with different kinds, organisations, names or "
                         f"versions: its rows cannot share one subject")
    schema_editor.execute(
        f"INSERT INTO {SUBJECTS} ({', '.join(own for _, own in COLUMNS)}) SELECT subject_ref, "
        + ", ".join(f"min({column})" for column, _ in COLUMNS[1:]) + f" FROM {LOG} GROUP BY subject_ref ORDER BY subject_ref")


def forwards_postgresql(schema_editor) -> None:
    execute = schema_editor.execute
    _subjects_stored(schema_editor)
    execute(f"ALTER TABLE {LOG} ADD COLUMN subject_id integer")
    numbered._log_updated(schema_editor, f"UPDATE {LOG} d SET subject_id = s.id FROM {SUBJECTS} s WHERE s.ref = d.subject_ref")
    execute(f"ALTER TABLE {LOG} ALTER COLUMN subject_id SET NOT NULL")
    execute("DROP INDEX determination_latest_as_of")
    execute("DROP INDEX determination_organisation")
    execute(f"ALTER TABLE {LOG} " + ", ".join(f"DROP COLUMN {column}" for column, _ in COLUMNS))
    execute(f"ALTER TABLE {LOG} ADD CONSTRAINT {LOG}_subject_id_fk FOREIGN KEY (subject_id) "
            f"REFERENCES {SUBJECTS} (id) DEFERRABLE INITIALLY DEFERRED")
    execute(POSTGRESQL_TRIGGER, None)
    # a subject, like the log's texts, is never updated or deleted, even by raw SQL (rules.0010's function)
    execute(f"CREATE TRIGGER {SUBJECTS}_append_only BEFORE UPDATE OR DELETE ON {SUBJECTS} "
            f"FOR EACH ROW EXECUTE FUNCTION rules_append_only()")
    # one rewrite: the removed columns' bytes gone, the new one in its place, the indexes made compact
    aligned.made_again_in_order_of_alignment(schema_editor, LOG, order_by="sequence")
    execute(f"CREATE INDEX determination_latest_as_of ON {LOG} (subject_id, regime, as_of DESC, sequence DESC)")


def backwards_postgresql(schema_editor) -> None:
    execute = schema_editor.execute
    execute(f"DROP TRIGGER IF EXISTS {SUBJECTS}_append_only ON {SUBJECTS}")
    execute(f"ALTER TABLE {LOG} " + ", ".join(f"ADD COLUMN {column} {DEFINITIONS[column]}" for column, _ in COLUMNS))
    numbered._log_updated(schema_editor, f"UPDATE {LOG} d SET " + ", ".join(f"{column} = s.{own}" for column, own in COLUMNS)
                          + f" FROM {SUBJECTS} s WHERE s.id = d.subject_id")
    execute(f"ALTER TABLE {LOG} " + ", ".join(f"ALTER COLUMN {column} SET NOT NULL" for column, _ in COLUMNS))
    execute("DROP INDEX determination_latest_as_of")
    execute(f"ALTER TABLE {LOG} DROP COLUMN subject_id")
    execute(f"CREATE INDEX determination_latest_as_of ON {LOG} (subject_ref, regime, as_of DESC, sequence DESC)")
    execute(f"CREATE INDEX determination_organisation ON {LOG} (organisation)")
    execute(keyed.POSTGRESQL_TRIGGER, None)


def subject_keyed(apps, schema_editor):
    """Forwards, before the state changes: on PostgreSQL, all of it; on SQLite, the subjects stored and
    the log's references by number added beside the five columns, for the table's remake to copy."""
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        forwards_postgresql(schema_editor)
    elif vendor == "sqlite":
        _subjects_stored(schema_editor)
        schema_editor.execute(f"ALTER TABLE {LOG} ADD COLUMN subject_id integer")
        schema_editor.execute(f"UPDATE {LOG} SET subject_id = (SELECT s.id FROM {SUBJECTS} s WHERE s.ref = {LOG}.subject_ref)")


def remade_keyed_sqlite(apps, schema_editor):
    """On SQLite: the log remade as `apps` have it, each column copied by name, and its once-per-run
    trigger, which the remake drops, made again."""
    if schema_editor.connection.vendor == "sqlite":
        schema_editor._remake_table(apps.get_model("rules", "Determination"))
        schema_editor.execute(once_per_run.SQLITE_BACK, None)
        schema_editor.execute(SQLITE_TRIGGER, None)


def by_columns_again(apps, schema_editor):
    """Backwards, before the state goes back: on PostgreSQL, all of it; on SQLite, the five columns
    added beside the number and filled from the subjects, for the table's remake to copy."""
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        backwards_postgresql(schema_editor)
    elif vendor == "sqlite":
        for column, own in COLUMNS:
            schema_editor.execute(f"ALTER TABLE {LOG} ADD COLUMN {column} {DEFINITIONS[column]}")
            schema_editor.execute(f"UPDATE {LOG} SET {column} = (SELECT s.{own} FROM {SUBJECTS} s "
                                  f"WHERE s.id = {LOG}.subject_id)")


def remade_by_columns_sqlite(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor._remake_table(apps.get_model("rules", "Determination"))
        once_per_run.create_trigger(apps, schema_editor)


class Migration(migrations.Migration):

    dependencies = [
        ("rules", "0027_log_columns_in_order_of_alignment"),
    ]

    operations = [
        migrations.CreateModel(
            name="LoggedSubject",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("ref", models.CharField(max_length=500)),
                ("kind", rules.codes.CodedField(max_length=16, vocabulary="subject_kind")),
                ("organisation", models.SlugField(db_index=False, max_length=64)),
                ("name", models.CharField(blank=True, max_length=200)),
                ("version", models.CharField(blank=True, max_length=64)),
            ],
            options={
                "indexes": [models.Index(fields=["organisation"], name="logged_subject_organisation")],
                "constraints": [models.UniqueConstraint(fields=["ref"], name="logged_subject_ref")],
            },
        ),
        migrations.RunPython(subject_keyed, remade_by_columns_sqlite),
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.RemoveIndex(
                model_name="determination",
                name="determination_organisation",
            ),
            migrations.RemoveIndex(
                model_name="determination",
                name="determination_latest_as_of",
            ),
            migrations.RemoveField(
                model_name="determination",
                name="organisation",
            ),
            migrations.RemoveField(
                model_name="determination",
                name="subject_kind",
            ),
            migrations.RemoveField(
                model_name="determination",
                name="subject_name",
            ),
            migrations.RemoveField(
                model_name="determination",
                name="subject_ref",
            ),
            migrations.RemoveField(
                model_name="determination",
                name="subject_version",
            ),
            migrations.AddField(
                model_name="determination",
                name="subject",
                field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT,
                                        related_name="determinations", to="rules.loggedsubject"),
                preserve_default=False,
            ),
            migrations.AddIndex(
                model_name="determination",
                index=models.Index(fields=["subject", "regime", "-as_of", "-sequence"], name="determination_latest_as_of"),
            ),
        ]),
        migrations.RunPython(remade_keyed_sqlite, by_columns_again),
    ]
