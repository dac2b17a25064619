"""From subject refs to their records' admin pages (`workspace.admin.links.subject_admin_urls`): each ref
to its own record, found by the subject ref the record keeps (indexed); a ref to nothing, or not a ref,
has no link."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.models import AIModel, Cluster, Organisation
from workspace.admin.links import subject_admin_urls

pytestmark = pytest.mark.django_db


def change(record: object) -> str:
    return reverse(f"admin:registry_{record._meta.model_name}_change", args=[record.pk])


def test_each_ref_links_to_its_own_record_and_no_other(workspace_registry):
    frontier = AIModel.objects.get(organisation__slug="acme", name="Frontier")
    secret = AIModel.objects.get(organisation__slug="beta", name="Secret")
    hall = Cluster.objects.get(organisation__slug="acme", name="Hall A")
    beta = Organisation.objects.get(slug="beta")
    refs = [frontier.subject_ref, secret.subject_ref, hall.subject_ref, "organisation:beta",
            f"model:acme/Frontier@{frontier.version}9",  # another version: not stored
            "model:beta/Frontier@1",  # acme's name under beta: not stored
            "model:acme/Secret@1",  # beta's name under acme: not stored
            "cluster:beta/Hall A", "organisation:nobody", "not a subject", "model:acme/Frontier"]
    with CaptureQueriesContext(connection) as queries:
        urls = subject_admin_urls(refs)
    assert urls == {frontier.subject_ref: change(frontier), secret.subject_ref: change(secret),
                    hall.subject_ref: change(hall), "organisation:beta": change(beta)}
    assert len(queries.captured_queries) == 3  # one per kind of subject
    assert not any("||" in query["sql"] or "CONCAT" in query["sql"].upper() for query in queries.captured_queries)


def test_a_ref_written_with_spaces_around_it_links_as_written(workspace_registry):
    frontier = AIModel.objects.get(organisation__slug="acme", name="Frontier")
    asked = f"  {frontier.subject_ref} "
    assert subject_admin_urls([asked, " organisation:beta"]) == {
        asked: change(frontier), " organisation:beta": change(Organisation.objects.get(slug="beta"))}


def test_no_refs_no_queries(db):
    with CaptureQueriesContext(connection) as queries:
        assert subject_admin_urls([]) == {}
    assert not queries.captured_queries
