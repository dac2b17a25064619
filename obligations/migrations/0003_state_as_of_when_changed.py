# The state's as-of date: when it was last found changed.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('obligations', '0002_occurrence_help_text'),
    ]

    operations = [
        migrations.AlterField(
            model_name='obligationstate',
            name='as_of',
            field=models.DateField(help_text='The date the status, due date or reason was last found changed: a refresh that finds them as they were leaves the row alone.'),
        ),
    ]
