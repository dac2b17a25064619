"""The registry in the regulator's admin: lists with filters and search, topology inlines, and the
revision history of every record. An edit here is kept as a new revision, like any submission."""
from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db import transaction
from django.utils.html import format_html, format_html_join

from .models import (
    Accelerator,
    AcceleratorGroup,
    AIModel,
    Cluster,
    ClusterRevision,
    ModelRevision,
    NetworkLink,
    Organisation,
    OrganisationRevision,
)
from .models.base import SubmissionChannel
from .services import revision_record


def sci(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:.3g} {unit}".strip() if value < 1e4 else f"{value:.3e} {unit}".strip()


class RevisionInline(admin.TabularInline):
    extra = 0
    can_delete = False
    fields = ("number", "submitted_at", "submitted_by", "submitted_via", "changes")
    readonly_fields = fields
    ordering = ("-number",)

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    @admin.display(description="What changed")
    def changes(self, revision: Any) -> str:
        if revision.number == 1:
            return "first submission"
        if not revision.changed_fields:
            return "—"
        return format_html_join(
            "",
            "<div><code>{}</code>: {} → {}</div>",
            (
                (name, json.dumps(before)[:120], json.dumps(after)[:120])
                for name, (before, after) in revision.changed_fields.items()
            ),
        )


class OrganisationRevisionInline(RevisionInline):
    model = OrganisationRevision


class ModelRevisionInline(RevisionInline):
    model = ModelRevision


class ClusterRevisionInline(RevisionInline):
    model = ClusterRevision


class RevisionedAdmin(admin.ModelAdmin):
    """Saves keep history: after the row and its inlines are saved, the new state is a revision."""

    def save_related(self, request: Any, form: Any, formsets: Any, change: bool) -> None:
        with transaction.atomic():
            super().save_related(request, form, formsets, change)
            revision_record(form.instance, actor=request.user, via=SubmissionChannel.ADMIN)

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False  # the registry keeps every submission; nothing is deleted from it


@admin.register(Organisation)
class OrganisationAdmin(RevisionedAdmin):
    list_display = ("slug", "name", "country", "revenue", "revenue_year", "revision", "updated_at")
    list_filter = ("country",)
    search_fields = ("slug", "name")
    readonly_fields = ("revision", "created_at", "updated_at")
    inlines = [OrganisationRevisionInline]

    @admin.display(description="Annual revenue", ordering="annual_revenue_usd")
    def revenue(self, obj: Organisation) -> str:
        return sci(obj.annual_revenue_usd, "USD")


@admin.register(Accelerator)
class AcceleratorAdmin(admin.ModelAdmin):
    list_display = ("slug", "vendor", "model_name", "dense_max", "dense_16bit", "sparse_max", "memory_gb", "release_date")
    list_filter = ("vendor",)
    search_fields = ("slug", "model_name", "vendor")

    def has_add_permission(self, request: Any) -> bool:
        return False  # the catalog comes from registry/data/accelerators.csv

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    @admin.display(description="Dense max (ops/s)", ordering="dense_max_ops_per_second")
    def dense_max(self, obj: Accelerator) -> str:
        return sci(obj.dense_max_ops_per_second)

    @admin.display(description="16-bit dense (ops/s)", ordering="dense_16bit_ops_per_second")
    def dense_16bit(self, obj: Accelerator) -> str:
        return sci(obj.dense_16bit_ops_per_second)

    @admin.display(description="Sparse max (ops/s)", ordering="sparse_max_ops_per_second")
    def sparse_max(self, obj: Accelerator) -> str:
        return sci(obj.sparse_max_ops_per_second)


class BiologicalFilter(admin.SimpleListFilter):
    title = "biological sequence data"
    parameter_name = "biological"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Trained primarily on it"), ("no", "Not")]

    def queryset(self, request: Any, queryset: Any) -> Any:
        if self.value() == "yes":
            return queryset.filter(primarily_biological_sequence_data=True)
        if self.value() == "no":
            return queryset.filter(primarily_biological_sequence_data=False)
        return queryset


class ComputeRangeFilter(admin.SimpleListFilter):
    title = "reported training compute"
    parameter_name = "compute"
    RANGES = {
        "lt23": ("below 1e23 ops", {"training_compute_ops__lt": 1e23}),
        "23to25": ("1e23 to 1e25 ops", {"training_compute_ops__gte": 1e23, "training_compute_ops__lt": 1e25}),
        "25to26": ("1e25 to 1e26 ops", {"training_compute_ops__gte": 1e25, "training_compute_ops__lt": 1e26}),
        "ge26": ("1e26 ops and above", {"training_compute_ops__gte": 1e26}),
        "none": ("not reported", {"training_compute_ops__isnull": True}),
    }

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [(key, label) for key, (label, _) in self.RANGES.items()]

    def queryset(self, request: Any, queryset: Any) -> Any:
        if self.value() in self.RANGES:
            return queryset.filter(**self.RANGES[self.value()][1])
        return queryset


@admin.register(AIModel)
class AIModelAdmin(RevisionedAdmin):
    list_display = ("__str__", "organisation", "parameters", "tokens", "reported_compute", "base_model", "released_on", "revision")
    list_filter = ("organisation", BiologicalFilter, "general_purpose", "derivation", ComputeRangeFilter)
    search_fields = ("name", "version", "organisation__slug", "organisation__name")
    list_select_related = ("organisation", "base_model__organisation")
    autocomplete_fields = ("base_model",)
    readonly_fields = ("revision", "created_at", "updated_at", "lineage_display")
    inlines = [ModelRevisionInline]
    fieldsets = (
        (None, {"fields": ("organisation", "name", "version", "general_purpose", "modalities", "released_on", "source", "notes")}),
        ("Training compute", {"fields": (
            "parameter_count", "active_parameter_count", "training_tokens", "training_compute_ops",
            "training_compute_uncertainty", "primarily_biological_sequence_data", "training_completed_on",
            "training_compute_cost_usd",
        )}),
        ("Training hardware", {"fields": ("training_accelerator", "training_accelerator_count", "training_hours", "training_utilization")}),
        ("Lineage", {"fields": ("base_model", "derivation", "fine_tuning_compute_ops", "lineage_display")}),
        ("History", {"fields": ("revision", "created_at", "updated_at")}),
    )

    @admin.display(description="Parameters", ordering="parameter_count")
    def parameters(self, obj: AIModel) -> str:
        if obj.active_parameter_count:
            return f"{sci(obj.parameter_count)} ({sci(obj.active_parameter_count)} active)"
        return sci(obj.parameter_count)

    @admin.display(description="Tokens", ordering="training_tokens")
    def tokens(self, obj: AIModel) -> str:
        return sci(obj.training_tokens)

    @admin.display(description="Reported compute (ops)", ordering="training_compute_ops")
    def reported_compute(self, obj: AIModel) -> str:
        return sci(obj.training_compute_ops)

    @admin.display(description="Lineage (nearest base first)")
    def lineage_display(self, obj: AIModel) -> str:
        chain = obj.lineage() if obj.pk else []
        return " → ".join(str(model) for model in chain) or "— (a base model)"


class AcceleratorGroupInline(admin.TabularInline):
    model = AcceleratorGroup
    extra = 0
    fields = (
        "name", "datacenter", "accelerator", "accelerator_count", "accelerators_per_node", "network_gbps",
        "peak_dense_max_ops_per_second", "peak_dense_16bit_ops_per_second", "peak_sparse_max_ops_per_second",
    )


class NetworkLinkInline(admin.TabularInline):
    model = NetworkLink
    extra = 0
    fk_name = "cluster"
    fields = ("from_group", "to_group", "gbps")

    def formfield_for_foreignkey(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        if db_field.name in ("from_group", "to_group"):
            cluster_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
            kwargs["queryset"] = AcceleratorGroup.objects.filter(cluster_id=cluster_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Cluster)
class ClusterAdmin(RevisionedAdmin):
    list_display = ("__str__", "organisation", "accelerators", "datacenters", "used_for_ai_training", "operational_from", "revision")
    list_filter = ("organisation", "used_for_ai_training")
    search_fields = ("name", "organisation__slug", "organisation__name", "groups__datacenter")
    list_select_related = ("organisation",)
    readonly_fields = ("revision", "created_at", "updated_at")
    inlines = [AcceleratorGroupInline, NetworkLinkInline, ClusterRevisionInline]

    def get_queryset(self, request: Any) -> Any:
        from django.db.models import Count, Sum

        return super().get_queryset(request).annotate(
            accelerator_total=Sum("groups__accelerator_count"),
            datacenter_total=Count("groups__datacenter", distinct=True),
        )

    @admin.display(description="Accelerators", ordering="accelerator_total")
    def accelerators(self, obj: Cluster) -> str:
        return format_html("{}", f"{obj.accelerator_total or 0:,}")

    @admin.display(description="Datacenters", ordering="datacenter_total")
    def datacenters(self, obj: Cluster) -> int:
        return obj.datacenter_total
