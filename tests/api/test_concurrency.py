"""Two clients at once, on PostgreSQL with real row locks: revisions sent with the same ETag make
one revision and one 412; a POST sent twice at once with one Idempotency-Key creates one record."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connections
from rest_framework.test import APIClient

from registry.models import AIModel
from registry.services import registry_submit
from tests.factories import ModelRecordFactory, OrganisationRecordFactory, api_user, document

pytestmark = [
    pytest.mark.services,
    # decided before the database is set up, so the embedded default is not flushed for nothing
    pytest.mark.skipif("postgresql" not in django_settings.DATABASES["default"]["ENGINE"],
                       reason="needs PostgreSQL: concurrent requests need a database shared by threads, with row locks"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def lab_token(settings) -> str:
    settings.API_THROTTLE_RATE = "100000/min"
    settings.API_WORK_THROTTLE_RATE = "100000/min"
    registry_submit(document(organisations=[OrganisationRecordFactory(slug="acme")],
                             models=[ModelRecordFactory(organisation="acme", name="Contested")]), via="import")
    return api_user(role="lab", organisation="acme")[1]


def at_once(count: int, request: Callable[[APIClient], Any], token: str) -> list[Any]:
    """Sends `count` requests from as many threads, released together; returns their responses."""
    barrier = threading.Barrier(count)
    responses: list[Any] = [None] * count

    def send(index: int) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        try:
            barrier.wait(timeout=30)
            responses[index] = request(client)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return responses


def test_revisions_sent_at_once_with_the_same_etag_make_one_revision_and_one_412(lab_token):
    model = AIModel.objects.get(name="Contested")
    url = f"/api/v1/models/{model.pk}/"
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {lab_token}")
    etag = reader.get(url)["ETag"]
    bodies = iter([{"training_tokens": "2e13"}, {"training_tokens": "3e13"}])
    lock = threading.Lock()

    def revise(client: APIClient) -> Any:
        with lock:
            body = next(bodies)
        return client.patch(url, body, format="json", HTTP_IF_MATCH=etag)

    responses = at_once(2, revise, lab_token)
    assert sorted(r.status_code for r in responses) == [200, 412]
    assert model.revisions.count() == 2
    winner = next(r for r in responses if r.status_code == 200).json()
    assert AIModel.objects.get(pk=model.pk).training_tokens == winner["training_tokens"]


def test_a_post_sent_twice_at_once_with_one_key_creates_one_record(lab_token):
    body = {"name": "Twice", "version": "1", "training_compute_ops": "1e25"}

    def create(client: APIClient) -> Any:
        return client.post("/api/v1/models/", body, format="json", HTTP_IDEMPOTENCY_KEY="one-key")

    responses = at_once(2, create, lab_token)
    assert [r.status_code for r in responses] == [201, 201]
    assert responses[0].json() == responses[1].json()
    assert AIModel.objects.filter(name="Twice").count() == 1
