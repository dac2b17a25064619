"""`evaluate` and existence in time: a subject that did not exist yet on --as-of is not_applicable,
--hypothetical applies that date's law to the subject as it stands today, and the JSON carries the
tier reached."""
from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from registry.services import registry_submit
from rules.models import Determination
from tests.factories import ClusterRecordFactory, ModelRecordFactory, document

pytestmark = pytest.mark.django_db


@pytest.fixture
def registry():
    """A 2e26 model completed 2024-07-01 and released 2024-07-23; a cluster operational from 2024-09-02."""
    registry_submit(document(
        models=[ModelRecordFactory(name="Big", training_compute_ops="2e26", training_completed_on="2024-07-01",
                                   released_on="2024-07-23")],
        clusters=[ClusterRecordFactory(name="Hall", operational_from="2024-09-02")],
    ), via="import")


def evaluate_json(*args):
    out = io.StringIO()
    call_command("evaluate", "--format", "json", *args, stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.parametrize(("as_of", "status", "tier"), [
    ("2024-06-30", "not_applicable", None),
    ("2024-07-01", "covered", "dual-use-foundation-model"),
])
def test_a_model_is_not_applicable_the_day_before_its_training_completed(registry, as_of, status, tier):
    (row,) = evaluate_json("--as-of", as_of, "--regime", "us-eo-14110", "--subject", "model:acme/Big@1")
    assert (row["status"], row["tier"]) == (status, tier)
    if status == "not_applicable":
        assert row["reason"] == "model:acme/Big@1 did not exist yet on 2024-06-30: its training_completed_on is 2024-07-01"
        assert row["tests"] == []
    else:
        assert row["reason"] is None and row["tier_title"] == "Dual-use foundation model subject to reporting"


@pytest.mark.parametrize(("as_of", "status"), [("2024-09-01", "not_applicable"), ("2024-09-02", "covered")])
def test_a_cluster_is_not_applicable_before_it_is_operational(registry, as_of, status):
    (row,) = evaluate_json("--as-of", as_of, "--regime", "us-eo-14110", "--subject", "cluster:acme/Hall")
    assert row["status"] == status
    assert ("operational_from is 2024-09-02" in (row["reason"] or "")) is (status == "not_applicable")


def test_hypothetical_applies_that_days_law_to_the_subject_as_it_stands_today(registry):
    (row,) = evaluate_json("--as-of", "2024-06-30", "--regime", "us-eo-14110", "--subject", "model:acme/Big@1",
                           "--hypothetical")
    assert (row["status"], row["tier"], row["reason"]) == ("covered", "dual-use-foundation-model", None)
    assert any(note.startswith("hypothetical: the law of 2024-06-30") for note in row["notes"])
    assert not Determination.objects.exists()


def test_a_cluster_under_the_eu_ai_act_is_not_applicable_with_the_reason(registry):
    (row,) = evaluate_json("--as-of", "2026-06-01", "--regime", "eu-ai-act", "--subject", "cluster:acme/Hall")
    assert (row["status"], row["tier"]) == ("not_applicable", None)
    assert row["reason"] == "eu-ai-act version 2025-08-02 has no test for a cluster"


def test_hypothetical_is_never_recorded(registry):
    with pytest.raises(CommandError, match="--hypothetical: a hypothetical answer is a preview"):
        call_command("evaluate", "--as-of", "2024-06-30", "--hypothetical", "--record", stdout=io.StringIO())
    assert not Determination.objects.exists()


def test_the_table_shows_the_tier_and_the_reason(registry):
    out = io.StringIO()
    call_command("evaluate", "--as-of", "2024-06-30", "--regime", "us-eo-14110", stdout=out)
    lines = out.getvalue().splitlines()
    assert "TIER" in lines[0]
    assert any("not_applicable" in line and "did not exist yet" in line for line in lines)
    assert any("cluster:acme/Hall" in line for line in lines)


def test_help_says_what_hypothetical_does():
    from rules.management.commands.evaluate import Command

    parser = Command().create_parser("manage.py", "evaluate")
    assert "as it stands today" in " ".join(parser.format_help().split())
