"""Obligations in the reports: a subject's obligations for its audit report, and the regulator's
compliance calendar (every subject's obligations as of a date, overdue first, then by due date,
grouped by month, with the law each obligation rests on quoted once), and their CSV rows.

The statuses and due dates are the obligations engine's (`obligations.services.obligations_as_of`),
worked out from the determinations of record as of the date; nothing is decided here."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from obligations.listing import obligations_on
from obligations.services import ObligationView
from rules.engine.vocabulary import ObligationStatus, obligation_status_label

from .. import selectors
from .common import iso_date, iso_datetime

# Not owed: kept out of the calendar (the audit report still lists them, with the reason).
NOT_OWED = (ObligationStatus.NOT_APPLICABLE,)
CSV_FIELDS = ("as_of", "subject", "subject_kind", "organisation", "regime", "obligation", "occurrence", "title",
              "citation", "due_on", "due_reason", "status", "fulfilments", "rule_version", "determination")
ACCEPTED_WORDS = {True: "accepted", False: "rejected", None: "not reviewed"}


def fulfilment_words(view: ObligationView) -> str:
    """`2027-01-10 EU-AIO-1 (accepted); 2027-02-01 EU-AIO-2 (not reviewed)`, or empty."""
    return "; ".join(f"{f.fulfilled_on.isoformat()} {f.reference} ({ACCEPTED_WORDS[f.accepted]})"
                     for f in view.fulfilments)


def is_verbatim(provenance: str) -> bool:
    """A text whose provenance is SECONDARY or UNVERIFIED is a paraphrase, never shown as a quotation
    (SOURCES.md); the V- labels are the law's own words."""
    return provenance.startswith("V-")


def law_key(view: ObligationView) -> str:
    """The passage of law an obligation rests on: one per obligation of one rule version."""
    return f"{view.regime}@{view.rule_version_label}:{view.obligation}"


def _obligation(view: ObligationView) -> dict[str, Any]:
    return {
        "subject": view.subject, "subject_kind": view.subject_kind, "organisation": view.organisation,
        "regime": view.regime, "obligation": view.obligation, "occurrence": view.occurrence, "title": view.title,
        "citation": view.citation, "quote": view.quote, "provenance": view.provenance or "—",
        "verbatim": is_verbatim(view.provenance),
        "due_on": iso_date(view.due_on), "due_reason": view.due_reason or "—", "status": str(view.status),
        "status_label": obligation_status_label(view.status), "rule_version": view.rule_version_label or "—",
        "determination": view.determination_id,
        "fulfilments": [{"fulfilled_on": iso_date(f.fulfilled_on), "reference": f.reference,
                         "review": ACCEPTED_WORDS[f.accepted]} for f in view.fulfilments],
    }


def subject_obligations(*, subject_ref: str, as_of: date) -> dict[str, list[dict[str, Any]]]:
    """The audit report's obligations of one subject: those owed (overdue first, then by due date, each
    with its law) and those that do not apply (with the reason)."""
    views = obligations_on(as_of=as_of, subject_refs=[subject_ref])
    return {"owed": [_obligation(view) for view in views if view.status not in NOT_OWED],
            "not_owed": [_obligation(view) for view in views if view.status in NOT_OWED]}


def calendar_views(*, as_of: date) -> list[ObligationView]:
    """What is owed (everything but not applicable) by every subject, in the calendar's order."""
    return [view for view in obligations_on(as_of=as_of) if view.status not in NOT_OWED]


def _month(view: ObligationView) -> tuple[str, str]:
    if view.status == ObligationStatus.OVERDUE:
        return "overdue", "Overdue"
    if view.due_on is None:
        return "undated", "No due date yet (the dated fact it runs from has not happened)"
    return f"month-{view.due_on:%Y-%m}", f"{view.due_on:%B %Y}"


def calendar_context(*, as_of: date, generated_at: datetime) -> dict[str, Any]:
    """The compliance calendar: obligations overdue on `as_of`, then by month of their due date."""
    views = calendar_views(as_of=as_of)
    groups: OrderedDict[str, dict[str, Any]] = OrderedDict()
    laws: OrderedDict[str, dict[str, Any]] = OrderedDict()
    for view in views:
        key = law_key(view)
        if key not in laws:
            laws[key] = {"anchor": f"law-{len(laws) + 1}", "regime": view.regime, "obligation": view.obligation,
                         "title": view.title, "citation": view.citation, "quote": view.quote,
                         "provenance": view.provenance or "—", "rule_version": view.rule_version_label or "—",
                         "verbatim": is_verbatim(view.provenance)}
        anchor, heading = _month(view)
        group = groups.setdefault(anchor, {"anchor": anchor, "heading": heading, "rows": []})
        row = _obligation(view)
        row["law_anchor"] = laws[key]["anchor"]
        group["rows"].append(row)
    undated = groups.pop("undated", None)
    ordered = list(groups.values()) + ([undated] if undated else [])
    counts = {status: sum(1 for v in views if v.status == status) for status in
              (ObligationStatus.OVERDUE, ObligationStatus.DUE, ObligationStatus.NOT_YET_DUE,
               ObligationStatus.FULFILLED, ObligationStatus.FULFILLED_LATE)}
    head = selectors.chain_head()
    return {
        "kind": "obligations",
        "title": f"Compliance calendar as of {as_of.isoformat()}",
        "as_of": as_of.isoformat(),
        "generated_at": iso_datetime(generated_at),
        "groups": ordered,
        "laws": list(laws.values()),
        "counts": [{"status": str(status), "label": obligation_status_label(status), "count": count}
                   for status, count in counts.items()],
        "total": len(views),
        "subject_count": len({v.subject for v in views}),
        "chain_head": {"sequence": head.sequence, "row_sha256": head.row_sha256},
        "toc": [
            {"anchor": "summary", "title": "Summary"},
            *({"anchor": g["anchor"], "title": f"{g['heading']} ({len(g['rows'])})"} for g in ordered),
            {"anchor": "law", "title": "The law quoted"},
            {"anchor": "decision-log-head", "title": "Decision log"},
        ],
    }


def calendar_records(*, as_of: date) -> Iterable[dict[str, Any]]:
    """The calendar as CSV rows (`CSV_FIELDS`), in its order."""
    for view in calendar_views(as_of=as_of):
        yield obligation_record(view, as_of=as_of)


def obligation_record(view: ObligationView, *, as_of: date | None) -> dict[str, Any]:
    """One obligation as a CSV row of `CSV_FIELDS` (the fulfilments in words)."""
    return {
        "as_of": as_of.isoformat() if as_of else None, "subject": view.subject, "subject_kind": view.subject_kind,
        "organisation": view.organisation, "regime": view.regime, "obligation": view.obligation,
        "occurrence": view.occurrence, "title": view.title, "citation": view.citation,
        "due_on": view.due_on.isoformat() if view.due_on else None, "due_reason": view.due_reason,
        "status": str(view.status), "fulfilments": fulfilment_words(view),
        "rule_version": view.rule_version_label or None, "determination": view.determination_id,
    }
