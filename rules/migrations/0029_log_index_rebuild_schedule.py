"""django-celery-beat's entry for the decision log's daily index upkeep (`rules.tasks.rebuild_log_indexes`),
after the nightly re-evaluation (02:30 UTC). Idempotent."""
from django.db import migrations

REBUILD = "Decision log: indexes rebuilt when split past their compact size"


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="4", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.update_or_create(
        name=REBUILD, defaults={"task": "rules.tasks.rebuild_log_indexes", "crontab": daily, "interval": None,
                                "enabled": True},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=REBUILD).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("rules", "0028_determination_subject_stored_once"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create_schedule, remove_schedule)]
