"""The decision log's indexes kept near their compact size (`rules.log_indexes`): the compact size is
what a fresh build lays out, an index split past the given ratio is rebuilt concurrently and only it,
a rebuild left half-done is cleared, and the daily beat entry and the command do it on the log."""
from __future__ import annotations

from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from rules import tasks
from rules.decision_log import verify_chain
from rules.log_indexes import (
    ADVISORY_LOCK,
    RebuildInProgress,
    compact_bytes,
    entry_bytes,
    index_sizes,
    rebuild_split_indexes,
)
from rules.models import Determination
from rules.services import run_create, run_execute_inline
from tests.rules.conftest import submit_registry

SCRATCH = "log_indexes_scratch"


def postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("indexes are rebuilt on PostgreSQL only")


def test_an_entry_is_its_columns_aligned_as_postgresql_aligns_them():
    # (subject int4, regime varchar of 15 bytes with its header, as_of date, sequence int8): 8 bytes of
    # header, 4, 15 unaligned, 4 aligned to 28, 8 aligned to 32: 40, and the line pointer
    assert entry_bytes([(4, "i"), (-15, "i"), (4, "i"), (8, "d")]) == 44
    assert entry_bytes([(8, "d")]) == 8 + 8 + 4
    assert entry_bytes([(2, "s"), (8, "d")]) == 8 + 8 + 8 + 4  # the int8 aligned past the int2
    assert entry_bytes([(4, "i"), (None, "i")]) is None
    # a page of 8,152 usable bytes filled to 90 %: 366 entries of 20 bytes less the high key
    assert compact_bytes(365, 20, block_size=8192) == 2 * 8192
    assert compact_bytes(366, 20, block_size=8192) == (2 + 1 + 1) * 8192  # two leaves, their parent, the metapage


@pytest.fixture
def scratch(transactional_db):
    """A table shaped like the log's lookup, its rows inserted in random order (leaf pages split in the
    middle, as runs split `determination_latest_as_of`'s), with a fixed-width index and a varying one."""
    postgresql_only()
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {SCRATCH} (subject int NOT NULL, regime varchar(40) NOT NULL, "
                       "as_of date NOT NULL, sequence bigint NOT NULL)")
        cursor.execute(f"CREATE INDEX {SCRATCH}_latest ON {SCRATCH} (subject, regime, as_of DESC, sequence DESC)")
        cursor.execute(f"CREATE INDEX {SCRATCH}_sequence ON {SCRATCH} (sequence)")
        cursor.execute("SELECT setseed(0.25)")
        cursor.execute(
            f"INSERT INTO {SCRATCH} SELECT subject, (ARRAY['eu-ai-act', 'us-eo-14110', 'ca-sb-53'])[regime], "
            "date '2026-01-01' + run, run * 100000 + subject * 3 + regime "
            "FROM generate_series(1, 4000) AS subject, generate_series(1, 3) AS regime, generate_series(0, 9) AS run "
            "ORDER BY random()"
        )
    yield SCRATCH
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {SCRATCH}")


def daily_task() -> list[str]:
    """The beat entry's task run through Celery in this process: its result, or its traceback when it
    failed."""
    result = tasks.rebuild_log_indexes.apply()
    assert result.successful(), result.traceback
    return result.result


def sizes(table: str) -> dict[str, object]:
    return {size.name: size for size in index_sizes(table)}


def test_a_split_index_is_rebuilt_concurrently_to_its_compact_size_and_only_it(scratch):
    before = sizes(scratch)
    latest, sequence = before[f"{scratch}_latest"], before[f"{scratch}_sequence"]
    assert latest.entries == sequence.entries == 120_000  # counted by ANALYZE, every row in a sample this small
    # random inserts leave pages two thirds to three quarters full against a build's nine tenths
    assert sequence.ratio > 1.25 and 1.1 < latest.ratio < sequence.ratio

    with connection.cursor() as cursor:
        cursor.execute("SELECT relfilenode FROM pg_class WHERE relname = %s", [latest.name])
        (latest_file,) = cursor.fetchone()
    listed, rebuilt = rebuild_split_indexes(ratio=1.25, table=scratch, dry_run=True)
    assert {size.name for size in listed} == set(before) and rebuilt == []

    names: list[str] = []
    _listed, rebuilt = rebuild_split_indexes(ratio=1.25, table=scratch, progress=names.append)
    assert [index.name for index in rebuilt] == names == [sequence.name]
    assert rebuilt[0].size_before == sequence.size_bytes > rebuilt[0].size_after
    after = sizes(scratch)
    assert 0.95 < after[sequence.name].ratio < 1.05  # the estimate is what a build lays out
    assert after[latest.name].size_bytes == latest.size_bytes  # below the ratio: left as it was
    with connection.cursor() as cursor:
        cursor.execute("SELECT relfilenode FROM pg_class WHERE relname = %s", [latest.name])
        assert cursor.fetchone() == (latest_file,)
        cursor.execute("REINDEX INDEX " + latest.name)
    assert 0.95 < sizes(scratch)[latest.name].ratio < 1.05  # the same of an index with a varying column


def test_a_rebuild_left_half_done_is_cleared_and_a_second_process_waits_its_turn(scratch):
    with connection.cursor() as cursor:
        # what an interrupted REINDEX CONCURRENTLY leaves: an invalid copy named ..._ccnew
        with pytest.raises(Exception, match="could not create unique index"):
            cursor.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {scratch}_sequence_ccnew ON {scratch} (subject)")
        cursor.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid AND indrelid = %s::regclass", [scratch])
        assert cursor.fetchone() == (1,)
    listed, _rebuilt = rebuild_split_indexes(ratio=10, table=scratch)
    assert f"{scratch}_sequence_ccnew" not in {size.name for size in listed}
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE tablename = %s", [scratch])
        assert cursor.fetchone() == (2,)

    from django.db import connections
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_LOCK])
        with pytest.raises(RebuildInProgress):
            rebuild_split_indexes(ratio=1.0, table=scratch)
        assert daily_task() == []
        with pytest.raises(CommandError, match="another process is rebuilding"):
            call_command("rebuild_log_indexes", "--no-progress")
    finally:
        other.close()


@pytest.mark.django_db(transaction=True)
def test_the_daily_task_rebuilds_the_logs_split_indexes_and_the_log_reads_and_verifies_the_same(settings, capsys):
    postgresql_only()
    for month, compute in ((3, 5e25), (6, 2e26), (9, 5e25)):  # each run revised: each appends anew
        refs = submit_registry(models=3, clusters=1, training_compute_ops=compute)
        run_execute_inline(run_create(kind="manual", as_of=date(2026, month, 1), subjects=refs))
    latest = {size.name: size for size in index_sizes(None)}["determination_latest_as_of"]
    assert latest.entries == Determination.objects.count() and latest.ratio is not None

    call_command("rebuild_log_indexes", "--dry-run", "--no-progress")
    listing = capsys.readouterr().out
    assert "determination_latest_as_of" in listing and "0 index(es) rebuilt" in listing

    # a percentage below every estimated index's own rebuilds them all, the log's lookup among them
    def newest_first() -> list[tuple]:
        return list(Determination.objects.order_by("subject", "regime", "-as_of", "-sequence")
                    .values_list("subject_ref", "regime", "as_of", "sequence", "status"))

    before = newest_first()
    assert {row[2] for row in before} == {date(2026, 3, 1), date(2026, 6, 1), date(2026, 9, 1)}
    settings.DECISION_LOG_INDEX_REBUILD_PERCENT = 100
    estimated = {size.name for size in index_sizes(None) if size.ratio is not None and size.ratio > 1.0}
    assert daily_task() == sorted(estimated)
    assert verify_chain().broken_at is None
    assert newest_first() == before
    # the once-per-run trigger finds a run's earlier rows through the rebuilt lookup: a further run appends
    refs = submit_registry(models=3, clusters=1, training_compute_ops=2e26)
    run_execute_inline(run_create(kind="manual", as_of=date(2026, 12, 1), subjects=refs))
    assert len(newest_first()) > len(before) and verify_chain().broken_at is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid AND indrelid = 'rules_determination'::regclass")
        assert cursor.fetchone() == (0,)


def test_the_command_refuses_a_percentage_below_the_compact_size(db):
    with pytest.raises(CommandError, match="--above: expected 100 or more"):
        call_command("rebuild_log_indexes", "--above", "90")


def test_nothing_is_rebuilt_on_sqlite(db, capsys):
    if connection.vendor == "postgresql":
        pytest.skip("the embedded default's answer")
    assert rebuild_split_indexes(ratio=1.0) == ([], [])
    assert daily_task() == []
    call_command("rebuild_log_indexes")
    assert "nothing to rebuild: the log is on sqlite" in capsys.readouterr().out


@pytest.mark.django_db
def test_the_rebuild_is_on_the_beat_schedule_after_the_nightly_run():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="rules.tasks.rebuild_log_indexes")
    assert task.enabled and task.crontab.hour == "4" and task.crontab.minute == "30"
    assert task.name == "Decision log: indexes rebuilt when split past their compact size"
