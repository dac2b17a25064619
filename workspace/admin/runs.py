"""Evaluation runs in the admin: each run's progress, live while it runs (a small JSON endpoint the
page polls), and the status changes it found, each linked to its subject."""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import path
from django.utils.html import format_html

from rules.models import EvaluationRun
from rules.selectors import run_recorded

from .base import ReadOnlyAdmin
from .links import subject_admin_urls
from .scoping import is_regulator

CHANGES_PAGE_SIZE = 50


def run_progress(run: EvaluationRun) -> dict[str, Any]:
    """What the run page and the dashboard show of a run while it runs."""
    return {
        "id": run.pk,
        "status": run.status,
        "status_display": run.get_status_display(),
        "done": run.done,
        "total": run.total,
        "chunks_done": run.chunks_done,
        "chunks_total": run.chunks_total,
        "percent": run.progress_percent,
        "changes": run.changes_count,
        "finished": run.status in ("finished", "failed"),
        "error": run.error,
    }


@admin.register(EvaluationRun)
class EvaluationRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "as_of", "status", "progress", "changes_count", "rule_version", "requested_by",
                    "created_at", "finished_at")
    list_filter = ("kind", "status")
    list_select_related = ("rule_version", "requested_by")
    readonly_fields = ("kind", "as_of", "regimes_display", "subjects_display", "rule_version", "requested_by", "error",
                       "created_at", "started_at", "finished_at", "reused", "engine_sha256")
    fields = readonly_fields
    change_form_template = "admin/workspace/run_change_form.html"

    def has_view_permission(self, request: Any, obj: Any = None) -> bool:
        return is_regulator(request.user) and super().has_view_permission(request, obj)

    def get_urls(self) -> list:
        return [
            path("<path:object_id>/progress/", self.admin_site.admin_view(self.progress_view),
                 name="rules_evaluationrun_progress"),
            *super().get_urls(),
        ]

    def progress_view(self, request: HttpRequest, object_id: str) -> JsonResponse:
        """`{"status", "done", "total", "percent", "changes", "finished", ...}` for the page's poller."""
        if not self.has_view_permission(request):
            raise Http404("no such run")
        run = self.get_object(request, unquote(object_id))
        if run is None:
            raise Http404("no such run")
        return JsonResponse(run_progress(run))  # admin_view already marks it never to be cached

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], add: bool = False,
                           change: bool = False, form_url: str = "", obj: Any = None) -> Any:
        if obj is not None:
            changes = Paginator(obj.changes.order_by("subject_ref", "regime"), CHANGES_PAGE_SIZE)
            page = changes.get_page(request.GET.get("changes"))
            links = subject_admin_urls(change.subject_ref for change in page)
            context.update({
                "run": obj,
                # the whole run's counts: a regulator's (a lab's share of a run is its own subjects)
                "recorded": run_recorded(obj) if is_regulator(request.user) else None,
                "changes_page": page,
                "changes_rows": [(change, links.get(change.subject_ref)) for change in page],
            })
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    @admin.display(description="Progress")
    def progress(self, obj: EvaluationRun) -> str:
        return format_html('<progress max="100" value="{}"></progress> {} of {} ({} %)', obj.progress_percent,
                           obj.done, obj.total, obj.progress_percent)

    @admin.display(description="Regimes")
    def regimes_display(self, obj: EvaluationRun) -> str:
        return ", ".join(obj.regimes) if obj.regimes else "every regime"

    @admin.display(description="Subjects")
    def subjects_display(self, obj: EvaluationRun) -> str:
        if obj.subjects is None:
            return "the whole registry"
        shown = ", ".join(obj.subjects[:5])
        return shown + (f" and {len(obj.subjects) - 5} more" if len(obj.subjects) > 5 else "")
