"""Regimes in the admin's lists by their short title, the slug beside it: a list column and a list
filter whose choices read "EU AI Act (eu-ai-act)" while the query string keeps the slug."""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.utils.safestring import SafeString

from rules.library_store import published_library
from workspace.regimes import regime_html, regime_label


class RegimeListFilter(admin.SimpleListFilter):
    """`?regime__exact=eu-ai-act`: the links and exports written for the field's own filter keep working."""

    title = "regime"
    parameter_name = "regime__exact"  # as the admin's own filter on the field writes it

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        """The regimes of the rule library that the list has rows of: one indexed probe each, never a
        DISTINCT over the whole list (the decision log's millions of rows)."""
        rows = model_admin.get_queryset(request).order_by()
        slugs = [slug for slug in published_library().regimes() if rows.filter(regime=slug).exists()]
        return sorted(((slug, regime_label(slug)) for slug in slugs), key=lambda choice: choice[1].lower())

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        return queryset.filter(regime=self.value()) if self.value() else queryset


@admin.display(description="Regime", ordering="regime")
def regime_column(obj: Any) -> SafeString:
    return regime_html(obj.regime)
