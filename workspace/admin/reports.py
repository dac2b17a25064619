"""Reports in the admin: the stored files with their SHA-256, a download link, and a build action.
A lab member (should it hold the permission to view reports) sees its own subjects' audit reports
only, less those of subjects resting on another organisation's unreleased model; another report is a 404."""
from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html

from reports import services, views
from reports.models import ArtifactStatus, ReportArtifact
from reports.selectors import reports_of_organisation

from .scoping import scope_of, unreleased_of


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

    def get_queryset(self, request: Any) -> QuerySet:
        scope = scope_of(request.user)
        if scope.organisation_id is None:  # a regulator; anyone else goes by the permission, as before
            return super().get_queryset(request)
        return reports_of_organisation(scope.organisation_slug, withheld_subjects=unreleased_of(request.user).own)

    def download_view(self, request: HttpRequest, artifact_id: int) -> HttpResponse:
        if not self.get_queryset(request).filter(pk=artifact_id).exists():
            raise Http404(f"no report {artifact_id}")
        return views.download(request, artifact_id)

    def get_urls(self) -> list:
        download = self.admin_site.admin_view(self.download_view)
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
