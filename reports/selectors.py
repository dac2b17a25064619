"""Reads for reports: determinations of record from the decision log, the revisions they rest on,
status changes of a run, and stored report files. Reports never recompute a status.

The determination of record for a subject and regime "as of D" is the latest row of the decision
log (highest sequence) whose as-of date is D: the last time that question was answered.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Max, QuerySet

from registry.models import AIModel, Cluster, ClusterRevision, ModelRevision, Organisation, OrganisationRevision
from rules.models import Determination, EvaluationRun, LogHead, RuleVersion, StatusChange
from rules.models.decision_log import GENESIS_SHA256
from rules.subjects import SubjectKey, parse_subject, resolve_subjects

from .models import ArtifactStatus, ReportArtifact

DOWNLOAD_PERMISSION = "reports.view_reportartifact"


class ReportInputError(ValueError):
    """A report asked for something that does not exist; the message names the parameter."""


def determinations_of_record(*, as_of: date, subject_refs: Iterable[str] | None = None,
                             regimes: Iterable[str] | None = None) -> list[Determination]:
    """The latest determination per (subject, regime) with this as-of date, ordered by subject and regime."""
    rows = Determination.objects.filter(as_of=as_of)
    if subject_refs is not None:
        rows = rows.filter(subject_ref__in=list(subject_refs))
    if regimes is not None:
        rows = rows.filter(regime__in=list(regimes))
    latest = rows.values("subject_ref", "regime").annotate(last=Max("sequence")).values_list("last", flat=True)
    rows = Determination.objects.filter(sequence__in=list(latest)).select_related(
        "rule_version", "facts", "run", "requested_by")
    # sorted here, not by the database, so every backend's collation gives the same order
    return sorted(rows, key=lambda row: (row.subject_kind, row.subject_ref, row.regime))


def subject_key(ref: str) -> SubjectKey:
    """The parsed subject, checked against the registry; ReportInputError names --subject otherwise."""
    try:
        key = parse_subject(ref)
        resolve_subjects([key.ref])
    except ValueError as exc:
        raise ReportInputError(f"subject: {exc}") from None
    return key


def registry_subject_refs() -> list[str]:
    """Every subject of the registry now, models then clusters then organisations."""
    refs = [m.subject_ref for m in AIModel.objects.select_related("organisation").order_by("pk")]
    refs += [c.subject_ref for c in Cluster.objects.select_related("organisation").order_by("pk")]
    refs += [o.subject_ref for o in Organisation.objects.order_by("pk")]
    return refs


def subjects_without_determination(*, as_of: date, subject_refs: Iterable[str]) -> list[str]:
    """The subjects given that have no determination at all with this as-of date."""
    refs = list(subject_refs)
    present = set(
        Determination.objects.filter(as_of=as_of, subject_ref__in=refs).values_list("subject_ref", flat=True).distinct()
    )
    return [ref for ref in refs if ref not in present]


_REVISIONS = {
    "model": (ModelRevision, "model"),
    "cluster": (ClusterRevision, "cluster"),
    "organisation": (OrganisationRevision, "organisation"),
}


def revision_of(determination: Determination) -> Any | None:
    """The registry revision whose facts the determination was made on (None if it is not recorded)."""
    if determination.facts_revision is None:
        return None
    model, fk = _REVISIONS[determination.subject_kind]
    key = parse_subject(determination.subject_ref)
    filters: dict[str, Any] = {"number": determination.facts_revision}
    if key.kind == "model":
        filters.update({f"{fk}__organisation__slug": key.organisation, f"{fk}__name": key.name,
                        f"{fk}__version": key.version})
    elif key.kind == "cluster":
        filters.update({f"{fk}__organisation__slug": key.organisation, f"{fk}__name": key.name})
    else:
        filters[f"{fk}__slug"] = key.organisation
    return model.objects.select_related("submitted_by").filter(**filters).first()


def rule_versions_by_pk(pks: Iterable[int | None]) -> dict[int, RuleVersion]:
    return {row.pk: row for row in RuleVersion.objects.filter(pk__in=[pk for pk in pks if pk is not None])}


@dataclass(frozen=True)
class ChainHead:
    sequence: int
    row_sha256: str


def chain_head() -> ChainHead:
    """The decision log's last row at this moment (the genesis hash for an empty log)."""
    head = LogHead.objects.filter(id=1).first()
    return ChainHead(head.sequence, head.row_sha256) if head else ChainHead(0, GENESIS_SHA256)


def run_by_id(run_id: Any) -> EvaluationRun:
    try:
        return EvaluationRun.objects.select_related("rule_version", "requested_by").get(pk=int(run_id))
    except (TypeError, ValueError):
        raise ReportInputError(f"run: {run_id!r} is not a run id (a whole number)") from None
    except EvaluationRun.DoesNotExist:
        raise ReportInputError(f"run: no evaluation run {run_id}") from None


def status_changes(*, run: EvaluationRun) -> list[StatusChange]:
    rows = StatusChange.objects.filter(run=run).select_related("from_determination", "to_determination")
    return sorted(rows, key=lambda change: (change.subject_ref, change.regime))


def determinations_filtered(
    *,
    subject: str | None = None,
    regime: str | None = None,
    status: str | None = None,
    as_of: date | None = None,
    run: int | None = None,
    organisation: str | None = None,
) -> QuerySet[Determination]:
    """Determinations matching every filter given, in log order (the export's and the API's filters)."""
    rows = Determination.objects.all()
    if subject:
        rows = rows.filter(subject_ref=subject)
    if regime:
        rows = rows.filter(regime=regime)
    if status:
        rows = rows.filter(status=status)
    if as_of:
        rows = rows.filter(as_of=as_of)
    if run is not None:
        rows = rows.filter(run_id=run)
    if organisation:
        rows = rows.filter(organisation=organisation)
    return rows.order_by("sequence")


def iter_determinations(rows: QuerySet[Determination], *, batch: int = 2000) -> Iterator[Determination]:
    """A large result read in batches, never held in memory whole."""
    return rows.select_related("rule_version").iterator(chunk_size=batch)


def artifact_for_download(*, artifact_id: int, user: Any) -> ReportArtifact:
    """A finished report the user may download (`reports.view_reportartifact`); its file is checked
    against the stored SHA-256 by the caller streaming it (see `reports.views`)."""
    if user is None or not user.has_perm(DOWNLOAD_PERMISSION):
        raise PermissionDenied("downloading reports needs the reports.view_reportartifact permission")
    artifact = ReportArtifact.objects.filter(pk=artifact_id).first()
    if artifact is None:
        raise ReportArtifact.DoesNotExist(f"no report {artifact_id}")
    if artifact.status != ArtifactStatus.DONE or not artifact.file:
        raise ReportArtifact.DoesNotExist(f"report {artifact_id} is {artifact.status}, not ready to download")
    return artifact
