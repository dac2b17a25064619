"""A subject's page in the workspace: the status shows the tier reached, and the as-of form's
hypothetical checkbox answers "would it have been covered?" as a preview, never recorded."""
from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from registry.models import AIModel
from registry.services import registry_submit
from rules.models import Determination
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from tests.factories import ModelRecordFactory, document

pytestmark = pytest.mark.django_db


@pytest.fixture
def later_model():
    """A 2e26 model completed on 2026-02-01, evaluated of record on 2026-01-31 (did not exist yet) and 2026-03-01."""
    registry_submit(document(models=[ModelRecordFactory(name="Later", training_compute_ops=2e26,
                                                        training_completed_on="2026-02-01")]), via="import")
    for as_of in (date(2026, 1, 31), date(2026, 3, 1)):
        run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=as_of, subjects=["model:acme/Later@1"],
                                      regimes=["eu-ai-act"]))
    return reverse("admin:registry_aimodel_change", args=[AIModel.objects.get(name="Later").pk])


def status_cell(page: str) -> str:
    start = page.index('data-regime="eu-ai-act"')
    return page[start:page.index("</tr>", start)]


def test_the_status_shows_the_tier_reached(admin_client_logged_in, later_model):
    page = admin_client_logged_in.get(later_model + "?as_of=2026-03-01").content.decode()
    assert "covered: GPAI model with systemic risk" in status_cell(page)


def test_before_it_existed_the_page_shows_not_applicable_and_the_reason(admin_client_logged_in, later_model):
    page = admin_client_logged_in.get(later_model + "?as_of=2026-01-31").content.decode()
    cell = status_cell(page)
    assert "not applicable" in cell and "training_completed_on is 2026-02-01" in cell
    assert 'id="hypothetical"' in page and "apply the law of 2026-01-31 to the subject as it stands today" in page


def test_the_hypothetical_checkbox_shows_a_preview_and_records_nothing(admin_client_logged_in, later_model):
    rows = Determination.objects.count()
    page = admin_client_logged_in.get(later_model + "?as_of=2026-01-31&hypothetical=1").content.decode()
    cell = status_cell(page)
    assert "covered: GPAI model with systemic risk" in cell
    assert "hypothetical: a preview, not a determination of record" in cell
    assert 'id="evaluate-now"' not in page  # a hypothetical answer is never recorded
    assert Determination.objects.count() == rows


def test_the_decision_log_lists_the_tier_and_filters_on_it(admin_client_logged_in, later_model):
    page = admin_client_logged_in.get(reverse("admin:rules_determination_changelist") + "?tier=gpai-systemic-risk")
    assert page.status_code == 200
    listed = list(page.context["cl"].result_list)
    assert [(row.subject_ref, row.as_of, row.tier) for row in listed] == [
        ("model:acme/Later@1", date(2026, 3, 1), "gpai-systemic-risk")]
