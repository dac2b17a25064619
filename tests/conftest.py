"""Fixtures shared by the whole suite."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hasher():
    """Passwords hashed with MD5 in tests only: the production hasher's deliberate slowness (hundreds of
    milliseconds a password) buys nothing here. Set through override_settings so Django's cached list of
    hashers is rebuilt."""
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture
def regulator(db, django_user_model):
    return django_user_model.objects.create_superuser("regulator", "regulator@example.org", "a-long-test-password")


@pytest.fixture
def admin_client_logged_in(client, regulator):
    client.force_login(regulator)
    return client


@pytest.fixture(autouse=True)
def _plain_http_test_client(settings):
    """The suite runs with production settings (DEBUG off); its test client speaks plain HTTP."""
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture(autouse=True)
def _generous_api_throttle(settings):
    """Throttling has its own tests, which set their own rate; elsewhere no test should meet the limit."""
    settings.API_THROTTLE_RATE = "100000/min"
    settings.API_WORK_THROTTLE_RATE = "100000/min"
    settings.REPORT_MAX_PENDING = 1000


@pytest.fixture(autouse=True)
def _no_outbox_evaluation_queued():
    """No test starts with the flag of an evaluation of the outbox queued by an earlier one (it lives
    in Redis, the `outbox` cache, when the suite runs against it; no worker of the suite clears it)."""
    from django.core.cache import caches

    from rules.receivers import OUTBOX_EVALUATION_QUEUED

    caches["outbox"].delete(OUTBOX_EVALUATION_QUEUED)
    yield


@pytest.fixture(autouse=True)
def _celery_joins_allowed_again():
    """Celery marks the process while an eager task runs (`denied_join_result`, a global saved and put
    back around each task): two tasks run at once in the live server's threads can put it back in the
    wrong order and leave it set (`tests/faults/test_concurrency.py`'s labs), after which every later
    test's `result.get()` in this process is refused. Each test starts with it as a fresh process has it."""
    yield
    from celery.result import _set_task_join_will_block

    _set_task_join_will_block(False)


@pytest.fixture(scope="session")
def _plain_http_live_server_settings():
    """The live server's middleware reads SECURE_SSL_REDIRECT once, when it starts (per test is too late)."""
    from django.conf import settings as django_settings

    saved = django_settings.SECURE_SSL_REDIRECT
    django_settings.SECURE_SSL_REDIRECT = False
    yield
    django_settings.SECURE_SSL_REDIRECT = saved


@pytest.fixture(scope="session")
def live_server(_plain_http_live_server_settings, live_server):
    """pytest-django's live server (one per session, whichever test starts it), over plain HTTP."""
    return live_server


@pytest.fixture
def eager_celery():
    """Celery tasks run in this process, whatever broker the environment names."""
    from config.celery import app as celery_app

    saved = {key: celery_app.conf[key] for key in ("task_always_eager", "task_eager_propagates")}
    celery_app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield celery_app
    celery_app.conf.update(saved)


@pytest.fixture
def limits(settings):
    """The registry's limits made small: lineages at most 3 base models deep, 5 models an organisation."""
    settings.REGISTRY_MAX_LINEAGE_DEPTH = 3
    settings.REGISTRY_MAX_MODELS_PER_ORGANISATION = 5
    return settings
