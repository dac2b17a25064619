"""Producing reports: parameters checked, determinations recorded first where none exist for the
as-of date (through the rules services: a report never decides a status itself), content rendered,
and the file stored with its SHA-256 as a ReportArtifact."""
from __future__ import annotations

import hashlib
import logging
import re
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from rules.engine.vocabulary import Status
from rules.library_store import published_library
from rules.models.runs import Trigger

from . import exports, render, selectors
from .context import audit_context, changes_context, registry_context
from .context.common import username
from .context.obligations import CSV_FIELDS as OBLIGATION_CSV_FIELDS
from .context.obligations import calendar_context, calendar_records
from .models import ArtifactStatus, ReportArtifact, ReportFormat, ReportKind
from .selectors import ReportInputError

log = logging.getLogger(__name__)

FORMATS = {
    ReportKind.AUDIT: ("html", "pdf"),
    ReportKind.REGISTRY: ("html", "pdf", "csv", "json"),
    ReportKind.CHANGES: ("html", "pdf", "csv", "json"),
    ReportKind.EXPORT: ("csv", "json"),
    ReportKind.OBLIGATIONS: ("html", "pdf", "csv"),
}
EXPORT_FILTERS = ("subject", "regime", "status", "as_of", "run", "organisation")
CHANGE_REPORT_RUN_KINDS = (Trigger.SCHEDULE, Trigger.PUBLICATION)
# the HTML and PDF list the first REPORTS_CHANGES_LISTED changes in full; the CSV has every one
CHANGE_REPORT_FORMATS = ("html", "pdf", "csv")


def _date(name: str, value: Any, *, required: bool) -> str | None:
    if value in (None, ""):
        if required:
            raise ReportInputError(f"{name}: required (a date written YYYY-MM-DD)")
        return None
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ReportInputError(f"{name}: {value!r} is not a date written YYYY-MM-DD that exists") from None


def _generated_at(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ReportInputError(f"generated_at: {value!r} is not a date and time (ISO 8601)") from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return moment.isoformat()


def report_parameters(*, kind: str, format: str, **raw: Any) -> dict[str, Any]:
    """The parameters of a report, checked and normalised to JSON values; ReportInputError names the field."""
    if kind not in FORMATS:
        raise ReportInputError(f"kind: {kind!r} is not a report; choose from {', '.join(FORMATS)}")
    if format not in FORMATS[kind]:
        raise ReportInputError(f"format: a {kind} report is written as {', '.join(FORMATS[kind])}, not {format!r}")
    params: dict[str, Any] = {}
    if kind == ReportKind.AUDIT:
        if not raw.get("subject"):
            raise ReportInputError("subject: required (model:ORG/NAME@VERSION, cluster:ORG/NAME or organisation:ORG)")
        params["subject"] = selectors.subject_key(str(raw["subject"])).ref
        params["as_of"] = _date("as_of", raw.get("as_of"), required=True)
    elif kind in (ReportKind.REGISTRY, ReportKind.OBLIGATIONS):
        params["as_of"] = _date("as_of", raw.get("as_of"), required=True)
        if raw.get("organisation"):  # one organisation's view of the registry
            params["organisation"] = _organisation(raw["organisation"])
    elif kind == ReportKind.CHANGES:
        if raw.get("run") in (None, ""):
            raise ReportInputError("run: required (an evaluation run id)")
        params["run"] = selectors.run_by_id(raw["run"]).pk
    else:
        params.update(_export_filters(raw))
    generated_at = _generated_at(raw.get("generated_at"))
    if generated_at:
        params["generated_at"] = generated_at
    return params


def _organisation(slug: Any) -> str:
    from registry.models import Organisation

    if not Organisation.objects.filter(slug=str(slug)).exists():
        raise ReportInputError(f"organisation: no organisation {str(slug)!r}")
    return str(slug)


def record_scope(params: dict[str, Any]) -> selectors.RecordScope | None:
    """The view a registry report with an `organisation` takes: that organisation's subjects, less those
    resting on another organisation's model not yet released (as the organisation's members see it)."""
    from registry.models import Organisation
    from rules.visibility import unreleased_elsewhere

    slug = params.get("organisation")
    if not slug:
        return None
    organisation_id = Organisation.objects.filter(slug=slug).values_list("pk", flat=True).first()
    withheld = unreleased_elsewhere(organisation_id=organisation_id, organisation_slug=slug).own
    return selectors.RecordScope(organisation=slug, withheld=frozenset(withheld))


def _export_filters(raw: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if raw.get("subject"):
        params["subject"] = selectors.subject_key(str(raw["subject"])).ref
    if raw.get("regime"):
        known = published_library().regimes()
        if raw["regime"] not in known:
            raise ReportInputError(f"regime: unknown regime {raw['regime']!r}; known: {', '.join(known)}")
        params["regime"] = raw["regime"]
    if raw.get("status"):
        statuses = tuple(Status)
        if raw["status"] not in statuses:
            raise ReportInputError(f"status: {raw['status']!r} is not a status; choose from {', '.join(statuses)}")
        params["status"] = raw["status"]
    if raw.get("as_of"):
        params["as_of"] = _date("as_of", raw["as_of"], required=False)
    if raw.get("run") not in (None, ""):
        params["run"] = selectors.run_by_id(raw["run"]).pk
    if raw.get("organisation"):
        params["organisation"] = str(raw["organisation"])
    return params


def record_missing_determinations(*, kind: str, params: dict[str, Any], requested_by: Any = None,
                                  on_run: Callable[[Any], None] | None = None) -> list[str]:
    """Records (through the rules services) determinations the report needs and the log lacks.

    An audit, registry or obligations report as of D reads determinations whose as-of date is D; subjects with
    none are evaluated first in a manual run (handed to `on_run` before it is carried out, so that its
    progress can be followed). Returns what was done, in words, for the report's notes.
    """
    from rules.services import run_create, run_execute_inline

    if kind == ReportKind.AUDIT:
        wanted = [params["subject"]]
    elif kind == ReportKind.REGISTRY:
        scope = record_scope(params)
        wanted = selectors.registry_subject_refs(organisation=scope.organisation if scope else None)
        if scope is not None:
            wanted = [ref for ref in wanted if ref not in scope.withheld]
    elif kind == ReportKind.OBLIGATIONS:
        wanted = selectors.registry_subject_refs()
    else:
        return []
    as_of = date.fromisoformat(params["as_of"])
    missing = selectors.subjects_without_determination(as_of=as_of, subject_refs=wanted)
    if not missing:
        return []
    superseded = selectors.subjects_superseded(as_of=as_of, subject_refs=missing)
    run = run_create(kind=Trigger.MANUAL, as_of=as_of, subjects=missing, requested_by=requested_by)
    if on_run is not None:
        on_run(run)
    run_execute_inline(run)
    if superseded:
        return [f"{len(missing)} subject(s) had no determination as of {as_of.isoformat()} under the rule versions "
                f"now in force on that date ({len(superseded)} had one under a version since corrected or replaced "
                f"for it, which stays in the decision log): recorded them first in evaluation run {run.pk}"]
    return [f"{len(missing)} subject(s) had no determination as of {as_of.isoformat()}: recorded them first "
            f"in evaluation run {run.pk}"]


def report_content(*, kind: str, format: str, params: dict[str, Any]) -> Iterator[bytes]:
    """The report's bytes, in chunks (one for HTML and PDF; streamed rows for CSV and JSON)."""
    generated_at = datetime.fromisoformat(params["generated_at"]) if params.get("generated_at") else timezone.now()
    if kind == ReportKind.EXPORT or (kind == ReportKind.REGISTRY and format in ("csv", "json")):
        yield from (chunk.encode("utf-8") for chunk in _determination_rows(kind, format, params))
        return
    if kind == ReportKind.OBLIGATIONS and format == "csv":
        records = calendar_records(as_of=date.fromisoformat(params["as_of"]))
        yield from (chunk.encode("utf-8") for chunk in exports.csv_chunks(records, OBLIGATION_CSV_FIELDS))
        return
    if kind == ReportKind.CHANGES and format in ("csv", "json"):
        records = (exports.change_record(c) for c in selectors.iter_status_changes(run=selectors.run_by_id(params["run"])))
        chunks = (exports.csv_chunks(records, exports.CHANGE_FIELDS) if format == "csv"
                  else exports.json_chunks(records, head={"run": params["run"]}, key="changes"))
        yield from (chunk.encode("utf-8") for chunk in chunks)
        return
    if kind == ReportKind.AUDIT:
        context = audit_context(subject_ref=params["subject"], as_of=date.fromisoformat(params["as_of"]),
                                generated_at=generated_at)
    elif kind == ReportKind.REGISTRY:
        context = registry_context(as_of=date.fromisoformat(params["as_of"]), generated_at=generated_at,
                                   scope=record_scope(params))
    elif kind == ReportKind.OBLIGATIONS:
        context = calendar_context(as_of=date.fromisoformat(params["as_of"]), generated_at=generated_at)
    else:
        context = changes_context(run=selectors.run_by_id(params["run"]), generated_at=generated_at)
    # the stored report's number and who asked for it (artifact_build gives both; a report rendered
    # straight to a file or a page has neither)
    context.update(report_number=params.get("report_number") or "", generated_by=params.get("generated_by") or "")
    html = render.render_html(kind, context)
    yield render.html_to_pdf(html) if format == "pdf" else html.encode("utf-8")


def _determination_rows(kind: str, format: str, params: dict[str, Any]) -> Iterator[str]:
    if kind == ReportKind.REGISTRY:
        rows = selectors.iter_of_record(as_of=date.fromisoformat(params["as_of"]), scope=record_scope(params))
    else:
        filters = {k: params[k] for k in EXPORT_FILTERS if k in params}
        if "as_of" in filters:
            filters["as_of"] = date.fromisoformat(filters["as_of"])
        rows = selectors.iter_determinations(selectors.determinations_filtered(**filters))
    return exports.determination_chunks(rows, format=format)


def _file_name(artifact: ReportArtifact) -> str:
    params = artifact.parameters
    if artifact.kind == ReportKind.AUDIT:
        stem = f"audit-{slugify(re.sub(r'[:/@]', '-', params['subject']))}-{params['as_of']}"
    elif artifact.kind == ReportKind.REGISTRY:
        stem = f"registry-{params['organisation']}-{params['as_of']}" if params.get("organisation") else \
            f"registry-{params['as_of']}"
    elif artifact.kind == ReportKind.CHANGES:
        stem = f"changes-run-{params['run']}"
    elif artifact.kind == ReportKind.OBLIGATIONS:
        stem = f"obligations-{params['as_of']}"
    else:
        stem = "determinations"
    return f"{stem}-{artifact.pk}.{artifact.format}"


def report_number(artifact: ReportArtifact) -> str:
    """`CTR-AUDIT-000042`: the stored report's number, printed on it, by which a reader cites it."""
    return f"CTR-{artifact.kind.upper()}-{artifact.pk:06d}"


def artifact_create(*, kind: str, format: str, requested_by: Any = None, **raw: Any) -> ReportArtifact:
    """A pending report with checked parameters (nothing rendered yet)."""
    params = report_parameters(kind=kind, format=format, **raw)
    run_id = params.get("run") if kind == ReportKind.CHANGES else None
    return ReportArtifact.objects.create(kind=kind, format=format, parameters=params, run_id=run_id,
                                         requested_by=requested_by if getattr(requested_by, "pk", None) else None)


def artifact_build(*, artifact_id: int) -> ReportArtifact:
    """Renders a pending (or failed) report and stores its file and SHA-256; a done one is left alone."""
    artifact = ReportArtifact.objects.select_related("requested_by").get(pk=artifact_id)
    if artifact.status == ArtifactStatus.DONE:
        return artifact
    try:
        params = dict(artifact.parameters)
        if not params.get("generated_at"):
            params["generated_at"] = timezone.now().isoformat()
        params["report_number"] = report_number(artifact)
        params["generated_by"] = (username(artifact.requested_by) if artifact.requested_by
                                  else "the registry, on its schedule or a command (no user asked for it)")
        notes = record_missing_determinations(kind=artifact.kind, params=params, requested_by=artifact.requested_by,
                                              on_run=lambda run: _link_run(artifact, run))
        digest, size = hashlib.sha256(), 0
        with tempfile.TemporaryFile() as handle:
            for chunk in report_content(kind=artifact.kind, format=artifact.format, params=params):
                digest.update(chunk)
                size += len(chunk)
                handle.write(chunk)
            handle.seek(0)
            artifact.file.save(_file_name(artifact), File(handle), save=False)
    except Exception as exc:
        ReportArtifact.objects.filter(pk=artifact.pk).update(status=ArtifactStatus.FAILED, error=str(exc)[:2000])
        artifact.refresh_from_db()
        if isinstance(exc, ReportInputError):
            return artifact
        raise
    artifact.parameters = params
    artifact.notes = [*artifact.notes, *notes]
    artifact.sha256, artifact.size = digest.hexdigest(), size
    artifact.status, artifact.error, artifact.finished_at = ArtifactStatus.DONE, "", timezone.now()
    artifact.save()
    return artifact


def _link_run(artifact: ReportArtifact, run: Any) -> None:
    """The report rests on the run recording its missing determinations: linked at once (committed), so
    the report's progress is that run's while it runs."""
    artifact.run = run
    ReportArtifact.objects.filter(pk=artifact.pk).update(run=run)


def report_generate(*, kind: str, format: str, requested_by: Any = None, **params: Any) -> ReportArtifact:
    """A report rendered now, in this process, and stored."""
    artifact = artifact_create(kind=kind, format=format, requested_by=requested_by, **params)
    return artifact_build(artifact_id=artifact.pk)


def enqueue_build(artifact_id: int) -> bool:
    """Sends the build task; false (and logged, the report left pending) when the broker is down."""
    from .tasks import generate_report

    try:
        generate_report.apply_async(args=[artifact_id], retry=False)
    except Exception as exc:  # kombu raises several types for an unreachable broker
        log.warning("broker unavailable, report %s left pending: %s", artifact_id, exc)
        return False
    return True


class TooManyPendingReports(Exception):
    """The requester already has settings.REPORT_MAX_PENDING reports waiting to be built."""

    def __init__(self, pending: int, limit: int) -> None:
        super().__init__(f"{pending} of your reports are still being built (at most {limit} may wait at once): "
                         "wait for one to finish, or poll the report you asked for")
        self.pending, self.limit = pending, limit


def _stale_before() -> datetime:
    """A pending report older than this has outlived any build (its message was lost, or the broker was down)."""
    return timezone.now() - timedelta(seconds=2 * settings.CELERY_TASK_TIME_LIMIT)


def report_request(*, kind: str, format: str, requested_by: Any = None, **params: Any) -> ReportArtifact:
    """A pending report whose build is enqueued once the caller's transaction commits.

    The same report asked for again while one is still pending is that one (its build is sent again
    if it has waited longer than any build takes); a new report is refused with TooManyPendingReports
    once the requester has settings.REPORT_MAX_PENDING reports waiting. A requester's requests are
    taken one at a time (its user row is locked), so neither check can be raced past."""
    user = requested_by if getattr(requested_by, "pk", None) else None
    checked = report_parameters(kind=kind, format=format, **params)
    if user is not None:
        user._meta.model.objects.select_for_update().filter(pk=user.pk).first()  # also through a lazy request.user
    same = (ReportArtifact.objects.filter(kind=kind, format=format, status=ArtifactStatus.PENDING, parameters=checked)
            .order_by("id").first())
    if same is not None:
        if same.created_at < _stale_before():
            transaction.on_commit(lambda: enqueue_build(same.pk), robust=True)
        return same
    if user is not None:
        pending = ReportArtifact.objects.filter(requested_by=user, status=ArtifactStatus.PENDING,
                                                created_at__gte=_stale_before()).count()
        if pending >= settings.REPORT_MAX_PENDING:
            raise TooManyPendingReports(pending, settings.REPORT_MAX_PENDING)
    artifact = artifact_create(kind=kind, format=format, requested_by=user, **params)
    transaction.on_commit(lambda: enqueue_build(artifact.pk), robust=True)
    return artifact


def change_reports_for_run(*, run_id: int) -> list[ReportArtifact]:
    """The change report of a finished run, in each format, requested once."""
    artifacts = []
    for format in CHANGE_REPORT_FORMATS:
        existing = ReportArtifact.objects.filter(kind=ReportKind.CHANGES, format=format, run_id=run_id).first()
        artifacts.append(existing or report_request(kind=ReportKind.CHANGES, format=format, run=run_id))
    return artifacts


__all__ = [
    "FORMATS", "ReportFormat", "ReportInputError", "artifact_build", "artifact_create", "change_reports_for_run",
    "enqueue_build", "record_missing_determinations", "report_content", "report_generate", "report_parameters",
    "report_request", "TooManyPendingReports",
]
