"""Obligations in a real browser (Debian's Chromium driven by Playwright): the dashboard's "Overdue and
due soon" panel and a subject's obligations section, read by a regulator and by a lab member, at 1280
and 1024 pixels wide with nothing scrolling sideways. Screenshots go to test-artifacts/screenshots/."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from obligations.models import ObligationState
from registry.models import AIModel
from tests.obligation_records import SB53_FRAMEWORK, obligation_state
from tests.ui import test_browser as harness
from tests.ui.conftest import today
from tests.ui.test_browser import CHROMIUM, follow, log_in, staff_user

# the browser harness's fixtures: one Chromium per module, a page per test, the live site
chromium, page, site = harness.chromium, harness.page, harness.site

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make test installs it)"),
]

WIDTHS = (1280, 1024)


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.fixture
def owed(site):
    """On top of what the obligations engine stored after the site's runs: acme's Frontier overdue under the
    EU AI Act, acme's Mid due in 5 days, beta's Secret overdue."""
    day = today()
    obligation_state(subject="model:acme/Frontier@1", status="overdue", due_on=day - timedelta(days=3), as_of=day,
                     due_reason="14 days after the threshold is met (a long reason that must wrap, not widen the page: "
                                "the model's training_completed_on, else its released_on)")
    obligation_state(subject="model:acme/Mid@1", status="due", due_on=day + timedelta(days=5), as_of=day,
                     occurrence="", **{**SB53_FRAMEWORK, "obligation": "transparency-report",
                                        "title": "Transparency report"})
    obligation_state(subject="model:beta/Secret@1", status="overdue", due_on=day - timedelta(days=1), as_of=day)
    return site


def panel_rows(page) -> list[tuple[str, str]]:
    rows = page.locator("section.obligations-panel tr.obligation-row")
    return [(rows.nth(i).get_attribute("data-status"), rows.nth(i).locator("td").first.inner_text())
            for i in range(rows.count())]


def test_regulator_reads_overdue_and_due_soon_and_a_subjects_obligations(page, owed):
    staff_user("agency", role="regulator")
    shots = page.shots
    log_in(page, owed, "agency")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(f"{owed}/admin/")
        panel = page.locator("section.obligations-panel")
        assert panel.locator("h2").inner_text() == "Overdue and due soon"
        rows = panel_rows(page)
        statuses = [status for status, _ in rows]
        assert statuses[0] == "overdue" and "due" in statuses
        assert statuses.index("due") > max(i for i, s in enumerate(statuses) if s == "overdue")  # overdue first
        subjects = {subject for _, subject in rows}
        assert {"model:acme/Frontier@1", "model:beta/Secret@1", "model:acme/Mid@1"} <= subjects
        assert no_sideways_scroll(page), f"the dashboard scrolls sideways at {width}px"
        shots.take(page, f"dashboard-obligations-{width}")

    expected = ObligationState.objects.filter(status="overdue").count()
    assert page.locator("#obligations-overdue-count").inner_text() == f"{expected} overdue"
    follow(page, "#obligations-overdue-count")
    listed = page.locator("#result_list td.field-status_words").all_inner_texts()
    assert len(listed) == expected and set(listed) == {"overdue"}
    shots.take(page, "obligations-list-overdue")

    frontier = AIModel.objects.get(name="Frontier")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(f"{owed}{reverse('admin:registry_aimodel_change', args=[frontier.pk])}")
        section = page.locator("section.subject-obligations")
        assert section.locator("h2").inner_text() == f"Obligations as of {today().isoformat()}"
        obligations = section.locator("tr.obligation-row")
        assert obligations.count() >= 3
        art53 = section.locator('tr[data-obligation="art-53-provider-obligations"]')
        assert art53.locator(".obligation-status").inner_text() in ("due", "overdue")
        assert "Reg. (EU) 2024/1689, Art 53(1)" in art53.inner_text()
        assert no_sideways_scroll(page), f"the subject's page scrolls sideways at {width}px"
        section.scroll_into_view_if_needed()
        shots.take(page, f"subject-obligations-{width}")
    assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors


def test_lab_member_sees_its_own_organisations_obligations_only(page, owed):
    staff_user("acme-staff", role="lab", organisation="acme")
    log_in(page, owed, "acme-staff")
    rows = panel_rows(page)
    assert rows and all(":acme" in subject or "acme/" in subject for _, subject in rows)
    assert "model:beta/Secret@1" not in page.locator("section.obligations-panel").inner_text()
    assert no_sideways_scroll(page)
    page.shots.take(page, "lab-dashboard-obligations")
