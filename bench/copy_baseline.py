"""The database's own write speed for decision-log rows: COPY of rows of the same width into a
scratch table with the same columns (no indexes, no constraints), from memory, in the same run.

The rows are real ones: a sample of the run's own determinations read back with COPY TO, repeated
until as many rows as the run wrote have been sent. On SQLite, which has no COPY, the baseline is
`executemany` of a plain INSERT into the scratch table, the fastest bulk path that database offers.
"""
from __future__ import annotations

import io
import time
from typing import Any

from django.db import connection, transaction

from rules.models import Determination

from .measure import rate

SCRATCH = "bench_copy_scratch"
SAMPLE_ROWS = 5000
BLOCK_BYTES = 1 << 20


def _sample(run_id: int) -> tuple[list[bytes], float]:
    """Up to SAMPLE_ROWS rows of the run as COPY text lines, and their average width in bytes."""
    table = Determination._meta.db_table
    buffer = io.BytesIO()
    with connection.cursor() as cursor, cursor.cursor.copy(
        f"COPY (SELECT * FROM {table} WHERE run_id = {int(run_id)} ORDER BY sequence LIMIT {SAMPLE_ROWS}) TO STDOUT"
    ) as copy:
        for data in copy:
            buffer.write(data)
    lines = buffer.getvalue().splitlines(keepends=True)
    return lines, (sum(map(len, lines)) / len(lines) if lines else 0.0)


def copy_rate(*, rows: int, run_id: int) -> dict[str, Any]:
    """Rows per second of COPY into an unindexed table shaped like the decision log."""
    if connection.vendor != "postgresql":
        return _insert_rate(rows=rows, run_id=run_id)
    lines, width = _sample(run_id)
    if not lines:
        return {"copy_rows_per_second": None, "reason": "the run wrote no rows"}
    table = Determination._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
        cursor.execute(f"CREATE TABLE {SCRATCH} (LIKE {table})")
    block, block_rows, block_bytes = [], 0, 0
    for line in lines:  # about a megabyte of real rows, sent again and again
        block.append(line)
        block_rows, block_bytes = block_rows + 1, block_bytes + len(line)
        if block_bytes >= BLOCK_BYTES:
            break
    data, sent = b"".join(block), 0
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(f"COPY {SCRATCH} FROM STDIN") as copy:
        while sent < rows:
            take = min(block_rows, rows - sent)
            copy.write(data if take == block_rows else b"".join(block[:take]))
            sent += take
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_total_relation_size('{SCRATCH}')")
        (size,) = cursor.fetchone()
        cursor.execute(f"DROP TABLE {SCRATCH}")
    return {
        "copy_rows_per_second": rate(sent, seconds), "rows": sent, "seconds": round(seconds, 3),
        "row_text_bytes": round(width, 1), "table_bytes_per_row": round(size / sent, 1) if sent else None,
        "method": "COPY FROM STDIN (text) into an unindexed table LIKE rules_determination, in one transaction",
    }


def _insert_rate(*, rows: int, run_id: int) -> dict[str, Any]:
    table = Determination._meta.db_table
    names = [field.column for field in Determination._meta.concrete_fields]
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
        cursor.execute(f"CREATE TABLE {SCRATCH} AS SELECT * FROM {table} WHERE 0")
        # by name: a table remade by SQLite keeps its columns in another order than the model's
        cursor.execute(f"SELECT {', '.join(names)} FROM {table} WHERE run_id = %s ORDER BY sequence LIMIT {SAMPLE_ROWS}",
                       [run_id])
        sample = cursor.fetchall()
    if not sample:
        return {"copy_rows_per_second": None, "reason": "the run wrote no rows"}
    statement = f"INSERT INTO {SCRATCH} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})"
    sent = 0
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        while sent < rows:
            batch = sample[: rows - sent]
            cursor.executemany(statement, batch)
            sent += len(batch)
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {SCRATCH}")
    return {"copy_rows_per_second": rate(sent, seconds), "rows": sent, "seconds": round(seconds, 3),
            "method": "SQLite has no COPY: executemany INSERT into an unindexed scratch table, in one transaction"}
