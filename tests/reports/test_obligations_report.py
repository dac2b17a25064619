"""Obligations in the reports: the audit report lists the subject's obligations (status, due date and how
it was worked out, citation, the quoted law); `report obligations --as-of DATE` is the compliance
calendar (overdue first, then by month of the due date, the law quoted once per obligation) in HTML,
PDF (read back with pdftotext) and CSV (formula-injection-safe)."""
from __future__ import annotations

import csv
import io
import re
import subprocess
from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from obligations.services import FulfilmentView, ObligationView
from registry.models import AIModel
from reports.context.obligations import CSV_FIELDS, obligation_record
from reports.exports import csv_chunks
from reports.models import ReportArtifact
from reports.services import report_content, report_parameters
from tests.obligation_records import fulfilment

from .builders import FRONTIER, GENERATED_AT, SMALL, build_registry
from .conftest import needs
from .test_audit import audit, text_of

pytestmark = pytest.mark.django_db

# Frontier-1 (2e26 ops, training completed 2024-06-01, placed on the market 2024-07-01) and Small-1 (about
# 6.3e24 ops) are general-purpose AI models placed on the market before 2025-08-02: their EU AI Act
# obligations fall due on 2027-08-02 (Art 111(3)) and are overdue on 2027-09-01.
LATE = date(2027, 9, 1)
ART_53_OPENING = "1. Providers of general-purpose AI models shall:"


@pytest.fixture
def late_registry(db):
    build_registry(as_of=LATE, frozen=False)
    frontier = AIModel.objects.get(name="Frontier-1")
    fulfilment(model=frontier, regime="eu-ai-act", obligation="art-52-1-notification", fulfilled_on=date(2027, 7, 1),
               reference="EU-AIO-NOTIF-7", review=("accepted", "complete"))


def calendar(format: str = "html", *, as_of: date = LATE) -> bytes:
    params = report_parameters(kind="obligations", format=format, as_of=as_of, generated_at=GENERATED_AT)
    return b"".join(report_content(kind="obligations", format=format, params=params))


def test_the_audit_report_lists_the_subjects_obligations_with_due_dates_citation_and_the_law(late_registry):
    text = text_of(audit(FRONTIER, as_of=LATE).decode())
    section = text.split("Obligations What the subject owes as of 2027-09-01")[1]
    assert re.search(r"Technical documentation, information for downstream providers.*? overdue Obligation: "
                     r"eu-ai-act:art-53-provider-obligations", section)
    art53 = section.split("eu-ai-act:art-53-provider-obligations")[1]
    assert "Due on: 2027-08-02" in art53
    assert "How the due date was worked out: on or before 2027-08-02 for a model placed on the market before 2025-08-02" in art53
    assert "Citation: Reg. (EU) 2024/1689, Art 53(1)-(2); Art 111(3)" in art53
    assert ART_53_OPENING in art53 and "provenance V-COPY" in art53
    notification = section.split("eu-ai-act:art-52-1-notification")[1]
    assert "Fulfilments: 2027-07-01 EU-AIO-NOTIF-7 (accepted)" in notification.split("1. Where a general-purpose")[0]
    assert section.index("art-53-provider-obligations") < section.index("art-52-1-notification")  # overdue first
    assert "Obligations" in text.split("Contents")[1].split("Summary")[1]  # in the table of contents


def test_the_audit_report_of_a_subject_owing_nothing_says_so(late_registry):
    from .builders import MYSTERY

    text = text_of(audit(MYSTERY, as_of=LATE).decode())  # no figures: indeterminate under every regime
    section = text.split("Obligations What the subject owes as of 2027-09-01")[1]
    assert "No obligation arises for this subject as of 2027-09-01" in section
    assert ("eu-ai-act:art-53-provider-obligations : the determination (indeterminate, no tier) does not reach the "
            "tier gpai") in section.split("Not applicable")[1]


def test_the_calendar_lists_overdue_first_then_by_month_with_the_law_quoted_once(late_registry):
    page = calendar().decode()
    headings = re.findall(r'<section id="(overdue|month-\d{4}-\d{2}|undated)">\s*<h2>([^<]+)</h2>', page)
    assert headings[0][0] == "overdue"
    months = [anchor for anchor, _ in headings if anchor.startswith("month-")]
    assert months == sorted(months)
    overdue = page.split('<section id="overdue">')[1].split("</section>")[0]
    assert FRONTIER in overdue and SMALL in overdue
    assert "eu-ai-act:art-53-provider-obligations" in overdue and "2027-08-02" in overdue
    assert "EU-AIO-NOTIF-7" not in overdue  # fulfilled on time: not overdue
    text = text_of(page)
    assert text.count(ART_53_OPENING) == 1  # owed by two models, quoted once
    assert "Reg. (EU) 2024/1689, Art 53(1)-(2); Art 111(3)" in text
    assert "Compliance calendar as of 2027-09-01" in text
    assert "obligation-not_applicable" not in page  # what does not apply is not owed


def test_the_calendar_csv_has_one_row_per_obligation_owed_in_the_calendars_order(late_registry):
    rows = list(csv.DictReader(io.StringIO(calendar("csv").decode())))
    assert rows and tuple(rows[0]) == CSV_FIELDS
    statuses = [row["status"] for row in rows]
    assert "not_applicable" not in statuses
    overdue = [row for row in rows if row["status"] == "overdue"]
    assert rows[:len(overdue)] == overdue  # overdue first
    rest = [row["due_on"] or "9999" for row in rows[len(overdue):]]
    assert rest == sorted(rest)
    art53 = next(row for row in rows if row["subject"] == FRONTIER and row["obligation"] == "art-53-provider-obligations")
    assert (art53["as_of"], art53["due_on"], art53["status"]) == ("2027-09-01", "2027-08-02", "overdue")
    assert art53["citation"] == "Reg. (EU) 2024/1689, Art 53(1)-(2); Art 111(3)"
    notified = next(row for row in rows if row["subject"] == FRONTIER and row["obligation"] == "art-52-1-notification")
    assert notified["status"] == "fulfilled" and notified["fulfilments"] == "2027-07-01 EU-AIO-NOTIF-7 (accepted)"


def test_calendar_csv_cells_a_spreadsheet_would_run_are_written_as_text():
    view = ObligationView(
        subject="model:acme/X@1", subject_kind="model", organisation="acme", regime="eu-ai-act",
        obligation="art-53-provider-obligations", occurrence="", title="@SUM(A1:A9)", citation="+1", quote="",
        provenance="", due_on=date(2027, 8, 2), due_reason="=HYPERLINK(\"http://x\")", status="overdue",
        fulfilments=(FulfilmentView(1, date(2027, 8, 1), "-2", None, ""),), determination_id=None,
        rule_version_label="2025-08-02",
    )
    row = next(csv.DictReader(io.StringIO("".join(csv_chunks([obligation_record(view, as_of=LATE)], CSV_FIELDS)))))
    assert row["title"] == "'@SUM(A1:A9)" and row["citation"] == "'+1" and row["due_reason"].startswith("'=")


@needs("pdftotext")
def test_the_calendar_pdf_reads_back_with_due_dates_and_citations(late_registry, tmp_path):
    pdf = calendar("pdf")
    assert pdf.startswith(b"%PDF")
    path = tmp_path / "calendar.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    flat = " ".join(text.split())
    assert "Compliance calendar as of 2027-09-01" in flat
    assert "2027-08-02" in flat and "2026-01-01" in flat
    assert "Reg. (EU) 2024/1689, Art 53(1)-(2); Art 111(3)" in flat
    assert "Cal. Bus. & Prof. Code" in flat
    assert ART_53_OPENING in flat
    assert re.search(r"Page 1 of \d+", text)


def test_the_report_command_writes_the_calendar_and_refuses_bad_input(late_registry, tmp_path):
    out = tmp_path / "calendar.csv"
    err = io.StringIO()
    call_command("report", "obligations", "--as-of", LATE.isoformat(), "--format", "csv", "--out", str(out), stderr=err)
    assert "Wrote" in err.getvalue() and out.read_text().startswith(",".join(CSV_FIELDS))
    html = tmp_path / "calendar.html"
    call_command("report", "obligations", "--as-of", LATE.isoformat(), "--out", str(html), stderr=io.StringIO())
    assert "Compliance calendar as of 2027-09-01" in html.read_text()
    with pytest.raises(CommandError, match=r"^as_of: '2027-02-30' is not a date"):
        call_command("report", "obligations", "--as-of", "2027-02-30", "--out", str(tmp_path / "never.html"),
                     stderr=io.StringIO())
    with pytest.raises(CommandError, match="invalid choice: 'json'"):
        call_command("report", "obligations", "--as-of", LATE.isoformat(), "--format", "json",
                     "--out", str(tmp_path / "never.json"), stderr=io.StringIO())
    assert not (tmp_path / "never.html").exists() and not ReportArtifact.objects.exists()


def test_a_date_without_determinations_is_recorded_first(db, tmp_path):
    build_registry(frozen=False)  # as of 2024-12-01 only
    err = io.StringIO()
    call_command("report", "obligations", "--as-of", "2026-03-01", "--format", "csv", "--out",
                 str(tmp_path / "c.csv"), stderr=err)
    assert "had no determination as of 2026-03-01: recorded them first in evaluation run" in err.getvalue()
    rows = list(csv.DictReader(io.StringIO((tmp_path / "c.csv").read_text())))
    assert any(row["regime"] == "us-ca-sb53" and row["status"] == "overdue" for row in rows)


def test_a_stored_calendar_is_kept_with_its_hash(late_registry):
    from reports.services import report_generate

    artifact = report_generate(kind="obligations", format="pdf", as_of=LATE)
    assert artifact.status == "done" and artifact.file.name.endswith(".pdf") and "obligations-2027-09-01" in artifact.file.name
    assert len(artifact.sha256) == 64
