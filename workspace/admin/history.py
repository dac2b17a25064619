"""Revision history in the admin: each record's revisions with what changed between them, and the
base admin that keeps an admin edit as a new revision, like any other submission."""
from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db import transaction
from django.utils.html import format_html, format_html_join

from registry.models import ClusterRevision, ModelRevision, OrganisationRevision
from registry.models.base import SubmissionChannel
from registry.services import revision_record
from rules.engine.formatting import UNKNOWN, format_quantity

from .scoping import OrganisationScopedAdmin

MAX_SHOWN_CHARS = 160
UNITS = {
    "training_compute_ops": "ops",
    "fine_tuning_compute_ops": "ops",
    "annual_revenue_usd": "USD",
    "training_compute_cost_usd": "USD",
    "parameter_count": "parameters",
    "active_parameter_count": "parameters",
    "training_tokens": "tokens",
}


def shown_value(name: str, value: Any) -> str:
    """A submitted value as a reader wants it: numbers in scientific notation with their unit."""
    if value is None:
        return UNKNOWN
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_quantity(value, UNITS.get(name))
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 1] + "…"


def revision_diff(revision: Any) -> str:
    """The fields a revision changed, as a small before → after table."""
    if revision.number == 1:
        return "first submission"
    if not revision.changed_fields:
        return "—"
    rows = format_html_join(
        "",
        '<tr><th scope="row"><code>{}</code></th><td class="diff-before">{}</td><td class="diff-after">{}</td></tr>',
        ((name, shown_value(name, before), shown_value(name, after))
         for name, (before, after) in sorted(revision.changed_fields.items())),
    )
    return format_html(
        '<table class="revision-diff"><thead><tr><th>Field</th><th>Before</th><th>After</th></tr></thead>'
        "<tbody>{}</tbody></table>", rows,
    )


class RevisionInline(admin.TabularInline):
    extra = 0
    can_delete = False
    fields = ("number", "submitted_at", "submitted_by", "submitted_via", "changes")
    readonly_fields = fields
    ordering = ("-number",)
    classes = ("revision-history",)

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    @admin.display(description="What changed")
    def changes(self, revision: Any) -> str:
        return revision_diff(revision)


class OrganisationRevisionInline(RevisionInline):
    model = OrganisationRevision
    verbose_name_plural = "revisions (what changed between them)"


class ModelRevisionInline(RevisionInline):
    model = ModelRevision
    verbose_name_plural = "revisions (what changed between them)"


class ClusterRevisionInline(RevisionInline):
    model = ClusterRevision
    verbose_name_plural = "revisions (what changed between them)"


class RevisionedAdmin(OrganisationScopedAdmin):
    """Saves keep history: after the row and its inlines are saved, the new state is a revision."""

    def save_related(self, request: Any, form: Any, formsets: Any, change: bool) -> None:
        with transaction.atomic():
            super().save_related(request, form, formsets, change)
            revision_record(form.instance, actor=request.user, via=SubmissionChannel.ADMIN)

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False  # the registry keeps every submission; nothing is deleted from it
