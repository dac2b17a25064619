"""The index of current determinations: the newest determination of each (subject, regime), kept
with the rows appended so that the workspace reads "current" without ranking the whole log; made
here from the log as it is."""
import django.db.models.deletion
from django.db import migrations, models


COLUMNS = "subject_ref, regime, sequence, as_of, rule_version_id, subject_kind, organisation, status, tier"
INDEX_FROM_LOG = f"""
INSERT INTO rules_currentdetermination ({COLUMNS})
SELECT {COLUMNS} FROM (
    SELECT {COLUMNS}, ROW_NUMBER() OVER (PARTITION BY subject_ref, regime ORDER BY as_of DESC, sequence DESC) AS newness
    FROM rules_determination
) AS ranked WHERE newness = 1
"""

# PostgreSQL: which regime goes with which rule version, so that the few entries not under the version
# in force are estimated as few (each column's own statistics multiplied would say a sixth of the table)
# and read through `current_version_as_of`.
STATISTICS = ("CREATE STATISTICS IF NOT EXISTS current_regime_version (dependencies, mcv) "
              "ON regime, rule_version_id FROM rules_currentdetermination")
NO_STATISTICS = "DROP STATISTICS IF EXISTS current_regime_version"


def statistics(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(STATISTICS)


def no_statistics(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(NO_STATISTICS)


class Migration(migrations.Migration):

    dependencies = [
        ('rules', '0010_payloads_stored_once_and_confirmations'),
    ]

    operations = [
        migrations.CreateModel(
            name='CurrentDetermination',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('subject_ref', models.CharField(max_length=500)),
                ('regime', models.SlugField(db_index=False, max_length=64)),
                ('sequence', models.BigIntegerField(help_text="The determination's position in the chain.", unique=True)),
                ('as_of', models.DateField()),
                ('subject_kind', models.CharField(max_length=16)),
                ('organisation', models.SlugField(db_index=False, max_length=64)),
                ('status', models.CharField(choices=[('covered', 'covered'), ('not_covered', 'not covered'), ('indeterminate', 'indeterminate'), ('not_in_force', 'not in force'), ('not_applicable', 'not applicable')], max_length=16)),
                ('tier', models.CharField(blank=True, max_length=64)),
                ('rule_version', models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='rules.ruleversion')),
            ],
            options={
                'indexes': [models.Index(fields=['organisation'], name='current_determination_org'), models.Index(fields=['regime', 'rule_version', 'as_of'], name='current_version_as_of')],
                'constraints': [models.UniqueConstraint(fields=('subject_ref', 'regime'), name='current_determination_subject_regime')],
            },
        ),
        migrations.RunSQL(INDEX_FROM_LOG, migrations.RunSQL.noop),
        migrations.RunPython(statistics, no_statistics),
    ]
