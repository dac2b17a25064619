"""Registry records in and out. Bodies use the interchange field names of DESIGN.md; responses
are the record's latest revision as submitted, with its id, URLs, revision number and ETag. A
response's facts are built from the record kind's table in `registry.mapping`, typed after its
interchange validator."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework import serializers

from registry import interchange, mapping
from registry.facts import facts_sha256
from registry.selectors import FACTS_OF, current_facts

from ..etags import etag_of
from ..links import api_url

# --- Request bodies (documentation of what registry.interchange validates) -----------------------


class OrganisationCreate(interchange.OrganisationRecord):
    pass


class OrganisationRevise(interchange.OrganisationRecord):
    slug = interchange.Text(max_length=64, required=False, help_text="The organisation's identity: cannot change.")
    name = interchange.Name(required=False)


class ModelCreate(interchange.ModelRecord):
    organisation = interchange.Text(
        max_length=64, required=False, help_text="Defaults to the lab's organisation; naming another is refused."
    )


class ModelRevise(interchange.ModelRecord):
    organisation = interchange.Text(max_length=64, required=False, help_text="Identity: cannot change.")
    name = interchange.Name(reserved=interchange.MODEL_NAME_RESERVED, required=False, help_text="Identity: cannot change.")
    version = interchange.Name(max_length=64, reserved=interchange.MODEL_NAME_RESERVED, required=False,
                               help_text="Identity: cannot change.")


class ClusterCreate(interchange.ClusterRecord):
    organisation = interchange.Text(
        max_length=64, required=False, help_text="Defaults to the lab's organisation; naming another is refused."
    )


class ClusterRevise(interchange.ClusterRecord):
    organisation = interchange.Text(max_length=64, required=False, help_text="Identity: cannot change.")
    name = interchange.Name(required=False, help_text="Identity: cannot change.")


# --- Responses -------------------------------------------------------------------------------------


class RecordMeta(serializers.Serializer):
    url = serializers.URLField()
    subject = serializers.CharField(help_text="The subject reference used by evaluations and determinations.")
    revision = serializers.IntegerField(help_text="The latest revision's number.")
    etag = serializers.CharField(help_text="Send as If-Match when revising.")
    revisions_url = serializers.URLField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ExactNumberOut(serializers.FloatField):
    """A figure as submitted: a whole number as a JSON integer of every digit (never rounded to a
    double: 100000000000000000000000001 is not 1e26), any other number as a JSON number."""

    def to_representation(self, value: Any) -> int | float:
        return value if isinstance(value, int) and not isinstance(value, bool) else float(value)


def fact_output_field(validator: serializers.Field, *, nullable: bool = False,
                      nested: dict[str, type[serializers.Serializer]] | None = None) -> serializers.Field:
    """How a response shows a fact its interchange validator accepts: the same type and nullability,
    without the input's limits. `nullable`: null even where a submission may not send it."""
    allow_null = validator.allow_null or nullable
    if isinstance(validator, (serializers.ListSerializer, serializers.Serializer)):
        many = isinstance(validator, serializers.ListSerializer)
        record = type(validator.child if many else validator)
        try:
            output = (nested or {})[validator.field_name]
        except KeyError:
            raise ImproperlyConfigured(f"no output serializer for the nested record {validator.field_name!r} ({record.__name__})") from None
        return output(many=True) if many else output(allow_null=allow_null)
    if isinstance(validator, interchange.InterchangeNumber):
        return serializers.IntegerField(allow_null=allow_null) if validator.whole else ExactNumberOut(allow_null=allow_null)
    if isinstance(validator, serializers.BooleanField):
        return serializers.BooleanField(allow_null=allow_null)
    if isinstance(validator, serializers.ChoiceField):
        return serializers.ChoiceField(choices=list(validator.choices), allow_null=allow_null)
    if isinstance(validator, serializers.DateField):
        return serializers.DateField(allow_null=allow_null)
    if isinstance(validator, serializers.IntegerField):
        return serializers.IntegerField(allow_null=allow_null)
    if isinstance(validator, serializers.ListField):
        return serializers.ListField(child=fact_output_field(validator.child))
    if isinstance(validator, serializers.CharField):
        return serializers.CharField(allow_null=allow_null, allow_blank=validator.allow_blank)
    raise ImproperlyConfigured(f"no output field for {type(validator).__name__} ({validator.field_name!r})")


def fact_output(name: str, kind: str, *, base: type[serializers.Serializer] = serializers.Serializer,
                leading: dict[str, serializers.Field] | None = None, every_nullable: bool = False,
                nested: dict[str, type[serializers.Serializer]] | None = None) -> type[serializers.Serializer]:
    """The response serializer of a record kind: `leading` fields, then one field per fact of the kind's
    table in `registry.mapping`, in its order, typed after the kind's validator in `registry.interchange`."""
    interchange.check_record_fields(interchange.RECORDS[kind], mapping.TABLES[kind])
    validators = interchange.RECORDS[kind]().fields
    attrs: dict[str, Any] = dict(leading or {})
    for field in mapping.TABLES[kind]:
        attrs[field.fact] = fact_output_field(validators[field.fact], nullable=every_nullable, nested=nested)
    return type(base)(name, (base,), {**attrs, "__module__": __name__, "__qualname__": name})


# A nested record stored on its parent's row (training hardware, a group's own peak figures) is read
# back from columns any of which may be empty: every field of it may be null in a response.
HardwareOut = fact_output("HardwareOut", "hardware", every_nullable=True)
PeakOut = fact_output("PeakOut", "peak", every_nullable=True)
OrganisationOut = fact_output("OrganisationOut", "organisation", base=RecordMeta)
ModelOut = fact_output("ModelOut", "model", base=RecordMeta, nested={"training_hardware": HardwareOut}, leading={
    "id": serializers.IntegerField(),
    "ref": serializers.CharField(help_text="`organisation/name@version`, as `base_model` names it."),
})
GroupOut = fact_output("GroupOut", "group", nested={"peak_ops_per_second": PeakOut})
LinkOut = fact_output("LinkOut", "link")
ClusterOut = fact_output("ClusterOut", "cluster", base=RecordMeta, nested={"groups": GroupOut, "links": LinkOut},
                         leading={"id": serializers.IntegerField()})


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
    url = api_url(f"api:{ROUTE[kind]}-detail", request, **lookup)
    data = {
        **facts,
        "url": url,
        "revisions_url": url + "revisions/",  # the detail route's `revisions` action (one link less to write)
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
