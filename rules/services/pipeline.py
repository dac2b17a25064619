"""The pipelined reader pool: one writer chains and writes chunks in order while readers (forked
processes, or a thread) read and evaluate the next ones."""
from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.util
import signal
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor

from django.conf import settings
from django.db import connection, connections

from .. import decision_log, instrumentation
from ..library_store import published_library
from ..memory import collector_paused
from ..models import RunChunk
from . import chunks
from .chunks import ChunkWork


def chunk_read_ahead(chunk_id: int) -> ChunkWork | None:
    """A reader's part of a pipelined chunk (None when it is done already): `chunk_read`, and its
    facts snapshots stored already so that the writer has only the rows to write. What an observer
    would see of it travels with the work (`ChunkWork.spans`)."""
    token = instrumentation.current_chunk.set(chunk_id)
    try:
        chunk = RunChunk.objects.select_related("run", "run__requested_by", "run__previous_run").get(pk=chunk_id)
        if chunk.done:
            return None
        with instrumentation.collected() as spans:
            work = chunks.chunk_read(chunk)
            decision_log.store_facts(work.prepared)
        work.spans = spans
        return work
    finally:
        instrumentation.current_chunk.reset(token)


def _close_connections() -> None:
    connections.close_all()


def _reader_started() -> None:
    """In a reader process: Ctrl-C is the writer's to handle, the reader's database connection is
    closed when the pool shuts it down, and the collector leaves alone the objects it was forked with."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    multiprocessing.util.Finalize(None, _close_connections, exitpriority=10)
    gc.freeze()  # what it inherited (Django, the rule library) is never garbage: collections skip it


def reader_processes(wanted: int | None = None) -> int:
    """How many processes read and evaluate chunks for one writer (`wanted`, by default
    `RUN_READER_PROCESSES`); 0 when they cannot be forked here (a daemonic process such as a Celery
    prefork child, or a platform without `fork`)."""
    wanted = settings.RUN_READER_PROCESSES if wanted is None else wanted
    if wanted < 1 or "fork" not in multiprocessing.get_all_start_methods() or multiprocessing.current_process().daemon:
        return 0
    return wanted


def _readers(processes: int) -> Executor:
    if not processes:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="chunk-reader")
    published_library()  # parsed once here, inherited by the readers
    connections.close_all()  # a forked reader must not share this process's connections
    return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"), initializer=_reader_started)


def can_pipeline() -> bool:
    """Pipelined chunks need a second connection that sees what this one committed: PostgreSQL,
    outside any transaction of the caller's."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


@collector_paused()
def _write_next(ahead: deque[tuple[int, Future[ChunkWork | None]]], read_next: Callable[[], None], *,
                task_id: str) -> tuple[int, bool | None]:
    """The next chunk in order written once a reader has read it (`chunk_execute`), the one after it
    sent to be read; its id and whether it was written (None: it was done already when read). The
    collector is held off meanwhile and resumed once the chunk's work, held by its future too, is
    freed: the collection the resumption sets off walks only the chunks still being read back."""
    chunk_id, future = ahead.popleft()
    work = future.result()  # re-raises the reader's error here
    read_next()
    if work is None:
        return chunk_id, None
    instrumentation.replay(work.spans)
    return chunk_id, chunks.chunk_execute(chunk_id=work.chunk_id, task_id=task_id, work=work)


def chunks_execute_pipelined(chunk_ids: Iterable[int], *, task_id: str = "",
                             on_chunk: Callable[[int], None] | None = None, readers: int | None = None) -> int:
    """Executes the chunks in order while the next ones are read and evaluated: by `readers`
    processes forked from this one (default `RUN_READER_PROCESSES`), or by a thread of this process
    when that is 0 or they cannot be forked. This thread chains and writes each chunk in turn, so
    the readers' Python, the writer's and the database's work overlap. Each chunk is still one
    transaction that locks its row and skips it if done (`chunk_execute`), so the result is the
    same as executing the chunks one by one. At most `readers + 1` chunks are read ahead.
    Returns the number of chunks written; `on_chunk(chunk_id)` is called as each one commits."""
    chunk_ids = list(chunk_ids)
    processes = min(reader_processes(readers), len(chunk_ids))
    written = 0
    executor = _readers(processes)
    ahead: deque[tuple[int, Future[ChunkWork | None]]] = deque()
    waiting = iter(chunk_ids)

    def read_next() -> None:
        chunk_id = next(waiting, None)
        if chunk_id is not None:
            ahead.append((chunk_id, executor.submit(chunk_read_ahead, chunk_id)))

    try:
        for _ in range(max(processes, 1) + 1):
            read_next()
        while ahead:
            chunk_id, wrote = _write_next(ahead, read_next, task_id=task_id)
            written += bool(wrote)
            if wrote is not None and on_chunk:
                on_chunk(chunk_id)
    finally:
        for _, future in ahead:
            future.cancel()
        if not processes:
            executor.submit(_close_connections).result()
        executor.shutdown(wait=True, cancel_futures=True)
    return written
