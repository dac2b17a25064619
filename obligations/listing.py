"""Obligations as people read them: the stored states filtered as the lists, the dashboard and the API
filter them (regime, status, organisation, due before, subject), each with its fulfilments (the
latest review's decision on each); and the obligations of any date in the order of a compliance
calendar (overdue first, then by due date)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from django.db.models import Q, QuerySet

from rules.engine.vocabulary import ObligationStatus

from .models import Fulfilment, ObligationState, ReviewDecision, overdue_first
from .services import FulfilmentView, ObligationView, obligations_as_of

DUE_SOON_DAYS = 14
OPEN_STATUSES = (ObligationStatus.DUE, ObligationStatus.NOT_YET_DUE)
OBLIGATION_STATUSES = tuple(status.value for status in ObligationStatus)


def states_filtered(
    *, organisation: str | None = None, regimes: Iterable[str] | None = None, statuses: Iterable[str] | None = None,
    due_before: date | None = None, subject: str | None = None, queryset: QuerySet | None = None,
) -> QuerySet[ObligationState]:
    """The stored states, overdue first then by due date. `due_before` keeps those due on or before the
    date; `subject` is part of a subject reference (`acme/`, `Acme-1`)."""
    rows = ObligationState.objects.all() if queryset is None else queryset
    if organisation:
        rows = rows.filter(organisation=organisation)
    if regimes:
        rows = rows.filter(regime__in=list(regimes))
    if statuses:
        rows = rows.filter(status__in=list(statuses))
    if due_before is not None:
        rows = rows.filter(due_on__lte=due_before)
    if subject:
        rows = rows.filter(subject_ref__icontains=subject)
    return rows.annotate(overdue_first=overdue_first()).order_by(
        "overdue_first", "due_on", "subject_ref", "regime", "obligation", "occurrence")


def overdue_and_due_soon(*, today: date, organisation: str | None = None) -> tuple[QuerySet, QuerySet]:
    """The obligations overdue, and those not yet fulfilled that fall due within DUE_SOON_DAYS of `today`."""
    rows = states_filtered(organisation=organisation)
    overdue = rows.filter(status=ObligationStatus.OVERDUE)
    soon = rows.filter(status__in=OPEN_STATUSES, due_on__gte=today, due_on__lte=today + timedelta(days=DUE_SOON_DAYS))
    return overdue, soon


def _key(subject: str, regime: str, obligation: str, occurrence: str) -> tuple[str, str, str, str]:
    return subject, regime, obligation, occurrence


def fulfilments_for(states: Iterable[Any]) -> dict[tuple[str, str, str, str], tuple[FulfilmentView, ...]]:
    """(subject, regime, obligation, occurrence) -> its fulfilments, each with the latest review's decision
    (`accepted`: True, False when rejected, None when not reviewed); two queries for any number of states."""
    states = list(states)
    if not states:
        return {}
    wanted = {_key(s.subject_ref, s.regime, s.obligation, s.occurrence) for s in states}
    condition = Q()
    for organisation, regime, obligation in {(s.organisation, s.regime, s.obligation) for s in states}:
        condition |= Q(organisation__slug=organisation, regime=regime, obligation=obligation)
    found: dict[tuple[str, str, str, str], list[FulfilmentView]] = defaultdict(list)
    rows = (Fulfilment.objects.filter(condition)
            .select_related("organisation", "model__organisation", "cluster__organisation")
            .prefetch_related("reviews").order_by("fulfilled_on", "pk"))
    for row in rows:
        key = _key(row.subject_ref, row.regime, row.obligation, row.occurrence)
        if key not in wanted:
            continue
        reviews = sorted(row.reviews.all(), key=lambda review: (review.reviewed_at, review.pk))
        accepted = None if not reviews else reviews[-1].decision == ReviewDecision.ACCEPTED
        found[key].append(FulfilmentView(row.pk, row.fulfilled_on, row.reference, accepted, row.document_sha256))
    return {key: tuple(value) for key, value in found.items()}


def views_from_states(states: Iterable[ObligationState]) -> list[ObligationView]:
    """The stored states as the engine's views (status as last worked out), with their fulfilments; the
    law's text is left out (it is the rule version's, read with `obligations_on`). A fixed number of queries."""
    states = list(states)
    fulfilments = fulfilments_for(states)
    return [
        ObligationView(
            subject=s.subject_ref, subject_kind=s.subject_kind, organisation=s.organisation, regime=s.regime,
            obligation=s.obligation, occurrence=s.occurrence, title=s.title, citation=s.citation, quote="",
            provenance="", due_on=s.due_on, due_reason=s.due_reason, status=s.status,
            fulfilments=fulfilments.get(_key(s.subject_ref, s.regime, s.obligation, s.occurrence), ()),
            determination_id=s.determination_id, rule_version_label=s.rule_version_label,
        )
        for s in states
    ]


def calendar_order(view: ObligationView) -> tuple[Any, ...]:
    """Overdue first, then by due date (none last), subject, regime, obligation, occurrence."""
    return (view.status != ObligationStatus.OVERDUE, view.due_on or date.max, view.subject, view.regime,
            view.obligation, view.occurrence)


def obligations_on(*, as_of: date, subject_refs: list[str] | None = None, regimes: list[str] | None = None,
                   organisation: str | None = None, statuses: Iterable[str] | None = None,
                   due_before: date | None = None) -> list[ObligationView]:
    """Each obligation's status on `as_of`, worked out from the decision log's determinations as of that
    date and the fulfilments, reviews and incidents recorded; overdue first, then by due date."""
    views = obligations_as_of(as_of=as_of, subject_refs=subject_refs, regimes=regimes, organisation=organisation)
    if statuses:
        wanted = set(statuses)
        views = [v for v in views if v.status in wanted]
    if due_before is not None:
        views = [v for v in views if v.due_on is not None and v.due_on <= due_before]
    return sorted(views, key=calendar_order)
