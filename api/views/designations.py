"""Designations: a regulator's decisions of record (DESIGN.md "Designations"). Regulators list and
record them; a lab lists those on its own subjects and records none."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from registry.services import RegistryValidationError, designation_record

from .. import access
from ..exceptions import FieldErrors
from ..filters import DesignationFilter
from ..permissions import HasApiRole
from ..serializers import common
from ..serializers import designations as out
from ..submissions import body_record

_RECORD_PATH = "designations[0]."


class RegulatorRecordsDesignations(BasePermission):
    """Only a regulator records a designation; everyone with an API role reads those they may see."""

    message = "only a regulator records designations; a lab reads those on its own subjects"

    def has_permission(self, request: Any, view: Any) -> bool:
        return request.method in SAFE_METHODS or access.request_access(request).is_regulator


@extend_schema_view(
    list=extend_schema(summary="List designations",
                       description="A regulator sees every designation; a lab those on its own subjects."),
    retrieve=extend_schema(summary="Read a designation"),
    create=extend_schema(
        summary="Record a designation (regulators only)",
        description="The body is one designation of the interchange format: `subject`, `regime`, `kind`, "
                    "`decided_on`, `reference`. A designation equal to one held already is answered with it "
                    "(200), never recorded twice. A lab's request is a 403.",
        request=out.DesignationIn,
        responses={201: out.DesignationOut, 200: out.DesignationOut,
                   400: OpenApiResponse(common.ErrorSerializer), 403: OpenApiResponse(common.ErrorSerializer)},
    ),
)
class DesignationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = out.DesignationOut
    permission_classes = [HasApiRole, RegulatorRecordsDesignations]
    filterset_class = DesignationFilter
    ordering_fields = ["id", "decided_on", "recorded_at"]
    ordering = ["-id"]
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self) -> Any:
        return access.designations_visible(access.request_access(self.request))

    def create(self, request: Request) -> Response:
        record = body_record(request.data)
        try:
            designation, outcome = designation_record(record=record, actor=request.user, via="api")
        except RegistryValidationError as exc:
            raise FieldErrors([{"field": p.path.removeprefix(_RECORD_PATH) if p.path.startswith(_RECORD_PATH) else None,
                                "message": p.message} for p in exc.problems]) from None
        stored = self.get_queryset().get(pk=designation.pk)
        code = status.HTTP_201_CREATED if outcome == "recorded" else status.HTTP_200_OK
        return Response(out.DesignationOut(stored, context={"request": request}).data, status=code)
