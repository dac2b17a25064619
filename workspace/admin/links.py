"""From a subject ref to its record's admin page, for any number of refs in three queries."""
from __future__ import annotations

from collections.abc import Iterable

from django.urls import reverse

from registry.models import AIModel, Cluster, Organisation
from rules.subjects import SubjectError, parse_subject


def subject_admin_urls(refs: Iterable[str]) -> dict[str, str]:
    """Subject ref → the admin change page of its record (refs no longer in the registry are left out).

    Models and clusters are found by the subject ref each keeps (`stored_subject_ref`, indexed),
    organisations by their slug: one query per kind of subject asked about."""
    wanted: dict[str, dict[str, str]] = {"model": {}, "cluster": {}, "organisation": {}}  # kind → key → ref asked
    for ref in set(refs):
        try:
            key = parse_subject(ref)
        except SubjectError:
            continue
        wanted[key.kind][key.organisation if key.kind == "organisation" else key.ref] = ref
    urls = {}
    for kind, model in (("model", AIModel), ("cluster", Cluster)):
        if wanted[kind]:
            for stored, pk in model.objects.filter(stored_subject_ref__in=wanted[kind]).order_by().values_list(
                    "stored_subject_ref", "pk"):
                urls[wanted[kind][stored]] = reverse(f"admin:registry_{model._meta.model_name}_change", args=[pk])
    if wanted["organisation"]:
        slugs = wanted["organisation"]
        for slug, pk in Organisation.objects.filter(slug__in=slugs).values_list("slug", "pk"):
            urls[slugs[slug]] = reverse("admin:registry_organisation_change", args=[pk])
    return urls
