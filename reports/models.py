"""Generated reports kept as files with their SHA-256, so what was handed out can be checked later."""
from __future__ import annotations

from django.conf import settings
from django.db import models


class ReportKind(models.TextChoices):
    AUDIT = "audit", "Audit report"
    REGISTRY = "registry", "Registry report"
    CHANGES = "changes", "Change report"
    EXPORT = "export", "Determinations export"
    OBLIGATIONS = "obligations", "Compliance calendar (obligations)"


class ReportFormat(models.TextChoices):
    HTML = "html", "HTML"
    PDF = "pdf", "PDF"
    CSV = "csv", "CSV"
    JSON = "json", "JSON"


class ArtifactStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ReportArtifact(models.Model):
    kind = models.CharField(max_length=16, choices=ReportKind.choices)
    format = models.CharField(max_length=8, choices=ReportFormat.choices)
    parameters = models.JSONField(default=dict, help_text="What was asked for: subject, as-of date, filters.")
    file = models.FileField(upload_to="reports/", blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=ArtifactStatus.choices, default=ArtifactStatus.PENDING)
    error = models.TextField(blank=True)
    notes = models.JSONField(default=list, blank=True, help_text="What generation did first, e.g. runs recorded.")
    run = models.ForeignKey(
        "rules.EvaluationRun", null=True, blank=True, on_delete=models.PROTECT, related_name="report_artifacts"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "report"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.format})"

    @property
    def filename(self) -> str:
        return self.file.name.rsplit("/", 1)[-1] if self.file else ""
