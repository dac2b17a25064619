"""django-filter filter sets of the API's lists."""
from __future__ import annotations

from typing import Any

import django_filters as filters
from django import forms

from obligations.models import Fulfilment, Incident
from registry.interchange import subject_parts
from registry.models import Accelerator, AIModel, Cluster, Designation, Organisation
from rules.current import recorded_on as recorded_as_of
from rules.engine.vocabulary import STATUS_CHOICES
from rules.models import Determination, EvaluationRun, RuleVersion
from rules.models.runs import RunStatus, Trigger

MAX_ID = 2**63 - 1


class IdFilter(filters.Filter):
    """A record id: a whole number the database can hold (anything else is a 400 naming the filter)."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class OrganisationFilter(filters.FilterSet):
    class Meta:
        model = Organisation
        fields = {"country": ["exact"], "slug": ["exact"]}


class ModelFilter(filters.FilterSet):
    organisation = filters.CharFilter(field_name="organisation__slug")
    base_model = IdFilter(field_name="base_model_id", help_text="The base model's id.")

    class Meta:
        model = AIModel
        fields = {"name": ["exact"], "version": ["exact"], "general_purpose": ["exact"], "derivation": ["exact"]}


class ClusterFilter(filters.FilterSet):
    organisation = filters.CharFilter(field_name="organisation__slug")

    class Meta:
        model = Cluster
        fields = {"name": ["exact"], "used_for_ai_training": ["exact"]}


class DesignationFilter(filters.FilterSet):
    organisation = filters.CharFilter(field_name="organisation__slug", help_text="The subject's organisation.")
    model = IdFilter(field_name="model_id", help_text="The designated model's id.")

    class Meta:
        model = Designation
        fields = {"regime": ["exact"], "kind": ["exact"]}


class AcceleratorFilter(filters.FilterSet):
    class Meta:
        model = Accelerator
        fields = {"vendor": ["exact"]}


class DeterminationFilter(filters.FilterSet):
    subject = filters.CharFilter(field_name="subject_ref", help_text="A subject reference, e.g. model:acme/Acme-1@1.")
    status = filters.ChoiceFilter(choices=STATUS_CHOICES)
    tier = filters.CharFilter(field_name="tier", help_text="A tier id of the rule version, e.g. gpai-systemic-risk.")
    as_of = filters.DateFilter(field_name="as_of")
    as_of_after = filters.DateFilter(field_name="as_of", lookup_expr="gte")
    as_of_before = filters.DateFilter(field_name="as_of", lookup_expr="lte")
    run = IdFilter(field_name="run_id", help_text="The evaluation run's id.")
    organisation = filters.CharFilter(field_name="subject__organisation")
    recorded_on = filters.DateFilter(
        method="filter_recorded_on",
        help_text="Determinations recorded as of exactly this date: made as of it, or made as of an earlier date and "
                  "confirmed unchanged as of it by a later run (which appends no row of its own).")

    class Meta:
        model = Determination
        fields = ["subject", "regime", "status", "tier", "as_of", "recorded_on", "run", "organisation", "trigger"]

    def filter_recorded_on(self, queryset: Any, name: str, value: Any) -> Any:
        return recorded_as_of(queryset, as_of=value)


class RunFilter(filters.FilterSet):
    kind = filters.ChoiceFilter(choices=Trigger.choices)
    status = filters.ChoiceFilter(choices=RunStatus.choices)

    class Meta:
        model = EvaluationRun
        fields = ["kind", "status", "as_of"]


class RuleVersionFilter(filters.FilterSet):
    state = filters.ChoiceFilter(choices=[("draft", "draft"), ("published", "published")])

    class Meta:
        model = RuleVersion
        fields = ["state", "legal_status"]


class FulfilmentFilter(filters.FilterSet):
    subject = filters.CharFilter(method="_subject", help_text="A subject reference, e.g. model:acme/Acme-1@1.")
    organisation = filters.CharFilter(field_name="organisation__slug", help_text="The subject's organisation.")

    class Meta:
        model = Fulfilment
        fields = {"regime": ["exact"], "obligation": ["exact"], "occurrence": ["exact"]}

    def _subject(self, queryset: Any, name: str, value: str) -> Any:
        parts = subject_parts(value)
        if parts is None:
            return queryset.none()
        kind, org, subject_name, version = parts
        if kind == "model":
            return queryset.filter(subject_kind=kind, model__organisation__slug=org, model__name=subject_name,
                                   model__version=version)
        if kind == "cluster":
            return queryset.filter(subject_kind=kind, cluster__organisation__slug=org, cluster__name=subject_name)
        return queryset.filter(subject_kind=kind, organisation__slug=org)


class IncidentFilter(filters.FilterSet):
    organisation = filters.CharFilter(field_name="organisation__slug", help_text="The subject's organisation.")

    class Meta:
        model = Incident
        fields = {"severity": ["exact"]}
