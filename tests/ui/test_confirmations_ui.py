"""What the workspace shows of a re-evaluation that confirmed determinations instead of appending
them: the run's page counts both, a determination's page lists the dates it was confirmed as of,
and a subject's page as of such a date shows the confirmed determination as recorded then."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from registry.models import AIModel
from rules.models import Confirmation, Determination, EvaluationRun
from rules.models.runs import Trigger
from tests.ui.conftest import evaluate_registry, today
from tests.ui.test_subject_page import regime_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def reevaluated(workspace_registry):
    """The workspace registry evaluated today, then again, unchanged, as of tomorrow."""
    evaluate_registry(as_of=today() + timedelta(days=1))
    return EvaluationRun.objects.filter(kind=Trigger.SCHEDULE).latest("id")


def test_the_run_page_counts_the_determinations_appended_and_confirmed(agency_client, reevaluated):
    confirmed = sum(c.count for c in Confirmation.objects.filter(run=reevaluated))
    appended = Determination.objects.filter(run=reevaluated).count()
    assert confirmed > 0 and appended + confirmed == reevaluated.total * 6
    page = agency_client.get(reverse("admin:rules_evaluationrun_change", args=[reevaluated.pk])).content.decode()
    assert (f"Decision log: {appended} determination{'s' if appended != 1 else ''} appended, "
            f"{confirmed} confirmed unchanged") in page


def test_a_determinations_page_lists_the_dates_it_was_confirmed_as_of(agency_client, reevaluated):
    confirmation = Confirmation.objects.filter(run=reevaluated).first()
    first, _ = confirmation.ranges()[0]
    row = Determination.objects.get(sequence=first)
    page = agency_client.get(reverse("admin:rules_determination_change", args=[row.pk])).content.decode()
    assert "Confirmed unchanged as of" in page
    assert f"{reevaluated.as_of.isoformat()} (run {reevaluated.pk}, scheduled re-evaluation)" in page


def test_a_subject_page_as_of_the_confirming_date_shows_the_row_recorded_then(agency_client, reevaluated):
    mid = AIModel.objects.get(name="Mid")
    url = reverse("admin:registry_aimodel_change", args=[mid.pk])
    before = Determination.objects.count()
    page = agency_client.get(url, {"as_of": reevaluated.as_of.isoformat()}).content.decode()
    assert "recorded now" not in page and Determination.objects.count() == before  # nothing recorded again
    row = regime_row(page, "eu-ai-act")
    assert f'<div class="quiet">as of {reevaluated.as_of.isoformat()}</div>' in row
    assert f"made as of {today().isoformat()}, confirmed unchanged" in row
