"""What one submission costs the database, and that the answer built from what it wrote is the record
as it is read back afterwards."""
from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditEvent
from registry.models import AcceleratorGroup, AIModel, Cluster, NetworkLink
from registry.signals import subjects_changed
from rules.models import PendingEvaluation

pytestmark = pytest.mark.django_db

MODEL = {"name": "Cost-1", "version": "1", "parameter_count": 7e10, "training_tokens": "1.5e13",
         "training_compute_ops": 3.8e25, "general_purpose": True, "modalities": ["text"], "released_on": "2026-01-15"}
CLUSTER = {"name": "Hall C", "used_for_ai_training": True,
           "groups": [{"name": "a", "datacenter": "dc-1", "accelerator": "nvidia-h100-sxm", "accelerator_count": 1024},
                      {"name": "b", "datacenter": "dc-2", "accelerator": None, "accelerator_count": 64,
                       "peak_ops_per_second": {"dense_max": 1e15}}],
           "links": [{"from": "a", "to": "b", "gbps": 400}]}
SAVEPOINTS = re.compile(r"^(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)\b")


def statements(captured: CaptureQueriesContext) -> list[str]:
    """The request's SQL, less savepoints (the test's own transaction turns a commit into one) and
    the token's once-a-minute `last_used_at` stamp."""
    return [q["sql"] for q in captured.captured_queries
            if q["sql"] is not None and not SAVEPOINTS.match(q["sql"]) and not q["sql"].startswith('UPDATE "accounts_apitoken"')]


def tables(sql: list[str], verb: str) -> list[str]:
    return [re.search(r'(?:FROM|INTO) "(\w+)"', s).group(1) for s in sql if s.startswith(verb)]


def test_a_new_model_costs_two_reads_and_one_statement_writing_four_rows(lab, django_capture_on_commit_callbacks):
    """The token's read (with the lab's membership and organisation); one read of the organisation's
    models, by its id: those whose name reads like the new one (by the indexed skeleton) and, in the
    same statement, how many it has (REGISTRY_MAX_MODELS_PER_ORGANISATION, the count the database
    keeps: `registry.models.OrganisationModelCount`); then the model, its first
    revision, the outbox row of its evaluation and the audit event: on PostgreSQL one statement
    (`registry.batch`), elsewhere an INSERT each."""
    with django_capture_on_commit_callbacks() as callbacks, CaptureQueriesContext(connection) as captured:
        response = lab.post("/api/v1/models/", MODEL, format="json")
    assert response.status_code == 201, response.content
    sql = statements(captured)
    assert tables(sql, "SELECT") == ["accounts_apitoken", "registry_aimodel"], sql
    if connection.vendor == "postgresql":
        assert len(sql) == 3 and sql[2].startswith("WITH"), sql
        inserted = re.findall(r'INSERT INTO "(\w+)"', sql[2])
    else:
        assert len(sql) == 6, sql
        inserted = tables(sql, "INSERT")
    assert sorted(inserted) == ["accounts_auditevent", "registry_aimodel", "registry_modelrevision",
                                "rules_pendingevaluation"], sql
    # the organisation's row came with the token: its models are read by its id, without a join, and
    # their number is the one the database keeps, looked up, not counted
    assert '"registry_organisation"' not in sql[1] and '"registry_organisationmodelcount"' in sql[1], sql[1]
    assert "COUNT(" not in sql[1].upper(), sql[1]
    assert len(callbacks) == 1  # the evaluation, enqueued once the submission is committed
    ref = "model:acme/Cost-1@1"
    model = AIModel.objects.get(stored_subject_ref=ref)
    assert PendingEvaluation.objects.get(subject_ref=ref).record_id == model.pk
    assert AuditEvent.objects.filter(subject=ref, action="record.created").count() == 1
    assert [r.number for r in model.revisions.all()] == [1]


def test_a_fine_tune_is_checked_under_the_lineage_lock_and_still_written_in_one_statement(lab, world):
    """A model with a base model is checked again under the lineage lock (`registry.services`), which
    needs a transaction: the batch is written inside it."""
    body = {**MODEL, "name": "Cost-FT", "base_model": "acme/Acme-1@1", "derivation": "fine_tuning"}
    with CaptureQueriesContext(connection) as captured:
        response = lab.post("/api/v1/models/", body, format="json")
    assert response.status_code == 201, response.content
    sql = statements(captured)
    writes = [s for s in sql if "INSERT INTO" in s]
    assert AIModel.objects.get(name="Cost-FT").base_model == world.acme_model
    if connection.vendor == "postgresql":
        assert any("pg_advisory_xact_lock" in s for s in sql), sql
        assert len(writes) == 1 and writes[0].count("INSERT INTO") == 4, writes
    else:
        assert len(writes) == 4, writes


@pytest.mark.django_db(transaction=True)
def test_a_new_model_alone_is_written_outside_a_transaction_on_postgresql_and_a_fine_tune_inside_one(lab):
    """What the receivers see of the connection as the submission writes: on PostgreSQL the new model's
    statement is its own transaction (no BEGIN and COMMIT round trips); a fine-tune's lineage lock, and
    the rows written one by one elsewhere, need one."""
    seen: list[bool] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append(connection.in_atomic_block)

    subjects_changed.connect(receiver, dispatch_uid="tests.atomic_seen")
    try:
        assert lab.post("/api/v1/models/", MODEL, format="json").status_code == 201
        body = {**MODEL, "name": "Cost-FT", "base_model": "acme/Cost-1@1", "derivation": "fine_tuning"}
        assert lab.post("/api/v1/models/", body, format="json").status_code == 201
    finally:
        subjects_changed.disconnect(dispatch_uid="tests.atomic_seen")
    assert seen == [connection.vendor != "postgresql", True]
    assert AIModel.objects.filter(name__in=["Cost-1", "Cost-FT"]).count() == 2


def test_a_new_cluster_writes_its_groups_and_links_in_one_statement_each(lab):
    with CaptureQueriesContext(connection) as captured:
        response = lab.post("/api/v1/clusters/", CLUSTER, format="json")
    assert response.status_code == 201, response.content
    sql = statements(captured)
    assert not [s for s in sql if s.startswith(("DELETE", "UPDATE"))], sql
    assert tables(sql, "INSERT").count("registry_acceleratorgroup") == 1, sql
    assert tables(sql, "INSERT").count("registry_networklink") == 1, sql
    cluster = Cluster.objects.get(name="Hall C")
    groups = {g.name: g for g in AcceleratorGroup.objects.filter(cluster=cluster)}
    assert set(groups) == {"a", "b"} and groups["b"].peak_dense_max_ops_per_second == 1e15
    link = NetworkLink.objects.get(cluster=cluster)
    assert (link.from_group, link.to_group, link.gbps) == (groups["a"], groups["b"], 400)


@pytest.mark.parametrize(("url", "body"), [("/api/v1/models/", MODEL), ("/api/v1/clusters/", CLUSTER)])
def test_the_answer_to_a_submission_is_the_record_as_read_back(lab, url, body):
    created = lab.post(url, body, format="json")
    assert created.status_code == 201, created.content
    read = lab.get(created["Location"])
    assert read.status_code == 200
    assert created.json() == read.json()
    assert created["ETag"] == read["ETag"]
    revisions = lab.get(created.json()["revisions_url"])
    assert revisions.status_code == 200 and [r["number"] for r in revisions.json()["results"]] == [1]


@pytest.mark.parametrize("url", ["/api/v1/organisations/acme/", "model", "cluster"])
def test_the_answer_to_a_revision_is_the_record_as_read_back(world, lab, url):
    url = {"model": f"/api/v1/models/{world.acme_model.pk}/",
           "cluster": f"/api/v1/clusters/{world.acme_cluster.pk}/"}.get(url, url)
    revised = lab.patch(url, {"notes": "revised"} if "organisations" not in url else {"country": "GB"}, format="json")
    assert revised.status_code == 200, revised.content
    read = lab.get(url)
    assert (revised.json(), revised["ETag"]) == (read.json(), read["ETag"])
    assert revised.json()["revision"] == 2


def test_a_model_that_exists_is_a_409_and_nothing_is_written(world, lab):
    before = (AIModel.objects.count(), PendingEvaluation.objects.count(), AuditEvent.objects.count())
    response = lab.post("/api/v1/models/", {"name": "Acme-1", "version": "1", "training_tokens": 1e13}, format="json")
    assert response.status_code == 409
    assert f"/api/v1/models/{world.acme_model.pk}/" in response.json()["detail"]
    assert (AIModel.objects.count(), PendingEvaluation.objects.count(), AuditEvent.objects.count()) == before


def test_a_model_that_exists_is_a_409_even_with_a_bad_field(world, lab):
    response = lab.post("/api/v1/models/", {"name": "Acme-1", "version": "1", "training_tokens": -1}, format="json")
    assert response.status_code == 409


def test_a_model_that_exists_is_a_409_with_an_idempotency_key_too(world, lab):
    response = lab.post("/api/v1/models/", {"name": "Acme-1", "version": "1"}, format="json",
                        HTTP_IDEMPOTENCY_KEY="exists-1")
    assert response.status_code == 409
    again = lab.post("/api/v1/models/", {"name": "Acme-2", "version": "1"}, format="json",
                     HTTP_IDEMPOTENCY_KEY="exists-1")
    assert again.status_code == 201  # the refused request kept nothing, not even its key


def test_a_lab_member_signed_in_with_a_session_submits_for_its_organisation(world):
    from rest_framework.test import APIClient

    from tests.factories import api_user

    user, _key = api_user(role="lab", organisation="acme")
    client = APIClient()
    client.force_login(user)
    response = client.post("/api/v1/models/", {"name": "Session-1", "version": "1"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["organisation"] == "acme"
    assert client.post("/api/v1/models/", {"organisation": "rival", "name": "Session-2", "version": "1"},
                       format="json").status_code == 400


def _values(obj) -> dict:
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}


@pytest.mark.parametrize("role", ["lab", "regulator", "no_role"])
def test_a_token_is_read_in_one_query_with_what_the_orm_would_read(world, role):
    """The columns a request needs come with the token; the others (the password hash among them) are
    deferred, read on use as `.only()` leaves them, with the values the ORM reads."""
    from accounts.models import ApiToken, Membership
    from accounts.selectors import TOKEN_QUERY_READS, access_of, token_authenticate

    token_authenticate(key=world.tokens[role])  # the once-a-minute last_used_at stamp, out of the way
    with CaptureQueriesContext(connection) as captured:
        token = token_authenticate(key=world.tokens[role])
        access = access_of(token.user)
        assert token.user.is_active and token.user.get_username()
    assert len(captured.captured_queries) == 1, captured.captured_queries
    assert '"password"' not in captured.captured_queries[0]["sql"] and '"email"' not in captured.captured_queries[0]["sql"]
    assert "password" in token.user.get_deferred_fields() - set(TOKEN_QUERY_READS["user"])
    assert not set(TOKEN_QUERY_READS["user"]) & token.user.get_deferred_fields()
    expected = ApiToken.objects.select_related("user", "user__membership__organisation").get(pk=token.pk)
    assert _values(token) == _values(expected) and _values(token.user) == _values(expected.user)
    try:
        membership = expected.user.membership
    except Membership.DoesNotExist:
        membership = None
    assert access == access_of(expected.user)
    if membership is None:
        with pytest.raises(Membership.DoesNotExist):
            token.user.membership  # noqa: B018 (cached as absent)
    else:
        assert _values(token.user.membership) == _values(membership)
        if membership.organisation is not None:
            assert _values(token.user.membership.organisation) == _values(membership.organisation)


def test_a_revoked_or_wrong_token_is_refused(world):
    from accounts.models import ApiToken
    from accounts.selectors import token_authenticate

    key = world.tokens["lab"]
    assert token_authenticate(key=key[:-1] + ("a" if key[-1] != "a" else "b")) is None
    ApiToken.objects.filter(key_prefix=key[:8]).update(revoked_at="2026-01-01T00:00:00Z")
    assert token_authenticate(key=key) is None
    assert world.client("lab").get("/api/v1/models/").status_code == 401
