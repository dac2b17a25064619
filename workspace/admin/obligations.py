"""Obligations in the workspace: the list of each obligation's status as last worked out (read-only;
filters by regime, status, organisation and due date, search by subject, the lists' CSV export of what
is filtered), the dashboard's "Overdue and due soon" panel and the obligations section of a subject's
page. A lab member sees its own organisation's obligations only."""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from obligations.listing import DUE_SOON_DAYS, obligations_on, overdue_and_due_soon, overdue_first, views_from_states
from obligations.models import ObligationState
from registry.models import Organisation
from reports.context.obligations import CSV_FIELDS, obligation_record
from rules.engine.vocabulary import OBLIGATION_STATUS_CHOICES, ObligationStatus, obligation_status_label
from rules.models import Determination

from .base import ReadOnlyAdmin
from .exports import CsvExportMixin
from .links import subject_admin_urls
from .regime_columns import RegimeListFilter, regime_column
from .scoping import scope_of, unreleased_of, withheld_of

PANEL_LIMIT = 20
CSV_BATCH = 500


class ObligationStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return OBLIGATION_STATUS_CHOICES

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        return queryset.filter(status=self.value()) if self.value() else queryset


class OrganisationFilter(admin.SimpleListFilter):
    """The organisations with obligations that the user may see."""

    title = "organisation"
    parameter_name = "organisation"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        """The registry's organisations with a state in the list: an indexed probe each, not a DISTINCT
        over every state."""
        states = model_admin.get_queryset(request).filter(organisation=OuterRef("slug"))
        slugs = Organisation.objects.filter(Exists(states)).order_by("slug").values_list("slug", flat=True)
        return [(slug, slug) for slug in slugs]

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        return queryset.filter(organisation=self.value()) if self.value() else queryset


class DueBeforeFilter(admin.SimpleListFilter):
    """`?due_before=2027-08-02`: due on or before the date (any date written YYYY-MM-DD, or a choice)."""

    title = "due on or before"
    parameter_name = "due_before"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        today = timezone.now().date()
        choices = [(today, "today"), (today + timedelta(days=DUE_SOON_DAYS), f"in {DUE_SOON_DAYS} days"),
                   (today + timedelta(days=30), "in 30 days"), (today + timedelta(days=90), "in 90 days"),
                   (today + timedelta(days=365), "in a year")]
        found = [(day.isoformat(), f"{label} ({day.isoformat()})") for day, label in choices]
        if self.value() and self.value() not in dict(found):
            found.append((self.value(), self.value()))
        return found

    def due_before(self, request: Any) -> date | None:
        if not self.value():
            return None
        try:
            return date.fromisoformat(self.value())
        except ValueError:
            messages.error(request, f"Filter due_before: {self.value()!r} is not a date written YYYY-MM-DD; "
                                    "the list is not filtered by it")
            return None

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        day = self.due_before(request)
        return queryset if day is None else queryset.filter(due_on__lte=day)


@admin.register(ObligationState)
class ObligationStateAdmin(CsvExportMixin, ReadOnlyAdmin):
    list_display = ("subject_link", regime_column, "obligation_display", "occurrence", "status_words", "due_on",
                    "due_reason", "citation", "as_of")
    list_filter = (RegimeListFilter, ObligationStatusFilter, OrganisationFilter, DueBeforeFilter)
    list_display_links = ("obligation_display",)
    search_fields = ("subject_ref",)
    list_per_page = 50
    show_full_result_count = False  # counted once, not again for "N total"
    fields = ("subject_ref", "subject_kind", "organisation", "regime", "obligation", "occurrence", "title", "citation",
              "rule_version_label", "status", "due_on", "due_reason", "as_of", "determination_link", "updated_at")
    readonly_fields = fields
    csv_fields = CSV_FIELDS

    def get_queryset(self, request: Any) -> QuerySet:
        # annotated before it is ordered: the list puts overdue obligations first
        rows = self.model._default_manager.annotate(overdue_first=overdue_first()).order_by(*self.get_ordering(request))
        return states_for(request.user, rows)

    def get_ordering(self, request: Any) -> tuple[str, ...]:
        return ("overdue_first", "due_on", "subject_ref", "regime", "obligation", "occurrence")

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        self._links = subject_admin_urls(row.subject_ref for row in changelist.result_list)
        return changelist

    def csv_records(self, rows: Iterable[ObligationState]) -> Iterator[dict[str, Any]]:
        """The states in batches, each batch's fulfilments read in one go."""
        iterator = iter(rows)
        while batch := list(itertools.islice(iterator, CSV_BATCH)):
            for state, view in zip(batch, views_from_states(batch), strict=True):
                yield obligation_record(view, as_of=state.as_of)

    @admin.display(description="Subject", ordering="subject_ref")
    def subject_link(self, obj: ObligationState) -> str:
        url = getattr(self, "_links", {}).get(obj.subject_ref)
        return format_html('<a href="{}">{}</a>', url, obj.subject_ref) if url else obj.subject_ref

    @admin.display(description="Obligation", ordering="obligation")
    def obligation_display(self, obj: ObligationState) -> str:
        # the occurrence is repeated here for narrow screens, where its own column gives way
        occurrence = format_html('<span class="narrow-only"> · {}</span>', obj.occurrence) if obj.occurrence else ""
        return format_html('{}<div class="quiet"><code>{}</code>{}</div>', obj.title, obj.obligation, occurrence)

    @admin.display(description="Status", ordering="status")
    def status_words(self, obj: ObligationState) -> str:
        return format_html('<span class="obligation-status obligation-{}">{}</span>', obj.status,
                           obligation_status_label(obj.status))

    @admin.display(description="Determination")
    def determination_link(self, obj: ObligationState) -> str:
        if obj.determination_id is None:
            return "—"
        return format_html('<a href="{}">{}</a>', reverse("admin:rules_determination_change", args=[obj.determination_id]),
                           obj.determination_id)


def states_for(user: Any, states: QuerySet) -> QuerySet:
    """The user's organisation's obligation states, less those created by a determination withheld from
    it (one resting on another organisation's model not yet released, `rules.visibility`)."""
    scope = scope_of(user)
    states = scope.filter(states, "organisation")
    withheld = withheld_of(user)
    if withheld is None:
        return states
    hidden = Determination.objects.filter(organisation=scope.organisation_slug).filter(withheld).values("pk")
    return states.exclude(determination_id__in=hidden)


def _list_url(**query: str) -> str:
    base = reverse("admin:obligations_obligationstate_changelist")
    return f"{base}?{urlencode(query)}" if query else base


def dashboard_panel(*, request: HttpRequest) -> dict[str, Any]:
    """The dashboard's "Overdue and due soon": overdue obligations first, then those falling due within
    DUE_SOON_DAYS, each linked to its subject; a lab member sees its own organisation's."""
    user = request.user
    scope = scope_of(user)
    today = timezone.now().date()
    if (scope.restricted and scope.organisation_slug is None) or not user.has_perm("obligations.view_obligationstate"):
        return {"show": False}
    overdue, soon = (states_for(user, rows) for rows in overdue_and_due_soon(today=today,
                                                                             organisation=scope.organisation_slug))
    overdue_rows = list(overdue[:PANEL_LIMIT])
    soon_rows = list(soon[:PANEL_LIMIT])
    links = subject_admin_urls(row.subject_ref for row in [*overdue_rows, *soon_rows])
    horizon = today + timedelta(days=DUE_SOON_DAYS)
    return {
        "show": True,
        "today": today,
        "horizon": horizon,
        "due_soon_days": DUE_SOON_DAYS,
        "scope": scope,
        "overdue": [(row, links.get(row.subject_ref)) for row in overdue_rows],
        "soon": [(row, links.get(row.subject_ref)) for row in soon_rows],
        "overdue_count": overdue.count(),
        "soon_count": soon.count(),
        "overdue_url": _list_url(status="overdue"),
        "soon_url": _list_url(due_before=horizon.isoformat()),
        "list_url": _list_url(),
    }


def subject_section(*, request: HttpRequest, subject_ref: str, as_of: date | None) -> dict[str, Any]:
    """A subject's obligations on the page's date, with their fulfilments and the reviews' decisions
    (nothing when the page was asked for a date that is not one)."""
    if as_of is None or not request.user.has_perm("obligations.view_obligationstate"):
        return {"show": False}
    if subject_ref in unreleased_of(request.user).own:
        return {"show": True, "withheld": True, "as_of": as_of, "obligations": [], "not_owed": []}
    views = obligations_on(as_of=as_of, subject_refs=[subject_ref])
    owed = [view for view in views if view.status != ObligationStatus.NOT_APPLICABLE]
    return {"show": True, "obligations": owed, "not_owed": [view for view in views if view not in owed],
            "as_of": as_of, "subject_ref": subject_ref, "list_url": _list_url(q=subject_ref)}
