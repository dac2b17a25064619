"""The words a determination is written in, defined once: a regime's status and a test's outcome
(DESIGN.md, "Vocabulary" and "Statuses"), with the labels people read next to them.

Plain `StrEnum`s, so the engine stays free of Django; model fields, serializers, filters, template
tags and reports take their choices and labels from here.
"""
from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Status(StrEnum):
    """A regime's status for one subject on one as-of date."""

    COVERED = "covered"  # a test is met
    NOT_COVERED = "not_covered"  # every test is decidably unmet
    INDETERMINATE = "indeterminate"  # a test cannot be decided
    NOT_IN_FORCE = "not_in_force"  # no version of the regime is in force on the as-of date
    NOT_APPLICABLE = "not_applicable"  # the version in force has no test for this subject, or it did not exist yet


class Outcome(StrEnum):
    """One test's outcome."""

    MET = "met"
    NOT_MET = "not_met"
    INDETERMINATE = "indeterminate"


# What a change of outcome shows for a test one of the two rule versions does not have.
NO_OUTCOME = "absent"

STATUS_LABELS: Mapping[Status, str] = {
    Status.COVERED: "covered",
    Status.NOT_COVERED: "not covered",
    Status.INDETERMINATE: "indeterminate",
    Status.NOT_IN_FORCE: "not in force",
    Status.NOT_APPLICABLE: "not applicable",
}
OUTCOME_LABELS: Mapping[Outcome, str] = {
    Outcome.MET: "met",
    Outcome.NOT_MET: "not met",
    Outcome.INDETERMINATE: "indeterminate",
}

# The statuses a test decides, as a list filter offers them: most severe first.
DECIDED_STATUSES: tuple[Status, ...] = (Status.COVERED, Status.NOT_COVERED, Status.INDETERMINATE)

# The outcome a deciding test has for a status (a covered status rests on a met test).
DECIDING_OUTCOME: Mapping[Status, Outcome] = {
    Status.COVERED: Outcome.MET,
    Status.INDETERMINATE: Outcome.INDETERMINATE,
}

class ObligationStatus(StrEnum):
    """An obligation's status for one subject on one date (DESIGN.md "Obligations (v1)")."""

    NOT_YET_DUE = "not_yet_due"  # it has not arisen yet: the dated fact it runs from is still to come
    DUE = "due"  # it has arisen and its due date has not passed
    OVERDUE = "overdue"  # its due date has passed and no fulfilment stands
    FULFILLED = "fulfilled"  # a fulfilment on or before the due date stands
    FULFILLED_LATE = "fulfilled_late"  # a fulfilment stands, dated after the due date
    NOT_APPLICABLE = "not_applicable"  # the determination does not reach the tier or test it attaches to


OBLIGATION_STATUS_LABELS: Mapping[ObligationStatus, str] = {
    ObligationStatus.NOT_YET_DUE: "not yet due",
    ObligationStatus.DUE: "due",
    ObligationStatus.OVERDUE: "overdue",
    ObligationStatus.FULFILLED: "fulfilled",
    ObligationStatus.FULFILLED_LATE: "fulfilled late",
    ObligationStatus.NOT_APPLICABLE: "not applicable",
}

STATUS_CHOICES: list[tuple[str, str]] = [(status.value, label) for status, label in STATUS_LABELS.items()]
OUTCOME_CHOICES: list[tuple[str, str]] = [(outcome.value, label) for outcome, label in OUTCOME_LABELS.items()]
OBLIGATION_STATUS_CHOICES: list[tuple[str, str]] = [
    (status.value, label) for status, label in OBLIGATION_STATUS_LABELS.items()
]


def status_label(status: str) -> str:
    """`not covered` for `not_covered`; an unknown word is shown as it is."""
    try:
        return STATUS_LABELS[Status(status)]
    except ValueError:
        return status


def outcome_label(outcome: str) -> str:
    """`not met` for `not_met`; an unknown word (e.g. `absent`) is shown as it is."""
    try:
        return OUTCOME_LABELS[Outcome(outcome)]
    except ValueError:
        return outcome


def status_line(status: str, tier_title: str | None = None) -> str:
    """A status as reports and the workspace print it, with the tier reached: `covered: GPAI model
    with systemic risk`; without a tier, the status's label alone."""
    label = status_label(status)
    return f"{label}: {tier_title}" if tier_title else label


def obligation_status_label(status: str) -> str:
    """`fulfilled late` for `fulfilled_late`; an unknown word is shown as it is."""
    try:
        return OBLIGATION_STATUS_LABELS[ObligationStatus(status)]
    except ValueError:
        return status
