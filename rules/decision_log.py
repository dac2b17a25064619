"""Appending determinations to the chained decision log, confirming those a run finds unchanged,
and verifying both chains."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

import msgspec
import orjson
import zstandard
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from . import bulk_write, snapshots
from .current import AheadRow, IndexedRow, advance_horizon, index_appended
from .engine import Evaluation
from .instrumentation import FACTS_STORED, PAYLOADS_SERIALIZED, stage
from .models import (
    Confirmation,
    Determination,
    FactsDictionary,
    FactsSnapshot,
    LoggedSubject,
    LogHead,
    Payload,
    PayloadDictionary,
)
from .models.decision_log import (
    GENESIS_SHA256,
    PAYLOAD_SCHEMA,
    chained_fields,
    confirmation_fields,
    digests_by_number,
    payload_sha256,
    row_sha256,
    subject_named,
    subjects_filled,
    undated,
)
from .payloads import DictionaryKey, PayloadText, names, packed_rows, quantities, quantities_of, unpacked
from .reuse import dates_written
from .snapshots import Compactor, FactsText, may_refer, references
from .subjects import SubjectSnapshot

LOG_SCHEMA = PAYLOAD_SCHEMA


def canonical(value: Any) -> str:
    """A payload's or a facts snapshot's text: JSON with sorted keys, no whitespace, UTF-8, floats in
    their shortest round-trip form (`1e+26` is written `1e26`), integers of any size by their digits.
    msgspec writes it in one pass, integers beyond 64 bits included (exact compute figures such as
    10**26 + 1, so most payloads): a third of the time of orjson, which refuses them and was handed
    them as fragments found by a walk (`encoded_by_orjson`, which writes the same text and is taken
    for what msgspec refuses: keys that are not strings, lone surrogates, subclasses of str or int).
    The values given are JSON's own types, as the engine's `plain_tree` and the facts give them (msgspec
    would also write decimals, sets and bytes, which orjson refuses, and aware datetimes otherwise).
    A row's hash covers the text as stored, so verification never re-encodes it. Not
    `registry.facts.canonical_json`: revisions compare a recomputed digest with the one they stored,
    so that encoding must not change."""
    try:
        return _encode(value).decode()
    except (TypeError, ValueError, msgspec.EncodeError):
        return encoded_by_orjson(value)


_encode = msgspec.json.Encoder(order="sorted").encode


def encoded_by_orjson(value: Any) -> str:
    """`canonical`'s text as orjson writes it, integers beyond 64 bits handed to it as fragments of
    their digits; the standard library's where orjson refuses the value."""
    try:
        return orjson.dumps(_big_ints_as_text(value), option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_INT64 = 2**63
_Fragment = orjson.Fragment


def _big_ints_as_text(value: Any, low: int = -_INT64, high: int = _INT64) -> Any:
    """`value` with each integer beyond 64 bits as a pre-written JSON fragment of its digits. Each
    container's items are looked at where they stand and only containers are recursed into: a quarter
    less time than a call per value (27 µs against 36 µs for a payload)."""
    kind = type(value)
    if kind is dict:
        out: dict[Any, Any] = {}
        for key, item in value.items():
            of = type(item)
            if of is dict or of is list or of is tuple:
                out[key] = _big_ints_as_text(item)
            elif of is int and not low <= item < high:
                out[key] = _Fragment(str(item))
            else:
                out[key] = item
        return out
    if kind is list or kind is tuple:
        items: list[Any] = []
        for item in value:
            of = type(item)
            if of is dict or of is list or of is tuple:
                items.append(_big_ints_as_text(item))
            elif of is int and not low <= item < high:
                items.append(_Fragment(str(item)))
            else:
                items.append(item)
        return items
    if kind is int and not low <= value < high:
        return _Fragment(str(value))
    return value


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def deciding_test(evaluation: Evaluation) -> str:
    """The test a status rests on (`Evaluation.deciding_test`): a met test of the highest tier reached,
    else the first met (covered) or undecided (indeterminate) test."""
    test = evaluation.deciding_test()
    return test.id if test else ""


def payload_of(evaluation: Evaluation, key: Any) -> dict[str, Any]:
    """The row's payload: the evaluation less the rule version's own text (its readings, and each
    test's reading and quoted passage), which the version keeps once under its hash, less the
    as-of date, a column of the row (`Determination.data` puts it back, and into the notes and
    reason that name it: `undated`), and less the subject where the row's columns (`key`, a
    `SubjectKey`) name it as the evaluation does. Each test keeps its citation and the quote's
    source and provenance. The same outcome on another date, or for another subject (out of
    scope, no version in force), so gives the same payload, stored once."""
    data = evaluation.to_dict(version_text=False)
    if data["subject"] == subject_named(key.kind, key.organisation, key.name, key.version):
        del data["subject"]
    return undated(data, as_of=data.pop("as_of"))


@dataclass
class Entry:
    subject: SubjectSnapshot
    evaluation: Evaluation
    rule_version_id: int | None


@dataclass
class Reused:
    """A subject's current determination under a regime that a run confirms without evaluating the
    subject again (`rules.reuse`): the same facts and rule version, by the same engine, on a date
    the facts cannot tell from the determination's. It is never appended: it only confirms."""

    subject: SubjectSnapshot
    regime: str
    rule_version_id: int | None
    rule_version_label: str
    rule_hash: str
    as_of: Any
    status: str
    tier: str
    payload_sha256: str


class FactsHashes:
    """Each subject's facts snapshot serialized once for a batch of rows (its lineage by reference,
    `rules.snapshots.Compactor`): the hash a row records, by subject, and every text by hash."""

    def __init__(self) -> None:
        self._compactor = Compactor(encode=canonical, digest=sha256_text)
        self._of: dict[int, str] = {}
        self._dates: dict[str, frozenset[date]] = {}

    def of(self, subject: SubjectSnapshot) -> str:
        sha = self._of.get(id(subject))
        if sha is None:
            sha = self._of[id(subject)] = self._compactor.compact(subject.snapshot)
        return sha

    def dates(self, subject: SubjectSnapshot) -> tuple[date, ...]:
        """Every calendar date written in the subject's facts, sorted (`rules.reuse.fact_dates`): read
        from the texts just made for its hash, its own and its lineage nodes' (each node's once for the
        batch), not from the snapshot written out again."""
        found: set[date] = set()
        sha = self.of(subject)
        for part in (sha, *self._compactor.parts.get(sha, ())):
            written = self._dates.get(part)
            if written is None:
                written = self._dates[part] = frozenset(dates_written(self._compactor.texts[part].text))
            found |= written
        return tuple(sorted(found))

    @property
    def texts(self) -> dict[str, FactsText]:
        return self._compactor.texts


class _Prepared(NamedTuple):
    """What a row needs that does not depend on its place in the chain, worked out before the lock:
    plain values only, so a chunk prepared in one process can be written by another."""

    kind: str
    ref: str
    organisation: str
    name: str
    version: str
    revision: int | None
    regime: str
    rule_version_id: int | None
    rule_version_label: str
    rule_hash: str
    as_of: Any
    status: str
    tier: str
    deciding_test: str
    facts_sha256: str
    payload: str
    payload_sha256: str


def _prepare(entries: list[Entry | Reused], facts: FactsHashes | None
             ) -> tuple[list[_Prepared], dict[str, FactsText], dict[str, PayloadText]]:
    """Payload text per entry, and facts text per distinct snapshot (each subject's once), with the
    lineage nodes the snapshots refer to (`rules.snapshots`); the distinct payloads by hash."""
    with stage(PAYLOADS_SERIALIZED):
        return _serialized(entries, facts or FactsHashes())


def _serialized(entries: list[Entry | Reused], facts: FactsHashes
                ) -> tuple[list[_Prepared], dict[str, FactsText], dict[str, PayloadText]]:
    payloads: dict[str, PayloadText] = {}
    prepared = []
    for entry in entries:
        snapshot = entry.subject
        facts_sha = facts.of(snapshot)
        key = snapshot.key
        if type(entry) is Reused:  # its payload is stored already, under the hash the row names
            prepared.append(_Prepared(
                key.kind, key.ref, key.organisation, key.name or "", key.version or "", snapshot.revision,
                entry.regime, entry.rule_version_id, entry.rule_version_label, entry.rule_hash, entry.as_of,
                entry.status, entry.tier, "", facts_sha, "", entry.payload_sha256,
            ))
            continue
        evaluation = entry.evaluation
        data = payload_of(evaluation, key)
        payload = canonical(data)
        payload_sha = payload_sha256(payload)
        if payload_sha not in payloads:
            payloads[payload_sha] = PayloadText(
                payload, DictionaryKey(evaluation.regime, evaluation.rule_hash or "", key.kind, evaluation.status), quantities_of(data))
        prepared.append(_Prepared(
            key.kind, key.ref, key.organisation, key.name or "", key.version or "", snapshot.revision,
            evaluation.regime, entry.rule_version_id, evaluation.rule_version or "", evaluation.rule_hash or "",
            evaluation.as_of, evaluation.status, evaluation.tier or "", deciding_test(evaluation), facts_sha, payload,
            payload_sha,
        ))
    return prepared, facts.texts, payloads


def _store_texts(facts: dict[str, FactsText], payloads: dict[str, PayloadText]) -> tuple[dict[str, int], dict[str, int]]:
    """Stores the facts snapshots and payloads not stored yet, each packed against its dictionary
    (only their hashes travel when all are stored); the number of each, by hash."""
    with stage(FACTS_STORED):
        return _stored_numbered(FactsSnapshot, facts, snapshots.packed_rows), \
            _stored_numbered(Payload, payloads, packed_rows)


def _stored_numbered(model: type[Model], items: dict[str, Any], rows: Callable[[dict[str, Any]], list[tuple[Any, ...]]],
                     *, key: str = "sha256") -> dict[str, int]:
    """Each of these stored (asked on every database: only those not stored yet are made into `rows`),
    and its number by `key` (a text's hash, a subject's reference)."""
    if not items:
        return {}
    numbers = numbers_of(model, items, key=key)
    if len(numbers) < len(items):
        bulk_write.insert_missing(model, rows({found: item for found, item in items.items() if found not in numbers}))
        numbers |= numbers_of(model, [found for found in items if found not in numbers], key=key)
    return numbers


def numbers_of(model: type[Model], keys: Iterable[str], *, key: str = "sha256") -> dict[str, int]:
    """The numbers of those of these (by `key`: a text's hash, a subject's reference) that are stored."""
    wanted = list(keys)
    return dict(model.objects.filter(**{f"{key}__any": wanted}).values_list(key, "id")) if wanted else {}


def store_facts(ready: Prepared) -> None:
    """Stores the prepared rows' facts snapshots and payloads now, in a transaction of their own, so
    that the transaction appending the rows has only to chain and write them (their numbers go with
    `ready`). Each is found by its own hash: if the rows are never written it stays unreferenced, and
    is used again by the next row with the same content."""
    if ready.facts or ready.payloads:
        with transaction.atomic():
            facts, payloads = _store_texts(ready.facts, ready.payloads)
        ready.facts, ready.payloads = {}, {}
        ready.facts_numbers |= facts
        ready.payload_numbers |= payloads


def lock_head() -> None:
    """Locks the log's head for the caller's transaction: no other writer appends or confirms until it ends."""
    _locked_head()


def _locked_head() -> LogHead:
    """The log's head, locked for the caller's transaction; the index of current determinations is
    brought up to today's horizon first (`rules.current.advance_horizon`), once a day."""
    head = LogHead.objects.select_for_update().filter(id=1).first()
    if head is None:
        LogHead.objects.get_or_create(id=1)
        head = LogHead.objects.select_for_update().get(id=1)
    advance_horizon(head)
    return head


class AppendedRow(NamedTuple):
    """What the caller needs of a row just appended (change detection reads these; the row itself
    is in the database). Its `sequence` is its key."""

    sequence: int
    subject_ref: str
    organisation: str
    regime: str
    status: str
    rule_version_label: str
    rule_hash: str
    payload: str
    tier: str = ""


@dataclass
class Prepared:
    """Entries serialized for the log (payload and facts texts and hashes), not yet chained."""

    items: list[_Prepared]
    facts: dict[str, FactsText]
    payloads: dict[str, PayloadText]
    # the numbers of the facts snapshots and payloads stored already (`store_facts`), by hash
    facts_numbers: dict[str, int] = field(default_factory=dict)
    payload_numbers: dict[str, int] = field(default_factory=dict)

    def without(self, confirmed: set[int]) -> Prepared:
        """These entries less those at the positions given (confirmed rather than appended)."""
        if not confirmed:
            return self
        items = [item for index, item in enumerate(self.items) if index not in confirmed]
        wanted = {item.payload_sha256 for item in items}
        return Prepared(items, self.facts, {sha: text for sha, text in self.payloads.items() if sha in wanted},
                        self.facts_numbers, self.payload_numbers)

    def numbered(self) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        """The number of every facts snapshot and payload the entries name, by hash, and of every
        subject, by reference, storing those not stored yet (inside the caller's transaction)."""
        facts_numbers, payload_numbers = dict(self.facts_numbers), dict(self.payload_numbers)
        if self.facts or self.payloads:
            stored_facts, stored_payloads = _store_texts(self.facts, self.payloads)
            facts_numbers |= stored_facts
            payload_numbers |= stored_payloads
        for numbers, model, shas in ((facts_numbers, FactsSnapshot, {item.facts_sha256 for item in self.items}),
                                     (payload_numbers, Payload, {item.payload_sha256 for item in self.items})):
            unknown = shas - numbers.keys()
            if unknown:  # a confirmed determination's payload, or a text stored by an earlier chunk
                numbers |= numbers_of(model, unknown)
                if unknown - numbers.keys():
                    raise ValueError(f"{model._meta.verbose_name} not stored: {sorted(unknown - numbers.keys())[0]}")
        return facts_numbers, payload_numbers, subjects_numbered(self.items)


def subjects_numbered(items: Iterable[_Prepared]) -> dict[str, int]:
    """The number of each of these rows' subjects, by reference, storing those not stored yet."""
    subjects = {item.ref: (item.ref, item.kind, item.organisation, item.name, item.version) for item in items}
    return _stored_numbered(LoggedSubject, subjects, lambda missing: list(missing.values()), key="ref")


def prepare(entries: Iterable[Entry | Reused], *, facts: FactsHashes | None = None) -> Prepared:
    """Everything a row needs that does not depend on its place in the chain (no database access);
    `facts`, the batch's facts hashes where some were worked out already."""
    return Prepared(*_prepare(list(entries), facts))


def append(
    entries: Iterable[Entry] | Prepared,
    *,
    trigger: str,
    requested_by: Any = None,
    run: Any = None,
    task_id: str = "",
) -> list[AppendedRow]:
    """Writes the entries (or entries already `prepare`d) as chained rows; the caller's transaction
    makes them all-or-nothing.

    Payloads and facts are serialized before the log's head is locked, so concurrent writers
    hold the lock only to chain and write their rows."""
    ready = entries if isinstance(entries, Prepared) else prepare(entries)
    prepared = ready.items
    if any(not item.payload for item in prepared):
        raise ValueError("a reused determination only confirms the current one: it is never appended")
    if not prepared:
        return []
    requested_by_id = getattr(requested_by, "pk", None)
    run_id = getattr(run, "pk", None)
    task_id = task_id or ""
    names = [field.attname for field in Determination._meta.concrete_fields]
    appended: list[AppendedRow] = []
    with transaction.atomic():
        facts_numbers, payload_numbers, subjects_by_ref = ready.numbered()
        copy = bulk_write.has_copy()
        head = _locked_head()
        sequence, previous, now, horizon = head.sequence, head.row_sha256, timezone.now(), head.index_horizon
        newest: dict[tuple[str, str], IndexedRow] = {}
        ahead: dict[tuple[str, str], AheadRow] = {}

        def chained() -> Iterator[list[Any]]:
            """Each row with its place in the chain; on PostgreSQL the server stores one while the next is hashed."""
            nonlocal sequence, previous
            for item in prepared:
                sequence += 1
                row_sha = row_sha256(
                    previous_sha256=previous,
                    fields=chained_fields(
                        sequence, item.kind, item.ref, item.organisation, item.name, item.version, item.revision,
                        item.regime, item.rule_version_id, item.rule_version_label, item.rule_hash, item.as_of,
                        item.status, item.deciding_test, item.facts_sha256, trigger, requested_by_id, run_id,
                        task_id, now, item.tier,
                    ),
                    payload_digest=item.payload_sha256,
                )
                values = {
                    "sequence": sequence,
                    "subject_id": subjects_by_ref[item.ref],
                    "facts_revision": item.revision,
                    "regime": item.regime,
                    "rule_version_id": item.rule_version_id,
                    "rule_version_label": item.rule_version_label,
                    "rule_hash": item.rule_hash,
                    "as_of": item.as_of,
                    "status": item.status,
                    "tier": item.tier,
                    "deciding_test": item.deciding_test,
                    "payload_id": payload_numbers[item.payload_sha256],
                    "facts_id": facts_numbers[item.facts_sha256],
                    "trigger": trigger,
                    "requested_by_id": requested_by_id,
                    "run_id": run_id,
                    "task_id": task_id,
                    "created_at": now,
                    "row_sha256": row_sha,
                }
                previous = row_sha
                key = (item.ref, item.regime)
                if item.as_of > horizon:
                    if key not in ahead or ahead[key].as_of > item.as_of:
                        ahead[key] = AheadRow(item.ref, item.regime, item.organisation, item.as_of)
                elif key not in newest or newest[key].as_of <= item.as_of:
                    newest[key] = IndexedRow(item.ref, item.regime, sequence, item.as_of, item.rule_version_id,
                                             item.kind, item.organisation, item.status, item.tier)
                appended.append(AppendedRow(
                    sequence, item.ref, item.organisation, item.regime, item.status,
                    item.rule_version_label, item.rule_hash, item.payload, item.tier))
                yield [values[name] for name in names]

        if copy:  # digests sent as PostgreSQL stores them (`stored_values`), as every COPY of the log's does
            fields = [field for field in Determination._meta.concrete_fields if field.attname in names]
            bulk_write.copy_rows(Determination._meta.db_table, [field.column for field in fields],
                                 bulk_write.stored_values(fields, chained()))
        else:
            Determination.objects.bulk_create([Determination(*ordered) for ordered in chained()])
        index_appended(list(newest.values()), list(ahead.values()))
        LogHead.objects.filter(id=1).update(sequence=sequence, row_sha256=previous)
    return appended


def sequence_ranges(sequences: Iterable[int]) -> list[list[int]]:
    """Sequences as ascending, disjoint `[first, last]` ranges: a run's confirmations name rows
    appended together by an earlier run, so a chunk's are a few ranges."""
    ranges: list[list[int]] = []
    for sequence in sorted(set(sequences)):
        if ranges and ranges[-1][1] + 1 == sequence:
            ranges[-1][1] = sequence
        else:
            ranges.append([sequence, sequence])
    return ranges


def confirm(
    sequences: Iterable[int], *, as_of: Any, trigger: str, requested_by: Any = None, run: Any = None, task_id: str = "",
) -> Confirmation | None:
    """Records, as one chained confirmation, that the determinations at these sequences still hold
    as of `as_of` (the run reached the same rule version, facts and payload); None when there are
    none. Inside the caller's transaction, with the log's head locked: it is anchored to the head."""
    ranges = sequence_ranges(sequences)
    if not ranges:
        return None
    text = canonical(ranges)
    count = sum(last - first + 1 for first, last in ranges)
    requested_by_id, run_id, task_id = getattr(requested_by, "pk", None), getattr(run, "pk", None), task_id or ""
    with transaction.atomic():
        head = _locked_head()
        if ranges[-1][1] > head.sequence:
            raise ValueError(f"row {ranges[-1][1]} cannot be confirmed: the log ends at row {head.sequence}")
        position, now = head.confirmation_position + 1, timezone.now()
        fields = confirmation_fields(position, run_id, as_of, trigger, requested_by_id, task_id, now, count,
                                     ranges[0][0], ranges[-1][1], head.sequence, head.row_sha256)
        digest = row_sha256(previous_sha256=head.confirmation_sha256, fields=fields, payload=text)
        confirmation = Confirmation.objects.create(
            position=position, run_id=run_id, as_of=as_of, trigger=trigger, requested_by_id=requested_by_id,
            task_id=task_id, created_at=now, count=count, first_sequence=ranges[0][0], last_sequence=ranges[-1][1],
            confirmed=text, log_sequence=head.sequence, log_sha256=head.row_sha256,
            previous_sha256=head.confirmation_sha256, row_sha256=digest,
        )
        LogHead.objects.filter(id=1).update(confirmation_position=position, confirmation_sha256=digest)
    return confirmation


@dataclass
class ChainReport:
    checked: int
    broken_at: int | None = None
    reason: str = ""
    confirmations: int = 0  # confirmations verified
    confirmation_broken_at: int | None = None  # the position of the first confirmation that breaks its chain

    @property
    def ok(self) -> bool:
        return self.broken_at is None and self.confirmation_broken_at is None


# How many snapshot hashes verification remembers as checked; past it the memory is cleared and a
# snapshot met again is checked again, so a log of any size is verified in bounded memory.
CHECKED_SNAPSHOTS_KEPT = 100_000


def _unpacked_checked(unpack: Callable[[str | None, Any, str | None], str], dictionaries: type[Any],
                      text: str | None, packed: Any, dictionary: str | None,
                      dictionaries_checked: dict[str, bool]) -> str | None:
    """A stored payload's or snapshot's text, unpacked against its dictionary (of the `dictionaries`
    table), itself checked against its hash once; None when the dictionary is altered or missing, or
    the bytes do not unpack."""
    if dictionary is not None and dictionary not in dictionaries_checked:
        stored = dictionaries.objects.filter(sha256=dictionary).values_list("text", flat=True).first()
        dictionaries_checked[dictionary] = stored is not None and sha256_text(stored) == dictionary
    if not dictionaries_checked.get(dictionary, True):
        return None
    try:
        return unpack(text, packed, dictionary)
    except (ValueError, UnicodeDecodeError, zstandard.ZstdError, ObjectDoesNotExist):  # packed, no dictionary
        return None


def _check_snapshots(wanted: Iterable[str], checked: dict[str, bool],
                     dictionaries_checked: dict[str, bool] | None = None) -> None:
    """Checks these snapshots, and every lineage snapshot they refer to, against their hashes: one
    streamed query per level of lineage. A snapshot is good when its own text (unpacked against its
    dictionary, itself checked against its hash) matches its hash and every snapshot it refers to is
    good (and stored)."""
    own: dict[str, bool] = {}
    refs: dict[str, list[str]] = {}
    dictionaries_checked = {} if dictionaries_checked is None else dictionaries_checked
    level = {sha for sha in wanted if sha not in checked}
    roots = sorted(level)
    while level:
        rows = FactsSnapshot.objects.filter(sha256__any=sorted(level)).values_list(*snapshots.STORED)
        for sha, facts, packed, dictionary in rows.iterator(chunk_size=500):
            text = _unpacked_checked(snapshots.unpacked, FactsDictionary, facts, packed, dictionary,
                                     dictionaries_checked)
            own[sha] = text is not None and sha256_text(text) == sha
            if text is not None and may_refer(text):
                try:
                    refs[sha] = [str(ref) for ref in references(json.loads(text))]
                except (ValueError, TypeError, KeyError, AttributeError):
                    own[sha] = False
        level = {ref for sha in level for ref in refs.get(sha, ()) if ref not in checked and ref not in own}
        # a reference that is not stored is never fetched: it is left out of `own`, so it is bad
        level -= {ref for ref in level if ref in refs}
    for root in roots:
        stack, on_path = [root], {root}  # depth first, one reference at a time: the stack is the path
        while stack:
            sha = stack[-1]
            ref = next((ref for ref in refs.get(sha, ()) if ref not in checked), None)
            if ref is not None and ref in on_path:
                checked[ref] = False  # only an altered text can refer back up its own chain
            elif ref is not None:
                stack.append(ref)
                on_path.add(ref)
            else:
                checked[sha] = own.get(sha, False) and all(checked[ref] for ref in refs.get(sha, ()))
                on_path.discard(stack.pop())


class _RowChecked(NamedTuple):
    """What verification keeps of a row once its content is hashed."""

    sequence: int
    row_sha256: str
    # False when the row's hash does not match its content (not known, and True, when a text or the
    # subject it refers to is gone: that is reported as such)
    content_ok: bool
    facts_ok: bool
    payload_ok: bool
    subject_ok: bool = True


def _check_payloads(wanted: Iterable[str], checked: dict[str, bool], dictionaries_checked: dict[str, bool]) -> None:
    """Checks these payloads' texts against their hashes (one streamed query), unpacked against their
    dictionary, itself checked against its hash; one not stored is bad."""
    level = sorted({sha for sha in wanted if sha not in checked})
    for sha in level:
        checked[sha] = False
    rows = Payload.objects.filter(sha256__any=level).values_list("sha256", "text", "packed", "dictionary_id", "names",
                                                                  "quantities")
    for sha, text, packed, dictionary, named, quantified in rows.iterator(chunk_size=500):
        content = _unpacked_checked(unpacked, PayloadDictionary, text, packed, dictionary, dictionaries_checked)
        # a packed payload's names and quantities must be those of its text: the release scope and the
        # reports' charts read them
        checked[sha] = content is not None and sha256_text(content) == sha and (
            packed is None or (named == names(content) and quantified == quantities(content)))


def _with_facts_checked(rows: Iterator[Determination], checked: dict[str, bool], *, batch: int,
                        payloads_checked: dict[str, bool] | None = None) -> Iterator[_RowChecked]:
    """The rows hashed a batch at a time, with the digests of the facts snapshots and payloads they
    refer to (by number), and each batch's facts snapshots (and the lineage snapshots they refer to)
    and payloads checked against their hashes before the batch is handed on."""
    pending: list[Determination] = []
    payloads_checked = {} if payloads_checked is None else payloads_checked
    dictionaries_checked: dict[str, bool] = {}
    facts_dictionaries_checked: dict[str, bool] = {}
    previous = GENESIS_SHA256  # the rows come in the chain's order: each is hashed on the one read before it

    def flush() -> Iterator[_RowChecked]:
        nonlocal previous
        if len(checked) > CHECKED_SNAPSHOTS_KEPT:
            checked.clear()
        if len(payloads_checked) > CHECKED_SNAPSHOTS_KEPT:
            payloads_checked.clear()
        facts = digests_by_number(FactsSnapshot, (row.facts_id for row in pending))
        payloads = digests_by_number(Payload, (row.payload_id for row in pending))
        subjects_filled(pending)
        _check_snapshots(set(facts.values()), checked, facts_dictionaries_checked)
        _check_payloads(set(payloads.values()), payloads_checked, dictionaries_checked)
        for row in pending:
            facts_sha, payload_sha = facts.get(row.facts_id), payloads.get(row.payload_id)
            known = facts_sha is not None and payload_sha is not None
            if known:
                row.facts_sha256 = facts_sha
            subject_ok = "subject_ref" in row.__dict__  # else its subject is gone (`subjects_filled`)
            content_ok = not known or not subject_ok or row_sha256(
                previous_sha256=previous, fields=row.chained_fields(), payload_digest=payload_sha) == row.row_sha256
            yield _RowChecked(row.sequence, row.row_sha256, content_ok,
                              facts_sha is not None and checked.get(facts_sha, False),
                              payload_sha is not None and payloads_checked.get(payload_sha, False), subject_ok)
            previous = row.row_sha256
        pending.clear()

    for row in rows:
        pending.append(row)
        if len(pending) >= batch:
            yield from flush()
    yield from flush()


def verify_chain(*, progress: Callable[[int], None] | None = None, batch: int = 500) -> ChainReport:
    """Recomputes every row's hash in sequence order; names the first row that breaks the chain.
    The log is read `batch` rows at a time and each row's text let go once hashed, so the memory it
    takes does not grow with the log."""
    previous, expected_sequence, checked = GENESIS_SHA256, 1, 0
    facts_checked: dict[str, bool] = {}
    payloads_checked: dict[str, bool] = {}
    # The head is read first: rows appended while the chain is being read are not yet checked.
    head = LogHead.objects.filter(id=1).first()
    rows = Determination.objects.order_by("sequence")
    if head is not None:
        rows = rows.filter(sequence__lte=head.sequence)
    # the row's own columns only: its subject's values are read by number a batch at a time
    # (`subjects_filled`), its payload is checked by its hash, and a row whose payload or subject is
    # gone is still read (and named)
    rows = rows.select_related(None).only(
        "sequence", "subject_id", "facts_revision", "regime", "rule_version_id", "rule_version_label", "rule_hash",
        "as_of", "status", "tier", "deciding_test", "payload_id", "facts_id", "trigger", "requested_by_id", "run_id",
        "task_id", "created_at", "row_sha256")
    for row in _with_facts_checked(rows.iterator(chunk_size=batch), facts_checked, batch=batch,
                                   payloads_checked=payloads_checked):
        if row.sequence != expected_sequence:
            return ChainReport(checked, row.sequence, f"row {expected_sequence} is missing (found {row.sequence} next)")
        if not row.subject_ok:
            return ChainReport(checked, row.sequence, "its subject is missing: the row's hash cannot be made again")
        if not row.content_ok:
            return ChainReport(checked, row.sequence, "content does not match its row_sha256 (hashed on the row before "
                                                      "it): the row, or the hash of the row before it, was altered")
        if not row.facts_ok:
            return ChainReport(checked, row.sequence, "its facts snapshot, or a lineage snapshot it refers to, is missing "
                                                      "or does not match its hash")
        if not row.payload_ok:
            return ChainReport(checked, row.sequence, "its payload is missing or does not match its hash")
        previous = row.row_sha256
        expected_sequence += 1
        checked += 1
        if progress:
            progress(1)
    if head is not None and (head.sequence, head.row_sha256) != (checked, previous):
        return ChainReport(checked, head.sequence, f"the chain ends at row {checked} but its head records row {head.sequence}")
    return _verify_confirmations(ChainReport(checked), head=head, batch=batch)


def _confirmation_fault(confirmation: Confirmation, *, expected: int, previous: str, log_length: int) -> str:
    """What is wrong with a confirmation read in its chain's order, or "" when nothing is."""
    if confirmation.position != expected:
        return f"confirmation {expected} is missing (found {confirmation.position} next)"
    if confirmation.previous_sha256 != previous:
        return "previous_sha256 does not match the confirmation before it"
    if confirmation.compute_row_sha256() != confirmation.row_sha256:
        return "content does not match its row_sha256: the confirmation was altered"
    try:
        ranges = confirmation.ranges()
    except (ValueError, TypeError):
        return "its confirmed rows are not ranges of sequences"
    ordered = all(first <= last for first, last in ranges) and all(
        ranges[i][1] < ranges[i + 1][0] for i in range(len(ranges) - 1))
    if not ranges or not ordered or ranges[0][0] < 1 or ranges[-1][1] > confirmation.log_sequence:
        return "its confirmed rows are not ascending ranges of rows appended before it"
    if (ranges[0][0], ranges[-1][1], sum(last - first + 1 for first, last in ranges)) != (
            confirmation.first_sequence, confirmation.last_sequence, confirmation.count):
        return "its bounds or count do not match the rows it confirms"
    if confirmation.log_sequence > log_length:
        return f"it is anchored to row {confirmation.log_sequence}, past the log's end"
    return ""


def _verify_confirmations(report: ChainReport, *, head: LogHead | None, batch: int) -> ChainReport:
    """Every confirmation in its chain's order: its hash, its place, its ranges (rows appended before
    it), and its anchor, the hash of the log's row it was written after. Called once the log's rows
    are verified, so an anchor matching a row proves the confirmation was written after that row."""
    previous, expected = GENESIS_SHA256, 1
    rows = Confirmation.objects.order_by("position")
    if head is not None:
        rows = rows.filter(position__lte=head.confirmation_position)
    pending: list[Confirmation] = []

    def flush() -> ChainReport | None:
        nonlocal previous, expected
        anchors = dict(Determination.objects.filter(sequence__any=sorted({c.log_sequence for c in pending if c.log_sequence}))
                       .values_list("sequence", "row_sha256"))
        anchors[0] = GENESIS_SHA256
        for confirmation in pending:
            fault = _confirmation_fault(confirmation, expected=expected, previous=previous, log_length=report.checked)
            if not fault and anchors.get(confirmation.log_sequence) != confirmation.log_sha256:
                fault = f"its anchor does not match row {confirmation.log_sequence} of the log"
            if fault:
                report.confirmation_broken_at = confirmation.position
                report.reason = fault
                return report
            previous, expected = confirmation.row_sha256, expected + 1
            report.confirmations += 1
        pending.clear()
        return None

    for confirmation in rows.iterator(chunk_size=batch):
        pending.append(confirmation)
        if len(pending) >= batch and flush() is not None:
            return report
    if flush() is not None:
        return report
    if head is not None and (head.confirmation_position, head.confirmation_sha256) != (report.confirmations, previous):
        report.confirmation_broken_at = head.confirmation_position
        report.reason = (f"the confirmations end at {report.confirmations} but the head records "
                         f"{head.confirmation_position}")
    return report
