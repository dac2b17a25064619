"""The decision log in the admin, read-only: each determination with its tests (outcomes in words),
the values compared (scientific notation with units), the citation each rests on, and the facts it
was made on as labelled fields."""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.utils.html import format_html, format_html_join

from reports import exports
from rules.current import confirmations_of
from rules.engine.vocabulary import outcome_label
from rules.models import Determination
from rules.pagination import CappedLogPaginator
from rules.selectors import tier_titles
from workspace.display import comparison_text
from workspace.facts_display import facts_fields
from workspace.regimes import regime_html

from .base import ReadOnlyAdmin
from .exports import CsvExportMixin
from .filters import DeterminationTierFilter, SubjectKindFilter
from .regime_columns import RegimeListFilter, regime_column
from .scoping import determinations_for


@admin.register(Determination)
class DeterminationAdmin(CsvExportMixin, ReadOnlyAdmin):
    list_display = ("sequence", "subject_ref", regime_column, "rule_version_label", "as_of", "status", "tier_reached",
                    "deciding_test", "trigger", "created_at")
    list_filter = (RegimeListFilter, "status", DeterminationTierFilter, "trigger", SubjectKindFilter)
    search_fields = ("subject_ref", "organisation")
    list_select_related = ("rule_version",)
    show_full_result_count = False
    paginator = CappedLogPaginator  # the log is never counted whole: its head says how long it is
    fields = ("sequence", "subject_ref", "regime_display", "rule_version", "rule_hash", "as_of", "status", "tier", "reason_display",
              "deciding_test", "trigger", "requested_by", "run", "task_id", "created_at", "facts_revision", "facts_display", "facts_sha256", "previous_sha256",
              "row_sha256", "confirmed_display", "tests_display")
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

    @admin.display(description="Regime")
    def regime_display(self, obj: Determination) -> str:
        return regime_html(obj.regime)

    @admin.display(description="Facts (as submitted, the snapshot the determination was made on)")
    def facts_display(self, obj: Determination) -> str:
        return facts_fields(obj.facts.data())

    @admin.display(description="Facts SHA-256")
    def facts_sha256(self, obj: Determination) -> str:
        return obj.facts_sha256

    @admin.display(description="Reason")
    def reason_display(self, obj: Determination) -> str:
        """Why the status is not_applicable (the version has no test for the kind, or the subject did not exist yet)."""
        return obj.data().get("reason") or "—"

    @admin.display(description="Confirmed unchanged as of")
    def confirmed_display(self, obj: Determination) -> str:
        """The dates on which a later run reached this determination again, unchanged (`rules.Confirmation`)."""
        shown, total = confirmations_of(obj.sequence)
        if not total:
            return "—"
        items = format_html_join(", ", "{} ({})", (
            (c.as_of.isoformat(), f"run {c.run_id}, {c.get_trigger_display().lower()}" if c.run_id else
             c.get_trigger_display().lower()) for c in shown))
        more = f"; {total - len(shown)} earlier" if total > len(shown) else ""
        return format_html("{}{}", items, more)

    @admin.display(description="Tests")
    def tests_display(self, obj: Determination) -> str:
        payload = obj.data()
        rows = format_html_join(
            "",
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((test["id"], outcome_label(test["outcome"]), test.get("quantity") or "", comparison_text(test, quantities=payload.get("quantities", {})),
              test.get("citation") or "") for test in payload.get("tests", [])),
        )
        if not rows:
            return "—"
        return format_html(
            '<table class="determination-tests"><thead><tr><th>Test</th><th>Outcome</th><th>Quantity</th>'
            "<th>What was compared, and the outcome</th><th>Citation</th></tr></thead><tbody>{}</tbody></table>", rows,
        )
