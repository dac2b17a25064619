"""What-if: the registry evaluated under a draft rule version beside the version it would
replace, listing the subjects whose status would change. Nothing of record is written."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from .engine import Evaluation, evaluate_subject, what_if
from .engine.subject import Subject
from .library_store import engine_version, published_library
from .models import RuleVersion
from .services import versions_for
from .subjects import SnapshotBuilder, snapshots_for


@dataclass
class DraftPreview:
    draft: RuleVersion
    as_of: date
    current_label: str
    subjects_evaluated: int
    changes: list[dict[str, Any]]

    @property
    def status_changes(self) -> list[dict[str, Any]]:
        return [change for change in self.changes if change["status_changed"]]


def preview_as_of(draft: RuleVersion, today: date) -> date:
    """A draft is previewed on the day it would take effect, or today if that has passed."""
    return max(today, draft.effective_from) if draft.effective_from else today


def draft_preview(*, draft: RuleVersion, as_of: date) -> DraftPreview:
    """Every subject whose status or test outcomes differ between the version in force and the draft."""
    candidate = engine_version(draft)
    current = published_library().in_force(candidate.regime_slug, as_of)
    kinds = {test.applies_to for test in candidate.tests}
    items = [item for item in snapshots_for(None, builder=SnapshotBuilder()) if item.key.kind in kinds]
    changes = what_if([item.snapshot for item in items], current=current, draft=candidate, as_of=as_of)
    refs = {str(change.subject): change for change in changes}
    rows = []
    for item in items:
        change = refs.get(item.key.ref)
        if change is None:
            continue
        row = change.to_dict()
        row["subject_ref"] = item.key.ref
        rows.append(row)
    label = f"{current.regime_slug}@{current.version_id}" if current else "no version in force"
    return DraftPreview(draft, as_of, label, len(items), rows)


def hypothetical_evaluations(*, subjects: list[str], as_of: date, regimes: list[str] | None = None) -> list[Evaluation]:
    """The law of `as_of` applied to each subject as it stands today ("would it have been covered?"):
    models and clusters that did not exist yet on that date are evaluated, not `not_applicable`.
    A preview: the evaluations are returned, never recorded. Raises `SubjectError` for an unknown
    subject and `ValueError` for an unknown regime."""
    versions = versions_for(published_library(), as_of=as_of, regimes=regimes or None)
    evaluations = []
    for item in snapshots_for(subjects):
        subject = Subject(item.snapshot, as_of=as_of, hypothetical=True)
        evaluations.extend(evaluate_subject(subject, version=version, regime=slug, as_of=as_of)
                           for slug, version in versions.items())
    return evaluations
