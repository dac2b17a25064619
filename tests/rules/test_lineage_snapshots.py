"""Lineage in the decision log: a model's snapshot refers to its base's by hash, so a deep chain
stores snapshot text linear in its depth, reads back as the engine saw it, and verification still
covers every ancestor; verification reads the log in bounded batches."""
from __future__ import annotations

import io
import json
import tracemalloc
from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from registry.services import registry_submit
from rules import decision_log, snapshots
from rules.decision_log import canonical, verify_chain
from rules.models import Determination, FactsSnapshot
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from rules.snapshots import BASE, LINEAGE
from rules.subjects import snapshots_for
from tests.factories import ModelRecordFactory, OrganisationRecordFactory, document
from tests.rules.conftest import as_stored

# on PostgreSQL a trigger refuses to alter a stored snapshot (tests/rules/test_facts_packed.py)
sqlite_only = pytest.mark.skipif("connection.vendor != 'sqlite'", reason="raw SQL tampering is possible on SQLite")

pytestmark = pytest.mark.django_db

AS_OF = date(2026, 3, 1)


ACCELERATORS = ["nvidia-h100-sxm", "nvidia-a100-sxm4", "nvidia-h200-sxm", "google-tpu-v5p"]


def submit_chain(depth: int, *, org: str = "deep", hardware: bool = False) -> list[str]:
    """A fine-tune chain `depth` models deep in one organisation; returns the model refs, base first.
    With `hardware`, the models are trained on a few accelerators of the catalog, in turn."""
    records, refs = [], []
    for index in range(depth):
        record = ModelRecordFactory(organisation=org, name=f"Tune-{index}", training_compute_ops=1e22 * (index + 1))
        if hardware and index % 3:
            record["training_hardware"] = {"accelerator": ACCELERATORS[index % 4], "accelerator_count": 64,
                                           "training_hours": 10, "utilization": 0.4}
        if refs:
            record["base_model"] = refs[-1][len("model:"):]
            record["fine_tuning_compute_ops"] = 1e21
        records.append(record)
        refs.append(f"model:{org}/Tune-{index}@1")
    registry_submit(document(organisations=[OrganisationRecordFactory(slug=org, name=org.title())], models=records),
                    via="import")
    return refs


def record(refs: list[str], *, regimes=("eu-ai-act",)) -> None:
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OF, subjects=refs, regimes=list(regimes)))


def stored_bytes() -> int:
    """The snapshots' texts, unpacked: what linear in the depth is about, whatever packing saves."""
    return sum(len(text.encode()) for text in snapshots.texts(FactsSnapshot.objects.values_list("sha256", flat=True)).values())


def stored_texts() -> dict[str, str]:
    return snapshots.texts(FactsSnapshot.objects.values_list("sha256", flat=True))


def test_a_30_deep_chain_stores_snapshot_text_linear_in_its_depth():
    refs = submit_chain(30)
    record([*refs, "organisation:deep"])
    one_model = len(canonical(snapshots_for([refs[0]])[0].snapshot["model"]))
    # each model is stored about three times (its own snapshot, its lineage node, the organisation's
    # entry) plus hashes; copied lineages would store about depth² / 2 = 450 model facts
    assert stored_bytes() < 30 * 6 * one_model
    deepest = Determination.objects.get(subject_ref=refs[-1])
    assert len(deepest.facts.content) < 3 * one_model + 1000
    assert json.loads(deepest.facts.content)[BASE]


def test_a_stored_snapshot_reads_back_as_the_engine_was_given_it():
    refs = submit_chain(12, hardware=True)
    record([*refs, "organisation:deep"])
    assert len(snapshots_for([refs[-1]])[0].snapshot["accelerators"]) == 4
    for ref in (refs[-1], refs[5], refs[0], "organisation:deep"):
        (built,) = snapshots_for([ref])
        stored = Determination.objects.get(subject_ref=ref).facts
        assert stored.data() == json.loads(canonical(built.snapshot))
    organisation = Determination.objects.get(subject_ref="organisation:deep").facts.data()
    assert [len(entry["lineage"]) for entry in organisation["models"]] == list(range(12))


def test_the_recorded_quantities_rest_on_the_whole_lineage():
    refs = submit_chain(30)
    record(refs[-1:])
    payload = Determination.objects.get(subject_ref=refs[-1]).data()
    cumulative = payload["quantities"]["cumulative_training_compute_ops"]["value"]
    assert cumulative == pytest.approx(1e22 + 29 * 1e21)


@sqlite_only
def test_an_altered_lineage_snapshot_makes_verify_log_name_the_first_row_resting_on_it():
    refs = submit_chain(6)
    record(refs[:2])  # rows 1-2: nothing refers to the node of Tune-3 yet
    record(refs[2:])
    assert verify_chain().ok
    node, text = next((sha, text) for sha, text in stored_texts().items()
                      if json.loads(text).get("kind") == LINEAGE and json.loads(text)["model"]["name"] == "Tune-3")
    first_user = Determination.objects.filter(subject_ref__in=refs[4:]).order_by("sequence").first().sequence
    with connection.cursor() as cursor:
        cursor.execute("UPDATE rules_factssnapshot SET facts = %s, packed = NULL, dictionary_sha256 = NULL "
                       "WHERE sha256 = %s", [text.replace("Tune-3", "Tune-Z"), as_stored(node)])
        assert cursor.rowcount == 1
    with pytest.raises(CommandError) as excinfo:
        call_command("verify_log", "--no-progress", stdout=io.StringIO(), stderr=io.StringIO())
    assert excinfo.value.returncode != 0
    assert f"broken at row {first_user}" in str(excinfo.value) and "lineage snapshot" in str(excinfo.value)


@sqlite_only
def test_a_missing_lineage_snapshot_breaks_the_chain_at_the_first_row_resting_on_it():
    refs = submit_chain(3)
    record(refs)
    node = next(sha for sha, text in stored_texts().items()
                if json.loads(text).get("kind") == LINEAGE and json.loads(text)["model"]["name"] == "Tune-0")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE rules_factssnapshot SET sha256 = %s WHERE sha256 = %s", [as_stored("f" * 64), as_stored(node)])
    report = verify_chain()
    assert not report.ok and report.broken_at == Determination.objects.get(subject_ref=refs[1]).sequence


def test_verify_log_reads_the_log_and_the_snapshots_in_bounded_batches(monkeypatch):
    """Memory flat in the size of the log: rows are streamed a batch at a time, and the snapshots
    each batch needs are fetched for that batch only, whatever the log's length."""
    refs = submit_chain(8)
    for day in range(1, 6):
        run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=date(2026, 3, day), subjects=refs,
                                      regimes=["eu-ai-act"], confirms=False))  # a row each time
    total = Determination.objects.count()
    batches: list[int] = []
    checked_sizes: list[int] = []
    original = decision_log._check_snapshots

    def spy(wanted, checked, dictionaries_checked):
        wanted = set(wanted)
        batches.append(len(wanted))
        original(wanted, checked, dictionaries_checked)
        checked_sizes.append(len(checked))

    monkeypatch.setattr(decision_log, "_check_snapshots", spy)
    monkeypatch.setattr(decision_log, "CHECKED_SNAPSHOTS_KEPT", 10)
    report = verify_chain(batch=7)
    assert report.ok and report.checked == total == 40
    assert len(batches) == total // 7 + 1  # each full batch, then what is left
    assert max(batches) <= 7
    # the checked hashes are forgotten past the limit: at most one batch's snapshots and their nodes beyond it
    assert max(checked_sizes) <= 10 + 7 * 8


def _verify_peak_bytes(batch: int) -> int:
    tracemalloc.start()
    try:
        assert verify_chain(batch=batch).ok
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_verify_log_memory_does_not_grow_with_the_log():
    """The peak memory of verifying a log four times as long stays about the same (a ratio, not a time)."""
    refs = submit_chain(10)

    def evaluate(days):
        for day in days:
            run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=date(2026, 1, day), subjects=refs,
                                          regimes=["eu-ai-act", "us-ca-sb53"], confirms=False))

    evaluate(range(1, 4))
    _verify_peak_bytes(batch=20)  # warms Django's caches, which the first call fills
    short = _verify_peak_bytes(batch=20)
    rows = Determination.objects.count()
    evaluate(range(4, 13))
    assert Determination.objects.count() == 4 * rows
    long = _verify_peak_bytes(batch=20)
    assert long < 1.5 * short, (short, long)


def test_a_snapshot_stored_whole_before_lineage_was_referenced_still_reads_and_verifies():
    refs = submit_chain(4)
    text = canonical(snapshots_for([refs[-1]])[0].snapshot)  # as rows written before stored it
    stored = FactsSnapshot.objects.create(sha256=decision_log.sha256_text(text), facts=text)
    assert len(stored.data()["lineage"]) == 3 and stored.data() == json.loads(text)
    checked: dict[str, bool] = {}
    decision_log._check_snapshots([stored.sha256], checked)
    assert checked == {stored.sha256: True}
