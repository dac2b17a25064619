"""The lint: what must be fixed in a rule library before a version is published."""

from __future__ import annotations

import re
from pathlib import Path

from rules.engine.library import load_library
from rules.engine.lint import ERROR, lint

RELPATH = "us-eo-14110/2023-10-30.yaml"


def _problems(root: Path, edit=None, *, extra: dict[str, str] | None = None) -> list:
    path = root / RELPATH
    text = path.read_text(encoding="utf-8")
    if edit:
        path.write_text(edit(text), encoding="utf-8")
    for relpath, content in (extra or {}).items():
        (root / relpath).write_text(content, encoding="utf-8")
    return lint(load_library(root))


def _codes(problems: list) -> set[str]:
    return {problem.code for problem in problems if problem.severity == ERROR}


def test_the_fixture_library_is_clean(fixture_library_root: Path) -> None:
    assert _problems(fixture_library_root) == []


def test_the_real_library_has_no_lint_errors(real_library) -> None:
    assert [str(problem) for problem in lint(real_library) if problem.severity == ERROR] == []


def test_overlapping_versions_are_caught(fixture_library_root: Path) -> None:
    text = (fixture_library_root / RELPATH).read_text(encoding="utf-8")
    later = text.replace('id: "2023-10-30"', 'id: "2024-06-01"').replace("effective_from: 2023-10-30",
                                                                       "effective_from: 2024-06-01")
    problems = _problems(fixture_library_root, extra={"us-eo-14110/2024-06-01.yaml": later})
    overlap = [problem for problem in problems if problem.code == "overlapping-versions"]
    assert len(overlap) == 1
    assert "2023-10-30" in overlap[0].message and "2024-06-01" in overlap[0].message


def test_adjoining_versions_do_not_overlap(fixture_library_root: Path) -> None:
    text = (fixture_library_root / RELPATH).read_text(encoding="utf-8")
    later = (text.replace('id: "2023-10-30"', 'id: "2025-01-20"').replace("effective_from: 2023-10-30",
                                                                        "effective_from: 2025-01-20")
             .replace("effective_to: 2025-01-20", "effective_to: null"))
    assert _codes(_problems(fixture_library_root, extra={"us-eo-14110/2025-01-20.yaml": later})) == set()


def test_missing_citation_and_quote_are_caught(fixture_library_root: Path) -> None:
    def edit(text: str) -> str:
        text = text.replace('    citation: "EO 14110 §4.2(b)(i)"\n    quote:', "    citation: null\n    quote:")
        return re.sub(r'      text: "transitively[^\n]*', '      text: ""', text)
    problems = _problems(fixture_library_root, edit)
    assert {(problem.code, problem.path) for problem in problems if problem.severity == ERROR} == {
        ("missing-citation", "tests[0].citation"), ("missing-quote", "tests[1].quote")}


def test_missing_unit_is_caught(fixture_library_root: Path) -> None:
    problems = _problems(fixture_library_root, lambda text: text.replace("    unit: ops\n", "", 1))
    assert [(problem.code, problem.path) for problem in problems] == [
        ("missing-unit", "parameters.model_compute_general.unit")]


def test_operator_mismatch_is_caught(fixture_library_root: Path) -> None:
    problems = _problems(fixture_library_root, lambda text: text.replace(
        "cumulative_training_compute_ops > model_compute_general",
        "cumulative_training_compute_ops >= model_compute_general"))
    assert [problem.code for problem in problems] == ["operator-mismatch"]
    assert "'>'" in problems[0].message and "greater than" in problems[0].message


def test_every_branch_of_an_if_threshold_is_checked_for_its_operator(fixture_library_root: Path) -> None:
    problems = _problems(fixture_library_root, lambda text: text.replace(
        '"cumulative_training_compute_ops > model_compute_general"',
        '"cumulative_training_compute_ops > (if general_purpose then model_compute_general '
        'else cluster_compute_capacity)"'))
    assert [problem.code for problem in problems] == ["operator-mismatch"]
    assert "cluster_compute_capacity is declared '>='" in problems[0].message


def test_operator_of_a_parameter_on_the_left_is_mirrored(fixture_library_root: Path) -> None:
    problems = _problems(fixture_library_root, lambda text: text.replace(
        "cumulative_training_compute_ops > model_compute_general",
        "model_compute_general < cumulative_training_compute_ops"))
    assert _codes(problems) == set()


def test_test_ids_outside_the_contract_are_caught(fixture_library_root: Path) -> None:
    problems = _problems(fixture_library_root, lambda text: text.replace("- id: model-general", "- id: big-model"))
    assert _codes(problems) == {"unknown-test-id"}


def test_unknown_applies_to_is_caught(fixture_library_root: Path) -> None:
    problems = _problems(fixture_library_root, lambda text: text.replace("applies_to: model", "applies_to: person"))
    assert _codes(problems) == {"unknown-applies-to"}


def test_cluster_test_without_network_threshold_is_caught(fixture_library_root: Path) -> None:
    problems = _problems(fixture_library_root, lambda text: text.replace(
        "    arguments:\n      network_threshold: cluster_network_bandwidth\n", "").replace(
        "cluster_peak_ops_per_second >= cluster_compute_capacity and ", ""))
    assert "missing-network-threshold" in _codes(problems)


def test_effective_to_not_after_effective_from_is_caught(fixture_library_root: Path) -> None:
    problems = _problems(fixture_library_root, lambda text: text.replace("effective_to: 2025-01-20",
                                                                         "effective_to: 2023-10-30"))
    assert _codes(problems) == {"empty-period"}


def test_a_number_in_a_condition_is_a_warning(fixture_library_root: Path) -> None:
    problems = _problems(fixture_library_root, lambda text: text.replace(
        "cumulative_training_compute_ops > model_compute_general",
        "cumulative_training_compute_ops > model_compute_general and parameter_count > 1e9"))
    assert [(problem.code, problem.severity) for problem in problems] == [("number-in-condition", "warning")]


def test_lint_command_exits_1_on_errors_and_0_when_clean(fixture_library_root: Path, capsys) -> None:
    from rules.engine.__main__ import main

    assert main(["lint", str(fixture_library_root)]) == 0
    path = fixture_library_root / RELPATH
    path.write_text(path.read_text(encoding="utf-8").replace("    unit: ops\n", "", 1), encoding="utf-8")
    assert main(["lint", str(fixture_library_root)]) == 1
    assert "missing-unit" in capsys.readouterr().out


def test_lint_of_a_version_not_from_a_file_does_not_check_its_path(fixture_library_root: Path) -> None:
    from rules.engine.library import Library, parse_rule_version

    text = (fixture_library_root / RELPATH).read_text(encoding="utf-8")
    version = parse_rule_version(text, origin="draft uploaded by regulator #7")
    assert lint(Library([version])) == []


def _successor(text: str, *, start: str, end: str = "null") -> str:
    return (text.replace('id: "2023-10-30"', f'id: "{start}"').replace("effective_from: 2023-10-30", f"effective_from: {start}")
                .replace("effective_to: 2025-01-20", f"effective_to: {end}"))


def test_an_open_ended_version_is_superseded_by_a_later_one_without_overlap(fixture_library_root: Path) -> None:
    text = (fixture_library_root / RELPATH).read_text(encoding="utf-8")
    (fixture_library_root / RELPATH).write_text(_successor(text, start="2023-10-30"), encoding="utf-8")
    problems = _problems(fixture_library_root, extra={"us-eo-14110/2024-06-01.yaml": _successor(text, start="2024-06-01")})
    assert _codes(problems) == set()


def test_two_versions_starting_the_same_day_overlap(fixture_library_root: Path) -> None:
    text = (fixture_library_root / RELPATH).read_text(encoding="utf-8")
    same_day = _successor(text, start="2023-10-30").replace('id: "2023-10-30"', 'id: "amended"')
    problems = _problems(fixture_library_root, extra={"us-eo-14110/amended.yaml": same_day})
    assert "overlapping-versions" in _codes(problems)


PARAPHRASE = ('    quote: null\n    paraphrase:\n      text: "reported to cover any model above 10^26 operations"\n'
              '      source: "SOURCES.md §1.3"\n      provenance: SECONDARY\n')
FIRST_QUOTE = ('    quote:\n      text: "any model that was trained using a quantity of computing power greater than '
               '10^26 integer or floating-point operations"\n      source: "SOURCES.md §1.3"\n      provenance: V-COPY\n')


def test_a_paraphrase_without_a_caveat_is_caught(fixture_library_root: Path) -> None:
    problems = _problems(fixture_library_root, lambda text: text.replace(FIRST_QUOTE, PARAPHRASE))
    assert {(problem.code, problem.path) for problem in problems if problem.severity == ERROR} == {
        ("missing-caveat", "tests[0].caveat")}


def test_a_paraphrase_with_its_caveat_stands_in_for_a_quote(fixture_library_root: Path) -> None:
    caveat = '    caveat: "Rests on a SECONDARY description; the words were not seen."\n'
    assert _codes(_problems(fixture_library_root, lambda text: text.replace(FIRST_QUOTE, PARAPHRASE + caveat))) == set()


def test_a_quote_marked_secondary_is_no_verbatim_text(fixture_library_root: Path) -> None:
    problems = _problems(fixture_library_root, lambda text: text.replace(
        FIRST_QUOTE, FIRST_QUOTE.replace("provenance: V-COPY", "provenance: SECONDARY")))
    assert [(problem.code, problem.path) for problem in problems if problem.severity == ERROR] == [
        ("quote-not-verbatim", "tests[0].quote.provenance")]


def test_a_superseded_text_with_an_effective_date_is_caught(fixture_library_root: Path) -> None:
    problems = _problems(fixture_library_root, lambda text: text.replace("legal_status: revoked",
                                                                         "legal_status: superseded"))
    assert ("never-in-force", "version.effective_from") in {(p.code, p.path) for p in problems}
