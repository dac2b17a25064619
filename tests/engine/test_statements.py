"""A test's outcome as a sentence that is true as written: the comparison as the rule writes it when
met, negated when not, the failed condition in words, what is missing when undecided."""

from __future__ import annotations

from datetime import date

import pytest

from rules.engine.evaluate import evaluate
from rules.engine.statements import NEGATED_SIGNS, OPERATOR_SIGNS, outcome_statement, threshold_ratio

from .snapshots import model_snapshot

AS_OF = date(2024, 6, 1)
UNITS = {"cumulative_training_compute_ops": "ops"}


def statement(real_library, regime: str, version: str, test_id: str, **facts) -> str:
    document = evaluate(model_snapshot(facts), version=real_library.get(regime, version), regime=regime,
                        as_of=AS_OF).to_dict(version_text=False)
    test = next(t for t in document["tests"] if t["id"] == test_id)
    units = {name: q["unit"] for name, q in document["quantities"].items()}
    return outcome_statement(test, units=units)


def test_a_met_comparison_reads_as_written_with_its_ratio(real_library) -> None:
    assert statement(real_library, "us-eo-14110", "2023-10-30", "model-general", training_compute_ops=1.2e26) == (
        "1.2e26 ops > 1e26 ops: met (1.2 × the threshold)")


def test_an_unmet_comparison_reads_negated(real_library) -> None:
    assert statement(real_library, "us-eo-14110", "2023-10-30", "model-general", training_compute_ops=3.8e25) == (
        "3.8e25 ops ≤ 1e26 ops: not met (0.38 × the threshold)")


def test_a_value_at_a_strict_threshold_is_not_met_and_says_so(real_library) -> None:
    assert statement(real_library, "us-eo-14110", "2023-10-30", "model-general", training_compute_ops=1e26) == (
        "1e26 ops ≤ 1e26 ops: not met (1 × the threshold)")


def test_one_operation_above_the_threshold_shows_every_digit_and_the_difference(real_library) -> None:
    text = statement(real_library, "us-eo-14110", "2023-10-30", "model-general",
                     training_compute_ops="100000000000000000000000001")
    assert text == "1.00000000000000000000000001e26 ops > 1e26 ops: met (1 × the threshold, above it by 1 ops)"


def test_an_unmet_condition_is_named_in_words_beside_a_met_comparison(real_library) -> None:
    text = statement(real_library, "us-eo-14110", "2023-10-30", "model-biological", training_compute_ops=2e24,
                     primarily_biological_sequence_data=False)
    assert text == "not met: not trained primarily on biological sequence data (2e24 ops > 1e23 ops, 20 × the threshold)"
    assert "2e24 ops > 1e23 ops: met" not in text


def test_an_undeclared_condition_is_indeterminate_and_named(real_library) -> None:
    text = statement(real_library, "us-ca-sb53", "2026-01-01", "frontier-model", training_compute_ops=2e26,
                     general_purpose=None)
    assert text == ("2e26 ops > 1e26 ops (2 × the threshold), but general_purpose not declared: "
                    "indeterminate (missing: models.general_purpose)")


def test_an_indeterminate_test_names_the_missing_facts(real_library) -> None:
    text = statement(real_library, "us-eo-14110", "2023-10-30", "model-general")
    assert text.startswith("— against > 1e26 ops: indeterminate (missing: models.training_compute_ops")
    assert "≤" not in text and ": met" not in text


def test_a_band_straddling_the_threshold_says_so(real_library) -> None:
    text = statement(real_library, "eu-ai-act", "2025-08-02", "systemic-risk-presumption",
                     parameter_count=4.05e11, training_tokens=4.3e12)
    assert text == ("1.045e25 ops (band 7.314e24–1.358e25) against > 1e25 ops: indeterminate "
                    "(the uncertainty band straddles the threshold)")


@pytest.mark.parametrize(("operator", "value", "outcome", "expected"), [
    (">", 3, "met", "3 ops > 2 ops: met (1.5 × the threshold)"),
    (">", 2, "not_met", "2 ops ≤ 2 ops: not met (1 × the threshold)"),
    (">=", 2, "met", "2 ops ≥ 2 ops: met (1 × the threshold)"),
    (">=", 1, "not_met", "1 ops < 2 ops: not met (0.5 × the threshold)"),
    ("<", 1, "met", "1 ops < 2 ops: met (0.5 × the threshold)"),
    ("<", 2, "not_met", "2 ops ≥ 2 ops: not met (1 × the threshold)"),
    ("<=", 2, "met", "2 ops ≤ 2 ops: met (1 × the threshold)"),
    ("<=", 3, "not_met", "3 ops > 2 ops: not met (1.5 × the threshold)"),
])
def test_every_operator_reads_negated_when_unmet(operator, value, outcome, expected) -> None:
    row = {"quantity": "q", "operator": operator, "value": value, "threshold": 2, "outcome": outcome}
    test = {"id": "t", "outcome": outcome, "quantity": "q", "operator": operator, "value": value, "threshold": 2,
            "low": value, "high": value, "missing": [], "comparisons": [row]}
    assert outcome_statement(test, units={"q": "ops"}) == expected


def test_every_comparison_operator_has_a_sign_and_a_negation() -> None:
    assert set(OPERATOR_SIGNS) == set(NEGATED_SIGNS) == {">", ">=", "<", "<=", "==", "!="}


def test_the_ratio_uses_exact_figures() -> None:
    assert threshold_ratio(10**26 - 1, 10**26, "ops") == "1 × the threshold, below it by 1 ops"
    assert threshold_ratio(38 * 10**24, 10**26) == "0.38 × the threshold"
    assert threshold_ratio(None, 10**26) == "" and threshold_ratio(5, 0) == ""


def test_an_organisation_without_a_frontier_model_says_so(real_library) -> None:
    from .snapshots import organisation_snapshot

    document = evaluate(organisation_snapshot(), version=real_library.get("us-ca-sb53", "2026-01-01"),
                        regime="us-ca-sb53", as_of=date(2026, 6, 1)).to_dict(version_text=False)
    tests = {t["id"]: t for t in document["tests"]}
    units = {name: q["unit"] for name, q in document["quantities"].items()}
    assert outcome_statement(tests["frontier-developer"], units=units) == (
        "not met: no model of the organisation meets frontier-model")
    assert outcome_statement(tests["large-frontier-developer"], units=units) == (
        "not met: no model of the organisation meets frontier-model (6e8 USD > 5e8 USD, 1.2 × the threshold)")
