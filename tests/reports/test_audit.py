"""The audit report: facts, arithmetic, every test with its quoted law, sensitivity, headroom and
the decision-log hashes; submitted text escaped; the same determinations give the same bytes."""
from __future__ import annotations

import html
import re
import subprocess
from datetime import date

import pytest

from reports.services import report_content, report_parameters
from rules.current import recorded_on
from rules.library_store import engine_version
from rules.models import Confirmation, Determination, EvaluationRun, LogHead, RuleVersion

from .builders import AS_OF, BIO, FRONTIER, GENERATED_AT, HALL, MYSTERY, SCRIPT, SCRIPT_NAME, SMALL
from .conftest import needs

pytestmark = pytest.mark.django_db


def audit(ref: str, *, format: str = "html", as_of: date = AS_OF) -> bytes:
    params = report_parameters(kind="audit", format=format, subject=ref, as_of=as_of, generated_at=GENERATED_AT)
    return b"".join(report_content(kind="audit", format=format, params=params))


def text_of(markup: str) -> str:
    """The page's visible text with whitespace collapsed (tags dropped, entities decoded)."""
    body = re.sub(r"<style>.*?</style>", " ", markup, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def eo_quote(test_id: str) -> str:
    row = RuleVersion.objects.get(regime="us-eo-14110", state="published")
    return " ".join(engine_version(row).test(test_id).quote["text"].split())


def test_covered_model_shows_the_arithmetic_and_the_quoted_law(registry):
    page = audit(FRONTIER).decode()
    text = text_of(page)
    assert "us-eo-14110: covered" in text
    assert "cumulative_training_compute_ops = 2e26 ops > (greater than) 1e26 ops: met; margin 2 × the threshold" in text
    assert "2e26 ops as reported" in text  # the quantity's formula
    assert eo_quote("model-general") in text
    assert "EO 14110 §4.2(b)(i)" in text and "provenance V-COPY" in text
    assert "https://www.federalregister.gov/documents/2023/11/01/2023-24283/" in page
    row = RuleVersion.objects.get(regime="us-eo-14110", state="published")
    assert row.content_sha256 in page
    assert "Reading taken:" in text and "general_purpose is not read" in text


def test_estimate_shows_the_formula_worked_through_and_its_band(registry):
    text = text_of(audit(SMALL).decode())
    assert "6 × 7e10 parameters × 1.5e13 tokens = 6.3e24 ops" in text
    assert "band 4.41e24 ops to 8.19e24 ops" in text
    assert "architecture-based" in text


def test_cluster_report_states_the_reading_where_the_text_is_silent(registry):
    text = text_of(audit(HALL).decode())
    assert eo_quote("cluster") in text
    assert "Where the text is silent:" in text and 'We read "having a theoretical maximum computing capacity of' in text
    assert "theoretical maximum read as 16-bit dense throughput" in text  # the sensitivity table
    assert "Headroom" in text and "already above" in text


def test_indeterminate_model_names_what_is_missing(registry):
    text = text_of(audit(MYSTERY).decode())
    assert "us-eo-14110: indeterminate" in text
    assert "Facts missing:" in text


def test_facts_as_submitted_and_decision_log_hashes(registry):
    page = audit(BIO).decode()
    text = text_of(page)
    assert "Revision 1" in text and "Through: Import" in text
    assert "training_compute_ops: 1.07e24 ops" in text
    for row in Determination.objects.filter(subject_ref=BIO, as_of=AS_OF):
        assert row.row_sha256 in page and str(row.sequence) in page
    assert LogHead.objects.get().row_sha256 in page


def test_submitted_text_is_escaped(registry):
    page = audit(SCRIPT).decode()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;script&gt;" in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; friends" in page


def test_same_determinations_give_byte_identical_html(registry):
    assert audit(HALL) == audit(HALL)


def test_audit_of_a_date_without_determinations_records_them_first(registry):
    from reports.services import record_missing_determinations

    later = date(2024, 12, 20)
    params = report_parameters(kind="audit", format="html", subject=BIO, as_of=later)
    before = Determination.objects.count()
    assert not recorded_on(Determination.objects.filter(subject_ref=BIO), as_of=later, few=True).exists()
    notes = record_missing_determinations(kind="audit", params=params)
    assert notes and "recorded them first in evaluation run" in notes[0]
    run = EvaluationRun.objects.latest("id")
    # each regime's determination as of that date: a row, or the earlier row confirmed as unchanged
    appended = Determination.objects.filter(run=run).count()
    confirmed = sum(confirmation.count for confirmation in Confirmation.objects.filter(run=run))
    assert appended + confirmed == 6 and Determination.objects.count() == before + appended
    assert recorded_on(Determination.objects.filter(subject_ref=BIO), as_of=later, few=True).count() == 6
    assert record_missing_determinations(kind="audit", params=params) == []


@needs("pdftotext")
def test_pdf_has_the_quote_the_numbers_and_page_numbers(registry, tmp_path):
    pdf = audit(FRONTIER, format="pdf")
    assert pdf.startswith(b"%PDF")
    path = tmp_path / "audit.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    flat = " ".join(text.split())
    assert eo_quote("model-general") in flat
    assert "2e26 ops" in flat and "1e26 ops" in flat
    pages = re.findall(r"Page (\d+) of (\d+)", text)
    assert pages and pages[0] == ("1", pages[0][1]) and int(pages[-1][0]) == int(pages[-1][1]) > 1
    # the contents with page numbers, each status with the tier reached
    assert re.search(r"us-eo-14110: covered: Dual-use foundation model subject to reporting \.+ \d+", flat)


@needs("pdftotext")
def test_pdf_shows_a_script_name_as_text(registry, tmp_path):
    path = tmp_path / "script.pdf"
    path.write_bytes(audit(SCRIPT, format="pdf"))
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert SCRIPT_NAME in " ".join(text.split())  # shown as the name it is, not taken as markup


def test_a_test_resting_on_a_paraphrase_is_shown_as_one_with_its_caveat(db):
    from .builders import build_registry

    build_registry(as_of=date(2027, 6, 1))
    text = text_of(audit(FRONTIER, as_of=date(2027, 6, 1)).decode())
    caveat = " ".join(engine_version(RuleVersion.objects.get(regime="us-ny-raise", version_id="2027-01-01"))
                      .test("frontier-model").caveat.split())
    assert "us-ny-raise: covered" in text
    assert "Paraphrase, not the text (SECONDARY: the registry's collection of legal sources holds no verbatim text):" in text
    assert f"Caveat: {caveat}" in text
    assert f"test frontier-model: {caveat}" in text  # among the determination's caveats
