"""Reports in the admin: the stored files with their SHA-256, a download link, and a build action."""
from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.urls import path, reverse
from django.utils.html import format_html

from reports import services, views
from reports.models import ArtifactStatus, ReportArtifact


@admin.register(ReportArtifact)
class ReportArtifactAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "format", "described", "status", "size", "short_sha256", "created_at", "download_link")
    list_filter = ("kind", "format", "status")
    search_fields = ("sha256",)
    list_select_related = ("requested_by",)
    readonly_fields = ("kind", "format", "parameters", "status", "error", "notes", "file", "sha256", "size", "run",
                       "requested_by", "created_at", "finished_at", "download_link")
    actions = ["build_now"]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list:
        download = self.admin_site.admin_view(views.download)
        return [path("<int:artifact_id>/download/", download, name="reports_reportartifact_download"),
                *super().get_urls()]

    @admin.display(description="Parameters")
    def described(self, obj: ReportArtifact) -> str:
        return ", ".join(f"{key} {value}" for key, value in obj.parameters.items() if key != "generated_at") or "—"

    @admin.display(description="SHA-256")
    def short_sha256(self, obj: ReportArtifact) -> str:
        return obj.sha256[:16] + "…" if obj.sha256 else "—"

    @admin.display(description="Download")
    def download_link(self, obj: ReportArtifact) -> str:
        if obj.status != ArtifactStatus.DONE or not obj.file:
            return "—"
        url = reverse("admin:reports_reportartifact_download", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.filename)

    @admin.action(description="Build the selected pending or failed reports now")
    def build_now(self, request: Any, queryset: Any) -> None:
        built = 0
        for artifact in queryset.exclude(status=ArtifactStatus.DONE):
            result = services.artifact_build(artifact_id=artifact.pk)
            built += result.status == ArtifactStatus.DONE
        self.message_user(request, f"{built} report(s) built.", messages.SUCCESS)
