"""The bulk path (chunks, COPY on PostgreSQL, payloads serialized before the log is locked) makes
the same determinations as evaluating each subject alone with the engine, and keeps the chain."""
from __future__ import annotations

from datetime import date

import pytest
from django.db import transaction

from bench.synthetic import document, write_registry
from registry.services import registry_export, registry_submit
from rules import decision_log, services
from rules.decision_log import canonical, payload_of, verify_chain
from rules.engine import evaluate
from rules.library_store import published_library
from rules.models import Determination, FactsSnapshot, RuleVersion, StatusChange
from rules.models.runs import RunKind
from rules.services import run_create, run_execute_inline
from rules.subjects import snapshots_for
from tests.factories import ModelRecordFactory, OrganisationRecordFactory
from tests.factories import document as interchange

pytestmark = pytest.mark.django_db

AS_OFS = (date(2024, 6, 1), date(2026, 3, 1))  # EO 14110 in force, then revoked and the EU AI Act applying


@pytest.fixture
def synthetic():
    """A synthetic registry through the real submission path: lineage chains, mixture-of-experts,
    biological and hardware-estimated models, clusters over several datacenters."""
    result = registry_submit(document(models=60, clusters=8, seed=3), via="import")
    return result.changed_subjects


def test_the_synthetic_registry_has_every_kind_of_subject_the_benchmark_promises():
    doc = document(models=400, clusters=40, seed=1)
    models = doc["models"]
    by_ref = {f"{m['organisation']}/{m['name']}@{m['version']}": m for m in models}

    def depth(model):
        steps = 0
        while model.get("base_model"):
            model, steps = by_ref[model["base_model"]], steps + 1
        return steps

    assert max(depth(m) for m in models) >= 3
    assert any(m["active_parameter_count"] for m in models)
    assert any(m["primarily_biological_sequence_data"] for m in models)
    assert any(m["training_hardware"] for m in models)
    assert any(m["derivation"] == "distillation" for m in models)
    assert any(len({g["datacenter"] for g in c["groups"]}) > 1 for c in doc["clusters"])
    assert any(g["peak_ops_per_second"] for c in doc["clusters"] for g in c["groups"])
    assert document(models=400, clusters=40, seed=1) == doc


def test_the_bulk_writer_stores_what_a_submission_of_the_same_document_stores():
    doc = document(models=40, clusters=6, seed=5)
    with transaction.atomic():
        registry_submit(doc, via="import")
        submitted = registry_export()
        transaction.set_rollback(True)
    counts = write_registry(models=40, clusters=6, seed=5)
    assert counts == {"organisations": 1, "models": 40, "clusters": 6}
    assert registry_export() == submitted


@pytest.mark.parametrize("as_of", AS_OFS)
def test_a_bulk_run_makes_the_determinations_each_subject_gets_alone(synthetic, as_of):
    run = run_execute_inline(run_create(kind=RunKind.MANUAL, as_of=as_of, chunk_size=7))
    assert run.chunks_total > 3
    library = published_library()
    versions = services.versions_for(library, as_of=as_of, regimes=None)
    rows = {(row.subject_ref, row.regime): row for row in Determination.objects.filter(run=run)}
    assert len(rows) == len(synthetic) * len(versions)
    statuses = set()
    for snapshot in snapshots_for(synthetic):
        for regime, version in versions.items():
            alone = evaluate(snapshot.snapshot, version=version, regime=regime, as_of=as_of)
            row = rows[snapshot.key.ref, regime]
            stored = row.data()
            assert row.status == stored["status"] == alone.status, (snapshot.key.ref, regime)
            assert [(t["id"], t["outcome"], t["value"], t["threshold"]) for t in stored["tests"]] == [
                (t.id, t.outcome, t.value, t.threshold) for t in alone.tests]
            assert row.payload == canonical(payload_of(alone))
            assert row.facts.data() == snapshot.snapshot and row.facts_revision == snapshot.revision
            statuses.add(row.status)
    assert {"covered", "not_covered", "not_in_force"} <= statuses
    assert verify_chain().ok


def test_the_chain_verifies_after_bulk_runs_and_each_facts_snapshot_is_stored_once(synthetic):
    first = run_execute_inline(run_create(kind=RunKind.MANUAL, as_of=AS_OFS[1], chunk_size=9))
    second = run_execute_inline(run_create(kind=RunKind.MANUAL, as_of=AS_OFS[1], chunk_size=9))
    report = verify_chain()
    assert report.ok and report.checked == 2 * len(synthetic) * 6
    assert FactsSnapshot.objects.count() == len(synthetic)
    assert (first.changes_count, second.changes_count) == (0, 0)
    assert Determination.objects.filter(run=second).count() == Determination.objects.filter(run=first).count()


def test_a_payload_cites_each_test_and_leaves_the_quoted_text_to_the_rule_version(synthetic):
    run = run_execute_inline(run_create(kind=RunKind.MANUAL, as_of=AS_OFS[1], subjects=synthetic[:3]))
    row = Determination.objects.filter(run=run, regime="eu-ai-act", subject_kind="model").first()
    version = published_library().in_force("eu-ai-act", AS_OFS[1])
    assert version.content_hash == row.rule_hash == RuleVersion.objects.get(pk=row.rule_version_id).content_sha256
    quotes = {test.id: test.quote for test in version.tests_for("model")}
    for test in row.data()["tests"]:
        assert test["citation"] and test["quote"]["source"] and test["quote"]["provenance"]
        assert "text" not in test["quote"] and "reading" not in test
        assert quotes[test["id"]]["text"].strip()  # the passage itself is kept once, in the rule version
        assert {"value", "operator", "threshold", "margin", "method", "formula", "missing", "sensitivity"} <= set(test)


def test_a_determination_appended_after_the_early_read_is_still_the_one_compared(synthetic):
    """Change detection reads earlier determinations before locking the log; a row appended in
    between (another worker's) is read again under the lock, so the change is against the newest."""
    ref = next(r for r in synthetic if r.startswith("model:"))
    organisation, name_version = ref.removeprefix("model:").split("/")
    name, version = name_version.split("@")

    def submit(compute: float) -> None:
        registry_submit(interchange(
            organisations=[OrganisationRecordFactory(slug=organisation, name=organisation)],
            models=[ModelRecordFactory(organisation=organisation, name=name, version=version,
                                       training_compute_ops=compute, general_purpose=True, modalities=["text"])],
        ), via="import")

    submit(1e20)
    run_execute_inline(run_create(kind=RunKind.MANUAL, as_of=AS_OFS[1], subjects=[ref]))
    later = run_create(kind=RunKind.MANUAL, as_of=AS_OFS[1], subjects=[ref])
    early = services.previous_determinations({(ref, "eu-ai-act")}, run=later)
    assert early.rows[ref, "eu-ai-act"].status == "not_covered"
    submit(5e25)
    between = run_execute_inline(run_create(kind=RunKind.MANUAL, as_of=AS_OFS[1], subjects=[ref]))
    assert Determination.objects.get(run=between, regime="eu-ai-act").status == "covered"
    chunk = later.chunks.get()
    with transaction.atomic():
        snapshots = services.snapshots_for_ids(model_ids=chunk.subjects["model"])
        entries = services.evaluate_snapshots(snapshots, versions=services.versions_for(
            published_library(), as_of=AS_OFS[1], regimes=["eu-ai-act"]), as_of=AS_OFS[1])
        rows = decision_log.append(entries, trigger=later.kind, run=later)
        assert services._record_changes(later, rows, early) == 0  # same status as the newest, not the first
    assert not StatusChange.objects.filter(run=later).exists()
