"""django-celery-beat's schedule: the nightly re-evaluation and the outbox sweep. Idempotent."""
from django.db import migrations

NIGHTLY = "Nightly re-evaluation of the whole registry"
SWEEP = "Outbox sweep: evaluate submissions whose task was not delivered"


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="2", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=NIGHTLY, defaults={"task": "rules.tasks.reevaluate_registry", "crontab": nightly, "interval": None,
                                "kwargs": '{"kind": "schedule"}', "enabled": True},
    )
    PeriodicTask.objects.update_or_create(
        name=SWEEP, defaults={"task": "rules.tasks.pending_sweep", "interval": every_minute, "crontab": None,
                              "enabled": True},
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[NIGHTLY, SWEEP]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("rules", "0002_decision_log_append_only_trigger"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create_schedule, remove_schedule)]
