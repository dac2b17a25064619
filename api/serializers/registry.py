"""Registry records in and out. Bodies use the interchange field names of DESIGN.md; responses
are the record's latest revision as submitted, with its id, URLs, revision number and ETag."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.reverse import reverse

from registry import interchange
from registry.facts import facts_sha256
from registry.selectors import FACTS_OF, current_facts

from ..etags import etag_of

# --- Request bodies (documentation of what registry.interchange validates) -----------------------


class OrganisationCreate(interchange.OrganisationRecord):
    pass


class OrganisationRevise(interchange.OrganisationRecord):
    slug = interchange.Text(max_length=64, required=False, help_text="The organisation's identity: cannot change.")
    name = interchange.Text(required=False)


class ModelCreate(interchange.ModelRecord):
    organisation = interchange.Text(
        max_length=64, required=False, help_text="Defaults to the lab's organisation; naming another is refused."
    )


class ModelRevise(interchange.ModelRecord):
    organisation = interchange.Text(max_length=64, required=False, help_text="Identity: cannot change.")
    name = interchange.Text(required=False, help_text="Identity: cannot change.")
    version = interchange.Text(max_length=64, required=False, help_text="Identity: cannot change.")


class ClusterCreate(interchange.ClusterRecord):
    organisation = interchange.Text(
        max_length=64, required=False, help_text="Defaults to the lab's organisation; naming another is refused."
    )


class ClusterRevise(interchange.ClusterRecord):
    organisation = interchange.Text(max_length=64, required=False, help_text="Identity: cannot change.")
    name = interchange.Text(required=False, help_text="Identity: cannot change.")


# --- Responses -------------------------------------------------------------------------------------


def _number(**kwargs: Any) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, **kwargs)


class RecordMeta(serializers.Serializer):
    url = serializers.URLField()
    subject = serializers.CharField(help_text="The subject reference used by evaluations and determinations.")
    revision = serializers.IntegerField(help_text="The latest revision's number.")
    etag = serializers.CharField(help_text="Send as If-Match when revising.")
    revisions_url = serializers.URLField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class OrganisationOut(RecordMeta):
    slug = serializers.CharField()
    name = serializers.CharField()
    country = serializers.CharField(allow_blank=True)
    annual_revenue_usd = _number()
    revenue_year = serializers.IntegerField(allow_null=True)
    source = serializers.CharField(allow_blank=True)


class HardwareOut(serializers.Serializer):
    accelerator = serializers.CharField(allow_null=True)
    accelerator_count = serializers.IntegerField(allow_null=True)
    training_hours = _number()
    utilization = _number()


class ModelOut(RecordMeta):
    id = serializers.IntegerField()
    ref = serializers.CharField(help_text="`organisation/name@version`, as `base_model` names it.")
    organisation = serializers.CharField()
    name = serializers.CharField()
    version = serializers.CharField()
    parameter_count = _number()
    active_parameter_count = _number()
    training_tokens = _number()
    training_compute_ops = _number()
    training_compute_uncertainty = _number()
    general_purpose = serializers.BooleanField(allow_null=True)
    primarily_biological_sequence_data = serializers.BooleanField()
    modalities = serializers.ListField(child=serializers.CharField())
    base_model = serializers.CharField(allow_null=True)
    derivation = serializers.ChoiceField(choices=interchange.DERIVATIONS, allow_null=True)
    fine_tuning_compute_ops = _number()
    training_hardware = HardwareOut(allow_null=True)
    training_compute_cost_usd = _number()
    training_completed_on = serializers.DateField(allow_null=True)
    released_on = serializers.DateField(allow_null=True)
    source = serializers.CharField(allow_blank=True)
    notes = serializers.CharField(allow_blank=True)


class PeakOut(serializers.Serializer):
    dense_max = _number()
    dense_16bit = _number()
    sparse_max = _number()


class GroupOut(serializers.Serializer):
    name = serializers.CharField()
    datacenter = serializers.CharField()
    accelerator = serializers.CharField(allow_null=True)
    accelerator_count = serializers.IntegerField()
    accelerators_per_node = serializers.IntegerField(allow_null=True)
    network_gbps = _number()
    peak_ops_per_second = PeakOut(allow_null=True)


class LinkOut(serializers.Serializer):
    to = serializers.CharField()
    gbps = serializers.FloatField()

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = {"from": serializers.CharField()}
        fields.update(super().get_fields())
        return fields


class ClusterOut(RecordMeta):
    id = serializers.IntegerField()
    organisation = serializers.CharField()
    name = serializers.CharField()
    used_for_ai_training = serializers.BooleanField(allow_null=True)
    groups = GroupOut(many=True)
    links = LinkOut(many=True)
    operational_from = serializers.DateField(allow_null=True)
    source = serializers.CharField(allow_blank=True)
    notes = serializers.CharField(allow_blank=True)


class RevisionOut(serializers.Serializer):
    number = serializers.IntegerField()
    etag = serializers.CharField()
    facts = serializers.DictField(help_text="The record as submitted in this revision (interchange fields).")
    facts_sha256 = serializers.CharField()
    changed_fields = serializers.DictField(
        child=serializers.ListField(), help_text="Field → [before, after] against the previous revision."
    )
    submitted_by = serializers.CharField(allow_null=True)
    submitted_via = serializers.CharField()
    submitted_at = serializers.DateTimeField()


OUTPUT = {"organisation": OrganisationOut, "model": ModelOut, "cluster": ClusterOut}
ROUTE = {"organisation": "organisation", "model": "model", "cluster": "cluster"}


def lookup_of(kind: str, obj: Any) -> dict[str, Any]:
    return {"slug": obj.slug} if kind == "organisation" else {"pk": obj.pk}


def facts_of(kind: str, obj: Any) -> tuple[dict[str, Any], str]:
    """The record's latest revision (annotated by api.access), or its current row if it has none."""
    facts = getattr(obj, "latest_facts", None)
    if facts is None:
        facts = current_facts(obj)
        return facts, facts_sha256(facts)
    return FACTS_OF[kind](facts), obj.latest_sha256


def record_etag(kind: str, obj: Any) -> str:
    return etag_of(obj.revision, facts_of(kind, obj)[1])


def record_representation(kind: str, obj: Any, request: Any) -> dict[str, Any]:
    facts, digest = facts_of(kind, obj)
    lookup = lookup_of(kind, obj)
    url = reverse(f"api:{ROUTE[kind]}-detail", kwargs=lookup, request=request)
    data = {
        **facts,
        "url": url,
        "revisions_url": url + "revisions/",  # the detail route's `revisions` action (one reverse() less)
        "subject": obj.subject_ref,
        "revision": obj.revision,
        "etag": etag_of(obj.revision, digest),
        "created_at": obj.created_at,
        "updated_at": obj.updated_at,
    }
    if kind != "organisation":
        data["id"] = obj.pk
    if kind == "model":
        data["ref"] = obj.ref
    return _output(kind).to_representation(data)


def _output(kind: str) -> serializers.Serializer:
    """This thread's instance of the kind's output serializer (representing keeps no state on it)."""
    return interchange.thread_serializer(OUTPUT[kind])


def revision_representation(revision: Any) -> dict[str, Any]:
    user = revision.submitted_by
    return RevisionOut({
        "number": revision.number,
        "etag": etag_of(revision.number, revision.facts_sha256),
        "facts": revision.facts,
        "facts_sha256": revision.facts_sha256,
        "changed_fields": revision.changed_fields or {},
        "submitted_by": user.get_username() if user else None,
        "submitted_via": revision.submitted_via,
        "submitted_at": revision.submitted_at,
    }).data
