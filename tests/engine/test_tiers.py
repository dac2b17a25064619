"""Tiers declared by a rule version (the highest reached is recorded) and designated()."""

from __future__ import annotations

from datetime import date

import pytest

from rules.engine.evaluate import evaluate
from rules.engine.library import parse_rule_version
from rules.engine.schema import RuleFileErrors

from .snapshots import model_snapshot

VERSION = """\
schema: 1
regime: {slug: xx-tiered, title: "A tiered regime", jurisdiction: XX}
version:
  id: "2025-01-01"
  title: "Test version"
  legal_status: enacted
  effective_from: 2025-01-01
  effective_to: null
  last_verified_on: 2026-11-28
  provenance: V-COPY
instrument: {citation: "Test Act"}
parameters:
  low: {value: 1.0e+23, operator: ">", citation: "s. 1"}
  high: {value: 1.0e+25, operator: ">", citation: "s. 2"}
tiers:
  - {id: general, title: "General model", applies_to: model, reached_when: [lower]}
  - {id: systemic, title: "Model with systemic risk", applies_to: model, reached_when: [upper, designation]}
tests:
  - {id: lower, title: "Lower", applies_to: model, condition: "training_compute_ops > low", citation: "s. 1", quote: null}
  - {id: upper, title: "Upper", applies_to: model,
     condition: 'training_compute_ops > high and not designated("rebuttal-accepted")', citation: "s. 2", quote: null}
  - {id: designation, title: "Designated", applies_to: model,
     condition: 'designated("systemic-risk-designation")', citation: "s. 3", quote: null}
"""

AS_OF = date(2026, 3, 1)


@pytest.fixture(scope="module")
def version():
    return parse_rule_version(VERSION, origin="xx-tiered/2025-01-01.yaml")


def _evaluate(version, ops: float, designations: list | None = None, as_of: date = AS_OF):
    snapshot = model_snapshot({"training_compute_ops": ops})
    if designations is not None:
        snapshot["designations"] = designations
    return evaluate(snapshot, version=version, regime="xx-tiered", as_of=as_of)


@pytest.mark.parametrize(("ops", "status", "tier", "title"), [
    (1e22, "not_covered", None, None),
    (1e23, "not_covered", None, None),
    (2e23, "covered", "general", "General model"),
    (1e25, "covered", "general", "General model"),
    (2e25, "covered", "systemic", "Model with systemic risk"),
])
def test_the_highest_tier_reached_is_recorded(version, ops, status, tier, title) -> None:
    evaluation = _evaluate(version, ops)
    assert (evaluation.status, evaluation.tier, evaluation.tier_title) == (status, tier, title)
    document = evaluation.to_dict()
    assert (document["tier"], document["tier_title"]) == (tier, title)


def _designation(kind: str, decided_on: str, regime: str = "xx-tiered") -> dict:
    return {"regime": regime, "kind": kind, "decided_on": decided_on, "reference": "C(2026) 1"}


def test_a_designation_takes_effect_from_the_day_it_is_decided(version) -> None:
    designations = [_designation("systemic-risk-designation", "2026-03-01")]
    before = _evaluate(version, 2e23, designations, as_of=date(2026, 2, 28))
    on = _evaluate(version, 2e23, designations, as_of=date(2026, 3, 1))
    assert (before.tier, on.tier) == ("general", "systemic")
    row = next(test for test in on.to_dict()["tests"] if test["id"] == "designation")
    assert row["outcome"] == "met"
    assert row["comparisons"][0]["quantity"] == "designation"
    assert row["comparisons"][0]["threshold_label"] == "systemic-risk-designation"


def test_a_designation_under_another_regime_or_of_another_kind_does_not_count(version) -> None:
    other = [_designation("systemic-risk-designation", "2026-01-01", regime="eu-ai-act"),
             _designation("covered-frontier-model", "2026-01-01")]
    evaluation = _evaluate(version, 2e23, other)
    assert evaluation.tier == "general"
    assert next(t for t in evaluation.tests if t.id == "designation").outcome == "not_met"


def test_an_accepted_rebuttal_read_by_a_test_turns_it_off(version) -> None:
    rebutted = [_designation("rebuttal-accepted", "2026-02-01")]
    assert _evaluate(version, 2e25, rebutted, as_of=date(2026, 1, 31)).tier == "systemic"
    after = _evaluate(version, 2e25, rebutted, as_of=date(2026, 2, 1))
    assert (after.status, after.tier) == ("covered", "general")


def test_tiers_must_name_tests_of_the_version_of_the_same_kind() -> None:
    bad = VERSION.replace("reached_when: [lower]", "reached_when: [lowest]").replace(
        "applies_to: model, reached_when: [upper", "applies_to: organisation, reached_when: [upper")
    with pytest.raises(RuleFileErrors) as caught:
        parse_rule_version(bad, origin="xx-tiered/2025-01-01.yaml")
    text = str(caught.value)
    assert "tiers[0].reached_when[0]: no test 'lowest' in this version" in text
    assert "tiers[1].reached_when[0]: test upper applies to a model, the tier to an organisation" in text


def test_designated_takes_a_kind_in_quotes() -> None:
    bad = VERSION.replace('designated("systemic-risk-designation")', "designated(systemic)")
    with pytest.raises(RuleFileErrors, match='designated takes one argument: a designation kind in quotes'):
        parse_rule_version(bad, origin="xx-tiered/2025-01-01.yaml")


def test_the_deciding_test_is_one_that_reaches_the_highest_tier(version) -> None:
    """A model meeting the lower tier's test and designated into the upper tier rests on the designation."""
    designated = _evaluate(version, 2e23, [_designation("systemic-risk-designation", "2026-01-01")])
    assert [t.id for t in designated.tests if t.outcome == "met"] == ["lower", "designation"]
    assert (designated.tier, designated.deciding_test().id) == ("systemic", "designation")
    assert _evaluate(version, 2e23).deciding_test().id == "lower"
    assert _evaluate(version, 1e22).deciding_test() is None  # not covered: nothing decides it
