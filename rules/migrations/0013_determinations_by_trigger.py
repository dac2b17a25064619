"""The log indexed by trigger: the determinations list filtered by a rare trigger finds its rows
without reading the log (a deduplicated B-tree of a few bytes a row on PostgreSQL)."""
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('rules', '0012_payloads_packed_against_a_dictionary'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='determination',
            index=models.Index(fields=['trigger'], name='determination_trigger'),
        ),
    ]
