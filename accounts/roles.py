"""The two staff roles as auth groups with their permissions.

Regulators view everything (reports included), draft and publish rule versions, record (and
withdraw) designations and review fulfilments of obligations; lab staff view, add and change
registry records, view the designations of their own subjects and record their fulfilments and
incidents (scoping keeps each lab to its own organisation). Created by a migration and made whole
again after every `migrate` (and after a test database flush), so the groups never go missing.
Re-running changes nothing.
"""
from __future__ import annotations

from typing import Any

REGULATORS = "Regulators"
LAB_STAFF = "Lab staff"
VIEW_EVERYTHING_IN = ("registry", "rules", "accounts", "api", "reports")
REGULATOR_EXTRA = [("rules", "ruleversion", "add"), ("rules", "ruleversion", "change")]
# Designations came later than the migration that first creates the groups: their permissions are
# given once they exist (every later `migrate` makes the groups whole again).
REGULATOR_DESIGNATIONS = [("registry", "designation", "add"), ("registry", "designationwithdrawal", "add")]
LAB_RECORDS = ("organisation", "aimodel", "cluster", "acceleratorgroup", "networklink")
LAB_VIEW_ONLY = ("accelerator", "organisationrevision", "modelrevision", "clusterrevision")
LAB_DESIGNATIONS = [("registry", "designation", "view")]
# Obligations: a regulator views them all and reviews fulfilments; lab staff record fulfilments and
# incidents of their own subjects and view their obligations and the reviews of their fulfilments.
REGULATOR_OBLIGATIONS = [("obligations", model, "view") for model in (
    "fulfilment", "fulfilmentreview", "incident", "obligationstate", "obligationstatuschange", "reminder")
] + [("obligations", "fulfilmentreview", "add")]
LAB_OBLIGATIONS = [("obligations", "fulfilment", "view"), ("obligations", "fulfilment", "add"),
                   ("obligations", "incident", "view"), ("obligations", "incident", "add"),
                   ("obligations", "fulfilmentreview", "view"), ("obligations", "obligationstate", "view"),
                   ("obligations", "obligationstatuschange", "view")]
# Reports: a lab member sees (and generates, in the workspace) audit reports of its own subjects only.
LAB_REPORTS = [("reports", "reportartifact", "view")]


def assign_role_groups(*, group_model: Any, permission_model: Any, content_type_model: Any) -> None:
    """Creates both groups and gives them their permissions (the permissions must exist)."""

    def perm(app_label: str, model: str, action: str) -> Any:
        return permission_model.objects.get(content_type__app_label=app_label, content_type__model=model,
                                            codename=f"{action}_{model}")

    def later(specs: list[tuple[str, str, str]]) -> list[Any]:
        return [p for app_label, model, action in specs for p in permission_model.objects.filter(
            content_type__app_label=app_label, content_type__model=model, codename=f"{action}_{model}")]

    rule_version_type, _ = content_type_model.objects.get_or_create(app_label="rules", model="ruleversion")
    publish, _ = permission_model.objects.get_or_create(
        content_type=rule_version_type, codename="publish_ruleversion",
        defaults={"name": "Can publish rule version"},
    )
    regulators, _ = group_model.objects.get_or_create(name=REGULATORS)
    regulators.permissions.add(
        *permission_model.objects.filter(content_type__app_label__in=VIEW_EVERYTHING_IN, codename__startswith="view_"),
        *(perm(*spec) for spec in REGULATOR_EXTRA),
        *later(REGULATOR_DESIGNATIONS),
        *later(REGULATOR_OBLIGATIONS),
        publish,
    )
    lab_staff, _ = group_model.objects.get_or_create(name=LAB_STAFF)
    lab_staff.permissions.add(
        *(perm("registry", model, action) for model in LAB_RECORDS for action in ("view", "add", "change")),
        *(perm("registry", model, "view") for model in LAB_VIEW_ONLY),
        *later(LAB_DESIGNATIONS),
        *later(LAB_OBLIGATIONS),
        *later(LAB_REPORTS),
    )


def ensure_role_groups_after_migrate(sender: Any, **kwargs: Any) -> None:
    """post_migrate (sent last for this app): every app's permissions first, then the groups."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.management import create_contenttypes
    from django.contrib.contenttypes.models import ContentType

    using = kwargs.get("using", "default")
    for app_config in apps.get_app_configs():
        create_contenttypes(app_config, verbosity=0, using=using)
        create_permissions(app_config, verbosity=0, using=using)
    assign_role_groups(group_model=Group, permission_model=Permission, content_type_model=ContentType)
