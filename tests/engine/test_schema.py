"""A malformed rule file is refused with every problem, each naming the file and the path."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.engine.library import parse_rule_version
from rules.engine.schema import RuleFileErrors

from .conftest import FIXTURES

VALID = (FIXTURES / "library" / "us-eo-14110" / "2023-10-30.yaml").read_text(encoding="utf-8")
ORIGIN = "rules/library/us-eo-14110/broken.yaml"


def _errors(text: str) -> list[str]:
    with pytest.raises(RuleFileErrors) as caught:
        parse_rule_version(text, origin=ORIGIN)
    return [str(error) for error in caught.value.errors]


def test_the_fixture_is_valid() -> None:
    version = parse_rule_version(VALID, origin=ORIGIN)
    assert [test.id for test in version.tests] == ["model-general", "cluster"]


def test_missing_citation_names_file_and_path() -> None:
    text = VALID.replace('    citation: "EO 14110 §4.2(b)(ii)"\n    quote:', "    quote:")
    assert _errors(text) == [f"{ORIGIN}: tests[1].citation: required"]


def test_every_problem_is_collected() -> None:
    text = (VALID.replace("legal_status: revoked", "legal_status: repealed")
                 .replace("unit: ops_per_second", "unit: flops")
                 .replace("applies_to: model\n", "applies_to: model\n    colour: red\n"))
    errors = _errors(text)
    assert f"{ORIGIN}: version.legal_status: 'repealed' is not one of enacted, proposed, passed, vetoed, revoked, guidance, superseded, not-enforced" in errors
    assert any(error.startswith(f"{ORIGIN}: parameters.cluster_compute_capacity.unit: 'flops'") for error in errors)
    assert f"{ORIGIN}: tests[0].colour: unknown key (not in schema 1)" in errors
    assert len(errors) == 3


def test_a_number_written_as_text_is_refused() -> None:
    errors = _errors(VALID.replace("value: 1e26", 'value: "ten to the 26"'))
    assert errors == [f"{ORIGIN}: parameters.model_compute_general.value: 'ten to the 26' is not a number or a ratio "
                      'written as whole numbers ("1/3")']


def test_a_ratio_the_text_gives_in_words_may_be_written_exactly() -> None:
    version = parse_rule_version(VALID.replace("value: 1e26", 'value: "1/3"'), origin=ORIGIN)
    assert version.parameters["model_compute_general"].value == pytest.approx(1 / 3)
    assert _errors(VALID.replace("value: 1e26", 'value: "0/3"')) == [
        f"{ORIGIN}: parameters.model_compute_general.value: '0/3' is not a number or a ratio written as whole numbers "
        '("1/3")']


def test_a_date_that_is_not_a_calendar_date_is_refused() -> None:
    errors = _errors(VALID.replace("effective_to: 2025-01-20", "effective_to: 2025-02-30"))
    assert errors == [f"{ORIGIN}: version.effective_to: '2025-02-30' is not a calendar date"]


def test_unsupported_schema_is_refused() -> None:
    assert _errors(VALID.replace("schema: 1", "schema: 2")) == [f"{ORIGIN}: schema: unsupported schema 2: expected 1"]


def test_a_network_threshold_must_name_a_parameter() -> None:
    errors = _errors(VALID.replace("network_threshold: cluster_network_bandwidth", "network_threshold: nope"))
    assert errors == [f"{ORIGIN}: tests[1].arguments.network_threshold: 'nope' is not a parameter of this version"]


def test_duplicate_test_ids_are_refused() -> None:
    errors = _errors(VALID.replace("- id: cluster", "- id: model-general"))
    assert f"{ORIGIN}: tests[1].id: duplicate test id 'model-general'" in errors


def test_yaml_refusals_become_rule_file_errors() -> None:
    assert _errors(VALID.replace("value: 1e26", "value: &big 1e26")) == [
        f"{ORIGIN}: line 25: anchor &big refused: rule files may not use anchors or aliases"]


def test_fixture_path_exists() -> None:
    assert Path(FIXTURES / "library").is_dir()
