"""The rules app in the admin: rule versions (drafts editable, published ones never), the decision
log (read-only), and evaluation runs with their progress and the changes they found."""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.utils.html import format_html

from .models import Determination, EvaluationRun, RuleVersion, StatusChange
from .presentation import format_number


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(RuleVersion)
class RuleVersionAdmin(admin.ModelAdmin):
    list_display = ("regime", "version_id", "legal_status", "effective_from", "effective_to", "state", "short_hash", "last_verified_on")
    list_filter = ("regime", "state", "legal_status")
    search_fields = ("regime", "version_id", "title")
    readonly_fields = ("regime", "regime_title", "version_id", "title", "legal_status", "effective_from", "effective_to",
                       "last_verified_on", "provenance", "content_sha256", "state", "origin", "created_by", "created_at",
                       "published_at", "published_by")

    @admin.display(description="SHA-256")
    def short_hash(self, obj: RuleVersion) -> str:
        return obj.content_sha256[:16] + "…"

    def has_change_permission(self, request: Any, obj: RuleVersion | None = None) -> bool:
        if obj is not None and obj.is_published:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: Any, obj: RuleVersion | None = None) -> bool:
        if obj is not None and obj.is_published:
            return False
        return super().has_delete_permission(request, obj)

    def has_add_permission(self, request: Any) -> bool:
        return False  # drafts are made through the rule workflow, which validates the file


@admin.register(Determination)
class DeterminationAdmin(ReadOnlyAdmin):
    list_display = ("sequence", "subject_ref", "regime", "rule_version_label", "as_of", "status", "deciding_test", "trigger", "created_at")
    list_filter = ("regime", "status", "trigger", "subject_kind")
    search_fields = ("subject_ref", "organisation")
    list_select_related = ("rule_version",)
    show_full_result_count = False
    fields = ("sequence", "subject_ref", "regime", "rule_version", "rule_hash", "as_of", "status", "deciding_test",
              "trigger", "requested_by", "run", "task_id", "created_at", "facts_revision", "facts", "previous_sha256",
              "row_sha256", "tests_display")
    readonly_fields = fields

    @admin.display(description="Tests")
    def tests_display(self, obj: Determination) -> str:
        rows = []
        for test in obj.data().get("tests", []):
            rows.append(format_html(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{} {} {}</td><td>{}</td></tr>",
                test["id"], test["outcome"], test.get("quantity") or "",
                format_number(test.get("value")), test.get("operator") or "", format_number(test.get("threshold")),
                test.get("citation") or "",
            ))
        return format_html("<table>{}</table>", format_html("".join(str(r) for r in rows))) if rows else "—"


class StatusChangeInline(admin.TabularInline):
    model = StatusChange
    extra = 0
    can_delete = False
    fields = ("subject_ref", "regime", "from_status", "to_status", "flipped", "from_rule_version", "to_rule_version")
    readonly_fields = fields

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    @admin.display(description="Tests that flipped")
    def flipped(self, obj: StatusChange) -> str:
        return ", ".join(f"{t['id']}: {t['from']} → {t['to']}" for t in obj.flipped_tests) or "—"


@admin.register(EvaluationRun)
class EvaluationRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "as_of", "status", "progress", "changes_count", "rule_version", "requested_by", "created_at", "finished_at")
    list_filter = ("kind", "status")
    readonly_fields = ("kind", "as_of", "regimes_display", "rule_version", "status", "progress", "total", "done", "chunks_total",
                       "chunks_done", "changes_count", "requested_by", "error", "created_at", "started_at", "finished_at")
    fields = readonly_fields
    inlines = [StatusChangeInline]

    @admin.display(description="Progress")
    def progress(self, obj: EvaluationRun) -> str:
        return format_html(
            '<progress max="100" value="{}"></progress> {}/{} ({}%)', obj.progress_percent, obj.done, obj.total,
            obj.progress_percent,
        )

    @admin.display(description="Regimes")
    def regimes_display(self, obj: EvaluationRun) -> str:
        return ", ".join(obj.regimes) if obj.regimes else "every regime"

    def has_view_permission(self, request: Any, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj)


