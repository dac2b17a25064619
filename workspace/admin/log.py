"""The decision log in the admin, read-only: each determination with its tests, the values
compared (scientific notation with units) and the citation each rests on."""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.utils.html import format_html, format_html_join

from reports import exports
from rules.models import Determination
from rules.selectors import tier_titles
from workspace.display import comparison_text

from .base import ReadOnlyAdmin
from .exports import CsvExportMixin
from .filters import DeterminationTierFilter
from .scoping import determinations_for


@admin.register(Determination)
class DeterminationAdmin(CsvExportMixin, ReadOnlyAdmin):
    list_display = ("sequence", "subject_ref", "regime", "rule_version_label", "as_of", "status", "tier_reached",
                    "deciding_test", "trigger", "created_at")
    list_filter = ("regime", "status", DeterminationTierFilter, "trigger", "subject_kind")
    search_fields = ("subject_ref", "organisation")
    list_select_related = ("rule_version",)
    show_full_result_count = False
    fields = ("sequence", "subject_ref", "regime", "rule_version", "rule_hash", "as_of", "status", "tier", "reason_display",
              "deciding_test", "trigger", "requested_by", "run", "task_id", "created_at", "facts_revision", "facts", "previous_sha256",
              "row_sha256", "tests_display")
    readonly_fields = fields

    csv_fields = exports.FIELDS

    def csv_chunks(self, rows: Any) -> Any:
        """The decision log's own CSV columns (`reports.exports`), as the API's and the export report's."""
        return exports.determination_chunks(rows, format="csv")

    def get_queryset(self, request: Any) -> QuerySet:
        return determinations_for(request.user, super().get_queryset(request))

    def get_changelist_instance(self, request: Any) -> Any:
        changelist = super().get_changelist_instance(request)
        titles = tier_titles()  # one read of the published library for the page, no query per row
        for obj in changelist.result_list:
            obj.tier_title = titles.get((obj.regime, obj.tier), obj.tier)
        return changelist

    @admin.display(description="Tier reached", ordering="tier")
    def tier_reached(self, obj: Determination) -> str:
        if not obj.tier:
            return "—"
        return format_html('{} <code class="quiet">{}</code>', getattr(obj, "tier_title", obj.tier), obj.tier)

    @admin.display(description="Reason")
    def reason_display(self, obj: Determination) -> str:
        """Why the status is not_applicable (the version has no test for the kind, or the subject did not exist yet)."""
        return obj.data().get("reason") or "—"

    @admin.display(description="Tests")
    def tests_display(self, obj: Determination) -> str:
        payload = obj.data()
        rows = format_html_join(
            "",
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((test["id"], test["outcome"], test.get("quantity") or "",
              comparison_text(test, quantities=payload.get("quantities", {})),
              test.get("citation") or "") for test in payload.get("tests", [])),
        )
        if not rows:
            return "—"
        return format_html(
            '<table class="determination-tests"><thead><tr><th>Test</th><th>Outcome</th><th>Quantity</th>'
            "<th>What was compared, and the outcome</th><th>Citation</th></tr></thead><tbody>{}</tbody></table>", rows,
        )
