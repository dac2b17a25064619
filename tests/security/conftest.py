"""Fixtures for the security tests: a lab (acme) with a model and a cluster, its API client, and a
count of every row a refused request must leave alone."""
from __future__ import annotations

import pytest
from django.apps import apps
from rest_framework.test import APIClient

from registry.services import registry_submit
from tests.factories import ClusterRecordFactory, ModelRecordFactory, OrganisationRecordFactory, api_user, document

# Every table a submission, a revision or its side effects write to.
WRITTEN_MODELS = (
    "registry.Organisation", "registry.OrganisationRevision", "registry.AIModel", "registry.ModelRevision",
    "registry.Cluster", "registry.ClusterRevision", "registry.AcceleratorGroup", "registry.NetworkLink",
    "rules.PendingEvaluation", "rules.EvaluationRun", "rules.Determination", "rules.RuleVersion",
    "accounts.AuditEvent", "api.IdempotencyRecord", "reports.ReportArtifact",
)


def row_counts() -> dict[str, int]:
    return {label: apps.get_model(label).objects.count() for label in WRITTEN_MODELS}


@pytest.fixture(autouse=True)
def _generous_api_throttle(settings):
    settings.API_THROTTLE_RATE = "100000/min"
    settings.API_WORK_THROTTLE_RATE = "100000/min"
    settings.REPORT_MAX_PENDING = 1000


@pytest.fixture
def acme(db):
    """acme with one model (Acme-1@1) and one cluster (Hall A); rival, another lab."""
    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI"),
                       OrganisationRecordFactory(slug="rival", name="Rival AI")],
        models=[ModelRecordFactory(organisation="acme", name="Acme-1")],
        clusters=[ClusterRecordFactory(organisation="acme", name="Hall A")],
    ), via="import")


@pytest.fixture
def lab_api(acme) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_user(role='lab', organisation='acme')[1]}")
    return client
