"""Determinations as CSV and JSON, filtered by subject, regime, status, as-of date and run."""
from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest

from reports.exports import FIELDS
from reports.selectors import ReportInputError
from reports.services import report_content, report_parameters
from rules.models import Determination

from .builders import AS_OF, FRONTIER, SCRIPT_NAME

pytestmark = pytest.mark.django_db


def export(format: str, **filters: object) -> bytes:
    params = report_parameters(kind="export", format=format, **filters)
    return b"".join(report_content(kind="export", format=format, params=params))


def rows(**filters: object) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(export("csv", **filters).decode())))


def test_csv_filters_by_regime_and_status(registry):
    found = rows(regime="us-eo-14110", status="covered")
    expected = Determination.objects.filter(regime="us-eo-14110", status="covered")
    assert sorted(int(r["sequence"]) for r in found) == sorted(expected.values_list("sequence", flat=True))
    assert {r["status"] for r in found} == {"covered"} and len(found) == 3
    assert list(found[0]) == list(FIELDS)


def test_filters_by_subject_as_of_and_run(registry):
    assert {r["subject"] for r in rows(subject=FRONTIER)} == {FRONTIER}
    assert len(rows(subject=FRONTIER, as_of=AS_OF)) == 6
    assert rows(as_of=date(2030, 1, 1)) == []
    assert len(rows(run=registry.pk)) == Determination.objects.filter(run=registry).count()


def test_json_carries_each_tests_values(registry):
    data = json.loads(export("json", subject=FRONTIER, regime="us-eo-14110"))
    assert len(data) == 1
    (record,) = data
    assert record["status"] == "covered" and record["deciding_test"] == "model-general"
    test = next(t for t in record["tests"] if t["id"] == "model-general")
    assert (test["value"], test["operator"], test["threshold"], test["outcome"]) == (2 * 10**26, ">", 10**26, "met")
    assert test["citation"] == "EO 14110 §4.2(b)(i)"


def test_csv_keeps_a_formula_like_name_as_text(registry):
    exported = {r["subject_name"] for r in rows(subject=f"model:acme/{SCRIPT_NAME}@1")}
    assert exported == {SCRIPT_NAME}
    from reports.exports import _cell

    assert _cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"


@pytest.mark.parametrize(("filters", "field"), [
    ({"regime": "us-nowhere"}, "regime"), ({"status": "maybe"}, "status"), ({"as_of": "2024-02-30"}, "as_of"),
    ({"run": "abc"}, "run"), ({"run": 999999}, "run"), ({"subject": "model:nobody/x@1"}, "subject"),
])
def test_bad_filters_are_refused_naming_the_field(registry, filters, field):
    with pytest.raises(ReportInputError, match=rf"^{field}: "):
        report_parameters(kind="export", format="csv", **filters)


def test_csv_has_a_tier_column_and_the_status_filter_knows_not_applicable(registry):
    """Frontier-1 (2e26) reaches EO 14110's model tier; the organisation has no EO 14110 test."""
    (frontier,) = rows(subject=FRONTIER, regime="us-eo-14110")
    assert FIELDS.index("tier") == FIELDS.index("status") + 1
    assert (frontier["status"], frontier["tier"]) == ("covered", "dual-use-foundation-model")
    (organisation,) = rows(regime="us-eo-14110", status="not_applicable")
    assert (organisation["subject"], organisation["tier"]) == ("organisation:acme", "")
