"""List filters for models and clusters: current status under a regime, organisation (only those
the user may see), declared training data, and reported compute."""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.utils import timezone

from rules.engine.formatting import format_quantity
from rules.engine.vocabulary import STATUS_LABELS
from rules.selectors import STATUSES, current_determinations, published_thresholds, regimes_in_force
from workspace.regimes import regime_label

from .links import subject_ref_expression
from .scoping import withheld_of


class RegimeStatusFilter(admin.SimpleListFilter):
    """`?status=eu-ai-act:covered`: the records whose current determination under that regime has
    that status (the version in force today; one subquery)."""

    title = "status under a regime in force"
    parameter_name = "status"
    subject_kind = ""

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        regimes = regimes_in_force(as_of=timezone.now().date())
        return [
            (f"{regime.regime}:{status}", f"{regime_label(regime.regime)}: {STATUS_LABELS[status]}")
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
            current_determinations(as_of=today, regimes=regimes, withheld=withheld_of(request.user))
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
        return [("yes", "Trained primarily on it"), ("no", "Not"), ("undeclared", "Not declared")]

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(primarily_biological_sequence_data=True)
        if self.value() == "no":
            return queryset.filter(primarily_biological_sequence_data=False)
        if self.value() == "undeclared":
            return queryset.filter(primarily_biological_sequence_data__isnull=True)
        return queryset


class ThresholdRangeFilter(admin.SimpleListFilter):
    """Records between consecutive thresholds of the published rule library (`?compute=1e+23-1e+25`),
    so the ranges follow the rule files rather than figures written here."""

    unit = ""
    kind = ""
    unit_label = ""

    def _ranges(self) -> dict[str, tuple[str, float | None, float | None]]:
        edges = published_thresholds(unit=self.unit, kind=self.kind)
        bounds = list(zip([None, *edges], [*edges, None], strict=True)) if edges else []
        ranges = {}
        for low, high in bounds:
            key = f"{'' if low is None else repr(low)}-{'' if high is None else repr(high)}"  # exact figures
            if low is None:
                label = f"below {format_quantity(high)} {self.unit_label}"
            elif high is None:
                label = f"{format_quantity(low)} {self.unit_label} and above"
            else:
                label = f"{format_quantity(low)} to {format_quantity(high)} {self.unit_label}"
            ranges[key] = (label, low, high)
        return ranges

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [(key, label) for key, (label, _, _) in self._ranges().items()]

    def value_range(self) -> tuple[float | None, float | None] | None:
        found = self._ranges().get(self.value() or "")
        return None if found is None else found[1:]


class ComputeRangeFilter(ThresholdRangeFilter):
    title = "reported training compute"
    parameter_name = "compute"
    unit, kind, unit_label = "ops", "model", "ops"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [*super().lookups(request, model_admin), ("none", "not reported")]

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        if self.value() == "none":
            return queryset.filter(training_compute_ops__isnull=True)
        bounds = self.value_range()
        if bounds is None:
            return queryset
        low, high = bounds
        if low is not None:
            queryset = queryset.filter(training_compute_ops__gte=low)
        if high is not None:
            queryset = queryset.filter(training_compute_ops__lt=high)
        return queryset


class ClusterPeakRangeFilter(ThresholdRangeFilter):
    """Clusters by the largest peak any one of their groups' accelerators give (dense, max format):
    a quick sort before the status filter, which applies the law's own networking test."""

    title = "accelerators' summed peak (dense)"
    parameter_name = "peak"
    unit, kind, unit_label = "ops_per_second", "cluster", "ops/s"

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        bounds = self.value_range()
        if bounds is None:
            return queryset
        low, high = bounds
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
