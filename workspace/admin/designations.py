"""Designations in the admin: a regulator records one (the Commission's designation or its
acceptance of a rebuttal under the EU AI Act, a covered frontier model under EO 14409) with its date
and reference, and withdraws one recorded in error; a lab member sees those on its own subjects and
records none. A designation is never edited or deleted here: it is a decision of record."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from rest_framework import serializers

from registry.designation_kinds import REGIME_OF_KIND, DesignationKind
from registry.designations import AlreadyWithdrawn, designation_problems, designation_withdraw
from registry.interchange import DesignationRecord, flatten_errors, thread_serializer
from registry.models import AIModel, Designation
from registry.models.base import SubmissionChannel
from registry.selectors import base_model_choices
from registry.services import RegistryValidationError, designation_record
from workspace.regimes import regime_label

from .regime_columns import RegimeListFilter, regime_column
from .scoping import OrganisationScopedAdmin, is_regulator

REGIMES = sorted(set(REGIME_OF_KIND.values()))


class DesignationForm(forms.ModelForm):
    """One designation of a model: each problem is shown on the field it concerns."""

    regime = forms.ChoiceField(choices=[(r, regime_label(r)) for r in REGIMES],
                               help_text="The EU AI Act for the Commission's decisions; Executive Order 14409 for a "
                                         "covered frontier model.")
    kind = forms.ChoiceField(choices=DesignationKind.choices)
    decided_on = forms.DateField(help_text="The date of the decision (YYYY-MM-DD): it takes effect from this date.",
                                 widget=forms.DateInput(attrs={"placeholder": "YYYY-MM-DD"}))
    reference = forms.CharField(max_length=200, help_text="The decision's reference, e.g. C(2026) 1234.")

    class Meta:
        model = Designation
        fields = ("model", "regime", "kind", "decided_on", "reference")
        labels = {"model": "Designated model"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model"].required = True
        self.fields["model"].queryset = base_model_choices(None)

    def record(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"subject": data["model"].subject_ref, "regime": data["regime"], "kind": data["kind"],
                "decided_on": data["decided_on"].isoformat(), "reference": data["reference"]}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors or not all(data.get(name) for name in ("model", "regime", "kind", "decided_on", "reference")):
            return data
        try:
            cleaned = thread_serializer(DesignationRecord).run_validation(self.record())
        except serializers.ValidationError as exc:
            for problem in flatten_errors(exc.detail, ""):
                field = {"subject": "model"}.get(problem.path, problem.path)
                self.add_error(field if field in self.fields else None, problem.message)
            return data
        for problem in designation_problems({"organisations": [], "models": [], "clusters": [],
                                             "designations": [dict(cleaned)]}):
            self.add_error("model", problem.message)
        # the row the form describes, for the model's own checks (its subject is the model)
        self.instance.subject_kind, self.instance.organisation = "model", data["model"].organisation
        return data


class WithdrawForm(forms.Form):
    reason = forms.CharField(max_length=400, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text="Why the designation was recorded in error. It then counts for no date; "
                                       "both records stay.")


@admin.register(Designation)
class DesignationAdmin(OrganisationScopedAdmin):
    form = DesignationForm
    list_display = ("subject_ref", regime_column, "kind", "decided_on", "reference", "withdrawn", "recorded_by", "recorded_at")
    list_filter = (RegimeListFilter, "kind")
    search_fields = ("reference", "model__name", "organisation__slug", "organisation__name")
    list_select_related = ("organisation", "model__organisation", "cluster__organisation", "withdrawal", "recorded_by")
    autocomplete_fields = ("model",)
    date_hierarchy = "decided_on"
    readonly_fields = ("subject_ref", "regime", "kind", "decided_on", "reference", "recorded_by", "recorded_via",
                       "recorded_at", "withdrawal_display")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("model", "regime", "kind", "decided_on", "reference")
        return self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self.readonly_fields

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        kind = request.GET.get("kind")
        if kind in REGIME_OF_KIND:
            initial["regime"] = REGIME_OF_KIND[kind]
        return initial

    @admin.display(description="Subject")
    def subject_ref(self, obj: Designation) -> str:
        return obj.subject_ref

    @admin.display(description="Withdrawn", boolean=True)
    def withdrawn(self, obj: Designation) -> bool:
        return hasattr(obj, "withdrawal")

    @admin.display(description="Withdrawal")
    def withdrawal_display(self, obj: Designation) -> str:
        withdrawal = getattr(obj, "withdrawal", None)
        if withdrawal is None:
            return "—"
        return f"withdrawn {withdrawal.withdrawn_at:%Y-%m-%d %H:%M} UTC by {withdrawal.withdrawn_by or 'the system'}: {withdrawal.reason}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_regulator(request.user) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a decision of record: withdrawn and recorded again, never edited

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        try:
            stored, outcome = designation_record(record=form.record(), actor=request.user, via=SubmissionChannel.ADMIN)
        except RegistryValidationError as exc:  # changed since the form was checked: nothing was written
            request._designation_problems = exc.problems
            return
        obj.pk, obj._state.adding = stored.pk, False
        if outcome == "unchanged":
            messages.info(request, "This designation was recorded already; nothing was added.")

    def log_addition(self, request: Any, obj: Any, message: Any) -> Any:
        return None if getattr(request, "_designation_problems", None) else super().log_addition(request, obj, message)

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> HttpResponse:
        problems = getattr(request, "_designation_problems", None)
        if problems:
            for problem in problems:
                messages.error(request, f"Not recorded: {problem.path.split(']', 1)[-1].lstrip('.')}: {problem.message}")
            return HttpResponseRedirect(request.get_full_path())
        return super().response_add(request, obj, post_url_continue)

    def get_urls(self) -> list:
        info = self.opts.app_label, self.opts.model_name
        return [path("<int:object_id>/withdraw/", self.admin_site.admin_view(self.withdraw_view),
                     name="{}_{}_withdraw".format(*info)), *super().get_urls()]

    def withdraw_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not (is_regulator(request.user) and request.user.has_perm("registry.add_designationwithdrawal")):
            raise PermissionDenied("only a regulator withdraws a designation")
        designation = get_object_or_404(self.get_queryset(request), pk=object_id)
        form = WithdrawForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                designation_withdraw(designation=designation, reason=form.cleaned_data["reason"], actor=request.user,
                                     via=SubmissionChannel.ADMIN)
            except (AlreadyWithdrawn, ValueError) as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Withdrawn: {designation}. Its subject is re-evaluated.")
                return HttpResponseRedirect(reverse("admin:registry_designation_change", args=[designation.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.opts, "designation": designation, "form": form,
                   "title": f"Withdraw {designation}"}
        return TemplateResponse(request, "admin/workspace/designation_withdraw.html", context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        extra = dict(extra_context or {})
        extra["can_withdraw"] = is_regulator(request.user) and request.user.has_perm("registry.add_designationwithdrawal")
        extra["withdraw_url"] = reverse("admin:registry_designation_withdraw", args=[object_id]) if str(object_id).isdigit() else ""
        return super().change_view(request, object_id, form_url, extra_context=extra)


def subject_designations(obj: Any) -> list[Designation]:
    """The designations of a subject page's record, withdrawn ones included (marked)."""
    column = {AIModel: "model"}.get(type(obj))
    if column is None:
        kind = "cluster" if type(obj).__name__ == "Cluster" else "organisation"
        lookup = {"cluster": obj} if kind == "cluster" else {"organisation": obj, "subject_kind": "organisation"}
    else:
        lookup = {column: obj}
    return list(Designation.objects.filter(**lookup).select_related("withdrawal").order_by("decided_on", "pk"))
