"""Decision-log rows, runs and rule versions as the API shows them (dicts for the output serializers)."""
from __future__ import annotations

import threading
from typing import Any

from accounts.selectors import Access
from rules.engine import RuleFileErrors
from rules.library_store import engine_version
from rules.models import Determination, EvaluationRun, RuleVersion
from rules.models.runs import RunStatus
from rules.subjects import SubjectError, parse_subject

from .links import api_url
from .serializers import rules as out

_parsed_lock = threading.Lock()
_parsed: dict[tuple[int, str], Any] = {}
PARSED_KEEP = 256


def determination_representation(row: Determination, request: Any) -> dict[str, Any]:
    data = row.data()
    subject = data.get("subject") or {
        "kind": row.subject_kind, "organisation": row.organisation,
        "name": row.subject_name or None, "version": row.subject_version or None,
    }
    return out.DeterminationOut({
        "id": row.pk,
        "url": api_url("api:determination-detail", request, pk=row.pk),
        "sequence": row.sequence,
        "subject": subject,
        "subject_ref": row.subject_ref,
        "regime": row.regime,
        "rule_version": row.rule_version_label or None,
        "rule_hash": row.rule_hash or None,
        "as_of": row.as_of,
        "status": row.status,
        "tier": row.tier or None,
        "tier_title": data.get("tier_title"),
        "reason": data.get("reason"),
        "deciding_test": row.deciding_test,
        "tests": data.get("tests") or [],
        "quantities": data.get("quantities") or {},
        "caveats": data.get("caveats") or [],
        "notes": data.get("notes") or [],
        "facts_revision": row.facts_revision,
        "facts_sha256": row.facts_sha256,
        "trigger": row.trigger,
        "run": row.run_id,
        "run_url": api_url("api:run-detail", request, pk=row.run_id) if row.run_id else None,
        "created_at": row.created_at,
        "previous_sha256": row.previous_sha256,
        "row_sha256": row.row_sha256,
    }).data


def _own(ref: str, slug: str | None) -> bool:
    try:
        return parse_subject(ref).organisation == slug
    except SubjectError:
        return False


def _requested_by(run: EvaluationRun, viewer: Access) -> str | None:
    user = run.requested_by
    if user is None:
        return None
    if viewer.is_regulator:
        return user.get_username()
    membership = getattr(user, "membership", None)  # None when the requester has no API role
    return user.get_username() if membership is not None and membership.organisation_id == viewer.organisation_id else None


def _percent(run: EvaluationRun, total: int, done: int) -> float:
    if run.status == RunStatus.FINISHED and total == 0:
        return 100.0
    return round(100.0 * done / total, 1) if total else 0.0


def run_representation(run: EvaluationRun, request: Any, viewer: Access, *, changes: list[Any] | None = None) -> dict[str, Any]:
    subjects, total, done = run.subjects, run.total, run.done
    if not viewer.is_regulator:
        # a lab's share of the run: its own subjects, never the registry's counts
        if subjects is not None:
            subjects = [ref for ref in subjects if _own(ref, viewer.organisation_slug)]
            total = len(subjects)
        else:
            total = getattr(run, "visible_registry_total", 0)
        done = total if run.status == RunStatus.FINISHED else min(total, getattr(run, "visible_done", 0))
    data = {
        "id": run.pk,
        "url": api_url("api:run-detail", request, pk=run.pk),
        "kind": run.kind,
        "status": run.status,
        "as_of": run.as_of,
        "regimes": run.regimes or [],
        "subjects": subjects,
        "total": total,
        "done": done,
        "progress_percent": _percent(run, total, done),
        "changes_count": getattr(run, "visible_changes", run.changes_count),
        "changes_url": api_url("api:run-changes", request, pk=run.pk),
        "determinations_url": api_url("api:determination-list", request) + f"?run={run.pk}",
        "requested_by": _requested_by(run, viewer),
        "error": run.error if viewer.is_regulator else ("" if not run.error else "the run failed"),
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    }
    if changes is None:
        return out.RunOut(data).data
    data["changes"] = [change_representation(c) for c in changes]
    return out.RunDetailOut(data).data


def change_representation(change: Any) -> dict[str, Any]:
    return {
        "subject": change.subject_ref,
        "organisation": change.organisation,
        "regime": change.regime,
        "from_status": change.from_status,
        "to_status": change.to_status,
        "from_tier": change.from_tier or None,
        "to_tier": change.to_tier or None,
        "flipped_tests": change.flipped_tests or [],
        "from_determination": change.from_determination_id,
        "to_determination": change.to_determination_id,
        "from_rule_version": change.from_rule_version,
        "to_rule_version": change.to_rule_version,
    }


def parsed_version(row: RuleVersion) -> tuple[Any, list[str]]:
    """The engine's reading of a stored rule version (cached by content), or the problems of a bad draft."""
    key = (row.pk, row.content_sha256)
    with _parsed_lock:
        if key in _parsed:
            return _parsed[key]
    try:
        result: tuple[Any, list[str]] = (engine_version(row), [])
    except RuleFileErrors as exc:
        result = (None, [str(error) for error in exc.errors])
    with _parsed_lock:
        if len(_parsed) >= PARSED_KEEP:
            _parsed.clear()
        _parsed[key] = result
    return result


def _version_url(row: RuleVersion, request: Any) -> str:
    return api_url("api:ruleversion-detail", request, regime_slug=row.regime, pk=row.pk)


def version_summary(row: RuleVersion, request: Any) -> dict[str, Any]:
    return {
        "id": row.pk, "url": _version_url(row, request), "regime": row.regime, "version_id": row.version_id,
        "title": row.title, "state": row.state, "legal_status": row.legal_status,
        "effective_from": row.effective_from, "effective_to": row.effective_to, "content_sha256": row.content_sha256,
    }


def version_representation(row: RuleVersion, request: Any) -> dict[str, Any]:
    version, problems = parsed_version(row)
    data = {
        **version_summary(row, request),
        "regime_title": row.regime_title,
        "jurisdiction": version.jurisdiction if version else None,
        "published_on": version.published_on if version else None,
        "corrects": version.corrects if version else None,
        "last_verified_on": row.last_verified_on,
        "provenance": row.provenance,
        "origin": row.origin,
        "created_at": row.created_at,
        "published_at": row.published_at,
        "instrument": dict(version.instrument) if version else None,
        "caveats": list(version.caveats) if version else [],
        "parameters": [
            {"id": p.id, "value": p.value, "unit": p.unit, "operator": p.operator, "text_operator": p.text_operator,
             "citation": p.citation, "provenance": p.provenance, "reading": p.reading}
            for p in (version.parameters.values() if version else [])
        ],
        "tests": [
            {"id": t.id, "title": t.title, "applies_to": t.applies_to, "condition": t.condition,
             "arguments": dict(t.arguments), "citation": t.citation, "quote": dict(t.quote) if t.quote else None,
             "paraphrase": dict(t.paraphrase) if t.paraphrase else None, "caveat": t.caveat,
             "reading": t.reading}
            for t in (version.tests if version else [])
        ],
        "readings": [dict(r) for r in version.readings] if version else [],
        "problems": problems,
        "content": row.content,
    }
    return out.RuleVersionOut(data).data


def regime_representation(slug: str, rows: list[RuleVersion], request: Any) -> dict[str, Any]:
    latest = rows[-1]
    version, _ = parsed_version(latest)
    return out.RegimeOut({
        "slug": slug,
        "url": api_url("api:regime-detail", request, slug=slug),
        "title": latest.regime_title,
        "jurisdiction": version.jurisdiction if version else None,
        "versions_url": api_url("api:ruleversion-list", request, regime_slug=slug),
        "versions": [version_summary(row, request) for row in rows],
    }).data
