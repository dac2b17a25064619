"""`evaluations/`: evaluate a subject (or, for a regulator, the whole registry) now. The answer is
the run to poll at `runs/{id}/`; the work is queued once the run is committed. A `hypothetical`
evaluation (the law of `as_of` applied to the subject as it stands today) is a preview, answered at
once and never recorded."""
from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from rules.models.runs import Trigger
from rules.previews import hypothetical_evaluations
from rules.services import run_create, today
from rules.subjects import SubjectError, parse_subject
from rules.tasks import run_start

from .. import access, presenters
from ..exceptions import FieldErrors
from ..idempotency import idempotent
from ..schema import IDEMPOTENCY_KEY, LOCATION_HEADER, evaluation_examples
from ..serializers import rules as out
from ..throttling import TokenRateThrottle, WorkRateThrottle


def _query_flag(request: Request, name: str) -> bool:
    """A boolean query parameter (`?hypothetical=true`); a value that is not one is a 400 naming it."""
    value = request.query_params.get(name)
    if value is None:
        return False
    try:
        return serializers.BooleanField().to_internal_value(value)
    except serializers.ValidationError as exc:
        raise FieldErrors([{"field": name, "message": str(exc.detail[0])}]) from None


class EvaluationView(GenericAPIView):
    serializer_class = out.EvaluationRequest
    filter_backends: list[Any] = []
    pagination_class = None
    throttle_classes = [TokenRateThrottle, WorkRateThrottle]

    @extend_schema(
        summary="Evaluate a subject, or the whole registry, now",
        description=(
            "Creates an evaluation run and queues it. Answers 202 with the run; poll its `url` for progress and "
            "the status changes it found. A lab evaluates its own subjects only (another lab's subject reads "
            "as unknown) and never the whole registry (403). With `hypothetical: true` the law of `as_of` is "
            "applied to the subject as it stands today (a model or cluster that did not exist yet on that date "
            "is evaluated rather than `not_applicable`): answered at once with 200, a preview never recorded."
        ),
        request=out.EvaluationRequest,
        responses={202: out.RunOut, 200: out.HypotheticalOut},
        parameters=[IDEMPOTENCY_KEY, LOCATION_HEADER, OpenApiParameter(
            "hypothetical", bool, OpenApiParameter.QUERY, required=False,
            description="The same as the body's `hypothetical`: a preview answered at once, never recorded.")],
        examples=evaluation_examples(),
    )
    @idempotent
    def post(self, request: Request) -> Response:
        viewer = access.request_access(request)
        serializer = out.EvaluationRequest(data=request.data)
        serializer.is_valid(raise_exception=True)
        subject, as_of, regimes = (serializer.validated_data[k] for k in ("subject", "as_of", "regimes"))
        if not viewer.is_regulator:
            if subject is None:
                raise PermissionDenied("a lab evaluates its own subjects: name one in `subject`")
            if parse_subject(subject).organisation != viewer.organisation_slug:
                raise FieldErrors([{"field": "subject", "message": f"unknown subject(s): {subject}"}])
        if serializer.validated_data["hypothetical"] or _query_flag(request, "hypothetical"):
            return self._hypothetical(viewer, subject, as_of or today(), regimes)
        try:
            run = run_create(kind=Trigger.MANUAL, as_of=as_of or today(), regimes=regimes or None,
                             subjects=[subject] if subject else None, requested_by=request.user)
        except SubjectError as exc:
            raise FieldErrors([{"field": "subject", "message": str(exc)}]) from None
        except ValueError as exc:
            raise FieldErrors([{"field": "regimes", "message": str(exc)}]) from None
        transaction.on_commit(lambda: run_start.delay(run.pk), robust=True)
        run = access.runs_visible(viewer).get(pk=run.pk)
        data = presenters.run_representation(run, request, viewer)
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})

    def _hypothetical(self, viewer: Any, subject: str | None, as_of: Any, regimes: list[str]) -> Response:
        if subject is None:
            raise FieldErrors([{"field": "subject", "message": "a hypothetical evaluation names one subject"}])
        if subject in access.unreleased_elsewhere(viewer).own:
            raise PermissionDenied(f"{subject} rests on another organisation's model not yet released: "
                                   "its figures are withheld")
        try:
            evaluations = hypothetical_evaluations(subjects=[subject], as_of=as_of, regimes=regimes or None)
        except SubjectError as exc:
            raise FieldErrors([{"field": "subject", "message": str(exc)}]) from None
        except ValueError as exc:
            raise FieldErrors([{"field": "regimes", "message": str(exc)}]) from None
        data = {"hypothetical": True, "as_of": as_of, "recorded": False,
                "evaluations": [evaluation.to_dict() for evaluation in evaluations]}
        return Response(out.HypotheticalOut(data).data, status=status.HTTP_200_OK)
