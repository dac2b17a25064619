"""Evaluation runs (a submission's, a publication's, the nightly one), their chunks, the status
changes they found, and the outbox that keeps a submission's evaluation when the broker is down."""
from __future__ import annotations

from django.conf import settings
from django.db import models

from rules.engine.vocabulary import STATUS_CHOICES


class Trigger(models.TextChoices):
    """What started an evaluation: a run's kind, and so the trigger of every determination it records."""

    SUBMISSION = "submission", "Submission"
    PUBLICATION = "publication", "Rule version published"
    SCHEDULE = "schedule", "Scheduled re-evaluation"
    MANUAL = "manual", "Requested re-evaluation"



class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"
    FAILED = "failed", "Failed"


class EvaluationRun(models.Model):
    kind = models.CharField(max_length=16, choices=Trigger.choices)
    as_of = models.DateField()
    regimes = models.JSONField(default=list, help_text="Regime slugs evaluated; empty means every regime.")
    subjects = models.JSONField(null=True, blank=True, help_text="Subject refs; null means the whole registry.")
    rule_version = models.ForeignKey(
        "rules.RuleVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="runs"
    )
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING)
    total = models.PositiveIntegerField(default=0, help_text="Subjects to evaluate.")
    done = models.PositiveIntegerField(default=0, help_text="Subjects evaluated.")
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    changes_count = models.PositiveIntegerField(default=0)
    previous_run = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    confirms = models.BooleanField(
        default=True,
        help_text="Whether a determination the run reaches again unchanged is confirmed (one record per chunk) "
                  "rather than appended anew.")
    log_sequence = models.BigIntegerField(
        null=True, blank=True,
        help_text="The decision log's length when the run finished: what the next scheduled run compares with.")
    engine_sha256 = models.CharField(
        "engine (SHA-256)", max_length=64, blank=True,
        help_text="The SHA-256 of the engine that evaluated the run (rules.reuse.engine_sha256): a later run "
                  "confirms the run's determinations without evaluating them again only under the same engine.")
    reused = models.PositiveIntegerField(
        "confirmed without evaluating again", default=0,
        help_text="Determinations confirmed without evaluating their subject again: the same facts, rule version "
                  "and engine on a date the facts cannot tell from the determination's (rules.reuse).")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "evaluation run"

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.get_kind_display()}, as of {self.as_of})"

    @property
    def progress_percent(self) -> float:
        return 100.0 if self.total == 0 and self.status == RunStatus.FINISHED else (
            round(100.0 * self.done / self.total, 1) if self.total else 0.0
        )


class RunChunk(models.Model):
    """A slice of a run's subjects: evaluated in one transaction, so a retried chunk writes once."""

    run = models.ForeignKey(EvaluationRun, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    subjects = models.JSONField()
    organisations = models.JSONField(
        default=dict, blank=True,
        help_text="Organisation slug → how many of the chunk's subjects are its own (a lab's share of a run's progress).")
    done = models.BooleanField(default=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="run_chunk_unique")]


class StatusChange(models.Model):
    run = models.ForeignKey(EvaluationRun, on_delete=models.CASCADE, related_name="changes")
    subject_ref = models.CharField(max_length=500)
    organisation = models.SlugField(max_length=64)
    regime = models.SlugField(max_length=64)
    from_status = models.CharField(max_length=16, choices=STATUS_CHOICES)
    to_status = models.CharField(max_length=16, choices=STATUS_CHOICES)
    from_tier = models.CharField(max_length=64, blank=True, help_text="The tier reached before, if any.")
    to_tier = models.CharField(max_length=64, blank=True, help_text="The tier reached now, if any.")
    flipped_tests = models.JSONField(default=list, help_text="[{id, from, to}] for each test whose outcome changed.")
    from_determination = models.ForeignKey(
        "rules.Determination", on_delete=models.PROTECT, related_name="+"
    )
    to_determination = models.ForeignKey("rules.Determination", on_delete=models.PROTECT, related_name="+")
    from_rule_version = models.CharField(max_length=140, blank=True)
    to_rule_version = models.CharField(max_length=140, blank=True)

    class Meta:
        ordering = ["run", "subject_ref", "regime"]
        constraints = [
            models.UniqueConstraint(fields=["run", "subject_ref", "regime"], name="status_change_unique")
        ]


class PendingEvaluation(models.Model):
    """The outbox: written with the submission, cleared once its evaluation is recorded. A row keeps
    its record by kind and id (its reference is kept for people to read, never parsed back); a row
    whose evaluation failed keeps the error and is left out of the sweep."""

    subject_ref = models.CharField(max_length=500)
    subject_kind = models.CharField(max_length=16, blank=True, help_text="model, cluster or organisation.")
    record_id = models.PositiveBigIntegerField(null=True, blank=True, help_text="The record's primary key.")
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.SUBMISSION)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    failed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why its evaluation failed, if it did.")

    class Meta:
        ordering = ["created_at", "id"]
