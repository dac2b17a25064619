"""The index of current determinations gains a horizon: rows dated after it no longer displace a
subject's entry (`rules.current`). The index as it stands holds the newest row of every (subject,
regime), so the horizon starts at the latest of its dates (today at the earliest) and nothing is
ahead of it; `verify_log --rebuild-index` brings it back to today where runs were dated in the future."""

import rules.models.decision_log
from django.db import migrations, models
from django.db.models import Max


def horizon_past_every_entry(apps, schema_editor):
    LogHead = apps.get_model("rules", "LogHead")
    CurrentDetermination = apps.get_model("rules", "CurrentDetermination")
    latest = CurrentDetermination.objects.aggregate(latest=Max("as_of"))["latest"]
    head = LogHead.objects.filter(id=1).first()
    if head is not None and latest is not None and latest > head.index_horizon:
        LogHead.objects.filter(id=1).update(index_horizon=latest)


class Migration(migrations.Migration):

    dependencies = [
        ('rules', '0014_runs_record_their_engine'),
    ]

    operations = [
        migrations.AddField(
            model_name='loghead',
            name='index_horizon',
            field=models.DateField(default=rules.models.decision_log.horizon_today, help_text='The index of current determinations keeps the newest row of each (subject, regime) dated on or before this date (CurrentDetermination), and the earliest date of those dated after it (DeterminationAhead); each write to the log moves it on to today (rules.current).'),
        ),
        migrations.CreateModel(
            name='DeterminationAhead',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('subject_ref', models.CharField(max_length=500)),
                ('regime', models.SlugField(db_index=False, max_length=64)),
                ('organisation', models.SlugField(db_index=False, max_length=64)),
                ('as_of', models.DateField(help_text="The earliest as-of date of the subject's determinations under this regime after the index's horizon.")),
            ],
            options={
                'indexes': [models.Index(fields=['as_of'], name='determination_ahead_as_of')],
                'constraints': [models.UniqueConstraint(fields=('subject_ref', 'regime'), name='determination_ahead_subject_regime')],
            },
        ),
        migrations.RunPython(horizon_past_every_entry, migrations.RunPython.noop),
    ]
