"""A determination's key is its position in the chain: migration rules.0023 drops the identity column
it had besides, and what referred to a determination by that id refers to it by its position, on
both databases, even where the two differed."""
from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.db.models import Max

from obligations.models import ObligationState
from rules.decision_log import verify_chain
from rules.models import Determination, StatusChange
from rules.services import run_create, run_execute_inline
from tests.rules.conftest import migrated, submit_registry

BEFORE = ("rules", "0022_once_per_run_refused_by_a_trigger")


def columns() -> set[str]:
    with connection.cursor() as cursor:
        return {c.name for c in connection.introspection.get_table_description(cursor, "rules_determination")}


def test_a_determination_is_found_and_shown_by_its_position(db):
    run_execute_inline(run_create(kind="manual", as_of=date(2026, 3, 1), subjects=submit_registry(models=1)))
    row = Determination.objects.order_by("-sequence").first()
    assert row.pk == row.sequence
    assert "id" not in columns()
    assert Determination.objects.get(pk=row.sequence).subject_ref == row.subject_ref


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_references_from_ids_to_positions_and_back():
    refs = submit_registry(models=2, training_compute_ops=5e25)
    run = run_execute_inline(run_create(kind="manual", as_of=date(2026, 3, 1), subjects=refs))
    states = dict(ObligationState.objects.exclude(determination=None).values_list("pk", "determination_id"))
    assert states, "the run recorded no obligation state to follow through the migration"
    executor = migrated([BEFORE])
    assert {"id", "sequence"} <= columns()
    old = executor.loader.project_state([BEFORE]).apps
    OldDetermination, OldChange = old.get_model("rules", "Determination"), old.get_model("rules", "StatusChange")
    # a row whose id is not its position, as after a transaction that took ids and was rolled back
    model_row = OldDetermination.objects.filter(subject_kind="model").order_by("sequence").first()
    values = {f.attname: getattr(model_row, f.attname) for f in OldDetermination._meta.concrete_fields}
    last = OldDetermination.objects.aggregate(last=Max("sequence"))["last"]
    values.update(id=last + 1000, sequence=last + 1, run_id=None, regime="a-regime-not-run")
    shifted = OldDetermination.objects.create(**values)
    OldChange.objects.create(
        run_id=run.pk, subject_ref=model_row.subject_ref, organisation=model_row.organisation,
        regime="a-regime-not-run", from_status="not_covered", to_status="covered",
        from_determination_id=model_row.id, to_determination_id=shifted.id)

    migrated()
    assert "id" not in columns()
    change = StatusChange.objects.get(regime="a-regime-not-run")
    assert change.to_determination_id == last + 1 and change.to_determination.pk == last + 1
    assert change.from_determination.sequence == model_row.sequence
    assert dict(ObligationState.objects.exclude(determination=None).values_list("pk", "determination_id")) == states
    # the hashes never covered the id: the chain is whole (the shifted row is no link of it, so
    # verifying stops there: only the rows before it are checked)
    report = verify_chain()
    assert report.broken_at in (None, last + 1), report

    executor = migrated([BEFORE])  # back: each row's id is its position
    old = executor.loader.project_state([BEFORE]).apps
    change = old.get_model("rules", "StatusChange").objects.get(regime="a-regime-not-run")
    assert change.to_determination_id == last + 1
    assert old.get_model("rules", "Determination").objects.get(id=last + 1).sequence == last + 1
    migrated()
    assert "id" not in columns()
    Determination.objects.get(pk=last + 1)
