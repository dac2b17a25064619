"""`reports/`: stored reports (audit, registry, changes, exports) with their SHA-256, requested and
downloaded through the API. A regulator sees and requests every report; a lab member requests and
sees only audit reports of its own organisation's subjects (another lab's report is a 404)."""
from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.response import Response

from reports.models import ArtifactStatus, ReportArtifact
from reports.selectors import ReportInputError, reports_of_organisation
from reports.services import FORMATS, TooManyPendingReports, report_request
from reports.views import artifact_response
from rules.subjects import SubjectError, parse_subject

from .. import access
from ..exceptions import Conflict, FieldErrors
from ..idempotency import idempotent
from ..schema import IDEMPOTENCY_KEY, LOCATION_HEADER
from ..throttling import TokenRateThrottle, WorkRateThrottle


class ReportRequest(serializers.Serializer):
    kind = serializers.ChoiceField(choices=sorted(FORMATS))
    format = serializers.CharField(max_length=8)
    subject = serializers.CharField(max_length=500, required=False, help_text="For an audit report.")
    as_of = serializers.DateField(required=False, help_text="For an audit or registry report (YYYY-MM-DD).")
    run = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1, help_text="For a change report.")
    regime = serializers.CharField(max_length=64, required=False, help_text="Export filter.")
    status = serializers.CharField(max_length=16, required=False, help_text="Export filter.")


class ReportOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    kind = serializers.CharField()
    format = serializers.CharField()
    status = serializers.ChoiceField(choices=ArtifactStatus.choices)
    parameters = serializers.DictField()
    sha256 = serializers.CharField(allow_blank=True, help_text="SHA-256 of the file, once done.")
    size = serializers.IntegerField()
    download_url = serializers.URLField(allow_null=True)
    notes = serializers.ListField(child=serializers.CharField())
    error = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


def reports_visible(viewer: Any) -> QuerySet:
    if viewer.is_regulator:
        return ReportArtifact.objects.all()
    # a subject resting on another lab's unreleased model: its reports would show that model's figures
    return reports_of_organisation(viewer.organisation_slug, withheld_subjects=access.unreleased_elsewhere(viewer).own)


def report_representation(artifact: ReportArtifact, request: Request) -> dict[str, Any]:
    url = request.build_absolute_uri(f"/api/v1/reports/{artifact.pk}/")
    done = artifact.status == ArtifactStatus.DONE
    return {
        "id": artifact.pk, "url": url, "kind": artifact.kind, "format": artifact.format, "status": artifact.status,
        "parameters": artifact.parameters, "sha256": artifact.sha256, "size": artifact.size,
        "download_url": f"{url}download/" if done else None, "notes": list(artifact.notes or []),
        "error": artifact.error, "created_at": artifact.created_at, "finished_at": artifact.finished_at,
    }


@extend_schema_view(
    list=extend_schema(summary="List stored reports", responses={200: ReportOut(many=True)}),
    retrieve=extend_schema(summary="Read a stored report's record (status, SHA-256, download link)",
                           responses={200: ReportOut}),
)
class ReportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ReportOut
    throttle_classes = [TokenRateThrottle, WorkRateThrottle]
    filter_backends: list[Any] = []
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet:
        return reports_visible(access.request_access(self.request)).order_by("-id")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([report_representation(a, request) for a in page])

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(report_representation(self.get_object(), request))

    @extend_schema(
        summary="Request a report",
        description=(
            "Queues a report and answers 202 with its record; poll its `url` until `status` is `done`, then "
            "fetch `download_url`. Audit: `subject`, `as_of`, format html or pdf. Registry: `as_of`, format "
            "html, pdf, csv or json. Changes: `run`. Export: optional `subject`, `regime`, `status`, `as_of`, "
            "`run`, format csv or json. A lab member may request audit reports of its own subjects only. The "
            "same report asked for while it is still pending is that report (the same record again). Each user "
            "may have `REPORT_MAX_PENDING` reports pending (default 3): past that the answer is 429. These POSTs "
            "are also throttled at `API_WORK_THROTTLE_RATE`."
        ),
        request=ReportRequest,
        responses={202: ReportOut},
        parameters=[IDEMPOTENCY_KEY, LOCATION_HEADER],
        examples=[OpenApiExample("Audit report of a model", request_only=True, value={
            "kind": "audit", "format": "pdf", "subject": "model:acme/Acme-1@1", "as_of": "2026-06-01"})],
    )
    @idempotent
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        viewer = access.request_access(request)
        serializer = ReportRequest(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        kind, format = data.pop("kind"), data.pop("format")
        if not viewer.is_regulator:
            if kind != "audit":
                raise FieldErrors([{"field": "kind", "message": "a lab member may request audit reports only"}])
            try:
                key = parse_subject(str(data.get("subject", "")))
            except SubjectError as exc:
                raise FieldErrors([{"field": "subject", "message": str(exc)}]) from None
            if key.organisation != viewer.organisation_slug:
                # the same answer as for a subject that does not exist
                raise FieldErrors([{"field": "subject", "message": f"unknown subject(s): {key.ref}"}])
            if key.ref in access.unreleased_elsewhere(viewer).own:
                raise FieldErrors([{"field": "subject", "message": (
                    f"{key.ref} rests on a base model another organisation has not released; its audit report "
                    "is available once that model is released")}])
        try:
            with transaction.atomic():
                artifact = report_request(kind=kind, format=format, requested_by=request.user, **data)
        except (ReportInputError, SubjectError) as exc:
            field, _, message = str(exc).partition(": ")
            raise FieldErrors([{"field": field if message else None, "message": message or str(exc)}]) from None
        except TooManyPendingReports as exc:
            raise Throttled(detail=str(exc)) from None
        body = report_representation(artifact, request)
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})

    @extend_schema(
        summary="Download a stored report",
        description="The file, as an attachment, with `X-Report-SHA256`; 409 while the report is not done or if "
                    "the stored file no longer matches its SHA-256.",
        responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY),
                   409: OpenApiResponse(description="not done yet, or the file does not match its SHA-256")},
    )
    @action(detail=True, methods=["get"])
    def download(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        artifact = self.get_object()
        if artifact.status != ArtifactStatus.DONE or not artifact.file:
            raise Conflict(f"report {artifact.pk} is {artifact.status}, not ready to download")
        response = artifact_response(artifact)
        if response.status_code == 409:
            raise Conflict(response.content.decode())
        return response
