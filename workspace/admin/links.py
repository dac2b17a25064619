"""From a subject ref to its record's admin page, for any number of refs in three queries."""
from __future__ import annotations

from collections.abc import Iterable

from django.db.models import CharField, Value
from django.db.models.functions import Concat
from django.urls import reverse

from registry.models import AIModel, Cluster, Organisation
from rules.subjects import SubjectError, parse_subject


def subject_ref_expression(kind: str) -> Concat:
    """A record's subject ref (`model:ORG/NAME@VERSION`, `cluster:ORG/NAME`) computed in SQL."""
    if kind == "model":
        parts = [Value("model:"), "organisation__slug", Value("/"), "name", Value("@"), "version"]
    else:
        parts = [Value("cluster:"), "organisation__slug", Value("/"), "name"]
    return Concat(*parts, output_field=CharField())


def subject_admin_urls(refs: Iterable[str]) -> dict[str, str]:
    """Subject ref → the admin change page of its record (refs no longer in the registry are left out)."""
    wanted: dict[str, set[str]] = {"model": set(), "cluster": set(), "organisation": set()}
    for ref in set(refs):
        try:
            wanted[parse_subject(ref).kind].add(ref)
        except SubjectError:
            continue
    urls = {}
    for kind, model in (("model", AIModel), ("cluster", Cluster)):
        if wanted[kind]:
            rows = model.objects.annotate(ref=subject_ref_expression(kind)).filter(ref__in=wanted[kind])
            for ref, pk in rows.values_list("ref", "pk"):
                urls[ref] = reverse(f"admin:registry_{model._meta.model_name}_change", args=[pk])
    if wanted["organisation"]:
        slugs = {ref.split(":", 1)[1]: ref for ref in wanted["organisation"]}
        for slug, pk in Organisation.objects.filter(slug__in=slugs).values_list("slug", "pk"):
            urls[slugs[slug]] = reverse("admin:registry_organisation_change", args=[pk])
    return urls
