"""Organisations, models and clusters: create, read, revise (PUT replaces, PATCH merges into the
latest revision), and every revision listed under the record's `revisions/`."""
from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from registry.models import AIModel, Cluster, Organisation

from .. import access
from ..etags import if_match_check
from ..exceptions import Conflict, FieldErrors
from ..filters import ClusterFilter, ModelFilter, OrganisationFilter
from ..idempotency import idempotent
from ..permissions import HasApiRole, LabWritesOwnRecords
from ..prepared import statements_prepared
from ..schema import ETAG_HEADER, IDEMPOTENCY_KEY, IF_MATCH, examples_for
from ..serializers import registry as out
from ..submissions import identity_keep, lab_body_record, record_submit, storable_text

WRITES = frozenset({"POST", "PUT", "PATCH"})


class RegistryRecordViewSet(viewsets.GenericViewSet):
    """Shared by the three record kinds; `kind` picks the record and its serializers."""

    kind: str = ""
    model: type = Organisation
    permission_classes = [HasApiRole, LabWritesOwnRecords]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        """A write (the token's read included) runs with statements prepared: few statements, the same
        ones at each submission, planned once per connection (`api.prepared`)."""
        if request.method in WRITES:
            with statements_prepared():
                return super().dispatch(request, *args, **kwargs)
        return super().dispatch(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        visible = {"organisation": access.organisations_visible, "model": access.models_visible,
                   "cluster": access.clusters_visible}[self.kind]
        return visible(access.request_access(self.request))

    def get_serializer_class(self) -> Any:
        return out.OUTPUT[self.kind]

    def _respond(self, obj: Any, *, code: int = status.HTTP_200_OK, location: bool = False) -> Response:
        """The record as stored: `obj` read with its latest revision (api.access), or as just written
        by `record_submit`, which leaves the revision's facts and digest on it."""
        data = out.record_representation(self.kind, obj, self.request)
        headers = {"ETag": data["etag"]}
        if location:
            headers["Location"] = data["url"]
        return Response(data, status=code, headers=headers)

    def list(self, request: Request) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response([out.record_representation(self.kind, obj, request) for obj in page])

    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return self._respond(self.get_object())

    def _scope(self) -> str | None:
        return access.request_access(self.request).organisation_slug

    def _own(self) -> list[Organisation]:
        """A lab's own organisation, read with its token (or its session's membership): the submission's
        checks need not read it again."""
        if not access.request_access(self.request).is_lab:
            return []
        return [self.request.user.membership.organisation]

    def _existing(self, record: dict[str, Any]) -> Any:
        raise NotImplementedError

    @idempotent
    def create(self, request: Request) -> Response:
        record = lab_body_record(request.data)
        if self.kind != "organisation":
            record.setdefault("organisation", self._scope())
        try:
            # only a new record is written: one stored already (or created meanwhile by a concurrent
            # request) fails its insert, and nothing of this request is kept
            obj, _outcome = record_submit(kind=self.kind, record=record, actor=request.user,
                                          organisation_scope=self._scope(), only_new=True, organisations=self._own())
        except (FieldErrors, Conflict):
            # a record that exists is a 409 whatever the body, as when it is looked for first;
            # looked for only now, so that a new record costs no query for it
            existing = self._existing(record)
            if existing is not None:
                raise Conflict(f"{existing.subject_ref} exists already: revise it with PUT or PATCH at "
                               f"{out.record_representation(self.kind, existing, request)['url']}") from None
            raise
        # the answer is the revision this request made, as written (no later one can be read instead)
        return self._respond(obj, code=status.HTTP_201_CREATED, location=True)

    def _revise(self, request: Request, *, partial: bool) -> Response:
        with transaction.atomic():
            found = self.get_object()
            type(found).objects.select_for_update().filter(pk=found.pk).first()  # one reviser at a time
            obj = self.get_queryset().get(pk=found.pk)
            facts, _digest = out.facts_of(self.kind, obj)
            if_match_check(request, out.record_etag(self.kind, obj))
            body = lab_body_record(request.data)
            record = {**facts, **body} if partial else body
            record = identity_keep(kind=self.kind, record=record, current=facts)
            revised, _outcome = record_submit(kind=self.kind, record=record, actor=request.user,
                                              organisation_scope=self._scope(), organisations=self._own())
            return self._respond(revised)  # with the row still locked: this request's revision

    def update(self, request: Request, **kwargs: Any) -> Response:
        return self._revise(request, partial=False)

    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        return self._revise(request, partial=True)

    @action(detail=True, methods=["get"], filter_backends=[])
    def revisions(self, request: Request, **kwargs: Any) -> Response:
        obj = self.get_object()
        revisions = obj.revisions.select_related("submitted_by").order_by("-number")
        page = self.paginate_queryset(revisions)
        return self.get_paginated_response([out.revision_representation(r) for r in page])


def _record_schema(kind: str, noun: str, create: Any, revise: Any) -> Any:
    output = out.OUTPUT[kind]
    return extend_schema_view(
        list=extend_schema(summary=f"List {noun}s", description=f"{noun.capitalize()}s you may see: a lab its own."),
        retrieve=extend_schema(summary=f"Read a {noun}", responses={200: OpenApiResponse(output)},
                               parameters=[ETAG_HEADER]),
        create=extend_schema(
            summary=f"Submit a new {noun}", request=create, responses={201: output},
            parameters=[IDEMPOTENCY_KEY, ETAG_HEADER], examples=examples_for(kind),
            description="Validated exactly as `import_registry` validates a record. A lab submits for its own "
                        "organisation only. An existing record is a 409: revise it instead.",
        ),
        update=extend_schema(
            summary=f"Revise a {noun} (replace its facts)", request=revise, responses={200: output},
            parameters=[IF_MATCH, ETAG_HEADER],
            description="Every field of the record; identity fields may be left out, never changed. "
                        "Send `If-Match` with the ETag you read: a stale one is a 412. Without it the last writer wins.",
        ),
        partial_update=extend_schema(
            summary=f"Revise some facts of a {noun}", request=revise, responses={200: output},
            parameters=[IF_MATCH, ETAG_HEADER],
            description="The fields given replace those of the latest revision (a nested object, such as "
                        "`training_hardware`, is replaced whole); the result is validated as a whole record.",
        ),
        revisions=extend_schema(summary=f"Every revision of a {noun}, newest first",
                                responses={200: out.RevisionOut(many=True)}),
    )


@_record_schema("organisation", "organisation", out.OrganisationCreate, out.OrganisationRevise)
class OrganisationViewSet(RegistryRecordViewSet):
    kind, model = "organisation", Organisation
    lookup_field = "slug"
    lookup_value_regex = r"[a-z0-9]+(?:-[a-z0-9]+)*"
    filterset_class = OrganisationFilter
    ordering_fields = ["slug", "name", "created_at", "updated_at"]
    ordering = ["slug"]

    def _existing(self, record: dict[str, Any]) -> Any:
        slug = record.get("slug")
        return self.get_queryset().filter(slug=slug).first() if storable_text(slug) else None


@_record_schema("model", "model", out.ModelCreate, out.ModelRevise)
class ModelViewSet(RegistryRecordViewSet):
    kind, model = "model", AIModel
    lookup_value_regex = r"[0-9]+"
    filterset_class = ModelFilter
    ordering_fields = ["id", "name", "version", "created_at", "updated_at", "training_compute_ops"]
    ordering = ["organisation__slug", "name", "version"]

    def _existing(self, record: dict[str, Any]) -> Any:
        keys = [record.get(k) for k in ("organisation", "name", "version")]
        if not all(storable_text(k) for k in keys):
            return None
        return self.get_queryset().filter(organisation__slug=keys[0], name=keys[1], version=keys[2]).first()


@_record_schema("cluster", "cluster", out.ClusterCreate, out.ClusterRevise)
class ClusterViewSet(RegistryRecordViewSet):
    kind, model = "cluster", Cluster
    lookup_value_regex = r"[0-9]+"
    filterset_class = ClusterFilter
    ordering_fields = ["id", "name", "created_at", "updated_at"]
    ordering = ["organisation__slug", "name"]

    def _existing(self, record: dict[str, Any]) -> Any:
        keys = [record.get(k) for k in ("organisation", "name")]
        if not all(storable_text(k) for k in keys):
            return None
        return self.get_queryset().filter(organisation__slug=keys[0], name=keys[1]).first()

