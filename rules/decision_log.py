"""Appending determinations to the chained decision log, and verifying the chain."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from .engine import Evaluation
from .models import Determination, FactsSnapshot, LogHead
from .models.decision_log import GENESIS_SHA256
from .subjects import SubjectSnapshot

LOG_SCHEMA = "determination/1"


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def deciding_test(evaluation: Evaluation) -> str:
    """The test a status rests on: the first met (covered) or undecided (indeterminate) test."""
    wanted = {"covered": "met", "indeterminate": "indeterminate"}.get(evaluation.status)
    return next((test.id for test in evaluation.tests if test.outcome == wanted), "") if wanted else ""


def payload_of(evaluation: Evaluation) -> dict[str, Any]:
    data = evaluation.to_dict()
    data.pop("readings", None)  # the rule version's own text: kept once, in the version
    data["schema"] = LOG_SCHEMA
    return data


@dataclass
class Entry:
    subject: SubjectSnapshot
    evaluation: Evaluation
    rule_version_id: int | None


def append(
    entries: Iterable[Entry],
    *,
    trigger: str,
    requested_by: Any = None,
    run: Any = None,
    task_id: str = "",
) -> list[Determination]:
    """Writes the entries as chained rows; the caller's transaction makes them all-or-nothing."""
    entries = list(entries)
    if not entries:
        return []
    snapshots: dict[str, str] = {}
    prepared = []
    for entry in entries:
        facts_text = canonical(entry.subject.snapshot)
        facts_sha = sha256_text(facts_text)
        snapshots[facts_sha] = facts_text
        prepared.append((entry, facts_sha, canonical(payload_of(entry.evaluation))))
    with transaction.atomic():
        FactsSnapshot.objects.bulk_create(
            [FactsSnapshot(sha256=sha, facts=text) for sha, text in snapshots.items()], ignore_conflicts=True
        )
        LogHead.objects.get_or_create(id=1)
        head = LogHead.objects.select_for_update().get(id=1)
        sequence, previous = head.sequence, head.row_sha256
        now = timezone.now()
        rows = []
        for entry, facts_sha, payload in prepared:
            key, evaluation = entry.subject.key, entry.evaluation
            sequence += 1
            row = Determination(
                sequence=sequence,
                subject_kind=key.kind,
                subject_ref=key.ref,
                organisation=key.organisation,
                subject_name=key.name or "",
                subject_version=key.version or "",
                facts_revision=entry.subject.revision,
                regime=evaluation.regime,
                rule_version_id=entry.rule_version_id,
                rule_version_label=evaluation.rule_version or "",
                rule_hash=evaluation.rule_hash or "",
                as_of=evaluation.as_of,
                status=evaluation.status,
                deciding_test=deciding_test(evaluation),
                payload=payload,
                facts_id=facts_sha,
                trigger=trigger,
                requested_by=requested_by,
                run=run,
                task_id=task_id or "",
                created_at=now,
                previous_sha256=previous,
            )
            row.row_sha256 = previous = row.compute_row_sha256()
            rows.append(row)
        Determination.objects.bulk_create(rows)
        LogHead.objects.filter(id=1).update(sequence=sequence, row_sha256=previous)
    return rows


@dataclass
class ChainReport:
    checked: int
    broken_at: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_chain(*, progress: Callable[[int], None] | None = None, batch: int = 2000) -> ChainReport:
    """Recomputes every row's hash in sequence order; names the first row that breaks the chain."""
    previous, expected_sequence, checked = GENESIS_SHA256, 1, 0
    facts_checked: dict[str, bool] = {}
    rows = Determination.objects.order_by("sequence").iterator(chunk_size=batch)
    for row in rows:
        if row.sequence != expected_sequence:
            return ChainReport(checked, row.sequence, f"row {expected_sequence} is missing (found {row.sequence} next)")
        if row.previous_sha256 != previous:
            return ChainReport(checked, row.sequence, "previous_sha256 does not match the row before it")
        if row.compute_row_sha256() != row.row_sha256:
            return ChainReport(checked, row.sequence, "content does not match its row_sha256: the row was altered")
        if row.facts_id not in facts_checked:
            text = FactsSnapshot.objects.filter(sha256=row.facts_id).values_list("facts", flat=True).first()
            facts_checked[row.facts_id] = text is not None and sha256_text(text) == row.facts_id
        if not facts_checked[row.facts_id]:
            return ChainReport(checked, row.sequence, "its facts snapshot does not match facts_sha256")
        previous = row.row_sha256
        expected_sequence += 1
        checked += 1
        if progress:
            progress(1)
    head = LogHead.objects.filter(id=1).first()
    if head is not None and (head.sequence, head.row_sha256) != (checked, previous):
        return ChainReport(checked, head.sequence, f"the chain ends at row {checked} but its head records row {head.sequence}")
    return ChainReport(checked)
