"""Reads for reports: determinations of record from the decision log, the revisions they rest on,
status changes of a run, and stored report files. Reports never recompute a status.

The determination of record for a subject and regime "as of D" is the latest row of the decision
log (highest sequence) whose as-of date is D: the last time that question was answered.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Count, Max, Q, QuerySet, Subquery
from django.db.models.functions import Collate

from registry.models import AIModel, Cluster, ClusterRevision, ModelRevision, Organisation, OrganisationRevision
from rules import snapshots
from rules.codes import code
from rules.current import recorded_on
from rules.digests import shown
from rules.engine.vocabulary import Status
from rules.library_store import published_library
from rules.models import Determination, EvaluationRun, FactsSnapshot, LogHead, Payload, RuleVersion, StatusChange
from rules.models.decision_log import GENESIS_SHA256, log_with_subjects_sql
from rules.subjects import SubjectKey, parse_subject, resolve_subjects

from .models import ArtifactStatus, ReportArtifact

DOWNLOAD_PERMISSION = "reports.view_reportartifact"
# Up to this many subjects, a read as of a date probes each one's rows in the confirmations.
FEW_SUBJECTS = 50


class ReportInputError(ValueError):
    """A report asked for something that does not exist; the message names the parameter."""


@dataclass(frozen=True)
class RecordScope:
    """One organisation's view of the log: its own subjects' determinations, less those of `withheld`
    subjects (resting on another organisation's model not yet released, `rules.visibility`)."""

    organisation: str
    withheld: frozenset[str] = frozenset()

    def apply(self, rows: QuerySet[Determination]) -> QuerySet[Determination]:
        rows = rows.filter(organisation=self.organisation)
        return rows.exclude(subject_ref__in=sorted(self.withheld)) if self.withheld else rows


def determinations_of_record(*, as_of: date, subject_refs: Iterable[str] | None = None,
                             regimes: Iterable[str] | None = None) -> list[Determination]:
    """The latest determination per (subject, regime) with this as-of date, ordered by subject and regime."""
    latest = _latest_sequences(as_of=as_of, subject_refs=subject_refs, regimes=regimes).values_list("last", flat=True)
    rows = Determination.objects.filter(sequence__in=list(latest)).select_related(
        "rule_version", "facts", "run", "requested_by")
    # sorted here, not by the database, so every backend's collation gives the same order
    return sorted(rows, key=lambda row: (row.subject_kind, row.subject_ref, row.regime))


@contextmanager
def reading_the_log(work_mem_mb: int = 64) -> Iterator[None]:
    """One transaction for a report's reads, with room to sort and hash the log in memory on PostgreSQL
    (`work_mem` for this transaction only; the server default of 4 MB sends the grouping to disk)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL work_mem = '{int(work_mem_mb)}MB'")
        yield


def _latest_sequences(*, as_of: date, kind: str | None = None, subject_refs: Iterable[str] | None = None,
                      regimes: Iterable[str] | None = None, scope: RecordScope | None = None) -> QuerySet[Determination]:
    """The sequence of each determination of record as of the date: one per (subject, regime), the last
    recorded as of that date (made then, or confirmed then: `rules.current.recorded_on`)."""
    refs = list(subject_refs) if subject_refs is not None else None
    rows = recorded_on(Determination.objects.all(), as_of=as_of, few=refs is not None and len(refs) <= FEW_SUBJECTS)
    if scope is not None:
        rows = scope.apply(rows)
    if kind is not None:
        rows = rows.filter(subject_kind=kind)
    if refs is not None:
        rows = rows.filter(subject_ref__in=refs)
    if regimes is not None:
        rows = rows.filter(regime__in=list(regimes))
    return rows.order_by().values("subject_id", "regime").annotate(last=Max("sequence")).values("last")


def of_record(*, as_of: date, kind: str | None = None, status: str | None = None,
              scope: RecordScope | None = None) -> QuerySet[Determination]:
    """The determinations of record as of the date as a query, for counting or streaming without
    loading them (the same rows as `determinations_of_record`; within `scope` if given)."""
    rows = Determination.objects.filter(sequence__in=Subquery(_latest_sequences(as_of=as_of, kind=kind, scope=scope)))
    if status is not None:
        rows = rows.filter(status=status)
    return rows


def record_counts(*, as_of: date, scope: RecordScope | None = None) -> list[tuple[str, str, str, int]]:
    """(regime, status, rule version label, number of determinations of record), counted by the database."""
    rows = of_record(as_of=as_of, scope=scope).order_by().values("regime", "status", "rule_version_label").annotate(n=Count("pk"))
    return [(row["regime"], row["status"], row["rule_version_label"], row["n"]) for row in rows]


def subject_count(*, as_of: date, scope: RecordScope | None = None) -> int:
    """Subjects with a determination as of the date (each has one of record per regime it was asked about)."""
    rows = recorded_on(Determination.objects.all(), as_of=as_of)
    if scope is not None:
        rows = scope.apply(rows)
    return rows.order_by().values("subject_id").distinct().count()


def _binary(field: str) -> Collate:
    # code-point order on every backend, as Python's sort gives
    return Collate(field, "C" if connection.vendor == "postgresql" else "BINARY")


def iter_of_record(*, as_of: date, status: str | None = None, fields: tuple[str, ...] | None = None,
                   limit: int | None = None, batch: int = 500, scope: RecordScope | None = None) -> Iterator[Any]:
    """Determinations of record ordered by subject kind, subject and regime (as `determinations_of_record`),
    read `batch` at a time: model instances, or tuples of `fields`; at most `limit` of them."""
    # a kind's code sorts as its text does (`rules.codes`)
    rows = of_record(as_of=as_of, status=status, scope=scope).order_by(
        "subject_kind", _binary("subject_ref"), _binary("regime"))
    if limit is not None:
        rows = rows[:limit]
    if fields is not None:
        return rows.values_list(*fields).iterator(chunk_size=batch)
    return rows.select_related("rule_version").iterator(chunk_size=batch)


_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _name(text: str) -> str:
    """A key written into SQL as a literal: only lower-case letters, digits and _ are allowed."""
    if not _NAME.fullmatch(text):
        raise ValueError(f"{text!r} is not a plain key name (a-z, 0-9, _)")
    return text


def _quantity_sql(vendor: str, prefix: str) -> str:
    """The largest recorded value among a row's payload quantities whose name starts with the prefix."""
    size = len(_name(prefix))
    # a packed payload keeps its quantities' values beside it; one stored as text has them in the text
    table = Payload._meta.db_table
    if vendor == "postgresql":
        payload = (f"(SELECT COALESCE(p.quantities::json, p.text::json -> 'quantities') FROM {table} p "
                   f"WHERE p.id = d.payload_id)")
        return (f"(SELECT MAX((q.value ->> 'value')::float8) FROM json_each({payload}) q "
                f"WHERE substr(q.key, 1, {size}) = '{prefix}')")
    payload = (f"(SELECT COALESCE(p.quantities, json_extract(p.text, '$.quantities')) FROM {table} p "
               f"WHERE p.id = d.payload_id)")
    return (f"(SELECT MAX(json_extract(q.value, '$.value')) FROM json_each({payload}) q "
            f"WHERE substr(q.key, 1, {size}) = '{prefix}')")


def _first_date(snapshot: dict[str, Any], kind: str, fields: tuple[str, ...]) -> str | None:
    """The first of these fields of the snapshot's record (`facts[kind][field]`) that is given, as text."""
    record = snapshot.get(kind)
    if not isinstance(record, dict):
        return None
    for field in fields:
        value = record.get(field)
        if value is not None and value != "":
            return value if isinstance(value, str) else str(value)
    return None


@dataclass(frozen=True)
class SubjectOfRecord:
    """One subject's determinations of record reduced to what a chart needs."""

    ref: str
    name: str
    organisation: str
    version: str
    status: str  # covered, indeterminate or not_covered: the most severe under any regime
    value: float | None  # the largest recorded quantity with the prefix, under any regime
    when: str | None  # the first of the date fields that the subject's facts give
    facts: str | None  # the facts snapshot's JSON, only when no value is recorded


SEVERITY = (Status.NOT_COVERED, Status.INDETERMINATE, Status.COVERED)  # by the severity the query computes


def iter_subjects_of_record(*, as_of: date, kind: str, quantity_prefix: str, date_fields: tuple[str, ...],
                            same_under_every_regime: bool = False, batch: int = 2000,
                            scope: RecordScope | None = None) -> Iterator[SubjectOfRecord]:
    """Each subject of the kind with determinations of record as of the date, reduced by the database to
    its most severe status and largest recorded quantity, with the dates its facts give (the facts of
    its latest determination of record); one query, read `batch` subjects at a time, in no set order.

    A payload is parsed only for determinations of regimes in force (one not in force records no
    quantity); with `same_under_every_regime` (a quantity computed from the facts alone, without a
    regime's arguments) only the subject's latest such determination is parsed. Each subject's snapshot
    is read packed and unpacked here for its dates; its JSON is handed on only for subjects with no
    recorded quantity.
    """
    vendor = connection.vendor
    d, f = Determination._meta.db_table, FactsSnapshot._meta.db_table
    latest_sql, latest_params = _latest_sequences(as_of=as_of, kind=kind, scope=scope).query.get_compiler(
        connection=connection).as_sql()
    if same_under_every_regime:
        value = "NULL"
        recorded = f"(SELECT {_quantity_sql(vendor, quantity_prefix)} FROM {d} d WHERE d.sequence = g.recorded)"
    else:
        value = f"CASE WHEN d.status <> {code('status', Status.NOT_IN_FORCE)} THEN {_quantity_sql(vendor, quantity_prefix)} END"
        recorded = "g.value"
    # the snapshot is packed (`rules.snapshots`): its dates are read from it here, not in SQL
    stored = ", ".join(f"f.{FactsSnapshot._meta.get_field(name).column}" for name in snapshots.STORED[1:])
    sql = (
        f"SELECT s.*, {stored} FROM ("
        f"SELECT g.subject_ref, g.name, g.organisation, g.version, g.severity, {recorded} AS value, g.last "
        f"FROM (SELECT d.subject_ref, MAX(d.subject_name) AS name, MAX(d.organisation) AS organisation, "
        f"MAX(d.subject_version) AS version, MAX(CASE d.status WHEN {code('status', Status.COVERED)} THEN 2 "
        f"WHEN {code('status', Status.INDETERMINATE)} THEN 1 "
        f"ELSE 0 END) AS severity, MAX({value}) AS value, "
        f"MAX(CASE WHEN d.status <> {code('status', Status.NOT_IN_FORCE)} THEN d.sequence END) AS recorded, MAX(d.sequence) AS last "
        f"FROM {log_with_subjects_sql()} d WHERE d.subject_kind = %s AND d.sequence IN ({latest_sql}) GROUP BY d.subject_ref) g"
        # OFFSET 0 keeps PostgreSQL from inlining s: the subjects are reduced before their snapshots are joined
        f"{' OFFSET 0' if vendor == 'postgresql' else ''}) s "
        f"JOIN {d} l ON l.sequence = s.last JOIN {f} f ON f.id = l.facts_id"
    )
    params = [code("subject_kind", kind), *latest_params]
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(batch):
            for ref, name, organisation, version, severity, value, _, facts, packed, dictionary in rows:
                text = snapshots.unpacked(facts, packed, shown(dictionary))
                when = _first_date(orjson.loads(text), kind, date_fields)
                yield SubjectOfRecord(ref, name or "", organisation, version or "", SEVERITY[severity],
                                      None if value is None else float(value), when, text if value is None else None)


def subject_key(ref: str) -> SubjectKey:
    """The parsed subject, checked against the registry; ReportInputError names --subject otherwise."""
    try:
        key = parse_subject(ref)
        resolve_subjects([key.ref])
    except ValueError as exc:
        raise ReportInputError(f"subject: {exc}") from None
    return key


def registry_subject_refs(*, organisation: str | None = None) -> list[str]:
    """Every subject of the registry now (or of one organisation), models then clusters then organisations."""
    models, clusters = AIModel.objects.select_related("organisation"), Cluster.objects.select_related("organisation")
    organisations = Organisation.objects.all()
    if organisation is not None:
        models, clusters = models.filter(organisation__slug=organisation), clusters.filter(organisation__slug=organisation)
        organisations = organisations.filter(slug=organisation)
    refs = [m.subject_ref for m in models.order_by("pk")]
    refs += [c.subject_ref for c in clusters.order_by("pk")]
    refs += [o.subject_ref for o in organisations.order_by("pk")]
    return refs


def subjects_without_determination(*, as_of: date, subject_refs: Iterable[str]) -> list[str]:
    """The subjects given that have no determination with this as-of date under the law as it now
    stands on that date: none at all, or one of record made under another rule version than the one
    now in force on that date (`subjects_superseded`). Those are recorded afresh; older rows stay."""
    refs = list(subject_refs)
    present = set(
        recorded_on(Determination.objects.filter(subject_ref__in=refs), as_of=as_of, few=len(refs) <= FEW_SUBJECTS)
        .values_list("subject_ref", flat=True).distinct()
    )
    stale = set(subjects_superseded(as_of=as_of, subject_refs=refs)) if present else set()
    return [ref for ref in refs if ref not in present or ref in stale]


def subjects_superseded(*, as_of: date, subject_refs: Iterable[str]) -> list[str]:
    """The subjects given whose determination of record as of the date, under some regime, was made
    under another rule version than the one now in force on that date (or under a version when none
    is in force now): a version correcting that period (`corrects`), or one published since for it,
    now answers for that date."""
    refs = list(subject_refs)
    superseded = Q(pk__in=[])
    for slug, version in published_library().in_force_all(as_of).items():
        superseded |= Q(regime=slug) & ~Q(rule_hash=version.content_hash if version is not None else "")
    rows = Determination.objects.filter(sequence__in=Subquery(_latest_sequences(as_of=as_of, subject_refs=refs)))
    found = set(rows.filter(superseded).values_list("subject_ref", flat=True).distinct())
    return [ref for ref in refs if ref in found]


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


def _changes_by_subject(run: EvaluationRun) -> QuerySet[StatusChange]:
    return StatusChange.objects.filter(run=run).order_by("subject_ref", "regime", "pk")


def status_changes(*, run: EvaluationRun, limit: int) -> list[StatusChange]:
    """The run's first `limit` status changes by subject and regime, with both determinations' payloads
    (the tests that flipped are shown with their values)."""
    rows = _changes_by_subject(run).select_related("from_determination__payload", "to_determination__payload")
    return list(rows[:limit])


def iter_status_changes(*, run: EvaluationRun) -> Iterator[StatusChange]:
    """Every status change of the run by subject and regime, read a batch at a time without the
    payloads: a run may change every subject's status (the day a law takes effect)."""
    rows = _changes_by_subject(run).select_related("from_determination", "to_determination")
    return rows.iterator(chunk_size=2000)


def status_change_counts(*, run: EvaluationRun) -> list[dict[str, Any]]:
    """The run's status changes counted per regime, status before and after, and tier before and after."""
    return list(
        StatusChange.objects.filter(run=run).values("regime", "from_status", "to_status", "from_tier", "to_tier")
        .annotate(n=Count("pk")).order_by("regime", "from_status", "to_status", "from_tier", "to_tier")
    )


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


def reports_of_organisation(organisation_slug: str | None, *, withheld_subjects: Iterable[str] = ()) -> QuerySet:
    """What a lab member may read of the stored reports: the audit reports of its organisation's subjects,
    less those of `withheld_subjects` (subjects resting on another organisation's unreleased model,
    `rules.visibility`), whose reports would show that model's figures, and the registry reports of its
    organisation's view (which leave those subjects out). No organisation: none."""
    if organisation_slug is None:
        return ReportArtifact.objects.none()
    queryset = ReportArtifact.objects.filter(
        Q(kind="audit") & (Q(parameters__subject__startswith=f"model:{organisation_slug}/")
                           | Q(parameters__subject__startswith=f"cluster:{organisation_slug}/")
                           | Q(parameters__subject=f"organisation:{organisation_slug}"))
        | Q(kind="registry", parameters__organisation=organisation_slug)
    )
    withheld = sorted(withheld_subjects)
    return queryset.exclude(kind="audit", parameters__subject__in=withheld) if withheld else queryset


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
