"""Logging in to the workspace is throttled (django-axes): after LOGIN_FAILURE_LIMIT bad passwords for
one username from one address, even the right password is refused for the cool-off. API tokens are
kept only as SHA-256 digests, shown once, and stop working the moment they are revoked."""
from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from accounts.models import ApiToken, AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"
LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def staff(db):
    user = UserFactory(username="clerk", is_staff=True, is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def attempt(password: str, *, username: str = "clerk", address: str = "203.0.113.7") -> int:
    client = Client(REMOTE_ADDR=address)
    return client.post(LOGIN, {"username": username, "password": password}).status_code


def test_the_right_password_logs_in(staff):
    assert attempt(PASSWORD) == 302


def test_after_the_limit_of_bad_passwords_even_the_right_one_is_refused(staff):
    limit = settings.AXES_FAILURE_LIMIT
    assert limit >= 3
    statuses = [attempt(f"wrong-{n}") for n in range(limit)]
    assert statuses[: limit - 1] == [200] * (limit - 1)  # the form again, with its error
    assert statuses[-1] == 429
    assert attempt(PASSWORD) == 429
    # the same user from another address, and another user from this one, are not locked out
    assert attempt(PASSWORD, address="198.51.100.9") == 302
    other = UserFactory(username="other", is_staff=True)
    other.set_password(PASSWORD)
    other.save()
    assert attempt(PASSWORD, username="other") == 302


def test_a_success_before_the_limit_starts_the_count_again(staff):
    limit = settings.AXES_FAILURE_LIMIT
    for n in range(limit - 1):
        assert attempt(f"wrong-{n}") == 200
    assert attempt(PASSWORD) == 302
    for n in range(limit - 1):
        assert attempt(f"again-{n}") == 200


def test_a_lockout_is_lifted_by_axes_reset(staff):
    for n in range(settings.AXES_FAILURE_LIMIT):
        attempt(f"wrong-{n}")
    assert attempt(PASSWORD) == 429
    call_command("axes_reset_username", "clerk", stdout=StringIO())
    assert attempt(PASSWORD) == 302


def test_a_nul_byte_in_the_login_form_is_refused_without_error(staff):
    assert attempt("x", username="clerk\x00") == 200  # the form again, naming the problem


def test_a_token_is_stored_only_as_its_digest_and_shown_once(acme):
    out = StringIO()
    call_command("create_api_user", "--username", "carol", "--role", "lab", "--organisation", "acme", stdout=out)
    (token,) = ApiToken.objects.filter(user__username="carol")
    key = out.getvalue().strip().splitlines()[-1]  # shown once, on the last line
    assert len(key) >= 40 and key.startswith(token.key_prefix)
    assert token.key_sha256 == hashlib.sha256(key.encode()).hexdigest()
    stored = [str(value) for value in ApiToken.objects.filter(pk=token.pk).values().get().values()]
    stored += [str(event.detail) for event in AuditEvent.objects.all()]
    assert not any(key in value for value in stored), "the token itself is stored somewhere"

    client = Client()
    assert client.get("/api/v1/models/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    wrong = key[:-1] + ("y" if key.endswith("x") else "x")  # one character off, whatever the last one was
    assert client.get("/api/v1/models/", HTTP_AUTHORIZATION=f"Bearer {wrong}").status_code == 401


def test_a_revoked_token_stops_working_at_once(acme):
    out = StringIO()
    call_command("create_api_user", "--username", "dave", "--role", "lab", "--organisation", "acme", stdout=out)
    token = ApiToken.objects.get(user__username="dave")
    key = out.getvalue().strip().splitlines()[-1]
    client = Client()
    assert client.get("/api/v1/models/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    call_command("revoke_api_token", f"--prefix={token.key_prefix}", stdout=StringIO())
    response = client.get("/api/v1/models/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]
    assert ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=False).exists()  # kept, marked revoked
