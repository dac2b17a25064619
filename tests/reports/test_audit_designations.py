"""The audit report shows the designations a determination read, next to the test that read them:
kind, date decided, reference, and whether in effect on the as-of date."""
from __future__ import annotations

import json
from datetime import date

import pytest

from registry.services import designation_record, registry_submit
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from tests.factories import ModelRecordFactory, document

from .test_audit import audit, text_of

pytestmark = pytest.mark.django_db

REF = "model:acme/Designated-1@1"


@pytest.fixture
def designated():
    registry_submit(document(models=[ModelRecordFactory(name="Designated-1", training_compute_ops=5e24)]), via="import")
    designation_record(record={"subject": REF, "regime": "eu-ai-act", "kind": "systemic-risk-designation",
                               "decided_on": "2026-02-01", "reference": "C(2026) 1234"}, actor=None, via="admin")
    for as_of in (date(2026, 1, 15), date(2026, 2, 1)):
        run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=as_of, subjects=[REF], regimes=["eu-ai-act"]))


def test_the_designation_read_is_shown_as_in_effect_from_its_date(designated):
    text = text_of(audit(REF, as_of=date(2026, 2, 1)).decode())
    assert "Designations read (recorded by a regulator)" in text
    assert "systemic-risk-designation 2026-02-01 C(2026) 1234 yes" in text


def test_before_its_date_the_designation_is_shown_as_not_yet_in_effect(designated):
    text = text_of(audit(REF, as_of=date(2026, 1, 15)).decode())
    assert "systemic-risk-designation 2026-02-01 C(2026) 1234 no: decided after the as-of date" in text


def test_a_subject_without_designations_says_none_was_recorded(designated):
    registry_submit(document(models=[ModelRecordFactory(name="Plain-1", training_compute_ops=5e24)]), via="import")
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=date(2026, 2, 1), subjects=["model:acme/Plain-1@1"],
                                  regimes=["eu-ai-act"]))
    text = text_of(audit("model:acme/Plain-1@1", as_of=date(2026, 2, 1)).decode())
    assert "None recorded for this subject when the determination was made." in text


def test_the_export_carries_the_designations_a_determination_read(designated):
    from .test_exports import export, rows

    by_as_of = {r["as_of"]: r for r in rows(subject=REF, regime="eu-ai-act")}
    held = [{"kind": "systemic-risk-designation", "decided_on": "2026-02-01", "reference": "C(2026) 1234"}]
    assert json.loads(by_as_of["2026-02-01"]["designations"]) == held
    assert json.loads(by_as_of["2026-01-15"]["designations"]) == held  # held, though not yet in effect
    records = json.loads(export("json", subject=REF, regime="eu-ai-act"))
    assert all(record["designations"] == held for record in records)


def test_the_export_leaves_designations_empty_where_no_test_reads_one(designated):
    from .test_exports import rows

    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=date(2026, 2, 1), subjects=[REF], regimes=["us-ca-sb53"]))
    assert [r["designations"] for r in rows(subject=REF, regime="us-ca-sb53")] == [""]
