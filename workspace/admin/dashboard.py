"""The admin index as the regulator's dashboard: status counts and tiers reached per regime in force today, the
latest re-evaluation runs, recent status changes and rule files due for re-verification. A lab
member sees its own organisation's counts and changes only, less those resting on another
organisation's model not yet released. A bounded number of queries."""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from registry.models import AIModel, Cluster, Organisation
from rules.selectors import (
    STATUSES,
    SUBJECT_KINDS,
    VERIFICATION_STALE_AFTER,
    RegimeCounts,
    current_counts,
    recent_runs,
    recent_status_changes,
    stale_rule_versions,
    tiers_in_force,
)

from .links import subject_admin_urls
from .scoping import scope_of, withheld_of


def _subject_totals(scope: Any) -> dict[str, int]:
    return {
        "model": scope.filter(AIModel.objects.all(), "organisation__slug").count(),
        "cluster": scope.filter(Cluster.objects.all(), "organisation__slug").count(),
        "organisation": scope.filter(Organisation.objects.all(), "slug").count(),
    }


KIND_LISTS = {"model": ("model", "models", "admin:registry_aimodel_changelist"),
              "cluster": ("cluster", "clusters", "admin:registry_cluster_changelist"),
              "organisation": ("organisation", "organisations", "admin:registry_organisation_changelist")}


def _cells(counts: RegimeCounts) -> list[dict[str, Any]]:
    """Covered, not covered, indeterminate, not applicable: each a total and its subjects by kind, a list
    filtered to them."""
    cells = []
    for status in STATUSES:
        parts = []
        for kind, n in sorted(counts.by_kind.get(status, {}).items(), key=lambda item: SUBJECT_KINDS.index(item[0])):
            one, many, changelist = KIND_LISTS[kind]
            url = f"{reverse(changelist)}?status={counts.regime.regime}:{status}" if kind != "organisation" else ""
            parts.append({"text": f"{n} {one if n == 1 else many}", "url": url})
        cells.append({"status": status, "total": counts.counts.get(status, 0), "parts": parts})
    return cells


def _tier_cells(regime: str, declared: list[tuple[str, str]], counts: dict[tuple[str, str], dict[str, int]]
                ) -> list[dict[str, Any]]:
    """Each tier the version in force declares, lowest first: subjects reaching it, by kind, each a list filtered to them."""
    cells = []
    for tier, title in declared:
        by_kind = counts.get((regime, tier), {})
        parts = []
        for kind, n in sorted(by_kind.items(), key=lambda item: SUBJECT_KINDS.index(item[0])):
            one, many, changelist = KIND_LISTS[kind]
            url = f"{reverse(changelist)}?tier={regime}:{tier}" if kind != "organisation" else ""
            parts.append({"text": f"{n} {one if n == 1 else many}", "url": url})
        cells.append({"tier": tier, "title": title, "total": sum(by_kind.values()), "parts": parts})
    return cells


def dashboard_context(*, request: HttpRequest) -> dict[str, Any]:
    user = request.user
    scope = scope_of(user)
    today = timezone.now().date()
    organisation = scope.organisation_slug if scope.restricted else None
    context: dict[str, Any] = {"today": today, "scope": scope, "request": request}
    if scope.restricted and organisation is None:
        context["no_organisation"] = True
        return context
    withheld = withheld_of(user)
    declared: dict[str, list[tuple[str, str]]] = {}
    for regime, tier, title in tiers_in_force(as_of=today):
        declared.setdefault(regime.regime, []).append((tier, title))
    counted, reached = current_counts(as_of=today, organisation=organisation, subject_totals=_subject_totals(scope),
                                      withheld=withheld)
    context["regime_rows"] = [
        {"counts": counts, "cells": _cells(counts),
         "tiers": _tier_cells(counts.regime.regime, declared.get(counts.regime.regime, []), reached)}
        for counts in counted
    ]
    changes = recent_status_changes(organisation=organisation, withheld=withheld)
    links = subject_admin_urls(change.subject_ref for change in changes)
    context["changes"] = [(change, links.get(change.subject_ref)) for change in changes]
    if not scope.restricted and user.has_perm("rules.view_evaluationrun"):
        context["runs"] = recent_runs()
    if not scope.restricted and user.has_perm("rules.view_ruleversion"):
        context["stale_versions"] = stale_rule_versions(today=today)
        context["stale_after_days"] = VERIFICATION_STALE_AFTER.days
    return context
