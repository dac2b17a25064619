"""A draft's impact preview in a real browser (Debian's Chromium through Playwright), at 1280 and
1024 pixels: a correction of a past period of EO 14110 is judged on a day of its own period against
the version it would replace that day, with the law's numbers it changes; an as-of date the
preview cannot use is an error on the page; what would refuse a draft's publication is the first
thing the page shows; and the published correction answers for its period. Screenshots in
test-artifacts/screenshots/."""
from __future__ import annotations

import pytest
from django.urls import reverse

from tests.ui import test_browser as browser
from tests.ui.test_rule_preview import eo_draft_text

pytestmark = browser.pytestmark

# the fixtures of the regulator's day in the browser: Chromium, a page, the live site and a worker
chromium, page, site, worker = browser.chromium, browser.page, browser.site, browser.worker

WIDTHS = ({"width": 1280, "height": 800}, {"width": 1024, "height": 768})


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def upload_draft(page, site: str, tmp_path, name: str, text: str) -> None:
    page.goto(f"{site}{reverse('admin:rules_ruleversion_add')}")
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    page.set_input_files("#id_file", str(path))
    browser.follow(page, "input[name=_save]")
    page.wait_for_selector("#draft-title")


@pytest.mark.parametrize("viewport", WIDTHS, ids=["1280", "1024"])
def test_a_past_correction_is_previewed_on_a_day_of_its_period_and_published(page, site, worker, tmp_path, viewport):
    browser.staff_user("agency", role="regulator")
    page.set_viewport_size(viewport)
    shots, width = page.shots, viewport["width"]
    browser.log_in(page, site, "agency")

    # EO 14110 corrected for 2024-03-01 to 2025-01-20 (wholly past): threshold 1e26 -> 1e25
    upload_draft(page, site, tmp_path, "eo-correction.yaml",
                 eo_draft_text(version_id="2024-03-01", start="2024-03-01", end="2025-01-20"))
    assert page.locator("#draft-title").inner_text() == (
        "us-eo-14110@2024-03-01 (draft) against us-eo-14110@2023-10-30, as of 2025-01-19")
    assert page.locator("#preview-as-of").input_value() == "2025-01-19"
    numbers = browser.row_text(page, "table.parameter-changes tbody")
    assert "model_compute_general > 1e26 ops > 1e25 ops" in numbers
    change = browser.row_text(page, "table.status-changes tbody tr")
    assert "model:acme/Mid@1" in change and "not covered → covered" in change
    assert page.locator("#publication-blockers").count() == 0
    assert no_sideways_scroll(page), f"the preview scrolls sideways at {width}"
    shots.take(page, f"correction-preview-{width}")

    # an as-of date that is no date, then one outside the period: errors on the page, no list
    for given, words in (("2024-02-30", "is not a calendar date"), ("2026-01-01", "is outside the draft's period")):
        page.fill("#preview-as-of", given)
        browser.follow(page, ".preview-as-of button")
        assert words in page.locator("#preview-as-of-error").inner_text()
        assert page.locator("table.status-changes").count() == 0 and page.locator("#publish").count() == 0
        assert no_sideways_scroll(page)
    shots.take(page, f"correction-preview-bad-as-of-{width}")

    # a day of its period chosen by hand
    page.fill("#preview-as-of", "2024-06-01")
    browser.follow(page, ".preview-as-of button")
    assert page.locator("#draft-title").inner_text().endswith("against us-eo-14110@2023-10-30, as of 2024-06-01")
    assert "model:acme/Mid@1" in browser.row_text(page, "table.status-changes tbody")

    # publish it: re-evaluated as of the period's last day, the change found
    browser.follow(page, "#publish")
    page.wait_for_selector(".run-panel")
    if worker is not None:
        worker.start()
    page.wait_for_selector("#changes-title:has-text('Status changes found (1)')", timeout=browser.RUN_WAIT_MS)
    assert "2025-01-19" in browser.row_text(page, ".run-panel")
    assert "model:acme/Mid@1" in browser.row_text(page, "table.changes")
    assert no_sideways_scroll(page)
    shots.take(page, f"correction-published-{width}")


@pytest.mark.parametrize("viewport", WIDTHS, ids=["1280", "1024"])
def test_what_refuses_publication_is_at_the_top_of_the_preview(page, site, tmp_path, viewport):
    browser.staff_user("agency", role="regulator")
    page.set_viewport_size(viewport)
    width = viewport["width"]
    browser.log_in(page, site, "agency")
    # the same past period without saying it corrects the version in force then: an overlap
    upload_draft(page, site, tmp_path, "eo-overlap.yaml",
                 eo_draft_text(version_id="2024-03-01", start="2024-03-01", end="2025-01-20", corrects=None))
    blockers = page.locator("#publication-blockers")
    assert "overlapping-versions" in blockers.inner_text()
    top = blockers.bounding_box()["y"]
    assert top < viewport["height"], "the blockers are not on the first screen"
    assert top < page.locator("#draft-title").bounding_box()["y"] < page.locator("#status-changes-title").bounding_box()["y"]
    assert page.locator("#publish").count() == 0
    assert no_sideways_scroll(page), f"the preview scrolls sideways at {width}"
    page.shots.take(page, f"blocked-preview-{width}")
