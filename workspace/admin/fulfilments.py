"""Obligations' records in the admin: a lab member records a fulfilment (with a copy of the filing)
or an incident for one of its own subjects; a regulator accepts or rejects a fulfilment with a
reason. Each is a record: read-only once written, never deleted; a later review is a new one.
The checks are obligations.recording's, shown on the field they concern."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from obligations.models import Fulfilment, Incident, IncidentSeverity, ReviewDecision
from obligations.recording import (
    Document,
    ObligationRecordError,
    fulfilment_check,
    fulfilment_record,
    fulfilment_review,
    incident_check,
    incident_record,
)
from obligations.views import document_response
from registry.models import AIModel, Cluster, Organisation
from registry.models.base import SubmissionChannel

from .scoping import OrganisationScopedAdmin, is_regulator, scope_of

ADMIN = SubmissionChannel.ADMIN


def subject_choices(user: Any) -> list[tuple[str, str]]:
    """The subjects a lab member may record for: its organisation, its models and its clusters."""
    slug = scope_of(user).organisation_slug
    if slug is None:
        return []
    choices = [(o.subject_ref, o.subject_ref) for o in Organisation.objects.filter(slug=slug)]
    choices += [(m.subject_ref, m.subject_ref) for m in
                AIModel.objects.select_related("organisation").filter(organisation__slug=slug).order_by("name", "version")]
    choices += [(c.subject_ref, c.subject_ref) for c in
                Cluster.objects.select_related("organisation").filter(organisation__slug=slug).order_by("name")]
    return choices


class RecordForm(forms.ModelForm):
    """A form whose checks are the recording service's: each problem on its field."""

    user: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["subject"].choices = [("", "---------"), *subject_choices(self.user)]

    def show(self, exc: ObligationRecordError) -> None:
        for problem in exc.problems:
            self.add_error(problem.path if problem.path in self.fields else None, problem.message)


class FulfilmentForm(RecordForm):
    subject = forms.ChoiceField(help_text="One of your organisation's subjects.")
    regime = forms.SlugField(max_length=64, help_text="The regime's slug, e.g. eu-ai-act.")
    obligation = forms.SlugField(max_length=64, help_text="The obligation's id, e.g. art-52-1-notification.")
    occurrence = forms.CharField(required=False, max_length=64,
                                 help_text="A recurring obligation's period (2027-Q1), or an incident report's "
                                           "incident (incident-12 for incident 12); empty for a one-off obligation.")
    fulfilled_on = forms.DateField(help_text="The date it was met (YYYY-MM-DD); never after today.",
                                   widget=forms.DateInput(attrs={"placeholder": "YYYY-MM-DD"}))
    reference = forms.CharField(max_length=200, help_text="The filing's reference, e.g. a submission number.")
    document = forms.FileField(required=False, help_text="A copy of the filing; kept with its SHA-256.")

    class Meta:
        model = Fulfilment
        fields = ("regime", "obligation", "occurrence", "fulfilled_on", "reference")

    def arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        upload = data.get("document")
        return {"subject": data["subject"], "regime": data["regime"], "obligation": data["obligation"],
                "occurrence": data.get("occurrence") or "", "fulfilled_on": data["fulfilled_on"],
                "reference": data["reference"],
                "document": Document(name=upload.name, stream=upload) if upload else None,
                "organisation_scope": scope_of(self.user).organisation_slug}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.errors:
            try:
                fulfilment_check(**self.arguments())
            except ObligationRecordError as exc:
                self.show(exc)
        return data

    def _post_clean(self) -> None:
        """The row is written by the recording service, not from this form."""


class IncidentForm(RecordForm):
    subject = forms.ChoiceField(help_text="One of your organisation's subjects.")
    discovered_on = forms.DateField(help_text="The date it was discovered (YYYY-MM-DD); never after today.",
                                    widget=forms.DateInput(attrs={"placeholder": "YYYY-MM-DD"}))
    severity = forms.ChoiceField(choices=IncidentSeverity.choices)
    summary = forms.CharField(max_length=400, widget=forms.Textarea(attrs={"rows": 3}),
                              help_text="What happened, in a sentence or two.")
    reference = forms.CharField(max_length=200, required=False, help_text="Your own reference for it.")

    class Meta:
        model = Incident
        fields = ("discovered_on", "severity", "summary", "reference")

    def arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"subject": data["subject"], "discovered_on": data["discovered_on"], "severity": data["severity"],
                "summary": data["summary"], "reference": data.get("reference") or "",
                "organisation_scope": scope_of(self.user).organisation_slug}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.errors:
            try:
                incident_check(**self.arguments())
            except ObligationRecordError as exc:
                self.show(exc)
        return data

    def _post_clean(self) -> None:
        """The row is written by the recording service, not from this form."""


class RecordAdmin(OrganisationScopedAdmin):
    """Added by a lab member through the recording service; read-only after; never deleted."""

    add_fields: tuple[str, ...] = ()
    list_select_related = ("organisation", "model__organisation", "cluster__organisation", "recorded_by")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            form = type(form.__name__, (form,), {"user": request.user})
        return form

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.add_fields if obj is None else self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self.readonly_fields

    @admin.display(description="Subject")
    def subject_ref(self, obj: Any) -> str:
        return obj.subject_ref

    def has_add_permission(self, request: HttpRequest) -> bool:
        # a lab records its own; a regulator reviews them and records none of a lab's
        return scope_of(request.user).organisation_slug is not None and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def record(self, request: HttpRequest, form: Any) -> Any:
        raise NotImplementedError

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        try:
            stored = self.record(request, form)
        except ObligationRecordError as exc:  # changed since the form was checked: nothing was written
            request._record_problems = exc.problems
            return
        obj.__dict__.update(stored.__dict__)  # the row as written, for the admin's log and redirect

    def log_addition(self, request: Any, obj: Any, message: Any) -> Any:
        return None if getattr(request, "_record_problems", None) else super().log_addition(request, obj, message)

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> HttpResponse:
        problems = getattr(request, "_record_problems", None)
        if problems:
            for problem in problems:
                messages.error(request, f"Not recorded: {problem.path}: {problem.message}")
            return HttpResponseRedirect(request.get_full_path())
        return super().response_add(request, obj, post_url_continue)


@admin.register(Fulfilment)
class FulfilmentAdmin(RecordAdmin):
    form = FulfilmentForm
    add_fields = ("subject", "regime", "obligation", "occurrence", "fulfilled_on", "reference", "document")
    list_display = ("subject_ref", "regime", "obligation", "occurrence", "fulfilled_on", "reference", "review_state",
                    "recorded_via", "recorded_at")
    list_filter = ("regime", "obligation", "recorded_via")
    search_fields = ("reference", "obligation", "model__name", "cluster__name", "organisation__slug")
    date_hierarchy = "fulfilled_on"
    readonly_fields = ("subject_ref", "regime", "obligation", "occurrence_shown", "fulfilled_on", "reference",
                       "document_link", "document_sha256", "recorded_by", "recorded_via",
                       "recorded_at", "reviews_display")

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("reviews")

    def record(self, request: HttpRequest, form: Any) -> Any:
        return fulfilment_record(**form.arguments(), actor=request.user, via=ADMIN)

    @admin.display(description="Occurrence")
    def occurrence_shown(self, obj: Fulfilment) -> str:
        return obj.occurrence or "— (a one-off obligation)"

    @admin.display(description="Review")
    def review_state(self, obj: Fulfilment) -> str:
        reviews = list(obj.reviews.all())
        return reviews[-1].get_decision_display() if reviews else "not reviewed"

    @admin.display(description="Reviews (the latest counts)")
    def reviews_display(self, obj: Fulfilment) -> str:
        reviews = list(obj.reviews.all())
        if not reviews:
            return "not reviewed"
        return format_html_join(mark_safe("<br>"), "{} {} UTC by {}: {}", (
            (r.get_decision_display(), f"{r.reviewed_at:%Y-%m-%d %H:%M}", r.reviewed_by or "the system", r.reason)
            for r in reviews))

    def get_urls(self) -> list:
        info = self.opts.app_label, self.opts.model_name
        return [path("<int:object_id>/review/", self.admin_site.admin_view(self.review_view),
                     name="{}_{}_review".format(*info)),
                path("<int:object_id>/document/", self.admin_site.admin_view(self.document_view),
                     name="{}_{}_document".format(*info)), *super().get_urls()]

    def document_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return document_response(get_object_or_404(self.get_queryset(request), pk=object_id))

    @admin.display(description="Document")
    def document_link(self, obj: Fulfilment) -> str:
        if not obj.document:
            return "none"
        url = reverse("admin:obligations_fulfilment_document", args=[obj.pk])
        return format_html('<a href="{}">{}</a> ({} bytes)', url, obj.document_name, obj.document_size)

    def may_review(self, request: HttpRequest) -> bool:
        return is_regulator(request.user) and request.user.has_perm("obligations.add_fulfilmentreview")

    def review_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not self.may_review(request):
            raise PermissionDenied("only a regulator accepts or rejects a fulfilment")
        fulfilment = get_object_or_404(self.get_queryset(request), pk=object_id)
        form = ReviewForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                fulfilment_review(fulfilment=fulfilment, decision=form.cleaned_data["decision"],
                                  reason=form.cleaned_data["reason"], actor=request.user, via=ADMIN)
            except ObligationRecordError as exc:
                for problem in exc.problems:
                    form.add_error(problem.path if problem.path in form.fields else None, problem.message)
            else:
                decision = ReviewDecision(form.cleaned_data["decision"]).label.lower()
                messages.success(request, f"{decision.capitalize()}: {fulfilment}.")
                return HttpResponseRedirect(reverse("admin:obligations_fulfilment_change", args=[fulfilment.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.opts, "fulfilment": fulfilment, "form": form,
                   "reviews": list(fulfilment.reviews.all()), "title": f"Accept or reject {fulfilment}"}
        return TemplateResponse(request, "admin/workspace/fulfilment_review.html", context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        extra = dict(extra_context or {})
        extra["can_review"] = self.may_review(request)
        extra["review_url"] = reverse("admin:obligations_fulfilment_review", args=[object_id]) if str(object_id).isdigit() else ""
        return super().change_view(request, object_id, form_url, extra_context=extra)


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=ReviewDecision.choices, widget=forms.RadioSelect)
    reason = forms.CharField(max_length=400, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text="Why it is accepted or rejected. Earlier reviews stay on record; the latest counts.")


@admin.register(Incident)
class IncidentAdmin(RecordAdmin):
    form = IncidentForm
    add_fields = ("subject", "discovered_on", "severity", "summary", "reference")
    list_display = ("subject_ref", "occurrence", "discovered_on", "severity", "summary", "recorded_via", "recorded_at")
    list_filter = ("severity", "recorded_via")
    search_fields = ("summary", "reference", "model__name", "cluster__name", "organisation__slug")
    date_hierarchy = "discovered_on"
    readonly_fields = ("subject_ref", "occurrence", "discovered_on", "severity", "summary", "reference", "recorded_by",
                       "recorded_via", "recorded_at")

    def record(self, request: HttpRequest, form: Any) -> Any:
        return incident_record(**form.arguments(), actor=request.user, via=ADMIN)

    @admin.display(description="Occurrence (what its report names)")
    def occurrence(self, obj: Incident) -> str:
        return f"incident-{obj.pk}"
