"""A cluster's topology in the admin: a small cluster is edited on its page; a large one (1,000 groups and
5,000 links were a 31 s page) gets a page of bounded cost, read-only; the registry's limits on groups and
links per cluster hold in the admin as in the API and the import."""
from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.models import Accelerator, AcceleratorGroup, Cluster, NetworkLink
from registry.services import RegistryValidationError, registry_submit
from tests.factories import ClusterRecordFactory, document
from workspace.admin.topology import TOPOLOGY_EDITABLE_ROWS

pytestmark = pytest.mark.django_db


def _cluster(name: str) -> Cluster:
    registry_submit(document(clusters=[ClusterRecordFactory(name=name)]), via="import")
    return Cluster.objects.get(name=name)


def _grow(cluster: Cluster, *, groups: int, links: int) -> None:
    """Rows written straight to the database, as for a cluster stored before the registry had limits."""
    accelerator = Accelerator.objects.get(slug="nvidia-h100-sxm")
    AcceleratorGroup.objects.bulk_create([
        AcceleratorGroup(cluster=cluster, name=f"g{n:04d}", datacenter="dc-1", accelerator=accelerator,
                         accelerator_count=8, accelerators_per_node=8, network_gbps=400)
        for n in range(groups - cluster.groups.count())
    ])
    ids = list(cluster.groups.order_by("id").values_list("id", flat=True))
    NetworkLink.objects.bulk_create([
        NetworkLink(cluster=cluster, from_group_id=ids[n % len(ids)], to_group_id=ids[(n + 1 + n // len(ids)) % len(ids)],
                    gbps=800)
        for n in range(links - cluster.links.count())
    ])


def _change_page(client: Any, cluster: Cluster) -> tuple[Any, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:registry_cluster_change", args=[cluster.pk]))
    assert response.status_code == 200
    return response, len(queries)


def test_a_cluster_of_1000_groups_and_5000_links_has_a_read_only_page_of_bounded_cost(admin_client_logged_in):
    just_large, huge = _cluster("Hall B"), _cluster("Hall H")
    _grow(just_large, groups=TOPOLOGY_EDITABLE_ROWS + 1, links=TOPOLOGY_EDITABLE_ROWS + 1)
    _grow(huge, groups=1000, links=5000)

    # the first page of the process reads what it then caches, and each subject's first page records its
    # determinations as of today (one date per page): both are paid once, before the pages compared
    _change_page(admin_client_logged_in, just_large)
    _change_page(admin_client_logged_in, huge)
    small_page, small_queries = _change_page(admin_client_logged_in, just_large)
    page, queries = _change_page(admin_client_logged_in, huge)

    assert queries == small_queries and queries <= 60
    assert len(page.content) < 1.05 * len(small_page.content)
    text = page.content.decode()
    assert "1,000 accelerator groups, 5,000 network links: the first 50 of each are shown below, read-only" in text
    assert text.count('class="form-row') <= 2 * TOPOLOGY_EDITABLE_ROWS + 20
    assert 'name="links-0-from_group"' not in text and 'name="groups-0-name"' not in text


def test_a_small_clusters_topology_is_edited_on_its_page(admin_client_logged_in):
    cluster = _cluster("Hall A")
    page, _ = _change_page(admin_client_logged_in, cluster)
    text = page.content.decode()
    assert 'name="links-0-from_group"' in text and 'name="groups-0-name"' in text
    assert "2 accelerator groups, 1 network link" in text and "read-only" not in text


def _post_data(response: Any) -> dict[str, str]:
    """The change form as the page filled it in: the record's fields and every inline's rows."""
    forms = [response.context["adminform"].form]
    data: dict[str, str] = {}
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        data.update({f"{formset.prefix}-{key}": str(value) for key, value in formset.management_form.initial.items()})
        forms.extend(formset.initial_forms)
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is not None and value is not False:
                data[form.add_prefix(name)] = "on" if value is True else str(value)
    return data


def _add_a_link(admin_client: Any, cluster: Cluster) -> Any:
    url = reverse("admin:registry_cluster_change", args=[cluster.pk])
    data = _post_data(admin_client.get(url))
    a, b = cluster.groups.order_by("name")
    data.update({"links-TOTAL_FORMS": "2", "links-1-from_group": str(b.pk), "links-1-to_group": str(a.pk),
                 "links-1-gbps": "800"})
    return admin_client.post(url, data)


def test_the_admin_refuses_more_links_than_the_cluster_limit_and_stores_nothing(admin_client_logged_in, settings):
    settings.CLUSTER_MAX_LINKS = 1
    cluster = _cluster("Hall A")
    response = _add_a_link(admin_client_logged_in, cluster)
    assert response.status_code == 200
    assert "A cluster has at most 1 network links (CLUSTER_MAX_LINKS)." in response.content.decode()
    cluster.refresh_from_db()
    assert cluster.links.count() == 1 and cluster.revision == 1


def test_the_admin_adds_a_link_within_the_cluster_limit(admin_client_logged_in, settings):
    settings.CLUSTER_MAX_LINKS = 2
    cluster = _cluster("Hall A")
    response = _add_a_link(admin_client_logged_in, cluster)
    assert response.status_code == 302, response.content.decode()[:3000]
    cluster.refresh_from_db()
    assert cluster.links.count() == 2 and cluster.revision == 2


@pytest.mark.parametrize(("part", "setting", "message"), [
    ("groups", "CLUSTER_MAX_GROUPS", "clusters[0].groups: at most 1 groups per cluster, got 2"),
    ("links", "CLUSTER_MAX_LINKS", "clusters[0].links: at most 0 links per cluster, got 1"),
])
def test_a_submission_over_a_cluster_limit_is_refused_naming_the_field(settings, part, setting, message):
    setattr(settings, setting, 1 if part == "groups" else 0)
    with pytest.raises(RegistryValidationError) as refused:
        registry_submit(document(clusters=[ClusterRecordFactory(name="Hall A")]), via="import")
    assert message in [str(problem) for problem in refused.value.problems]
    assert not Cluster.objects.exists()
