"""The instrumentation hook: the stages of a real run reach an observer, once each per chunk, from
the writer and from its readers alike; with nobody observing nothing is timed."""
from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from django.db import connection

from rules import instrumentation
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from tests.rules.conftest import submit_registry

AS_OF = date(2026, 3, 1)


def observed_run(**run_execute: object) -> tuple[list[instrumentation.Span], list[int]]:
    submit_registry(models=6, clusters=2)
    run = run_create(kind=Trigger.MANUAL, as_of=AS_OF, chunk_size=4)
    spans: list[instrumentation.Span] = []
    with instrumentation.observing(spans.append):
        run_execute_inline(run, **run_execute)
    return spans, list(run.chunks.values_list("pk", flat=True))


def per_chunk(spans: list[instrumentation.Span], name: str) -> Counter[int | None]:
    return Counter(span.chunk_id for span in spans if span.name == name)


@pytest.mark.django_db
def test_an_observer_sees_each_stage_of_each_chunk_of_a_run():
    spans, chunk_ids = observed_run()
    assert len(chunk_ids) > 1
    for name in (instrumentation.CHUNK_READ, instrumentation.SNAPSHOTS, instrumentation.ENGINE,
                 instrumentation.PREVIOUS_DETERMINATIONS, instrumentation.REUSED, instrumentation.PAYLOADS_SERIALIZED,
                 instrumentation.CHANGES_RECORDED, instrumentation.CHUNK_WRITE):
        assert per_chunk(spans, name) == Counter(chunk_ids), name
    assert all(span.wall_seconds >= 0 and span.cpu_seconds >= 0 for span in spans)
    assert {span.name for span in spans} <= set(instrumentation.STAGES)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("readers", [0, 2], ids=["reader-thread", "reader-processes"])
def test_a_pipelined_runs_reader_stages_reach_the_writers_observer_once(readers):
    if connection.vendor != "postgresql":
        pytest.skip("pipelining needs a second PostgreSQL connection")
    spans, chunk_ids = observed_run(readers=readers)
    for name in (instrumentation.CHUNK_READ, instrumentation.ENGINE, instrumentation.FACTS_STORED,
                 instrumentation.CHUNK_WRITE):
        assert per_chunk(spans, name) == Counter(chunk_ids), name


def test_nothing_is_timed_and_nothing_reported_when_nobody_observes():
    seen: list[instrumentation.Span] = []
    assert instrumentation.stage(instrumentation.ENGINE) is instrumentation.stage(instrumentation.CHUNK_READ)
    with instrumentation.observing(seen.append), instrumentation.stage(instrumentation.ENGINE):
        instrumentation.count("event")
    with instrumentation.stage(instrumentation.ENGINE):
        instrumentation.count("event")
    assert [span.name for span in seen] == ["event", instrumentation.ENGINE]
