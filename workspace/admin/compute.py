"""Figures the registry lists show and filter on, worked out by the database so a list page needs no
query per row: a model's own training compute as the engine derives it (`rules.engine.quantities.
own_training_run`: reported, else architecture-based, else hardware-based, with the engine's own
defaults), and a cluster's accelerators' summed peak capacity (dense, fastest format).

The database works in double precision: these figures sort and sift a list and are shown to four
significant figures. A determination's comparisons are the engine's exact ones."""
from __future__ import annotations

from typing import Any

from django.db.models import Case, CharField, F, FloatField, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Cast, Coalesce

from registry.models import AcceleratorGroup
from rules.engine.defaults import default
from rules.engine.quantities import ARCHITECTURE, HARDWARE, REPORTED, SECONDS_PER_HOUR

DERIVED = "derived_training_compute_ops"
DERIVED_METHOD = "derived_training_compute_method"
# how each method reads beside its figure in a list
METHOD_LABELS = {REPORTED: "reported", ARCHITECTURE: "estimated: 6 × parameters × tokens",
                 HARDWARE: "estimated: accelerators × hours × peak × utilization"}


def _float(expression: Any) -> Any:
    return Cast(expression, FloatField())


def with_derived_training_compute(queryset: QuerySet) -> QuerySet:
    """Models annotated with `derived_training_compute_ops` and `derived_training_compute_method` (a
    method of `rules.engine.quantities`, or null when no figure can be derived)."""
    reading = default("hardware_estimate_reading")
    factor = float(default("architecture_ops_per_parameter_token"))
    reported = Case(
        When(base_model__isnull=False, then=Coalesce("fine_tuning_compute_ops", "training_compute_ops")),
        default=F("training_compute_ops"), output_field=FloatField(),
    )
    architecture = Value(factor) * Coalesce("active_parameter_count", "parameter_count") * F("training_tokens")
    peak = Coalesce(f"training_accelerator__{reading}_ops_per_second",
                    "training_accelerator__dense_max_ops_per_second", output_field=FloatField())
    hardware = (_float("training_accelerator_count") * F("training_hours") * Value(float(SECONDS_PER_HOUR))
                * peak * F("training_utilization"))
    return queryset.annotate(
        _reported_ops=reported,
        _architecture_ops=Cast(architecture, FloatField()),
        _hardware_ops=Cast(hardware, FloatField()),
    ).annotate(**{
        DERIVED: Coalesce("_reported_ops", "_architecture_ops", "_hardware_ops", output_field=FloatField()),
        DERIVED_METHOD: Case(
            When(_reported_ops__isnull=False, then=Value(REPORTED)),
            When(_architecture_ops__isnull=False, then=Value(ARCHITECTURE)),
            When(_hardware_ops__isnull=False, then=Value(HARDWARE)),
            default=Value(None), output_field=CharField(),
        ),
    })


PEAK = "peak_capacity_ops_per_second"


def summed_peak() -> Any:
    """Σ accelerators × dense peak (fastest format) per cluster, the group's own figure where it gives one:
    a subquery, not a join, so a search through the groups does not count a group twice."""
    groups = AcceleratorGroup.objects.filter(cluster=OuterRef("pk")).order_by().values("cluster")
    peak = Sum(
        _float("accelerator_count") * Coalesce(
            "peak_dense_max_ops_per_second", "accelerator__dense_max_ops_per_second", output_field=FloatField(),
        ),
        output_field=FloatField(),
    )
    return Subquery(groups.annotate(n=peak).values("n"), output_field=FloatField())


def no_derived_figure() -> Q:
    return Q(**{f"{DERIVED}__isnull": True})
