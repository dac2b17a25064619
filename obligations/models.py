"""Obligations: what a covered subject must do, by when, and whether it has.

A rule version declares its obligations (id, tier or test they attach to, citation, quoted text and
a due rule). What is stored here is what people record about them and what the registry works out:

- `Fulfilment`: a lab's statement that it met an obligation (for a recurring obligation, one
  occurrence of it), on a date, with a reference and optionally a document kept with its SHA-256;
- `FulfilmentReview`: a regulator's acceptance or rejection of a fulfilment, with the reason;
- `Incident`: an incident a lab discovered (the dated fact incident-report obligations run from);
- `ObligationState`: each obligation's status as last worked out (the lists, filters and the
  dashboard read it); it is brought up to date by every evaluation and the nightly run;
- `ObligationStatusChange`: each change of an obligation's status (due -> overdue, ...), appended
  like a determination's status change;
- `Reminder`: each reminder sent, so none is sent twice.

Records people make are never changed or deleted: a fulfilment recorded in error is rejected by a
regulator's review, and a later review of the same fulfilment is a new row (the latest counts).
"""
from __future__ import annotations

from datetime import date
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Case, IntegerField, Q, Value, When

from registry.models import AIModel, Cluster, Organisation
from registry.models.base import SubmissionChannel
from registry.models.designation import ImmutableRecord
from rules.engine.vocabulary import OBLIGATION_STATUS_CHOICES, ObligationStatus

SUBJECT_KIND_CHOICES = [(k, k) for k in ("model", "cluster", "organisation")]


class SubjectRecord(models.Model):
    """A record about one subject of the registry: a model, a cluster or an organisation."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+",
        help_text="The subject's organisation (the subject itself when it is an organisation).",
    )
    subject_kind = models.CharField(max_length=16, choices=SUBJECT_KIND_CHOICES)
    model = models.ForeignKey(AIModel, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    cluster = models.ForeignKey(Cluster, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        abstract = True

    @property
    def subject(self) -> AIModel | Cluster | Organisation:
        if self.subject_kind == "model":
            return self.model  # type: ignore[return-value]
        return self.cluster if self.subject_kind == "cluster" else self.organisation  # type: ignore[return-value]

    @property
    def subject_ref(self) -> str:
        return self.subject.subject_ref  # type: ignore[union-attr]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableRecord(f"a {self._meta.verbose_name} is a record: it is never changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ImmutableRecord(f"a {self._meta.verbose_name} is a record: it is never deleted")


# `ObligationState.changes_on` of a state to work out again at the next refresh, whatever the date: a
# record about its subject was made (`obligations.recording`), another refresh wrote it while one worked
# out its views (`obligations.services.refresh_states`), or it was stored before the field was
REFRESH_NEXT = date.min


def overdue_first() -> Case:
    """0 for an overdue obligation, 1 for the others: the lists put overdue obligations first, then
    order by due date. One expression for the lists and their index, which PostgreSQL uses only
    when the query's expression is the index's."""
    return Case(When(status=ObligationStatus.OVERDUE, then=Value(0)), default=Value(1), output_field=IntegerField())


def _one_subject(prefix: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=(Q(subject_kind="model", model__isnull=False, cluster__isnull=True)
                   | Q(subject_kind="cluster", model__isnull=True, cluster__isnull=False)
                   | Q(subject_kind="organisation", model__isnull=True, cluster__isnull=True)),
        name=f"{prefix}_one_subject",
    )


class IncidentSeverity(models.TextChoices):
    SERIOUS = "serious", "Serious incident"
    CRITICAL = "critical", "Critical safety incident"
    IMMINENT_RISK = "imminent_risk", "Imminent risk of death or serious physical injury"


class Incident(SubjectRecord):
    """An incident a lab discovered: the dated fact an incident report's due date runs from."""

    discovered_on = models.DateField(help_text="The date the incident was discovered.")
    severity = models.CharField(max_length=16, choices=IncidentSeverity.choices)
    summary = models.CharField(max_length=400, help_text="What happened, in a sentence or two.")
    reference = models.CharField(max_length=200, blank=True, help_text="The lab's own reference for it.")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    recorded_via = models.CharField(max_length=16, choices=SubmissionChannel.choices)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["discovered_on", "pk"]
        constraints = [_one_subject("incident")]
        indexes = [models.Index(fields=["organisation", "discovered_on"], name="incident_org_discovered")]

    def __str__(self) -> str:
        return f"{self.get_severity_display()} discovered {self.discovered_on} ({self.subject_ref})"


class Fulfilment(SubjectRecord):
    """A statement that a subject met one obligation (one occurrence of a recurring one) on a date."""

    regime = models.SlugField(max_length=64)
    obligation = models.SlugField(max_length=64, help_text="The obligation's id in the rule version.")
    occurrence = models.CharField(
        max_length=64, blank=True,
        help_text="Which occurrence of a recurring or incident-driven obligation: a period such as 2027-Q1, "
                  "or incident-N where N is the incident's number; empty for a one-off obligation.",
    )
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.PROTECT, related_name="reports")
    fulfilled_on = models.DateField(help_text="The date the obligation was met (never after the day it is recorded).")
    reference = models.CharField(max_length=200, help_text="The filing's reference, e.g. a submission number.")
    document = models.FileField(upload_to="fulfilments/%Y/%m/", blank=True, max_length=300)
    document_name = models.CharField(max_length=200, blank=True, help_text="The uploaded file's own name.")
    document_sha256 = models.CharField(max_length=64, blank=True)
    document_size = models.PositiveBigIntegerField(null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    recorded_via = models.CharField(max_length=16, choices=SubmissionChannel.choices)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["fulfilled_on", "pk"]
        constraints = [
            _one_subject("fulfilment"),
            models.CheckConstraint(condition=Q(document="") | ~Q(document_sha256=""), name="fulfilment_document_hashed"),
        ]
        indexes = [
            models.Index(fields=["organisation", "regime", "obligation"], name="fulfilment_org_obligation"),
        ]

    def __str__(self) -> str:
        occurrence = f" {self.occurrence}" if self.occurrence else ""
        return f"{self.regime}:{self.obligation}{occurrence} fulfilled {self.fulfilled_on} ({self.reference})"


class ReviewDecision(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class FulfilmentReview(models.Model):
    """A regulator's decision on a fulfilment. The latest review of a fulfilment counts; none is changed."""

    fulfilment = models.ForeignKey(Fulfilment, on_delete=models.PROTECT, related_name="reviews")
    decision = models.CharField(max_length=16, choices=ReviewDecision.choices)
    reason = models.CharField(max_length=400)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    reviewed_via = models.CharField(max_length=16, choices=SubmissionChannel.choices)
    reviewed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["reviewed_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_decision_display()}: {self.fulfilment} ({self.reason})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableRecord("a review is a record: a later review supersedes it, it is never changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ImmutableRecord("a review is a record: it is never deleted")


class ObligationState(models.Model):
    """One obligation of one subject (one occurrence of a recurring one) as last worked out: its status,
    its due date and how that was computed, and the determination that created it, as found on `as_of`
    (a later refresh that finds the same leaves the row, and `as_of`, alone)."""

    subject_ref = models.CharField(max_length=500)
    subject_kind = models.CharField(max_length=16, choices=SUBJECT_KIND_CHOICES)
    # found through the indexes below (organisation, then regime, each with the status): a slug's own
    # index, and the pattern index Django adds beside it, would only be kept up to date
    organisation = models.SlugField(max_length=64, db_index=False)
    regime = models.SlugField(max_length=64, db_index=False)
    obligation = models.SlugField(max_length=64, db_index=False)
    occurrence = models.CharField(max_length=64, blank=True)
    title = models.CharField(max_length=300)
    citation = models.CharField(max_length=200)
    rule_version_label = models.CharField(max_length=64, blank=True)
    due_on = models.DateField(null=True, blank=True)
    due_reason = models.CharField(max_length=400, blank=True)
    status = models.CharField(max_length=16, choices=OBLIGATION_STATUS_CHOICES)
    as_of = models.DateField(help_text="The date the status, due date or reason was last found changed: a refresh "
                                       "that finds them as they were leaves the row alone.")
    determination = models.ForeignKey(
        "rules.Determination", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        db_index=False, help_text="The determination that created the obligation.",
    )
    changes_on = models.DateField(
        null=True, blank=True,
        help_text="The first day on which the state may read differently while the determination, the subject's "
                  "facts and the records about it stay as they are (a period arising, a due date passing, a new "
                  "quarter); empty when the date alone never changes it. The nightly refresh works out again only "
                  "the subjects with a state changing by then or something new about them.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_on", "subject_ref", "regime", "obligation", "occurrence"]
        constraints = [
            models.UniqueConstraint(fields=["subject_ref", "regime", "obligation", "occurrence"],
                                    name="obligation_state_unique"),
        ]
        indexes = [
            # the lists' order (overdue first, then by due date; `obligations.listing`), so a page of
            # half a million states is read from its head, not sorted whole
            models.Index(overdue_first(), "due_on", "subject_ref", "regime", "obligation", "occurrence",
                         name="obligation_state_listed"),
            models.Index(fields=["status", "due_on"], name="obligation_state_status_due"),
            models.Index(fields=["organisation", "status"], name="obligation_state_org_status"),
            models.Index(fields=["regime", "status"], name="obligation_state_regime"),
            # the nightly refresh's states changing by today
            models.Index(fields=["changes_on"], name="obligation_state_changes_on"),
        ]

    def __str__(self) -> str:
        return f"{self.subject_ref} {self.regime}:{self.obligation} {self.status}"


class ObligationStatusChange(models.Model):
    """A change of one obligation's status, appended when an evaluation or the nightly run finds it."""

    subject_ref = models.CharField(max_length=500)
    # read by subject (`obligation_change_subject`) or by status (`obligation_change_to_status`), not by
    # these alone: no index of their own
    organisation = models.SlugField(max_length=64, db_index=False)
    regime = models.SlugField(max_length=64, db_index=False)
    obligation = models.SlugField(max_length=64, db_index=False)
    occurrence = models.CharField(max_length=64, blank=True)
    from_status = models.CharField(max_length=16, choices=OBLIGATION_STATUS_CHOICES, blank=True,
                                   help_text="Empty when the obligation first arose.")
    to_status = models.CharField(max_length=16, choices=OBLIGATION_STATUS_CHOICES)
    due_on = models.DateField(null=True, blank=True)
    as_of = models.DateField()
    run = models.ForeignKey("rules.EvaluationRun", null=True, blank=True, on_delete=models.PROTECT,
                            related_name="obligation_changes", db_index=False)
    determination = models.ForeignKey("rules.Determination", null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="+", db_index=False)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["recorded_at", "pk"]
        indexes = [
            models.Index(fields=["subject_ref", "regime", "obligation"], name="obligation_change_subject"),
            models.Index(fields=["to_status", "as_of"], name="obligation_change_to_status"),
        ]

    def __str__(self) -> str:
        return f"{self.subject_ref} {self.regime}:{self.obligation} {self.from_status or '-'} -> {self.to_status}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableRecord("an obligation's status change is a record: it is never changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ImmutableRecord("an obligation's status change is a record: it is never deleted")


class ReminderKind(models.TextChoices):
    DUE_SOON = "due_soon", "Due within 14 days (to the lab)"
    OVERDUE = "overdue", "Newly overdue (to regulators)"


class Reminder(models.Model):
    """A reminder sent: one per obligation occurrence, kind and recipient, never twice."""

    subject_ref = models.CharField(max_length=500)
    regime = models.SlugField(max_length=64)
    obligation = models.SlugField(max_length=64)
    occurrence = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=16, choices=ReminderKind.choices)
    due_on = models.DateField(null=True, blank=True)
    recipient = models.EmailField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sent_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["subject_ref", "regime", "obligation", "occurrence", "kind", "recipient"],
                name="reminder_once",
            ),
        ]
