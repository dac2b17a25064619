"""A subject's page: the change view of a model, cluster or organisation with its status on one date
under every regime (tier reached, every test of the version with its outcome in words, citations),
from the determinations made as of that date (recorded first when the log has none), its
designations, its determination history, and the buttons to evaluate it now and to download its
audit report. The as-of form may ask a hypothetical question (the law of that date applied to the
subject as it stands today): a preview computed for the page, never recorded."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html_join

from rules.engine.vocabulary import STATUS_LABELS, Status
from rules.library_store import published_library
from rules.models import Determination, RuleVersion
from rules.models.rule_version import RuleVersionState
from rules.previews import hypothetical_evaluations
from rules.selectors import (
    current_determinations,
    regimes_in_force,
    subject_determinations_on,
    subject_history,
    tier_titles,
)
from workspace.display import comparison_text
from workspace.regimes import regime_label, regime_short_title

from .designations import subject_designations
from .scoping import is_regulator, unreleased_of, withheld_of

HISTORY_PAGE_SIZE = 10
REPORT_FORMATS = ("pdf", "html")
REPORT_PERMISSION = "reports.view_reportartifact"


@dataclass
class TestLine:
    """One test of the version applied: its outcome as a sentence true as written."""

    id: str
    title: str
    outcome: str
    statement: str
    citation: str = ""
    deciding: bool = False


@dataclass
class StatusRow:
    """One regime on a subject's page: its status on the as-of date, the tier reached and every test
    of the version with its outcome."""

    regime: str
    status: str
    version_label: str
    note: str = ""
    determination: Determination | None = None
    tier: str = ""
    tier_title: str = ""
    tests: list[TestLine] = field(default_factory=list)
    as_of: date | None = None  # the date the determination is recorded as of: the page's
    made_as_of: date | None = None  # when an earlier determination was confirmed as of the page's date, its own

def _not_in_force_note(slug: str, as_of: date, legal_status: dict[str, str]) -> str:
    versions = published_library().versions(slug)
    upcoming = sorted(v.effective_from for v in versions if v.effective_from and v.effective_from > as_of)
    if upcoming:
        return f"in force from {upcoming[0].isoformat()}"
    ended = sorted(v.effective_to for v in versions if v.effective_to and v.effective_to <= as_of)
    if ended:
        return f"no longer in force since {ended[-1].isoformat()}"
    return f"never in force ({legal_status.get(slug, 'not enacted')})"


def _as_of(value: str | None, *, today: date) -> tuple[date | None, str]:
    """The page's as-of date (today unless asked), or None and the reason a date asked for was refused."""
    if value is None or value == "":
        return today, ""
    try:
        return date.fromisoformat(value.strip()), ""
    except ValueError as exc:
        problem = str(exc) if "range" in str(exc) else "write it YYYY-MM-DD"
        return None, f"As of: {value!r} is not a date ({problem})"


WITHHELD_NOTE = "withheld: it rests on another organisation's model not yet released"


def record_determinations_on(*, subject_ref: str, as_of: date, requested_by: Any = None) -> str:
    """Records the subject's determinations as of `as_of` under each regime in force whose version has
    none logged for that date (as a report as of a date does, `reports.services.record_missing_determinations`);
    returns what was done, in words, or "" when the log had them all."""
    from rules.models.runs import Trigger
    from rules.services import run_create, run_execute_inline

    in_force = regimes_in_force(as_of=as_of)
    present = subject_determinations_on(subject_ref=subject_ref, as_of=as_of, regimes=in_force)
    missing = [regime.regime for regime in in_force if regime.regime not in present]
    if not missing:
        return ""
    run = run_create(kind=Trigger.MANUAL, as_of=as_of, regimes=missing, subjects=[subject_ref],
                     requested_by=requested_by)
    run_execute_inline(run)
    return (f"No determination was logged as of {as_of.isoformat()} under {', '.join(missing)}: "
            f"recorded now (evaluation run {run.pk}).")


def status_rows(*, subject_ref: str, as_of: date, withheld: Q | None = None) -> list[StatusRow]:
    """Every regime of the library, in force on `as_of` or not, for one subject, from the determinations
    made as of that very date (a bounded number of queries): never one of another date.
    A determination `withheld` from the reader (`rules.visibility`) is shown as withheld, never its figures."""
    in_force = {regime.regime: regime for regime in regimes_in_force(as_of=as_of)}
    current = subject_determinations_on(subject_ref=subject_ref, as_of=as_of, regimes=in_force.values())
    hidden: set[int] = set()
    if withheld is not None and current:
        hidden = set(Determination.objects.filter(pk__in=[d.pk for d in current.values()]).filter(withheld)
                     .values_list("pk", flat=True))
    legal_status = dict(
        RuleVersion.objects.filter(state=RuleVersionState.PUBLISHED).order_by("effective_from")
        .values_list("regime", "legal_status")
    )
    rows = []
    for slug in published_library().regimes():
        regime = in_force.get(slug)
        if regime is None:
            rows.append(StatusRow(slug, Status.NOT_IN_FORCE, "no version in force",
                                  note=_not_in_force_note(slug, as_of, legal_status)))
            continue
        label = f"{slug}@{regime.version.version_id}"
        determination = current.get(slug)
        if determination is None:
            rows.append(StatusRow(slug, "", label, note=f"no determination logged as of {as_of.isoformat()}"))
            continue
        if determination.pk in hidden:
            rows.append(StatusRow(slug, "", label, note=WITHHELD_NOTE))
            continue
        row = StatusRow(slug, determination.status, label, determination=determination, as_of=as_of,
                        made_as_of=determination.as_of if determination.as_of != as_of else None)
        if determination.subject_kind not in regime.applies_to:
            row.note = f"no test of this version applies to a {determination.subject_kind}"
        _fill(row, determination.data(), determination.deciding_test)
        rows.append(row)
    return rows


def _fill(row: StatusRow, payload: dict[str, Any], deciding_test: str) -> None:
    """The tier, the reason for not_applicable and every test with its outcome, from an `evaluate` JSON object."""
    row.tier = payload.get("tier") or ""
    row.tier_title = payload.get("tier_title") or ""
    if payload.get("reason"):
        row.note = payload["reason"]
    quantities = payload.get("quantities", {})
    row.tests = [
        TestLine(test["id"], test.get("title") or "", test.get("outcome") or "",
                 comparison_text(test, quantities=quantities), test.get("citation") or "",
                 deciding=test["id"] == deciding_test)
        for test in payload.get("tests", [])
    ]


HYPOTHETICAL_NOTE = "hypothetical: a preview, not a determination of record"


def hypothetical_status_rows(*, subject_ref: str, as_of: date) -> list[StatusRow]:
    """Every regime of the library for one subject, the law of `as_of` applied to it as it stands today;
    computed for the page and never recorded."""
    rows = []
    for evaluation in hypothetical_evaluations(subjects=[subject_ref], as_of=as_of):
        if evaluation.rule_version is None:
            rows.append(StatusRow(evaluation.regime, Status.NOT_IN_FORCE, "no version in force",
                                  note=f"no version in force on {as_of.isoformat()}"))
            continue
        payload = evaluation.to_dict(version_text=False)
        deciding_test = evaluation.deciding_test()
        deciding = deciding_test.id if deciding_test else ""
        row = StatusRow(evaluation.regime, evaluation.status, f"{evaluation.regime}@{evaluation.rule_version}",
                        note=HYPOTHETICAL_NOTE)
        _fill(row, payload, deciding)
        rows.append(row)
    return rows


class CountedOnceChangeList(ChangeList):
    """A list that counts its records once when nothing filters it. The admin counts a list twice,
    the records shown and "N total" (the same number when no filter or search applies): at a hundred
    thousand records each count reads every one. "N total" is still counted when a filter or a
    search applies (the admin's own `show_full_result_count` is off only so it is not counted twice)."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        self.show_full_result_count = True
        self.full_result_count = (self.root_queryset.count() if self.has_active_filters or self.query
                                  else self.result_count)
        self.show_admin_actions = bool(self.full_result_count)


class SubjectPageMixin(admin.ModelAdmin):
    """Adds the status panel, history and actions to a registry record's change view, and each
    record's status today to its list."""

    change_form_template = "admin/workspace/subject_change_form.html"
    subject_kind = ""
    show_full_result_count = False  # counted by `CountedOnceChangeList`, once when nothing filters the list

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return CountedOnceChangeList

    def get_list_display(self, request: HttpRequest) -> Any:
        first, *rest = super().get_list_display(request)
        return (first, "status_today", "tier_today", *rest)

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        """Looks up the current statuses and tiers of the page's records in one query."""
        changelist = super().get_changelist_instance(request)
        today = timezone.now().date()
        regimes = [r for r in regimes_in_force(as_of=today) if self.subject_kind in r.applies_to]
        records = {obj.subject_ref: obj for obj in changelist.result_list}
        found: dict[str, list[tuple[str, str, str]]] = {ref: [] for ref in records}
        if regimes and records:
            rows = current_determinations(as_of=today, regimes=regimes, subject_refs=records,
                                          withheld=withheld_of(request.user)).order_by("regime")
            for ref, regime, status, tier in rows.values_list("subject_ref", "regime", "status", "tier"):
                found[ref].append((regime, status, tier))
        titles = tier_titles() if records else {}
        for ref, obj in records.items():
            obj.current_statuses = found[ref]
            obj.current_tiers = [(regime, titles.get((regime, tier), tier)) for regime, _, tier in found[ref] if tier]
        return changelist

    @admin.display(description="Status today")
    def status_today(self, obj: Any) -> str:
        statuses = getattr(obj, "current_statuses", None)
        if not statuses:
            return "—"
        return format_html_join(
            " ", '<span class="status status-{}" title="{}: {}">{}: {}</span>',
            ((status, regime_label(regime), label, regime_short_title(regime), label) for regime, status, _ in statuses
             for label in [STATUS_LABELS.get(status, status)]),
        )

    @admin.display(description="Tier reached today")
    def tier_today(self, obj: Any) -> str:
        tiers = getattr(obj, "current_tiers", None)
        if not tiers:
            return "—"
        return format_html_join(" ", '<span class="tier" data-regime="{}" title="{}">{}: {}</span>',
                                ((regime, regime_label(regime), regime_short_title(regime), title)
                                 for regime, title in tiers))

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], add: bool = False,
                           change: bool = False, form_url: str = "", obj: Any = None) -> HttpResponse:
        if obj is not None and obj.pk:
            context.update(self.subject_context(request, obj))
        response = super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)
        if context.get("status_as_of_error") and request.method == "GET":
            response.status_code = 400  # the as-of date asked for is not a date: the page says why
        return response

    def subject_context(self, request: HttpRequest, obj: Any) -> dict[str, Any]:
        today = timezone.now().date()
        asked = request.GET.get("as_of")
        as_of, as_of_error = _as_of(asked, today=today)
        withheld = withheld_of(request.user)
        hypothetical = request.GET.get("hypothetical") == "1"
        status_note = ""
        if hypothetical and obj.subject_ref in unreleased_of(request.user).own:
            hypothetical, status_note = False, f"hypothetical: {WITHHELD_NOTE}; showing the determinations of record"
        if as_of is None:
            rows = []  # no date, no statuses: never today's under a heading that asked for another
        elif hypothetical:
            rows = hypothetical_status_rows(subject_ref=obj.subject_ref, as_of=as_of)
        else:
            status_note = " ".join(filter(None, [status_note, record_determinations_on(
                subject_ref=obj.subject_ref, as_of=as_of, requested_by=request.user)]))
            rows = status_rows(subject_ref=obj.subject_ref, as_of=as_of, withheld=withheld)
        history = Paginator(subject_history(subject_ref=obj.subject_ref, withheld=withheld), HISTORY_PAGE_SIZE)
        page = history.get_page(request.GET.get("history"))
        info = self.opts.app_label, self.opts.model_name
        return {
            "subject_ref": obj.subject_ref,
            "status_as_of": as_of,
            "status_as_of_asked": asked if as_of is None else as_of.isoformat(),
            "status_is_today": as_of == today,
            "status_as_of_error": as_of_error,
            "status_note": status_note,
            "status_hypothetical": hypothetical,
            "status_rows": rows,
            "history_page": page,
            "can_evaluate": is_regulator(request.user) and as_of is not None,
            "can_view_determinations": request.user.has_perm("rules.view_determination"),
            "can_download_report": request.user.has_perm(REPORT_PERMISSION) and as_of is not None,
            "report_formats": REPORT_FORMATS,
            "evaluate_url": reverse("admin:{}_{}_evaluate".format(*info), args=[obj.pk]),
            "report_url": reverse("admin:{}_{}_audit_report".format(*info), args=[obj.pk]),
            "designations": subject_designations(obj),
            "designation_add_url": (reverse("admin:registry_designation_add") + f"?model={obj.pk}"
                                    if is_regulator(request.user) and request.user.has_perm("registry.add_designation")
                                    and self.subject_kind == "model" else ""),
        }

    def get_urls(self) -> list:
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<path:object_id>/evaluate/", self.admin_site.admin_view(self.evaluate_view),
                 name="{}_{}_evaluate".format(*info)),
            path("<path:object_id>/audit-report/", self.admin_site.admin_view(self.audit_report_view),
                 name="{}_{}_audit_report".format(*info)),
            *super().get_urls(),
        ]

    def _change_url(self, obj: Any) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk])

    def _subject(self, request: HttpRequest, object_id: str) -> Any:
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self.has_view_permission(request, obj):
            raise Http404("no such record")
        return obj

    def evaluate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Evaluates the subject now under every regime (POST); the run page shows it finish."""
        from rules.models.runs import Trigger
        from rules.services import run_create
        from rules.tasks import run_start

        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self._subject(request, object_id)
        if not is_regulator(request.user):
            raise PermissionDenied("only a regulator starts an evaluation from the admin")
        as_of, error = _as_of(request.POST.get("as_of"), today=timezone.now().date())
        if error:
            messages.error(request, error)
            return HttpResponseRedirect(self._change_url(obj))
        run = run_create(kind=Trigger.MANUAL, as_of=as_of, subjects=[obj.subject_ref], requested_by=request.user)
        transaction.on_commit(lambda: run_start.apply_async(args=[run.pk]))
        messages.success(request, f"Evaluation of {obj.subject_ref} as of {as_of.isoformat()} started (run {run.pk}).")
        return HttpResponseRedirect(reverse("admin:rules_evaluationrun_change", args=[run.pk]))

    def audit_report_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Writes the subject's audit report as of the date asked (POST) and sends it as a download."""
        from reports.models import ArtifactStatus
        from reports.selectors import ReportInputError, artifact_for_download
        from reports.services import report_generate
        from reports.views import artifact_response

        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self._subject(request, object_id)
        if not request.user.has_perm(REPORT_PERMISSION):
            raise PermissionDenied("downloading reports needs the reports.view_reportartifact permission")
        report_format = request.POST.get("format", "pdf")
        back = HttpResponseRedirect(self._change_url(obj))
        if obj.subject_ref in unreleased_of(request.user).own:
            messages.error(request, f"subject: {obj.subject_ref} rests on a base model another organisation has not "
                                    "released; its audit report is available once that model is released")
            return back
        as_of, error = _as_of(request.POST.get("as_of"), today=timezone.now().date())
        if error:
            messages.error(request, error)
            return back
        if report_format not in REPORT_FORMATS:
            messages.error(request, f"format: choose {' or '.join(REPORT_FORMATS)}, not {report_format!r}")
            return back
        try:
            artifact = report_generate(kind="audit", format=report_format, requested_by=request.user,
                                       subject=obj.subject_ref, as_of=as_of)
        except ReportInputError as exc:
            messages.error(request, str(exc))
            return back
        if artifact.status != ArtifactStatus.DONE:
            messages.error(request, f"The audit report could not be written: {artifact.error}")
            return back
        return artifact_response(artifact_for_download(artifact_id=artifact.pk, user=request.user))
