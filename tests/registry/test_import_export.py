"""import_registry is all-or-nothing and idempotent; export_registry round-trips."""
from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from registry.models import AIModel, Cluster, ModelRevision, Organisation
from registry.selectors import registry_export
from registry.services import RegistryValidationError, registry_submit
from tests.factories import ClusterRecordFactory, ModelRecordFactory, document

pytestmark = pytest.mark.django_db


def write(tmp_path, doc, name="doc.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def run_import(path):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_registry", str(path), "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_one_bad_record_among_many_writes_nothing_and_names_the_field(tmp_path):
    models = [ModelRecordFactory() for _ in range(5)]
    models[3]["training_tokens"] = "lots"
    path = write(tmp_path, document(models=models, clusters=[ClusterRecordFactory()]))
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_registry", str(path), "--no-progress", stderr=err)
    assert 'models[3].training_tokens: must be a non-negative number, got "lots"' in err.getvalue()
    assert Organisation.objects.count() == 0
    assert AIModel.objects.count() == 0
    assert Cluster.objects.count() == 0


def test_bad_import_leaves_the_stored_registry_untouched(tmp_path):
    first = document(models=[ModelRecordFactory(name="Kept")])
    run_import(write(tmp_path, first))
    changed = ModelRecordFactory(name="Kept", parameter_count=1e12)
    broken = ModelRecordFactory(training_compute_ops=-5)
    with pytest.raises(CommandError):
        run_import(write(tmp_path, document(models=[changed, broken]), "second.json"))
    kept = AIModel.objects.get(name="Kept")
    assert kept.parameter_count == 4.05e11
    assert kept.revisions.count() == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10^26", 'got "10^26"'),
        ("lots", 'got "lots"'),
        (-1, "got -1"),
        (True, "got true"),
        ("1e400", 'got "1e400"'),
        ([1], "got [1]"),
    ],
)
def test_numbers_that_are_not_finite_non_negative_numbers_are_refused(value, message):
    with pytest.raises(RegistryValidationError) as caught:
        registry_submit(document(models=[ModelRecordFactory(training_compute_ops=value)]), via="import")
    (problem,) = caught.value.problems
    assert problem.path == "models[0].training_compute_ops"
    assert message in problem.message


def test_nan_and_infinity_in_json_are_refused(tmp_path):
    path = tmp_path / "nan.json"
    base = json.dumps(document(models=[ModelRecordFactory(name="n", training_compute_ops=1.0)]))
    path.write_text(base.replace('"training_compute_ops": 1.0', '"training_compute_ops": NaN'))
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_registry", str(path), "--no-progress", stderr=err)
    assert 'models[0].training_compute_ops: must be a non-negative number, got "NaN"' in err.getvalue()


@pytest.mark.parametrize("text", ["1e26", "1.5E+25", "3.8e25", "  2e24 ", "100"])
def test_scientific_notation_strings_are_numbers(text):
    registry_submit(document(models=[ModelRecordFactory(name="m", training_compute_ops=text)]), via="import")
    assert AIModel.objects.get(name="m").training_compute_ops == float(text)


def test_date_that_does_not_exist_is_refused():
    with pytest.raises(RegistryValidationError) as caught:
        registry_submit(document(models=[ModelRecordFactory(released_on="2024-02-30")]), via="import")
    assert str(caught.value.problems[0]) == "models[0].released_on: is not a date that exists: 2024-02-30"


def test_unknown_accelerator_and_unknown_organisation_are_named():
    cluster = ClusterRecordFactory()
    cluster["groups"][1]["accelerator"] = "nvidia-h9000"
    model = ModelRecordFactory(organisation="nobody")
    with pytest.raises(RegistryValidationError) as caught:
        registry_submit(document(models=[model], clusters=[cluster]), via="import")
    messages = {str(p) for p in caught.value.problems}
    assert "models[0].organisation: unknown organisation 'nobody'" in messages
    assert "clusters[0].groups[1].accelerator: unknown accelerator 'nvidia-h9000': not in the catalog" in messages


def test_link_naming_a_group_the_cluster_lacks_is_refused():
    cluster = ClusterRecordFactory(links=[{"from": "a", "to": "z", "gbps": 800}])
    with pytest.raises(RegistryValidationError) as caught:
        registry_submit(document(clusters=[cluster]), via="import")
    assert str(caught.value.problems[0]) == "clusters[0].links[0].to: 'z' is not a group of this cluster"


def test_lineage_cycle_within_a_document_is_refused():
    a = ModelRecordFactory(name="A", base_model="acme/B@1")
    b = ModelRecordFactory(name="B", base_model="acme/A@1")
    with pytest.raises(RegistryValidationError) as caught:
        registry_submit(document(models=[a, b]), via="import")
    assert any("lineage cycle" in p.message for p in caught.value.problems)
    assert AIModel.objects.count() == 0


def test_lineage_cycle_through_stored_models_is_refused():
    registry_submit(document(models=[
        ModelRecordFactory(name="A"),
        ModelRecordFactory(name="B", base_model="acme/A@1"),
        ModelRecordFactory(name="C", base_model="acme/B@1"),
    ]), via="import")
    with pytest.raises(RegistryValidationError) as caught:
        registry_submit(document(models=[ModelRecordFactory(name="A", base_model="acme/C@1")]), via="import")
    assert "acme/A@1 → acme/C@1 → acme/B@1 → acme/A@1" in caught.value.problems[0].message
    assert AIModel.objects.get(name="A").base_model is None


def test_self_reference_is_refused():
    with pytest.raises(RegistryValidationError) as caught:
        registry_submit(document(models=[ModelRecordFactory(name="A", base_model="acme/A@1")]), via="import")
    assert caught.value.problems[0].message == "a model cannot be its own base model"


def test_lineage_of_any_depth_is_stored_base_first_whatever_the_order():
    records = [ModelRecordFactory(name=f"M{i}", base_model=f"acme/M{i - 1}@1" if i else None) for i in range(6)]
    registry_submit(document(models=list(reversed(records))), via="import")
    deepest = AIModel.objects.get(name="M5")
    assert [m.name for m in deepest.lineage()] == ["M4", "M3", "M2", "M1", "M0"]


def test_importing_the_same_file_twice_changes_nothing(tmp_path):
    doc = document(models=[ModelRecordFactory(), ModelRecordFactory(name="ft", base_model=None)], clusters=[ClusterRecordFactory()])
    path = write(tmp_path, doc)
    run_import(path)
    before = (ModelRevision.objects.count(), list(AIModel.objects.values_list("updated_at", flat=True)))
    out, _ = run_import(path)
    assert "models: 0 created, 0 revised, 2 unchanged" in out
    assert "clusters: 0 created, 0 revised, 1 unchanged" in out
    assert (ModelRevision.objects.count(), list(AIModel.objects.values_list("updated_at", flat=True))) == before


def test_changed_record_becomes_a_new_revision_keeping_the_old(tmp_path):
    record = ModelRecordFactory(name="Acme-1")
    run_import(write(tmp_path, document(models=[record])))
    record["training_compute_ops"] = "3.8e25"
    out, _ = run_import(write(tmp_path, document(models=[record]), "v2.json"))
    assert "models: 0 created, 1 revised, 0 unchanged" in out
    model = AIModel.objects.get(name="Acme-1")
    assert model.revision == 2 and model.training_compute_ops == 3.8e25
    first, second = model.revisions.order_by("number")
    assert first.facts["training_compute_ops"] is None
    assert second.changed_fields == {"training_compute_ops": [None, 38 * 10**24]}


def test_cluster_revision_replaces_topology_and_keeps_history():
    cluster = ClusterRecordFactory(name="Hall")
    registry_submit(document(clusters=[cluster]), via="import")
    cluster["links"] = []
    registry_submit(document(clusters=[cluster]), via="import")
    stored = Cluster.objects.get(name="Hall")
    assert stored.links.count() == 0 and stored.groups.count() == 2
    assert stored.revisions.count() == 2
    assert stored.revisions.get(number=1).facts["links"] == [{"from": "a", "to": "b", "gbps": 800.0}]


def test_export_then_import_into_an_empty_registry_gives_the_same_document(tmp_path, django_db_blocker):
    doc = document(
        models=[
            ModelRecordFactory(name="Base", training_hardware={"accelerator": "nvidia-h100-sxm", "accelerator_count": 16384,
                                                               "training_hours": 1300, "utilization": 0.4}),
            ModelRecordFactory(name="Tuned", base_model="acme/Base@1", derivation="fine_tuning", fine_tuning_compute_ops="1e24"),
            ModelRecordFactory(name="MoE", parameter_count=6.71e11, active_parameter_count=3.7e10, modalities=["text", "image"]),
        ],
        clusters=[ClusterRecordFactory(), ClusterRecordFactory(groups=[{
            "name": "tpu", "datacenter": "dc-9", "accelerator": None, "accelerator_count": 4096, "accelerators_per_node": 4,
            "network_gbps": None, "peak_ops_per_second": {"dense_max": 2.75e14, "dense_16bit": 2.75e14, "sparse_max": None}}], links=[])],
    )
    registry_submit(doc, via="import")
    exported = registry_export()
    for model in (Cluster, AIModel):
        for obj in model.objects.all():
            obj.revisions.all()._raw_delete(obj.revisions.db)
    Cluster.objects.all().delete()
    AIModel.objects.filter(base_model__isnull=False).delete()
    AIModel.objects.all().delete()
    for org in Organisation.objects.all():
        org.revisions.all()._raw_delete(org.revisions.db)
    Organisation.objects.all().delete()
    path = write(tmp_path, exported)
    run_import(path)
    assert registry_export() == exported
    assert json.dumps(registry_export(), sort_keys=True) == json.dumps(exported, sort_keys=True)  # types too
    out = io.StringIO()
    call_command("export_registry", stdout=out)
    assert json.loads(out.getvalue()) == exported
