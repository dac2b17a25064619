"""Determinations as CSV and JSON, streamed row by row so a large export is never held in memory.

The CSV has one row per determination; the JSON has one object per determination with the same
fields plus its tests (the DESIGN.md `evaluate` fields). `designations` holds, for a determination
with a test that reads a regulator's designation, the designations under its regime that its facts
held (kind, date decided, reference; `[]` for none), and is empty otherwise. Text that a
spreadsheet would run as a formula (=, +, -, @ first) is written with a leading apostrophe.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from rules import snapshots
from rules.models import Determination, StatusChange, facts_sha256_filled, previous_filled

FIELDS = (
    "sequence", "subject", "subject_kind", "organisation", "subject_name", "subject_version", "regime",
    "rule_version", "rule_version_id", "rule_hash", "as_of", "status", "tier", "deciding_test", "facts_revision",
    "facts_sha256", "trigger", "run", "created_at", "row_sha256", "previous_sha256", "designations",
)
TEST_FIELDS = ("id", "outcome", "quantity", "value", "operator", "threshold", "margin", "citation", "missing")
CHANGE_FIELDS = (
    "run", "subject", "regime", "from_status", "to_status", "from_tier", "to_tier", "flipped_tests", "from_rule_version",
    "to_rule_version",
    "from_sequence", "to_sequence",
)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


READS_DESIGNATION = re.compile(r'"quantity":\s*"designation"')  # a test of the payload read designated()


def _designations_read(rows: list[Determination]) -> dict[int, list[dict[str, str]]]:
    """Row pk → the designations under its regime that its facts snapshot held, for the rows with a
    test that read one (one query for the batch): kind, date decided, reference."""
    reading = [row for row in rows if READS_DESIGNATION.search(row.payload_text)]
    if not reading:
        return {}
    texts = snapshots.numbered_texts(row.facts_id for row in reading)
    held: dict[int, list[dict[str, str]]] = {}
    for row in reading:
        snapshot = json.loads(texts.get(row.facts_id) or "{}")  # designations are a top-level key, never compacted
        held[row.pk] = [{"kind": d.get("kind"), "decided_on": d.get("decided_on"), "reference": d.get("reference")}
                        for d in snapshot.get("designations") or () if d.get("regime") == row.regime]
    return held


def determination_record(row: Determination, *, with_tests: bool = False,
                         designations: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """`designations`: those a test of the row read (None when no test reads one)."""
    record = {
        "sequence": row.sequence,
        "subject": row.subject_ref,
        "subject_kind": row.subject_kind,
        "organisation": row.organisation,
        "subject_name": row.subject_name,
        "subject_version": row.subject_version,
        "regime": row.regime,
        "rule_version": row.rule_version_label or None,
        "rule_version_id": row.rule_version_id,
        "rule_hash": row.rule_hash or None,
        "as_of": row.as_of.isoformat(),
        "status": row.status,
        "tier": row.tier or None,
        "deciding_test": row.deciding_test or None,
        "facts_revision": row.facts_revision,
        "facts_sha256": row.facts_sha256,
        "trigger": row.trigger,
        "run": row.run_id,
        "created_at": row.created_at.isoformat(timespec="microseconds"),
        "row_sha256": row.row_sha256,
        "previous_sha256": row.previous_sha256,
        "designations": designations,
    }
    if with_tests:
        record["tests"] = [{key: test.get(key) for key in TEST_FIELDS} for test in row.data().get("tests", [])]
    return record


def change_record(change: StatusChange) -> dict[str, Any]:
    return {
        "run": change.run_id,
        "subject": change.subject_ref,
        "regime": change.regime,
        "from_status": change.from_status,
        "to_status": change.to_status,
        "from_tier": change.from_tier or None,
        "to_tier": change.to_tier or None,
        "flipped_tests": change.flipped_tests,
        "from_rule_version": change.from_rule_version,
        "to_rule_version": change.to_rule_version,
        "from_sequence": change.from_determination.sequence,
        "to_sequence": change.to_determination.sequence,
    }


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_chunks(records: Iterable[dict[str, Any]], fields: tuple[str, ...], *, batch: int = 500) -> Iterator[str]:
    """CSV text in chunks: the header, then `batch` rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(fields)
    for count, record in enumerate(records, start=1):
        writer.writerow([_cell(record.get(name)) for name in fields])
        if count % batch == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def json_chunks(records: Iterable[dict[str, Any]], *, head: dict[str, Any] | None = None,
                key: str = "determinations") -> Iterator[str]:
    """A JSON document in chunks: a list, or an object whose `key` holds the list after `head`'s fields."""
    if head is None:
        yield "["
    else:
        yield json.dumps(head, ensure_ascii=False, indent=None)[:-1] + (", " if head else "") + f'"{key}": ['
    for index, record in enumerate(records):
        yield ("\n  " if index == 0 else ",\n  ") + json.dumps(record, ensure_ascii=False)
    yield "\n]\n" if head is None else "\n]}\n"


def _records(rows: Iterable[Determination], *, with_tests: bool, batch: int = 500) -> Iterator[dict[str, Any]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, batch)):
        held = _designations_read(chunk)
        previous_filled(chunk)
        facts_sha256_filled(chunk)
        for row in chunk:
            yield determination_record(row, with_tests=with_tests, designations=held.get(row.pk))


def determination_chunks(rows: Iterable[Determination], *, format: str) -> Iterator[str]:
    if format == "csv":
        return csv_chunks(_records(rows, with_tests=False), FIELDS)
    return json_chunks(_records(rows, with_tests=True))
