"""Reads of the rules side: determinations (the decision log), evaluation runs with the changes
they found, regimes and their rule versions, and the accelerator catalog."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from registry.models import Accelerator
from rules.models import facts_sha256_filled, previous_filled

from .. import access, presenters
from ..filters import AcceleratorFilter, DeterminationFilter, RuleVersionFilter, RunFilter
from ..pagination import LogPagination
from ..serializers import rules as out


@extend_schema_view(
    list=extend_schema(summary="List determinations",
                       description="The decision log, newest first; a lab sees its own subjects' determinations."),
    retrieve=extend_schema(summary="Read a determination"),
)
class DeterminationViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = out.DeterminationOut
    pagination_class = LogPagination
    filterset_class = DeterminationFilter
    ordering_fields = ["sequence", "as_of", "created_at"]
    ordering = ["-sequence"]
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> Any:
        return access.determinations_visible(access.request_access(self.request))

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        previous_filled(page)  # each row's previous hash, read for the page at once
        facts_sha256_filled(page)  # and its facts snapshot's digest
        return self.get_paginated_response([presenters.determination_representation(row, request) for row in page])

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(presenters.determination_representation(self.get_object(), request))


@extend_schema_view(
    list=extend_schema(summary="List evaluation runs",
                       description="Newest first; a lab sees the runs it requested and those that decided its subjects."),
    retrieve=extend_schema(summary="Read a run: progress and the status changes it found",
                           responses={200: out.RunDetailOut}),
    changes=extend_schema(summary="The status changes a run found", responses={200: out.StatusChangeOut(many=True)}),
)
class RunViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = out.RunOut
    filterset_class = RunFilter
    ordering_fields = ["id", "created_at", "as_of"]
    ordering = ["-id"]
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> Any:
        return access.runs_visible(access.request_access(self.request))

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        viewer = access.request_access(request)
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([presenters.run_representation(run, request, viewer) for run in page])

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        viewer = access.request_access(request)
        run = self.get_object()
        # the first page's worth: a run may change every subject's status; `changes_url` pages through all
        changes = list(access.changes_visible(viewer, run).order_by("subject_ref", "regime", "pk")[
            :settings.API_MAX_PAGE_SIZE])
        return Response(presenters.run_representation(run, request, viewer, changes=changes))

    @action(detail=True, methods=["get"], filter_backends=[])
    def changes(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        run = self.get_object()
        changes = access.changes_visible(access.request_access(request), run).order_by("subject_ref", "regime", "pk")
        page = self.paginate_queryset(changes)
        return self.get_paginated_response([presenters.change_representation(c) for c in page])


def _regimes(request: Request) -> dict[str, list[Any]]:
    rows = access.rule_versions_visible(access.request_access(request)).order_by("regime", "effective_from", "pk")
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.regime, []).append(row)
    return grouped


@extend_schema_view(
    list=extend_schema(summary="List regimes with their rule versions"),
    retrieve=extend_schema(summary="Read a regime with its rule versions"),
)
class RegimeViewSet(viewsets.GenericViewSet):
    """Each legal instrument (DESIGN.md's regime slugs) and its versions: published ones, and for
    regulators the drafts too."""

    serializer_class = out.RegimeOut
    lookup_field = "slug"
    lookup_value_regex = r"[a-z0-9]+(?:-[a-z0-9]+)*"
    filter_backends: list[Any] = []

    def list(self, request: Request) -> Response:
        grouped = _regimes(request)
        page = self.paginate_queryset(sorted(grouped))
        return self.get_paginated_response([presenters.regime_representation(s, grouped[s], request) for s in page])

    def retrieve(self, request: Request, slug: str) -> Response:
        grouped = _regimes(request)
        if slug not in grouped:
            raise Http404
        return Response(presenters.regime_representation(slug, grouped[slug], request))


REGIME_SLUG = OpenApiParameter("regime_slug", str, OpenApiParameter.PATH, description="A regime slug, e.g. eu-ai-act.",
                               pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@extend_schema_view(
    list=extend_schema(summary="List a regime's rule versions, with parameters, tests, quotes and citations",
                       parameters=[REGIME_SLUG]),
    retrieve=extend_schema(summary="Read a rule version", parameters=[REGIME_SLUG]),
)
class RuleVersionViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = out.RuleVersionOut
    filterset_class = RuleVersionFilter
    ordering_fields = ["effective_from", "created_at", "id"]
    ordering = ["effective_from", "id"]

    def get_queryset(self) -> Any:
        queryset = access.rule_versions_visible(access.request_access(self.request))
        return queryset.filter(regime=self.kwargs.get("regime_slug", ""))

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.get_queryset()
        if not queryset.exists():
            raise Http404
        page = self.paginate_queryset(self.filter_queryset(queryset))
        return self.get_paginated_response([presenters.version_representation(row, request) for row in page])

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(presenters.version_representation(self.get_object(), request))


@extend_schema_view(
    list=extend_schema(summary="The accelerator catalog"),
    retrieve=extend_schema(summary="Read one accelerator's figures"),
)
class AcceleratorViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Accelerator.objects.all()
    serializer_class = out.AcceleratorOut
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    filterset_class = AcceleratorFilter
    ordering_fields = ["slug", "vendor", "release_date", "dense_max_ops_per_second"]
    ordering = ["vendor", "slug"]
