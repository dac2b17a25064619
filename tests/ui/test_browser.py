"""The regulator's day in a real browser (Debian's Chromium driven by Playwright): log in, read the
dashboard, open a covered cluster and download its audit report, draft a lower threshold, read its
impact, publish it, watch the re-evaluation finish, see the changed statuses; and a lab member who
cannot see another lab's model. Each step is saved as a screenshot in test-artifacts/screenshots/.

With a broker configured, the re-evaluation runs in a real Celery worker started on the test
database once the run page is showing, so the page's polling is seen moving the run to finished.
Embedded (eager Celery), the run is carried out within the publishing request."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse

from accounts.services import membership_set
from config.celery import app as celery_app
from registry.models import AIModel, Cluster, Organisation
from tests.factories import UserFactory
from tests.ui.conftest import (
    PASSWORD,
    ensure_migrated_data,
    evaluate_registry,
    sb53_draft_text,
    submit_workspace_registry,
    today,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"
WAIT_MS = 30_000  # the longest a step may take on a slow machine; a passing step returns at once
RUN_WAIT_MS = 180_000  # a real worker starting and re-evaluating the registry, on a busy machine

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make test installs it)"),
]


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's ORM calls are synchronous.
    saved = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    if saved is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = saved


@pytest.fixture
def site(live_server, settings, tmp_path):
    """The live server over plain HTTP, with the workspace's registry evaluated on 2024-06-01 and today."""
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    settings.MEDIA_ROOT = tmp_path / "media"
    ensure_migrated_data()
    submit_workspace_registry()
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        celery_app.control.purge()  # the submission's own evaluation: done below, in this process
    evaluate_registry(as_of=date(2024, 6, 1))
    evaluate_registry()  # last, so that a run today compares with today's statuses
    return live_server.url


@pytest.fixture
def page(chromium, request):
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True, locale="en-GB")
    browser_page = context.new_page()
    browser_page.set_default_timeout(WAIT_MS)
    browser_page.shots = Screenshots(request.node.name)
    browser_page.console_errors = []
    browser_page.on("console", lambda message: browser_page.console_errors.append(message.text)
                    if message.type == "error" else None)
    yield browser_page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        browser_page.shots.take(browser_page, "failed-here")
    context.close()


class Screenshots:
    def __init__(self, test_name: str) -> None:
        self.prefix = test_name.removeprefix("test_")
        self.count = 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for old in SCREENSHOTS.glob(f"{self.prefix}-*.png"):
            old.unlink()

    def take(self, page, name: str) -> Path:
        self.count += 1
        path = SCREENSHOTS / f"{self.prefix}-{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


class Worker:
    """A Celery worker on the test database, started when the test asks for it."""

    def __init__(self, log_path: Path, media_root: Path) -> None:
        self.log_path, self.media_root, self.process = log_path, media_root, None

    def start(self) -> None:
        db = connection.settings_dict
        database_url = (f"postgres://{quote(db['USER'] or '')}:{quote(db['PASSWORD'] or '')}@{db['HOST'] or '127.0.0.1'}:"
                        f"{db['PORT'] or 5432}/{db['NAME']}")
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": settings.CELERY_BROKER_URL,
               "SECRET_KEY": settings.SECRET_KEY, "MEDIA_ROOT": str(self.media_root), "CELERY_TASK_ALWAYS_EAGER": "0",
               "DJANGO_SETTINGS_MODULE": "config.settings"}
        env.pop("TEST_DATABASE_NAME", None)
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--concurrency=1",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO",
             f"--hostname=ui-browser-{os.getpid()}@%h"],
            cwd=settings.BASE_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture
def worker(site, tmp_path):
    """Stopped before the live server and the database go (fixtures end in reverse order)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        yield None
        return
    if connection.vendor != "postgresql":
        pytest.skip("a worker shares the test database only on PostgreSQL")
    started = Worker(tmp_path / "worker.log", tmp_path / "media")
    yield started
    started.stop()


def log_in(page, site: str, username: str) -> None:
    page.goto(f"{site}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    follow(page, "input[type=submit]")
    assert page.url.rstrip("/").endswith("/admin"), f"not logged in: {page.url}"


def staff_user(username: str, *, role: str, organisation: str | None = None):
    user = UserFactory(username=username, is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    membership_set(user=user, role=role, organisation=Organisation.objects.get(slug=organisation) if organisation else None)
    return user


def follow(page, selector: str) -> None:
    """Clicks a link or a button and waits for the page it leads to."""
    with page.expect_navigation():
        page.click(selector)


def counts(page, regime: str) -> list[str]:
    """The dashboard's numbers for a regime: covered, not covered, indeterminate, not yet evaluated."""
    return [cell.split()[0] for cell in page.locator(f'tr[data-regime="{regime}"] td.count').all_inner_texts()]


def row_text(page, selector: str) -> str:
    return re.sub(r"\s+", " ", page.locator(selector).inner_text())


def test_regulator_reads_the_registry_and_publishes_a_lower_threshold(page, site, worker, tmp_path):
    staff_user("agency", role="regulator")
    shots = page.shots

    log_in(page, site, "agency")
    assert page.locator("h2#status-title").inner_text() == f"Status today, {today().isoformat()}"
    # eu-ai-act (models): Frontier, Mid, Secret covered; Small not covered; Unknown indeterminate
    assert counts(page, "eu-ai-act") == ["3", "1", "1", "0", "0"]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shots.take(page, "dashboard")

    # A covered cluster: EO 14110's cluster test, as the law stood on 2024-06-01.
    follow(page, "#content a[href$='/registry/cluster/']")
    follow(page, "text=acme/Hall A")
    page.fill("#as-of", "2024-06-01")
    follow(page, ".as-of-form button")
    eo = row_text(page, 'tr[data-regime="us-eo-14110"]')
    assert "covered" in eo and "cluster" in eo and "2.02e20 ops/s ≥ 1e20 ops/s: met" in eo and "EO 14110" in eo
    shots.take(page, "cluster-covered-2024-06-01")
    assert page.locator("#audit-report-pdf").count(), "a regulator is offered no audit report to download"
    with page.expect_download() as download:
        page.click("#audit-report-pdf")
    report = tmp_path / download.value.suggested_filename
    download.value.save_as(report)
    assert report.suffix == ".pdf" and report.read_bytes().startswith(b"%PDF")
    shots.take(page, "audit-report-downloaded")

    # Draft SB 53 with its frontier-model threshold lowered to 1e25 ops, from today.
    page.goto(f"{site}{reverse('admin:rules_ruleversion_changelist')}")
    follow(page, ".object-tools a.addlink")
    draft_file = tmp_path / "us-ca-sb53-lowered.yaml"
    draft_file.write_text(sb53_draft_text(effective_from=today()), encoding="utf-8")
    page.set_input_files("#id_file", str(draft_file))
    shots.take(page, "draft-form")
    follow(page, "input[name=_save]")
    page.wait_for_selector("#status-changes-title")
    assert page.locator("#status-changes-title").inner_text() == "Subjects whose status would change (1)"
    change = row_text(page, "table.status-changes tbody tr")
    assert "model:acme/Mid@1" in change and "not covered → covered" in change and "frontier-model: not_met → met" in change
    assert "> 1e26 ops" in row_text(page, "table.parameter-changes") and "> 1e25 ops" in row_text(page, "table.parameter-changes")
    shots.take(page, "impact-preview")

    # Publish: the run page shows the re-evaluation, live.
    progress_polls = []
    page.on("request", lambda r: progress_polls.append(r.url) if "/progress/" in r.url else None)
    follow(page, "#publish")
    page.wait_for_selector(".run-panel")
    if worker is not None:
        assert row_text(page, ".run-panel .run-status") == "pending"
        shots.take(page, "run-pending")
        worker.start()
    page.wait_for_selector("#changes-title:has-text('Status changes found (1)')", timeout=RUN_WAIT_MS)
    if worker is not None:
        assert progress_polls, "the run page never polled its progress"
    assert row_text(page, ".run-panel .run-status") == "finished"
    assert "100.0 %" in row_text(page, ".run-panel .run-progress")
    assert "model:acme/Mid@1" in row_text(page, "table.changes")
    shots.take(page, "run-finished")

    # The changed status on the dashboard and on the model's page.
    follow(page, "#site-name a")
    assert "model:acme/Mid@1" in row_text(page, "table.changes")
    shots.take(page, "dashboard-after-publication")
    follow(page, "table.changes >> text=model:acme/Mid@1")
    sb53 = row_text(page, 'tr[data-regime="us-ca-sb53"]')
    assert f"us-ca-sb53@{today().isoformat()}" in sb53 and "covered" in sb53 and "not covered" not in sb53
    assert "3.8e25 ops > 1e25 ops" in sb53
    shots.take(page, "model-now-covered")

    # Usable at a laptop's narrower width: nothing but the wide tables scrolls sideways.
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(f"{site}/admin/")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shots.take(page, "dashboard-1024")
    assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors


def test_lab_member_cannot_see_another_labs_model(page, site):
    staff_user("acme-staff", role="lab", organisation="acme")
    shots = page.shots
    log_in(page, site, "acme-staff")
    assert "Status today" in page.locator("h2#status-title").inner_text() and "acme" in page.locator("h2#status-title").inner_text()
    shots.take(page, "lab-dashboard")
    follow(page, "#content a[href$='/registry/aimodel/']")
    listed = page.locator("#result_list th.field-__str__ a").all_inner_texts()
    assert sorted(listed) == ["acme/Frontier@1", "acme/Mid@1", "acme/Small@1", "acme/Unknown@1"]
    shots.take(page, "lab-model-list")
    secret = AIModel.objects.get(name="Secret")
    response = page.goto(f"{site}{reverse('admin:registry_aimodel_change', args=[secret.pk])}")
    assert response.status == 404
    assert "Secret" not in page.content()
    shots.take(page, "lab-other-model-404")
    hall = Cluster.objects.get(name="Hall A")
    page.goto(f"{site}{reverse('admin:registry_cluster_change', args=[hall.pk])}")
    assert page.locator("#evaluate-now").count() == 0
    assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors
