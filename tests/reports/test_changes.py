"""The change report of a re-evaluation run, produced by itself when a scheduled run finishes."""
from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from datetime import date
from unittest import mock

import pytest

from registry.services import registry_submit
from reports.models import ArtifactStatus, ReportArtifact
from reports.services import artifact_build, report_content, report_parameters
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline

from .builders import AS_OF, GENERATED_AT, SMALL, registry_document

pytestmark = pytest.mark.django_db

AFTER_THE_ORDER_WAS_REVOKED = date(2025, 2, 1)  # us-eo-14110 in force on AS_OF, no longer after 2025-01-20


def revise_small_to_reported_2e26() -> None:
    document = registry_document()
    small = next(m for m in document["models"] if m["name"] == "Small-1")
    small["training_compute_ops"] = 2.0e26
    document["models"] = [small]
    document["clusters"] = []
    registry_submit(document, actor=None, via="api")


def scheduled_run(django_capture_on_commit_callbacks) -> tuple:
    enqueued: list[int] = []
    with mock.patch("reports.services.enqueue_build", side_effect=lambda pk: enqueued.append(pk) or True), \
            django_capture_on_commit_callbacks(execute=True):
        run = run_execute_inline(run_create(kind=Trigger.SCHEDULE, as_of=AS_OF))
    return run, enqueued


def test_scheduled_run_produces_its_change_report_listing_the_flipped_test(registry, django_capture_on_commit_callbacks):
    revise_small_to_reported_2e26()
    run, enqueued = scheduled_run(django_capture_on_commit_callbacks)
    artifacts = list(ReportArtifact.objects.filter(kind="changes", run=run).order_by("format"))
    assert [a.format for a in artifacts] == ["csv", "html", "pdf"]
    assert sorted(enqueued) == sorted(a.pk for a in artifacts)
    html_report = artifact_build(artifact_id=artifacts[1].pk)
    assert html_report.status == ArtifactStatus.DONE
    page = html_report.file.open("rb").read().decode()
    assert f"<code>{SMALL}</code> under us-eo-14110" in page
    assert "not covered</span> → <span class=\"status status-covered\">covered" in page
    assert "<td><code>model-general</code></td><td>not met: 6.3e24 ops &gt; 1e26 ops</td><td>met: 2e26 ops &gt; 1e26 ops</td>" in page
    assert page.count("us-eo-14110@2023-10-30 (") == 2  # the rule version on both sides


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="needs poppler-utils (pdftotext)")
def test_the_change_report_pdf_gives_the_tests_that_flipped_room_to_be_read(
        registry, django_capture_on_commit_callbacks, tmp_path):
    """Read back from the PDF as laid out: the summary's row for the change reads on one line, the
    test that flipped and its outcomes beside the subject and statuses, not a word or two a line in
    what the other columns leave; and each side of the flipped test's values reads whole."""
    revise_small_to_reported_2e26()
    run, _ = scheduled_run(django_capture_on_commit_callbacks)
    params = report_parameters(kind="changes", format="pdf", run=run.pk, generated_at=GENERATED_AT)
    path = tmp_path / "changes.pdf"
    path.write_bytes(b"".join(report_content(kind="changes", format="pdf", params=params)))
    lines = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                           text=True).stdout.splitlines()
    # the summary's row: the one line with both the subject and the test that flipped
    row = [line for line in lines if SMALL in line and "model-general" in line]
    assert len(row) == 1, "\n".join(lines)
    assert re.search(r"Small-1@1\s{2,}us-eo-14110\s{2,}not covered\s{2,}covered: Dual-use\s{2,}"
                     r"model-general not met → met$", row[0]), row[0]
    flipped = next(line for line in lines if line.strip().startswith("model-general") and "ops" in line)
    assert re.search(r"not met: 6\.3e24 ops > 1e26 ops\s+met: 2e26 ops > 1e26 ops$", flipped), flipped


def test_change_report_json_names_the_rule_versions_on_both_sides(registry, django_capture_on_commit_callbacks):
    revise_small_to_reported_2e26()
    run, _ = scheduled_run(django_capture_on_commit_callbacks)
    params = report_parameters(kind="changes", format="json", run=run.pk, generated_at=GENERATED_AT)
    data = json.loads(b"".join(report_content(kind="changes", format="json", params=params)))
    eo = [c for c in data["changes"] if c["regime"] == "us-eo-14110"]
    assert [(c["subject"], c["from_status"], c["to_status"]) for c in eo] == [(SMALL, "not_covered", "covered")]
    assert eo[0]["flipped_tests"] == [{"id": "model-general", "from": "not_met", "to": "met"}]
    assert eo[0]["from_rule_version"].startswith("us-eo-14110@2023-10-30")
    assert eo[0]["to_rule_version"] == eo[0]["from_rule_version"]


def test_manual_and_submission_runs_produce_no_change_report(registry, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OF))
    assert not ReportArtifact.objects.filter(run=run).exists()


def test_a_run_without_changes_says_so(registry):
    run = run_execute_inline(run_create(kind=Trigger.SCHEDULE, as_of=AS_OF))
    params = report_parameters(kind="changes", format="html", run=run.pk, generated_at=GENERATED_AT)
    page = b"".join(report_content(kind="changes", format="html", params=params)).decode()
    assert "No status changed in this run." in page


def test_change_report_shows_the_tier_on_both_sides(registry, django_capture_on_commit_callbacks):
    revise_small_to_reported_2e26()
    run, _ = scheduled_run(django_capture_on_commit_callbacks)
    params = report_parameters(kind="changes", format="json", run=run.pk, generated_at=GENERATED_AT)
    data = json.loads(b"".join(report_content(kind="changes", format="json", params=params)))
    (eo,) = [c for c in data["changes"] if c["regime"] == "us-eo-14110"]
    assert (eo["from_tier"], eo["to_tier"]) == (None, "dual-use-foundation-model")
    params = report_parameters(kind="changes", format="html", run=run.pk, generated_at=GENERATED_AT)
    page = b"".join(report_content(kind="changes", format="html", params=params)).decode()
    assert ('not covered</span> → <span class="status status-covered">covered: Dual-use foundation model subject '
            'to reporting</span>') in page


def test_a_run_that_changes_many_subjects_lists_the_first_in_full_and_counts_them_all(
        registry, django_capture_on_commit_callbacks, settings):
    """The day a law takes effect every subject's status changes: the HTML and PDF count the changes
    by regime and status and list the first REPORTS_CHANGES_LISTED in full; the CSV has every one."""
    scheduled_run(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):  # the reports are built below
        run = run_execute_inline(run_create(kind=Trigger.SCHEDULE, as_of=AFTER_THE_ORDER_WAS_REVOKED))
    csv_params = report_parameters(kind="changes", format="csv", run=run.pk, generated_at=GENERATED_AT)
    every = list(csv.DictReader(io.StringIO(b"".join(report_content(kind="changes", format="csv",
                                                                    params=csv_params)).decode())))
    assert len(every) == run.changes_count >= 3
    assert {(r["regime"], r["to_status"]) for r in every} >= {("us-eo-14110", "not_in_force")}
    assert [(r["subject"], r["regime"]) for r in every] == sorted((r["subject"], r["regime"]) for r in every)
    settings.REPORTS_CHANGES_LISTED = 1
    params = report_parameters(kind="changes", format="html", run=run.pk, generated_at=GENERATED_AT)
    page = b"".join(report_content(kind="changes", format="html", params=params)).decode()
    assert f"Status changes ({run.changes_count})" in page
    assert f"The first 1 of the {run.changes_count} changes are listed below" in page
    first = every[0]
    assert page.count("<div class=\"test\">") == 1 and f"<code>{first['subject']}</code> under {first['regime']}" in page
    counted = re.findall(r"<tr><td>([a-z0-9-]+)</td><td>[^<]*</td><td>[^<]*</td><td>(\d+)</td></tr>", page)
    assert sum(int(n) for _, n in counted) == run.changes_count
    assert {regime for regime, _ in counted} == {r["regime"] for r in every}
    settings.REPORTS_CHANGES_LISTED = 500
    page = b"".join(report_content(kind="changes", format="html", params=params)).decode()
    assert "changes are listed below" not in page and page.count("<div class=\"test\">") == run.changes_count
