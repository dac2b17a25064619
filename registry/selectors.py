"""Reads of the registry: its export in the interchange format, a record's current facts, each
record's latest revision. Writes are `registry.services`'."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from .facts import cluster_facts, model_facts, organisation_facts
from .mapping import row_facts
from .models import AIModel, Cluster, ClusterRevision, Designation, ModelRevision, Organisation, OrganisationRevision

FACTS_OF: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "organisation": organisation_facts,
    "model": model_facts,
    "cluster": cluster_facts,
}


def iter_latest_facts(revision_model: type, fk: str, objects: Iterable[Any]) -> list[dict[str, Any]]:
    """Each object's latest revision's facts, in canonical types (jsonb prints 1.5e13 as an integer)."""
    ids = [obj.pk for obj in objects]
    latest: dict[int, dict[str, Any]] = {}
    for revision in revision_model.objects.filter(**{f"{fk}__in": ids}).order_by(fk, "number"):
        latest[getattr(revision, f"{fk}_id")] = revision.facts
    normalise = FACTS_OF[fk]
    return [normalise(latest[pk]) for pk in ids if pk in latest]


def registry_export() -> dict[str, Any]:
    """The whole registry in the interchange format: every record's latest revision, as submitted."""
    organisations = list(Organisation.objects.order_by("slug"))
    models = list(AIModel.objects.select_related("organisation").order_by("organisation__slug", "name", "version"))
    clusters = list(Cluster.objects.select_related("organisation").order_by("organisation__slug", "name"))
    return {
        "format": "compute-threshold-registry/v1",
        "organisations": iter_latest_facts(OrganisationRevision, "organisation", organisations),
        "models": iter_latest_facts(ModelRevision, "model", models),
        "clusters": iter_latest_facts(ClusterRevision, "cluster", clusters),
        "designations": designations_export(),
    }


def designations_export() -> list[dict[str, Any]]:
    """The designations held (not withdrawn), in the interchange format, by subject, regime, date."""
    rows = Designation.objects.filter(withdrawal__isnull=True).select_related(
        "organisation", "model__organisation", "cluster__organisation")
    return sorted((row.facts() for row in rows),
                  key=lambda d: (d["subject"], d["regime"], d["decided_on"], d["kind"], d["reference"]))


def current_facts(obj: Organisation | AIModel | Cluster) -> dict[str, Any]:
    """The canonical facts of a record's current row (what an admin edit leaves it as)."""
    if isinstance(obj, Organisation):
        return organisation_facts(row_facts("organisation", obj))
    if isinstance(obj, AIModel):
        return model_facts(row_facts("model", obj))
    return cluster_facts({
        **row_facts("cluster", obj),
        "groups": [row_facts("group", group) for group in obj.groups.select_related("accelerator").order_by("id")],
        "links": [row_facts("link", link) for link in obj.links.select_related("from_group", "to_group").order_by("id")],
    })


def base_model_choices(organisation_slug: str | None, *, keep: int | None = None) -> QuerySet[AIModel]:
    """The models a submitter may name as a base model: for a lab (`organisation_slug`), its own and
    other organisations' released ones (released on or before today); for a regulator (None), all.
    `keep` (a model's current base) stays a choice, so that a form shows it and saving keeps it."""
    models = AIModel.objects.select_related("organisation")
    if organisation_slug is None:
        return models
    return models.filter(Q(organisation__slug=organisation_slug) | Q(released_on__lte=timezone.localdate())
                         | Q(pk=keep or 0))
