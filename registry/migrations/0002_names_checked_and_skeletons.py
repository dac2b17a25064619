"""Names the registry can refer to without ambiguity: checks the stored names against the rules new
submissions keep (no `/` or `@` in a model's name or version, no line breaks, control or format
characters in any name; organisation names unique) and refuses to migrate, naming the records,
while any breaks them; then stores each name's skeleton for the confusable-name check."""
from collections import Counter

from django.db import migrations, models

from registry.interchange import MODEL_NAME_RESERVED, name_problem
from registry.names import name_skeleton


def check_names_and_store_skeletons(apps, schema_editor):
    Organisation = apps.get_model("registry", "Organisation")
    AIModel = apps.get_model("registry", "AIModel")
    Cluster = apps.get_model("registry", "Cluster")
    problems = []
    for org in Organisation.objects.order_by("slug"):
        if problem := name_problem(org.name):
            problems.append(f"organisation:{org.slug} name {org.name!r} {problem}")
    taken = Counter(Organisation.objects.values_list("name", flat=True))
    for name, count in sorted(taken.items()):
        if count > 1:
            slugs = ", ".join(Organisation.objects.filter(name=name).order_by("slug").values_list("slug", flat=True))
            problems.append(f"organisations {slugs} share the name {name!r}: organisation names must be unique")
    for model in AIModel.objects.select_related("organisation").order_by("pk"):
        for field in ("name", "version"):
            if problem := name_problem(getattr(model, field), reserved=MODEL_NAME_RESERVED):
                problems.append(f"model id {model.pk} ({model.organisation.slug}) {field} {getattr(model, field)!r} {problem}")
    for cluster in Cluster.objects.select_related("organisation").order_by("pk"):
        if problem := name_problem(cluster.name):
            problems.append(f"cluster id {cluster.pk} ({cluster.organisation.slug}) name {cluster.name!r} {problem}")
    if problems:
        raise RuntimeError(
            "stored names break the registry's naming rules; rename these records (a new record and a "
            "regulator's correction) and migrate again:\n  " + "\n  ".join(problems))
    for table in (Organisation, AIModel, Cluster):
        rows = list(table.objects.only("pk", "name"))
        for row in rows:
            row.name_skeleton = name_skeleton(row.name)
        table.objects.bulk_update(rows, ["name_skeleton"], batch_size=2000)


class Migration(migrations.Migration):

    dependencies = [
        ('registry', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='aimodel',
            name='name_skeleton',
            field=models.CharField(blank=True, editable=False, help_text="The name as it reads (registry.names): a new name with the skeleton of another of its organisation's models is refused.", max_length=800),
        ),
        migrations.AddField(
            model_name='cluster',
            name='name_skeleton',
            field=models.CharField(blank=True, editable=False, help_text="The name as it reads (registry.names): a new name with the skeleton of another of its organisation's clusters is refused.", max_length=800),
        ),
        migrations.AddField(
            model_name='organisation',
            name='name_skeleton',
            field=models.CharField(blank=True, editable=False, help_text="The name as it reads (registry.names): a new name with the skeleton of another organisation's is refused.", max_length=800),
        ),
        migrations.RunPython(check_names_and_store_skeletons, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='organisation',
            name='name',
            field=models.CharField(max_length=200, unique=True),
        ),
        migrations.AddIndex(
            model_name='aimodel',
            index=models.Index(fields=['organisation', 'name_skeleton'], name='model_org_name_skeleton'),
        ),
        migrations.AddIndex(
            model_name='cluster',
            index=models.Index(fields=['organisation', 'name_skeleton'], name='cluster_org_name_skeleton'),
        ),
        migrations.AddIndex(
            model_name='organisation',
            index=models.Index(fields=['name_skeleton'], name='organisation_name_skeleton'),
        ),
    ]
