"""The registry's limits (REGISTRY_MAX_LINEAGE_DEPTH, REGISTRY_MAX_MODELS_PER_ORGANISATION): refused
with the field named in the API (400), the import command (non-zero exit) and the admin's model
validation, having written nothing."""
from __future__ import annotations

import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from registry.models import AIModel, Organisation
from registry.services import RegistryValidationError, registry_submit
from tests.factories import ModelRecordFactory, document

pytestmark = pytest.mark.django_db


def chain(length: int, *, start: int = 0, base: str | None = None) -> list[dict]:
    """`length` models of acme, each the base of the next."""
    records = []
    for index in range(start, start + length):
        record = ModelRecordFactory(name=f"Step-{index}")
        if base:
            record["base_model"] = base
        base = f"acme/Step-{index}@1"
        records.append(record)
    return records


def test_a_lineage_at_the_limit_is_accepted_and_one_deeper_is_refused(limits):
    registry_submit(document(models=chain(4)), via="import")  # Step-3 has 3 base models above it
    with pytest.raises(RegistryValidationError) as excinfo:
        registry_submit(document(models=chain(1, start=4, base="acme/Step-3@1")), via="import")
    (problem,) = excinfo.value.problems
    assert problem.path == "models[0].base_model" and "REGISTRY_MAX_LINEAGE_DEPTH" in problem.message
    assert "deeper than 3" in problem.message
    assert not AIModel.objects.filter(name="Step-4").exists()


def test_a_whole_chain_too_deep_in_one_document_is_refused_at_its_first_model_over(limits):
    with pytest.raises(RegistryValidationError) as excinfo:
        registry_submit(document(models=chain(5)), via="import")
    assert [p.path for p in excinfo.value.problems] == ["models[4].base_model"]
    assert AIModel.objects.count() == 0


def test_moving_a_stored_model_under_a_deeper_base_counts_its_descendants(limits):
    registry_submit(document(models=chain(3) + [ModelRecordFactory(name="Other")]), via="import")
    moved = ModelRecordFactory(name="Step-0", base_model="acme/Other@1")  # Step-2 would be 3 deep: allowed
    registry_submit(document(models=[moved]), via="import")
    root = ModelRecordFactory(name="Root")
    other = ModelRecordFactory(name="Other", base_model="acme/Root@1")  # Step-2 would be 4 deep
    with pytest.raises(RegistryValidationError) as excinfo:
        registry_submit(document(models=[root, other]), via="import")
    assert [p.path for p in excinfo.value.problems] == ["models[1].base_model"]
    assert AIModel.objects.get(name="Other").base_model is None


def test_an_organisation_over_its_model_limit_is_refused_naming_the_first_model_over(limits):
    registry_submit(document(models=[ModelRecordFactory(name=f"M-{i}") for i in range(4)]), via="import")
    models = [ModelRecordFactory(name="M-0"), ModelRecordFactory(name="New-1"), ModelRecordFactory(name="New-2")]
    with pytest.raises(RegistryValidationError) as excinfo:
        registry_submit(document(models=models), via="import")
    (problem,) = excinfo.value.problems
    assert problem.path == "models[2].organisation"
    assert "6 models" in problem.message and "REGISTRY_MAX_MODELS_PER_ORGANISATION" in problem.message
    assert AIModel.objects.count() == 4
    registry_submit(document(models=models[:2]), via="import")  # one more, and a revision: 5 models
    assert AIModel.objects.count() == 5


def test_the_import_command_exits_non_zero_naming_the_field(limits, tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(document(models=chain(5))))
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was imported") as excinfo:
        call_command("import_registry", str(path), "--no-progress", stderr=err)
    assert excinfo.value.returncode != 0
    assert "models[4].base_model: makes a lineage deeper than 3 base models" in err.getvalue()
    assert AIModel.objects.count() == 0


def test_the_admin_refuses_a_base_model_too_deep_and_a_model_too_many(limits):
    registry_submit(document(models=chain(4)), via="import")
    acme = Organisation.objects.get(slug="acme")
    too_deep = AIModel(organisation=acme, name="Step-4", version="1", base_model=AIModel.objects.get(name="Step-3"))
    with pytest.raises(ValidationError) as excinfo:
        too_deep.full_clean()
    assert "REGISTRY_MAX_LINEAGE_DEPTH" in str(excinfo.value.message_dict["base_model"])
    root = AIModel.objects.get(name="Step-0")
    root.base_model = AIModel.objects.create(organisation=acme, name="Other", version="1")  # the fifth model
    with pytest.raises(ValidationError) as excinfo:
        root.full_clean()  # Step-3 would have 4 base models above it
    assert "REGISTRY_MAX_LINEAGE_DEPTH" in str(excinfo.value.message_dict["base_model"])
    sixth = AIModel(organisation=acme, name="Sixth", version="1")
    with pytest.raises(ValidationError) as excinfo:
        sixth.full_clean()
    assert "REGISTRY_MAX_MODELS_PER_ORGANISATION" in str(excinfo.value)
