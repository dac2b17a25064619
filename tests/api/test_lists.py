"""Lists: pages (`page_size` up to the cap), filters, ordering, a bounded number of queries
whatever the number of rows, and throttling per token with 429 and Retry-After."""
from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.services import registry_submit
from rules.library_store import draft_create
from rules.models import EvaluationRun
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from tests.factories import (
    ClusterRecordFactory,
    ModelRecordFactory,
    OrganisationRecordFactory,
    api_user,
    document,
    token_client,
)

pytestmark = pytest.mark.django_db


def add_records(start: int, count: int) -> None:
    """`count` more organisations, each with a model over the EO 14110 threshold and a cluster."""
    orgs = [OrganisationRecordFactory(slug=f"bulk-{i}", name=f"Bulk {i}") for i in range(start, start + count)]
    registry_submit(document(
        organisations=orgs,
        models=[ModelRecordFactory(organisation=o["slug"], name="Big", training_compute_ops=2e26) for o in orgs],
        clusters=[ClusterRecordFactory(organisation=o["slug"], name="Hall") for o in orgs],
    ), via="import")


def add_revisions(count: int) -> None:
    for _ in range(count):
        record = ModelRecordFactory(organisation="acme", name="Acme-1", training_tokens=1e12 + _counter())
        registry_submit(document(organisations=[], models=[record]), via="import")


_counter_state = [0]


def _counter() -> int:
    _counter_state[0] += 1
    return _counter_state[0]


# Each step's pair of runs is as of dates later than every earlier step's (a run's changes are
# against the newest earlier as-of): under EO 14110 it lapses, under SB 53 it takes effect.
RUNS_WITH_CHANGES = [
    ("us-eo-14110", date(2024, 1, 1), date(2025, 6, 1)),
    ("us-ca-sb53", date(2025, 12, 31), date(2026, 6, 1)),
]


def add_runs_with_changes(step: int) -> EvaluationRun:
    """Two runs over the registry under one regime: the second finds every big model's status changed."""
    regime, before, after = RUNS_WITH_CHANGES[step]
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=before, regimes=[regime]))
    return run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=after, regimes=[regime]))


def add_drafts(count: int) -> None:
    from django.conf import settings

    text = (settings.REGISTRY_RULE_LIBRARY / "us-ca-sb53" / "2026-01-01.yaml").read_text(encoding="utf-8")
    for _ in range(count):
        draft_create(content=text.replace('id: "2026-01-01"', f'id: "draft-{_counter()}"', 1), origin="test")



def grow(step: int, n: int) -> EvaluationRun:
    """n more of everything a list shows: organisations, models (also acme's), clusters, revisions,
    drafts, determinations, runs and status changes."""
    add_records(start=step * 100, count=n)
    acme = [ModelRecordFactory(organisation="acme", name=f"Acme-bulk-{step}-{i}", training_compute_ops=2e26)
            for i in range(n)]
    registry_submit(document(organisations=[], models=acme), via="import")
    add_revisions(n)
    add_drafts(n)
    for _ in range(n):
        run_create(kind=Trigger.MANUAL, as_of=date(2026, 1, 1), subjects=["model:acme/Acme-1@1"])
    return add_runs_with_changes(step)


LIST_URLS = {
    "organisations": "/api/v1/organisations/",
    "models": "/api/v1/models/",
    "clusters": "/api/v1/clusters/",
    "revisions": "/api/v1/models/{model}/revisions/",
    "determinations": "/api/v1/determinations/",
    "runs": "/api/v1/runs/",
    "run": "/api/v1/runs/{run}/",
    "run changes": "/api/v1/runs/{run}/changes/",
    "accelerators": "/api/v1/accelerators/",
    "regimes": "/api/v1/regimes/",
    "rule versions": "/api/v1/regimes/us-ca-sb53/versions/",
}
# What a role sees more of as the registry grows (a lab sees only its organisation; drafts are the regulator's).
GROWS = {
    "regulator": set(LIST_URLS) - {"accelerators", "regimes"},
    "lab": {"models", "revisions", "determinations", "runs", "run", "run changes"},
}


def reads(captured: CaptureQueriesContext) -> list[dict]:
    """The queries of the request, less the token's once-a-minute `last_used_at` stamp."""
    return [q for q in captured.captured_queries if not q["sql"].startswith('UPDATE "accounts_apitoken"')]


def rows(body: dict) -> int:
    return body["count"] if "count" in body else len(body["changes"])


@pytest.mark.parametrize("role", ["regulator", "lab"])
def test_every_list_makes_the_same_number_of_queries_for_n_and_3n_rows(world, role):
    client = world.client(role)
    measured: list[dict[str, tuple[int, int]]] = []
    for step, n in enumerate((3, 6)):  # 3 more rows, then 6 more: 3N in all
        run = grow(step, n)
        measured.append({})
        for name, url in LIST_URLS.items():
            url = url.format(model=world.acme_model.pk, run=run.pk) + "?page_size=500"
            with CaptureQueriesContext(connection) as captured:
                response = client.get(url)
            assert response.status_code == 200, (url, response.content)
            measured[-1][name] = (len(reads(captured)), rows(response.json()))
    for name in LIST_URLS:
        (queries_n, rows_n), (queries_3n, rows_3n) = measured[0][name], measured[1][name]
        assert (rows_3n > rows_n) == (name in GROWS[role]), (name, rows_n, rows_3n)
        assert queries_3n == queries_n, (name, queries_n, queries_3n)
        assert queries_n <= 10, (name, queries_n)


def test_pages_honour_page_size_up_to_the_cap(world, regulator_api, settings):
    add_records(start=0, count=5)
    first = regulator_api.get("/api/v1/models/?page_size=2").json()
    assert first["count"] == 7 and len(first["results"]) == 2 and first["next"]
    second = regulator_api.get(first["next"]).json()
    assert {m["id"] for m in second["results"]}.isdisjoint({m["id"] for m in first["results"]})
    settings.API_MAX_PAGE_SIZE = 3
    assert len(regulator_api.get("/api/v1/models/?page_size=500").json()["results"]) == 3
    assert regulator_api.get("/api/v1/models/?page=99").status_code == 404


def test_lists_are_filtered_and_ordered(world, regulator_api):
    add_records(start=0, count=3)
    names = [m["ref"] for m in regulator_api.get("/api/v1/models/?organisation=bulk-1").json()["results"]]
    assert names == ["bulk-1/Big@1"]
    ordered = [o["slug"] for o in regulator_api.get("/api/v1/organisations/?ordering=-slug").json()["results"]]
    assert ordered == sorted(ordered, reverse=True)
    by_compute = [m["training_compute_ops"] for m in
                  regulator_api.get("/api/v1/models/?ordering=-training_compute_ops").json()["results"]]
    known = [value for value in by_compute if value is not None]  # where NULLs sort is the database's choice
    assert known == sorted(known, reverse=True) and len(known) == 4
    clusters = regulator_api.get("/api/v1/clusters/?organisation=acme").json()["results"]
    assert [c["name"] for c in clusters] == ["Hall A"]


def test_a_token_over_its_rate_gets_429_with_retry_after(world, settings):
    settings.API_THROTTLE_RATE = "3/min"
    client = token_client(api_user(role="lab", organisation="acme")[1])
    statuses = [client.get("/api/v1/models/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = client.get("/api/v1/models/")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert refused.json()["errors"][0]["field"] is None
    # another token has its own allowance
    assert world.client("lab").get("/api/v1/models/").status_code == 200
