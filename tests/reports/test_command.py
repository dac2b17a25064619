"""`manage.py report …`: files written as asked, a clear error and non-zero exit on bad input."""
from __future__ import annotations

import hashlib
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from reports.models import ReportArtifact
from rules.models import Determination

from .builders import AS_OF, BIO, FRONTIER, GENERATED_AT

pytestmark = pytest.mark.django_db


def report(*args: str) -> str:
    err = io.StringIO()
    call_command("report", *args, stderr=err)
    return err.getvalue()


def test_audit_html_is_written_and_its_hash_printed(registry, tmp_path):
    out = tmp_path / "audit.html"
    said = report("audit", "--subject", FRONTIER, "--as-of", AS_OF.isoformat(), "--format", "html",
                  "--out", str(out), "--generated-at", GENERATED_AT)
    content = out.read_bytes()
    assert (b"us-eo-14110: <span class=\"status status-covered\">covered: Dual-use foundation model subject to "
            b"reporting</span>") in content
    assert hashlib.sha256(content).hexdigest() in said


def test_registry_json_and_changes_csv(registry, tmp_path):
    report("registry", "--as-of", AS_OF.isoformat(), "--format", "json", "--out", str(tmp_path / "r.json"))
    assert len(json.loads((tmp_path / "r.json").read_text())) == Determination.objects.filter(as_of=AS_OF).count()
    report("changes", "--run", str(registry.pk), "--format", "csv", "--out", str(tmp_path / "c.csv"))
    assert (tmp_path / "c.csv").read_text().startswith("run,subject,regime,from_status,to_status")


def test_export_filters_and_store(registry, tmp_path):
    said = report("export", "--regime", "us-eo-14110", "--status", "covered", "--format", "csv",
                  "--out", str(tmp_path / "e.csv"), "--store")
    lines = (tmp_path / "e.csv").read_text().splitlines()
    assert len(lines) == 1 + 3
    artifact = ReportArtifact.objects.get()
    assert f"stored as report {artifact.pk}" in said and artifact.sha256 in said


def test_a_date_without_determinations_is_recorded_first_and_said(registry, tmp_path):
    said = report("audit", "--subject", BIO, "--as-of", "2025-03-01", "--out", str(tmp_path / "a.html"))
    assert "had no determination as of 2025-03-01: recorded them first in evaluation run" in said
    assert "us-eo-14110: <span class=\"status status-not_in_force\">" in (tmp_path / "a.html").read_text()


@pytest.mark.parametrize(("args", "message"), [
    (["audit", "--subject", "model:acme/Nothing@1", "--as-of", "2024-12-01"], "subject: unknown subject(s): model:acme/Nothing@1"),
    (["audit", "--subject", "acme", "--as-of", "2024-12-01"], "subject: 'acme' is not a subject"),
    (["audit", "--subject", FRONTIER, "--as-of", "2024-13-01"], "as_of: '2024-13-01' is not a date"),
    (["registry", "--as-of", "yesterday"], "as_of: 'yesterday' is not a date"),
    (["changes", "--run", "424242"], "run: no evaluation run 424242"),
    (["export", "--status", "perhaps"], "status: 'perhaps' is not a status"),
])
def test_bad_input_exits_non_zero_naming_the_field(registry, tmp_path, args, message):
    out = tmp_path / "never.html"
    with pytest.raises(CommandError) as raised:
        report(*args, "--out", str(out))
    assert str(raised.value).startswith(message)
    assert not out.exists()
    assert not ReportArtifact.objects.exists()


def test_a_format_a_report_does_not_have_is_refused(registry, tmp_path):
    with pytest.raises(CommandError, match="invalid choice: 'csv'"):
        report("audit", "--subject", FRONTIER, "--as-of", "2024-12-01", "--format", "csv", "--out", str(tmp_path / "x"))
