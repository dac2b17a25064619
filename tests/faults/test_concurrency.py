"""Concurrent writers on PostgreSQL: no lost update, no duplicate, every revision numbered in order.

Two races are forced deterministically: one transaction is held open (from inside the submission,
through the `subjects_changed` signal it sends before committing) until PostgreSQL reports the other
waiting on a lock, so the interleaving that used to fail happens every time. Then several labs'
threads submit and revise through the running API at once, and the invariants are checked.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import connection

from registry.models import AIModel, ModelRevision
from registry.services import RegistryValidationError, registry_submit
from registry.signals import subjects_changed
from rules.decision_log import verify_chain
from rules.models import Determination, PendingEvaluation
from tests.factories import ModelRecordFactory, OrganisationRecordFactory, api_user, document
from tests.support.concurrency import DEADLINE_S, in_thread, sessions_waiting_on_a_lock

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: concurrent transactions and row locks")


class HoldFirstCommit:
    """While connected, the first submission to reach its commit waits there until another session is
    blocked on a lock (or `released` is set): the race window, held open on purpose."""

    def __init__(self) -> None:
        self.reached, self.released = threading.Event(), threading.Event()
        self.holder: int | None = None

    def __call__(self, sender: Any, **kwargs: Any) -> None:
        if self.holder is None:
            self.holder = threading.get_ident()
        if threading.get_ident() != self.holder:
            self.released.set()  # the other submission got through to its own commit unblocked
            return
        self.reached.set()
        deadline = time.monotonic() + DEADLINE_S
        while not self.released.is_set() and time.monotonic() < deadline:
            if sessions_waiting_on_a_lock():
                return
            time.sleep(0.02)

    def __enter__(self) -> HoldFirstCommit:
        subjects_changed.connect(self, dispatch_uid="tests.hold_first_commit")
        return self

    def __exit__(self, *exc: Any) -> None:
        subjects_changed.disconnect(dispatch_uid="tests.hold_first_commit")


def race(first: Callable[[], Any], second: Callable[[], Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    with HoldFirstCommit() as hold:
        thread_1, outcome_1 = in_thread(first)
        assert hold.reached.wait(DEADLINE_S), outcome_1
        thread_2, outcome_2 = in_thread(second)
        thread_1.join(DEADLINE_S)
        thread_2.join(DEADLINE_S)
    assert not thread_1.is_alive() and not thread_2.is_alive()
    return outcome_1, outcome_2


@pytest.fixture
def acme(transactional_db):
    registry_submit(document(organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI")]), via="import")


def test_two_submissions_creating_the_same_model_at_once_make_one_model_and_two_revisions(acme):
    def submit(compute: float) -> Callable[[], Any]:
        record = ModelRecordFactory(name="Twin", training_compute_ops=compute)
        return lambda: registry_submit(document(organisations=[], models=[record]), via="import")

    first, second = race(submit(1e25), submit(2e25))
    assert "error" not in first and "error" not in second, (first, second)
    assert (first["result"].created["models"], second["result"].revised["models"]) == (1, 1)
    model = AIModel.objects.get(name="Twin")
    revisions = list(ModelRevision.objects.filter(model=model).order_by("number"))
    assert [r.number for r in revisions] == [1, 2] and model.revision == 2
    assert revisions[1].changed_fields["training_compute_ops"] == [10**25, 2 * 10**25]  # kept exactly
    assert model.training_compute_ops == 2e25


def test_two_revisions_that_would_make_a_lineage_cycle_cannot_both_pass(acme):
    registry_submit(document(organisations=[], models=[ModelRecordFactory(name="A"), ModelRecordFactory(name="B")]),
                    via="import")

    def link(name: str, base: str) -> Callable[[], Any]:
        record = ModelRecordFactory(name=name, base_model=f"acme/{base}@1", derivation="fine_tuning")
        return lambda: registry_submit(document(organisations=[], models=[record]), via="import")

    first, second = race(link("A", "B"), link("B", "A"))
    assert "error" not in first, first
    assert isinstance(second.get("error"), RegistryValidationError), second
    assert "makes a lineage cycle" in str(second["error"])
    a, b = AIModel.objects.get(name="A"), AIModel.objects.get(name="B")
    assert (a.base_model, b.base_model) == (b, None)


def test_concurrent_imports_of_one_model_are_numbered_in_order(acme):
    registry_submit(document(organisations=[], models=[ModelRecordFactory(name="Busy", training_tokens=1e12)]),
                    via="import")
    writers = 8
    barrier = threading.Barrier(writers)

    def revise(n: int) -> Any:
        barrier.wait(DEADLINE_S)
        record = ModelRecordFactory(name="Busy", training_tokens=(n + 2) * 1e12)
        return registry_submit(document(organisations=[], models=[record]), via="import")

    threads = [in_thread(lambda n=n: revise(n)) for n in range(writers)]
    for thread, _ in threads:
        thread.join(DEADLINE_S)
    assert all("error" not in outcome for _, outcome in threads), [o for _, o in threads]
    revisions = list(ModelRevision.objects.filter(model__name="Busy").order_by("number"))
    assert [r.number for r in revisions] == list(range(1, writers + 2))
    for before, after in zip(revisions, revisions[1:], strict=False):
        assert after.changed_fields["training_tokens"] == [before.facts["training_tokens"], after.facts["training_tokens"]]
    assert {r.facts["training_tokens"] for r in revisions[1:]} == {(n + 2) * 1e12 for n in range(writers)}


# --- through the running API --------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class Lab:
    slug: str
    token: str
    base_url: str
    replies: list[Reply] = field(default_factory=list)

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
        url = path if path.startswith("http") else self.base_url + path
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=DEADLINE_S) as response:
                reply = Reply(response.status, dict(response.headers), json.loads(response.read() or b"null"))
        except urllib.error.HTTPError as error:
            reply = Reply(error.code, dict(error.headers), json.loads(error.read() or b"null"))
        self.replies.append(reply)
        return reply


LABS, THREADS_PER_LAB, WRITES_PER_THREAD = 3, 3, 4


@pytest.fixture
def labs(live_server, transactional_db, eager_celery) -> list[Lab]:
    slugs = [f"lab-{n}" for n in range(LABS)]
    registry_submit(document(organisations=[OrganisationRecordFactory(slug=slug, name=f"Lab {slug}") for slug in slugs],
                             models=[ModelRecordFactory(organisation=slug, name="Shared") for slug in slugs]),
                    via="import")
    return [Lab(slug, api_user(role="lab", organisation=slug)[1], live_server.url) for slug in slugs]


def revision_of(etag: str) -> int:
    """The revision an ETag (`"<revision>-<digest>"`) names."""
    return int(etag.strip('"').split("-")[0])


def revise_with_if_match(lab: Lab, url: str, thread: int) -> list[tuple[str, str, int]]:
    """WRITES_PER_THREAD accepted revisions, each re-read and retried after a 412: (If-Match sent, ETag got, note)."""
    accepted = []
    for write in range(WRITES_PER_THREAD):
        note = f"thread {thread} write {write}"
        for _attempt in range(200):
            current = lab.call("GET", url)
            assert current.status == 200, current
            reply = lab.call("PATCH", url, {"notes": note}, {"If-Match": current.headers["ETag"]})
            if reply.status == 200:
                accepted.append((current.headers["ETag"], reply.headers["ETag"], note))
                break
            assert reply.status == 412, reply
        else:
            pytest.fail(f"{lab.slug} thread {thread}: 200 attempts refused with 412")
    return accepted


def test_labs_submitting_and_revising_at_once_lose_nothing_and_duplicate_nothing(labs):
    def lab_work(lab: Lab, thread: int) -> dict[str, Any]:
        created = [lab.call("POST", "/api/v1/models/", {"name": f"Contested-{n}", "version": "1",
                                                         "notes": f"thread {thread}"}) for n in range(2)]
        created.append(lab.call("POST", "/api/v1/models/", {"name": f"Own-{thread}", "version": "1"}))
        shared = lab.call("GET", "/api/v1/models/?name=Shared").body["results"][0]["url"]
        accepted = revise_with_if_match(lab, shared, thread)
        # without If-Match, each thread sets a different fact: a merge under the row lock keeps them all
        blind = lab.call("PATCH", shared, {"modalities": ["text", f"m{thread}"]} if thread == 0 else
                         {"training_compute_ops": 1e20 * (thread + 1)} if thread == 1 else {"source": f"s{thread}"})
        return {"created": created, "accepted": accepted, "blind": blind, "shared": shared}

    with ThreadPoolExecutor(max_workers=LABS * THREADS_PER_LAB) as pool:
        futures = {(lab.slug, t): pool.submit(lab_work, lab, t) for lab in labs for t in range(THREADS_PER_LAB)}
        results = {key: future.result(timeout=DEADLINE_S * 5) for key, future in futures.items()}

    statuses = Counter(reply.status for lab in labs for reply in lab.replies)
    assert not [s for s in statuses if s >= 500], statuses

    for lab in labs:
        mine = {key: value for key, value in results.items() if key[0] == lab.slug}
        # creation: one 201 per contested name, every other attempt a 409; one row, one revision each
        for n in range(2):
            codes = sorted(r["created"][n].status for r in mine.values())
            assert codes == [201] + [409] * (THREADS_PER_LAB - 1), (lab.slug, n, codes)
        for name in [f"Contested-{n}" for n in range(2)] + [f"Own-{t}" for t in range(THREADS_PER_LAB)]:
            model = AIModel.objects.get(organisation__slug=lab.slug, name=name)
            assert list(model.revisions.values_list("number", flat=True)) == [1]

        # revisions: numbered 1..k without gaps; each accepted write follows the one it read
        shared = AIModel.objects.get(organisation__slug=lab.slug, name="Shared")
        revisions = list(shared.revisions.order_by("number"))
        assert [r.number for r in revisions] == list(range(1, len(revisions) + 1))
        accepted = [write for r in mine.values() for write in r["accepted"]]
        blind = [r["blind"] for r in mine.values()]
        assert all(reply.status == 200 for reply in blind), blind
        assert len(revisions) == 1 + len(accepted) + len(blind)
        for sent, got, note in accepted:
            read_revision, new_revision = revision_of(sent), revision_of(got)
            assert new_revision == read_revision + 1, (lab.slug, sent, got)
            assert revisions[new_revision - 1].facts["notes"] == note
        assert len({got for _, got, _ in accepted}) == len(accepted)  # no two writes became one revision

        # the final facts hold the last accepted note and all three blind writes
        final = revisions[-1].facts
        last_note = max(accepted, key=lambda write: revision_of(write[1]))[2]
        assert final["notes"] == last_note
        assert "m0" in final["modalities"] and final["training_compute_ops"] == 2e20 and final["source"] == "s2"
        assert lab.call("GET", results[(lab.slug, 0)]["shared"]).body["notes"] == last_note

    # every submission was evaluated at its latest revision, and the decision log is intact
    assert not PendingEvaluation.objects.exists()
    latest_by_subject: dict[str, int] = defaultdict(int)
    for ref, revision in Determination.objects.filter(subject_kind="model").values_list("subject_ref", "facts_revision"):
        latest_by_subject[ref] = max(latest_by_subject[ref], revision or 0)
    for model in AIModel.objects.select_related("organisation"):
        assert latest_by_subject[model.subject_ref] == model.revision, model.subject_ref
    report = verify_chain()
    assert report.ok, report
