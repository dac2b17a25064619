"""Template tags of the regulator's workspace: ISO dates, status badges, regimes by name, numbers
with units, and the dashboard shown at the admin index."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.encoding import iri_to_uri
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from rules.engine.formatting import format_quantity
from rules.engine.vocabulary import status_line
from workspace.regimes import regime_html, regime_short_title

register = template.Library()


@register.filter
def iso_date(value: Any) -> str:
    if isinstance(value, datetime):
        return timezone.localtime(value).date().isoformat() if timezone.is_aware(value) else value.date().isoformat()
    return value.isoformat() if isinstance(value, date) else ("" if value is None else str(value))


@register.filter
def iso_datetime(value: Any) -> str:
    """`2026-11-29 14:03 UTC`: minutes are enough for a reader; the record keeps microseconds."""
    if not isinstance(value, datetime):
        return iso_date(value)
    moment = timezone.localtime(value) if timezone.is_aware(value) else value
    return f"{moment:%Y-%m-%d %H:%M} {moment.tzname() or ''}".strip()


@register.filter
def number(value: Any, unit: str = "") -> str:
    return format_quantity(value, unit or None)


@register.filter
def regime(slug: str, version_label: str = "") -> str:
    """`{{ d.regime|regime }}`: the regime's short title with its slug (or `|regime:label`, a version
    label) as secondary text."""
    return regime_html(slug or "", version_label=version_label or "")


@register.filter
def regime_title(slug: str) -> str:
    return regime_short_title(slug or "")


@register.simple_tag
def status_badge(status: str, tier_title: str | None = None) -> str:
    """A status with the tier reached, when there is one: `covered: GPAI model with systemic risk`."""
    return format_html('<span class="status status-{}">{}</span>', status, status_line(status, tier_title))


@register.inclusion_tag("admin/workspace/dashboard.html", takes_context=True)
def regulator_dashboard(context: dict[str, Any]) -> dict[str, Any]:
    from workspace.admin.dashboard import dashboard_context

    return dashboard_context(request=context["request"])


@register.simple_tag
def obligation_badge(status: str) -> str:
    """An obligation's status in words: `overdue`, `fulfilled late`."""
    from rules.engine.vocabulary import obligation_status_label

    return format_html('<span class="obligation-status obligation-{}">{}</span>', status, obligation_status_label(status))


@register.inclusion_tag("admin/workspace/obligations_panel.html", takes_context=True)
def obligations_panel(context: dict[str, Any]) -> dict[str, Any]:
    from workspace.admin.obligations import dashboard_panel

    return dashboard_panel(request=context["request"])


@register.inclusion_tag("admin/workspace/subject_obligations.html", takes_context=True)
def subject_obligations(context: dict[str, Any]) -> dict[str, Any]:
    from workspace.admin.obligations import subject_section

    return subject_section(request=context["request"], subject_ref=context["subject_ref"],
                           as_of=context["status_as_of"])


@register.simple_tag
def listed_choices(choices: list[dict[str, Any]]) -> str:
    """A list filter's choices as the admin's filter template writes them (`<li><a href=...>`), in one
    pass: a filter with a thousand choices is a thousand template renders otherwise."""
    return mark_safe("".join(
        format_html('<li{}><a href="{}">{}</a></li>', mark_safe(' class="selected"') if choice["selected"] else "",
                    iri_to_uri(choice["query_string"]), choice["display"])
        for choice in choices
    ))
