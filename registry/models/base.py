"""What every revisioned registry record shares: its history is kept, never overwritten."""
from __future__ import annotations

from django.conf import settings
from django.db import models

from ..facts import FactsDecoder


class SubmissionChannel(models.TextChoices):
    IMPORT = "import", "Import"
    API = "api", "API"
    ADMIN = "admin", "Admin"
    DEMO = "demo", "Demo data"


class RevisionBase(models.Model):
    """One submitted state of a record: the interchange facts as submitted, who, when, what changed."""

    number = models.PositiveIntegerField()
    facts = models.JSONField(decoder=FactsDecoder, help_text="The record in the interchange format, as submitted.")
    facts_sha256 = models.CharField(max_length=64)
    changed_fields = models.JSONField(
        default=dict,
        decoder=FactsDecoder, help_text="Field → [before, after] against the previous revision."
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submitted_via = models.CharField(max_length=16, choices=SubmissionChannel.choices)
    submitted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["number"]
