"""django-celery-beat's schedule gains the daily obligation reminders, after the nightly
re-evaluation (02:30 UTC) has brought every obligation up to date. Idempotent."""
from django.db import migrations

REMINDERS = "Obligation reminders: due soon (to labs), newly overdue (to regulators)"


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="6", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.update_or_create(
        name=REMINDERS, defaults={"task": "accounts.tasks.send_obligation_reminders", "crontab": daily,
                                  "interval": None, "enabled": True},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=REMINDERS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_audit_obligation_actions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create_schedule, remove_schedule)]
