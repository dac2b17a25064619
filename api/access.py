"""What each API user may see: a regulator everything, a lab member its own organisation's records.

Another lab's object is simply absent from these querysets, so it is a 404 and never in a list.
"""
from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, IntegerField, JSONField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, Greatest

from accounts.selectors import Access, access_of
from obligations.models import Fulfilment, Incident
from registry.facts import FactsDecoder
from registry.models import (
    AIModel,
    Cluster,
    ClusterRevision,
    Designation,
    ModelRevision,
    Organisation,
    OrganisationRevision,
)
from rules import visibility
from rules.models import Determination, EvaluationRun, RuleVersion, RunChunk, StatusChange
from rules.models.rule_version import RuleVersionState
from rules.visibility import NOTHING_WITHHELD, Unreleased


def request_access(request: Any) -> Access:
    """The requesting user's access, worked out once per request."""
    cached = getattr(request, "_api_access", None)
    if cached is None:
        cached = access_of(request.user)
        request._api_access = cached
    return cached


def _with_latest(queryset: QuerySet, revision_model: type, fk: str) -> QuerySet:
    """Annotates each record with its latest revision's facts and digest: no query per row."""
    latest = revision_model.objects.filter(**{fk: OuterRef("pk")}).order_by("-number")
    return queryset.annotate(
        latest_facts=Subquery(latest.values("facts")[:1], output_field=JSONField(decoder=FactsDecoder)),
        latest_sha256=Subquery(latest.values("facts_sha256")[:1]),
    )


def organisations_visible(access: Access) -> QuerySet:
    queryset = _with_latest(Organisation.objects.all(), OrganisationRevision, "organisation")
    return queryset if access.is_regulator else queryset.filter(pk=access.organisation_id)


def models_visible(access: Access) -> QuerySet:
    queryset = _with_latest(AIModel.objects.select_related("organisation"), ModelRevision, "model")
    return queryset if access.is_regulator else queryset.filter(organisation_id=access.organisation_id)


def clusters_visible(access: Access) -> QuerySet:
    queryset = _with_latest(Cluster.objects.select_related("organisation"), ClusterRevision, "cluster")
    return queryset if access.is_regulator else queryset.filter(organisation_id=access.organisation_id)


def designations_visible(access: Access) -> QuerySet:
    """A regulator sees every designation; a lab those on its own subjects (its organisation, its
    models and clusters), never another organisation's."""
    queryset = Designation.objects.select_related(
        "organisation", "model__organisation", "cluster__organisation", "withdrawal")
    return queryset if access.is_regulator else queryset.filter(organisation_id=access.organisation_id)


def unreleased_elsewhere(access: Access) -> Unreleased:
    """What of other organisations' models a lab may not see through its own models' lineages
    (`rules.visibility`, the rule the workspace applies too). A regulator sees everything."""
    if access.is_regulator:
        return NOTHING_WITHHELD
    return visibility.unreleased_elsewhere(organisation_id=access.organisation_id,
                                           organisation_slug=access.organisation_slug)


def determinations_withheld(access: Access) -> Q | None:
    """The lab's determinations that rest on another organisation's unreleased model (None: there are none)."""
    return visibility.withheld_condition(unreleased_elsewhere(access))


def determinations_visible(access: Access) -> QuerySet:
    """A regulator sees the whole log; a lab its own subjects' determinations, less those that rest on
    another organisation's model that is not released (they would show its figures)."""
    queryset = Determination.objects.all()
    if access.is_regulator:
        return queryset
    queryset = queryset.filter(organisation=access.organisation_slug)
    return visibility.determinations_shown(queryset, determinations_withheld(access))


def _count(queryset: QuerySet, column: str = "pk", *, distinct: bool = False) -> Any:
    """A correlated COUNT of `queryset` (already filtered on OuterRef), 0 when it has no rows."""
    counted = queryset.order_by().annotate(_one=Value(1)).values("_one").annotate(
        n=Count(column, distinct=distinct)).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def runs_visible(access: Access) -> QuerySet:
    """A lab sees the runs its members requested and the runs that decided one of its subjects.

    For a lab each run also carries its own share of the counts (`visible_total`, `visible_done`,
    `visible_changes`): a run over the whole registry shows the lab its subjects, never the registry's."""
    queryset = EvaluationRun.objects.select_related("requested_by", "requested_by__membership")
    if access.is_regulator:
        return queryset
    slug, org = access.organisation_slug, access.organisation_id
    decided = Determination.objects.filter(run=OuterRef("pk"), organisation=slug)
    # a chunk done has decided its subjects, whether it appended their rows or confirmed them
    chunks_done = RunChunk.objects.filter(run=OuterRef("pk"), done=True, organisations__has_key=slug or "")
    shares = chunks_done.order_by().annotate(_one=Value(1)).values("_one").annotate(
        n=Sum(Cast(KeyTextTransform(slug or "", "organisations"), IntegerField()))).values("n")[:1]
    existed = {"organisation_id": org, "created_at__lte": OuterRef("created_at")}
    return queryset.filter(Q(requested_by__membership__organisation_id=org) | Exists(chunks_done) | Exists(decided)).annotate(
        # a run made before chunks counted their organisations' subjects: the rows it appended
        visible_done=Greatest(Coalesce(Subquery(shares, output_field=IntegerField()), 0),
                              _count(decided, "subject_id", distinct=True)),
        visible_changes=_count(_changes_shown(access, StatusChange.objects.filter(run=OuterRef("pk"), organisation=slug))),
        visible_registry_total=(
            _count(AIModel.objects.filter(**existed)) + _count(Cluster.objects.filter(**existed))
            + _count(Organisation.objects.filter(pk=org, created_at__lte=OuterRef("created_at")))
        ),
    )


def changes_visible(access: Access, run: EvaluationRun) -> QuerySet:
    queryset = StatusChange.objects.filter(run=run)
    if access.is_regulator:
        return queryset
    return _changes_shown(access, queryset.filter(organisation=access.organisation_slug))


def _changes_shown(access: Access, changes: QuerySet) -> QuerySet:
    """A lab's status changes less those between determinations withheld from it."""
    return visibility.changes_shown(changes, organisation_slug=access.organisation_slug,
                                    withheld=determinations_withheld(access))


def rule_versions_visible(access: Access) -> QuerySet:
    """Published versions for everyone; regulators also see drafts."""
    queryset = RuleVersion.objects.all()
    return queryset if access.is_regulator else queryset.filter(state=RuleVersionState.PUBLISHED)


def fulfilments_visible(access: Access) -> QuerySet:
    """A regulator sees every fulfilment; a lab its own organisation's."""
    queryset = Fulfilment.objects.select_related("organisation", "model__organisation", "cluster__organisation"
                                                 ).prefetch_related("reviews")
    return queryset if access.is_regulator else queryset.filter(organisation_id=access.organisation_id)


def incidents_visible(access: Access) -> QuerySet:
    """A regulator sees every incident; a lab its own organisation's."""
    queryset = Incident.objects.select_related("organisation", "model__organisation", "cluster__organisation")
    return queryset if access.is_regulator else queryset.filter(organisation_id=access.organisation_id)
