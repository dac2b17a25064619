"""The models and clusters lists' organisation filter and counts, as a registry of a thousand
organisations needs them: the filter's choices are found without a DISTINCT over every record and
written in one pass (the same links and markup as the admin's own filter), and a list nothing filters
is counted once."""
from __future__ import annotations

import re

import pytest
from django.contrib.admin import SimpleListFilter
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.models import AIModel, Cluster, Organisation
from registry.services import registry_submit
from tests.factories import ClusterRecordFactory, ModelRecordFactory, OrganisationRecordFactory, document
from tests.ui.conftest import submit_workspace_registry
from workspace.admin.filters import RecordOrganisationFilter

pytestmark = pytest.mark.django_db

MODELS = reverse("admin:registry_aimodel_changelist")
CLUSTERS = reverse("admin:registry_cluster_changelist")


def tags(html: str) -> str:
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", html.strip()))


def organisation_filter(response):
    changelist = response.context["cl"]
    (spec,) = [spec for spec in changelist.filter_specs if isinstance(spec, RecordOrganisationFilter)]
    return changelist, spec


def filter_block(response) -> str:
    found = re.search(r'<details data-filter-title="organisation".*?</details>', response.content.decode(), re.S)
    assert found, "no organisation filter on the page"
    return tags(found.group(0))


@pytest.mark.parametrize("query", [
    "", "?organisation__id__exact={acme}", "?general_purpose__exact=1&o=2&q=Fr%C3%BCh+%26+co&biological=no",
    "?compute=-1e%2B23&organisation__id__exact={beta}",
])
def test_the_choices_and_markup_are_the_admins_own(agency_client, workspace_registry, query):
    Organisation.objects.filter(slug="beta").update(name='Beta <"Labs"> & Co')
    ids = {slug: pk for slug, pk in Organisation.objects.values_list("slug", "pk")}
    response = agency_client.get(MODELS + query.format(**ids))
    assert response.status_code == 200
    changelist, spec = organisation_filter(response)
    listed = list(spec.choices(changelist))
    assert listed == list(SimpleListFilter.choices(spec, changelist))  # the admin's query strings and choices
    djangos = render_to_string("admin/filter.html", {"title": spec.title, "choices": listed, "spec": spec})
    assert filter_block(response) == tags(djangos)
    assert [choice["display"] for choice in listed] == ["All", "Acme AI", 'Beta <"Labs"> & Co']
    assert "Beta &lt;&quot;Labs&quot;&gt; &amp; Co" in filter_block(response)


def test_it_lists_the_organisations_with_records_in_the_list_by_slug(agency_client, workspace_registry):
    registry_submit(document(organisations=[OrganisationRecordFactory(slug="aardvark", name="Zed Labs")],
                             clusters=[ClusterRecordFactory(organisation="aardvark", name="Barn")]), via="import")
    registry_submit(document(organisations=[OrganisationRecordFactory(slug="empty", name="Empty Co")]), via="import")
    _, models = organisation_filter(agency_client.get(MODELS))
    assert [title for _, title in models.lookup_choices] == ["Acme AI", "Beta Labs"]
    _, clusters = organisation_filter(agency_client.get(CLUSTERS))
    assert [title for _, title in clusters.lookup_choices] == ["Zed Labs", "Acme AI"]  # aardvark, acme


def test_it_filters_the_list_and_refuses_an_id_that_is_not_one(agency_client, workspace_registry):
    beta = Organisation.objects.get(slug="beta")
    response = agency_client.get(MODELS, {"organisation__id__exact": beta.pk})
    assert [obj.subject_ref for obj in response.context["cl"].result_list] == ["model:beta/Secret@1"]
    for not_an_id in ("beta", "²", "-1", "1.0", "9" * 30):
        refused = agency_client.get(MODELS, {"organisation__id__exact": not_an_id})
        assert refused.status_code == 302 and refused["Location"].endswith("?e=1"), not_an_id  # "invalid lookup"
    none = agency_client.get(MODELS, {"organisation__id__exact": beta.pk + 1000})
    assert none.status_code == 200 and list(none.context["cl"].result_list) == []  # an id no organisation has


def test_a_lab_member_is_offered_its_own_organisation_only(acme_client):
    _, spec = organisation_filter(acme_client.get(MODELS))
    assert [title for _, title in spec.lookup_choices] == ["Acme AI"]
    beta = Organisation.objects.get(slug="beta")
    response = acme_client.get(MODELS, {"organisation__id__exact": beta.pk})
    assert list(response.context["cl"].result_list) == []


def record_counts(client, url: str, query: dict[str, str], table: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, query)
    assert response.status_code == 200
    counts = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT COUNT(*)") and table in q["sql"]]
    return len(counts), response.content.decode()


@pytest.mark.parametrize(("url", "table", "kind"), [(MODELS, "registry_aimodel", AIModel),
                                                     (CLUSTERS, "registry_cluster", Cluster)])
def test_a_list_nothing_filters_is_counted_once_and_a_filtered_one_shows_its_total(agency_client, workspace_registry,
                                                                                   url, table, kind):
    statements, page = record_counts(agency_client, url, {}, table)
    assert statements == 1
    assert "results (" not in page  # nothing filters it: no "N results (M total)"
    assert agency_client.get(url).context["cl"].full_result_count == kind.objects.count()
    acme = Organisation.objects.get(slug="acme")
    statements, page = record_counts(agency_client, url, {"organisation__id__exact": acme.pk, "q": "a"}, table)
    assert statements == 2
    changelist = agency_client.get(url, {"organisation__id__exact": acme.pk, "q": "a"}).context["cl"]
    assert changelist.full_result_count == kind.objects.count()
    shown = f">{changelist.full_result_count} total</a>)" in page
    assert shown == (changelist.result_count != changelist.full_result_count)
    assert shown or kind is Cluster  # acme's four models of five; its one cluster of one


def test_actions_are_offered_on_a_list_with_records_only(agency_client):
    assert not agency_client.get(MODELS).context["cl"].show_admin_actions
    submit_workspace_registry()
    assert agency_client.get(MODELS).context["cl"].show_admin_actions


def test_show_counts_counts_each_organisations_records_in_one_statement(agency_client, workspace_registry):
    with CaptureQueriesContext(connection) as captured:
        response = agency_client.get(MODELS, {"_facets": "True", "general_purpose__exact": "1"})
    changelist, spec = organisation_filter(response)
    shown = {choice["display"] for choice in spec.choices(changelist)}
    general = AIModel.objects.filter(general_purpose=True)
    for slug, name in (("acme", "Acme AI"), ("beta", "Beta Labs")):
        assert f"{name} ({general.filter(organisation__slug=slug).count()})" in shown
    by_organisation = 'FILTER (WHERE "registry_aimodel"."organisation_id" = '
    facets = [q["sql"] for q in captured.captured_queries if by_organisation in q["sql"]]
    assert len(facets) == 1 and facets[0].count(by_organisation) == 2, facets  # acme's and beta's, one statement


def test_a_long_list_of_organisations_is_folded_unless_one_is_chosen(agency_client, workspace_registry):
    """Up to thirty organisations the list is open, as the admin shows its filters; beyond, it is
    folded so that the filters below it stay in view, and open again once an organisation is chosen."""
    assert 'data-filter-title="organisation" open>' in filter_block(agency_client.get(MODELS))
    many = [OrganisationRecordFactory(slug=f"lab-{n:02d}", name=f"Lab {n:02d}") for n in range(30)]
    registry_submit(document(organisations=many, models=[ModelRecordFactory(organisation=org["slug"], name="M")
                                                         for org in many]), via="import")
    response = agency_client.get(MODELS)
    _, spec = organisation_filter(response)
    assert len(spec.lookup_choices) == 32 and not spec.opens
    assert filter_block(response).startswith('<details data-filter-title="organisation"><summary>')
    assert filter_block(response).count("<li") == 33  # every choice still written, "All" with them
    lab = Organisation.objects.get(slug="lab-07")
    chosen = agency_client.get(MODELS, {"organisation__id__exact": lab.pk})
    assert 'data-filter-title="organisation" open>' in filter_block(chosen)
    assert '<li class="selected"><a href="?organisation__id__exact=' in filter_block(chosen)
