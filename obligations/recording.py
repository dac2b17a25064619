"""Recording what labs and regulators say about obligations: a fulfilment (with its document), an
incident, a regulator's review of a fulfilment.

Every write is validated first, naming each field and its problem (ObligationRecordError, nothing
written); then the row and its audit event (`obligation_record_created`) are written in one
transaction; then the subject's obligation states are brought up to date. The API, the admin and
the `fulfil` / `record_incident` commands all come through here.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from datetime import date
from typing import IO, Any

from django.conf import settings
from django.core.files.base import File
from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from registry.interchange import Problem, subject_parts
from registry.models import AIModel, Cluster, Organisation
from rules.engine.obligations import INCIDENT_DISCOVERED, AfterFact
from rules.library_store import published_library

from .models import (
    REFRESH_NEXT,
    Fulfilment,
    FulfilmentReview,
    Incident,
    IncidentSeverity,
    ObligationState,
    ReviewDecision,
)
from .services import declared_obligations, marked_now, refresh_states
from .signals import obligation_record_created

log = logging.getLogger(__name__)

PERIOD = re.compile(r"^(?P<year>\d{4})-Q(?P<quarter>[1-4])$")
INCIDENT_OCCURRENCE = re.compile(r"^incident-(?P<pk>[0-9]+)$")
SUBJECT_FORMAT = "model:ORG/NAME@VERSION, cluster:ORG/NAME or organisation:ORG"


class ObligationRecordError(Exception):
    """A refused record: each problem names its field (`subject`, `fulfilled_on`, ...)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Document:
    """An uploaded file as the recording needs it: its own name and its bytes, read once."""

    name: str
    stream: IO[bytes]


def _today() -> date:
    return timezone.localdate()


def _as_date(value: Any, field: str, problems: list[Problem]) -> date | None:
    if isinstance(value, date):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.append(Problem(field, "is required: a date as YYYY-MM-DD"))
        return None
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    problems.append(Problem(field, f"must be a date as YYYY-MM-DD, got {value!r}"))
    return None


def _not_future(value: date | None, field: str, today: date, problems: list[Problem]) -> None:
    if value is not None and value > today:
        problems.append(Problem(field, f"must not be in the future: {value.isoformat()} is after today ({today.isoformat()})"))


def _text(value: Any, field: str, *, max_length: int, required: bool, what: str, problems: list[Problem]) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str) or "\x00" in value:
        problems.append(Problem(field, f"must be text ({what})"))
        return ""
    value = value.strip()
    if required and not value:
        problems.append(Problem(field, f"is required: {what}"))
    elif len(value) > max_length:
        problems.append(Problem(field, f"must be at most {max_length} characters, got {len(value)}"))
    return value


def subject_find(ref: Any, *, organisation_scope: str | None, problems: list[Problem]) -> AIModel | Cluster | Organisation | None:
    """The stored subject `ref` names; with `organisation_scope` (a lab), only one of that
    organisation's (another's is "unknown", as the API never shows a lab another lab's records)."""
    if not isinstance(ref, str) or not ref.strip():
        problems.append(Problem("subject", f"is required: a subject reference ({SUBJECT_FORMAT})"))
        return None
    parts = subject_parts(ref.strip())
    if parts is None:
        problems.append(Problem("subject", f"must be a subject reference ({SUBJECT_FORMAT}), got {ref!r}"))
        return None
    kind, org, name, version = parts
    found: AIModel | Cluster | Organisation | None
    if kind == "model":
        found = AIModel.objects.select_related("organisation").filter(
            organisation__slug=org, name=name, version=version).first()
    elif kind == "cluster":
        found = Cluster.objects.select_related("organisation").filter(organisation__slug=org, name=name).first()
    else:
        found = Organisation.objects.filter(slug=org).first()
    if found is None or (organisation_scope is not None and org != organisation_scope):
        scope = f" of {organisation_scope!r}" if organisation_scope is not None else ""
        problems.append(Problem("subject", f"unknown subject {ref!r}: no such model, cluster or organisation{scope} in the registry"))
        return None
    return found


def subject_fields(subject: AIModel | Cluster | Organisation) -> dict[str, Any]:
    if isinstance(subject, AIModel):
        return {"subject_kind": "model", "model": subject, "organisation": subject.organisation}
    if isinstance(subject, Cluster):
        return {"subject_kind": "cluster", "cluster": subject, "organisation": subject.organisation}
    return {"subject_kind": "organisation", "organisation": subject}


def _incident_severities(regime: str, obligation: str) -> set[str] | None:
    """The severities of incident an incident-driven obligation runs from, over the regime's published
    versions; None when it runs from every incident."""
    severities: set[str] = set()
    for version in published_library().versions(regime):
        for declared in version.obligations:
            if declared.id != obligation:
                continue
            for rule in declared.due:
                if isinstance(rule.kind, AfterFact) and rule.kind.fact == INCIDENT_DISCOVERED:
                    if not rule.kind.incidents:
                        return None
                    severities |= set(rule.kind.incidents)
    return severities


def _obligation_problems(regime: Any, obligation: Any, problems: list[Problem]) -> dict[str, Any] | None:
    """The declaration of `obligation` in `regime`'s published versions, or None with the problem."""
    if not isinstance(regime, str) or not regime.strip():
        problems.append(Problem("regime", "is required: the regime's slug, e.g. eu-ai-act"))
        return None
    declared = declared_obligations(regime.strip())
    if not declared:
        problems.append(Problem("regime", f"unknown regime {regime!r}: no published version of it declares obligations"))
        return None
    if not isinstance(obligation, str) or not obligation.strip():
        problems.append(Problem("obligation", f"is required: one of {', '.join(sorted(declared))}"))
        return None
    found = declared.get(obligation.strip())
    if found is None:
        problems.append(Problem("obligation", f"unknown obligation {obligation!r}: {regime} declares "
                                              f"{', '.join(sorted(declared))}"))
    return found


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _kind(declaration: dict[str, Any]) -> str:
    """"incident", "recurring" or "one-off": which occurrences the obligation has."""
    if declaration.get("incident_driven"):
        return "incident"
    return "recurring" if declaration.get("recurring") else "one-off"


def _occurrence(value: Any, declaration: dict[str, Any], regime: str, obligation: str, subject: Any,
                problems: list[Problem]) -> tuple[str, Incident | None]:
    """The occurrence the fulfilment is of, checked against the obligation's kind; for an
    incident-driven one, the subject's incident it reports."""
    occurrence = value.strip() if isinstance(value, str) else ""
    if value not in (None, "") and not isinstance(value, str):
        problems.append(Problem("occurrence", "must be text"))
        return "", None
    kind = _kind(declaration)
    if kind == "one-off":
        if occurrence:
            problems.append(Problem("occurrence", f"{obligation} is owed once: it has no occurrences, got {occurrence!r}"))
        return "", None
    if kind == "recurring":
        if not PERIOD.match(occurrence):
            problems.append(Problem("occurrence", f"{obligation} recurs each quarter: name the period as YYYY-Qn "
                                                  f"(e.g. 2027-Q1), got {occurrence!r}"))
        return occurrence, None
    match = INCIDENT_OCCURRENCE.match(occurrence)
    if not match:
        problems.append(Problem("occurrence", f"{obligation} is owed for each incident: name it as incident-<id>, "
                                              f"got {occurrence!r}"))
        return occurrence, None
    incident = Incident.objects.filter(pk=int(match["pk"])).first() if subject is not None else None
    if subject is not None and (incident is None or incident.subject_ref != subject.subject_ref):
        problems.append(Problem("occurrence", f"no incident {match['pk']} of {subject.subject_ref} is on record"))
        return occurrence, None
    severities = _incident_severities(regime, obligation)
    if incident is not None and severities is not None and incident.severity not in severities:
        problems.append(Problem("occurrence", f"{obligation} is owed for a {' or '.join(sorted(severities))} incident; "
                                              f"incident {incident.pk} is {incident.get_severity_display().lower()}"))
        return occurrence, None
    return occurrence, incident


def _document_read(document: Document, problems: list[Problem]) -> tuple[str, str, int] | None:
    """(sanitised name, SHA-256, size) of the document, reading it once; None with the problem."""
    limit = settings.FULFILMENT_DOCUMENT_MAX_BYTES
    name = get_valid_filename(os.path.basename((document.name or "").replace("\\", "/")))[:200] if document.name else ""
    if not name or name in {".", ".."}:
        name = "document"
    digest, size = hashlib.sha256(), 0
    document.stream.seek(0)
    for chunk in iter(lambda: document.stream.read(64 * 1024), b""):
        size += len(chunk)
        if size > limit:
            problems.append(Problem("document", f"must be at most {limit} bytes"))
            return None
        digest.update(chunk)
    if size == 0:
        problems.append(Problem("document", "is empty"))
        return None
    return name, digest.hexdigest(), size


def _mark(subject_ref: str) -> None:
    """In the record's transaction: the subject's states are to be worked out again at the next refresh
    (`REFRESH_NEXT`), which `_refresh` does at once, and the nightly one if that fails. Marked by the
    database's clock: a refresh that started before the mark leaves the states to the next one."""
    ObligationState.objects.filter(subject_ref=subject_ref).update(changes_on=REFRESH_NEXT, updated_at=marked_now())


def _refresh(subject_ref: str) -> None:
    """Brings the subject's obligations up to date now that something about them was recorded. The
    record stands whatever happens here: its states are marked (`_mark`), so the nightly refresh
    brings them up to date."""
    try:
        refresh_states(as_of=_today(), subject_refs=[subject_ref])
    except Exception:
        log.exception("obligation states of %s not refreshed after a record", subject_ref)


@dataclass(frozen=True)
class CheckedFulfilment:
    """A fulfilment that passed every check, ready to be written."""

    fields: dict[str, Any]
    document: Document | None
    document_read: tuple[str, str, int] | None


def fulfilment_check(*, subject: Any, regime: Any, obligation: Any, fulfilled_on: Any, reference: Any,
                     occurrence: Any = "", document: Document | None = None,
                     organisation_scope: str | None = None) -> CheckedFulfilment:
    """Every check of `fulfilment_record`, writing nothing: raises ObligationRecordError naming each field."""
    problems: list[Problem] = []
    found = subject_find(subject, organisation_scope=organisation_scope, problems=problems)
    declaration = _obligation_problems(regime, obligation, problems)
    occurrence_text, incident = ("", None)
    if declaration is not None:
        occurrence_text, incident = _occurrence(occurrence, declaration, regime.strip(), obligation.strip(), found,
                                                problems)
        applies_to = declaration.get("applies_to")
        if found is not None and applies_to and subject_fields(found)["subject_kind"] != applies_to:
            problems.append(Problem("subject", f"{obligation.strip()} is owed by {_a(applies_to)}, "
                                               f"not by {_a(subject_fields(found)['subject_kind'])}"))
    on = _as_date(fulfilled_on, "fulfilled_on", problems)
    _not_future(on, "fulfilled_on", _today(), problems)
    if on is not None and incident is not None and on < incident.discovered_on:
        problems.append(Problem("fulfilled_on", f"{on.isoformat()} is before incident {incident.pk} was discovered "
                                                f"({incident.discovered_on.isoformat()})"))
    reference_text = _text(reference, "reference", max_length=200, required=True,
                           what="the filing's reference, e.g. a submission number", problems=problems)
    read = _document_read(document, problems) if document is not None else None
    if problems:
        raise ObligationRecordError(problems)
    fields = {**subject_fields(found), "regime": regime.strip(), "obligation": obligation.strip(),
              "occurrence": occurrence_text, "incident": incident, "fulfilled_on": on, "reference": reference_text}
    return CheckedFulfilment(fields=fields, document=document, document_read=read)


def fulfilment_record(*, subject: Any, regime: Any, obligation: Any, fulfilled_on: Any, reference: Any,
                      occurrence: Any = "", document: Document | None = None, actor: Any = None, via: str,
                      organisation_scope: str | None = None) -> Fulfilment:
    """Records that `subject` met one obligation (one occurrence of it) on `fulfilled_on`.

    The obligation must be declared by the regime's published versions; an incident-driven one names
    the subject's incident (`incident-<id>`), a recurring one its period (`2027-Q1`), a one-off none.
    `fulfilled_on` is never after today. The document, if any, is kept under MEDIA_ROOT with its
    SHA-256 and size. Raises ObligationRecordError naming each field, having written nothing.
    """
    checked = fulfilment_check(subject=subject, regime=regime, obligation=obligation, fulfilled_on=fulfilled_on,
                               reference=reference, occurrence=occurrence, document=document,
                               organisation_scope=organisation_scope)
    row = Fulfilment(**checked.fields, recorded_by=actor if getattr(actor, "pk", None) else None, recorded_via=via)
    if checked.document is not None and checked.document_read is not None:
        name = checked.document_read[0]
        row.document_name, row.document_sha256, row.document_size = checked.document_read
        checked.document.stream.seek(0)
        row.document.save(name, File(checked.document.stream, name=name), save=False)
    try:
        with transaction.atomic():
            row.save()
            _mark(row.subject_ref)
            obligation_record_created.send(sender=fulfilment_record, record=row, actor=actor, via=via)
    except BaseException:
        if row.document:
            row.document.storage.delete(row.document.name)
        raise
    _refresh(row.subject_ref)
    return row


def incident_check(*, subject: Any, discovered_on: Any, severity: Any, summary: Any, reference: Any = "",
                   organisation_scope: str | None = None) -> dict[str, Any]:
    """Every check of `incident_record`, writing nothing: the incident's fields, or ObligationRecordError."""
    problems: list[Problem] = []
    found = subject_find(subject, organisation_scope=organisation_scope, problems=problems)
    on = _as_date(discovered_on, "discovered_on", problems)
    _not_future(on, "discovered_on", _today(), problems)
    if severity not in IncidentSeverity.values:
        problems.append(Problem("severity", f"must be one of {', '.join(IncidentSeverity.values)}, got {severity!r}"))
    summary_text = _text(summary, "summary", max_length=400, required=True, what="what happened, in a sentence or two",
                         problems=problems)
    reference_text = _text(reference, "reference", max_length=200, required=False, what="the lab's own reference",
                           problems=problems)
    if problems:
        raise ObligationRecordError(problems)
    return {**subject_fields(found), "discovered_on": on, "severity": severity, "summary": summary_text,
            "reference": reference_text}


def incident_record(*, subject: Any, discovered_on: Any, severity: Any, summary: Any, reference: Any = "",
                    actor: Any = None, via: str, organisation_scope: str | None = None) -> Incident:
    """Records an incident a lab discovered (never dated after today): the dated fact its incident
    reports fall due from. Raises ObligationRecordError naming each field, having written nothing."""
    fields = incident_check(subject=subject, discovered_on=discovered_on, severity=severity, summary=summary,
                            reference=reference, organisation_scope=organisation_scope)
    with transaction.atomic():
        row = Incident.objects.create(**fields, recorded_by=actor if getattr(actor, "pk", None) else None,
                                      recorded_via=via)
        _mark(row.subject_ref)
        obligation_record_created.send(sender=incident_record, record=row, actor=actor, via=via)
    _refresh(row.subject_ref)
    return row


def fulfilment_review(*, fulfilment: Fulfilment, decision: Any, reason: Any, actor: Any = None,
                      via: str) -> FulfilmentReview:
    """A regulator's acceptance or rejection of a fulfilment, with the reason: a new review (the
    latest counts), nothing overwritten. Who may review is the caller's check (a regulator only).
    Raises ObligationRecordError naming each field, having written nothing."""
    problems: list[Problem] = []
    if decision not in ReviewDecision.values:
        problems.append(Problem("decision", f"must be one of {', '.join(ReviewDecision.values)}, got {decision!r}"))
    reason_text = _text(reason, "reason", max_length=400, required=True,
                        what="why the fulfilment is accepted or rejected", problems=problems)
    if problems:
        raise ObligationRecordError(problems)
    with transaction.atomic():
        row = FulfilmentReview.objects.create(fulfilment=fulfilment, decision=decision, reason=reason_text,
                                              reviewed_by=actor if getattr(actor, "pk", None) else None,
                                              reviewed_via=via)
        _mark(fulfilment.subject_ref)
        obligation_record_created.send(sender=fulfilment_review, record=row, actor=actor, via=via)
    _refresh(fulfilment.subject_ref)
    return row
