"""What each API user may see: a regulator everything, a lab member its own organisation's records.

Another lab's object is simply absent from these querysets, so it is a 404 and never in a list.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from django.db.models import Count, Exists, IntegerField, JSONField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.selectors import Access, access_of
from registry.facts import FactsDecoder
from registry.models import AIModel, Cluster, ClusterRevision, ModelRevision, Organisation, OrganisationRevision
from rules.models import Determination, EvaluationRun, RuleVersion, StatusChange
from rules.models.rule_version import RuleVersionState


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


@dataclass(frozen=True)
class Unreleased:
    """Another organisation's models a lab's lineages reach that are not released (no `released_on`, or
    one after today): `foreign` their refs (`org/name@version`), `own` the lab's subject refs whose
    figures rest on them (its models above them, and its organisation)."""

    foreign: frozenset[str] = frozenset()
    own: frozenset[str] = frozenset()


def _split_ref(ref: Any) -> tuple[str, str, str] | None:
    if not isinstance(ref, str) or "/" not in ref or "@" not in ref:
        return None
    organisation, _, rest = ref.partition("/")
    name, _, version = rest.rpartition("@")
    return (organisation, name, version) if organisation and name and version else None


def unreleased_elsewhere(access: Access) -> Unreleased:
    """What of other organisations' models a lab may not see through its own models' lineages.

    Reads up every lineage the lab's models have now, and every base model its revisions ever named
    (an earlier determination may rest on one): one query per lineage level. A regulator sees everything."""
    if access.is_regulator or access.organisation_id is None:
        return Unreleased()
    columns = ("pk", "base_model_id", "organisation_id", "released_on", "organisation__slug", "name", "version")
    rows: dict[int, tuple[Any, ...]] = {}
    own = list(AIModel.objects.filter(organisation_id=access.organisation_id).values_list(*columns))
    rows.update((row[0], row) for row in own)
    named = [_split_ref(ref) for ref in ModelRevision.objects.filter(model__organisation_id=access.organisation_id)
             .exclude(facts__base_model=None).values_list("facts__base_model", flat=True).distinct()]
    wanted_refs = Q(pk__in=[])
    for parts in filter(None, named):
        wanted_refs |= Q(organisation__slug=parts[0], name=parts[1], version=parts[2])
    wanted = {row[1] for row in own if row[1] is not None} - set(rows)
    extra = Q(pk__in=wanted) | wanted_refs
    while extra is not None:
        found = list(AIModel.objects.filter(extra).values_list(*columns))
        rows.update((row[0], row) for row in found)
        wanted = {row[1] for row in found if row[1] is not None} - set(rows)
        extra = Q(pk__in=wanted) if wanted else None
    today = timezone.now().date()
    withheld = {pk for pk, row in rows.items()
                if row[2] != access.organisation_id and (row[3] is None or row[3] > today)}
    if not withheld:
        return Unreleased()
    tainted = set()
    for pk, base, *_ in own:
        seen = {pk}
        while base is not None and base not in seen and base in rows:
            if base in withheld:
                tainted.add(pk)
                break
            seen.add(base)
            base = rows[base][1]

    def ref(pk: int) -> str:
        return "{}/{}@{}".format(*rows[pk][4:])

    own_refs = {f"model:{ref(pk)}" for pk in tainted}
    if own_refs:
        own_refs.add(f"organisation:{access.organisation_slug}")
    return Unreleased(foreign=frozenset(ref(pk) for pk in withheld), own=frozenset(own_refs))


def _payload_names(ref: str) -> Q:
    """Determinations whose payload names this model (as a run of a lineage sum, or a fact it lacked)."""
    quoted = orjson.dumps(ref).decode()
    return Q(payload__contains=quoted) | Q(payload__contains=f"[{quoted[1:-1]}]")


def determinations_withheld(access: Access) -> Q | None:
    """The lab's determinations that rest on another organisation's unreleased model (None: there are none):
    those naming it in their figures, and its organisation's, whose largest lineage sum may include it."""
    unreleased = unreleased_elsewhere(access)
    if not unreleased.foreign:
        return None
    withheld = Q(pk__in=[])
    for ref in sorted(unreleased.foreign):
        withheld |= _payload_names(ref)
    models = sorted(subject.removeprefix("model:") for subject in unreleased.own if subject.startswith("model:"))
    for ref in models:
        withheld |= Q(subject_kind="organisation") & _payload_names(ref)
    return withheld


def determinations_visible(access: Access) -> QuerySet:
    """A regulator sees the whole log; a lab its own subjects' determinations, less those that rest on
    another organisation's model that is not released (they would show its figures)."""
    queryset = Determination.objects.all()
    if access.is_regulator:
        return queryset
    queryset = queryset.filter(organisation=access.organisation_slug)
    withheld = determinations_withheld(access)
    return queryset if withheld is None else queryset.exclude(withheld)


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
    existed = {"organisation_id": org, "created_at__lte": OuterRef("created_at")}
    return queryset.filter(Q(requested_by__membership__organisation_id=org) | Exists(decided)).annotate(
        visible_done=_count(decided, "subject_ref", distinct=True),
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
    withheld = determinations_withheld(access)
    if withheld is None:
        return changes
    hidden = Determination.objects.filter(organisation=access.organisation_slug).filter(withheld).values("pk")
    return changes.exclude(to_determination__in=hidden).exclude(from_determination__in=hidden)


def rule_versions_visible(access: Access) -> QuerySet:
    """Published versions for everyone; regulators also see drafts."""
    queryset = RuleVersion.objects.all()
    return queryset if access.is_regulator else queryset.filter(state=RuleVersionState.PUBLISHED)
