"""Every admin page of the registry loads, shows history, and keeps an edit as a revision."""
from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from registry.models import Accelerator, AIModel, Cluster, Organisation
from registry.services import registry_submit
from tests.factories import ClusterRecordFactory, ModelRecordFactory, document

pytestmark = pytest.mark.django_db


@pytest.fixture
def registry_data():
    registry_submit(document(
        models=[ModelRecordFactory(name="Base"), ModelRecordFactory(name="Tuned", base_model="acme/Base@1", fine_tuning_compute_ops=1e24)],
        clusters=[ClusterRecordFactory(name="Hall A")],
    ), via="import")


def registered_models():
    return [model for model in admin.site._registry if model._meta.app_label in {"registry", "rules", "reports"}]


def test_every_registered_changelist_add_and_change_page_loads(admin_client_logged_in, regulator, registry_data):
    assert {Organisation, AIModel, Cluster, Accelerator} <= set(registered_models())
    for model in registered_models():
        meta = model._meta
        changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        assert admin_client_logged_in.get(changelist).status_code == 200, changelist
        obj = model.objects.first()
        if obj is not None:
            change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
            assert admin_client_logged_in.get(change).status_code == 200, change
        if admin.site._registry[model].has_add_permission(_request(regulator)):
            add = reverse(f"admin:{meta.app_label}_{meta.model_name}_add")
            assert admin_client_logged_in.get(add).status_code == 200, add


def _request(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = user
    return request


def test_changelist_filters_and_search_work(admin_client_logged_in, registry_data):
    url = reverse("admin:registry_aimodel_changelist")
    response = admin_client_logged_in.get(url, {"q": "Tuned"})
    assert b"acme/Tuned@1" in response.content and b"acme/Base@1</a>" not in response.content
    response = admin_client_logged_in.get(url, {"biological": "no"})
    assert response.status_code == 200 and b"acme/Base@1" in response.content
    # Base reports no compute, but 6 x its parameters x its tokens estimates it: it is not "neither"
    response = admin_client_logged_in.get(url, {"compute": "none", "biological": "no"})
    assert response.status_code == 200 and b"acme/Base@1" not in response.content


def test_change_page_shows_revision_history_and_lineage(admin_client_logged_in, registry_data):
    record = ModelRecordFactory(name="Tuned", base_model="acme/Base@1", fine_tuning_compute_ops=2e24)
    registry_submit(document(models=[record]), via="import")
    tuned = AIModel.objects.get(name="Tuned")
    page = admin_client_logged_in.get(reverse("admin:registry_aimodel_change", args=[tuned.pk])).content.decode()
    assert "first submission" in page
    assert "fine_tuning_compute_ops" in page and 'name="fine_tuning_compute_ops" value="2e24"' in page
    assert "acme/Base@1" in page


def test_cluster_page_has_group_and_link_inlines(admin_client_logged_in, registry_data):
    cluster = Cluster.objects.get(name="Hall A")
    page = admin_client_logged_in.get(reverse("admin:registry_cluster_change", args=[cluster.pk])).content.decode()
    assert "groups-TOTAL_FORMS" in page and "links-TOTAL_FORMS" in page


def test_admin_edit_is_kept_as_a_new_revision(admin_client_logged_in, registry_data):
    org = Organisation.objects.get(slug="acme")
    url = reverse("admin:registry_organisation_change", args=[org.pk])
    response = admin_client_logged_in.post(url, {
        "slug": "acme", "name": "Acme AI Inc.", "country": "US", "annual_revenue_usd": "7e8", "revenue_year": "2025",
        "source": "", "revisions-TOTAL_FORMS": "1", "revisions-INITIAL_FORMS": "1", "revisions-MIN_NUM_FORMS": "0",
        "revisions-MAX_NUM_FORMS": "1000", "revisions-0-id": str(org.revisions.get().pk), "revisions-0-organisation": str(org.pk),
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    org.refresh_from_db()
    assert org.revision == 2
    latest = org.revisions.get(number=2)
    assert latest.submitted_via == "admin" and latest.submitted_by.username == "regulator"
    assert latest.changed_fields["annual_revenue_usd"] == [6e8, 7e8]


def test_registry_records_cannot_be_deleted_from_the_admin(admin_client_logged_in, registry_data):
    model = AIModel.objects.get(name="Base")
    response = admin_client_logged_in.get(reverse("admin:registry_aimodel_delete", args=[model.pk]))
    assert response.status_code == 403


def test_compute_ranges_are_the_rule_librarys_thresholds(admin_client_logged_in):
    """The compute filter's edges are the thresholds the published rule files set for models, so a
    threshold added to a rule file adds a range; none is written in the code."""
    from rules.selectors import published_thresholds

    edges = published_thresholds(unit="ops", kind="model")
    assert {1e23, 1e25, 1e26} <= set(edges) and edges == sorted(edges)
    assert published_thresholds(unit="ops_per_second", kind="cluster") == [1e20]
    registry_submit(document(models=[
        ModelRecordFactory(name=name, training_compute_ops=compute)
        for name, compute in (("Small", 5e22), ("Mid", 2e25), ("Large", 2e26))
    ]), via="import")
    url = reverse("admin:registry_aimodel_changelist")
    page = admin_client_logged_in.get(url).content.decode()
    assert "below 1e23 ops" in page and "1e26 ops and above" in page
    shown = {
        key: {name for name in ("Small", "Mid", "Large")
              if f"acme/{name}@1" in admin_client_logged_in.get(url, {"compute": key}).content.decode()}
        for key in ("-1e+23", "1e+25-3e+25", "1e+26-")
    }
    assert shown == {"-1e+23": {"Small"}, "1e+25-3e+25": {"Mid"}, "1e+26-": {"Large"}}
