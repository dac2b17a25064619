"""Obligations: what each subject owes, by when, and whether it has (DESIGN.md "Obligations (v1)").

Without `as_of` the list reads each obligation's status as last worked out (the stored states, brought
up to date by every evaluation and the nightly run); with `as_of` it works the obligations out for
that date from the determinations of record. A lab sees its own organisation's obligations only."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from obligations.listing import OBLIGATION_STATUSES, obligations_on, states_filtered, views_from_states
from obligations.models import ObligationState
from rules.library_store import published_library

from .. import access
from ..permissions import HasApiRole
from ..serializers import common
from ..serializers.rules import SubjectOut


class ObligationQuery(serializers.Serializer):
    """The list's filters; a bad value is a 400 naming the parameter."""

    regime = serializers.CharField(required=False, help_text="A regime slug, e.g. eu-ai-act.")
    status = serializers.ChoiceField(choices=OBLIGATION_STATUSES, required=False)
    organisation = serializers.SlugField(required=False, help_text="The subject's organisation (a lab sees only its own).")
    subject = serializers.CharField(required=False, help_text="A subject reference, e.g. model:acme/Acme-1@1.")
    due_before = serializers.DateField(required=False, input_formats=["iso-8601"],
                                       help_text="Due on or before this date (YYYY-MM-DD).")
    as_of = serializers.DateField(required=False, input_formats=["iso-8601"],
                                  help_text="Work the statuses out for this date (YYYY-MM-DD) instead of reading "
                                            "them as last worked out.")

    def validate_regime(self, value: str) -> str:
        known = published_library().regimes()
        if value not in known:
            raise serializers.ValidationError(f"unknown regime {value!r}; known: {', '.join(known)}")
        return value


class ObligationFulfilmentOut(serializers.Serializer):
    """A fulfilment as an obligation lists it."""

    id = serializers.IntegerField()
    fulfilled_on = serializers.DateField()
    reference = serializers.CharField()
    accepted = serializers.BooleanField(allow_null=True, help_text="The latest review: true accepted, false "
                                                                   "rejected, null not reviewed yet.")
    document_sha256 = serializers.CharField(allow_null=True)


class ObligationOut(serializers.Serializer):
    subject = SubjectOut()
    regime = serializers.CharField()
    obligation = serializers.CharField(help_text="The obligation's id in the rule version, e.g. art-52-1-notification.")
    occurrence = serializers.CharField(help_text="2027-Q1 for a recurring obligation, incident-<id> for an "
                                                 "incident report, empty for a one-off.")
    title = serializers.CharField()
    citation = serializers.CharField()
    due_on = serializers.DateField(allow_null=True)
    due_reason = serializers.CharField(help_text="How the due date was worked out: the dated fact and the rule.")
    status = serializers.ChoiceField(choices=OBLIGATION_STATUSES)
    fulfilments = ObligationFulfilmentOut(many=True)
    determination = serializers.IntegerField(allow_null=True, help_text="The determination that created the obligation.")
    rule_version = serializers.CharField()


def _withheld_ids(viewer: Any) -> set[int] | None:
    """The determinations withheld from a lab (they rest on another organisation's unreleased model):
    obligations they created are left out too. None: nothing is withheld."""
    withheld = access.determinations_withheld(viewer)
    if withheld is None:
        return None
    from rules.models import Determination

    return set(Determination.objects.filter(organisation=viewer.organisation_slug).filter(withheld)
               .values_list("pk", flat=True))


@extend_schema_view(
    list=extend_schema(
        summary="List obligations",
        description="Each obligation of each subject (one row per occurrence of a recurring or incident-driven one): "
                    "overdue first, then by due date. Without `as_of`, the status as last worked out (every "
                    "evaluation and the nightly run bring it up to date); with `as_of`, worked out for that date "
                    "from the determinations of record. A regulator sees every organisation's; a lab its own.",
        parameters=[ObligationQuery],
        responses={200: ObligationOut(many=True), 400: OpenApiResponse(common.ErrorSerializer)},
    ),
)
class ObligationViewSet(viewsets.GenericViewSet):
    permission_classes = [HasApiRole]
    serializer_class = ObligationOut
    filter_backends: list[Any] = []
    queryset = ObligationState.objects.none()

    def list(self, request: Request) -> Response:
        query = ObligationQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        viewer = access.request_access(request)
        organisation = filters.get("organisation")
        if not viewer.is_regulator:
            if organisation not in (None, viewer.organisation_slug):
                return self.get_paginated_response(self.paginate_queryset([]))
            organisation = viewer.organisation_slug
        regimes = [filters["regime"]] if "regime" in filters else None
        statuses = [filters["status"]] if "status" in filters else None
        withheld = _withheld_ids(viewer)
        if "as_of" in filters:
            views = obligations_on(as_of=filters["as_of"], organisation=organisation, regimes=regimes,
                                   statuses=statuses, due_before=filters.get("due_before"),
                                   subject_refs=[filters["subject"]] if "subject" in filters else None)
            if withheld:
                views = [view for view in views if view.determination_id not in withheld]
            page = self.paginate_queryset(views)
        else:
            states = states_filtered(organisation=organisation, regimes=regimes, statuses=statuses,
                                     due_before=filters.get("due_before"))
            if "subject" in filters:
                states = states.filter(subject_ref=filters["subject"])
            if withheld:
                states = states.exclude(determination_id__in=withheld)
            page = views_from_states(self.paginate_queryset(states))
        return self.get_paginated_response([view.as_json() for view in page])
