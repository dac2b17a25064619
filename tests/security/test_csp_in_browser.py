"""The Content-Security-Policy breaks nothing: in Chromium, the workspace's pages (with the admin's
own scripts: inlines, the permission picker, the run page's polling) and Swagger UI work, and the
browser reports no violation of the policy on any of them."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.db import connections
from django.urls import reverse

from registry.models import AIModel, Cluster
from rules.models import EvaluationRun
from tests.factories import UserFactory
from tests.ui.conftest import PASSWORD, evaluate_registry, submit_workspace_registry

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WAIT_MS = 30_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make test installs it)"),
]

# Runs before any page script: every violation the browser reports is kept on the page.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective}: ${event.blockedURI || "inline"} (${event.sourceFile}:${event.lineNumber})`);
});
"""


@pytest.fixture
def browser_page(live_server):
    from playwright.sync_api import sync_playwright

    saved = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's loop runs in this thread
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.add_init_script(RECORD_VIOLATIONS)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.console_errors = []
        page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
        yield page
        # queries made while Playwright's loop runs use their own connection: closed here, not leaked
        connections.close_all()
        browser.close()
    if saved is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = saved


def assert_no_violation(page, where: str) -> None:
    violations = page.evaluate("window.__cspViolations")
    refused = [text for text in page.console_errors if "Content Security Policy" in text]
    assert not violations and not refused, f"{where}: {violations} {refused}"


def test_the_workspace_and_swagger_ui_work_under_the_policy(browser_page, live_server, settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False  # the live server speaks plain HTTP
    submit_workspace_registry()
    evaluate_registry()
    user = UserFactory(username="csp-regulator", is_staff=True, is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    page, site = browser_page, live_server.url

    page.goto(f"{site}/admin/login/")
    assert page.evaluate("document.querySelector('meta[http-equiv]') === null")  # the policy is a header
    page.fill("#id_username", "csp-regulator")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")
    assert page.url.rstrip("/").endswith("/admin")

    pages = {
        "dashboard": "/admin/",
        "model page": reverse("admin:registry_aimodel_change", args=[AIModel.objects.get(name="Frontier").pk]),
        "cluster page": reverse("admin:registry_cluster_change", args=[Cluster.objects.get(name="Hall A").pk]),
        "model list": reverse("admin:registry_aimodel_changelist"),
        "draft form": reverse("admin:rules_ruleversion_add"),
        "run page": reverse("admin:rules_evaluationrun_change", args=[EvaluationRun.objects.latest("pk").pk]),
        "user page": reverse("admin:auth_user_change", args=[user.pk]),
    }
    for where, path in pages.items():
        response = page.goto(site + path)
        assert response.status == 200, where
        assert "Content-Security-Policy" in {name.title() for name in response.headers} or \
            "content-security-policy" in response.headers, where
        page.wait_for_load_state("networkidle")
        assert_no_violation(page, where)
        if where == "user page":  # the admin's permission picker is built by its own script
            assert page.locator("#id_groups_from").count() == 1, "the admin's scripts did not run"
        if where == "cluster page":  # the inline formsets' "add another" row comes from inlines.js
            assert page.locator(".add-row a").count() >= 1, "the admin's inline script did not run"

    page.goto(f"{site}/api/docs/")
    page.wait_for_selector(".opblock", timeout=WAIT_MS)  # Swagger UI drew the operations
    assert_no_violation(page, "Swagger UI")
