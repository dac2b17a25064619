"""Each organisation's number of models, kept by the database (triggers on registry_aimodel) so that
a submission reads it in one indexed lookup instead of counting the organisation's models, and
filled in from the models stored."""
import django.db.models.deletion
from django.db import migrations, models

# PostgreSQL: one statement's inserts or deletes are counted once per organisation (transition
# tables), so a bulk insert or a COPY updates each count once; the rows are taken in the order of
# the organisations' ids, so two statements counting the same organisations wait for each other
# rather than deadlock.
POSTGRESQL = """
CREATE FUNCTION registry_models_inserted() RETURNS trigger AS $$
BEGIN
    INSERT INTO registry_organisationmodelcount AS counted (organisation_id, count)
    SELECT organisation_id, COUNT(*) FROM inserted GROUP BY organisation_id ORDER BY organisation_id
    ON CONFLICT (organisation_id) DO UPDATE SET count = counted.count + EXCLUDED.count;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER registry_models_inserted AFTER INSERT ON registry_aimodel
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION registry_models_inserted();

CREATE FUNCTION registry_models_deleted() RETURNS trigger AS $$
BEGIN
    UPDATE registry_organisationmodelcount AS counted SET count = counted.count - gone.models
    FROM (SELECT organisation_id, COUNT(*) AS models FROM deleted GROUP BY organisation_id) AS gone
    WHERE counted.organisation_id = gone.organisation_id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER registry_models_deleted AFTER DELETE ON registry_aimodel
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION registry_models_deleted();

CREATE FUNCTION registry_model_moved() RETURNS trigger AS $$
BEGIN
    UPDATE registry_organisationmodelcount SET count = count - 1 WHERE organisation_id = OLD.organisation_id;
    INSERT INTO registry_organisationmodelcount AS counted (organisation_id, count) VALUES (NEW.organisation_id, 1)
    ON CONFLICT (organisation_id) DO UPDATE SET count = counted.count + 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER registry_model_moved AFTER UPDATE OF organisation_id ON registry_aimodel
    FOR EACH ROW WHEN (OLD.organisation_id IS DISTINCT FROM NEW.organisation_id)
    EXECUTE FUNCTION registry_model_moved();
"""
POSTGRESQL_DROP = """
DROP TRIGGER IF EXISTS registry_models_inserted ON registry_aimodel;
DROP TRIGGER IF EXISTS registry_models_deleted ON registry_aimodel;
DROP TRIGGER IF EXISTS registry_model_moved ON registry_aimodel;
DROP FUNCTION IF EXISTS registry_models_inserted();
DROP FUNCTION IF EXISTS registry_models_deleted();
DROP FUNCTION IF EXISTS registry_model_moved();
"""
# SQLite: row triggers (it has no others). `WHERE true` keeps the upsert's SELECT from being read
# as a join's ON clause.
SQLITE = [
    """CREATE TRIGGER registry_models_inserted AFTER INSERT ON registry_aimodel BEGIN
        INSERT INTO registry_organisationmodelcount (organisation_id, count) SELECT NEW.organisation_id, 1 WHERE true
        ON CONFLICT (organisation_id) DO UPDATE SET count = count + 1;
    END""",
    """CREATE TRIGGER registry_models_deleted AFTER DELETE ON registry_aimodel BEGIN
        UPDATE registry_organisationmodelcount SET count = count - 1 WHERE organisation_id = OLD.organisation_id;
    END""",
    """CREATE TRIGGER registry_model_moved AFTER UPDATE OF organisation_id ON registry_aimodel
    WHEN OLD.organisation_id IS NOT NEW.organisation_id BEGIN
        UPDATE registry_organisationmodelcount SET count = count - 1 WHERE organisation_id = OLD.organisation_id;
        INSERT INTO registry_organisationmodelcount (organisation_id, count) SELECT NEW.organisation_id, 1 WHERE true
        ON CONFLICT (organisation_id) DO UPDATE SET count = count + 1;
    END""",
]
SQLITE_DROP = [f"DROP TRIGGER IF EXISTS {name}"
               for name in ("registry_models_inserted", "registry_models_deleted", "registry_model_moved")]
# the models stored before the triggers: counted once, with the table locked by the triggers' creation
FILL = """
INSERT INTO registry_organisationmodelcount (organisation_id, count)
SELECT organisation_id, COUNT(*) FROM registry_aimodel GROUP BY organisation_id
"""


def count_models(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE:
            schema_editor.execute(statement, params=None)
    else:
        raise NotImplementedError(f"the models' counts need triggers written for {schema_editor.connection.vendor}")
    schema_editor.execute(FILL, params=None)


def stop_counting(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DROP, params=None)
    else:
        for statement in SQLITE_DROP:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('registry', '0007_foreign_keys_indexed_by_composites'),
    ]

    operations = [
        migrations.CreateModel(
            name='OrganisationModelCount',
            fields=[
                ('organisation', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='model_count', serialize=False, to='registry.organisation')),
                ('count', models.PositiveIntegerField(default=0)),
            ],
            options={
                'verbose_name': "organisation's model count",
            },
        ),
        migrations.RunPython(count_models, stop_counting),
    ]
