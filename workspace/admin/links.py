"""From a subject ref to its record's admin page, for any number of refs in three queries."""
from __future__ import annotations

from collections.abc import Iterable

from django.db.models import CharField, Value
from django.db.models.functions import Concat
from django.urls import reverse

from registry.models import AIModel, Cluster, Organisation
from rules.subjects import SubjectError, SubjectKey, parse_subject


def subject_ref_expression(kind: str) -> Concat:
    """A record's subject ref (`model:ORG/NAME@VERSION`, `cluster:ORG/NAME`) computed in SQL."""
    if kind == "model":
        parts = [Value("model:"), "organisation__slug", Value("/"), "name", Value("@"), "version"]
    else:
        parts = [Value("cluster:"), "organisation__slug", Value("/"), "name"]
    return Concat(*parts, output_field=CharField())


def subject_admin_urls(refs: Iterable[str]) -> dict[str, str]:
    """Subject ref → the admin change page of its record (refs no longer in the registry are left out).

    Records are found by their own columns (organisation, name, version), which their unique
    constraints index, and matched to the refs here: never by computing every record's ref in SQL."""
    wanted: dict[str, dict[SubjectKey, str]] = {"model": {}, "cluster": {}, "organisation": {}}
    for ref in set(refs):
        try:
            key = parse_subject(ref)
        except SubjectError:
            continue
        wanted[key.kind][key] = ref
    urls = {}
    for kind, model in (("model", AIModel), ("cluster", Cluster)):
        keys = wanted[kind]
        if not keys:
            continue
        rows = model.objects.filter(organisation__slug__in={key.organisation for key in keys},
                                    name__in={key.name for key in keys}).order_by()
        if kind == "model":
            rows = rows.filter(version__in={key.version for key in keys})
            found = ((SubjectKey(kind, slug, name, version), pk)
                     for slug, name, version, pk in rows.values_list("organisation__slug", "name", "version", "pk"))
        else:
            found = ((SubjectKey(kind, slug, name), pk) for slug, name, pk in rows.values_list("organisation__slug", "name", "pk"))
        for key, pk in found:
            if key in keys:
                urls[keys[key]] = reverse(f"admin:registry_{model._meta.model_name}_change", args=[pk])
    if wanted["organisation"]:
        slugs = {key.organisation: ref for key, ref in wanted["organisation"].items()}
        for slug, pk in Organisation.objects.filter(slug__in=slugs).values_list("slug", "pk"):
            urls[slugs[slug]] = reverse("admin:registry_organisation_change", args=[pk])
    return urls
