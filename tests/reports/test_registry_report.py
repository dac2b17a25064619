"""The registry report: counts by regime and status, the two charts with their threshold lines,
and the covered and indeterminate subjects with the test that decided each."""
from __future__ import annotations

import re
import subprocess

import pytest

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
                for s in ("covered", "indeterminate", "not_covered", "not_in_force")]
    assert counts == [*expected, sum(expected)]
    assert expected[0] == 3  # Frontier-1, Bio-1 and Hall A


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
        row = re.search(rf"<tr><td><code>{re.escape(ref)}</code></td><td>us-eo-14110</td>.*?</tr>", covered, re.S)
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
