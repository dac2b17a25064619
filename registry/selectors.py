"""Reads of the registry: its export in the interchange format, a record's current facts, each
record's latest revision. Writes are `registry.services`'."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from .facts import cluster_facts, model_facts, organisation_facts
from .models import AIModel, Cluster, ClusterRevision, ModelRevision, Organisation, OrganisationRevision

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
    }


def current_facts(obj: Organisation | AIModel | Cluster) -> dict[str, Any]:
    """The canonical facts of a record's current row (what an admin edit leaves it as)."""
    if isinstance(obj, Organisation):
        return organisation_facts({f: getattr(obj, f) for f in ("slug", "name", "country", "annual_revenue_usd", "revenue_year", "source")})
    if isinstance(obj, AIModel):
        record = {f: getattr(obj, f) for f in (
            "name", "version", "parameter_count", "active_parameter_count", "training_tokens",
            "training_compute_ops", "training_compute_uncertainty", "general_purpose",
            "primarily_biological_sequence_data", "modalities", "fine_tuning_compute_ops",
            "training_compute_cost_usd", "training_completed_on", "released_on", "source", "notes",
        )}
        record["organisation"] = obj.organisation.slug
        record["base_model"] = obj.base_model.ref if obj.base_model else None
        record["derivation"] = obj.derivation or None
        if obj.training_accelerator_id or obj.training_accelerator_count or obj.training_hours or obj.training_utilization:
            record["training_hardware"] = {
                "accelerator": obj.training_accelerator.slug if obj.training_accelerator else None,
                "accelerator_count": obj.training_accelerator_count,
                "training_hours": obj.training_hours,
                "utilization": obj.training_utilization,
            }
        return model_facts(record)
    groups = list(obj.groups.select_related("accelerator").order_by("id"))
    names = {group.pk: group.name for group in groups}
    return cluster_facts({
        "organisation": obj.organisation.slug,
        "name": obj.name,
        "used_for_ai_training": obj.used_for_ai_training,
        "operational_from": obj.operational_from,
        "source": obj.source,
        "notes": obj.notes,
        "groups": [
            {
                "name": group.name,
                "datacenter": group.datacenter,
                "accelerator": group.accelerator.slug if group.accelerator else None,
                "accelerator_count": group.accelerator_count,
                "accelerators_per_node": group.accelerators_per_node,
                "network_gbps": group.network_gbps,
                "peak_ops_per_second": {
                    "dense_max": group.peak_dense_max_ops_per_second,
                    "dense_16bit": group.peak_dense_16bit_ops_per_second,
                    "sparse_max": group.peak_sparse_max_ops_per_second,
                } if group.peak_dense_max_ops_per_second else None,
            }
            for group in groups
        ],
        "links": [
            {"from": names[link.from_group_id], "to": names[link.to_group_id], "gbps": link.gbps}
            for link in obj.links.order_by("id")
        ],
    })




def base_model_choices(organisation_slug: str | None) -> QuerySet[AIModel]:
    """The models a submitter may name as a base model: for a lab (`organisation_slug`), its own and
    other organisations' released ones (released on or before today); for a regulator (None), all."""
    models = AIModel.objects.select_related("organisation")
    if organisation_slug is None:
        return models
    return models.filter(Q(organisation__slug=organisation_slug) | Q(released_on__lte=timezone.localdate()))
