"""Observing what a run spends its time on: the services mark their stages with `stage(name)`, and
an observer (the benchmark) receives each span through `observing(callback)`. With nobody observing,
a stage costs one check of an empty list.

A chunk read in a reader (a thread or a forked process) is not reported where it is read: its
spans are `collected` with the chunk's work and `replay`ed by the writer as it writes the chunk, so
an observer sees every stage of every chunk in one process, once.
"""
from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, NamedTuple

# The chunk the current thread is working on: a span and a `count` carry it.
current_chunk: contextvars.ContextVar[int | None] = contextvars.ContextVar("current_chunk", default=None)

# The stages the services mark, in the order a chunk goes through them.
CHUNK_READ = "chunk_read"  # a chunk's subjects read, evaluated and serialized (before the log is locked)
SNAPSHOTS = "snapshots"  # facts read, lineage joined
ENGINE = "engine"  # every subject under every regime
PREVIOUS_DETERMINATIONS = "previous_determinations"  # change detection: the earlier determinations read
REUSED = "reused"  # which current determinations to confirm without evaluating again (facts hashed)
PAYLOADS_SERIALIZED = "payloads_serialized"  # payloads and facts as canonical JSON
FACTS_STORED = "facts_stored"  # facts snapshots and payloads stored
ROWS_COPIED = "rows_copied"  # one COPY stream (on PostgreSQL): log rows chained and streamed, or others
CHANGES_RECORDED = "changes_recorded"  # status changes against the earlier determinations
CHUNK_WRITE = "chunk_write"  # a chunk's rows chained, written and committed (the log locked)
STAGES = (CHUNK_READ, SNAPSHOTS, PREVIOUS_DETERMINATIONS, REUSED, ENGINE, PAYLOADS_SERIALIZED, FACTS_STORED, ROWS_COPIED,
          CHANGES_RECORDED, CHUNK_WRITE)


class Span(NamedTuple):
    """One stage done once (or one event `count`ed, with no duration), for the chunk it was done for."""

    name: str
    chunk_id: int | None
    cpu_seconds: float  # of the thread that did it
    wall_seconds: float


Observer = Callable[[Span], None]

_observers: list[Observer] = []
_collecting: contextvars.ContextVar[list[Span] | None] = contextvars.ContextVar("collecting", default=None)
_NOTHING = nullcontext()


@contextmanager
def observing(callback: Observer) -> Iterator[None]:
    """Calls `callback(span)` for every stage done in this process (and replayed from its readers)
    while the block runs. A reader process forked inside the block observes too, and collects."""
    _observers.append(callback)
    try:
        yield
    finally:
        _observers.remove(callback)


def _report(span: Span) -> None:
    collected = _collecting.get()
    if collected is not None:
        collected.append(span)
        return
    for callback in list(_observers):
        callback(span)


class _Timed:
    __slots__ = ("cpu", "name", "wall")

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        self.cpu, self.wall = time.thread_time(), time.perf_counter()

    def __exit__(self, *exc: Any) -> None:
        _report(Span(self.name, current_chunk.get(), time.thread_time() - self.cpu, time.perf_counter() - self.wall))


def stage(name: str) -> AbstractContextManager[None]:
    """A span of work named `name` (one of STAGES), timed only when someone is observing."""
    return _Timed(name) if _observers else _NOTHING


def count(name: str) -> None:
    """An event with no duration (the benchmark counts SQL statements so), reported as a span."""
    if _observers:
        _report(Span(name, current_chunk.get(), 0.0, 0.0))


@contextmanager
def collected() -> Iterator[list[Span]]:
    """The spans of the block, kept in the list given instead of reported (in this thread only)."""
    spans: list[Span] = []
    token = _collecting.set(spans)
    try:
        yield spans
    finally:
        _collecting.reset(token)


def replay(spans: Iterable[Span]) -> None:
    """Reports spans collected elsewhere (a reader's) to this process's observers."""
    for span in spans:
        _report(span)
