"""Designations: a regulator's decision of record about a subject (the Commission's designation of a
GPAI model with systemic risk, its acceptance of a provider's rebuttal, a covered frontier model under
EO 14409), with its date and reference. Labs never submit them.

A designation is never changed or deleted. One recorded in error is corrected by a withdrawal: a
second row that names it, says why, and who recorded it when. A withdrawn designation no longer
counts for any date; both rows stay, so the history of what the registry held is kept.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from ..designation_kinds import DesignationKind
from .aimodel import AIModel
from .base import SubmissionChannel
from .cluster import Cluster
from .organisation import Organisation


class ImmutableRecord(Exception):
    """A decision of record was about to be changed or deleted."""


class Designation(models.Model):
    """One decision of record about one subject: a model, a cluster or an organisation."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="designations",
        help_text="The subject's organisation (the subject itself when it is an organisation).",
    )
    subject_kind = models.CharField(max_length=16, choices=[(k, k) for k in ("model", "cluster", "organisation")])
    model = models.ForeignKey(AIModel, null=True, blank=True, on_delete=models.PROTECT, related_name="designations")
    cluster = models.ForeignKey(Cluster, null=True, blank=True, on_delete=models.PROTECT, related_name="designations")
    regime = models.CharField(max_length=64, help_text="The regime slug the decision is taken under.")
    kind = models.CharField(max_length=32, choices=DesignationKind.choices)
    decided_on = models.DateField(help_text="The date of the decision; it takes effect from this date.")
    reference = models.CharField(max_length=200, help_text="The decision's reference, e.g. C(2026) 1234.")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    recorded_via = models.CharField(max_length=16, choices=SubmissionChannel.choices)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["decided_on", "pk"]
        indexes = [models.Index(fields=["model"], name="designation_model"),
                   models.Index(fields=["organisation", "subject_kind"], name="designation_org_kind")]
        constraints = [
            models.CheckConstraint(
                condition=(Q(subject_kind="model", model__isnull=False, cluster__isnull=True)
                           | Q(subject_kind="cluster", model__isnull=True, cluster__isnull=False)
                           | Q(subject_kind="organisation", model__isnull=True, cluster__isnull=True)),
                name="designation_one_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.subject_ref} ({self.regime}, {self.decided_on}, {self.reference})"

    @property
    def subject(self) -> AIModel | Cluster | Organisation:
        return self.model if self.subject_kind == "model" else self.cluster if self.subject_kind == "cluster" else self.organisation

    @property
    def subject_ref(self) -> str:
        return self.subject.subject_ref  # type: ignore[union-attr]

    def facts(self) -> dict[str, Any]:
        """The designation as the interchange format and snapshots write it."""
        return {"subject": self.subject_ref, "regime": self.regime, "kind": self.kind,
                "decided_on": self.decided_on.isoformat(), "reference": self.reference}

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableRecord("a designation is a decision of record: withdraw it and record another")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ImmutableRecord("a designation is a decision of record: withdraw it instead of deleting it")


class DesignationWithdrawal(models.Model):
    """The correction of a designation recorded in error: from now on it counts for no date."""

    designation = models.OneToOneField(Designation, on_delete=models.PROTECT, related_name="withdrawal")
    reason = models.CharField(max_length=400)
    withdrawn_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    withdrawn_via = models.CharField(max_length=16, choices=SubmissionChannel.choices)
    withdrawn_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"withdrawal of {self.designation}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableRecord("a withdrawal is a record: it is never changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ImmutableRecord("a withdrawal is a record: it is never deleted")
