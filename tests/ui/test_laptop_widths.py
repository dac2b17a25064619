"""The workspace at a laptop's width (1280 and 1024 pixels, in Chromium): no page a regulator reaches
scrolls sideways: the dashboard, every list and every record's page (the first of each list), the
subject page of a model and of a cluster with its groups and links, a determination, a run, the
rule versions and a draft's impact preview, and the reports, a change report opened in the browser
too. The navigation sidebar starts collapsed. Each page is saved as a screenshot in
test-artifacts/screenshots/."""
from __future__ import annotations

from datetime import date
from unittest import mock

import pytest
from django.urls import reverse

from registry.models import AIModel, Cluster
from reports.models import ReportArtifact
from reports.services import artifact_build, report_generate
from rules.library_store import draft_create
from rules.models import Determination, EvaluationRun
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from tests.ui import test_browser
from tests.ui.conftest import sb53_draft_text, today
from tests.ui.test_browser import log_in, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# the browser, the live site over plain HTTP and a page with its screenshots, as the regulator's day uses them
chromium, site, page = test_browser.chromium, test_browser.site, test_browser.page

WIDTHS = {1280: 800, 1024: 768}

# Boxes whose own content is wider than they are (a table scrolling inside the page, or cut off);
# a rule file's YAML and a text field keep their lines and scroll on their own.
SCROLLING_BOXES = """() => [...document.querySelectorAll("#container *")]
  .filter(el => el.checkVisibility() && !el.closest(".visually-hidden, pre.rule-yaml, textarea, select"))
  .filter(el => el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0)
  .filter(el => ["auto", "scroll", "hidden"].includes(getComputedStyle(el).overflowX))
  .map(el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
       (typeof el.className === "string" && el.className.trim() ? "." + el.className.trim().split(/\\s+/).join(".") : "") +
       ` (${el.scrollWidth}px in ${el.clientWidth}px)`)"""

# The element that reaches furthest right, named for the failure message: what to fix.
WIDEST = """() => {
  let widest = null, right = 0;
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > right) { right = box.right; widest = el; }
  }
  if (!widest) return "";
  const name = widest.tagName.toLowerCase() + (widest.id ? "#" + widest.id : "") +
    (widest.className && typeof widest.className === "string" ? "." + widest.className.trim().split(/\\s+/).join(".") : "");
  return `${name} reaches ${Math.round(right)}px: ${(widest.innerText || "").slice(0, 80)}`;
}"""


def workspace_pages(page, site: str) -> list[tuple[str, str]]:
    """(name, path) of every page the test visits: the fixed ones, then each list linked from the
    index with the first record of each and each add form offered."""
    frontier = AIModel.objects.get(name="Frontier")
    hall = Cluster.objects.get(name="Hall A")
    draft = draft_create(content=sb53_draft_text(effective_from=today()), origin="a lowered threshold")
    report = report_generate(kind="audit", format="html", subject="cluster:acme/Hall A", as_of=today().isoformat())
    pages = [
        ("dashboard", reverse("admin:index")),
        ("model-subject", reverse("admin:registry_aimodel_change", args=[frontier.pk])),
        ("cluster-subject", reverse("admin:registry_cluster_change", args=[hall.pk])),
        ("cluster-subject-2024-06-01", reverse("admin:registry_cluster_change", args=[hall.pk]) + "?as_of=2024-06-01"),
        ("cluster-history", reverse("admin:registry_cluster_history", args=[hall.pk])),
        ("determination", reverse("admin:rules_determination_change",
                                  args=[Determination.objects.filter(subject_ref="cluster:acme/Hall A").latest("sequence").pk])),
        ("run", reverse("admin:rules_evaluationrun_change", args=[EvaluationRun.objects.latest("pk").pk])),
        ("draft-preview", reverse("admin:rules_ruleversion_preview", args=[draft.pk])),
        ("draft-edit", reverse("admin:rules_ruleversion_change", args=[draft.pk])),
        ("report", reverse("admin:reports_reportartifact_change", args=[report.pk])),
        ("report-generate", reverse("admin:reports_reportartifact_generate")),
    ]
    page.goto(f"{site}{reverse('admin:index')}")
    lists = page.locator("#content-main div[class^=app-] th[scope=row] a").evaluate_all("links => links.map(a => a.pathname)")
    adds = page.locator("#content-main div[class^=app-] a.addlink").evaluate_all("links => links.map(a => a.pathname)")
    assert len(lists) >= 10, f"the index links too few lists: {lists}"
    for path in lists:
        name = path.strip("/").replace("admin/", "").replace("/", "-")
        pages.append((f"list-{name}", path))
        page.goto(f"{site}{path}")
        first = page.locator("#result_list tbody tr:first-child a[href*='/change/']")
        if first.count():
            pages.append((f"record-{name}", first.first.evaluate("a => a.pathname")))
    pages += [(f"add-{path.strip('/').replace('admin/', '').replace('/', '-')}", path) for path in adds]
    return pages


def sideways_scrolling(page, site: str, pages: list[tuple[str, str]], *, shot_prefix: str) -> list[str]:
    """Visits each page (each must answer 200), keeps a screenshot of it, and returns what scrolls
    sideways: the page itself (naming its widest element) or a box inside it."""
    overflowing = []
    for name, path in pages:
        response = page.goto(f"{site}{path}")
        assert response.status == 200, f"{name}: {path} answered {response.status}"
        page.wait_for_load_state("load")
        page.shots.take(page, f"{shot_prefix}{name.replace('/', '-')}")
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if scroll > inner:
            overflowing.append(f"{name} ({path}): {scroll}px > {inner}px; {page.evaluate(WIDEST)}")
        boxes = page.evaluate(SCROLLING_BOXES)
        if boxes:
            overflowing.append(f"{name} ({path}): scrolls inside {', '.join(boxes)}")
    return overflowing


@pytest.mark.parametrize("width", list(WIDTHS))
def test_no_workspace_page_scrolls_sideways_at_a_laptops_width(page, site, width):
    staff_user("agency", role="regulator")
    log_in(page, site, "agency")
    page.set_viewport_size({"width": width, "height": WIDTHS[width]})
    pages = workspace_pages(page, site)
    overflowing = sideways_scrolling(page, site, pages, shot_prefix=f"{width}-")
    assert not overflowing, f"scrolls sideways at {width}px:\n" + "\n".join(overflowing)
    assert len(pages) > 25


@pytest.mark.parametrize("width", list(WIDTHS))
def test_a_lab_members_pages_do_not_scroll_sideways_either(page, site, width):
    """What a lab member reaches: the dashboard, its lists, its subjects, the forms on which it records
    a fulfilment or an incident and asks for a report."""
    staff_user("acme-staff-wide", role="lab", organisation="acme")
    log_in(page, site, "acme-staff-wide")
    page.set_viewport_size({"width": width, "height": WIDTHS[width]})
    page.goto(f"{site}{reverse('admin:index')}")
    lists = page.locator("#content-main div[class^=app-] th[scope=row] a").evaluate_all("links => links.map(a => a.pathname)")
    adds = page.locator("#content-main div[class^=app-] a.addlink").evaluate_all("links => links.map(a => a.pathname)")
    pages = [("dashboard", reverse("admin:index")),
             ("model-subject", reverse("admin:registry_aimodel_change", args=[AIModel.objects.get(name="Frontier").pk])),
             ("report-generate", reverse("admin:reports_reportartifact_generate")),
             *((f"list-{p.strip('/')}", p) for p in lists), *((f"add-{p.strip('/')}", p) for p in adds)]
    assert reverse("admin:obligations_fulfilment_add") in adds and reverse("admin:obligations_incident_add") in adds
    overflowing = sideways_scrolling(page, site, pages, shot_prefix=f"lab-{width}-")
    assert not overflowing, f"scrolls sideways at {width}px:\n" + "\n".join(overflowing)


def test_navigation_sidebar_starts_collapsed_and_remembers_being_opened(page, site):
    staff_user("agency", role="regulator")
    log_in(page, site, "agency")
    page.goto(f"{site}{reverse('admin:registry_cluster_changelist')}")
    sidebar = page.locator("#nav-sidebar")
    assert sidebar.get_attribute("aria-expanded") == "false"
    assert not sidebar.is_visible()
    assert "shifted" not in (page.locator("#main").get_attribute("class") or "")
    page.click("#toggle-nav-sidebar")
    assert sidebar.is_visible() and sidebar.get_attribute("aria-expanded") == "true"
    page.goto(f"{site}{reverse('admin:registry_aimodel_changelist')}")
    assert page.locator("#nav-sidebar").is_visible(), "the sidebar a regulator opened closed again on the next page"
    page.click("#toggle-nav-sidebar")
    page.goto(f"{site}{reverse('admin:index')}")
    assert not page.locator("#nav-sidebar").is_visible()


# The page itself and every box in it whose content is wider than the box
REPORT_SCROLLS = """() => {
  const found = [];
  if (document.documentElement.scrollWidth > window.innerWidth)
    found.push(`the page: ${document.documentElement.scrollWidth}px > ${window.innerWidth}px`);
  for (const el of document.querySelectorAll("body *"))
    if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1)
      found.push(`${el.tagName.toLowerCase()}.${el.className}: ${(el.innerText || "").slice(0, 60)}`);
  return found;
}"""


# A test id in the change report broken across lines elsewhere than after a hyphen
TEST_IDS_BROKEN_INSIDE_A_WORD = """() => [...document.querySelectorAll(
    "table.changes td:last-child code, table.flipped code")].flatMap(code => {
  const text = code.firstChild, broken = [];
  let top = null;
  for (let i = 0; i < text.length; i++) {
    const range = document.createRange();
    range.setStart(text, i);
    range.setEnd(text, i + 1);
    const at = range.getBoundingClientRect().top;
    if (top !== null && at > top + 2 && text.data[i - 1] !== "-") broken.push(text.data.slice(0, i) + "|" + text.data.slice(i));
    top = at;
  }
  return broken;
})"""


@pytest.mark.parametrize("width", list(WIDTHS))
def test_a_change_report_opened_in_the_browser_does_not_scroll_sideways(page, site, width):
    """The change report of a nightly run as a regulator opens the downloaded HTML: its summary, each
    change with the tests that flipped and their values on both sides, within the window, a test's id
    broken across lines only after a hyphen. The runs are as of the eve of the EU AI Act's obligations
    for general-purpose AI models and the day after, so the second's changes are the same whatever
    ran before (a submission's evaluation, as of today, where Celery is eager)."""
    with mock.patch("reports.services.enqueue_build", return_value=True):  # built below, in this process
        run_execute_inline(run_create(kind=Trigger.SCHEDULE, as_of=date(2025, 8, 1)))
        run = run_execute_inline(run_create(kind=Trigger.SCHEDULE, as_of=date(2025, 8, 3)))
    artifact = ReportArtifact.objects.get(kind="changes", run=run, format="html")
    html = artifact_build(artifact_id=artifact.pk).file.open("rb").read().decode()
    page.set_viewport_size({"width": width, "height": WIDTHS[width]})
    page.set_content(html)
    page.shots.take(page, f"change-report-{width}")
    flipped = page.locator("table.flipped")
    assert page.locator("table.summary tbody tr").count() >= 3 and flipped.count() >= 3
    scrolling = page.evaluate(REPORT_SCROLLS)
    assert not scrolling, f"scrolls sideways at {width}px: {scrolling}"
    broken = page.evaluate(TEST_IDS_BROKEN_INSIDE_A_WORD)
    assert not broken, f"test ids broken inside a word at {width}px: {broken}"
    # the values of a flipped test are read across, a few words a line, not a word or two
    for cell in flipped.first.locator("tbody td").all():
        box = cell.bounding_box()
        assert box["width"] >= 90, f"{cell.inner_text()!r} is squeezed into {box['width']:.0f}px at {width}px"
