"""The registry report: counts by regime and status, the two charts with their threshold lines,
and the covered and indeterminate subjects with the test that decided each."""
from __future__ import annotations

import re
import subprocess
from collections import Counter
from datetime import UTC, date, datetime

import pytest

from reports import charts, selectors
from reports.context import registry_context
from reports.services import report_content, report_parameters
from rules.models import Determination

from .builders import AS_OF, BIO, FRONTIER, GENERATED_AT, HALL, MYSTERY, SMALL
from .conftest import needs

pytestmark = pytest.mark.django_db


def registry_report(format: str = "html") -> bytes:
    params = report_parameters(kind="registry", format=format, as_of=AS_OF, generated_at=GENERATED_AT)
    return b"".join(report_content(kind="registry", format=format, params=params))


def section(page: str, anchor: str) -> str:
    return re.search(rf'<section id="{anchor}">(.*?)</section>', page, flags=re.S).group(1)


def test_counts_by_regime_and_status(registry):
    page = registry_report().decode()
    eo = re.search(r"<tr><td>us-eo-14110</td><td>2023-10-30</td>(.*?)</tr>", page).group(1)
    counts = [int(n) for n in re.findall(r'<td class="num">(\d+)</td>', eo)]
    expected = [Determination.objects.filter(regime="us-eo-14110", as_of=AS_OF, status=s).count()
                for s in ("covered", "indeterminate", "not_covered", "not_applicable", "not_in_force")]
    assert counts == [*expected, sum(expected)]
    assert expected[0] == 3  # Frontier-1, Bio-1 and Hall A
    assert expected[3] == 1  # the organisation: EO 14110 has no test for one


def test_charts_are_inline_svg_with_each_threshold_line(registry):
    page = registry_report().decode()
    charts = re.findall(r'<div class="chart"><svg.*?</svg></div>', page, flags=re.S)
    assert len(charts) == 2
    models, clusters = charts
    assert 'id="models-threshold-model-1.000e+26"' in models and 'id="models-threshold-model-1.000e+23"' in models
    assert 'id="clusters-threshold-cluster-1.000e+20"' in clusters
    assert models.count("<path") > 10  # points and lines were drawn
    assert "Frontier-1@1" in models  # a covered model is labelled


def test_covered_and_indeterminate_lists_name_the_deciding_test(registry):
    page = registry_report().decode()
    covered, indeterminate = section(page, "covered"), section(page, "indeterminate")
    for ref, test in ((FRONTIER, "model-general"), (BIO, "model-biological"), (HALL, "cluster")):
        row = re.search(rf'<div class="determination"><code>{re.escape(ref)}</code> · us-eo-14110 .*?</div>',
                        covered, re.S)
        assert row and f"<code>{test}</code>" in row.group(0)
    assert SMALL not in covered and SMALL not in indeterminate
    assert MYSTERY in indeterminate and "missing:" in indeterminate


def test_registry_json_and_csv_hold_the_determinations_of_record(registry):
    import csv
    import io
    import json

    data = json.loads(registry_report("json"))
    assert len(data) == Determination.objects.filter(as_of=AS_OF).count()
    rows = list(csv.DictReader(io.StringIO(registry_report("csv").decode())))
    assert {(r["subject"], r["regime"]) for r in rows} == {(d["subject"], d["regime"]) for d in data}


def test_same_determinations_give_byte_identical_registry_html(registry):
    assert registry_report() == registry_report()


@needs("pdftotext")
def test_registry_pdf_renders_with_its_charts(registry, tmp_path):
    path = tmp_path / "registry.pdf"
    path.write_bytes(registry_report("pdf"))
    text = " ".join(subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                                   check=True).stdout.split())
    assert "Counts by regime and status" in text
    assert "Cumulative training compute of models" in text  # the chart's own title, drawn as text
    assert "1e26 ops" in text and "1e20 ops/s" in text


def _straight_of_record() -> list[Determination]:
    """The determinations of record counted the plain way: every row read, the latest kept per pair."""
    latest: dict[tuple[str, str], Determination] = {}
    for row in Determination.objects.filter(as_of=AS_OF).order_by("sequence"):
        latest[(row.subject_ref, row.regime)] = row
    return list(latest.values())


def _record_again() -> None:
    """A second run as of the same date: the log then holds two rows per pair, one of them of record."""
    from rules.models.runs import Trigger
    from rules.services import run_create, run_execute_inline

    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OF, subjects=[FRONTIER, HALL], confirms=False))


def test_aggregated_counts_equal_a_count_over_the_rows(registry):
    _record_again()
    rows = _straight_of_record()
    assert Determination.objects.filter(as_of=AS_OF).count() > len(rows)  # some pairs were answered twice
    expected = Counter((row.regime, row.status, row.rule_version_label) for row in rows)
    assert Counter({(r, s, v): n for r, s, v, n in selectors.record_counts(as_of=AS_OF)}) == expected
    assert selectors.subject_count(as_of=AS_OF) == len({row.subject_ref for row in rows})
    assert [row.sequence for row in selectors.iter_of_record(as_of=AS_OF)] == [
        row.sequence for row in sorted(rows, key=lambda r: (r.subject_kind, r.subject_ref, r.regime))]
    context = registry_context(as_of=AS_OF, generated_at=datetime(2024, 12, 2, tzinfo=UTC))
    assert context["determination_count"] == len(rows)
    assert context["covered"]["total"] == sum(row.status == "covered" for row in rows)
    assert [item["sequence"] for item in context["covered"]["rows"]] == [
        row.sequence for row in sorted(rows, key=lambda r: (r.subject_kind, r.subject_ref, r.regime))
        if row.status == "covered"]


def test_subjects_of_record_reduce_each_subject_as_its_rows_do(registry):
    _record_again()
    rows = _straight_of_record()
    for kind, prefix in (("model", "cumulative_training_compute_ops"), ("cluster", "cluster_peak_ops_per_second")):
        mine = [row for row in rows if row.subject_kind == kind]
        dates = ("released_on",) if kind == "model" else ("operational_from",)
        reduced = {s.ref: s for s in selectors.iter_subjects_of_record(
            as_of=AS_OF, kind=kind, quantity_prefix=prefix, date_fields=dates)}
        one_row = {s.ref: s.value for s in selectors.iter_subjects_of_record(
            as_of=AS_OF, kind=kind, quantity_prefix=prefix, date_fields=dates, same_under_every_regime=True)}
        assert set(reduced) == {row.subject_ref for row in mine}
        for ref, subject in reduced.items():
            own = [row for row in mine if row.subject_ref == ref]
            statuses = {row.status for row in own}
            assert subject.status == next((s for s in ("covered", "indeterminate") if s in statuses), "not_covered")
            values = [q["value"] for row in own for name, q in row.data()["quantities"].items()
                      if name.startswith(prefix) and q.get("value") is not None]
            assert subject.value == (float(max(values)) if values else None)  # a float to chart
            assert (subject.facts is None) == bool(values)
            if kind == "model":  # computed from the facts alone: the latest row in force records the same value
                assert one_row[ref] == subject.value


def test_a_large_registry_is_charted_in_cells_and_its_lists_are_capped(registry, settings):
    settings.REPORTS_CHART_MAX_POINTS = 2
    settings.REPORTS_REGISTRY_LIST_LIMIT = 1
    page = registry_report().decode()
    models = re.findall(r'<div class="chart"><svg.*?</svg></div>', page, flags=re.S)[0]
    assert "too many to draw one by one, counted in cells" in models
    assert "Frontier-1@1" not in models  # no point is labelled once they are counted per cell
    covered = section(page, "covered")
    assert len(re.findall(r'<div class="determination">', covered)) == 1
    total = Determination.objects.filter(as_of=AS_OF, status="covered").count()
    assert f"{total} determinations of record are covered; the first 1 in subject order are listed" in covered
    assert "in CSV or JSON" in covered and "manage.py" not in covered  # where the rest is, for a reader outside


def test_binned_points_keep_every_count():
    collector = charts.PointCollector(limit=3)
    points = [charts.ChartPoint(date(2020, 1 + i % 12, 1), 10.0 ** (20 + i % 7), status, "x")
              for i, status in enumerate(["covered", "not_covered", "indeterminate"] * 20)]
    for point in points:
        collector.add(point)
    assert collector.binned is not None and collector.points == []
    assert collector.binned.total == len(points) == sum(collector.binned.counts.values())
    assert collector.binned.by_status == Counter(point.status for point in points)


def test_a_chart_draws_exact_figures_beyond_64_bits():
    """Exact compute figures (10^26 + 1 as an int) and thresholds (10^26) are drawn, on a log scale."""
    points = [charts.ChartPoint(date(2026, 3, 1), 10**26 + 1, "covered", "Big-1"),
              charts.ChartPoint(date(2026, 4, 1), 3 * 10**25, "not_covered", "Small-1")]
    lines = [charts.ThresholdLine(10**26, "EO 14110", True, "t-1")]
    svg = charts.threshold_chart(points=points, thresholds=lines, title="Models", ylabel="ops", prefix="m",
                                 as_of=date(2026, 12, 1))
    assert "<svg" in svg and "Big-1" in svg
    assert points[0].value == 1e26 and isinstance(lines[0].value, float)


def test_queries_do_not_grow_with_the_subjects(registry, django_assert_max_num_queries):
    def queries() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            registry_context(as_of=AS_OF, generated_at=datetime(2024, 12, 2, tzinfo=UTC))
        return len(captured.captured_queries)

    before = queries()
    from registry.services import registry_submit
    from rules.models.runs import Trigger
    from rules.services import run_create, run_execute_inline
    from tests.factories import ModelRecordFactory

    document = {"models": [ModelRecordFactory(organisation="acme", name=f"Extra-{i}", training_compute_ops=1e24 * i,
                                              released_on="2024-05-01") for i in range(1, 21)]}
    registry_submit(document, actor=None, via="import")
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OF))
    with django_assert_max_num_queries(before):
        registry_context(as_of=AS_OF, generated_at=datetime(2024, 12, 2, tzinfo=UTC))
