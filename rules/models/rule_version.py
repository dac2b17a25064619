"""Rule versions of record: a regime's cited YAML, identified by its content hash.

Published versions come from `rules/library` (synchronised by `migrate`) or from a regulator's
publication of a draft; a published version is never changed, only superseded by a later one.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class RuleVersionState(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"


class RuleVersion(models.Model):
    regime = models.SlugField(max_length=64)
    regime_title = models.CharField(max_length=300)
    version_id = models.CharField(max_length=64)
    title = models.CharField(max_length=300, blank=True)
    legal_status = models.CharField(max_length=32)
    effective_from = models.DateField(null=True, blank=True)
    effective_to = models.DateField(null=True, blank=True, help_text="First day no longer in force.")
    last_verified_on = models.DateField(null=True, blank=True)
    provenance = models.CharField(max_length=32, blank=True)
    content = models.TextField(help_text="The rule file (YAML), exactly as published or drafted.")
    content_sha256 = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=RuleVersionState.choices, default=RuleVersionState.DRAFT)
    origin = models.CharField(max_length=300, help_text="The library file, or who uploaded it.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["regime", "effective_from", "version_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["regime", "version_id"],
                condition=models.Q(state="published"),
                name="rule_version_published_id_unique",
            ),
            models.UniqueConstraint(
                fields=["content_sha256"],
                condition=models.Q(state="published"),
                name="rule_version_published_hash_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.regime}@{self.version_id}" + ("" if self.is_published else " (draft)")

    @property
    def is_published(self) -> bool:
        return self.state == RuleVersionState.PUBLISHED

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            stored = type(self).objects.filter(pk=self.pk).values("state", "content_sha256").first()
            if stored and stored["state"] == RuleVersionState.PUBLISHED:
                raise ValueError(f"{self}: a published rule version is immutable; draft a new version instead")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        if self.is_published:
            raise ValueError(f"{self}: a published rule version is never deleted")
        return super().delete(*args, **kwargs)
