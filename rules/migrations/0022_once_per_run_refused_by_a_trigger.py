"""A run determines each subject under each regime once, as of its own date: a trigger refuses the
row that would break this, on PostgreSQL and on SQLite, in place of the unique index on (run,
subject_ref, regime) that refused a second row before (84 bytes a determination). The trigger looks
for an earlier row of the run through `determination_latest_as_of`, which leads with the subject,
the regime and the as-of date. The rows of a run are found by an index on the run alone (PostgreSQL
keeps each run's rows under one key), and the rows someone asked for by a partial index on
`requested_by` (a scheduled run's rows have none)."""
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

POSTGRESQL = """
CREATE OR REPLACE FUNCTION rules_determination_once_per_run() RETURNS trigger AS $$
DECLARE
    refused record;
BEGIN
    IF NOT EXISTS (SELECT FROM appended WHERE run_id IS NOT NULL) THEN  -- a lab's own evaluation
        RETURN NULL;
    END IF;
    -- planned each time (EXECUTE): the plan fits this statement's rows and the log's size
    EXECUTE 'SELECT a.run_id, a.subject_ref, a.regime, a.as_of, r.as_of AS run_as_of
             FROM appended a JOIN rules_evaluationrun r ON r.id = a.run_id
             WHERE a.as_of <> r.as_of LIMIT 1' INTO refused;
    IF refused.run_id IS NOT NULL THEN
        RAISE EXCEPTION 'run % is as of %: its determination of % under % as of % refused',
            refused.run_id, refused.run_as_of, refused.subject_ref, refused.regime, refused.as_of
            USING ERRCODE = 'check_violation';
    END IF;
    -- a probe of determination_latest_as_of for each row, whatever the planner's estimates (a LATERAL
    -- subquery with a LIMIT is never made a join)
    EXECUTE 'SELECT a.run_id, a.subject_ref, a.regime FROM appended a
             CROSS JOIN LATERAL (SELECT FROM rules_determination d
                                 WHERE d.subject_ref = a.subject_ref AND d.regime = a.regime
                                   AND d.as_of = a.as_of AND d.run_id = a.run_id AND d.id <> a.id
                                 LIMIT 1) AS earlier
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
DROP TRIGGER IF EXISTS rules_determination_once_per_run ON rules_determination;
CREATE TRIGGER rules_determination_once_per_run AFTER INSERT ON rules_determination
    REFERENCING NEW TABLE AS appended FOR EACH STATEMENT EXECUTE FUNCTION rules_determination_once_per_run();
"""
POSTGRESQL_BACK = """
DROP TRIGGER IF EXISTS rules_determination_once_per_run ON rules_determination;
DROP FUNCTION IF EXISTS rules_determination_once_per_run();
"""
SQLITE = """
CREATE TRIGGER rules_determination_once_per_run BEFORE INSERT ON rules_determination
WHEN NEW.run_id IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a run determines a subject under a regime once, as of its own date: determination refused')
    WHERE NEW.as_of <> (SELECT as_of FROM rules_evaluationrun WHERE id = NEW.run_id)
       OR EXISTS (SELECT 1 FROM rules_determination d
                  WHERE d.subject_ref = NEW.subject_ref AND d.regime = NEW.regime AND d.as_of = NEW.as_of
                    AND d.run_id = NEW.run_id);
END;
"""
SQLITE_BACK = "DROP TRIGGER IF EXISTS rules_determination_once_per_run;"


def create_trigger(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL, None)
    elif vendor == "sqlite":  # one statement at a time
        schema_editor.execute(SQLITE_BACK, None)
        schema_editor.execute(SQLITE, None)


def drop_trigger(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_BACK, None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_BACK, None)


class Migration(migrations.Migration):

    dependencies = [
        ("rules", "0021_facts_snapshots_packed_against_a_dictionary"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="determination",
            index=models.Index(fields=["run"], name="determination_run"),
        ),
        migrations.RemoveConstraint(
            model_name="determination",
            name="determination_once_per_run_subject_regime",
        ),
        migrations.AlterField(
            model_name="determination",
            name="requested_by",
            field=models.ForeignKey(blank=True, db_index=False, null=True,
                                    on_delete=django.db.models.deletion.PROTECT, related_name="+",
                                    to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddIndex(
            model_name="determination",
            index=models.Index(condition=models.Q(("requested_by__isnull", False)), fields=["requested_by"],
                               name="determination_requested_by"),
        ),
        # last: SQLite drops a table's triggers when it remakes the table, as the operations above do
        migrations.RunPython(create_trigger, drop_trigger),
    ]
