"""The audit trail: one typed event per security- or record-relevant action, written in the
caller's transaction so an action and its event stand or fall together."""
from __future__ import annotations

from typing import Any

from .models import AuditAction, AuditEvent


def record(*, action: AuditAction, actor: Any = None, subject: str = "", detail: dict[str, Any] | None = None) -> AuditEvent:
    """Appends an audit event; `actor` is the user who acted (None for the command line or the system)."""
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        subject=subject,
        detail=detail or {},
    )
