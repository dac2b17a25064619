"""One definition of a subject's current determination as of a date (`rules.current`): the newest
as-of date on or before it, then the last appended. The workspace's statuses and change detection
read it the same way, so an evaluation as of a past date does not replace a later date's answer."""
from __future__ import annotations

from datetime import date

import pytest
from django.db import transaction

from registry.services import registry_submit
from rules import decision_log, services
from rules.library_store import published_library
from rules.models import Determination, StatusChange
from rules.models.runs import Trigger
from rules.selectors import current_counts, subject_statuses
from rules.services import run_create, run_execute_inline
from rules.subjects import snapshots_for_ids
from tests.factories import ModelRecordFactory, OrganisationRecordFactory, document

pytestmark = pytest.mark.django_db

LATER, EARLIER = date(2026, 3, 1), date(2025, 9, 1)  # both under the EU AI Act's one version
REF, REGIME = "model:acme/Acme-1@1", "eu-ai-act"


def submit(training_compute_ops: float) -> None:
    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="acme", name="Acme")],
        models=[ModelRecordFactory(organisation="acme", name="Acme-1", version="1", training_compute_ops=training_compute_ops)],
    ), via="import")


def evaluated(as_of: date) -> Determination:
    run = run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=as_of, subjects=[REF]))
    return Determination.objects.get(run=run, regime=REGIME)


@pytest.fixture
def past_dated():
    """Covered as of LATER; then, with smaller facts, evaluated as of EARLIER: appended last, dated first."""
    submit(5e25)
    later = evaluated(LATER)
    submit(1e20)
    earlier = evaluated(EARLIER)
    assert (later.status, earlier.status) == ("covered", "not_covered") and earlier.sequence > later.sequence
    return later, earlier


def test_the_current_determination_is_the_newest_as_of_date_not_the_last_appended(past_dated):
    later, earlier = past_dated
    assert subject_statuses(subject_ref=REF, as_of=LATER)[REGIME].pk == later.pk
    assert subject_statuses(subject_ref=REF, as_of=EARLIER)[REGIME].pk == earlier.pk
    counts = next(c for c in current_counts(as_of=LATER)[0] if c.regime.regime == REGIME)
    assert counts.counts.get("covered") == 1 and "not_covered" not in counts.by_kind


def test_change_detection_compares_with_the_same_current_determination_the_workspace_shows(past_dated):
    later, _earlier = past_dated
    run = run_create(kind=Trigger.MANUAL, as_of=LATER, subjects=[REF])
    previous = services.previous_determinations({(REF, REGIME)}, run=run)
    assert previous.rows[REF, REGIME].sequence == later.pk == subject_statuses(subject_ref=REF, as_of=LATER)[REGIME].pk
    run = run_execute_inline(run)
    change = StatusChange.objects.get(run=run, regime=REGIME)
    assert (change.from_determination_id, change.from_status, change.to_status) == (later.pk, "covered", "not_covered")


def test_a_past_dated_row_appended_after_the_early_read_does_not_replace_the_newer_one():
    """Rows appended between the read before the lock and the write are merged in the same order."""
    submit(5e25)
    later = evaluated(LATER)
    submit(1e20)
    run = run_create(kind=Trigger.MANUAL, as_of=LATER, subjects=[REF])
    early = services.previous_determinations({(REF, REGIME)}, run=run)
    evaluated(EARLIER)  # another worker's past-dated row, appended after the early read
    chunk = run.chunks.get()
    with transaction.atomic():
        snapshots = snapshots_for_ids(model_ids=chunk.subjects["model"])
        entries = services.evaluate_snapshots(snapshots, versions=services.versions_for(
            published_library(), as_of=LATER, regimes=[REGIME]), as_of=LATER)
        rows = decision_log.append(entries, trigger=run.kind, run=run)
        assert services.record_changes(run, rows, early) == 1
    assert StatusChange.objects.get(run=run).from_determination_id == later.pk
