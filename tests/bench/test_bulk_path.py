"""The bulk path (chunks, COPY on PostgreSQL, payloads serialized before the log is locked) makes
the same determinations as evaluating each subject alone with the engine, and keeps the chain."""
from __future__ import annotations

import itertools
from datetime import date

import pytest
from django.db import connection, transaction

from bench.synthetic import document, write_registry
from registry.models import AIModel
from registry.selectors import registry_export
from registry.services import registry_submit
from rules import decision_log, services
from rules.decision_log import canonical, payload_of, verify_chain
from rules.engine import evaluate
from rules.library_store import published_library
from rules.models import Determination, FactsSnapshot, RuleVersion, StatusChange
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from rules.subjects import snapshots_for, snapshots_for_ids
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
    run = run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=as_of, chunk_size=7))
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
            assert row.payload.content == canonical(payload_of(alone, snapshot.key))
            assert stored["subject"] == alone.subject.to_dict()
            assert row.facts.data() == snapshot.snapshot and row.facts_revision == snapshot.revision
            statuses.add(row.status)
    assert {"covered", "not_covered", "not_in_force"} <= statuses
    assert verify_chain().ok


def test_the_chain_verifies_after_bulk_runs_and_each_facts_snapshot_is_stored_once(synthetic):
    first = run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OFS[1], chunk_size=9))
    stored = FactsSnapshot.objects.count()
    second = run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OFS[1], chunk_size=9, confirms=False))
    report = verify_chain()
    assert report.ok and report.checked == 2 * len(synthetic) * 6
    # one snapshot per subject, and one lineage snapshot per model that is another's base
    assert Determination.objects.values("facts").distinct().count() == len(synthetic)
    bases = AIModel.objects.filter(derived_models__isnull=False).distinct().count()
    assert bases and FactsSnapshot.objects.count() == stored == len(synthetic) + bases
    assert (first.changes_count, second.changes_count) == (0, 0)
    assert Determination.objects.filter(run=second).count() == Determination.objects.filter(run=first).count()


def test_a_payload_cites_each_test_and_leaves_the_quoted_text_to_the_rule_version(synthetic):
    run = run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OFS[1], subjects=synthetic[:3]))
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
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OFS[1], subjects=[ref]))
    later = run_create(kind=Trigger.MANUAL, as_of=AS_OFS[1], subjects=[ref])
    early = services.previous_determinations({(ref, "eu-ai-act")}, run=later)
    assert early.rows[ref, "eu-ai-act"].status == "not_covered"
    submit(5e25)
    between = run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OFS[1], subjects=[ref]))
    assert Determination.objects.get(run=between, regime="eu-ai-act").status == "covered"
    chunk = later.chunks.get()
    with transaction.atomic():
        snapshots = snapshots_for_ids(model_ids=chunk.subjects["model"])
        entries = services.evaluate_snapshots(snapshots, versions=services.versions_for(
            published_library(), as_of=AS_OFS[1], regimes=["eu-ai-act"]), as_of=AS_OFS[1])
        rows = decision_log.append(entries, trigger=later.kind, run=later)
        assert services.record_changes(later, rows, early) == 0  # same status as the newest, not the first
    assert not StatusChange.objects.filter(run=later).exists()


def test_change_detection_by_index_probe_finds_what_the_grouped_queries_find(synthetic):
    """PostgreSQL reads the state before a run with one index probe per (subject, regime); every
    database can read it with grouped queries. Both give the same rows: the newest as-of date on or
    before the run's, the last row of that date, another run's only, after a given sequence."""
    if connection.vendor != "postgresql":
        pytest.skip("the per-key probe is PostgreSQL's")
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OFS[1], chunk_size=20))
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OFS[0], chunk_size=20))  # an earlier date, later
    scheduled = run_execute_inline(run_create(kind=Trigger.SCHEDULE, as_of=AS_OFS[1], chunk_size=20, confirms=False))
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OFS[1], chunk_size=20, confirms=False))  # after it
    middle = Determination.objects.filter(run=scheduled).order_by("sequence").values_list("sequence", flat=True)[50]
    keys = {(ref, regime) for ref in synthetic for regime in published_library().regimes()}
    runs = [
        run_create(kind=Trigger.MANUAL, as_of=AS_OFS[1]),
        run_create(kind=Trigger.MANUAL, as_of=AS_OFS[0]),
        run_create(kind=Trigger.MANUAL, as_of=date(2020, 1, 1)),  # nothing before it
        run_create(kind=Trigger.SCHEDULE, as_of=AS_OFS[1]),  # compares with the log as the previous one left it
    ]
    seen = set()
    for run in runs:
        bounds = [(None, None)]
        if run.kind == Trigger.SCHEDULE:  # the log as the previous scheduled run left it, or (before runs
            bounds = [(None, run.previous_run.log_sequence), (run.previous_run_id, None)]  # kept that) its rows
        for (only_run, up_to), after in itertools.product(bounds, (0, middle)):
            probed = services.changes._previous_by_probe(keys, exclude_run=run, after_sequence=after, only_run=only_run,
                                                         up_to=up_to)
            grouped = services.changes._previous_grouped(keys, exclude_run=run, after_sequence=after, only_run=only_run,
                                                         up_to=up_to)
            assert probed == grouped, (run.as_of, run.kind, after, only_run, up_to)
            seen.add((run.as_of, after, len(probed)))
            if up_to is not None:
                assert probed and all(row.sequence <= up_to for row in probed.values())
    sizes = {size for _, _, size in seen}
    assert 0 in sizes and len(keys) in sizes and len(sizes) >= 3  # none, all, and some found
    old = services.changes._previous_by_probe(keys, exclude_run=runs[1], after_sequence=0, only_run=None,
                                              up_to=None)
    assert {row.status for row in old.values()} >= {"not_in_force"}
    assert all(Determination.objects.get(pk=row.sequence).as_of == AS_OFS[0] for row in old.values())


def test_canonical_text_sorts_keys_writes_shortest_floats_and_takes_integers_of_any_size():
    import json

    assert canonical({"b": 1e26, "a": [0.1, 6.03102864e22, "é"]}) == '{"a":[0.1,6.03102864e22,"é"],"b":1e26}'
    huge = {"z": 10**30, "a": 2.5e-05}
    assert json.loads(canonical(huge)) == huge and canonical(huge).index('"a"') < canonical(huge).index('"z"')


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("readers", [0, 2], ids=["reader-thread", "reader-processes"])
def test_pipelined_chunks_write_what_chunk_after_chunk_writes(readers):
    """On PostgreSQL `run_execute_inline` reads and evaluates the next chunks (in forked processes,
    or in a thread) while it writes the last: the determinations, the status changes and the chain
    are those of chunk after chunk."""
    if connection.vendor != "postgresql":
        pytest.skip("pipelining needs a second PostgreSQL connection")
    subjects = registry_submit(document(models=40, clusters=6, seed=11), via="import").changed_subjects
    baseline = run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OFS[0], chunk_size=5))
    assert not services.can_pipeline() or baseline.chunks_total > 1

    def written(run):
        return {(r.subject_ref, r.regime): (r.status, r.payload_id, r.facts_id)
                for r in Determination.objects.filter(run=run)}

    def changes(run):
        return sorted((c.subject_ref, c.regime, c.from_status, c.to_status) for c in StatusChange.objects.filter(run=run))

    # both append every row (a run that confirms would find the first's rows unchanged)
    sequential = run_create(kind=Trigger.MANUAL, as_of=AS_OFS[1], chunk_size=5, confirms=False)
    for chunk_id in sequential.chunks.order_by("index").values_list("pk", flat=True):
        services.chunk_execute(chunk_id=chunk_id)
    services.run_finish_if_complete(run_id=sequential.pk)
    committed = []
    pipelined = run_create(kind=Trigger.MANUAL, as_of=AS_OFS[1], chunk_size=5, confirms=False)
    first = pipelined.chunks.get(index=0).pk
    assert services.chunk_execute(chunk_id=first)  # done before: skipped, not written twice
    assert services.chunks_execute_pipelined(pipelined.chunks.order_by("index").values_list("pk", flat=True),
                                         on_chunk=committed.append, readers=readers) == pipelined.chunks_total - 1
    services.run_finish_if_complete(run_id=pipelined.pk)
    pipelined.refresh_from_db()
    assert len(committed) == pipelined.chunks_total - 1 and first not in committed
    assert (pipelined.status, pipelined.done, pipelined.chunks_done) == ("finished", len(subjects), pipelined.chunks_total)
    assert written(pipelined) == written(sequential) and len(written(pipelined)) == len(subjects) * 6
    assert changes(pipelined) == [] and changes(sequential) != []  # the law changed between the two dates
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_a_pipelined_writer_that_fails_stops_the_run_with_its_error_and_writes_nothing_of_that_chunk(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("pipelining needs a second PostgreSQL connection")
    registry_submit(document(models=20, clusters=2, seed=12), via="import")
    run = run_create(kind=Trigger.MANUAL, as_of=AS_OFS[1], chunk_size=5)
    append, calls = decision_log.append, []

    def failing_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return append(*args, **kwargs)

    monkeypatch.setattr(decision_log, "append", failing_second)
    with pytest.raises(RuntimeError, match="disk full"):
        services.chunks_execute_pipelined(run.chunks.order_by("index").values_list("pk", flat=True))
    done = dict(run.chunks.values_list("index", "done"))
    assert done[0] and not done[1]
    assert Determination.objects.filter(run=run).count() == 5 * 6
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("readers", [0, 2], ids=["reader-thread", "reader-processes"])
def test_a_pipelined_reader_that_fails_stops_the_run_with_its_error_after_the_chunks_before_it(monkeypatch, readers):
    if connection.vendor != "postgresql":
        pytest.skip("pipelining needs a second PostgreSQL connection")
    registry_submit(document(models=20, clusters=2, seed=12), via="import")
    run = run_create(kind=Trigger.MANUAL, as_of=AS_OFS[1], chunk_size=5)
    broken = run.chunks.get(index=2).pk
    read = services.chunks.chunk_read

    def failing_third(chunk):
        if chunk.pk == broken:
            raise ValueError(f"facts of chunk {chunk.pk} unreadable")
        return read(chunk)

    monkeypatch.setattr(services.chunks, "chunk_read", failing_third)  # before the readers are forked
    with pytest.raises(ValueError, match=f"facts of chunk {broken} unreadable"):
        services.chunks_execute_pipelined(run.chunks.order_by("index").values_list("pk", flat=True), readers=readers)
    done = dict(run.chunks.values_list("index", "done"))
    assert done[0] and done[1] and not any(done[index] for index in done if index >= 2)
    assert Determination.objects.filter(run=run).count() == 10 * 6
    assert verify_chain().ok


def test_reader_processes_are_not_forked_from_a_daemonic_process(monkeypatch, settings):
    """A Celery prefork child may not have children of its own: it reads on a thread instead."""
    import multiprocessing

    settings.RUN_READER_PROCESSES = 3
    assert services.reader_processes() == 3
    monkeypatch.setattr(multiprocessing.current_process(), "_config", {**multiprocessing.current_process()._config, "daemon": True})
    assert services.reader_processes() == 0
    monkeypatch.undo()
    settings.RUN_READER_PROCESSES = 0
    assert services.reader_processes() == 0


def test_a_rows_chained_fields_are_hashed_as_the_bytes_json_dumps_gives():
    """Rows written before the chained fields were encoded by orjson verify the same: for every code
    point and any list of strings, integers and nulls, the bytes are those of `json.dumps`."""
    import json

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from rules.models.decision_log import fields_json

    def legacy(fields):
        return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    every_code_point = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(every_code_point), 4096):
        block = every_code_point[start:start + 4096]
        assert fields_json(block) == legacy(block)

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.one_of(st.text(st.characters(blacklist_categories=("Cs",))), st.none(),
                              st.integers(min_value=-2**63, max_value=2**63 - 1)), max_size=24))
    def same(fields):
        assert fields_json(fields) == legacy(fields)

    same()
    assert fields_json([2**70, "x"]) == legacy([2**70, "x"])  # beyond 64 bits: json.dumps itself


def test_a_chunk_is_evaluated_with_the_cyclic_collector_held_off_and_resumed_after(monkeypatch, synthetic):
    import gc

    seen = []
    evaluate = services.chunks.evaluate_snapshots

    def watched(*args, **kwargs):
        seen.append(gc.isenabled())
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(services.chunks, "evaluate_snapshots", watched)
    assert gc.isenabled()
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OFS[1], subjects=synthetic[:3]))
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:  # a caller that paused it keeps it paused
        run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OFS[0], subjects=synthetic[:3]))
        assert seen == [False, False] and not gc.isenabled()
    finally:
        gc.enable()


def test_a_chunks_snapshots_and_evaluations_are_freed_before_the_collector_resumes(monkeypatch, synthetic):
    """The collection that resuming the collector sets off walks every object made while it was held
    off that is still alive. A chunk's snapshots, subjects and evaluations, and all they hold, were
    alive then, and walked for about a tenth of a reader's time; only the chunk's work (its rows)
    is, now."""
    import gc
    from collections import Counter

    from rules.engine.evaluate import Evaluation, TestOutcome
    from rules.engine.subject import Subject
    from rules.subjects import SubjectSnapshot

    made_while_paused = (Evaluation, TestOutcome, Subject, SubjectSnapshot)
    alive = []
    enable = gc.enable

    def resumed():
        alive.append(Counter(type(o).__name__ for o in gc.get_objects() if type(o) in made_while_paused))
        enable()

    run = run_create(kind=Trigger.MANUAL, as_of=AS_OFS[1], subjects=synthetic[:40])
    chunk = run.chunks.get()
    monkeypatch.setattr(gc, "enable", resumed)
    work = services.chunks.chunk_read(chunk)
    monkeypatch.undo()
    assert alive == [Counter()] and gc.isenabled()
    assert len(work.prepared.items) == 40 * len(published_library().regimes())


def test_a_chunk_is_read_and_written_with_the_collector_held_off_and_resumed_after(monkeypatch, synthetic):
    """`chunk_execute`, as a Celery worker runs it: the chunk read, chained and written with the
    cyclic collector held off, and resumed after; a caller that paused it keeps it paused."""
    import gc

    seen = []
    write = services.chunks.chunk_write

    def watched(*args, **kwargs):
        seen.append(gc.isenabled())
        return write(*args, **kwargs)

    monkeypatch.setattr(services.chunks, "chunk_write", watched)
    run = run_create(kind=Trigger.MANUAL, as_of=AS_OFS[1], subjects=synthetic[:10], chunk_size=5)
    first, second = run.chunks.order_by("index").values_list("pk", flat=True)
    assert gc.isenabled()
    assert services.chunk_execute(chunk_id=first)
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        assert services.chunk_execute(chunk_id=second)
        assert seen == [False, False] and not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("readers", [0, 2], ids=["reader-thread", "reader-processes"])
def test_a_pipelined_chunks_work_is_freed_before_the_writer_resumes_the_collector(monkeypatch, readers):
    """The writer holds the collector off while it writes a chunk, and resumes it once the chunk's
    work (held by the reader's future too) is freed: no written chunk's work is alive then, only
    those still being read. Every chunk is written once, with the collector on at the end."""
    import gc

    if connection.vendor != "postgresql":
        pytest.skip("pipelining needs a second PostgreSQL connection")
    registry_submit(document(models=20, clusters=2, seed=12), via="import")
    run = run_create(kind=Trigger.MANUAL, as_of=AS_OFS[1], chunk_size=5)
    written, alive_then = [], []
    execute, enable = services.chunks.chunk_execute, gc.enable

    def watched(**kwargs):
        wrote = execute(**kwargs)
        written.append(kwargs["chunk_id"])
        return wrote

    def resumed():
        alive = [o.chunk_id for o in gc.get_objects() if type(o) is services.chunks.ChunkWork]
        alive_then.append((list(written), alive))
        enable()

    monkeypatch.setattr(services.chunks, "chunk_execute", watched)
    monkeypatch.setattr(gc, "enable", resumed)
    chunk_ids = list(run.chunks.order_by("index").values_list("pk", flat=True))
    assert services.chunks_execute_pipelined(chunk_ids, readers=readers) == len(chunk_ids)
    monkeypatch.undo()
    assert gc.isenabled() and written == chunk_ids
    resumptions = [(done, alive) for done, alive in alive_then if done]  # the writer's, after each chunk
    assert [done[-1] for done, _ in resumptions] == chunk_ids
    assert all(not set(done) & set(alive) for done, alive in resumptions)
    assert Determination.objects.filter(run=run).count() == run.total * 6
    assert verify_chain().ok
