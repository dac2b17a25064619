"""The index of determinations by rule version keeps only the rows made under one: most rows of a
registry are of regimes not in force as of their date, made under none, and no lookup by version
asks for them. The foreign key's own index is dropped by name, on both databases, so that SQLite
does not remake the log's table (which would drop its trigger, rules.0022)."""
import django.db.models.deletion
from django.db import migrations, models

FOREIGN_KEY_INDEX = "rules_determination_rule_version_id_0734210c"


class Migration(migrations.Migration):

    dependencies = [
        ("rules", "0023_determination_keyed_by_its_position"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="determination",
                    name="rule_version",
                    field=models.ForeignKey(blank=True, db_index=False, null=True,
                                            on_delete=django.db.models.deletion.PROTECT,
                                            related_name="determinations", to="rules.ruleversion"),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX {FOREIGN_KEY_INDEX}",
                    f"CREATE INDEX {FOREIGN_KEY_INDEX} ON rules_determination (rule_version_id)",
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="determination",
            index=models.Index(condition=models.Q(("rule_version__isnull", False)), fields=["rule_version"],
                               name="determination_rule_version"),
        ),
    ]
