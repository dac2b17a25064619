"""Obligation states and fulfilments as the obligations engine and a lab would record them, for the
tests of the places people read them (the workspace, the API, the reports)."""
from __future__ import annotations

from datetime import date
from typing import Any

from obligations.models import Fulfilment, FulfilmentReview, ObligationState
from registry.models import AIModel

ART_53 = {
    "regime": "eu-ai-act", "obligation": "art-53-provider-obligations",
    "title": "Obligations for providers of general-purpose AI models",
    "citation": "Regulation (EU) 2024/1689, Art. 53(1)",
}
ART_55 = {
    "regime": "eu-ai-act", "obligation": "art-55-systemic-risk-obligations",
    "title": "Obligations for providers of general-purpose AI models with systemic risk",
    "citation": "Regulation (EU) 2024/1689, Art. 55(1)",
}
SB53_FRAMEWORK = {
    "regime": "us-ca-sb53", "obligation": "frontier-ai-framework",
    "title": "Frontier AI framework",
    "citation": "Cal. Bus. & Prof. Code § 22757.12(a)",
}


def obligation_state(*, subject: str, status: str, due_on: date | None, as_of: date, occurrence: str = "",
                     due_reason: str = "", **declared: Any) -> ObligationState:
    """One obligation's stored state (replacing one the obligations engine stored for it); `declared` is one
    of the dictionaries above (or its fields)."""
    fields = {**ART_53, **declared}
    organisation = subject.split(":", 1)[1].split("/", 1)[0]
    state, _ = ObligationState.objects.update_or_create(
        subject_ref=subject, regime=fields.pop("regime"), obligation=fields.pop("obligation"), occurrence=occurrence,
        defaults=dict(subject_kind=subject.split(":", 1)[0], organisation=organisation, due_on=due_on, status=status,
                      as_of=as_of, due_reason=due_reason or (f"due {due_on.isoformat()}" if due_on else "no due date"),
                      rule_version_label=fields.pop("rule_version_label", "2025-08-02"), **fields),
    )
    return state


def fulfilment(*, model: AIModel, regime: str, obligation: str, fulfilled_on: date, reference: str,
               review: tuple[str, str] | None = None, occurrence: str = "") -> Fulfilment:
    """A fulfilment of a model's obligation, reviewed (`("accepted"|"rejected", reason)`) if asked."""
    recorded = Fulfilment.objects.create(
        organisation=model.organisation, subject_kind="model", model=model, regime=regime, obligation=obligation,
        occurrence=occurrence, fulfilled_on=fulfilled_on, reference=reference, recorded_via="api",
    )
    if review is not None:
        FulfilmentReview.objects.create(fulfilment=recorded, decision=review[0], reason=review[1], reviewed_via="admin")
    return recorded
