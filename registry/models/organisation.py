"""Organisations: the labs and cluster operators whose models and clusters are registered."""
from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q

from ..names import SKELETON_MAX, name_skeleton
from .base import RevisionBase


class Organisation(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200, unique=True)
    name_skeleton = models.CharField(
        max_length=SKELETON_MAX, blank=True, editable=False,
        help_text="The name as it reads (registry.names): a new name with the skeleton of another organisation's is refused.",
    )
    country = models.CharField(max_length=8, blank=True, help_text="ISO 3166 code, or EU.")
    annual_revenue_usd = models.FloatField(
        null=True, blank=True, help_text="Annual gross revenue with affiliates, in US dollars."
    )
    revenue_year = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The calendar year the revenue is for."
    )
    source = models.TextField(blank=True)
    revision = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        indexes = [models.Index(fields=["name_skeleton"], name="organisation_name_skeleton")]
        constraints = [
            models.CheckConstraint(
                condition=Q(annual_revenue_usd__isnull=True) | Q(annual_revenue_usd__gte=0),
                name="organisation_revenue_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.name_skeleton = name_skeleton(self.name)
        super().save(*args, **kwargs)

    @property
    def subject_ref(self) -> str:
        return f"organisation:{self.slug}"


class OrganisationRevision(RevisionBase):
    # no index of its own: organisation_revision_unique leads with it
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="revisions",
                                     db_index=False)

    class Meta(RevisionBase.Meta):
        constraints = [
            models.UniqueConstraint(fields=["organisation", "number"], name="organisation_revision_unique")
        ]

    def __str__(self) -> str:
        return f"{self.organisation.slug} r{self.number}"
