"""The audit trail: one typed event per security- or record-relevant action, written in the
caller's transaction so an action and its event stand or fall together."""
from __future__ import annotations

from typing import Any

from .models import AuditEvent

TOKEN_ISSUED = "token.issued"
TOKEN_REVOKED = "token.revoked"
ROLE_CHANGED = "role.changed"
RECORD_CREATED = "record.created"  # a registry record's first revision: submission, import or admin
RECORD_REVISED = "record.revised"  # a later revision
RULE_VERSION_PUBLISHED = "rule_version.published"
PRIVILEGES_CHANGED = "user.privileges_changed"  # a user's groups, permissions, staff or superuser status
GROUP_PERMISSIONS_CHANGED = "group.permissions_changed"


def record(*, action: str, actor: Any = None, subject: str = "", detail: dict[str, Any] | None = None) -> AuditEvent:
    """Appends an audit event; `actor` is the user who acted (None for the command line or the system)."""
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        subject=subject,
        detail=detail or {},
    )
