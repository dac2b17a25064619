"""A changelist exported as CSV: exactly the rows the list shows under its current filters, search and
ordering (every page of them), within the user's scope, streamed `csv_chunk_size` rows at a time.

To give another list the export (an obligations list, say), put the mixin before the ModelAdmin base
and describe its columns:

    @admin.register(Obligation)
    class ObligationAdmin(CsvExportMixin, OrganisationScopedAdmin):
        csv_fields = ("subject", "regime", "obligation", "due_on", "status")

        def csv_records(self, rows):
            for row in rows:  # the list's rows, read from the database in chunks
                yield {"subject": row.subject_ref, "regime": row.regime, ...}

Its list then shows "Export CSV", a link to `<list>/export.csv?<the list's query>`, named
`admin:<app>_<model>_export_csv`. The rows come from the list's own ChangeList, so the admin's
`get_queryset` (its scope) and `list_filter`/`search_fields` apply as they do on the page; cells are
written by `reports.exports.csv_chunks` (a formula-like cell is written with a leading apostrophe).
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.text import slugify

from registry import mapping
from registry.models import AIModel, Cluster, ModelRevision
from reports import exports

# Query parameters of the list page that do not choose rows: the page number, the popup and error flags.
NOT_FILTERS = ("p", "e", "_popup", "_to_field")


class CsvExportMixin:
    """Adds `export.csv` to a ModelAdmin's URLs and an "Export CSV" link (keeping the query) to its list."""

    csv_fields: tuple[str, ...] = ()
    csv_select_related: tuple[str, ...] = ()  # what `csv_records` reads of related rows, beyond the list's own
    csv_chunk_size = 2000

    def csv_records(self, rows: Iterable[Any]) -> Iterator[dict[str, Any]]:
        """Each row as a record keyed by `csv_fields` (by default the row's attributes of those names)."""
        for row in rows:
            yield {name: getattr(row, name, None) for name in self.csv_fields}

    def csv_chunks(self, rows: Iterable[Any]) -> Iterator[str]:
        return exports.csv_chunks(self.csv_records(rows), self.csv_fields)

    def csv_export_url_name(self) -> str:
        opts = self.model._meta  # type: ignore[attr-defined]
        return f"{opts.app_label}_{opts.model_name}_export_csv"

    def get_urls(self) -> list:
        export = self.admin_site.admin_view(self.csv_export_view)  # type: ignore[attr-defined]
        return [path("export.csv", export, name=self.csv_export_url_name()), *super().get_urls()]  # type: ignore[misc]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        query = request.GET.copy()
        for name in NOT_FILTERS:
            query.pop(name, None)
        url = reverse(f"admin:{self.csv_export_url_name()}")
        context = {"csv_export_url": f"{url}?{query.urlencode()}" if query else url, **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)  # type: ignore[misc]

    def csv_export_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_or_change_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        query = request.GET.copy()
        for name in NOT_FILTERS:
            query.pop(name, None)
        request.GET = query
        try:
            changelist = self.get_changelist_instance(request)  # type: ignore[attr-defined]
        except IncorrectLookupParameters as exc:
            return HttpResponseBadRequest(
                f"the list's filters are not valid ({exc or 'an unknown filter or value'}): "
                f"{query.urlencode() or 'none given'}", content_type="text/plain; charset=utf-8")
        queryset = changelist.queryset
        if self.csv_select_related:
            queryset = queryset.select_related(*self.csv_select_related)
        rows = queryset.iterator(chunk_size=self.csv_chunk_size)
        name = slugify(self.model._meta.verbose_name_plural)  # type: ignore[attr-defined]
        response = StreamingHttpResponse(self.csv_chunks(rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}-{timezone.now().date().isoformat()}.csv"'
        response["Cache-Control"] = "no-store"
        return response


def _text(value: Any) -> Any:
    """A record's value as a CSV cell: dates as ISO text, booleans as JSON writes them (true, false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _latest_revision_facts(revision_model: type, fk: str, rows: list[Any]) -> dict[int, dict[str, Any]]:
    """Each row's latest revision's facts (the figures as submitted), one query for the rows."""
    latest: dict[int, dict[str, Any]] = {}
    revisions = revision_model.objects.filter(**{f"{fk}__in": [row.pk for row in rows]}).order_by(fk, "number")
    for owner, facts in revisions.values_list(f"{fk}_id", "facts"):
        latest[owner] = facts
    return latest


def _chunks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _flat(record: dict[str, Any], nested: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """A nested record's fields as `outer.inner` columns (`training_hardware.accelerator`)."""
    flat = {}
    for name, value in record.items():
        if name in nested:
            for inner in nested[name]:
                flat[f"{name}.{inner}"] = _text((value or {}).get(inner))
        else:
            flat[name] = _text(value)
    return flat


MODEL_NESTED = {"training_hardware": mapping.fact_names(mapping.HARDWARE)}
MODEL_FIELDS = ("subject", *(f"training_hardware.{inner}" if name == "training_hardware" else name
                             for name in mapping.fact_names(mapping.MODEL)
                             for inner in (MODEL_NESTED.get(name) or (None,))), "revision", "updated_at")
CLUSTER_FIELDS = ("subject", *(name for name in mapping.fact_names(mapping.CLUSTER) if name not in ("groups", "links")),
                  "accelerator_count", "datacenter_count", "revision", "updated_at")


def model_records(rows: Iterable[AIModel], *, batch: int) -> Iterator[dict[str, Any]]:
    """AI models in the interchange's field names (DESIGN.md), figures exactly as submitted."""
    for chunk in _chunks(rows, batch):
        latest = _latest_revision_facts(ModelRevision, "model", chunk)
        for row in chunk:
            mapping.keep_exact_figures("model", row, latest.get(row.pk))
            facts = mapping.row_facts("model", row)
            yield {"subject": row.subject_ref, **_flat(facts, MODEL_NESTED), "revision": row.revision,
                   "updated_at": _text(row.updated_at)}


def cluster_records(rows: Iterable[Cluster]) -> Iterator[dict[str, Any]]:
    """Clusters in the interchange's field names, with their accelerators and datacenters counted (the
    list's `accelerator_total` and `datacenter_total`); the groups and links are the cluster's page."""
    for row in rows:
        facts = mapping.row_facts("cluster", row)
        yield {"subject": row.subject_ref, **{name: _text(facts.get(name)) for name in CLUSTER_FIELDS if name in facts},
               "accelerator_count": getattr(row, "accelerator_total", None) or 0,
               "datacenter_count": getattr(row, "datacenter_total", None) or 0,
               "revision": row.revision, "updated_at": _text(row.updated_at)}
