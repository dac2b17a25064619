"""A cluster's topology on its admin page: its accelerator groups and network links as inlines,
editable while the cluster is small; for a large one, read-only and only its first rows, so the page
costs the same for any cluster the registry takes (the whole topology is in the API, the export and
the revision history). The registry's own limits (CLUSTER_MAX_GROUPS, CLUSTER_MAX_LINKS) hold here too."""
from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet

from registry.mapping import keep_exact_figures
from registry.models import AcceleratorGroup, Cluster, NetworkLink

from .display import ScientificDisplayMixin
from .forms import ExactNumberField
from .widgets import ListedSelects

# Rows of one inline (groups, or links) the page edits; a cluster with more shows this many, read-only.
TOPOLOGY_EDITABLE_ROWS = 50


def topology_counts(cluster: Cluster) -> dict[str, int]:
    """The cluster's number of groups and links, counted once per page (kept on the instance)."""
    if not hasattr(cluster, "_topology_counts"):
        cluster._topology_counts = {"groups": cluster.groups.count(), "links": cluster.links.count()}
    return cluster._topology_counts


def topology_is_large(cluster: Cluster | None) -> bool:
    if cluster is None or cluster.pk is None:
        return False
    return max(topology_counts(cluster).values()) > TOPOLOGY_EDITABLE_ROWS


class CappedTopologyFormSet(BaseInlineFormSet):
    """The formset over the cluster's first `shown_rows` rows (all of them when None), with their
    related rows read in the same query; more rows than the registry's limit are refused by name."""

    shown_rows: int | None = None
    related: tuple[str, ...] = ()
    limit_name = ""

    def get_queryset(self) -> QuerySet:
        if not hasattr(self, "_queryset"):
            queryset = super().get_queryset().select_related(*self.related)
            self._queryset = queryset if self.shown_rows is None else queryset[: self.shown_rows]
            self._keep_exact_figures(self._queryset)
        return self._queryset

    def _keep_exact_figures(self, rows: QuerySet) -> None:
        """The rows (read once, and kept by the queryset) with their figures as the cluster's latest
        revision holds them: a float column rounds a whole number of more than 15 digits, which the
        form would show and a save would store."""
        cluster = self.instance
        if cluster is None or cluster.pk is None:
            return
        facts = cluster.revisions.order_by("-number").values_list("facts", flat=True).first() or {}
        if self.model is AcceleratorGroup:
            groups = {group.get("name"): group for group in facts.get("groups") or []}
            for row in rows:
                keep_exact_figures("group", row, groups.get(row.name))
        elif self.model is NetworkLink:
            links = {(link.get("from"), link.get("to")): link for link in facts.get("links") or []}
            for row in rows:
                keep_exact_figures("link", row, links.get((row.from_group.name, row.to_group.name)))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.error_messages["too_many_forms"] = (
            f"A cluster has at most %(num)d {self.model._meta.verbose_name_plural} ({self.limit_name}).")


class CappedTopologyInline(ListedSelects, ScientificDisplayMixin, admin.TabularInline):
    """An inline of a cluster's topology: editable for a small cluster, read-only and capped for a
    large one; never more rows than `limit_setting` allows."""

    extra = 0
    formset = CappedTopologyFormSet
    limit_setting = ""
    related: tuple[str, ...] = ()

    def formfield_for_dbfield(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        if isinstance(db_field, models.FloatField):  # a figure: read exactly, not through float()
            return db_field.formfield(form_class=ExactNumberField, widget=forms.TextInput(attrs={"inputmode": "decimal"}),
                                      **kwargs)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_max_num(self, request: Any, obj: Any = None, **kwargs: Any) -> int:
        return getattr(settings, self.limit_setting)

    def get_formset(self, request: Any, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        formset.related = self.related
        formset.limit_name = self.limit_setting
        formset.validate_max = True
        formset.shown_rows = TOPOLOGY_EDITABLE_ROWS if topology_is_large(obj) else None
        return formset

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return not topology_is_large(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return not topology_is_large(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return not topology_is_large(obj) and super().has_delete_permission(request, obj)


def topology_summary(cluster: Cluster) -> str:
    """What the cluster's page says of its topology: its size, and what the inlines show of it."""
    if cluster.pk is None:
        return "—"
    counts = topology_counts(cluster)
    size = (f"{counts['groups']:,} accelerator group{'' if counts['groups'] == 1 else 's'}, "
            f"{counts['links']:,} network link{'' if counts['links'] == 1 else 's'}")
    if not topology_is_large(cluster):
        return size
    return (f"{size}: the first {TOPOLOGY_EDITABLE_ROWS} of each are shown below, read-only; a cluster this "
            "large is edited through the API or an import")
