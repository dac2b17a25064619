"""Evaluations of record: runs over chunks of subjects, written to the decision log with the
status changes they found. Tasks, views and commands call these; nothing here knows about Celery.

- `runs`: planning a run (`run_create`), carrying it out in this process (`run_execute_inline`),
  marking it finished or failed;
- `chunks`: one chunk read (`chunk_read`), written (`chunk_write`), or both (`chunk_execute`);
- `pipeline`: the readers that read the next chunks while one writer writes (`chunks_execute_pipelined`);
- `changes`: the determinations a chunk is compared with and the status changes recorded;
- `publication`: publishing a rule version, and which subjects a change of facts affects;
- `outbox`: a submission's pending evaluations.
"""
from .changes import PreviousDeterminations, PreviousRow, previous_determinations, record_changes
from .chunks import KINDS, ChunkWork, chunk_execute, chunk_read, chunk_write, evaluate_snapshots, today, versions_for
from .outbox import OUTBOX_ROWS_A_TASK, outbox_evaluate, pending_evaluate
from .pipeline import can_pipeline, chunk_read_ahead, chunks_execute_pipelined, reader_processes
from .publication import affected_subjects, publication_problems, rule_version_publish
from .runs import DEFAULT_CHUNK_SIZE, run_create, run_execute_inline, run_fail, run_finish_if_complete

__all__ = [
    "DEFAULT_CHUNK_SIZE", "KINDS", "OUTBOX_ROWS_A_TASK", "ChunkWork", "PreviousDeterminations", "PreviousRow", "affected_subjects",
    "can_pipeline", "chunk_execute", "chunk_read", "chunk_read_ahead", "chunk_write", "chunks_execute_pipelined",
    "evaluate_snapshots", "outbox_evaluate", "pending_evaluate", "previous_determinations", "publication_problems", "reader_processes", "record_changes",
    "rule_version_publish", "run_create", "run_execute_inline", "run_fail", "run_finish_if_complete", "today",
    "versions_for",
]
