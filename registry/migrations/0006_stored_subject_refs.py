"""Each model and cluster keeps the subject ref the decision log names it by, so that the lists filtered
by status or tier join the log's index of current determinations on an indexed column instead of a
ref computed for every record (BENCHMARKS.md, "The lists filtered by status and tier")."""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Concat


def store_refs(apps, schema_editor):
    Organisation = apps.get_model("registry", "Organisation")
    slug = Subquery(Organisation.objects.filter(pk=OuterRef("organisation_id")).values("slug")[:1])
    apps.get_model("registry", "AIModel").objects.update(stored_subject_ref=Concat(
        Value("model:"), slug, Value("/"), "name", Value("@"), "version", output_field=models.CharField()))
    apps.get_model("registry", "Cluster").objects.update(stored_subject_ref=Concat(
        Value("cluster:"), slug, Value("/"), "name", output_field=models.CharField()))


def _field(kind: str, example: str, **options) -> models.CharField:
    return models.CharField(
        max_length=500, editable=False, **options,
        help_text=f"The subject ref the decision log names the {kind} by (`{example}`), set when the {kind} is "
                  f"recorded (its organisation{' and name' if kind == 'cluster' else ', name and version'} never "
                  f"change): the lists filtered by status or tier join the log's index of current determinations on it.",
    )


class Migration(migrations.Migration):

    dependencies = [
        ("registry", "0005_model_uncertainty_at_most_one"),
    ]

    operations = [
        migrations.AddField(model_name="aimodel", name="stored_subject_ref",
                            field=_field("model", "model:ORG/NAME@VERSION", default="")),
        migrations.AddField(model_name="cluster", name="stored_subject_ref",
                            field=_field("cluster", "cluster:ORG/NAME", default="")),
        migrations.RunPython(store_refs, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(model_name="aimodel", name="stored_subject_ref", field=_field("model", "model:ORG/NAME@VERSION")),
        migrations.AlterField(model_name="cluster", name="stored_subject_ref", field=_field("cluster", "cluster:ORG/NAME")),
        migrations.AddConstraint(model_name="aimodel", constraint=models.UniqueConstraint(
            fields=["stored_subject_ref"], name="model_stored_subject_ref_unique")),
        migrations.AddConstraint(model_name="cluster", constraint=models.UniqueConstraint(
            fields=["stored_subject_ref"], name="cluster_stored_subject_ref_unique")),
        migrations.AddConstraint(model_name="aimodel", constraint=models.CheckConstraint(
            condition=~models.Q(stored_subject_ref=""), name="model_stored_subject_ref_set")),
        migrations.AddConstraint(model_name="cluster", constraint=models.CheckConstraint(
            condition=~models.Q(stored_subject_ref=""), name="cluster_stored_subject_ref_set")),
    ]
