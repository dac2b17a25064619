"""`Idempotency-Key` on POST (a retry returns the first answer and creates nothing) and `If-Match`
on revision (a stale ETag is a 412 and writes nothing)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from api.models import IdempotencyRecord
from api.tasks import purge_idempotency_records
from registry.models import AIModel, ModelRevision
from rules.models import EvaluationRun
from tests.api.conftest import AS_OF, errors_by_field

pytestmark = pytest.mark.django_db

BODY = {"name": "Retried", "version": "1", "training_compute_ops": "3e25"}


def test_a_retried_post_returns_the_first_answer_and_creates_nothing(lab):
    first = lab.post("/api/v1/models/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="create-retried-1")
    again = lab.post("/api/v1/models/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="create-retried-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["ETag"] == first["ETag"] and again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true"
    assert AIModel.objects.filter(name="Retried").count() == 1
    assert ModelRevision.objects.filter(model__name="Retried").count() == 1


def test_without_a_key_a_second_post_of_the_same_record_is_a_409(lab):
    assert lab.post("/api/v1/models/", BODY, format="json").status_code == 201
    assert lab.post("/api/v1/models/", BODY, format="json").status_code == 409


def test_the_same_key_with_a_different_body_is_a_409_and_writes_nothing(lab):
    lab.post("/api/v1/models/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    response = lab.post("/api/v1/models/", {**BODY, "name": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert response.status_code == 409
    assert "was used for a different request" in response.json()["detail"]
    assert not AIModel.objects.filter(name="Other").exists()


def test_keys_belong_to_their_user(world, lab, rival):
    assert lab.post("/api/v1/models/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="shared").status_code == 201
    response = rival.post("/api/v1/models/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert response.status_code == 201
    assert response.json()["organisation"] == "rival"


def test_a_refused_request_is_not_remembered(lab):
    bad = lab.post("/api/v1/models/", {**BODY, "training_tokens": -1}, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    assert bad.status_code == 400
    assert not IdempotencyRecord.objects.filter(key="k-3").exists()
    fixed = lab.post("/api/v1/models/", {**BODY, "training_tokens": -1}, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    assert fixed.status_code == 400


def test_an_evaluation_retried_creates_one_run(world, lab, eager_celery, django_capture_on_commit_callbacks):
    body = {"subject": "model:acme/Acme-1@1", "as_of": AS_OF.isoformat()}
    before = EvaluationRun.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        first = lab.post("/api/v1/evaluations/", body, format="json", HTTP_IDEMPOTENCY_KEY="eval-1")
    with django_capture_on_commit_callbacks(execute=True):
        again = lab.post("/api/v1/evaluations/", body, format="json", HTTP_IDEMPOTENCY_KEY="eval-1")
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["id"] == first.json()["id"]
    assert EvaluationRun.objects.count() == before + 1


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve", "tab\there"])
def test_a_malformed_key_is_a_400(lab, key):
    response = lab.post("/api/v1/models/", BODY, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert "Idempotency-Key" in errors_by_field(response)
    assert not AIModel.objects.filter(name="Retried").exists()


def test_a_revision_with_the_current_etag_succeeds_and_a_stale_one_is_a_412(world, lab):
    url = f"/api/v1/models/{world.acme_model.pk}/"
    etag = lab.get(url)["ETag"]
    first = lab.patch(url, {"training_tokens": "2e13"}, format="json", HTTP_IF_MATCH=etag)
    assert first.status_code == 200
    assert first["ETag"] != etag
    stale = lab.patch(url, {"training_tokens": "3e13"}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    assert first["ETag"] in stale.json()["detail"]
    assert world.acme_model.revisions.count() == 2
    assert AIModel.objects.get(pk=world.acme_model.pk).training_tokens == 2e13


def test_if_match_accepts_a_star_a_list_and_a_weak_tag(world, lab):
    url = f"/api/v1/clusters/{world.acme_cluster.pk}/"
    etag = lab.get(url)["ETag"]
    assert lab.patch(url, {"notes": "one"}, format="json", HTTP_IF_MATCH="*").status_code == 200
    etag = lab.get(url)["ETag"]
    assert lab.patch(url, {"notes": "two"}, format="json", HTTP_IF_MATCH=f'"0-nope", {etag}').status_code == 200
    etag = lab.get(url)["ETag"]
    assert lab.put(url, {"groups": [{"name": "a", "datacenter": "dc", "accelerator_count": 8,
                                     "accelerator": "nvidia-h100-sxm"}]},
                   format="json", HTTP_IF_MATCH=f"W/{etag}").status_code == 200


def test_the_etag_names_the_revision(world, lab):
    response = lab.get("/api/v1/organisations/acme/")
    assert response["ETag"].startswith('"1-')
    assert response.json()["etag"] == response["ETag"]


def _age(key: str, hours: float) -> None:
    IdempotencyRecord.objects.filter(key=key).update(created_at=timezone.now() - timedelta(hours=hours))


def test_a_key_past_its_time_is_a_new_key(lab, settings):
    settings.API_IDEMPOTENCY_KEY_TTL_HOURS = 24
    assert lab.post("/api/v1/models/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="old-key").status_code == 201
    _age("old-key", 23)
    still = lab.post("/api/v1/models/", {**BODY, "name": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY="old-key")
    assert still.status_code == 409  # within its time the key is still bound to the first request
    _age("old-key", 25)
    fresh = lab.post("/api/v1/models/", {**BODY, "name": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY="old-key")
    assert fresh.status_code == 201 and "Idempotent-Replayed" not in fresh
    assert AIModel.objects.filter(name="Other").count() == 1
    record = IdempotencyRecord.objects.get(key="old-key")
    assert record.created_at > timezone.now() - timedelta(hours=1)  # the old record made way for the new one


def test_the_daily_purge_removes_only_records_past_their_time(lab, settings):
    settings.API_IDEMPOTENCY_KEY_TTL_HOURS = 24
    for key in ("keep", "drop-1", "drop-2"):
        assert lab.post("/api/v1/models/", {**BODY, "name": key}, format="json",
                        HTTP_IDEMPOTENCY_KEY=key).status_code == 201
    _age("drop-1", 25)
    _age("drop-2", 24 * 30)
    assert purge_idempotency_records.apply().get() == 2
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["keep"]
    replay = lab.post("/api/v1/models/", {**BODY, "name": "keep"}, format="json", HTTP_IDEMPOTENCY_KEY="keep")
    assert replay["Idempotent-Replayed"] == "true"


def test_the_purge_is_on_the_beat_schedule():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="api.tasks.purge_idempotency_records")
    assert task.enabled and task.crontab is not None
