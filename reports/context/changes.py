"""The change report's context: the subjects whose status a re-evaluation run changed, from what to
what, the tests that flipped with their values on both sides, and the rule versions on both sides."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings

from rules.engine.vocabulary import OUTCOME_LABELS, status_line
from rules.models import Determination, EvaluationRun
from rules.selectors import tier_titles

from .. import selectors
from .common import compared, iso_date, iso_datetime, quantity_unit, username


def _test_values(determination: Determination, test_id: str) -> str:
    test = next((t for t in determination.data().get("tests", []) if t["id"] == test_id), None)
    if test is None:
        return "—"
    unit = quantity_unit(test.get("quantity"))
    if test.get("value") is None and test.get("missing"):
        return "missing: " + ", ".join(test["missing"])
    value, threshold = compared(test.get("value"), test.get("threshold"), unit)
    return f"{value} {test.get('operator', '')} {threshold}"


def changes_context(*, run: EvaluationRun, generated_at: datetime) -> dict[str, Any]:
    """Every change counted by regime and status; the first `REPORTS_CHANGES_LISTED` by subject
    listed with the tests that flipped (the CSV change report has every one)."""
    titles = tier_titles()

    def label(status: str, regime: str, tier: str) -> str:
        return status_line(status, titles.get((regime, tier), tier) if tier else None)

    counts = [{**row, "from_label": label(row["from_status"], row["regime"], row["from_tier"]),
               "to_label": label(row["to_status"], row["regime"], row["to_tier"])}
              for row in selectors.status_change_counts(run=run)]
    total = sum(row["n"] for row in counts)
    changes = []
    for change in selectors.status_changes(run=run, limit=settings.REPORTS_CHANGES_LISTED):
        before, after = change.from_determination, change.to_determination
        changes.append({
            "subject": change.subject_ref,
            "regime": change.regime,
            "from_status": change.from_status,
            "from_label": status_line(change.from_status, before.data().get("tier_title")),
            "to_status": change.to_status,
            "to_label": status_line(change.to_status, after.data().get("tier_title")),
            "from_rule_version": change.from_rule_version or "—",
            "to_rule_version": change.to_rule_version or "—",
            "from_sequence": before.sequence,
            "to_sequence": after.sequence,
            "from_as_of": iso_date(before.as_of),
            "flipped": [
                {"id": test["id"], "from": OUTCOME_LABELS.get(test["from"], test["from"]),
                 "to": OUTCOME_LABELS.get(test["to"], test["to"]),
                 "before": _test_values(before, test["id"]), "after": _test_values(after, test["id"])}
                for test in change.flipped_tests
            ],
        })
    head = selectors.chain_head()
    return {
        "kind": "changes",
        "title": f"Change report: evaluation run {run.pk}",
        "run": {
            "id": run.pk, "kind": run.get_kind_display(), "as_of": iso_date(run.as_of), "status": run.status,
            "regimes": ", ".join(run.regimes) if run.regimes else "every regime",
            "subjects": "the whole registry" if run.subjects is None else f"{len(run.subjects)} subject(s)",
            "rule_version": str(run.rule_version) if run.rule_version_id else "—",
            "requested_by": username(run.requested_by), "total": run.total, "done": run.done,
            "created_at": iso_datetime(run.created_at), "finished_at": iso_datetime(run.finished_at),
            "previous_run": run.previous_run_id or "—",
        },
        "as_of": iso_date(run.as_of),
        "generated_at": iso_datetime(generated_at),
        "changes": changes,
        "change_counts": counts,
        "changes_total": total,
        "chain_head": {"sequence": head.sequence, "row_sha256": head.row_sha256},
        "toc": [
            {"anchor": "run", "title": "The run"},
            {"anchor": "changes", "title": "Status changes"},
            {"anchor": "decision-log-head", "title": "Decision log"},
        ],
    }
