"""Who may do what through the API: each user's role, their bearer tokens, and the audit trail."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Role(models.TextChoices):
    LAB = "lab", "Lab member"
    REGULATOR = "regulator", "Regulator"


class AuditAction(models.TextChoices):
    """What an audit event records."""

    TOKEN_ISSUED = "token.issued", "API token issued"
    TOKEN_REVOKED = "token.revoked", "API token revoked"
    ROLE_CHANGED = "role.changed", "Role changed"
    RECORD_CREATED = "record.created", "Record created"  # a registry record's first revision: submission, import or admin
    RECORD_REVISED = "record.revised", "Record revised"  # a later revision
    RULE_VERSION_PUBLISHED = "rule_version.published", "Rule version published"
    # a user's groups, permissions, staff or superuser status
    PRIVILEGES_CHANGED = "user.privileges_changed", "User privileges changed"
    GROUP_PERMISSIONS_CHANGED = "group.permissions_changed", "Group permissions changed"
    FULFILMENT_RECORDED = "fulfilment.recorded", "Fulfilment of an obligation recorded"
    FULFILMENT_REVIEWED = "fulfilment.reviewed", "Fulfilment accepted or rejected"
    INCIDENT_RECORDED = "incident.recorded", "Incident recorded"


class Membership(models.Model):
    """A user's role: a lab member belongs to one organisation; a regulator to none (reads all)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    role = models.CharField(max_length=16, choices=Role.choices)
    organisation = models.ForeignKey(
        "registry.Organisation", null=True, blank=True, on_delete=models.PROTECT, related_name="members"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(role="lab") & Q(organisation__isnull=False))
                | (Q(role="regulator") & Q(organisation__isnull=True)),
                name="membership_lab_has_organisation_regulator_none",
            ),
        ]

    def __str__(self) -> str:
        where = f" of {self.organisation.slug}" if self.organisation_id else ""
        return f"{self.user} ({self.get_role_display()}{where})"


class ApiToken(models.Model):
    """A bearer token: shown once when issued; only its SHA-256 is kept. Revoked, never deleted."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    key_prefix = models.CharField(max_length=8, db_index=True, help_text="The token's first 8 characters.")
    key_sha256 = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        state = " (revoked)" if self.revoked_at else ""
        return f"{self.key_prefix}… of {self.user}{state}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AuditEvent(models.Model):
    """One security- or record-relevant action: who, what, on which subject, when."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Indexed for equality (the admin's filter by action, a subject's events) in `Meta.indexes`: a field's
    # own db_index would add, on PostgreSQL, a second pattern-matching index that no query uses (the
    # admin's search is case-insensitive) and that every event appended pays for.
    action = models.CharField(max_length=64, choices=AuditAction.choices)
    subject = models.CharField(max_length=500, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["action"], name="auditevent_action"),
                   models.Index(fields=["subject"], name="auditevent_subject")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.subject}"
