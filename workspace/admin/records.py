"""The registry's records in the admin: organisations, the accelerator catalog, AI models and
clusters, with filters, search, topology inlines, revision history and each subject's status."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum
from django.utils.html import format_html

from registry.facts import cluster_facts
from registry.mapping import row_facts
from registry.models import Accelerator, AcceleratorGroup, AIModel, Cluster, NetworkLink, Organisation
from registry.selectors import base_model_choices
from rules.engine.formatting import UNKNOWN, format_quantity

from .compute import DERIVED, DERIVED_METHOD, METHOD_LABELS, PEAK, summed_peak, with_derived_training_compute
from .display import ScientificDisplayMixin
from .exports import CLUSTER_FIELDS, MODEL_FIELDS, CsvExportMixin, cluster_records, model_records
from .filters import (
    BiologicalFilter,
    ClusterPeakRangeFilter,
    ClusterStatusFilter,
    ClusterTierFilter,
    ComputeRangeFilter,
    ModelStatusFilter,
    ModelTierFilter,
    RecordOrganisationFilter,
)
from .forms import MODALITIES, ModalitiesField
from .history import ClusterRevisionInline, ModelRevisionInline, OrganisationRevisionInline, RevisionedAdmin
from .scoping import scope_of, unreleased_of
from .subject_page import SubjectPageMixin
from .topology import CappedTopologyInline, topology_summary


@admin.register(Organisation)
class OrganisationAdmin(SubjectPageMixin, ScientificDisplayMixin, RevisionedAdmin):
    record_kind = "organisation"
    organisation_lookup = "slug"
    subject_kind = "organisation"
    scientific_fields = {"annual_revenue_usd": "usd"}
    list_display = ("slug", "name", "country", "revenue", "revenue_year", "revision", "updated_at")
    list_filter = ("country",)
    search_fields = ("slug", "name")
    readonly_fields = ("revision", "created_at", "updated_at")
    inlines = [OrganisationRevisionInline]

    def has_add_permission(self, request: Any) -> bool:
        return not scope_of(request.user).restricted and super().has_add_permission(request)

    @admin.display(description="Annual revenue", ordering="annual_revenue_usd")
    def revenue(self, obj: Organisation) -> str:
        return format_quantity(obj.annual_revenue_usd, "usd")


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

    @admin.display(description="Dense max", ordering="dense_max_ops_per_second")
    def dense_max(self, obj: Accelerator) -> str:
        return format_quantity(obj.dense_max_ops_per_second, "ops_per_second")

    @admin.display(description="16-bit dense", ordering="dense_16bit_ops_per_second")
    def dense_16bit(self, obj: Accelerator) -> str:
        return format_quantity(obj.dense_16bit_ops_per_second, "ops_per_second")

    @admin.display(description="Sparse max", ordering="sparse_max_ops_per_second")
    def sparse_max(self, obj: Accelerator) -> str:
        return format_quantity(obj.sparse_max_ops_per_second, "ops_per_second")


# A declaration the submitter may leave unmade: "not declared" is stored as null, never as "no"
# (a test that needs the declaration is then indeterminate, not decided on a guess).
DECLARATIONS = ("general_purpose", "primarily_biological_sequence_data", "weights_published")


class DeclarationSelect(forms.NullBooleanSelect):
    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.choices = [("unknown", "Not declared"), ("true", "Yes"), ("false", "No")]


@admin.register(AIModel)
class AIModelAdmin(CsvExportMixin, SubjectPageMixin, ScientificDisplayMixin, RevisionedAdmin):
    record_kind = "model"
    csv_fields = MODEL_FIELDS
    csv_select_related = ("training_accelerator",)
    subject_kind = "model"
    scientific_fields = {
        "parameter_count": "parameters", "active_parameter_count": "parameters", "training_tokens": "tokens",
        "training_compute_ops": "ops", "fine_tuning_compute_ops": "ops", "training_compute_cost_usd": "usd",
        "training_hours": "hours", "training_compute_uncertainty": "", "training_utilization": "",
    }
    list_display = ("__str__", "training_compute", "parameters", "tokens", "base_model", "released_on")
    list_filter = (ModelStatusFilter, ModelTierFilter, RecordOrganisationFilter,
                   ComputeRangeFilter, BiologicalFilter, "general_purpose", "derivation")
    search_fields = ("name", "version", "organisation__slug", "organisation__name")
    list_select_related = ("organisation", "base_model__organisation")
    autocomplete_fields = ("base_model",)
    readonly_fields = ("revision", "created_at", "updated_at", "lineage_display")
    inlines = [ModelRevisionInline]
    fieldsets = (
        (None, {"fields": ("organisation", "name", "version", "general_purpose", "modalities", "weights_published",
                           "released_on", "source", "notes")}),
        ("Training compute", {"fields": (
            "parameter_count", "active_parameter_count", "training_tokens", "training_compute_ops",
            "training_compute_uncertainty", "primarily_biological_sequence_data", "training_completed_on",
            "training_compute_cost_usd",
        )}),
        ("Training hardware", {"fields": ("training_accelerator", "training_accelerator_count", "training_hours", "training_utilization")}),
        ("Lineage", {"fields": ("base_model", "derivation", "fine_tuning_compute_ops", "lineage_display")}),
        ("History", {"fields": ("revision", "created_at", "updated_at")}),
    )

    def csv_records(self, rows: Any) -> Any:
        return model_records(rows, batch=self.csv_chunk_size)

    def _base_model_choices(self, request: Any, *, keep: int | None = None) -> QuerySet:
        scope = scope_of(request.user)
        if scope.restricted and scope.organisation_slug is None:
            return AIModel.objects.none()
        return base_model_choices(scope.organisation_slug, keep=keep)

    def get_queryset(self, request: Any) -> QuerySet:
        match = getattr(request, "resolver_match", None)
        if match is not None and match.url_name == "autocomplete" and request.GET.get("field_name") == "base_model":
            # the base-model field offers a lab's own models and others' released ones, never their unreleased
            return self._base_model_choices(request)
        return with_derived_training_compute(super().get_queryset(request))

    def formfield_for_dbfield(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        if db_field.name in DECLARATIONS:
            kwargs["widget"] = DeclarationSelect()
        if db_field.name == "modalities":
            return ModalitiesField(label="Modalities", help_text="What the model takes in or puts out.")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_form(self, request: Any, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None and "modalities" in form.base_fields:  # a modality the record declares stays offered
            field = form.base_fields["modalities"]
            form.base_fields["modalities"] = ModalitiesField(declared=list(obj.modalities or []), label=field.label,
                                                             help_text=field.help_text)
        return form

    def formfield_for_foreignkey(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        if db_field.name == "base_model":
            # a model's current base stays offered, even once its organisation has withdrawn its release:
            # the form shows it and a save keeps it, never silently clears it
            object_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
            keep = (AIModel.objects.filter(pk=object_id).values_list("base_model_id", flat=True).first()
                    if object_id and str(object_id).isdigit() else None)
            kwargs["queryset"] = self._base_model_choices(request, keep=keep)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request: Any, obj: Any = None) -> Any:
        readonly = super().get_readonly_fields(request, obj)
        return readonly if obj is None or self.has_change_permission(request, obj) else (*readonly, "modalities_shown")

    def _shown_name(self, field: Any) -> Any:
        return "modalities_shown" if field == "modalities" else super()._shown_name(field)

    @admin.display(description="Modalities")
    def modalities_shown(self, obj: AIModel) -> str:
        labels = dict(MODALITIES)
        return ", ".join(labels.get(name, name) for name in obj.modalities or []) or "none declared"

    @admin.display(description="Parameters", ordering="parameter_count")
    def parameters(self, obj: AIModel) -> str:
        if obj.active_parameter_count:
            return f"{format_quantity(obj.parameter_count)} ({format_quantity(obj.active_parameter_count)} active)"
        return format_quantity(obj.parameter_count)

    @admin.display(description="Tokens", ordering="training_tokens")
    def tokens(self, obj: AIModel) -> str:
        return format_quantity(obj.training_tokens)

    @admin.display(description="Training compute", ordering=DERIVED)
    def training_compute(self, obj: AIModel) -> str:
        """The model's own training run as the engine derives it, and how: reported or estimated."""
        method = getattr(obj, DERIVED_METHOD, None)
        if method is None:
            return format_html('{} <div class="quiet compute-method">neither reported nor estimable</div>', UNKNOWN)
        return format_html('{} <div class="quiet compute-method" data-method="{}">{}</div>',
                           format_quantity(getattr(obj, DERIVED), "ops"), method, METHOD_LABELS.get(method, method))

    def get_object(self, request: Any, object_id: str, from_field: str | None = None) -> Any:
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj.unreleased_bases = unreleased_of(request.user).foreign
        return obj

    @admin.display(description="Lineage (nearest base first)")
    def lineage_display(self, obj: AIModel) -> str:
        """The chain of bases; for a lab member it stops at another organisation's model not yet
        released: what lies beyond it (its own bases) is that organisation's to release."""
        chain = obj.lineage() if obj.pk else []
        unreleased = getattr(obj, "unreleased_bases", frozenset())
        shown = []
        for model in chain:
            if model.ref in unreleased:
                shown.append(f"{model} (another organisation's model, not yet released)")
                break
            shown.append(str(model))
        return " → ".join(shown) or "— (a base model)"


class AcceleratorGroupInline(CappedTopologyInline):
    model = AcceleratorGroup
    limit_setting = "CLUSTER_MAX_GROUPS"
    related = ("accelerator", "cluster__organisation")
    scientific_fields = {
        "network_gbps": "gbit_per_second", "peak_dense_max_ops_per_second": "ops_per_second",
        "peak_dense_16bit_ops_per_second": "ops_per_second", "peak_sparse_max_ops_per_second": "ops_per_second",
    }
    extra = 0
    fields = (
        "name", "datacenter", "accelerator", "accelerator_count", "accelerators_per_node", "network_gbps",
        "peak_dense_max_ops_per_second", "peak_dense_16bit_ops_per_second", "peak_sparse_max_ops_per_second",
    )


class NetworkLinkInline(CappedTopologyInline):
    model = NetworkLink
    limit_setting = "CLUSTER_MAX_LINKS"
    related = ("from_group__cluster__organisation", "to_group__cluster__organisation")
    scientific_fields = {"gbps": "gbit_per_second"}
    extra = 0
    fk_name = "cluster"
    fields = ("from_group", "to_group", "gbps")

    def formfield_for_foreignkey(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        if db_field.name in ("from_group", "to_group"):
            cluster_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
            kwargs["queryset"] = AcceleratorGroup.objects.filter(cluster_id=cluster_id).select_related("cluster__organisation")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Cluster)
class ClusterAdmin(CsvExportMixin, SubjectPageMixin, RevisionedAdmin):
    record_kind = "cluster"
    csv_fields = CLUSTER_FIELDS
    subject_kind = "cluster"
    list_display = ("__str__", "accelerators", "peak_capacity", "datacenters", "used_for_ai_training",
                    "operational_from", "revision")
    list_filter = (ClusterStatusFilter, ClusterTierFilter, RecordOrganisationFilter,
                   ClusterPeakRangeFilter, "used_for_ai_training")
    search_fields = ("name", "organisation__slug", "organisation__name", "groups__datacenter")
    list_select_related = ("organisation",)
    readonly_fields = ("revision", "created_at", "updated_at", "topology")
    inlines = [AcceleratorGroupInline, NetworkLinkInline, ClusterRevisionInline]

    def csv_records(self, rows: Any) -> Any:
        return cluster_records(rows)

    @admin.display(description="Topology")
    def topology(self, obj: Cluster) -> str:
        return topology_summary(obj)

    def get_queryset(self, request: Any) -> QuerySet:
        # subqueries, not a join: a search through the groups joins them again and would count each twice
        groups = AcceleratorGroup.objects.filter(cluster=OuterRef("pk")).order_by().values("cluster")
        return super().get_queryset(request).annotate(
            accelerator_total=Subquery(groups.annotate(n=Sum("accelerator_count")).values("n")),
            datacenter_total=Subquery(groups.annotate(n=Count("datacenter", distinct=True)).values("n")),
            **{PEAK: summed_peak()},
        )

    def record_of(self, form: Any, formsets: Any) -> dict[str, Any]:
        """The cluster as the form and its group and link inlines leave it (a renamed group keeps its links)."""
        cluster = form.instance
        by_model = {formset.model: formset for formset in formsets}
        renamed: dict[int, str] = {}
        groups = []
        for group_form in _kept_forms(by_model[AcceleratorGroup]):
            group = _unsaved(AcceleratorGroup, group_form.cleaned_data)
            if group_form.instance.pk:
                renamed[group_form.instance.pk] = group.name
            groups.append(row_facts("group", group))
        links = []
        for link_form in _kept_forms(by_model[NetworkLink]):
            link = _unsaved(NetworkLink, link_form.cleaned_data)
            facts = row_facts("link", link)
            facts["from"] = renamed.get(link.from_group_id, facts["from"])
            facts["to"] = renamed.get(link.to_group_id, facts["to"])
            links.append(facts)
        return cluster_facts({**row_facts("cluster", cluster), "groups": groups, "links": links})

    @admin.display(description="Accelerators", ordering="accelerator_total")
    def accelerators(self, obj: Cluster) -> str:
        return f"{obj.accelerator_total or 0:,}"

    @admin.display(description="Peak capacity (dense, all accelerators)", ordering=PEAK)
    def peak_capacity(self, obj: Cluster) -> str:
        return format_quantity(getattr(obj, PEAK, None), "ops_per_second")

    @admin.display(description="Datacenters", ordering="datacenter_total")
    def datacenters(self, obj: Cluster) -> int:
        return obj.datacenter_total or 0


def _unsaved(model: type, cleaned_data: dict[str, Any]) -> Any:
    """A row as an inline form describes it, not saved: read through the registry's field mapping."""
    columns = {field.name for field in model._meta.concrete_fields} - {"id", "cluster"}
    return model(**{name: value for name, value in cleaned_data.items() if name in columns})


def _kept_forms(formset: Any) -> list[Any]:
    """The inline forms that describe a row after the save: not blank extras, not marked for deletion."""
    deleted = set(map(id, formset.deleted_forms)) if formset.can_delete else set()
    return [form for form in formset.forms if form.cleaned_data and id(form) not in deleted]
