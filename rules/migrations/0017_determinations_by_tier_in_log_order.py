"""The determinations list filtered by the tier reached read in the log's order from an index of the rows
that reach a tier (regime, tier, sequence)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('rules', '0016_trigger_in_log_order'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='determination',
            index=models.Index(condition=models.Q(('tier', ''), _negated=True), fields=['regime', 'tier', 'sequence'], name='determination_tier_sequence'),
        ),
    ]
