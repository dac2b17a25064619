"""Tiers and existence in time in the decision log: each determination records the highest tier
reached (column and payload, both covered by the row's hash), a change of tier is a change, and a
subject that did not exist yet on the as-of date is recorded as not_applicable with its reason."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from django.db import connection  # noqa: F401  (read by the skipif condition)

from registry.services import registry_submit
from rules.decision_log import verify_chain
from rules.models import Determination, StatusChange
from rules.models.decision_log import chained_fields
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from tests.factories import ModelRecordFactory, OrganisationRecordFactory, document
from tests.rules.conftest import submit_registry, tamper

pytestmark = pytest.mark.django_db

sqlite_only = pytest.mark.skipif("connection.vendor != 'sqlite'", reason="raw SQL tampering is possible on SQLite")

AS_OF = date(2026, 3, 1)


def evaluate(subjects=None, *, regimes=("eu-ai-act",), as_of=AS_OF):
    return run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=as_of, subjects=subjects, regimes=list(regimes)))


def resubmit(compute: float) -> None:
    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="org-0", name="Org 0")],
        models=[ModelRecordFactory(organisation="org-0", name="Model-0", training_compute_ops=compute)],
    ), via="import")


def test_a_determination_records_the_highest_tier_reached_in_its_column_and_payload():
    submit_registry(models=1, training_compute_ops=2e25)
    evaluate()
    row = Determination.objects.get(subject_ref="model:org-0/Model-0@1", regime="eu-ai-act")
    assert (row.status, row.tier) == ("covered", "gpai-systemic-risk")
    payload = row.data()
    assert (payload["tier"], payload["tier_title"], payload["reason"]) == (
        "gpai-systemic-risk", "GPAI model with systemic risk", None)
    assert row.compute_row_sha256() == row.row_sha256 and verify_chain().ok


def test_a_model_below_every_tier_records_none():
    submit_registry(models=1, training_compute_ops=1e23)
    evaluate()
    row = Determination.objects.get(subject_ref="model:org-0/Model-0@1", regime="eu-ai-act")
    assert (row.status, row.tier, row.data()["tier"]) == ("not_covered", "", None)


def test_a_row_without_a_tier_hashes_exactly_as_before_tiers_existed():
    """Rows written before the column existed keep verifying: an empty tier adds nothing to the hash."""
    fields = [1, "model", "model:a/b@1", "a", "b", "1", 1, "eu-ai-act", 1, "v", "h", AS_OF, "covered", "t", "f",
              "manual", None, None, "", datetime(2026, 3, 1, 12)]
    without = chained_fields(*fields)
    assert len(without) == 20 and chained_fields(*fields, tier="") == without
    assert chained_fields(*fields, tier="gpai") == [*without, "gpai"]


@sqlite_only
@pytest.mark.parametrize("statement", [
    "UPDATE rules_determination SET tier = 'gpai' WHERE tier = 'gpai-systemic-risk'",
    "UPDATE rules_determination SET tier = '' WHERE tier = 'gpai-systemic-risk'",
])
def test_an_altered_or_cleared_tier_breaks_the_chain(statement):
    submit_registry(models=1, training_compute_ops=2e25)
    evaluate()
    sequence = Determination.objects.get(tier="gpai-systemic-risk").sequence
    tamper(statement, table="rules_determination", where=f"sequence = {sequence}")
    report = verify_chain()
    assert report.broken_at == sequence and "altered" in report.reason


def test_a_change_of_tier_under_the_same_status_is_recorded_as_a_change():
    submit_registry(models=1, training_compute_ops=5e24)
    evaluate()
    assert Determination.objects.get(subject_ref="model:org-0/Model-0@1").tier == "gpai"
    resubmit(2e25)
    run = evaluate()
    change = StatusChange.objects.get(run=run, subject_ref="model:org-0/Model-0@1", regime="eu-ai-act")
    assert (change.from_status, change.to_status) == ("covered", "covered")
    assert (change.from_tier, change.to_tier) == ("gpai", "gpai-systemic-risk")
    assert {"id": "systemic-risk-presumption", "from": "not_met", "to": "met"} in change.flipped_tests


def test_the_same_tier_again_is_no_change():
    submit_registry(models=1, training_compute_ops=5e24)
    evaluate()
    resubmit(6e24)
    run = evaluate()
    assert not StatusChange.objects.filter(run=run).exists()


@pytest.mark.parametrize(("as_of", "status"), [(date(2024, 7, 22), "not_applicable"), (date(2024, 7, 23), "covered")])
def test_a_model_released_after_the_as_of_date_is_recorded_not_applicable_with_its_reason(as_of, status):
    """A model without training_completed_on, released on 2024-07-23."""
    submit_registry(models=1, training_compute_ops=2e26, released_on="2024-07-23")
    evaluate(regimes=["us-eo-14110"], as_of=as_of)
    row = Determination.objects.get(subject_ref="model:org-0/Model-0@1", regime="us-eo-14110")
    assert row.status == status
    reason = row.data()["reason"]
    if status == "not_applicable":
        assert reason == "model:org-0/Model-0@1 did not exist yet on 2024-07-22: its released_on is 2024-07-23"
        assert row.tier == "" and row.data()["tests"] == []
    else:
        assert reason is None and row.tier == "dual-use-foundation-model"
