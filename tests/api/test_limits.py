"""The registry's limits in the API: a lineage too deep or an organisation with too many models is a
400 naming the field, and nothing is written."""
from __future__ import annotations

import pytest

from registry.models import AIModel
from tests.api.conftest import errors_by_field

pytestmark = pytest.mark.django_db


def test_the_api_answers_400_naming_the_field(limits, lab):
    for index in range(3):
        body = {"name": f"Api-{index}", "version": "1", "parameter_count": 7e10, "training_tokens": 1.5e13}
        if index:
            body["base_model"] = f"acme/Api-{index - 1}@1"
        assert lab.post("/api/v1/models/", body, format="json").status_code == 201
    # acme has Acme-1 and Api-0..2: a fourth model in the chain is 3 deep, a fifth deeper
    deep = {"name": "Api-3", "version": "1", "parameter_count": 7e10, "base_model": "acme/Api-2@1"}
    assert lab.post("/api/v1/models/", deep, format="json").status_code == 201
    deeper = {"name": "Api-4", "version": "1", "parameter_count": 7e10, "base_model": "acme/Api-3@1"}
    response = lab.post("/api/v1/models/", deeper, format="json")
    assert response.status_code == 400, response.content
    assert "REGISTRY_MAX_LINEAGE_DEPTH" in errors_by_field(response)["base_model"]
    crowded = {"name": "Api-5", "version": "1", "parameter_count": 7e10}
    response = lab.post("/api/v1/models/", crowded, format="json")
    assert response.status_code == 400, response.content
    assert "REGISTRY_MAX_MODELS_PER_ORGANISATION" in errors_by_field(response)["organisation"]
    assert not AIModel.objects.filter(name__in=["Api-4", "Api-5"]).exists()
