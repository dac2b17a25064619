"""The sweep's beat entry named for what it does since it also starts runs never started and sends
again the chunks of stalled runs (`rules.tasks.pending_sweep`), not only the outbox. Renamed where
it still has the name 0003 gave it; an entry an operator renamed or disabled keeps its name and
state. Reversible."""
from django.db import migrations

OLD = "Outbox sweep: evaluate submissions whose task was not delivered"
SWEEP = "Sweep: submissions, runs and chunks whose message was lost sent again"


def rename(apps, old: str, new: str) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if not PeriodicTask.objects.filter(name=new).exists():
        PeriodicTask.objects.filter(name=old, task="rules.tasks.pending_sweep").update(name=new)


def forwards(apps, schema_editor):
    rename(apps, OLD, SWEEP)


def backwards(apps, schema_editor):
    rename(apps, SWEEP, OLD)


class Migration(migrations.Migration):
    dependencies = [
        ("rules", "0029_log_index_rebuild_schedule"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
