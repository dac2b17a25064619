"""A regulator reads a subject at a glance, in a real browser at a laptop's widths (1280 and 1024):
each test's outcome reads as what it is, every test of the version and the tier reached are shown,
the page holds one date, an impossible date is refused on the page, existence in time reads
"not applicable" with its reason; the lists show tiers and derived compute. Screenshots go to
test-artifacts/screenshots/."""
from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from registry.models import AIModel, Cluster
from registry.services import registry_submit
from rules.current import recorded_on
from rules.models import Determination
from tests.factories import ClusterRecordFactory, ModelRecordFactory, OrganisationRecordFactory, document
from tests.ui.test_browser import (  # the harness: Debian's Chromium through Playwright, a live server
    CHROMIUM,
    Screenshots,
    chromium,  # noqa: F401 (a fixture)
    follow,
    log_in,
    row_text,
    site,  # noqa: F401 (a fixture)
    staff_user,
)

WIDTHS = [1280, 1024]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make test installs it)"),
]


@pytest.fixture(params=WIDTHS, ids=lambda width: f"{width}px")
def page(chromium, request):  # noqa: F811 (the harness's chromium fixture)
    width = request.param
    context = chromium.new_context(viewport={"width": width, "height": 800}, locale="en-GB")
    browser_page = context.new_page()
    browser_page.set_default_timeout(30_000)
    browser_page.shots = Screenshots(f"{request.node.originalname}-{width}")
    yield browser_page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        browser_page.shots.take(browser_page, "failed-here")
    context.close()


def subject_url(site_url: str, obj, **params: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    url = reverse(f"admin:registry_{obj._meta.model_name}_change", args=[obj.pk])
    return f"{site_url}{url}{'?' + query if query else ''}"


def test_a_subjects_tests_read_as_what_they_are(page, site):  # noqa: F811
    staff_user("agency", role="regulator")
    log_in(page, site, "agency")
    page.goto(subject_url(site, AIModel.objects.get(name="Mid")))
    sb53 = row_text(page, 'tr[data-regime="us-ca-sb53"] li[data-test="frontier-model"]')
    assert "3.8e25 ops ≤ 1e26 ops: not met (0.38 × the threshold)" in sb53
    assert "3.8e25 ops > 1e26 ops" not in row_text(page, 'tr[data-regime="us-ca-sb53"]')
    eu = 'tr[data-regime="eu-ai-act"]'
    assert "covered: GPAI model with systemic risk" in row_text(page, eu)
    shown = page.locator(f"{eu} li.test-outcome").evaluate_all("items => items.map(i => i.dataset.test)")
    assert {"gpai-indicative", "systemic-risk-presumption", "downstream-modifier", "systemic-risk-designation"} <= set(shown)
    assert "3.8e25 ops > 1e25 ops: met (3.8 × the threshold)" in row_text(
        page, f'{eu} li[data-test="systemic-risk-presumption"]')
    page.shots.take(page, "mid-today")

    page.goto(subject_url(site, AIModel.objects.get(name="Secret"), as_of="2024-06-01"))
    biological = row_text(page, 'tr[data-regime="us-eo-14110"] li[data-test="model-biological"]')
    assert "not met: not trained primarily on biological sequence data" in biological
    page.shots.take(page, "secret-2024-06-01")


def test_one_date_per_page_and_an_impossible_date_is_refused(page, site):  # noqa: F811
    staff_user("agency", role="regulator")
    log_in(page, site, "agency")
    mid = AIModel.objects.get(name="Mid")
    page.goto(subject_url(site, mid))
    page.fill("#as-of", "2024-09-01")  # nothing logged as of this date: recorded first, then shown
    follow(page, ".as-of-form button")
    assert "as of 2024-09-01" in page.locator("#subject-status-title").inner_text()
    assert "recorded now" in page.locator(".status-note").inner_text()
    dates = page.locator("table.status-table tbody td:last-child .quiet:not(.confirmed)").all_inner_texts()
    assert dates and set(dates) == {"as of 2024-09-01"}
    # a determination of an earlier date that the run reached again is shown as confirmed then
    confirmed = page.locator("table.status-table tbody td:last-child .confirmed").all_inner_texts()
    assert all(text.endswith(", confirmed unchanged") for text in confirmed)
    assert recorded_on(Determination.objects.filter(subject_ref="model:acme/Mid@1"), as_of=date(2024, 9, 1),
                       few=True).exists()
    page.shots.take(page, "mid-2024-09-01")

    for asked in ("2024-02-30", "garbage"):
        page.fill("#as-of", asked)
        follow(page, ".as-of-form button")
        error = page.locator("#as-of-error").inner_text()
        assert f"As of: '{asked}' is not a date" in error
        assert page.locator("tr.regime-row").count() == 0
        assert page.locator("#as-of").input_value() == asked
        page.shots.take(page, f"refused-{asked}")


def test_existence_and_applicability_read_not_applicable_with_the_reason(page, site):  # noqa: F811
    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI", annual_revenue_usd=6e8)],
        clusters=[ClusterRecordFactory(organisation="acme", name="Hall B", operational_from="2025-03-01")],
    ), via="import")
    staff_user("agency", role="regulator")
    log_in(page, site, "agency")
    page.goto(subject_url(site, Cluster.objects.get(name="Hall B"), as_of="2024-06-01"))
    eo = row_text(page, 'tr[data-regime="us-eo-14110"]')
    assert "not applicable" in eo and "did not exist yet on 2024-06-01: its operational_from is 2025-03-01" in eo
    page.goto(subject_url(site, Cluster.objects.get(name="Hall A")))
    eu = row_text(page, 'tr[data-regime="eu-ai-act"]')
    assert "not applicable" in eu and "has no test for a cluster" in eu
    page.shots.take(page, "hall-a-today")


def test_lists_show_tiers_and_derived_compute(page, site):  # noqa: F811
    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI", annual_revenue_usd=6e8)],
        models=[ModelRecordFactory(organisation="acme", name="Dense")],  # no reported figure: estimated
    ), via="import")
    staff_user("agency", role="regulator")
    log_in(page, site, "agency")
    tier = page.locator('tr[data-regime="eu-ai-act"] .tier-count[data-tier="gpai-systemic-risk"]')
    assert "GPAI model with systemic risk" in tier.inner_text()
    follow(page, 'tr[data-regime="eu-ai-act"] .tier-count[data-tier="gpai-systemic-risk"] a')
    names = sorted(page.locator("#result_list th.field-__str__ a").all_inner_texts())
    assert "acme/Frontier@1" in names and "acme/Mid@1" in names and "acme/Small@1" not in names
    page.shots.take(page, "models-with-systemic-risk")

    page.goto(f"{site}{reverse('admin:registry_aimodel_changelist')}?q=Dense")
    compute = row_text(page, "#result_list td.field-training_compute")
    assert compute == "3.791e25 ops estimated: 6 × parameters × tokens"
    page.shots.take(page, "models-derived-compute")
    page.goto(f"{site}{reverse('admin:registry_cluster_changelist')}")
    assert row_text(page, "#result_list td.field-peak_capacity") == "2.02e20 ops/s"
