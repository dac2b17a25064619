"""Obligations as people read them: the stored states filtered as the lists, the dashboard and the API
filter them (regime, status, organisation, due before, subject), each with its fulfilments (the
latest review's decision on each) and the law quoted from the rule version that declared it."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import yaml
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from rules.engine.vocabulary import ObligationStatus, obligation_status_label
from rules.models import RuleVersion

from .models import Fulfilment, ObligationState, ReviewDecision

DUE_SOON_DAYS = 14
OPEN_STATUSES = (ObligationStatus.DUE, ObligationStatus.NOT_YET_DUE)
OBLIGATION_STATUSES = tuple(status.value for status in ObligationStatus)


@dataclass(frozen=True)
class ObligationRow:
    """One obligation of one subject (one occurrence of a recurring one), with the names of the
    obligations engine's `ObligationView`."""

    subject: str
    subject_kind: str
    organisation: str
    regime: str
    obligation: str
    occurrence: str
    title: str
    citation: str
    due_on: date | None
    due_reason: str
    status: str
    quote: str = ""
    provenance: str = ""
    fulfilments: tuple[dict[str, Any], ...] = field(default=())
    determination_id: int | None = None
    rule_version_label: str = ""
    as_of: date | None = None

    @property
    def status_label(self) -> str:
        return obligation_status_label(self.status)

    def as_json(self) -> dict[str, Any]:
        """DESIGN.md "Obligations (v1)"'s object, plus where it came from."""
        return {
            "subject": self.subject,
            "regime": self.regime,
            "obligation": self.obligation,
            "occurrence": self.occurrence,
            "title": self.title,
            "citation": self.citation,
            "due_on": self.due_on.isoformat() if self.due_on else None,
            "due_reason": self.due_reason,
            "status": self.status,
            "fulfilments": [
                {"fulfilled_on": f["fulfilled_on"].isoformat() if isinstance(f["fulfilled_on"], date) else f["fulfilled_on"],
                 "reference": f["reference"], "accepted": f["accepted"]}
                for f in self.fulfilments
            ],
            "organisation": self.organisation,
            "rule_version": self.rule_version_label or None,
            "determination": self.determination_id,
        }


def overdue_first() -> Case:
    """Overdue obligations before the others, then by due date."""
    return Case(When(status=ObligationStatus.OVERDUE, then=Value(0)), default=Value(1), output_field=IntegerField())


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


def fulfilments_for(states: Iterable[Any]) -> dict[tuple[str, str, str, str], tuple[dict[str, Any], ...]]:
    """(subject, regime, obligation, occurrence) -> its fulfilments, each with the latest review's decision
    (`accepted`: True, False when rejected, None when not reviewed); two queries for any number of states."""
    states = list(states)
    if not states:
        return {}
    wanted = {_key(s.subject_ref, s.regime, s.obligation, s.occurrence) for s in states}
    condition = Q()
    for organisation, regime, obligation in {(s.organisation, s.regime, s.obligation) for s in states}:
        condition |= Q(organisation__slug=organisation, regime=regime, obligation=obligation)
    found: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    rows = (Fulfilment.objects.filter(condition)
            .select_related("organisation", "model__organisation", "cluster__organisation")
            .prefetch_related("reviews").order_by("fulfilled_on", "pk"))
    for row in rows:
        key = _key(row.subject_ref, row.regime, row.obligation, row.occurrence)
        if key not in wanted:
            continue
        reviews = sorted(row.reviews.all(), key=lambda review: (review.reviewed_at, review.pk))
        latest = reviews[-1] if reviews else None
        found[key].append({
            "id": row.pk, "fulfilled_on": row.fulfilled_on, "reference": row.reference,
            "accepted": None if latest is None else latest.decision == ReviewDecision.ACCEPTED,
            "reason": latest.reason if latest else "", "document_sha256": row.document_sha256,
        })
    return {key: tuple(value) for key, value in found.items()}


def declared_texts(labels: Iterable[str]) -> dict[tuple[str, str], dict[str, str]]:
    """(rule version label, obligation id) -> its `quote` and `provenance`, as the rule version declares them."""
    wanted = {label for label in labels if label and "@" in label}
    if not wanted:
        return {}
    condition = Q()
    for label in wanted:
        regime, version_id = label.split("@", 1)
        condition |= Q(regime=regime, version_id=version_id)
    texts: dict[tuple[str, str], dict[str, str]] = {}
    for regime, version_id, content in RuleVersion.objects.filter(condition).values_list("regime", "version_id", "content"):
        try:
            document = yaml.safe_load(content) or {}
        except yaml.YAMLError:
            continue
        for declared in (document.get("obligations") or []) if isinstance(document, dict) else []:
            if isinstance(declared, dict) and declared.get("id"):
                texts[(f"{regime}@{version_id}", str(declared["id"]))] = {
                    "quote": str(declared.get("quote") or "").strip(),
                    "provenance": str(declared.get("provenance") or "").strip(),
                }
    return texts


def rows_from_states(states: Iterable[ObligationState], *, with_quotes: bool = False) -> list[ObligationRow]:
    """The states as rows, with their fulfilments (and, if asked, the law quoted); a fixed number of queries."""
    states = list(states)
    fulfilments = fulfilments_for(states)
    texts = declared_texts(s.rule_version_label for s in states) if with_quotes else {}
    return [
        ObligationRow(
            subject=s.subject_ref, subject_kind=s.subject_kind, organisation=s.organisation, regime=s.regime,
            obligation=s.obligation, occurrence=s.occurrence, title=s.title, citation=s.citation, due_on=s.due_on,
            due_reason=s.due_reason, status=s.status,
            fulfilments=fulfilments.get(_key(s.subject_ref, s.regime, s.obligation, s.occurrence), ()),
            determination_id=s.determination_id, rule_version_label=s.rule_version_label, as_of=s.as_of,
            **texts.get((s.rule_version_label, s.obligation), {}),
        )
        for s in states
    ]


def _row_from_view(view: Any) -> ObligationRow:
    return ObligationRow(
        subject=view.subject, subject_kind=view.subject_kind, organisation=view.organisation, regime=view.regime,
        obligation=view.obligation, occurrence=view.occurrence, title=view.title, citation=view.citation,
        due_on=view.due_on, due_reason=view.due_reason, status=str(view.status), quote=view.quote or "",
        provenance=view.provenance or "", fulfilments=tuple(view.fulfilments),
        determination_id=view.determination_id, rule_version_label=view.rule_version_label or "",
    )


def obligations_on(*, as_of: date, subject_refs: list[str] | None = None, regimes: list[str] | None = None,
                   organisation: str | None = None) -> list[ObligationRow]:
    """Each obligation's status on `as_of`, worked out from the decision log's determinations as of that
    date and the fulfilments, reviews and incidents recorded (overdue first, then by due date)."""
    try:
        from .services import obligations_as_of
    except ImportError:  # the engine is not in place: the states as last worked out
        states = states_filtered(organisation=organisation, regimes=regimes)
        if subject_refs is not None:
            states = states.filter(subject_ref__in=subject_refs)
        return rows_from_states(states, with_quotes=True)
    views = obligations_as_of(as_of=as_of, subject_refs=subject_refs, regimes=regimes, organisation=organisation)
    rows = [_row_from_view(view) for view in views]
    return sorted(rows, key=lambda r: (r.status != ObligationStatus.OVERDUE, r.due_on or date.max, r.subject,
                                       r.regime, r.obligation, r.occurrence))
