"""The two staff groups and their model permissions, and the `publish_ruleversion` permission.

Regulators view everything and draft and publish rule versions; lab staff view, add and change
registry records (the API keeps each lab to its own organisation). Re-running changes nothing.
"""
from django.contrib.auth.management import create_permissions
from django.db import migrations

from accounts.roles import LAB_STAFF, REGULATORS, assign_role_groups


def create_groups(apps, schema_editor=None):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    assign_role_groups(
        group_model=apps.get_model("auth", "Group"),
        permission_model=apps.get_model("auth", "Permission"),
        content_type_model=apps.get_model("contenttypes", "ContentType"),
    )


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[REGULATORS, LAB_STAFF]).delete()
    apps.get_model("auth", "Permission").objects.filter(codename="publish_ruleversion").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("api", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("registry", "0001_initial"),
        ("rules", "0003_beat_schedule"),
        ("reports", "0001_initial"),
    ]
    operations = [migrations.RunPython(create_groups, remove_groups)]
