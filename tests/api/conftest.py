"""Fixtures for the API tests: two labs and a regulator, each with a token, over a small registry
submitted as interchange documents, and an API client per role."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from rest_framework.test import APIClient

from registry.models import AIModel, Cluster
from rules.models import Determination, EvaluationRun
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from tests.factories import UserFactory, api_user, submit_acme_and_rival, token_client

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
        return APIClient() if role == "anonymous" else token_client(self.tokens[role])


def no_role_token() -> str:
    from accounts.services import token_issue

    return token_issue(user=UserFactory(username="no-role"))[1]


@pytest.fixture
def world(db) -> World:
    submit_acme_and_rival(acme_model={"training_compute_ops": 2e26}, rival_models=("Rival-1",))
    run = run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OF, subjects=["model:acme/Acme-1@1"]))
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
