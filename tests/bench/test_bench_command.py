"""`manage.py bench` end to end at a tiny size: its own database, the measurements as one JSON object."""
from __future__ import annotations

import io
import json
import os

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

POSTGRESQL = "postgresql" in settings.DATABASES["default"]["ENGINE"]
BROKER = os.environ.get("REDIS_URL", "")


def bench(**options):
    out = io.StringIO()
    call_command("bench", json=True, stdout=out, database_name=f"bench_t{os.getpid()}", **options)
    return json.loads(out.getvalue())


def test_the_bench_command_measures_a_tiny_registry_and_prints_json():
    result = bench(models=24, clusters=4, chunk_size=7, latency_samples=3, api_seconds=1, api_concurrency=2,
                   skip_reports=True, workers="2" if (POSTGRESQL and BROKER) else "0", readers=2)
    for key in ("determinations_per_second", "copy_rows_per_second", "ratio_to_copy", "peak_rss_mb"):
        assert result[key] is not None and result[key] > 0, key
    assert result["ratio_to_copy"] == pytest.approx(result["determinations_per_second"] / result["copy_rows_per_second"],
                                                    abs=1e-4)
    reevaluation = result["reevaluate"]
    assert result["generate"]["subjects"] == reevaluation["subjects"] == 24 + 4 + 1
    assert reevaluation["determinations"] == reevaluation["subjects"] * 6 and reevaluation["chunks"] == 5
    assert reevaluation["queries_per_chunk"]["max"] > 0
    stages = reevaluation["profile"]["stages"]
    assert stages["engine: every subject under every regime"]["cpu"] > 0
    writer_stage = "chunk chained, written and committed (writer)"
    assert stages[writer_stage]["wall"] > 0  # chunk after chunk too, the write is a stage of its own
    if POSTGRESQL:  # two readers forked from the phase's process; what they measured came back
        assert reevaluation["pipelined"] and reevaluation["reader_processes"] == 2
        assert 1 <= len(reevaluation["reader_peak_rss_mb"]) <= 2
        assert reevaluation["peak_rss_mb"] == pytest.approx(
            reevaluation["writer_peak_rss_mb"] + sum(reevaluation["reader_peak_rss_mb"]), abs=0.2)
    else:  # the embedded default runs chunk after chunk in one thread
        assert not reevaluation["pipelined"]
    unchanged = result["unchanged_run"]  # the same registry again, as of the next day, as the nightly run makes it
    assert unchanged["as_of"] > reevaluation["as_of"] and unchanged["kind"] == "schedule"
    assert unchanged["status"] == "finished"
    assert result["unchanged_run_seconds"] == unchanged["seconds"] > 0
    assert unchanged["log_rows_before"] == reevaluation["determinations"]
    assert unchanged["log_rows_after"] == unchanged["log_rows_before"] + unchanged["determinations_written"]
    # nothing changed: every determination is confirmed, none appended again
    assert unchanged["determinations_written"] + unchanged["determinations_confirmed"] == reevaluation["determinations"]
    assert unchanged["determinations_confirmed"] > unchanged["determinations_written"]
    assert 0 < unchanged["confirmations"] <= reevaluation["chunks"]  # one per chunk at most
    assert result["verify"]["ok"] and result["verify"]["rows"] == unchanged["log_rows_after"]  # both runs' rows
    log_size = result["log_size"]
    assert log_size["determinations"] == reevaluation["determinations"]
    if POSTGRESQL:
        assert result["log_bytes_per_determination"] == log_size["bytes_per_determination"] > 0
        assert log_size["tables"]["rules_determination"] > 0 and log_size["tables"]["rules_factssnapshot"] > 0
        assert log_size["bytes"] == sum(log_size["tables"].values())
        assert set(log_size["missing"]) <= {"rules_payload", "rules_confirmation"}  # tables not in every schema
        assert result["unchanged_run_bytes"] == unchanged["bytes"] > 0
    else:  # no portable size per table on the embedded default
        assert result["log_bytes_per_determination"] is None and log_size["reason"]
        assert result["unchanged_run_bytes"] is None and unchanged["reason"]
    assert result["latency"]["evaluate"]["samples"] == 3 and result["latency"]["evaluate"]["p99_ms"] > 0
    assert result["database"] == ("postgresql" if POSTGRESQL else "sqlite")
    api = result["api"]
    assert api["healthz"]["requests"] > 0 and not api["healthz"]["errors"]
    assert api["submission"]["requests"] > 0 and not api["submission"]["errors"], api["submission"]
    if POSTGRESQL and BROKER:
        spread = result["scale_out"]["2"]
        assert spread["status"] == "finished" and spread["same_as_in_process"]["same"], spread
        assert len(spread["worker_peak_rss_mb"]) == 2
    else:
        assert result["scale_out"]["reason"]


def test_the_bench_command_leaves_out_the_unchanged_run_when_asked():
    result = bench(models=6, clusters=1, chunk_size=50, latency_samples=1, api_seconds=0.2, api_concurrency=1,
                   skip_reports=True, skip_verify=True, workers="0", skip_unchanged_run=True)
    assert result["unchanged_run_seconds"] is None and result["unchanged_run_bytes"] is None
    assert result["unchanged_run"]["reason"] == "not asked for (--skip-unchanged-run)"
    assert result["determinations_per_second"] > 0  # the rest is measured as before
    if POSTGRESQL:
        assert result["log_bytes_per_determination"] > 0


def test_the_bench_command_refuses_a_database_name_it_could_mistake_for_a_real_one():
    if not POSTGRESQL:
        pytest.skip("the name is only a database name on PostgreSQL")
    with pytest.raises(CommandError, match="must start with bench_"):
        call_command("bench", models=2, clusters=0, json=True, stdout=io.StringIO(), database_name="registry")


def test_the_bench_command_refuses_bad_sizes_naming_the_option():
    with pytest.raises(CommandError, match="--models"):
        call_command("bench", models=0, clusters=1, stdout=io.StringIO())
    with pytest.raises(CommandError, match="--workers"):
        call_command("bench", models=1, clusters=1, workers="two", stdout=io.StringIO())
    with pytest.raises(CommandError, match="--readers: must be 0 or more, got -1"):
        call_command("bench", models=1, clusters=1, readers=-1, stdout=io.StringIO())


def test_the_bench_command_builds_a_history_and_times_every_page_and_filter():
    """`--history-runs` appends more dated runs to the log, some after revised models; `--pages` times
    the dashboard, each list with each of its filters, a subject page and the API lists, server side,
    with the SQL statements of each."""
    result = bench(models=12, clusters=2, chunk_size=50, api_seconds=0.2, api_concurrency=1, api_only=True,
                   history_runs=2, history_start="2026-03-01", history_step_days=45, history_changes=3,
                   pages=True, pages_samples=2, pages_vacuum=True)
    history = result["history"]
    assert [run["as_of"] for run in history["runs"]] == ["2026-03-01", "2026-04-15"]
    assert [run["revised_models"] for run in history["runs"]] == [0, 3]
    first, second = history["runs"]
    # every subject under every regime, each run: the second appends what changed and confirms the rest
    assert first["determinations"] == second["determinations"] + second["confirmed"] >= result["generate"]["subjects"] * 6
    assert (first["confirmed"], second["revised_models"]) == (0, 3) and 0 < second["determinations"] < first["determinations"]
    assert history["log_rows"] >= first["determinations"] + second["determinations"]
    # after each run the log's indexes are upkept as the daily task does, on PostgreSQL
    assert history["index_upkeep"] is True
    if POSTGRESQL:
        assert all(isinstance(run["indexes_rebuilt"], list) and run["log_table_bytes_per_row"] > 0
                   for run in history["runs"])
        assert history["log_bytes_per_row"] > 0
    else:
        assert not any("indexes_rebuilt" in run for run in history["runs"])
    pages = result["pages"]
    for name in ("dashboard", "models list", "clusters list", "determinations list", "subject page (model)",
                 "subject page (cluster)", "API models list", "API determinations list"):
        assert pages[name]["status"] == 200, (name, pages[name])
        assert pages[name]["samples"] == 2 and pages[name]["p50_ms"] > 0 and pages[name]["queries"] > 0, name
    filtered = [name for name in pages if name.startswith("models list filtered by ")]
    assert len(filtered) >= 2, sorted(pages)  # each of the list's filters, read from the page itself
    assert all(pages[name]["status"] == 200 for name in filtered)
    assert result["pages_vacuumed"] is POSTGRESQL  # VACUUM (ANALYZE) before the pages, where there is one


def test_the_bench_command_refuses_to_reuse_what_it_cannot():
    with pytest.raises(CommandError, match="--history-runs: must be 0 or more"):
        call_command("bench", models=1, clusters=1, history_runs=-1, stdout=io.StringIO())
    if not POSTGRESQL:
        with pytest.raises(CommandError, match="--reuse needs PostgreSQL"):
            call_command("bench", models=1, clusters=1, reuse=True, stdout=io.StringIO())
