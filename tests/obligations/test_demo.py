"""The demo's obligations picture: two fictional filings for the fictional Example-1, recorded once."""
from __future__ import annotations

from datetime import date

import pytest

from accounts.models import AuditAction, AuditEvent
from obligations.models import Fulfilment, ObligationState
from registry.services import registry_submit
from reports.management.commands.setup_demo import Command
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from tests.factories import ModelRecordFactory, OrganisationRecordFactory

pytestmark = pytest.mark.django_db

EXAMPLE = "model:example-lab/Example-1@1"


def test_the_demo_shows_a_fulfilled_and_an_overdue_obligation_and_records_its_filings_once():
    registry_submit({
        "organisations": [OrganisationRecordFactory(slug="example-lab", name="Example Lab", country="EU")],
        "models": [ModelRecordFactory(organisation="example-lab", name="Example-1", training_compute_ops=8e24,
                                      training_completed_on="2025-12-01", released_on="2026-01-15")],
        "designations": [{"subject": EXAMPLE, "regime": "eu-ai-act", "kind": "systemic-risk-designation",
                          "decided_on": "2026-03-02", "reference": "EXAMPLE"}],
    }, via="demo", may_designate=True)
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=date(2026, 3, 10), regimes=["eu-ai-act"]))
    Command()._demo_obligations()
    Command()._demo_obligations()
    assert Fulfilment.objects.filter(model__name="Example-1").count() == 2
    states = dict(ObligationState.objects.filter(subject_ref=EXAMPLE).values_list("obligation", "status"))
    assert states["art-53-provider-obligations"] == "fulfilled"
    assert states["art-55-systemic-risk-obligations"] == "overdue"
    assert AuditEvent.objects.filter(action=AuditAction.FULFILMENT_RECORDED).count() == 2
    assert AuditEvent.objects.filter(action=AuditAction.FULFILMENT_REVIEWED).count() == 2
