"""The determinations list filtered by trigger read in the log's order from one index (trigger, sequence)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('rules', '0015_index_horizon'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='determination',
            name='determination_trigger',
        ),
        migrations.AddIndex(
            model_name='determination',
            index=models.Index(fields=['trigger', 'sequence'], name='determination_trigger_sequence'),
        ),
    ]
