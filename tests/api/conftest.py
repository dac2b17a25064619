"""Fixtures for the API tests: two labs and a regulator, each with a token, over a small registry
submitted as interchange documents, and an API client per role."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from rest_framework.test import APIClient

from registry.models import AIModel, Cluster
from registry.services import registry_submit
from rules.models import Determination, EvaluationRun
from rules.models.runs import RunKind
from rules.services import run_create, run_execute_inline
from tests.factories import (
    ClusterRecordFactory,
    ModelRecordFactory,
    OrganisationRecordFactory,
    UserFactory,
    api_user,
    document,
)

AS_OF = date(2026, 3, 1)
ROLES = ("anonymous", "no_role", "lab", "rival", "regulator")


@dataclass
class World:
    """acme (the lab under test) with a model, a cluster, a run and its determinations; rival, another lab."""

    acme_model: AIModel
    acme_cluster: Cluster
    rival_model: AIModel
    acme_run: EvaluationRun
    acme_determination: Determination
    tokens: dict[str, str]

    def client(self, role: str) -> APIClient:
        client = APIClient()
        if role != "anonymous":
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.tokens[role]}")
        return client


@pytest.fixture(autouse=True)
def _generous_throttle(settings):
    """Throttling has its own test; elsewhere no test should meet the limit."""
    settings.API_THROTTLE_RATE = "100000/min"
    settings.API_WORK_THROTTLE_RATE = "100000/min"
    settings.REPORT_MAX_PENDING = 1000


def submit(**sections: Any) -> None:
    registry_submit(document(**sections), via="import")


def no_role_token() -> str:
    from accounts.services import token_issue

    return token_issue(user=UserFactory(username="no-role"))[1]


@pytest.fixture
def world(db) -> World:
    submit(
        organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI"),
                       OrganisationRecordFactory(slug="rival", name="Rival AI")],
        models=[ModelRecordFactory(organisation="acme", name="Acme-1", training_compute_ops=2e26),
                ModelRecordFactory(organisation="rival", name="Rival-1")],
        clusters=[ClusterRecordFactory(organisation="acme", name="Hall A")],
    )
    run = run_execute_inline(run_create(kind=RunKind.MANUAL, as_of=AS_OF, subjects=["model:acme/Acme-1@1"]))
    tokens = {
        "lab": api_user(role="lab", organisation="acme")[1],
        "rival": api_user(role="lab", organisation="rival")[1],
        "regulator": api_user(role="regulator")[1],
        "no_role": no_role_token(),
    }
    return World(
        acme_model=AIModel.objects.get(name="Acme-1"),
        acme_cluster=Cluster.objects.get(name="Hall A"),
        rival_model=AIModel.objects.get(name="Rival-1"),
        acme_run=run,
        acme_determination=Determination.objects.filter(run=run).first(),
        tokens=tokens,
    )


@pytest.fixture
def lab(world) -> APIClient:
    return world.client("lab")


@pytest.fixture
def rival(world) -> APIClient:
    return world.client("rival")


@pytest.fixture
def regulator_api(world) -> APIClient:
    return world.client("regulator")


def errors_by_field(response: Any) -> dict[str | None, str]:
    """The 400 body's problems as field → message."""
    body = response.json()
    return {problem["field"]: problem["message"] for problem in body["errors"]}
