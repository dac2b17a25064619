"""A version that corrects part of an earlier version's period (`version.corrects`): which version is
in force on a day when periods overlap because of a correction, what the lint accepts and refuses,
and the day a version is previewed or re-evaluated as of."""

from __future__ import annotations

from datetime import date

import pytest

from rules.engine.library import Library, in_force_among, parse_rule_version
from rules.engine.lint import ERROR, lint

from .conftest import REAL_LIBRARY

EO = (REAL_LIBRARY / "us-eo-14110" / "2023-10-30.yaml").read_text(encoding="utf-8")


def eo_version(version_id: str, start: str | None, end: str | None, *, corrects: str | None = None,
               general: str = "1.0e+26", published: bool = True):
    """EO 14110's file as another version: its id, period, the version it corrects, its general threshold."""
    text = (EO.replace('id: "2023-10-30"', f'id: "{version_id}"', 1)
            .replace("effective_from: 2023-10-30", f"effective_from: {start or 'null'}", 1)
            .replace("effective_to: 2025-01-20", f"effective_to: {end or 'null'}"
                     + (f'\n  corrects: "{corrects}"' if corrects else ""), 1)
            .replace("value: 1.0e+26", f"value: {general}", 1))
    version = parse_rule_version(text, origin=f"us-eo-14110/{version_id}.yaml")
    version.published = published
    return version


ORIGINAL = ("2023-10-30", "2023-10-30", "2025-01-20")


def errors(*versions) -> list[tuple[str, str]]:
    return [(p.code, p.message) for p in lint(Library(list(versions))) if p.severity == ERROR]


def test_a_correction_is_in_force_on_the_days_of_its_period_and_the_corrected_version_around_it():
    original = eo_version(*ORIGINAL)
    correction = eo_version("2024-06-01-correction", "2024-06-01", "2024-10-01", corrects="2023-10-30",
                            general="1.0e+25")
    library = Library([original, correction])
    assert library.in_force("us-eo-14110", date(2024, 5, 31)) is original
    assert library.in_force("us-eo-14110", date(2024, 6, 1)) is correction
    assert library.in_force("us-eo-14110", date(2024, 9, 30)) is correction
    assert library.in_force("us-eo-14110", date(2024, 10, 1)) is original
    assert library.in_force("us-eo-14110", date(2025, 1, 20)) is None


def test_a_correction_starting_on_the_corrected_versions_first_day_still_wins_whatever_the_order():
    original = eo_version(*ORIGINAL)
    correction = eo_version("a-correction", "2023-10-30", "2024-01-01", corrects="2023-10-30")
    for order in ([original, correction], [correction, original]):
        assert in_force_among(order, date(2023, 10, 30)) is correction
        assert in_force_among(order, date(2024, 1, 1)) is original


def test_a_correction_of_a_correction_wins_over_both():
    original = eo_version(*ORIGINAL)
    first = eo_version("first", "2024-06-01", "2024-10-01", corrects="2023-10-30")
    second = eo_version("second", "2024-07-01", "2024-08-01", corrects="first")
    library = Library([original, first, second])
    assert [library.in_force("us-eo-14110", date(2024, m, 15)).version_id for m in (5, 6, 7, 8, 9, 10)] == [
        "2023-10-30", "first", "second", "first", "first", "2023-10-30"]
    assert errors(original, first, second) == []


def test_an_unpublished_correction_is_never_in_force_for_determinations_of_record():
    original = eo_version(*ORIGINAL)
    draft = eo_version("draft", "2024-06-01", "2024-10-01", corrects="2023-10-30", published=False)
    library = Library([original, draft])
    assert library.in_force("us-eo-14110", date(2024, 7, 1)) is original
    assert library.in_force("us-eo-14110", date(2024, 7, 1), include_drafts=True) is draft


def test_the_lint_accepts_a_correction_inside_the_period_it_corrects():
    original = eo_version(*ORIGINAL)
    correction = eo_version("fix", "2024-06-01", "2024-10-01", corrects="2023-10-30")
    assert errors(original, correction) == []


def test_the_same_period_without_corrects_is_an_overlap():
    original = eo_version(*ORIGINAL)
    plain = eo_version("fix", "2024-06-01", "2024-10-01")
    assert [code for code, _ in errors(original, plain)] == ["overlapping-versions"]


@pytest.mark.parametrize(("start", "end", "corrects", "code", "words"), [
    ("2024-06-01", "2025-03-01", "2023-10-30", "correction-outside-period", "not inside 2023-10-30's"),
    ("2023-01-01", "2024-01-01", "2023-10-30", "correction-outside-period", "not inside 2023-10-30's"),
    ("2024-06-01", None, "2023-10-30", "correction-outside-period", "no closed period"),
    ("2024-06-01", "2024-10-01", "1999-01-01", "unknown-corrected-version", "no version '1999-01-01'"),
    ("2024-06-01", "2024-10-01", "fix", "unknown-corrected-version", "names itself"),
])
def test_the_lint_refuses_a_correction_it_cannot_place(start, end, corrects, code, words):
    found = errors(eo_version(*ORIGINAL), eo_version("fix", start, end, corrects=corrects))
    assert code in [c for c, _ in found], found
    assert any(words in message for c, message in found if c == code), found


def test_corrections_that_correct_each_other_are_refused():
    a = eo_version("a", "2024-06-01", "2024-10-01", corrects="b")
    b = eo_version("b", "2024-06-01", "2024-10-01", corrects="a")
    found = errors(eo_version(*ORIGINAL), a, b)
    assert any("may not form a cycle" in message for _, message in found), found


def test_two_corrections_of_one_version_may_not_overlap_each_other():
    found = errors(eo_version(*ORIGINAL), eo_version("a", "2024-06-01", "2024-10-01", corrects="2023-10-30"),
                   eo_version("b", "2024-09-01", "2024-11-01", corrects="2023-10-30"))
    assert [code for code, _ in found] == ["overlapping-versions"]


@pytest.mark.parametrize(("today", "expected"), [
    (date(2026, 12, 4), date(2025, 1, 19)),   # the period is over: its last day
    (date(2024, 7, 1), date(2024, 7, 1)),     # in force today: today
    (date(2023, 1, 1), date(2023, 10, 30)),   # yet to come: its first day
])
def test_the_day_a_version_is_previewed_as_of_lies_in_its_period(today, expected):
    version = eo_version("2024-03-01", "2024-03-01", "2025-01-20") if expected != date(2023, 10, 30) else \
        eo_version(*ORIGINAL)
    assert version.day_in_force(today) == expected
    assert version.in_force_on(version.day_in_force(today))


def test_a_text_never_in_force_is_previewed_as_of_today():
    assert eo_version("proposal", None, None).day_in_force(date(2026, 12, 4)) == date(2026, 12, 4)


def test_corrects_must_be_a_version_id():
    with pytest.raises(Exception, match="version.corrects"):
        parse_rule_version(EO.replace("effective_to: 2025-01-20", "effective_to: 2025-01-20\n  corrects: 12", 1),
                           origin="x.yaml")

