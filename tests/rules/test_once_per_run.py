"""A run determines each subject under each regime once, as of its own date: the database refuses
the row that would be a second (a trigger, migration rules.0022, on both databases), whatever
writes it, and nothing of the refused statement is written."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Max

from rules.models import Determination
from rules.services import run_create, run_execute_inline
from tests.rules.conftest import submit_registry

pytestmark = pytest.mark.django_db

AS_OF = date(2026, 3, 1)
REGIMES = ["eu-ai-act", "us-eo-14110"]


@pytest.fixture
def run_rows() -> list[Determination]:
    """The rows of one run over 2 models, 1 cluster and their organisation under two regimes."""
    refs = submit_registry(models=2, clusters=1, training_compute_ops=5e24)
    run = run_execute_inline(run_create(kind="manual", as_of=AS_OF, subjects=refs, regimes=REGIMES))
    rows = list(Determination.objects.filter(run=run).order_by("sequence"))
    assert len(rows) == 8
    return rows


def copies(row: Determination, count: int = 1, *, model=Determination, **changed) -> list[Determination]:
    """`count` new rows like `row` (its subject, regime, run and as-of date unless `changed`), each at
    the next position of the log; `model`, the log's model as a migration's state has it."""
    last = model.objects.aggregate(last=Max("sequence"))["last"]
    made = []
    for offset in range(1, count + 1):
        copy = model.objects.get(sequence=row.sequence)
        copy.pk = None
        copy.sequence = last + offset
        for name, value in changed.items():
            setattr(copy, name, value)
        made.append(copy)
    return made


def refused(rows: list[Determination], *, model=Determination) -> IntegrityError:
    before = model.objects.count()
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        model.objects.bulk_create(rows)
    assert model.objects.count() == before
    return excinfo.value


def test_a_second_determination_of_a_subject_under_a_regime_in_one_run_is_refused(run_rows):
    row = run_rows[3]
    error = refused(copies(row))
    if connection.vendor == "postgresql":
        assert f"run {row.run_id} has determined {row.subject_ref} under {row.regime} already" in str(error)


def test_two_determinations_of_one_subject_in_one_statement_are_both_refused(run_rows):
    row = run_rows[1]
    other = next(r for r in run_rows if r.subject_ref != row.subject_ref)
    refused(copies(row, 2, regime="a-regime-not-run"))
    # one row of each subject in one statement is written
    Determination.objects.bulk_create(copies(row, regime="a-regime-not-run")
                                      + copies(other, 2, regime="a-regime-not-run")[1:])
    assert Determination.objects.filter(run_id=row.run_id, regime="a-regime-not-run").count() == 2


def test_a_runs_determination_as_of_another_date_than_the_runs_is_refused(run_rows):
    row = run_rows[2]
    error = refused(copies(row, regime="a-regime-not-run", as_of=AS_OF + timedelta(days=1)))
    if connection.vendor == "postgresql":
        assert f"run {row.run_id} is as of {AS_OF.isoformat()}" in str(error)


def test_another_run_as_of_the_same_date_determines_the_subject_again(run_rows):
    again = run_execute_inline(run_create(kind="manual", as_of=AS_OF, regimes=REGIMES, confirms=False))
    assert Determination.objects.filter(run=again).count() == 8
    assert Determination.objects.filter(as_of=AS_OF).count() == 16


def test_determinations_outside_a_run_are_not_limited(run_rows):
    """A lab's evaluations of its own model, as of one date, are each recorded."""
    row = run_rows[0]
    Determination.objects.bulk_create(copies(row, 2, run=None))
    assert Determination.objects.filter(subject_ref=row.subject_ref, regime=row.regime, as_of=AS_OF).count() == 3


def once_per_run_triggers() -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
                           "AND tgrelid = 'rules_determination'::regclass")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'rules_determination'")
        return {name for (name,) in cursor.fetchall() if name.endswith("once_per_run")}


@pytest.mark.django_db(transaction=True)
def test_the_migration_replaces_the_unique_index_by_the_trigger_and_back(run_rows):
    row = run_rows[5]
    back = ("rules", "0021_facts_snapshots_packed_against_a_dictionary")
    executor = MigrationExecutor(connection)
    executor.migrate([back])
    old = executor.loader.project_state([back]).apps.get_model("rules", "Determination")
    assert once_per_run_triggers() == set()
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "rules_determination")
    assert "determination_once_per_run_subject_regime" in constraints
    assert "determination_run" not in constraints
    refused(copies(row, model=old), model=old)  # by the unique index
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())  # forwards
    assert once_per_run_triggers() == {"rules_determination_once_per_run"}
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "rules_determination")
    assert "determination_once_per_run_subject_regime" not in constraints
    assert constraints["determination_run"]["columns"] == ["run_id"]
    refused(copies(row))  # by the trigger
