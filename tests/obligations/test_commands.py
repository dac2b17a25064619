"""`manage.py fulfil` and `manage.py record_incident`: they record as the API does, and bad input
exits non-zero naming the option, with nothing recorded."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.models import AuditAction, AuditEvent
from obligations.models import Fulfilment, Incident
from tests.factories import submit_acme_and_rival

pytestmark = pytest.mark.django_db

ACME = "model:acme/Acme-1@1"


@pytest.fixture
def acme(db):
    submit_acme_and_rival(acme_model={"training_compute_ops": 2e26})


def fulfil(*extra: str, **options: str) -> str:
    from io import StringIO

    out = StringIO()
    defaults = {"subject": ACME, "regime": "eu-ai-act", "obligation": "art-52-1-notification",
                "on": timezone.localdate().isoformat(), "reference": "AIO-7"}
    defaults.update(options)
    args = [f"--{name}={value}" for name, value in defaults.items()] + list(extra)
    call_command("fulfil", *args, stdout=out)
    return out.getvalue()


def test_fulfil_records_a_fulfilment_with_its_document_and_audit_event(acme, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    letter = tmp_path / "notice.pdf"
    letter.write_bytes(b"%PDF-1.4 notice")
    output = fulfil(f"--document={letter}")
    row = Fulfilment.objects.get()
    assert f"Fulfilment {row.pk} recorded" in output and hashlib.sha256(b"%PDF-1.4 notice").hexdigest() in output
    assert (row.subject_ref, row.obligation, row.reference, row.recorded_via) == (ACME, "art-52-1-notification", "AIO-7", "import")
    assert row.document_sha256 == hashlib.sha256(b"%PDF-1.4 notice").hexdigest() and row.document_size == 15
    assert (settings.MEDIA_ROOT / row.document.name).read_bytes() == b"%PDF-1.4 notice"
    event = AuditEvent.objects.get(action=AuditAction.FULFILMENT_RECORDED)
    assert event.actor is None and event.detail["via"] == "import" and event.detail["document_sha256"] == row.document_sha256


@pytest.mark.parametrize(("options", "named"), [
    ({"on": "tomorrow"}, "--on: must be a date"),
    ({"on": (timezone.localdate() + timedelta(days=3)).isoformat()}, "--on: must not be in the future"),
    ({"obligation": "art-1-nothing"}, "--obligation: unknown obligation"),
    ({"regime": "atlantis"}, "--regime: unknown regime"),
    ({"subject": "model:acme/Ghost@1"}, "--subject: unknown subject"),
    ({"subject": "acme"}, "--subject: must be a subject reference"),
    ({"reference": " "}, "--reference: is required"),
    ({"occurrence": "2027-Q1"}, "--occurrence:"),
])
def test_fulfil_names_the_bad_option_and_records_nothing(acme, options, named):
    with pytest.raises(CommandError, match=named):
        fulfil(**options)
    assert Fulfilment.objects.count() == 0 and AuditEvent.objects.filter(action=AuditAction.FULFILMENT_RECORDED).count() == 0


def test_fulfil_with_an_unreadable_document_names_the_option(acme, tmp_path):
    with pytest.raises(CommandError, match="--document: cannot read"):
        fulfil(f"--document={tmp_path / 'missing.pdf'}")
    assert Fulfilment.objects.count() == 0


def test_record_incident_then_fulfil_its_report(acme):
    from io import StringIO

    out = StringIO()
    call_command("record_incident", f"--subject={ACME}", f"--discovered-on={timezone.localdate().isoformat()}",
                 "--severity=imminent_risk", "--summary=Model gave uplift for a weapon", stdout=out)
    incident = Incident.objects.get()
    assert f"incident-{incident.pk}" in out.getvalue()
    assert AuditEvent.objects.get(action=AuditAction.INCIDENT_RECORDED).detail["severity"] == "imminent_risk"
    fulfil(regime="us-ca-sb53", obligation="critical-safety-incident-report", occurrence=f"incident-{incident.pk}")
    assert Fulfilment.objects.get().incident == incident


@pytest.mark.parametrize(("options", "named"), [
    ({"discovered-on": (timezone.localdate() + timedelta(days=1)).isoformat()}, "--discovered-on: must not be in the future"),
    ({"severity": "bad"}, "--severity: must be one of"),
    ({"summary": ""}, "--summary: is required"),
])
def test_record_incident_names_the_bad_option_and_records_nothing(acme, options, named):
    values = {"subject": ACME, "discovered-on": timezone.localdate().isoformat(), "severity": "serious",
              "summary": "An outage", **options}
    with pytest.raises(CommandError, match=named):
        call_command("record_incident", *[f"--{k}={v}" for k, v in values.items()])
    assert Incident.objects.count() == 0


def test_fulfil_exits_non_zero_from_the_shell():
    result = subprocess.run([sys.executable, "manage.py", "fulfil", "--subject", ACME, "--regime", "eu-ai-act",
                             "--obligation", "x", "--reference", "r"], capture_output=True, text=True)
    assert result.returncode != 0
    assert "--on" in result.stderr
