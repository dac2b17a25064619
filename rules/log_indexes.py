"""The decision log's indexes kept near their compact size on PostgreSQL.

Each run inserts one entry a subject and regime into `determination_latest_as_of`, inside that
subject's range: the index's leaf pages split in the middle and stay about half to two thirds full,
so at 10.9 million rows appended anew it is 78.9 bytes a row against 49.7 once rebuilt (BENCHMARKS.md,
"The year again"). `rebuild_split_indexes` finds the log's indexes grown past a given multiple of the
size a fresh build would have, and rebuilds them with `REINDEX INDEX CONCURRENTLY`, which lets runs
and submissions write and the workspace read meanwhile. The daily beat entry "Decision log: indexes
rebuilt when split past their compact size" runs it (`rules.tasks.rebuild_log_indexes`), and so does
`manage.py rebuild_log_indexes`.

The compact size is worked out from the catalog, as a build would fill the pages (`fillfactor`, 90
a leaf page by default): an index's entries are counted by `ANALYZE` (a sample of the table), each
the width of its columns aligned as PostgreSQL aligns them. That is exact for entries of fixed width
and distinct keys; a column of variable width (the regime's) counts its average width in the table
(`pg_stats`), within 1 % of a build for `determination_latest_as_of` (BENCHMARKS.md). An index whose
keys repeat keeps them once with a list of rows (deduplication), which the estimate does not count:
such an index reads as smaller than compact and is left alone. An index with a column of variable
width under a condition is not estimated, nor rebuilt: the table's average is not its entries'.

SQLite rebuilds nothing: its log is the embedded default's, small, and `VACUUM` compacts the whole file.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import connection

from .models import Determination

# held while indexes are rebuilt, so that two workers given the task at once do not both rebuild
ADVISORY_LOCK = 0x4C4F4749  # "LOGI"
_ALIGNMENT = {"c": 1, "s": 2, "i": 4, "d": 8}
_PAGE_HEADER = 24  # PageHeaderData
_BTREE_SPECIAL = 16  # BTPageOpaqueData
_INDEX_TUPLE_HEADER = 8  # IndexTupleData
_LINE_POINTER = 4  # ItemIdData
_MAXALIGN = 8
_SHORT_VARLENA_MAX = 127  # a value this long or shorter is kept with a one-byte header, unaligned
_NON_LEAF_FILLFACTOR = 70  # BTREE_NONLEAF_FILLFACTOR
_DEFAULT_FILLFACTOR = 90  # BTREE_DEFAULT_FILLFACTOR


class RebuildInProgress(Exception):
    """Another process holds the rebuild's lock."""


@dataclass(frozen=True)
class IndexSize:
    """One index of a table: its size on disk, the size a fresh build of its entries would have, and
    their ratio (None where it cannot be worked out: `reason` says why)."""

    name: str
    table: str
    entries: int | None
    size_bytes: int
    compact_bytes: int | None
    reason: str = ""

    @property
    def ratio(self) -> float | None:
        return self.size_bytes / self.compact_bytes if self.compact_bytes else None

    def due(self, ratio: float) -> bool:
        """Larger than `ratio` times its compact size: to be rebuilt (never when not estimated)."""
        return self.ratio is not None and self.ratio > ratio


@dataclass(frozen=True)
class Rebuilt:
    name: str
    size_before: int
    size_after: int


def _align(offset: int, alignment: int) -> int:
    return (offset + alignment - 1) // alignment * alignment


def entry_bytes(columns: Iterable[tuple[int | None, str]]) -> int | None:
    """A leaf entry's bytes on its page, line pointer included, for columns of (width, attalign): a
    positive width is a fixed one (attlen), a negative one a variable width's average with its header
    (`pg_stats.avg_width`), stored unaligned up to 127 bytes as PostgreSQL stores short values. None
    if a width is not known."""
    offset = _INDEX_TUPLE_HEADER
    for width, alignment in columns:
        if not width:
            return None
        if width < 0 and -width <= _SHORT_VARLENA_MAX:
            offset += -width
        else:
            offset = _align(offset, _ALIGNMENT[alignment]) + abs(width)
    return _align(offset, _MAXALIGN) + _LINE_POINTER


def compact_bytes(entries: int, entry: int, *, block_size: int, fillfactor: int = _DEFAULT_FILLFACTOR) -> int:
    """The bytes of a B-tree of `entries` leaf entries of `entry` bytes as a build lays it out: leaf
    pages filled to `fillfactor` percent (each with a high key beside its entries), the levels above
    to 70 percent, and the metapage."""
    usable = block_size - _PAGE_HEADER - _BTREE_SPECIAL
    per_leaf = max(1, (usable - block_size * (100 - fillfactor) // 100) // entry - 1)
    pages = math.ceil(entries / per_leaf) if entries else 1
    total = pages + 1  # the metapage
    per_branch = max(2, (usable - block_size * (100 - _NON_LEAF_FILLFACTOR) // 100) // entry)
    while pages > 1:
        pages = math.ceil(pages / per_branch)
        total += pages
    return total * block_size


def index_sizes(table: str | None = None) -> list[IndexSize]:
    """Every valid B-tree index of `table` (the decision log's by default), measured after an `ANALYZE`
    of the table has counted their entries. PostgreSQL only."""
    table = table or Determination._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE "{table}"')
        cursor.execute("SELECT current_setting('block_size')::int")
        (block_size,) = cursor.fetchone()
        cursor.execute(
            """
            SELECT index_class.relname, index_class.reltuples::bigint, pg_relation_size(index_class.oid),
                   index_class.reloptions, ix.indpred IS NOT NULL,
                   array_agg(CASE WHEN attribute.attlen > 0 THEN attribute.attlen
                                  WHEN ix.indpred IS NULL THEN -stats.avg_width END ORDER BY key.position),
                   array_agg(attribute.attalign ORDER BY key.position)
            FROM pg_index AS ix
            JOIN pg_class AS index_class ON index_class.oid = ix.indexrelid
            JOIN pg_am AS method ON method.oid = index_class.relam AND method.amname = 'btree'
            CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS key(attnum, position)
            LEFT JOIN pg_attribute AS attribute ON attribute.attrelid = ix.indrelid AND attribute.attnum = key.attnum
            LEFT JOIN pg_stats AS stats ON stats.schemaname = current_schema() AND stats.tablename = %s
                                       AND stats.attname = attribute.attname
            WHERE ix.indrelid = %s::regclass AND ix.indisvalid
            GROUP BY index_class.oid, ix.indexrelid
            ORDER BY index_class.relname
            """,
            [table, table],
        )
        rows = cursor.fetchall()
    sizes = []
    for name, entries, size, options, partial, lengths, alignments in rows:
        fillfactor = _fillfactor(options)
        entry = entry_bytes(zip(lengths, alignments, strict=True))
        if entries is None or entries < 0:
            sizes.append(IndexSize(name, table, None, size, None, "its entries are not counted yet"))
        elif entry is None:
            reason = ("a column of variable width under a condition" if partial
                      else "a column of variable width not measured yet")
            sizes.append(IndexSize(name, table, entries, size, None, reason))
        else:
            sizes.append(IndexSize(name, table, entries, size,
                                   compact_bytes(entries, entry, block_size=block_size, fillfactor=fillfactor)))
    return sizes


def _fillfactor(options: list[str] | None) -> int:
    for option in options or ():
        key, _, value = option.partition("=")
        if key == "fillfactor":
            return int(value)
    return _DEFAULT_FILLFACTOR


def rebuild_split_indexes(*, ratio: float, table: str | None = None, dry_run: bool = False,
                          progress: Callable[[str], None] | None = None) -> tuple[list[IndexSize], list[Rebuilt]]:
    """The indexes of `table` (the decision log's by default), and those among them rebuilt because
    they were larger than `ratio` times their compact size (none with `dry_run`), one at a time with
    `REINDEX INDEX CONCURRENTLY`, `progress` told the name of each once it is. A rebuild that failed
    half-way leaves an invalid copy (`..._ccnew`): it is dropped first. Nothing is done on SQLite;
    `RebuildInProgress` while another process holds the rebuild's lock. Must run outside a
    transaction (autocommit), as a Celery task or a command does."""
    if connection.vendor != "postgresql":
        return [], []
    if connection.in_atomic_block:
        raise RuntimeError("indexes are rebuilt concurrently, which cannot run inside a transaction")
    table = table or Determination._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK])
        if not cursor.fetchone()[0]:
            raise RebuildInProgress("another process is rebuilding the decision log's indexes")
        try:
            _drop_invalid_copies(cursor, table)
            sizes = index_sizes(table)
            chosen = [size for size in sizes if size.due(ratio)]
            rebuilt = []
            for size in chosen if not dry_run else ():
                cursor.execute(f'REINDEX INDEX CONCURRENTLY "{size.name}"')
                cursor.execute("SELECT pg_relation_size(%s::regclass)", [size.name])
                rebuilt.append(Rebuilt(size.name, size.size_bytes, cursor.fetchone()[0]))
                if progress:
                    progress(size.name)
            return sizes, rebuilt
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK])


def _drop_invalid_copies(cursor, table: str) -> None:
    cursor.execute(
        """
        SELECT index_class.relname FROM pg_index AS ix JOIN pg_class AS index_class ON index_class.oid = ix.indexrelid
        WHERE ix.indrelid = %s::regclass AND NOT ix.indisvalid AND index_class.relname ~ '_ccnew[0-9]*$'
        """,
        [table],
    )
    for (name,) in cursor.fetchall():
        cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
