"""Rule versions in the admin, and the rule workflow: a regulator uploads or edits a draft, reads its
impact preview as of a date (what would refuse its publication, what it changes in the law, who
would change status, from what to what, and which tests flip), then publishes
it, which starts the re-evaluation whose progress the run page shows. Published versions are
never edited; only a user with `rules.publish_ruleversion` publishes."""
from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from rules.engine import RuleFileErrors
from rules.library_store import draft_create, draft_update, engine_version
from rules.models import RuleVersion
from rules.models.rule_version import RuleVersionState
from rules.previews import PreviewInputError, draft_preview, period_text, preview_as_of
from rules.services import publication_problems

from .forms import DraftForm
from .links import subject_admin_urls
from .scoping import scope_of

PUBLISH_PERMISSION = "rules.publish_ruleversion"


@admin.register(RuleVersion)
class RuleVersionAdmin(admin.ModelAdmin):
    list_display = ("regime", "version_id", "legal_status", "effective_from", "effective_to", "state", "short_hash",
                    "last_verified_on")
    list_filter = ("state", "regime", "legal_status")
    search_fields = ("regime", "version_id", "title")
    readonly_fields = ("regime", "regime_title", "version_id", "title", "legal_status", "effective_from", "effective_to",
                       "corrects", "last_verified_on", "provenance", "content_sha256", "state", "origin", "created_by", "created_at",
                       "published_at", "published_by", "content_display")
    fields = readonly_fields
    change_form_template = "admin/workspace/ruleversion_change_form.html"

    def get_queryset(self, request: Any) -> QuerySet:
        rows = super().get_queryset(request)
        return rows.filter(state=RuleVersionState.PUBLISHED) if scope_of(request.user).restricted else rows

    def has_add_permission(self, request: Any) -> bool:
        return not scope_of(request.user).restricted and super().has_add_permission(request)

    def has_change_permission(self, request: Any, obj: RuleVersion | None = None) -> bool:
        if obj is not None and obj.is_published:
            return False
        return not scope_of(request.user).restricted and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: Any, obj: RuleVersion | None = None) -> bool:
        if obj is not None and obj.is_published:
            return False
        return super().has_delete_permission(request, obj)

    def has_publish_permission(self, request: Any) -> bool:
        return not scope_of(request.user).restricted and request.user.has_perm(PUBLISH_PERMISSION)

    @admin.display(description="SHA-256")
    def short_hash(self, obj: RuleVersion) -> str:
        return obj.content_sha256[:16] + "…"

    @admin.display(description="Corrects")
    def corrects(self, obj: RuleVersion) -> str:
        """The version whose period this one corrects in part: in force instead of it on the days of its own."""
        corrected = engine_version(obj).corrects
        return f"{obj.regime}@{corrected}, for the period above" if corrected else "—"

    @admin.display(description="Rule file")
    def content_display(self, obj: RuleVersion) -> str:
        return format_html('<pre class="rule-yaml">{}</pre>', obj.content)

    def get_urls(self) -> list:
        return [
            path("<path:object_id>/preview/", self.admin_site.admin_view(self.preview_view),
                 name="rules_ruleversion_preview"),
            path("<path:object_id>/publish/", self.admin_site.admin_view(self.publish_view),
                 name="rules_ruleversion_publish"),
            *super().get_urls(),
        ]

    # The draft form stands in for the admin's add and change forms: every save goes through the
    # rule file's validation, and errors name the file, the path in it and the reason.

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        return self._draft_form_view(request, draft=None)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and not obj.is_published and self.has_change_permission(request, obj):
            return self._draft_form_view(request, draft=obj)
        if obj is not None and not obj.is_published and request.method == "POST":
            raise PermissionDenied
        extra = {**(extra_context or {}), "can_publish": self.has_publish_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def _draft_form_view(self, request: HttpRequest, *, draft: RuleVersion | None) -> HttpResponse:
        initial = {"content": draft.content} if draft is not None else {}
        form = DraftForm(request.POST or None, request.FILES or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            content = form.cleaned_data["content"]
            try:
                if draft is None:
                    name = form.cleaned_data.get("origin_name") or "pasted text"
                    saved = draft_create(content=content, actor=request.user,
                                         origin=f"{name}, uploaded by {request.user.get_username()}")
                else:
                    saved = draft_update(draft=draft, content=content)
            except RuleFileErrors as exc:
                for error in exc.errors:
                    messages.error(request, f"{error.file}: {error.path}: {error.reason}" if error.path
                                   else f"{error.file}: {error.reason}")
                form.data = form.data.copy()
                form.data["content"] = content
            except ValueError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, f"Draft {saved} saved. Read its impact before publishing it.")
                return HttpResponseRedirect(reverse("admin:rules_ruleversion_preview", args=[saved.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Edit draft {draft}" if draft is not None else "Draft a rule version",
            "form": form,
            "draft": draft,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/workspace/ruleversion_draft_form.html", context)

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """What publishing the draft would change as of a date (`?as_of=`, by default a day of the
        draft's own period): what would refuse its publication first, then what it changes in the
        law against the version it would replace that day, then the subjects whose status would
        change, then those whose tests change only."""
        draft = self._draft(request, object_id)
        candidate = engine_version(draft)
        requested = request.GET.get("as_of")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Impact of publishing {draft}",
            "draft": draft,
            "period": period_text(candidate),
            "corrects": candidate.corrects,
            "publication_as_of": candidate.day_in_force(timezone.now().date()),
            "as_of_value": requested if requested is not None else "",
            "can_publish": self.has_publish_permission(request),
            "has_view_permission": True,
        }
        try:
            as_of = preview_as_of(candidate, today=timezone.now().date(), requested=requested)
        except PreviewInputError as exc:
            context.update(as_of_error=exc.message, blockers=publication_problems(candidate))
            return TemplateResponse(request, "admin/workspace/ruleversion_preview.html", context, status=400)
        preview = draft_preview(draft=draft, as_of=as_of)
        links = subject_admin_urls(change["subject_ref"] for change in preview.changes)
        context.update(
            preview=preview,
            as_of_value=as_of.isoformat(),
            blockers=preview.blockers,
            differences=preview.differences,
            status_changes=[(change, links.get(change["subject_ref"])) for change in preview.status_changes],
            test_changes=[(change, links.get(change["subject_ref"])) for change in preview.test_changes],
        )
        return TemplateResponse(request, "admin/workspace/ruleversion_preview.html", context)

    def publish_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Publishes the draft as previewed (POST), then shows its re-evaluation run."""
        from rules.services import rule_version_publish
        from rules.tasks import run_start

        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_publish_permission(request):
            raise PermissionDenied("only a regulator with the publish permission publishes a rule version")
        draft = self._draft(request, object_id)
        preview_url = reverse("admin:rules_ruleversion_preview", args=[draft.pk])
        if request.POST.get("content_sha256") != draft.content_sha256:
            messages.error(request, "The draft changed after its preview was shown: read the new preview, then publish.")
            return HttpResponseRedirect(preview_url)
        try:
            run = rule_version_publish(version=draft, actor=request.user)
        except ValueError as exc:
            messages.error(request, f"Not published: {exc}")
            return HttpResponseRedirect(preview_url)
        transaction.on_commit(lambda: run_start.apply_async(args=[run.pk]))
        messages.success(request, f"Published {draft.regime}@{draft.version_id}; re-evaluating every subject as of "
                                  f"{run.as_of.isoformat()} (run {run.pk}).")
        return HttpResponseRedirect(reverse("admin:rules_evaluationrun_change", args=[run.pk]))

    def _draft(self, request: HttpRequest, object_id: str) -> RuleVersion:
        if not self.has_view_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404("no such rule version")
        if obj.is_published:
            raise Http404(f"{obj} is published: only a draft is previewed or published")
        return obj
