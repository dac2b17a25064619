"""List filters for models, clusters and determinations: current status and tier reached under a regime,
organisation (only those the user may see), declared training data, training compute (reported or
estimated) and peak capacity."""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.http import urlencode

from registry.models import Organisation
from rules.engine.formatting import format_quantity
from rules.engine.vocabulary import STATUS_LABELS
from rules.selectors import (
    STATUSES,
    SUBJECT_KINDS,
    current_statuses,
    published_thresholds,
    regimes_in_force,
    tier_titles,
    tiers_in_force,
)
from workspace.regimes import regime_label

from .compute import DERIVED, PEAK, no_derived_figure, summed_peak, with_derived_training_compute
from .scoping import scope_of, withheld_of


def records_whose_current(request: Any, queryset: QuerySet, *, kind: str, regime: str, **condition: Any) -> QuerySet:
    """The records of `queryset` whose current determination today under `regime` (the version in
    force today; none when no version is) meets `condition` (`status=`, `tier=`), less those withheld
    from the user; one subquery, joined on each record's stored subject ref."""
    today = timezone.now().date()
    regimes = [r for r in regimes_in_force(as_of=today) if r.regime == regime]
    if not regimes:
        return queryset.none()
    refs = (
        current_statuses(as_of=today, regimes=regimes, withheld=withheld_of(request.user))
        .filter(subject_kind=kind, **condition)
        .values("subject_ref")
    )
    return queryset.filter(stored_subject_ref__in=refs)


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
        if status not in STATUSES:
            return queryset.none()
        return records_whose_current(request, queryset, kind=self.subject_kind, regime=slug, status=status)


class ModelStatusFilter(RegimeStatusFilter):
    subject_kind = "model"


class ClusterStatusFilter(RegimeStatusFilter):
    subject_kind = "cluster"


class RegimeTierFilter(admin.SimpleListFilter):
    """`?tier=eu-ai-act:gpai-systemic-risk`: the records whose current determination under that regime
    (the version in force today) reaches that tier, by the tier's title; one subquery."""

    title = "tier reached under a regime in force"
    parameter_name = "tier"
    subject_kind = ""

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [(f"{regime.regime}:{tier}", f"{regime_label(regime.regime)}: {title}")
                for regime, tier, title in tiers_in_force(as_of=timezone.now().date(), kind=self.subject_kind)]

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        slug, _, tier = self.value().partition(":")
        if not tier:
            return queryset.none()
        return records_whose_current(request, queryset, kind=self.subject_kind, regime=slug, tier=tier)


class ModelTierFilter(RegimeTierFilter):
    subject_kind = "model"


class ClusterTierFilter(RegimeTierFilter):
    subject_kind = "cluster"


class DeterminationTierFilter(admin.SimpleListFilter):
    """A determination's tier by its title (`eu-ai-act: GPAI model with systemic risk`), or none reached."""

    title = "tier reached"
    parameter_name = "tier"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [*((f"{regime}:{tier}", f"{regime_label(regime)}: {title}")
                  for (regime, tier), title in sorted(tier_titles().items())),
                ("none", "no tier reached")]

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        if self.value() == "none":
            return queryset.filter(tier="")
        regime, _, tier = self.value().rpartition(":")
        # `regime:tier`, as the choices write it; a bare tier id (`?tier=gpai-systemic-risk`) under any regime
        return queryset.filter(regime=regime, tier=tier) if regime else queryset.filter(tier=tier)


class RecordOrganisationFilter(admin.SimpleListFilter):
    """`?organisation__id__exact=7` (as the admin's own filter on the field writes it): the records of one
    organisation, chosen among the organisations the user may see that have a record in the list.

    The registry may hold a thousand organisations and a hundred times as many records, so the choices
    are found by an indexed probe per organisation (never a DISTINCT over every record), their links
    are encoded from one encoding of the page's other parameters, and the list is written in one pass
    (`admin/workspace/listed_filter.html`), not a template render per choice."""

    title = "organisation"
    parameter_name = "organisation__id__exact"
    template = "admin/workspace/listed_filter.html"
    open_up_to = 30  # choices shown open; a longer list is folded, so the filters below it stay in view

    @property
    def opens(self) -> bool:
        """Whether the list is shown open: a short one, or one with an organisation chosen. A registry's
        thousand organisations would push the filters below them (training compute, training data,
        general purpose, derivation) many screens down. The admin remembers for the session a list
        the user opens or folds."""
        return self.value() is not None or len(self.lookup_choices) <= self.open_up_to

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        records = model_admin.model._default_manager.filter(organisation=OuterRef("pk")).order_by()
        organisations = scope_of(request.user).filter(Organisation.objects.all(), "slug")
        return [(str(pk), name) for pk, name in
                organisations.filter(Exists(records)).order_by("slug").values_list("pk", "name")]

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        if not (self.value().isascii() and self.value().isdigit()) or int(self.value()) >= 2**63:
            raise IncorrectLookupParameters(f"organisation__id__exact: {self.value()!r} is not an organisation's id")
        return queryset.filter(organisation_id=int(self.value()))

    def get_facet_counts(self, pk_attname: str, filtered_qs: QuerySet) -> dict[str, Count]:
        """"Show counts": one count per organisation in one aggregate, each by the organisation's key (as
        the admin's own filter on the field counts), not by a subquery of the list per organisation."""
        return {f"{index}__c": Count(pk_attname, filter=Q(organisation_id=int(lookup)))
                for index, (lookup, _title) in enumerate(self.lookup_choices)}

    def choices(self, changelist: Any) -> Any:
        if changelist.add_facets:  # counts per choice: the admin's own way
            yield from super().choices(changelist)
            return
        others = sorted((key, value) for key, value in changelist.filter_params.items() if key != self.parameter_name)
        before = urlencode([item for item in others if item[0] < self.parameter_name], doseq=True)
        after = urlencode([item for item in others if item[0] > self.parameter_name], doseq=True)
        yield {"selected": self.value() is None, "display": "All",
               "query_string": "?" + "&".join(part for part in (before, after) if part)}
        for lookup, title in self.lookup_choices:
            chosen = urlencode([(self.parameter_name, lookup)])
            yield {"selected": self.value() == lookup, "display": title,
                   "query_string": "?" + "&".join(part for part in (before, chosen, after) if part)}


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
    """Models by their own training compute as the engine derives it (reported, else estimated: the
    admin's queryset carries it, `workspace.admin.compute`), between the thresholds of the rule files."""

    title = "training compute (reported or estimated)"
    parameter_name = "compute"
    unit, kind, unit_label = "ops", "model", "ops"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [*super().lookups(request, model_admin), ("none", "neither reported nor estimable")]

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        if DERIVED not in queryset.query.annotations:
            queryset = with_derived_training_compute(queryset)
        if self.value() == "none":
            return queryset.filter(no_derived_figure())
        bounds = self.value_range()
        if bounds is None:
            return queryset
        low, high = bounds
        if low is not None:
            queryset = queryset.filter(**{f"{DERIVED}__gte": low})
        if high is not None:
            queryset = queryset.filter(**{f"{DERIVED}__lt": high})
        return queryset


class ClusterPeakRangeFilter(ThresholdRangeFilter):
    """Clusters by their accelerators' summed peak capacity (dense, fastest format): a quick sort before
    the status filter, which applies the law's own networking test."""

    title = "peak capacity (accelerators' summed dense peak)"
    parameter_name = "peak"
    unit, kind, unit_label = "ops_per_second", "cluster", "ops/s"

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        bounds = self.value_range()
        if bounds is None:
            return queryset
        low, high = bounds
        if PEAK not in queryset.query.annotations:
            queryset = queryset.annotate(**{PEAK: summed_peak()})
        if low is not None:
            queryset = queryset.filter(**{f"{PEAK}__gte": low})
        if high is not None:
            queryset = queryset.filter(**{f"{PEAK}__lt": high})
        return queryset


class SubjectKindFilter(admin.SimpleListFilter):
    """`?subject_kind__exact=model`: a determination's subject kind, from the kinds there are (the
    field's own filter would list them by a DISTINCT over the whole log)."""

    title = "subject kind"
    parameter_name = "subject_kind__exact"  # as the admin's own filter on the field writes it

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [(kind, kind) for kind in SUBJECT_KINDS]

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        return queryset.filter(subject_kind=self.value()) if self.value() else queryset
