"""The audit trail of what other apps change: registry submissions and revisions, rule publications.

Each receiver runs inside the sender's transaction, or adds its rows to the sender's batch of new rows
(`registry.batch`, written in one statement), so the change and its audit event are kept or rolled
back together.
"""
from __future__ import annotations

from typing import Any

from .models import AuditAction, AuditEvent


def audit_subjects_changed(
    sender: Any, *, subjects: list[str], actor: Any = None, via: str = "", outcomes: dict[str, str] | None = None,
    batch: Any = None, **kwargs: Any,
) -> None:
    """One event per record a submission (API, import, admin) created or revised: written with the
    submission's batch of new rows when it has one (`registry.signals`)."""
    outcomes = outcomes or {}
    who = actor if getattr(actor, "pk", None) else None
    events = [
        AuditEvent(
            actor=who,
            action=AuditAction.RECORD_CREATED if outcomes.get(ref) == "created" else AuditAction.RECORD_REVISED,
            subject=ref,
            detail={"via": via},
        )
        for ref in subjects
    ]
    if batch is None:
        AuditEvent.objects.bulk_create(events)
    else:
        for event in events:
            batch.add(event)


def audit_rule_version_published(sender: Any, *, version: Any, actor: Any = None, **kwargs: Any) -> None:
    AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=AuditAction.RULE_VERSION_PUBLISHED,
        subject=f"rule_version:{version.regime}@{version.version_id}",
        detail={"sha256": version.content_sha256, "id": version.pk},
    )


def audit_obligation_record(sender: Any, *, record: Any, actor: Any = None, via: str = "", **kwargs: Any) -> None:
    """One event per fulfilment, review of a fulfilment or incident recorded, in its transaction."""
    from obligations.models import Fulfilment, FulfilmentReview

    if isinstance(record, FulfilmentReview):
        action, subject = AuditAction.FULFILMENT_REVIEWED, record.fulfilment.subject_ref
        detail = {"fulfilment": record.fulfilment_id, "decision": record.decision, "reason": record.reason}
    elif isinstance(record, Fulfilment):
        action, subject = AuditAction.FULFILMENT_RECORDED, record.subject_ref
        detail = {"fulfilment": record.pk, "regime": record.regime, "obligation": record.obligation,
                  "occurrence": record.occurrence, "fulfilled_on": record.fulfilled_on.isoformat(),
                  "reference": record.reference, "document_sha256": record.document_sha256}
    else:
        action, subject = AuditAction.INCIDENT_RECORDED, record.subject_ref
        detail = {"incident": record.pk, "discovered_on": record.discovered_on.isoformat(),
                  "severity": record.severity}
    detail["via"] = via
    AuditEvent.objects.create(actor=actor if getattr(actor, "pk", None) else None, action=action,
                              subject=subject, detail=detail)
