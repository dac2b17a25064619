"""The obligations lists' order as an index: overdue first, then by due date (`obligations.models.overdue_first`)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('obligations', '0003_state_as_of_when_changed'),
        ('rules', '0015_index_horizon'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='obligationstate',
            index=models.Index(models.Case(models.When(status='overdue', then=models.Value(0)), default=models.Value(1), output_field=models.IntegerField()), models.F('due_on'), models.F('subject_ref'), models.F('regime'), models.F('obligation'), models.F('occurrence'), name='obligation_state_listed'),
        ),
    ]
