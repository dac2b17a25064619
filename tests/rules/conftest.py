"""Fixtures for the decision log and job tests: registries submitted as interchange documents."""
from __future__ import annotations

from typing import Any

from registry.services import registry_submit
from tests.factories import ClusterRecordFactory, ModelRecordFactory, OrganisationRecordFactory, document


def submit_registry(*, models: int = 0, clusters: int = 0, organisations: int = 1, **model_fields: Any) -> list[str]:
    """Submits `models` models and `clusters` clusters spread over `organisations` organisations; returns
    every subject ref the submission created (models, clusters and organisations)."""
    orgs = [OrganisationRecordFactory(slug=f"org-{i}", name=f"Org {i}") for i in range(organisations)]
    model_records = [
        ModelRecordFactory(organisation=orgs[i % organisations]["slug"], name=f"Model-{i}", **model_fields)
        for i in range(models)
    ]
    cluster_records = [
        ClusterRecordFactory(organisation=orgs[i % organisations]["slug"], name=f"Hall {i}") for i in range(clusters)
    ]
    result = registry_submit(
        document(organisations=orgs, models=model_records, clusters=cluster_records), via="import"
    )
    return list(result.changed_subjects)


