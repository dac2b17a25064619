"""On PostgreSQL, the decision log refuses UPDATE and DELETE even from raw SQL."""
from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION rules_determination_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the decision log is append-only: % refused on rules_determination', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS rules_determination_append_only ON rules_determination;
CREATE TRIGGER rules_determination_append_only
    BEFORE UPDATE OR DELETE ON rules_determination
    FOR EACH ROW EXECUTE FUNCTION rules_determination_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS rules_determination_append_only ON rules_determination;
DROP FUNCTION IF EXISTS rules_determination_append_only();
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("rules", "0001_initial")]
    operations = [migrations.RunPython(create_trigger, drop_trigger)]
