"""List filters for models and clusters: current status under a regime, organisation (only those
the user may see), declared training data, and reported compute."""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.utils import timezone

from rules.selectors import STATUSES, current_determinations, regimes_in_force

from .links import subject_ref_expression

STATUS_LABELS = {"covered": "covered", "not_covered": "not covered", "indeterminate": "indeterminate"}


class RegimeStatusFilter(admin.SimpleListFilter):
    """`?status=eu-ai-act:covered`: the records whose current determination under that regime has
    that status (the version in force today; one subquery)."""

    title = "status under a regime in force"
    parameter_name = "status"
    subject_kind = ""

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        regimes = regimes_in_force(as_of=timezone.now().date())
        return [
            (f"{regime.regime}:{status}", f"{regime.regime}: {STATUS_LABELS[status]}")
            for regime in regimes if self.subject_kind in regime.applies_to
            for status in STATUSES
        ]

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        if not self.value() or ":" not in self.value():
            return queryset
        slug, status = self.value().split(":", 1)
        today = timezone.now().date()
        regimes = [r for r in regimes_in_force(as_of=today) if r.regime == slug]
        if not regimes or status not in STATUSES:
            return queryset.none()
        refs = (
            current_determinations(as_of=today, regimes=regimes)
            .filter(subject_kind=self.subject_kind, status=status)
            .values("subject_ref")
        )
        return queryset.annotate(subject_ref_sql=subject_ref_expression(self.subject_kind)).filter(
            subject_ref_sql__in=refs
        )


class ModelStatusFilter(RegimeStatusFilter):
    subject_kind = "model"


class ClusterStatusFilter(RegimeStatusFilter):
    subject_kind = "cluster"


class BiologicalFilter(admin.SimpleListFilter):
    title = "biological sequence data"
    parameter_name = "biological"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Trained primarily on it"), ("no", "Not")]

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
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

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        if self.value() in self.RANGES:
            return queryset.filter(**self.RANGES[self.value()][1])
        return queryset


class ClusterPeakRangeFilter(admin.SimpleListFilter):
    """Clusters by the largest peak any one of their groups' accelerators give (dense, max format):
    a quick sort before the status filter, which applies the law's own networking test."""

    title = "accelerators' summed peak (dense)"
    parameter_name = "peak"
    RANGES = {
        "lt19": ("below 1e19 ops/s", (None, 1e19)),
        "19to20": ("1e19 to 1e20 ops/s", (1e19, 1e20)),
        "ge20": ("1e20 ops/s and above", (1e20, None)),
    }

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [(key, label) for key, (label, _) in self.RANGES.items()]

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        if self.value() not in self.RANGES:
            return queryset
        low, high = self.RANGES[self.value()][1]
        queryset = queryset.annotate(peak_total=_summed_peak())
        if low is not None:
            queryset = queryset.filter(peak_total__gte=low)
        if high is not None:
            queryset = queryset.filter(peak_total__lt=high)
        return queryset


def _summed_peak() -> Any:
    """Σ accelerators × dense peak per cluster, the group's own figure where it gives one."""
    from django.db.models import F, FloatField, Sum
    from django.db.models.functions import Coalesce

    return Sum(
        F("groups__accelerator_count") * Coalesce(
            "groups__peak_dense_max_ops_per_second", "groups__accelerator__dense_max_ops_per_second",
            output_field=FloatField(),
        ),
        output_field=FloatField(),
    )
