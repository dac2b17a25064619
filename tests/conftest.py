"""Fixtures shared by the whole suite."""
from __future__ import annotations

import pytest


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
