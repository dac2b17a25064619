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


class OrganisationModelCount(models.Model):
    """How many models an organisation has, for REGISTRY_MAX_MODELS_PER_ORGANISATION: read in one
    indexed lookup with a submission's checks, where counting the organisation's models would cost
    a step per model it has. Kept by the database itself, by triggers on the models' table
    (migration registry.0008): every insert, delete or move of a model row counts, whichever code
    or statement makes it (the ORM, a batch, COPY, raw SQL). No Python code changes a count: a
    document of several organisations' models only takes their rows first, in order
    (`registry.services._lock_model_counts`), inserting one at 0 where none is stored yet.

    On PostgreSQL the count's row is locked until commit by a transaction that adds or removes one
    of the organisation's models: an organisation's submissions are written one after the other
    (a lab's single statements commit at once; an import of its models holds the row to its commit)."""

    organisation = models.OneToOneField(Organisation, primary_key=True, on_delete=models.CASCADE,
                                        related_name="model_count")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "organisation's model count"

    def __str__(self) -> str:
        return f"{self.organisation_id}: {self.count} models"


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
