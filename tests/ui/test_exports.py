"""The workspace's lists as CSV: the rows the list shows under its filters and search, within the
user's scope, streamed, in the export's column conventions and safe to open in a spreadsheet."""
from __future__ import annotations

import csv
import io
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.models import AIModel, Cluster, Organisation
from registry.services import registry_submit
from reports import exports
from rules.models import Determination
from tests.factories import ClusterRecordFactory, ModelRecordFactory, document
from tests.ui.conftest import evaluate_registry

pytestmark = pytest.mark.django_db

MODELS = "admin:registry_aimodel_changelist"
MODELS_CSV = "admin:registry_aimodel_export_csv"
CLUSTERS_CSV = "admin:registry_cluster_export_csv"
LOG = "admin:rules_determination_changelist"
LOG_CSV = "admin:rules_determination_export_csv"


def exported(client, name: str, query: str = "") -> tuple[list[str], list[dict[str, str]]]:
    response = client.get(reverse(name) + query)
    assert response.status_code == 200, response
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="')
    reader = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8")))
    return list(reader.fieldnames or []), list(reader)


def listed_on_page(client, name: str, query: str = "") -> list[str]:
    """The subjects the list page shows (every page of it: the changelist's whole result)."""
    changelist = client.get(reverse(name) + query).context["cl"]
    return [row.subject_ref for row in changelist.queryset]


def test_models_list_offers_the_export_keeping_its_filters_and_search(agency_client, workspace_registry):
    page = agency_client.get(reverse(MODELS) + "?q=acme&biological=no&p=1").content.decode()
    assert f'href="{reverse(MODELS_CSV)}?q=acme&amp;biological=no"' in page
    assert ">Export CSV</a>" in page


def compute_range_holding(client, figure: float) -> str:
    """The key of the compute filter's range that holds the figure (the ranges follow the rule library)."""
    spec = next(spec for spec in client.get(reverse(MODELS)).context["cl"].filter_specs
                if getattr(spec, "parameter_name", "") == "compute")
    for key, _ in spec.lookup_choices:
        low, _, high = key.partition("-")
        if key != "none" and (not low or float(low) <= figure) and (not high or figure < float(high)):
            return key
    raise AssertionError(f"no range holds {figure}")


def test_models_export_is_the_searched_and_filtered_list(agency_client, workspace_registry):
    query = "?" + urlencode({"q": "acme", "compute": compute_range_holding(agency_client, 3.8e25)})
    _, rows = exported(agency_client, MODELS_CSV, query)
    assert [row["subject"] for row in rows] == listed_on_page(agency_client, MODELS, query) == ["model:acme/Mid@1"]
    assert rows[0]["training_compute_ops"] == "38000000000000000000000000"  # a whole number, kept exactly

    _, every = exported(agency_client, MODELS_CSV)
    assert {row["subject"] for row in every} == {m.subject_ref for m in AIModel.objects.all()}
    assert len(every) == 5


def test_models_export_follows_the_lists_order(agency_client, workspace_registry):
    query = "?o=3"  # by training compute (reported or estimated), ascending
    _, rows = exported(agency_client, MODELS_CSV, query)
    assert [row["subject"] for row in rows] == listed_on_page(agency_client, MODELS, query)
    reported = [row["subject"] for row in rows if row["training_compute_ops"]]  # the unreported: first or last by backend
    assert reported == ["model:acme/Small@1", "model:beta/Secret@1", "model:acme/Mid@1", "model:acme/Frontier@1"]


def test_models_export_writes_the_interchange_fields_exactly_as_submitted(agency_client, workspace_registry):
    registry_submit(document(models=[ModelRecordFactory(
        name="Exact", training_compute_ops=100000000000000000000000001, training_compute_uncertainty=0.3,
        training_hardware={"accelerator": "nvidia-h100-sxm", "accelerator_count": 16384, "training_hours": 1300,
                           "utilization": 0.4},
        notes="=HYPERLINK(\"http://example.org\")", modalities=["text", "image"])]), via="import")
    fields, rows = exported(agency_client, MODELS_CSV, "?q=Exact")
    assert fields[:4] == ["subject", "organisation", "name", "version"]
    assert "training_hardware.accelerator" in fields and "training_hardware" not in fields
    (row,) = rows
    assert row["training_compute_ops"] == "100000000000000000000000001"
    assert row["training_hardware.accelerator"] == "nvidia-h100-sxm"
    assert row["training_hardware.accelerator_count"] == "16384"
    assert row["general_purpose"] == "true" and row["primarily_biological_sequence_data"] == "false"
    assert row["modalities"] == '["text", "image"]'
    assert row["notes"] == "'=HYPERLINK(\"http://example.org\")"  # never run as a formula


def test_a_lab_member_exports_only_its_organisations_records(acme_client):
    _, models = exported(acme_client, MODELS_CSV)
    assert {row["organisation"] for row in models} == {"acme"}
    assert len(models) == 4 and "model:beta/Secret@1" not in {row["subject"] for row in models}
    beta = Organisation.objects.get(slug="beta")
    _, none = exported(acme_client, MODELS_CSV, "?q=Secret")
    assert none == []
    # another organisation's filter value shows nothing of it, on the list or in the export
    query = f"?organisation__id__exact={beta.pk}"
    _, rows = exported(acme_client, MODELS_CSV, query)
    assert [row["subject"] for row in rows] == listed_on_page(acme_client, MODELS, query)
    assert "beta" not in {row["organisation"] for row in rows}


def test_clusters_export_counts_accelerators(agency_client, workspace_registry):
    _, rows = exported(agency_client, CLUSTERS_CSV, "?q=Hall")
    (row,) = rows
    cluster = Cluster.objects.get(name="Hall A")
    assert row["subject"] == cluster.subject_ref == "cluster:acme/Hall A"
    assert (row["accelerator_count"], row["datacenter_count"], row["used_for_ai_training"]) == ("102048", "1", "true")
    assert row["operational_from"] == "2023-09-04"


def test_decision_log_export_has_the_logs_columns_and_the_filtered_rows(agency_client, workspace_registry):
    query = "?regime__exact=us-ca-sb53&status__exact=covered"
    fields, rows = exported(agency_client, LOG_CSV, query)
    assert tuple(fields) == exports.FIELDS
    expected = Determination.objects.filter(regime="us-ca-sb53", status="covered")
    assert expected.exists()
    assert sorted(int(row["sequence"]) for row in rows) == sorted(expected.values_list("sequence", flat=True))
    assert {(row["regime"], row["status"]) for row in rows} == {("us-ca-sb53", "covered")}
    assert sorted(row["subject"] for row in rows) == sorted(listed_on_page(agency_client, LOG, query))


def test_the_decision_log_export_goes_with_the_permission_to_view_the_log(acme_client):
    assert acme_client.get(reverse(LOG)).status_code == 403
    assert acme_client.get(reverse(LOG_CSV)).status_code == 403


def test_a_lab_member_exports_only_its_organisations_determinations(acme_client, acme_staff):
    acme_staff.user_permissions.add(Permission.objects.get(codename="view_determination"))
    _, rows = exported(acme_client, LOG_CSV)
    assert rows and {row["organisation"] for row in rows} == {"acme"}
    assert len(rows) == Determination.objects.filter(organisation="acme").count()
    _, searched = exported(acme_client, LOG_CSV, "?q=beta")
    assert searched == []


def test_an_invalid_filter_is_refused_naming_the_query(agency_client, workspace_registry):
    response = agency_client.get(reverse(MODELS_CSV) + "?general_purpose__exact=perhaps")
    assert response.status_code == 400
    assert "general_purpose__exact=perhaps" in response.content.decode()


def test_the_export_needs_a_login(client, workspace_registry):
    response = client.get(reverse(MODELS_CSV))
    assert response.status_code == 302 and "/login/" in response["Location"]


def _queries_of_export(client, name: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(name))
        b"".join(response.streaming_content)
    return len(queries)


def test_the_export_reads_a_fixed_number_of_queries_whatever_the_number_of_rows(agency_client, workspace_registry):
    before = (_queries_of_export(agency_client, MODELS_CSV), _queries_of_export(agency_client, CLUSTERS_CSV),
              _queries_of_export(agency_client, LOG_CSV))
    hardware = {"accelerator": "nvidia-h100-sxm", "accelerator_count": 1024, "training_hours": 100, "utilization": 0.4}
    registry_submit(document(models=[ModelRecordFactory(training_compute_ops="1e24", training_hardware=hardware)
                                     for _ in range(12)],
                             clusters=[ClusterRecordFactory() for _ in range(3)]), via="import")
    evaluate_registry()
    assert AIModel.objects.count() == 17 and Determination.objects.count() > 100
    after = (_queries_of_export(agency_client, MODELS_CSV), _queries_of_export(agency_client, CLUSTERS_CSV),
             _queries_of_export(agency_client, LOG_CSV))
    assert after == before
