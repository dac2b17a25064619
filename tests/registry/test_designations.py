"""Designations: recorded by a regulator only, validated naming the field, never overwritten,
withdrawn by a second record, exported so an export re-imports, carried by snapshots, and recording
one re-evaluates its subject."""
from __future__ import annotations

import io
import json
from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.designations import AlreadyWithdrawn, designation_withdraw
from registry.models import AIModel, Designation, DesignationWithdrawal
from registry.models.designation import ImmutableRecord
from registry.selectors import registry_export
from registry.services import RegistryValidationError, designation_record, registry_submit
from rules.models import PendingEvaluation
from rules.subjects import snapshots_for, snapshots_for_ids
from tests.factories import ModelRecordFactory, document

pytestmark = pytest.mark.django_db

ACME_1 = "model:acme/Acme-1@1"


def designation(**fields):
    return {"subject": ACME_1, "regime": "eu-ai-act", "kind": "systemic-risk-designation",
            "decided_on": "2026-02-01", "reference": "C(2026) 1234", **fields}


@pytest.fixture
def acme_model():
    registry_submit(document(models=[ModelRecordFactory(name="Acme-1", training_compute_ops=5e24)]), via="import")
    return AIModel.objects.get(name="Acme-1")


def run_import(tmp_path, doc):
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    out, err = io.StringIO(), io.StringIO()
    call_command("import_registry", str(path), "--no-progress", stdout=out, stderr=err)
    return out.getvalue()


def test_the_import_command_records_a_designation_and_importing_it_again_changes_nothing(tmp_path, acme_model):
    doc = {"designations": [designation()]}
    assert "designations: 1 recorded, 0 unchanged" in run_import(tmp_path, doc)
    assert "designations: 0 recorded, 1 unchanged" in run_import(tmp_path, doc)
    row = Designation.objects.get()
    assert (row.model, row.subject_kind, row.regime, row.kind, row.decided_on, row.reference) == (
        acme_model, "model", "eu-ai-act", "systemic-risk-designation", date(2026, 2, 1), "C(2026) 1234")
    assert row.recorded_via == "import"


def test_a_designation_with_another_date_is_a_second_record_not_an_overwrite(acme_model):
    designation_record(record=designation(), actor=None, via="admin")
    designation_record(record=designation(decided_on="2026-03-01", reference="C(2026) 2000"), actor=None, via="admin")
    assert sorted(Designation.objects.values_list("decided_on", flat=True)) == [date(2026, 2, 1), date(2026, 3, 1)]


@pytest.mark.parametrize("scope", [None, "acme"])
def test_a_submission_that_may_not_designate_is_refused_naming_the_field_and_writes_nothing(scope, acme_model):
    doc = document(models=[ModelRecordFactory(name="Acme-2")])
    doc["designations"] = [designation()]
    with pytest.raises(RegistryValidationError) as caught:
        registry_submit(doc, via="api", organisation_scope=scope, may_designate=scope is not None)
    assert [p.path for p in caught.value.problems] == ["designations"]
    assert "only a regulator" in caught.value.problems[0].message
    assert not Designation.objects.exists() and not AIModel.objects.filter(name="Acme-2").exists()


@pytest.mark.parametrize(("fields", "path", "words"), [
    ({"kind": "covered-frontier-model"}, "designations[0].regime", "taken under 'us-eo-14409', not 'eu-ai-act'"),
    ({"regime": "us-eo-14409"}, "designations[0].regime", "taken under 'eu-ai-act', not 'us-eo-14409'"),
    ({"kind": "designated"}, "designations[0].kind", "not a valid choice"),
    ({"subject": "cluster:acme/Hall A"}, "designations[0].subject", "about a model, not a cluster"),
    ({"subject": "model:acme/Nope@1"}, "designations[0].subject", "unknown subject"),
    ({"subject": "acme/Acme-1@1"}, "designations[0].subject", "must be a subject reference"),
    ({"decided_on": "2026-02-30"}, "designations[0].decided_on", "not a date that exists"),
    ({"decided_on": None}, "designations[0].decided_on", "may not be null"),
    ({"reference": "  "}, "designations[0].reference", "blank"),
])
def test_a_bad_designation_is_refused_naming_the_field(fields, path, words, acme_model):
    with pytest.raises(RegistryValidationError) as caught:
        designation_record(record=designation(**fields), actor=None, via="admin")
    problems = {p.path: p.message for p in caught.value.problems}
    assert path in problems and words in problems[path], problems
    assert not Designation.objects.exists()


def test_a_bad_designation_in_an_import_exits_non_zero_and_writes_nothing(tmp_path, acme_model):
    doc = document(models=[ModelRecordFactory(name="Acme-2")])
    doc["designations"] = [designation(kind="rebuttal-accepted", regime="us-eo-14409")]
    with pytest.raises(CommandError, match="nothing was imported"):
        run_import(tmp_path, doc)
    assert not AIModel.objects.filter(name="Acme-2").exists() and not Designation.objects.exists()


def test_a_designation_is_never_changed_or_deleted(acme_model):
    row, _ = designation_record(record=designation(), actor=None, via="admin")
    row.reference = "C(2026) 9999"
    with pytest.raises(ImmutableRecord):
        row.save()
    with pytest.raises(ImmutableRecord):
        row.delete()
    assert Designation.objects.get().reference == "C(2026) 1234"


def test_a_withdrawn_designation_leaves_the_snapshot_and_the_export_but_stays_on_record(acme_model):
    row, _ = designation_record(record=designation(), actor=None, via="admin")
    assert snapshots_for([ACME_1])[0].snapshot["designations"] == [
        {"regime": "eu-ai-act", "kind": "systemic-risk-designation", "decided_on": "2026-02-01", "reference": "C(2026) 1234"}]
    designation_withdraw(designation=row, reason="recorded against the wrong model", actor=None, via="admin")
    assert "designations" not in snapshots_for([ACME_1])[0].snapshot
    assert registry_export()["designations"] == []
    assert Designation.objects.count() == 1 and DesignationWithdrawal.objects.get().reason == "recorded against the wrong model"
    with pytest.raises(AlreadyWithdrawn):
        designation_withdraw(designation=row, reason="again", actor=None, via="admin")
    # recorded again after the withdrawal, it is a new record
    again, outcome = designation_record(record=designation(), actor=None, via="admin")
    assert outcome == "recorded" and again.pk != row.pk


def test_recording_or_withdrawing_a_designation_re_evaluates_its_subject(acme_model):
    PendingEvaluation.objects.all().delete()
    row, _ = designation_record(record=designation(), actor=None, via="admin")
    assert list(PendingEvaluation.objects.values_list("subject_ref", "record_id")) == [(ACME_1, acme_model.pk)]
    designation_record(record=designation(), actor=None, via="admin")  # unchanged: nothing to re-evaluate
    assert PendingEvaluation.objects.count() == 1
    designation_withdraw(designation=row, reason="error", actor=None, via="admin")
    assert PendingEvaluation.objects.count() == 2


def test_export_with_designations_re_imports_into_an_empty_registry(tmp_path):
    doc = document(models=[ModelRecordFactory(name="Acme-1"), ModelRecordFactory(name="Acme-2")])
    doc["designations"] = [designation(subject="model:acme/Acme-2@1", kind="rebuttal-accepted", reference="C(2026) 2"),
                           designation()]
    registry_submit(doc, via="import", may_designate=True)  # subjects of the same document
    exported = registry_export()
    assert [d["subject"] for d in exported["designations"]] == [ACME_1, "model:acme/Acme-2@1"]
    Designation.objects.all()._raw_delete(Designation.objects.db)
    for model in AIModel.objects.all():
        model.revisions.all()._raw_delete(model.revisions.db)
    AIModel.objects.all().delete()
    run_import(tmp_path, exported)
    assert registry_export() == exported


def test_snapshots_carry_designations_sorted_with_one_query_per_chunk_whatever_its_size():
    models = [ModelRecordFactory(name=f"M{i}") for i in range(6)]
    doc = document(models=models)
    doc["designations"] = [designation(subject=f"model:acme/M{i}@1", decided_on=day, reference=f"R{i}{day}")
                           for i in range(6) for day in ("2026-05-01", "2026-02-01")]
    registry_submit(doc, via="import", may_designate=True)
    ids = list(AIModel.objects.order_by("pk").values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as one:
        snapshots_for_ids(model_ids=ids[:1])
    with CaptureQueriesContext(connection) as six:
        built = snapshots_for_ids(model_ids=ids)
    assert len(six) == len(one)
    assert [d["decided_on"] for d in built[0].snapshot["designations"]] == ["2026-02-01", "2026-05-01"]
    assert all(len(s.snapshot["designations"]) == 2 for s in built)


def test_the_demo_data_carries_a_designation_that_decides_the_eu_tier():
    from pathlib import Path

    from rules.models import Determination
    from rules.models.runs import Trigger
    from rules.services import run_create, run_execute_inline

    demo = Path(__file__).resolve().parents[2] / "registry" / "demo" / "registry.json"
    call_command("import_registry", str(demo), "--no-progress", "--via", "demo", stdout=io.StringIO())
    ref = "model:example-lab/Example-1@1"
    assert [d["subject"] for d in registry_export()["designations"]] == [ref]
    for as_of, tier, outcome in ((date(2026, 3, 1), "gpai", "not_met"), (date(2026, 3, 2), "gpai-systemic-risk", "met")):
        run = run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=as_of, subjects=[ref], regimes=["eu-ai-act"]))
        payload = Determination.objects.get(run=run, subject_ref=ref).data()
        tests = {test["id"]: test["outcome"] for test in payload["tests"]}
        assert (payload["tier"], tests["systemic-risk-designation"], tests["systemic-risk-presumption"]) == (
            tier, outcome, "not_met")


def test_a_base_models_designations_reach_the_fine_tunes_evaluation_of_record():
    """A fine-tune's snapshot carries its base model's designations (and so does its base's
    organisation's), so the EU downstream-modifier fallback reads the original's classification."""
    from rules.models import Determination
    from rules.services import run_create, run_execute_inline
    from tests.factories import OrganisationRecordFactory

    base = ModelRecordFactory(organisation="upstream", name="Base", parameter_count=None, training_tokens=None)
    tune = ModelRecordFactory(organisation="acme", name="FT", base_model="upstream/Base@1", parameter_count=None,
                              training_tokens=None, fine_tuning_compute_ops="1e24")
    doc = document(organisations=[OrganisationRecordFactory(slug="acme"), OrganisationRecordFactory(slug="upstream")],
                   models=[base, tune])
    registry_submit(doc, via="import")

    def downstream_modifier(as_of: date) -> str:
        run = run_create(kind="manual", as_of=as_of, regimes=["eu-ai-act"], subjects=["model:acme/FT@1"])
        run_execute_inline(run)
        row = Determination.objects.filter(run=run).get()
        return next(test["outcome"] for test in row.data()["tests"] if test["id"] == "downstream-modifier")

    # the original's compute is unknown: between the para 61 fallbacks, its classification decides
    assert downstream_modifier(date(2026, 3, 1)) == "indeterminate"
    registry_submit({"designations": [designation(subject="model:upstream/Base@1", reference="C(2026) 77")]},
                    via="import", may_designate=True)
    held = [{"regime": "eu-ai-act", "kind": "systemic-risk-designation", "decided_on": "2026-02-01",
             "reference": "C(2026) 77"}]
    snapshot = snapshots_for(["model:acme/FT@1"])[0].snapshot
    assert "designations" not in snapshot and snapshot["related_designations"] == {"upstream/Base@1": held}
    assert snapshots_for(["organisation:upstream"])[0].snapshot["related_designations"] == {"upstream/Base@1": held}
    assert downstream_modifier(date(2026, 3, 1)) == "not_met"  # a third of 10^25: 1e24 is below it
    assert downstream_modifier(date(2026, 1, 31)) == "indeterminate"  # not yet decided on that date
