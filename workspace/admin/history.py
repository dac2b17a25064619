"""Revision history in the admin: each record's revisions with what changed between them, and the
base admin whose saves go through the registry's one write path (`registry.services.record_save`),
like an API submission or an import: the same validation, identity rules, revisions and outbox."""
from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpResponse, HttpResponseRedirect
from django.utils.html import format_html, format_html_join

from registry.mapping import keep_exact_figures
from registry.models import ClusterRevision, ModelRevision, OrganisationRevision
from registry.models.base import SubmissionChannel
from registry.selectors import current_facts
from registry.services import RegistryValidationError, record_save
from rules.engine.formatting import UNKNOWN, format_quantity

from .forms import ExactNumberField
from .scoping import OrganisationScopedAdmin, scope_of

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
    """Saves go through the registry's write path: the form and its inlines become one interchange
    record, which `record_save` validates and stores as a revision (or refuses, having written
    nothing: its problems are shown on the page, each naming its field)."""

    record_kind = ""  # "organisation", "model" or "cluster"

    def record_of(self, form: Any, formsets: Any) -> dict[str, Any]:
        """The record the form (and its inlines) describe, in the interchange format."""
        return current_facts(form.instance)

    def get_object(self, request: Any, object_id: str, from_field: str | None = None) -> Any:
        """The record with its figures as submitted: the row's float columns round a whole number of
        more than 15 digits, which the form would then show and a save would store."""
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            latest = obj.revisions.order_by("-number").values_list("facts", flat=True).first()
            keep_exact_figures(self.record_kind, obj, latest)
        return obj

    def formfield_for_dbfield(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        if isinstance(db_field, models.FloatField):  # a figure: read exactly, not through float()
            return db_field.formfield(form_class=ExactNumberField, widget=forms.TextInput(attrs={"inputmode": "decimal"}),
                                      **kwargs)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        pass  # written by save_related, with its inlines, through the write path

    def save_related(self, request: Any, form: Any, formsets: Any, change: bool) -> None:
        scope = scope_of(request.user)
        if scope.restricted and scope.organisation_slug is None:
            raise PermissionDenied("you belong to no organisation")
        obj = form.instance
        for name, field in form.fields.items():  # the model's full_clean made them floats again
            if isinstance(field, ExactNumberField) and name in form.cleaned_data:
                setattr(obj, name, form.cleaned_data[name])
        for formset in formsets:  # the inlines are part of the record written below, not saved on their own
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        current = None
        if change:
            current = current_facts(type(obj).objects.select_related(*self._related()).get(pk=obj.pk))
        try:
            stored, _outcome = record_save(
                kind=self.record_kind, record=self.record_of(form, formsets), current=current, actor=request.user,
                via=SubmissionChannel.ADMIN, organisation_scope=scope.organisation_slug,
            )
        except RegistryValidationError as exc:
            request._registry_problems = exc.problems  # nothing was written; the page says why
            return
        for field in stored._meta.concrete_fields:
            setattr(obj, field.attname, getattr(stored, field.attname))

    def _related(self) -> tuple[str, ...]:
        return () if self.record_kind == "organisation" else ("organisation",)

    def _refused(self, request: Any) -> HttpResponse | None:
        problems = getattr(request, "_registry_problems", None)
        if not problems:
            return None
        for problem in problems:
            field = problem.path.split("]", 1)[-1].lstrip(".") or "record"
            messages.error(request, f"Not saved: {field}: {problem.message}")
        return HttpResponseRedirect(request.get_full_path())

    def log_addition(self, request: Any, obj: Any, message: Any) -> Any:
        return None if getattr(request, "_registry_problems", None) else super().log_addition(request, obj, message)

    def log_change(self, request: Any, obj: Any, message: Any) -> Any:
        return None if getattr(request, "_registry_problems", None) else super().log_change(request, obj, message)

    def response_add(self, request: Any, obj: Any, post_url_continue: Any = None) -> HttpResponse:
        return self._refused(request) or super().response_add(request, obj, post_url_continue)

    def response_change(self, request: Any, obj: Any) -> HttpResponse:
        return self._refused(request) or super().response_change(request, obj)

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False  # the registry keeps every submission; nothing is deleted from it
