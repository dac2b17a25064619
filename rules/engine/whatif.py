"""Preview a draft rule version: which subjects would change status, and which tests flip.
Pure: evaluates, writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from .evaluate import evaluate_subject
from .library import RuleVersion
from .subject import Subject, SubjectRef


@dataclass(frozen=True, slots=True)
class Change:
    """A subject whose status or test outcomes differ under the draft."""

    subject: SubjectRef
    from_status: str
    to_status: str
    flipped: tuple[dict[str, Any], ...]

    @property
    def status_changed(self) -> bool:
        return self.from_status != self.to_status

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject.to_dict(), "from_status": self.from_status, "to_status": self.to_status,
                "status_changed": self.status_changed, "flipped": [dict(flip) for flip in self.flipped]}


def what_if(snapshots: Iterable[dict[str, Any]], *, current: RuleVersion | None, draft: RuleVersion,
            as_of: date) -> list[Change]:
    """Every subject whose status or any test outcome differs between `current` and `draft`."""
    regime = draft.regime_slug
    changes = []
    for snapshot in snapshots:
        subject = Subject(snapshot, as_of=as_of)
        before = evaluate_subject(subject, version=current, regime=regime, as_of=as_of)
        after = evaluate_subject(subject, version=draft, regime=regime, as_of=as_of)
        old = {test.id: test.outcome for test in before.tests}
        new = {test.id: test.outcome for test in after.tests}
        flipped = tuple({"id": test_id, "from": old.get(test_id), "to": new.get(test_id)}
                        for test_id in dict.fromkeys([*old, *new]) if old.get(test_id) != new.get(test_id))
        if before.status != after.status or flipped:
            changes.append(Change(subject.ref, before.status, after.status, flipped))
    return changes
