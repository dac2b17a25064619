"""The statuses and test outcomes are DESIGN.md's words, defined once in rules/engine/vocabulary.py:
no other module spells them out."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from rules.engine.evaluate import status_of
from rules.engine.vocabulary import (
    OUTCOME_CHOICES,
    OUTCOME_LABELS,
    STATUS_CHOICES,
    STATUS_LABELS,
    Outcome,
    Status,
    outcome_label,
    status_label,
)

from .conftest import REPO

# DESIGN.md, "Vocabulary" (Status) and "Subjects, as-of dates and test ids" (outcomes): the contract.
DESIGN_STATUSES = {"covered", "not_covered", "indeterminate", "not_in_force", "not_applicable"}
DESIGN_OUTCOMES = {"met", "not_met", "indeterminate"}

# The packages whose modules must take these words from the vocabulary.
APP_PACKAGES = ("rules", "registry", "reports", "api", "accounts", "bench", "config", "workspace")
VOCABULARY_MODULE = REPO / "rules" / "engine" / "vocabulary.py"


def test_the_statuses_are_the_ones_design_names() -> None:
    assert {status.value for status in Status} == DESIGN_STATUSES


def test_the_test_outcomes_are_the_ones_design_names() -> None:
    assert {outcome.value for outcome in Outcome} == DESIGN_OUTCOMES


def test_every_status_and_outcome_has_a_label_and_a_choice() -> None:
    assert set(STATUS_LABELS) == set(Status) and set(OUTCOME_LABELS) == set(Outcome)
    assert [value for value, _ in STATUS_CHOICES] == [status.value for status in Status]
    assert [value for value, _ in OUTCOME_CHOICES] == [outcome.value for outcome in Outcome]
    assert status_label("not_in_force") == "not in force" and outcome_label("not_met") == "not met"


def test_a_word_outside_the_vocabulary_is_shown_as_it_is() -> None:
    assert status_label("retired") == "retired"
    assert outcome_label("absent") == "absent"


def test_the_statuses_serialise_as_their_contract_words() -> None:
    status = status_of([Outcome.NOT_MET, Outcome.MET])
    assert status == "covered" and f"{status}" == "covered" and str(status) == "covered"


def string_constants(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def app_modules() -> Iterator[Path]:
    for package in APP_PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "migrations" not in path.parts and path != VOCABULARY_MODULE:
                yield path


def test_no_module_spells_a_status_or_an_outcome_outside_the_vocabulary() -> None:
    words = DESIGN_STATUSES | DESIGN_OUTCOMES
    found = [f"{path.relative_to(REPO)}:{line}: {value!r}"
             for path in app_modules() for line, value in string_constants(path) if value in words]
    assert found == [], "use rules.engine.vocabulary.Status / Outcome instead of:\n" + "\n".join(found)


def test_the_scan_finds_a_status_written_as_a_literal(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text('STATUSES = ("covered", "not_covered")\nLABEL = "not covered"\n', encoding="utf-8")
    assert [value for _, value in string_constants(module) if value in DESIGN_STATUSES] == ["covered", "not_covered"]
