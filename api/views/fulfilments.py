"""Obligations' records: a lab's fulfilments (with a document, multipart) and incidents, and a
regulator's review of a fulfilment. Tenant-scoped: a lab reads and records only its own
organisation's; a regulator reads everything and reviews, and records none of a lab's."""
from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from obligations.models import Fulfilment
from obligations.recording import (
    Document,
    ObligationRecordError,
    fulfilment_record,
    fulfilment_review,
    incident_record,
)
from obligations.views import document_response

from .. import access
from ..exceptions import Conflict, FieldErrors
from ..filters import FulfilmentFilter, IncidentFilter
from ..idempotency import idempotent
from ..parsers import InterchangeJSONParser
from ..permissions import HasApiRole
from ..schema import IDEMPOTENCY_KEY
from ..serializers import common
from ..serializers import fulfilments as out

ERROR = OpenApiResponse(common.ErrorSerializer)


class LabRecordsRegulatorReviews(BasePermission):
    """A lab records its fulfilments and incidents; only a regulator reviews a fulfilment."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        who = access.request_access(request)
        if getattr(view, "action", None) == "review":
            self.message = "only a regulator accepts or rejects a fulfilment"
            return who.is_regulator
        self.message = "only a lab member records its organisation's fulfilments and incidents; regulators read them"
        return who.is_lab


def _refused(exc: ObligationRecordError) -> FieldErrors:
    return FieldErrors([{"field": p.path, "message": p.message} for p in exc.problems])


def _body(request: Request) -> dict[str, Any]:
    data = request.data
    if hasattr(data, "getlist"):  # a form: one value a field
        return {key: data.get(key) for key in data}
    if not isinstance(data, dict):
        raise FieldErrors([{"field": None, "message": "the body must be a JSON object"}])
    return dict(data)


@extend_schema_view(
    list=extend_schema(summary="List fulfilments of obligations",
                       description="A regulator sees every fulfilment; a lab its own organisation's."),
    retrieve=extend_schema(summary="Read a fulfilment"),
)
class FulfilmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = out.FulfilmentOut
    permission_classes = [HasApiRole, LabRecordsRegulatorReviews]
    parser_classes = [InterchangeJSONParser, MultiPartParser]
    filterset_class = FulfilmentFilter
    ordering_fields = ["id", "fulfilled_on", "recorded_at"]
    ordering = ["-id"]
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self) -> Any:
        return access.fulfilments_visible(access.request_access(self.request))

    @extend_schema(
        summary="Record a fulfilment of an obligation (labs only)",
        description="JSON, or multipart/form-data with a `document` (kept with its SHA-256 and size). The obligation "
                    "must be one the regime declares; `occurrence` names the period of a recurring obligation "
                    "(2027-Q1) or the incident of an incident-driven one (incident-<id>); `fulfilled_on` is never "
                    "after today. A regulator's request is a 403; another lab's subject is unknown (400).",
        request={"application/json": out.FulfilmentIn, "multipart/form-data": out.FulfilmentIn},
        parameters=[IDEMPOTENCY_KEY],
        responses={201: out.FulfilmentOut, 400: ERROR, 403: ERROR},
    )
    @idempotent
    def create(self, request: Request) -> Response:
        body = _body(request)
        upload = request.FILES.get("document")
        if upload is None and body.get("document") not in (None, ""):
            raise FieldErrors([{"field": "document", "message": "send the document as a file, in multipart/form-data"}])
        who = access.request_access(request)
        try:
            row = fulfilment_record(
                subject=body.get("subject"), regime=body.get("regime"), obligation=body.get("obligation"),
                occurrence=body.get("occurrence") or "", fulfilled_on=body.get("fulfilled_on"),
                reference=body.get("reference"), actor=request.user, via="api",
                document=Document(name=upload.name, stream=upload) if upload is not None else None,
                organisation_scope=who.organisation_slug,
            )
        except ObligationRecordError as exc:
            raise _refused(exc) from None
        stored = self.get_queryset().get(pk=row.pk)
        return Response(out.FulfilmentOut(stored).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Download a fulfilment's document",
        description="The file as uploaded, under its own name, with `X-Document-SHA256`; 404 when the fulfilment has "
                    "none, 409 if the stored file no longer matches its SHA-256.",
        responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY), 404: ERROR, 409: ERROR},
    )
    @action(detail=True, methods=["get"])
    def document(self, request: Request, pk: str | None = None) -> HttpResponse:
        fulfilment = self.get_object()
        response = document_response(fulfilment)
        if response.status_code == 409:
            raise Conflict(response.content.decode())
        if response.status_code == 404:
            raise NotFound(response.content.decode())
        return response

    @extend_schema(
        summary="Accept or reject a fulfilment (regulators only)",
        description="A new review with its reason; earlier reviews stay on record and the latest counts. "
                    "A lab's request is a 403.",
        request=out.ReviewIn, parameters=[IDEMPOTENCY_KEY],
        responses={201: out.FulfilmentOut, 400: ERROR, 403: ERROR, 404: ERROR},
    )
    @action(detail=True, methods=["post"], parser_classes=[InterchangeJSONParser])
    @idempotent
    def review(self, request: Request, pk: str | None = None) -> Response:
        body = _body(request)
        with transaction.atomic():
            fulfilment = self.get_object()
            Fulfilment.objects.select_for_update().filter(pk=fulfilment.pk).first()  # one review at a time
            try:
                fulfilment_review(fulfilment=fulfilment, decision=body.get("decision"), reason=body.get("reason"),
                                  actor=request.user, via="api")
            except ObligationRecordError as exc:
                raise _refused(exc) from None
        stored = self.get_queryset().get(pk=fulfilment.pk)
        return Response(out.FulfilmentOut(stored).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(summary="List incidents",
                       description="A regulator sees every incident; a lab its own organisation's."),
    retrieve=extend_schema(summary="Read an incident"),
)
class IncidentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = out.IncidentOut
    permission_classes = [HasApiRole, LabRecordsRegulatorReviews]
    filterset_class = IncidentFilter
    ordering_fields = ["id", "discovered_on", "recorded_at"]
    ordering = ["-id"]
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self) -> Any:
        return access.incidents_visible(access.request_access(self.request))

    @extend_schema(
        summary="Record an incident (labs only)",
        description="An incident the lab discovered (`discovered_on` never after today), with its severity: the "
                    "dated fact an incident report falls due from. Its report names `incident-<id>` as occurrence.",
        request=out.IncidentIn, parameters=[IDEMPOTENCY_KEY],
        responses={201: out.IncidentOut, 400: ERROR, 403: ERROR},
    )
    @idempotent
    def create(self, request: Request) -> Response:
        body = _body(request)
        who = access.request_access(request)
        try:
            row = incident_record(subject=body.get("subject"), discovered_on=body.get("discovered_on"),
                                  severity=body.get("severity"), summary=body.get("summary"),
                                  reference=body.get("reference") or "", actor=request.user, via="api",
                                  organisation_scope=who.organisation_slug)
        except ObligationRecordError as exc:
            raise _refused(exc) from None
        stored = self.get_queryset().get(pk=row.pk)
        return Response(out.IncidentOut(stored).data, status=status.HTTP_201_CREATED)
