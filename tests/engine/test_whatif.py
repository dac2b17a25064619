"""what_if(): previewing a draft lists the subjects whose status or tests would change."""

from __future__ import annotations

import copy
from datetime import date

from rules.engine.library import parse_rule_version
from rules.engine.whatif import what_if

from .conftest import FIXTURES
from .snapshots import cluster_snapshot, model_snapshot

TEXT = (FIXTURES / "library" / "us-eo-14110" / "2023-10-30.yaml").read_text(encoding="utf-8")
AS_OF = date(2024, 6, 1)


def _versions():
    current = parse_rule_version(TEXT, origin="current.yaml")
    draft = parse_rule_version(TEXT.replace("value: 1e26", "value: 1e25"), origin="draft.yaml")
    return current, draft


def _snapshots():
    return [
        model_snapshot({"name": "Between", "training_compute_ops": 5e25}),
        model_snapshot({"name": "Above", "training_compute_ops": 2e26}),
        model_snapshot({"name": "Below", "training_compute_ops": 5e24}),
        cluster_snapshot({"groups": [{"accelerator_count": 100}]}),
    ]


def test_lowering_1e26_to_1e25_lists_the_model_in_between() -> None:
    current, draft = _versions()
    changes = what_if(_snapshots(), current=current, draft=draft, as_of=AS_OF)
    assert [change.to_dict() for change in changes] == [{
        "subject": {"kind": "model", "organisation": "acme", "name": "Between", "version": "1"},
        "from_status": "not_covered", "to_status": "covered", "status_changed": True,
        "flipped": [{"id": "model-general", "from": "not_met", "to": "met"}],
    }]


def test_what_if_without_a_current_version_starts_from_not_in_force() -> None:
    _, draft = _versions()
    changes = what_if(_snapshots()[:2], current=None, draft=draft, as_of=AS_OF)
    assert [(change.subject.name, change.from_status, change.to_status) for change in changes] == [
        ("Between", "not_in_force", "covered"), ("Above", "not_in_force", "covered")]


def test_what_if_writes_nothing_to_the_snapshots() -> None:
    current, draft = _versions()
    snapshots = _snapshots()
    before = copy.deepcopy(snapshots)
    what_if(snapshots, current=current, draft=draft, as_of=AS_OF)
    assert snapshots == before


def test_a_model_that_did_not_exist_yet_on_the_preview_date_is_not_applicable_on_both_sides() -> None:
    """What-if answers as the world stood on its date, as determinations of record do."""
    current, draft = _versions()
    later = model_snapshot({"name": "Later", "training_compute_ops": 5e25, "training_completed_on": "2024-06-02"})
    assert what_if([later], current=current, draft=draft, as_of=AS_OF) == []
    on_the_day = model_snapshot({"name": "Later", "training_compute_ops": 5e25, "training_completed_on": "2024-06-01"})
    (change,) = what_if([on_the_day], current=current, draft=draft, as_of=AS_OF)
    assert (change.from_status, change.to_status) == ("not_covered", "covered")
