"""Designations in a submission: their subjects checked, their rows written (a designation equal to
one held already is left alone), and a designation recorded in error withdrawn.

Only a regulator records them (`registry.services.registry_submit(may_designate=True)`): the import
command, the admin and the API with a regulator token. Recording or withdrawing one re-evaluates
its subject, as a submission does (`registry.signals.subjects_changed`).
"""
from __future__ import annotations

from typing import Any

from django.db import transaction

from .interchange import Problem, model_ref, subject_parts
from .models import AIModel, Cluster, Designation, DesignationWithdrawal, Organisation
from .signals import subjects_changed

NOT_A_REGULATOR = ("only a regulator records designations (the import command, the admin, or the API with a "
                   "regulator token); a lab's submission cannot carry them")


def designation_problems(cleaned: dict[str, list[dict[str, Any]]]) -> list[Problem]:
    """Each designation's subject is a record of the document or of the registry: one query per kind
    of subject named."""
    records = cleaned.get("designations") or []
    if not records:
        return []
    in_document = {f"model:{model_ref(rec)}" for rec in cleaned["models"]}
    in_document |= {f"cluster:{rec['organisation']}/{rec['name']}" for rec in cleaned["clusters"]}
    in_document |= {f"organisation:{rec['slug']}" for rec in cleaned["organisations"]}
    wanted = {rec["subject"] for rec in records} - in_document
    stored = _stored_subjects(wanted)
    return [Problem(f"designations[{index}].subject", f"unknown subject {rec['subject']!r}")
            for index, rec in enumerate(records) if rec["subject"] not in in_document | set(stored)]


def _stored_subjects(refs: set[str]) -> dict[str, AIModel | Cluster | Organisation]:
    """Those of `refs` that are stored, by ref: one query per kind of subject."""
    parts = {ref: subject_parts(ref) for ref in refs}
    by_kind: dict[str, list[tuple[str, str | None, str | None]]] = {}
    for part in parts.values():
        if part is not None:
            by_kind.setdefault(part[0], []).append(part[1:])
    found: dict[str, Any] = {}
    if "model" in by_kind:
        keys = by_kind["model"]
        found.update((m.subject_ref, m) for m in AIModel.objects.select_related("organisation").filter(
            organisation__slug__in={k[0] for k in keys}, name__in={k[1] for k in keys},
            version__in={k[2] for k in keys}))
    if "cluster" in by_kind:
        keys = by_kind["cluster"]
        found.update((c.subject_ref, c) for c in Cluster.objects.select_related("organisation").filter(
            organisation__slug__in={k[0] for k in keys}, name__in={k[1] for k in keys}))
    if "organisation" in by_kind:
        found.update((o.subject_ref, o) for o in Organisation.objects.filter(
            slug__in={k[0] for k in by_kind["organisation"]}))
    return {ref: obj for ref, obj in found.items() if ref in refs}


def _subject_fields(subject: AIModel | Cluster | Organisation) -> dict[str, Any]:
    if isinstance(subject, AIModel):
        return {"subject_kind": "model", "model": subject, "organisation": subject.organisation}
    if isinstance(subject, Cluster):
        return {"subject_kind": "cluster", "cluster": subject, "organisation": subject.organisation}
    return {"subject_kind": "organisation", "organisation": subject}


def designations_held(subject: AIModel | Cluster | Organisation) -> Any:
    """The subject's designations that have not been withdrawn, as of any date."""
    fields = _subject_fields(subject)
    return Designation.objects.filter(withdrawal__isnull=True, **fields)


def write_designations(records: list[dict[str, Any]], *, actor: Any, via: str) -> list[tuple[Designation, str]]:
    """Writes the designations of a validated document whose subjects are stored (inside the
    submission's transaction): (row, "recorded"), or (the row held already, "unchanged") for one
    equal in subject, regime, kind, date and reference to a designation not withdrawn."""
    if not records:
        return []
    subjects = _stored_subjects({rec["subject"] for rec in records})
    written: list[tuple[Designation, str]] = []
    for rec in records:
        subject = subjects[rec["subject"]]
        same = designations_held(subject).filter(regime=rec["regime"], kind=rec["kind"],
                                                 decided_on=rec["decided_on"], reference=rec["reference"]).first()
        if same is not None:
            written.append((same, "unchanged"))
            continue
        row = Designation.objects.create(**_subject_fields(subject), regime=rec["regime"], kind=rec["kind"],
                                         decided_on=rec["decided_on"], reference=rec["reference"],
                                         recorded_by=actor if getattr(actor, "pk", None) else None, recorded_via=via)
        written.append((row, "recorded"))
    return written


class AlreadyWithdrawn(ValueError):
    pass


def designation_withdraw(*, designation: Designation, reason: str, actor: Any, via: str) -> DesignationWithdrawal:
    """Withdraws a designation recorded in error: it counts for no date from now on; it and the
    withdrawal stay on record. Re-evaluates its subject. Raises AlreadyWithdrawn, or ValueError for a
    blank reason, having written nothing."""
    if not reason.strip():
        raise ValueError("reason: say why the designation is withdrawn")
    with transaction.atomic():
        locked = Designation.objects.select_for_update().get(pk=designation.pk)
        if DesignationWithdrawal.objects.filter(designation=locked).exists():
            raise AlreadyWithdrawn(f"{designation} is withdrawn already")
        withdrawal = DesignationWithdrawal.objects.create(
            designation=locked, reason=reason.strip(), withdrawn_by=actor if getattr(actor, "pk", None) else None,
            withdrawn_via=via)
        subject = locked.subject
        subjects_changed.send(sender=designation_withdraw, subjects=[subject.subject_ref], records=[subject],
                              actor=actor, via=via, outcomes={subject.subject_ref: "designation withdrawn"})
    return withdrawal
