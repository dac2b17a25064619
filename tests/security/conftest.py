"""Fixtures for the security tests: a lab (acme) with a model and a cluster, its API client, and a
count of every row a refused request must leave alone. (The generous throttle is suite-wide.)"""
from __future__ import annotations

import pytest
from django.apps import apps
from rest_framework.test import APIClient

from tests.factories import api_user, submit_acme_and_rival, token_client

# Every table a submission, a revision or its side effects write to.
WRITTEN_MODELS = (
    "registry.Organisation", "registry.OrganisationRevision", "registry.AIModel", "registry.ModelRevision",
    "registry.Cluster", "registry.ClusterRevision", "registry.AcceleratorGroup", "registry.NetworkLink",
    "rules.PendingEvaluation", "rules.EvaluationRun", "rules.Determination", "rules.RuleVersion",
    "accounts.AuditEvent", "api.IdempotencyRecord", "reports.ReportArtifact",
)


def row_counts() -> dict[str, int]:
    return {label: apps.get_model(label).objects.count() for label in WRITTEN_MODELS}


@pytest.fixture
def acme(db):
    """acme with one model (Acme-1@1) and one cluster (Hall A); rival, another lab."""
    submit_acme_and_rival()


@pytest.fixture
def lab_api(acme) -> APIClient:
    return token_client(api_user(role="lab", organisation="acme")[1])
