"""Reports in the admin: the stored files with their SHA-256, a download link, a build action, and a
form that queues a registry or audit report (the same `reports.services.report_request` as the API's),
then follows its progress until its download link shows. A lab member sees, and generates, its own
subjects' audit reports and registry reports of its organisation's view (its own subjects), less
subjects resting on another organisation's unreleased model; another report is a 404, another
organisation's subject is refused on the form."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from reports import services, views
from reports.models import ArtifactStatus, ReportArtifact, ReportKind
from reports.selectors import ReportInputError, reports_of_organisation
from rules.subjects import SubjectError, parse_subject

from .scoping import Scope, scope_of, unreleased_of

GENERATED_KINDS = {ReportKind.REGISTRY: "Registry report (every subject's determinations of record)",
                   ReportKind.AUDIT: "Audit report (one per subject)"}
LAB_REGISTRY_KIND = "Registry report (your organisation's subjects)"


class ReportRequestForm(forms.Form):
    """What the workspace asks before queueing a report: its kind, the as-of date, the subjects of an
    audit report (one reference a line) and the format."""

    kind = forms.ChoiceField(choices=list(GENERATED_KINDS.items()))
    as_of = forms.DateField(label="As of", help_text="YYYY-MM-DD: the law as it stood on this date.",
                            widget=forms.DateInput(attrs={"type": "date"}))
    subjects = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="For an audit report: one subject a line, model:ORG/NAME@VERSION, cluster:ORG/NAME or organisation:ORG.")
    format = forms.ChoiceField(choices=[("pdf", "PDF"), ("html", "HTML"), ("csv", "CSV (registry only)"),
                                        ("json", "JSON (registry only)")])

    def __init__(self, *args: Any, scope: Scope, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scope = scope
        if scope.restricted:  # a lab member: its organisation's view of the registry, its own subjects' audits
            self.fields["kind"].choices = [(ReportKind.REGISTRY, LAB_REGISTRY_KIND),
                                           (ReportKind.AUDIT, GENERATED_KINDS[ReportKind.AUDIT])]

    def clean_kind(self) -> str:
        kind = self.cleaned_data["kind"]
        if self.scope.restricted and self.scope.organisation_slug is None:
            raise forms.ValidationError("you belong to no organisation, so there is no report you may generate")
        return kind

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("kind") != ReportKind.AUDIT:
            data["subject_refs"] = []
            return data
        refs: list[str] = []
        problems: list[str] = []
        for line in (data.get("subjects") or "").splitlines():
            if not line.strip():
                continue
            try:
                key = parse_subject(line.strip())
            except SubjectError as exc:
                problems.append(str(exc))
                continue
            if not self.scope.allows(key.organisation):
                problems.append(f"unknown subject(s): {key.ref}")  # as for a subject that does not exist
            elif key.ref not in refs:
                refs.append(key.ref)
        if problems:
            self.add_error("subjects", problems)
        elif not refs:
            self.add_error("subjects", "required for an audit report: at least one subject")
        data["subject_refs"] = refs
        return data


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
                path("<int:artifact_id>/progress/", self.admin_site.admin_view(self.progress_view),
                     name="reports_reportartifact_progress"),
                path("generate/", self.admin_site.admin_view(self.generate_view), name="reports_reportartifact_generate"),
                *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {"generate_report_url": reverse("admin:reports_reportartifact_generate"), **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)

    def generate_view(self, request: HttpRequest) -> HttpResponse:
        """The form; on a valid POST every report asked for is queued, or none is (a refused subject, a
        parameter the report service refuses, or too many pending reports: the reason is shown)."""
        if not self.has_view_permission(request):
            raise Http404("no reports")
        scope = scope_of(request.user)
        requested: list[ReportArtifact] = []
        if request.method == "POST":
            form = ReportRequestForm(request.POST, scope=scope)
            if form.is_valid():
                try:
                    requested = self._request_reports(request, form.cleaned_data)
                except (ReportInputError, SubjectError, services.TooManyPendingReports) as exc:
                    messages.error(request, f"Nothing was queued: {exc}")
                else:
                    ids = "&".join(f"report={artifact.pk}" for artifact in requested)
                    messages.success(request, f"{len(requested)} report(s) queued.")
                    return HttpResponseRedirect(f"{reverse('admin:reports_reportartifact_generate')}?{ids}")
        else:
            form = ReportRequestForm(initial={"kind": ReportKind.AUDIT if scope.restricted else ReportKind.REGISTRY,
                                              "as_of": timezone.now().date(), "format": "pdf"}, scope=scope)
        wanted = [int(pk) for pk in request.GET.getlist("report") if pk.isdigit()]
        shown = list(self.get_queryset(request).filter(pk__in=wanted).order_by("id")) if wanted else []
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Generate a report",
            "form": form,
            "reports": [(artifact, report_progress(artifact)) for artifact in shown],
        }
        return TemplateResponse(request, "admin/workspace/report_generate.html", context)

    def _request_reports(self, request: HttpRequest, data: dict[str, Any]) -> list[ReportArtifact]:
        """Every report of the form through the one service the API uses, in one transaction."""
        withheld = unreleased_of(request.user).own
        for ref in data["subject_refs"]:
            if ref in withheld:
                raise ReportInputError(f"subject: {ref} rests on a base model another organisation has not released; "
                                       "its audit report is available once that model is released")
        common = {"kind": data["kind"], "format": data["format"], "requested_by": request.user, "as_of": data["as_of"]}
        with transaction.atomic():
            if data["kind"] == ReportKind.AUDIT:
                return [services.report_request(**common, subject=ref) for ref in data["subject_refs"]]
            scope = scope_of(request.user)  # a lab member: its organisation's view, never the whole registry
            return [services.report_request(**common, organisation=scope.organisation_slug if scope.restricted else None)]

    def progress_view(self, request: HttpRequest, artifact_id: int) -> JsonResponse:
        """`{"status", "stage", "percent", "finished", "download_url", ...}` for the generate page's poller."""
        artifact = self.get_queryset(request).select_related("run").filter(pk=artifact_id).first()
        if artifact is None or not self.has_view_permission(request):
            raise Http404(f"no report {artifact_id}")
        return JsonResponse(report_progress(artifact))

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


def report_progress(artifact: ReportArtifact) -> dict[str, Any]:
    """Where a report's build stands: queued, recording the determinations it needs (the run's subjects
    done of total), written (its download link) or failed (why)."""
    run = artifact.run if artifact.kind != ReportKind.CHANGES else None
    done = artifact.status == ArtifactStatus.DONE
    if done:
        stage, percent = "written", 100.0
    elif artifact.status == ArtifactStatus.FAILED:
        stage, percent = f"failed: {artifact.error}", 0.0
    elif run is not None and run.status != "finished":
        stage, percent = f"recording determinations: {run.done} of {run.total} subjects", run.progress_percent
    elif run is not None:
        stage, percent = "determinations recorded; writing the report", run.progress_percent
    else:
        stage, percent = "queued: written once a worker takes it", 0.0
    return {
        "id": artifact.pk,
        "status": artifact.status,
        "stage": stage,
        "percent": round(min(percent, 100.0), 1),
        "finished": artifact.status in (ArtifactStatus.DONE, ArtifactStatus.FAILED),
        "download_url": reverse("admin:reports_reportartifact_download", args=[artifact.pk]) if done and artifact.file else None,
        "filename": artifact.filename,
        "error": artifact.error,
    }
