"""Production settings (`DEBUG=0`, a real `SECRET_KEY`, `ALLOWED_HOSTS`) pass Django's deployment
check, and every page carries the security headers: HSTS, a Content-Security-Policy, nosniff,
a referrer policy, no framing, secure cookies; plain HTTP is redirected to HTTPS."""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "registry.example.org",
    # production's database comes from the environment too; these checks need no server
    "DATABASE_URL": "sqlite:///:memory:",
}


def run_with(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "TEST_DATABASE_NAME", "DEBUG"}}
    return subprocess.run([sys.executable, *args], cwd=settings.BASE_DIR, env={**base, **env}, capture_output=True,
                          text=True, timeout=120)


def test_the_deployment_check_passes_with_production_settings():
    result = run_with(PRODUCTION, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_deployment_check_fails_with_debug_on():
    """The check above is a real one: the same settings with DEBUG on are refused."""
    result = run_with({**PRODUCTION, "DEBUG": "1"}, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "security.W018" in result.stderr + result.stdout  # DEBUG in deployment


def test_a_number_setting_that_is_not_one_is_refused_naming_the_variable():
    result = run_with({**PRODUCTION, "RUN_READER_PROCESSES": "two"}, "manage.py", "check")
    assert result.returncode != 0
    assert "RUN_READER_PROCESSES: expected a whole number, got 'two'" in result.stderr
    result = run_with({**PRODUCTION, "RUN_READER_PROCESSES": "-1"}, "manage.py", "check")
    assert result.returncode != 0 and "RUN_READER_PROCESSES: expected 0 or more, got -1" in result.stderr
    result = run_with({**PRODUCTION, "CELERY_TASK_TIME_LIMIT": "30m"}, "manage.py", "check")
    assert result.returncode != 0 and "CELERY_TASK_TIME_LIMIT: expected a whole number, got '30m'" in result.stderr


PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
client = Client(HTTP_HOST="registry.example.org")
pages = {}
for path in ("/admin/login/", "/api/docs/", "/api/v1/models/"):
    response = client.get(path, secure=True)
    cookies = {name: {"secure": bool(c["secure"]), "httponly": bool(c["httponly"]), "samesite": c["samesite"]}
               for name, c in response.cookies.items()}
    pages[path] = {"status": response.status_code, "headers": dict(response.headers), "cookies": cookies}
plain = client.get("/admin/login/")
print(json.dumps({
    "pages": pages,
    "plain_http": {"status": plain.status_code, "location": plain.get("Location")},
    "session_cookie": [settings.SESSION_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY, settings.SESSION_COOKIE_SAMESITE],
}))
"""


@pytest.fixture(scope="module")
def production_pages() -> dict:
    result = run_with({**PRODUCTION, "DJANGO_SETTINGS_MODULE": "config.settings"}, "-c", PROBE)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def csp(headers: dict[str, str]) -> dict[str, list[str]]:
    policy = headers["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def test_every_page_carries_the_security_headers(production_pages):
    for path, page in production_pages["pages"].items():
        headers = page["headers"]
        assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload", path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Referrer-Policy"] == "same-origin", path
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin", path
        policy = csp(headers)
        assert policy["default-src"] == ["'self'"] and policy["script-src"] == ["'self'"], path
        assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"], path
        assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"], path


def test_only_the_swagger_page_allows_an_inline_style(production_pages):
    pages = production_pages["pages"]
    assert csp(pages["/api/docs/"]["headers"])["style-src"] == ["'self'", "'unsafe-inline'"]
    assert csp(pages["/admin/login/"]["headers"])["style-src"] == ["'self'"]
    assert pages["/api/docs/"]["status"] == 200


def test_cookies_are_secure_and_plain_http_is_redirected(production_pages):
    login = production_pages["pages"]["/admin/login/"]
    assert login["status"] == 200
    assert login["cookies"]["csrftoken"]["secure"] is True
    assert production_pages["session_cookie"] == [True, True, "Lax"]
    assert production_pages["plain_http"] == {"status": 301, "location": "https://registry.example.org/admin/login/"}


def test_the_swagger_page_needs_no_inline_script(client):
    page = client.get("/api/docs/").content.decode()
    assert "<script>" not in page  # its initialiser is a separate file the policy allows
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()
