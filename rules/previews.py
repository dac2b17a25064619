"""What-if: the registry evaluated under a draft rule version beside the version it would replace
on a chosen date, with what the draft changes in the law (parameters, tests, tiers), the subjects
whose status would change, and anything that would refuse its publication. Nothing of record is
written."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .engine import Evaluation, evaluate_subject, what_if
from .engine import RuleVersion as EngineVersion
from .engine.formatting import format_quantity
from .engine.subject import Subject
from .library_store import engine_version, published_library
from .models import RuleVersion
from .services import publication_problems, versions_for
from .subjects import SnapshotBuilder, snapshots_for

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class PreviewInputError(ValueError):
    """An input a preview cannot use; `field` names it (`as_of`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def period_text(version: EngineVersion) -> str:
    if version.effective_from is None:
        return "never in force"
    return f"{version.effective_from.isoformat()} to {version.effective_to.isoformat() if version.effective_to else 'open'}"


def preview_as_of(draft: EngineVersion, *, today: date, requested: str | None = None) -> date:
    """The date a draft is previewed as of. By default the day nearest today on which the draft would
    be in force (`RuleVersion.day_in_force`: today inside its period, its first day before it, its
    last day after it), never a day on which it would replace nothing. A requested date must be a
    calendar date written YYYY-MM-DD inside the draft's period (any date for a text never in force);
    otherwise `PreviewInputError` naming `as_of`."""
    if requested is None or not requested.strip():
        return draft.day_in_force(today)
    text = requested.strip()
    try:
        if not ISO_DATE.fullmatch(text):
            raise ValueError
        as_of = date.fromisoformat(text)
    except ValueError:
        raise PreviewInputError("as_of", f"{text!r} is not a calendar date written YYYY-MM-DD") from None
    if draft.effective_from is not None and not draft.in_force_on(as_of):
        raise PreviewInputError("as_of", f"{as_of.isoformat()} is outside the draft's period ({period_text(draft)}): "
                                         "the draft would replace nothing on that day; choose a date in its period")
    return as_of


@dataclass
class VersionDifferences:
    """What a draft changes in the law against the version it would replace: the law's numbers
    (`parameters`: operator and value, as people read them), the tests added, removed or
    rewritten, and the tiers added, removed or changed."""

    parameters: list[dict[str, str]] = field(default_factory=list)
    tests_added: list[dict[str, str]] = field(default_factory=list)
    tests_removed: list[dict[str, str]] = field(default_factory=list)
    tests_changed: list[dict[str, str]] = field(default_factory=list)
    tiers: list[dict[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any((self.parameters, self.tests_added, self.tests_removed, self.tests_changed, self.tiers))


def _parameter_text(parameter: Any) -> str:
    return f"{parameter.operator} {format_quantity(parameter.value, parameter.unit)}" if parameter else "—"


def _tier_text(tier: Any) -> str:
    return f"{tier.title} ({tier.applies_to}; reached when {', '.join(tier.reached_when)} met)" if tier else "—"


def version_differences(current: EngineVersion | None, draft: EngineVersion) -> VersionDifferences:
    """The draft against `current` (None: nothing in force, so everything in the draft is new)."""
    found = VersionDifferences()
    before = current.parameters if current is not None else {}
    for name in sorted(set(before) | set(draft.parameters)):
        old, new = before.get(name), draft.parameters.get(name)
        if _parameter_text(old) != _parameter_text(new):
            found.parameters.append({"parameter": name, "current": _parameter_text(old), "draft": _parameter_text(new),
                                     "citation": (new or old).citation or ""})
    old_tests = {test.id: test for test in (current.tests if current is not None else ())}
    new_tests = {test.id: test for test in draft.tests}
    for test_id, test in new_tests.items():
        old = old_tests.get(test_id)
        if old is None:
            found.tests_added.append({"id": test_id, "title": test.title, "applies_to": test.applies_to,
                                      "condition": test.condition})
        elif (old.condition, old.applies_to) != (test.condition, test.applies_to):
            found.tests_changed.append({"id": test_id, "title": test.title, "current": f"{old.applies_to}: {old.condition}",
                                        "draft": f"{test.applies_to}: {test.condition}"})
    found.tests_removed = [{"id": test_id, "title": test.title, "applies_to": test.applies_to,
                            "condition": test.condition} for test_id, test in old_tests.items() if test_id not in new_tests]
    old_tiers = {tier.id: tier for tier in (current.tiers if current is not None else ())}
    new_tiers = {tier.id: tier for tier in draft.tiers}
    for tier_id in [*new_tiers, *(t for t in old_tiers if t not in new_tiers)]:
        old, new = old_tiers.get(tier_id), new_tiers.get(tier_id)
        if _tier_text(old) != _tier_text(new):
            found.tiers.append({"id": tier_id, "current": _tier_text(old), "draft": _tier_text(new)})
    return found


@dataclass
class DraftPreview:
    draft: RuleVersion
    as_of: date
    current: EngineVersion | None  # the published version the draft would replace on `as_of`
    subjects_evaluated: int
    changes: list[dict[str, Any]]
    differences: VersionDifferences
    blockers: list[str]  # why publishing would be refused: shown before anything else
    corrects: str | None = None  # the version whose period the draft corrects in part, if it says so

    @property
    def current_label(self) -> str:
        if self.current is None:
            return "no version in force"
        return f"{self.current.regime_slug}@{self.current.version_id}"

    @property
    def status_changes(self) -> list[dict[str, Any]]:
        return [change for change in self.changes if change["status_changed"]]

    @property
    def test_changes(self) -> list[dict[str, Any]]:
        return [change for change in self.changes if not change["status_changed"]]

    def to_dict(self) -> dict[str, Any]:
        """The preview as JSON (`rules preview --format json`)."""
        return {
            "regime": self.draft.regime, "draft": self.draft.version_id, "as_of": self.as_of.isoformat(),
            "replaces": ({"version": self.current.version_id, "rule_hash": self.current.content_hash}
                         if self.current is not None else None),
            "corrects": self.corrects, "blockers": list(self.blockers),
            "parameters": self.differences.parameters, "tests_added": self.differences.tests_added,
            "tests_removed": self.differences.tests_removed, "tests_changed": self.differences.tests_changed,
            "tiers": self.differences.tiers, "subjects_evaluated": self.subjects_evaluated,
            "changes": [{key: change[key] for key in ("subject_ref", "from_status", "to_status", "status_changed",
                                                      "flipped")} for change in self.changes],
        }


def draft_preview(*, draft: RuleVersion, as_of: date) -> DraftPreview:
    """The draft beside the published version in force on `as_of` (the one it would replace that day,
    `Library.in_force`, corrections included): what it changes in the law, every subject whose
    status or test outcomes differ, and the problems that would refuse its publication."""
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
    return DraftPreview(draft, as_of, current, len(items), rows, version_differences(current, candidate),
                        publication_problems(candidate), candidate.corrects)


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
