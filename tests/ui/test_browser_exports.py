"""Exports where the regulator is, in a real browser (Debian's Chromium through Playwright, 1280 wide):
a filtered list downloaded as CSV, a registry report generated from the workspace and followed to its
download, and a lab member who is refused another organisation's subject and generates its own
audit report. Screenshots in test-artifacts/screenshots/.

With a broker configured the report is built by a real Celery worker started once the page shows it
queued, so the page's polling is seen moving it to its download link; embedded (eager Celery) it is
built within the request that queues it."""
from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from reports.models import ReportArtifact
from tests.ui.conftest import today
from tests.ui.test_browser import (  # noqa: F401  (fixtures: the browser, the live site, a page, a worker)
    RUN_WAIT_MS,
    chromium,
    follow,
    log_in,
    page,
    row_text,
    site,
    staff_user,
    worker,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def downloaded_csv(browser_page, selector: str, tmp_path) -> list[dict[str, str]]:
    with browser_page.expect_download() as download:
        browser_page.click(selector)
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.suffix == ".csv"
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_regulator_exports_filtered_lists_and_generates_the_registry_report(page, site, worker, tmp_path):  # noqa: F811
    staff_user("agency", role="regulator")
    shots = page.shots
    log_in(page, site, "agency")

    # The models list searched for one lab: the CSV holds the rows the list shows.
    page.goto(f"{site}{reverse('admin:registry_aimodel_changelist')}")
    page.fill("#searchbar", "beta")
    follow(page, "#changelist-search input[type=submit]")
    listed = page.locator("#result_list th.field-__str__ a").all_inner_texts()
    assert listed == ["beta/Secret@1"]
    assert "q=beta" in page.locator("a.csv-export").get_attribute("href")
    shots.take(page, "models-searched")
    rows = downloaded_csv(page, "a.csv-export", tmp_path)
    assert [row["subject"] for row in rows] == ["model:beta/Secret@1"]
    assert rows[0]["training_compute_ops"] == "2000000000000000000000000"

    # The decision log filtered by regime and status.
    page.goto(f"{site}{reverse('admin:rules_determination_changelist')}?regime__exact=us-ca-sb53&status__exact=covered")
    shown = page.locator("#result_list td.field-subject_ref").all_inner_texts()
    assert shown
    rows = downloaded_csv(page, "a.csv-export", tmp_path)
    assert sorted(row["subject"] for row in rows) == sorted(shown)
    assert {(row["regime"], row["status"]) for row in rows} == {("us-ca-sb53", "covered")}
    shots.take(page, "decision-log-filtered")

    # The registry report, queued from the workspace and followed to its download.
    page.goto(f"{site}{reverse('admin:reports_reportartifact_changelist')}")
    follow(page, "a.report-generate")
    page.select_option("#id_kind", "registry")
    page.fill("#id_as_of", today().isoformat())
    page.select_option("#id_format", "html")
    shots.take(page, "report-form")
    polls = []
    page.on("request", lambda r: polls.append(r.url) if "/progress/" in r.url else None)
    follow(page, ".report-generate-form input[type=submit]")
    artifact = ReportArtifact.objects.get(kind="registry")
    assert (artifact.kind, artifact.format, artifact.parameters["as_of"]) == ("registry", "html", today().isoformat())
    if worker is not None:
        assert "queued" in row_text(page, "tr.report-request")
        shots.take(page, "report-queued")
        worker.start()
    page.wait_for_selector("tr.report-request td.report-download a", timeout=RUN_WAIT_MS)
    if worker is not None:
        assert polls, "the page never polled the report's progress"
    assert "100.0 %" in row_text(page, "tr.report-request")
    shots.take(page, "report-ready")
    with page.expect_download() as download:
        page.click("tr.report-request td.report-download a")
    report = tmp_path / download.value.suggested_filename
    download.value.save_as(report)
    assert f"Registry report as of {today().isoformat()}" in report.read_text(encoding="utf-8")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors


def test_lab_member_generates_its_own_audit_report_only(page, site, worker, tmp_path):  # noqa: F811
    staff_user("acme-staff", role="lab", organisation="acme")
    shots = page.shots
    log_in(page, site, "acme-staff")

    page.goto(f"{site}{reverse('admin:registry_aimodel_changelist')}")
    rows = downloaded_csv(page, "a.csv-export", tmp_path)
    assert sorted(row["subject"] for row in rows) == [
        "model:acme/Frontier@1", "model:acme/Mid@1", "model:acme/Small@1", "model:acme/Unknown@1"]

    page.goto(f"{site}{reverse('admin:reports_reportartifact_generate')}")
    assert page.locator("#id_kind option").all_inner_texts() == [
        "Registry report (your organisation's subjects)", "Audit report (one per subject)"]
    page.select_option("#id_kind", "audit")
    page.fill("#id_subjects", "model:beta/Secret@1")
    follow(page, ".report-generate-form input[type=submit]")
    assert "unknown subject(s): model:beta/Secret@1" in row_text(page, ".report-generate-form")
    assert not ReportArtifact.objects.filter(kind="audit").exists()
    shots.take(page, "lab-refused-another-organisations-subject")

    page.select_option("#id_kind", "audit")
    page.fill("#id_subjects", "model:acme/Mid@1")
    page.select_option("#id_format", "html")
    follow(page, ".report-generate-form input[type=submit]")
    assert ReportArtifact.objects.get(kind="audit").parameters["subject"] == "model:acme/Mid@1"
    if worker is not None:
        worker.start()
    page.wait_for_selector("tr.report-request td.report-download a", timeout=RUN_WAIT_MS)
    shots.take(page, "lab-audit-report-ready")
    with page.expect_download() as download:
        page.click("tr.report-request td.report-download a")
    report = tmp_path / download.value.suggested_filename
    download.value.save_as(report)
    assert "model:acme/Mid@1" in report.read_text(encoding="utf-8")
