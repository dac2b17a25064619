"""The decision log: one append-only row per determination, chained by hashes.

Each row's `row_sha256` covers its own content and the previous row's hash, so altering or
removing any row breaks every hash after it (`manage.py verify_log` names the first). Rows are
never updated or deleted: the model and its queryset refuse, and on PostgreSQL a trigger refuses
even raw SQL.

What a row would repeat is stored once, found by its SHA-256 and referred to by its number (the
digest, which the row's hash covers, is kept once, with the text): the facts a determination was
made on (`FactsSnapshot`, packed against its kind's dictionary) and its payload (`Payload`: the
tests, their outcomes and the values compared, the quantities and their methods, without the as-of
date, which is a column of the row). The subject is stored once too, found by its reference and
referred to by its number (`LoggedSubject`: its kind, reference, organisation, name and version,
which the row's hash covers). Digests are stored as 32 bytes on PostgreSQL (`rules.digests`), the
previous row's hash once, as that row's own, and the status and trigger as codes (`rules.codes`).
A re-evaluation that reaches what the subject's current determination already says (same rule
version, facts and payload) appends no row: the run records one `Confirmation` per chunk, chained in
its own right and anchored to the log's head, naming the rows it confirmed as of its date.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import date
from typing import Any

import orjson
from django.conf import settings
from django.db import models
from django.db.models.sql import Query
from django.utils import timezone

from rules.codes import CodedField
from rules.digests import Sha256Field
from rules.engine.vocabulary import STATUS_CHOICES

from .runs import Trigger

GENESIS_SHA256 = "0" * 64


class AppendOnlyError(Exception):
    """An attempt to change or remove a row of the decision log."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("the decision log is append-only: rows are never updated")

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        # refused before QuerySet.bulk_update opens its atomic block, which would leave the
        # caller's transaction unusable
        raise AppendOnlyError("the decision log is append-only: rows are never updated")

    def delete(self) -> Any:
        raise AppendOnlyError("the decision log is append-only: rows are never deleted")

    def _raw_delete(self, using: Any) -> Any:
        raise AppendOnlyError("the decision log is append-only: rows are never deleted")


class AppendOnlyRow(models.Model):
    """A row of the decision log that is written once and never updated or deleted."""

    noun = "rows"

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        # a row's key may be given before it is stored (a determination's is its position in the chain)
        if not self._state.adding:
            raise AppendOnlyError(f"the decision log is append-only: {self.noun} are never updated")
        kwargs.setdefault("force_insert", True)
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError(f"the decision log is append-only: {self.noun} are never deleted")


class StoredOnce(AppendOnlyRow):
    """A text of the decision log stored once per distinct content, under its SHA-256: never updated
    or deleted (the rows that refer to it have their hash cover its hash)."""

    sha256 = Sha256Field(primary_key=True)

    objects = AppendOnlyQuerySet.as_manager()
    noun = "texts"

    class Meta:
        abstract = True


class FactsDictionary(StoredOnce):
    """What the facts snapshots of one kind (model, cluster, organisation, lineage node) share, stored
    once: the first such snapshot stored, headed by its kind. Snapshots are packed against it
    (`rules.snapshots`)."""

    kind = models.CharField(max_length=16, unique=True)
    text = models.TextField(help_text="Canonical JSON of the snapshot the others are packed against, headed by its kind.")
    noun = "facts dictionaries"


class NumberedOnce(StoredOnce):
    """A text stored once per distinct content, found by its SHA-256 and referred to by a number: the
    determinations that refer to it keep 4 bytes where its digest would take 33. The number says
    nothing of the content; the digest, which the referring rows' hashes cover, is kept once, here
    (`verify_log` proves it against the text and the row's hash against it). 2^31 numbers: a
    snapshot or payload is stored once per distinct content, not once per determination."""

    id = models.AutoField(primary_key=True)
    sha256 = Sha256Field(unique=True)

    class Meta:
        abstract = True


class FactsSnapshot(NumberedOnce):
    """The submitted facts a determination was made on, stored once per distinct content: packed
    against its kind's dictionary, or (stored before snapshots were packed) as text."""

    facts = models.TextField(null=True, blank=True,
                             help_text="Canonical JSON of the engine's input snapshot (unpacked).")
    packed = models.BinaryField(null=True, help_text="The canonical JSON compressed against the dictionary.")
    dictionary = models.ForeignKey(FactsDictionary, null=True, on_delete=models.PROTECT, related_name="+",
                                   db_column="dictionary_sha256", db_index=False)
    noun = "facts snapshots"

    @property
    def content(self) -> str:
        """The snapshot's canonical JSON, as its hash covers it."""
        from ..snapshots import unpacked

        return unpacked(self.facts, self.packed, self.dictionary_id)

    def data(self) -> dict[str, Any]:
        """The snapshot as the engine was given it: lineage stored by reference is read back in."""
        from ..snapshots import expand_text

        return expand_text(self.content)


class PayloadDictionary(StoredOnce):
    """What the payloads of one regime, rule version, kind of subject and status share, stored once:
    the first such payload stored, headed by the four. Payloads are packed against it (`rules.payloads`)."""

    regime = models.CharField(max_length=64)
    rule_hash = models.CharField(max_length=64, blank=True)
    subject_kind = models.CharField(max_length=16)
    status = models.CharField(max_length=16)
    text = models.TextField(help_text="Canonical JSON of the payload the others are packed against.")
    noun = "payload dictionaries"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["regime", "rule_hash", "subject_kind", "status"],
                                    name="payload_dictionary_once"),
        ]


class Payload(NumberedOnce):
    """A determination's payload (canonical JSON, without its as-of date and subject, columns of the
    row), stored once per distinct content: packed against its rule version's dictionary, or (stored
    before payloads were packed) as text."""

    text = models.TextField(null=True, blank=True,
                            help_text="Canonical JSON: tests, quantities, sensitivity, caveats, notes (unpacked).")
    packed = models.BinaryField(null=True, help_text="The canonical JSON compressed against the dictionary.")
    dictionary = models.ForeignKey(PayloadDictionary, null=True, on_delete=models.PROTECT, related_name="+",
                                   db_column="dictionary_sha256", db_index=False)
    names = models.TextField(blank=True, default="",
                             help_text="The strings of the text that may name a model, one per line (release scope).")
    quantities = models.TextField(null=True, blank=True,
                                  help_text="JSON: each quantity with a value, by name, as in the text (reports' charts).")
    noun = "payloads"

    @property
    def content(self) -> str:
        """The payload's canonical JSON, as its hash covers it."""
        from ..payloads import unpacked

        return unpacked(self.text, self.packed, self.dictionary_id)


PAYLOAD_SCHEMA = "determination/1"
# Where a payload's notes and reason named the as-of date ("no version of ... is in force on D"), its
# stored text says this instead, so that the same finding on another date is the same payload.
AS_OF_MARK = "{as_of}"
DATED_KEYS = ("notes", "reason", "caveats")


# Each text of a payload's notes, reason and caveats with one date put for another (the as-of date
# marked, or put back), by the text and the two: most are the rule version's caveats, the same for
# every subject and a few thousand characters each, so each is looked up rather than searched again.
_DATED: dict[tuple[str, str, str], str] = {}
_DATED_KEPT = 20_000


def _dates(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        key = (value, old, new)
        found = _DATED.get(key)
        if found is None:
            if len(_DATED) >= _DATED_KEPT:
                _DATED.clear()
            found = _DATED[key] = value.replace(old, new)
        return found
    if isinstance(value, list):
        return [_dates(item, old, new) for item in value]
    return value


def undated(data: dict[str, Any], *, as_of: str) -> dict[str, Any]:
    """An evaluation's payload as the log stores it: without its as-of date (a column of the row),
    and with the date marked where its notes and reason name it."""
    data = {key: (_dates(value, as_of, AS_OF_MARK) if key in DATED_KEYS else value) for key, value in data.items()}
    data["schema"] = PAYLOAD_SCHEMA
    return data


def subject_named(kind: str, organisation: str, name: str, version: str) -> dict[str, Any]:
    """The evaluation's subject as a row's columns give it back (`SubjectRef.to_dict`)."""
    return {"kind": kind, "organisation": organisation, "name": name or None, "version": version or None}


def payload_data(text: str, *, as_of: Any, subject: dict[str, Any] | None = None) -> dict[str, Any]:
    """A stored payload as the engine gave it: the row's as-of date put back in its place and where
    its notes and reason name it, and the row's subject (a payload stored before payloads were
    shared has its own date and subject)."""
    data = json.loads(text)
    if "as_of" not in data or "subject" not in data:
        if "as_of" not in data:
            iso = as_of.isoformat()
            data = {key: (_dates(value, AS_OF_MARK, iso) if key in DATED_KEYS else value) for key, value in data.items()}
            data["as_of"] = iso
        if "subject" not in data and subject is not None:
            data["subject"] = subject
        data = dict(sorted(data.items()))
    return data


class LoggedSubject(AppendOnlyRow):
    """A subject as the decision log names it (its kind, organisation, name and version, and the
    reference they make), stored once and referred to by its number: a determination keeps 4 bytes
    where the five took about 60, and its index by subject 28 bytes less an entry. A subject's
    reference names a version of a model, so a new version is a new subject; nothing here is ever
    updated or deleted, and the hash of each row that refers to it covers the five values."""

    id = models.AutoField(primary_key=True)
    ref = models.CharField(max_length=500)
    kind = CodedField(vocabulary="subject_kind")
    organisation = models.SlugField(max_length=64, db_index=False)
    name = models.CharField(max_length=200, blank=True)
    version = models.CharField(max_length=64, blank=True)

    objects = AppendOnlyQuerySet.as_manager()
    noun = "subjects"

    class Meta:
        # declared here rather than on the fields, which on PostgreSQL would add a second index to each
        # for LIKE patterns, which nothing asks of them
        constraints = [models.UniqueConstraint(fields=["ref"], name="logged_subject_ref")]
        # a lab's determinations are read through its subjects
        indexes = [models.Index(fields=["organisation"], name="logged_subject_organisation")]

    def __str__(self) -> str:
        return self.ref


# A determination's subject as the rows held it before subjects were stored once: in queries of the log
# each name reads the subject's value (`DeterminationQuery`), and on a row it is a property.
SUBJECT_NAMES = {"subject_ref": "ref", "subject_kind": "kind", "organisation": "organisation",
                 "subject_name": "name", "subject_version": "version"}


class DeterminationQuery(Query):
    """A query of the log in which `subject_ref`, `subject_kind`, `organisation`, `subject_name` and
    `subject_version` name the subject's values (`subject__ref`, ...): filters, orderings, values and
    expressions by these names join the subject, and only the queries that use them (a count of a run's
    rows reads the log alone)."""

    def names_to_path(self, names: Any, opts: Any, allow_many: bool = True, fail_on_missing: bool = False) -> Any:
        if names and names[0] in SUBJECT_NAMES and opts.model is Determination:
            names = ["subject", SUBJECT_NAMES[names[0]], *names[1:]]
        return super().names_to_path(names, opts, allow_many, fail_on_missing)


class DeterminationQuerySet(AppendOnlyQuerySet):
    def __init__(self, model: Any = None, query: Query | None = None, using: str | None = None,
                 hints: Any = None) -> None:
        super().__init__(model, query if query is not None else DeterminationQuery(model), using, hints)


class DeterminationManager(models.Manager.from_queryset(DeterminationQuerySet)):  # type: ignore[misc]
    """Determinations come with their payload and their subject (one join each), as when each row
    held its own."""

    def get_queryset(self) -> DeterminationQuerySet:
        return super().get_queryset().select_related("payload", "subject")


def log_with_subjects_sql() -> str:
    """The log's rows with their subject's values under the names the rows gave them (`SUBJECT_NAMES`),
    as a table of SQL to select from, for raw queries: the database reads it as the join it is."""
    from django.db import connection

    quote = connection.ops.quote_name
    named = ", ".join(f"s.{quote(column)} AS {name}" for name, column in SUBJECT_NAMES.items())
    return (f"(SELECT d.*, {named} FROM {quote(Determination._meta.db_table)} d "
            f"JOIN {quote(LoggedSubject._meta.db_table)} s ON s.id = d.subject_id)")


def _subject_value(name: str) -> property:
    column = SUBJECT_NAMES[name]

    def read(row: Determination) -> Any:
        if name in row.__dict__:  # given to the row
            return row.__dict__[name]
        return getattr(row.subject, column)

    def written(row: Determination, value: Any) -> None:
        row.__dict__[name] = value

    read.admin_order_field = f"subject__{column}"  # a list of rows sorts by it as by a column
    return property(read, written, doc=f"The subject's {column} (`LoggedSubject.{column}`).")


class Determination(AppendOnlyRow):
    # The row's position in the chain is its key: a second key (an identity column and its index) would
    # cost 30 bytes a row and say nothing the position does not.
    sequence = models.BigIntegerField(primary_key=True, help_text="Position in the chain, from 1: the determination's id.")
    # Indexes are few on purpose: each one is paid on every row appended (see `Meta.indexes`).
    # The subject by its number (`LoggedSubject`); its values are read as `subject_ref`, `subject_kind`,
    # `organisation`, `subject_name` and `subject_version`, in queries and on the row.
    subject = models.ForeignKey(LoggedSubject, on_delete=models.PROTECT, related_name="determinations",
                                db_index=False)  # determination_latest_as_of leads with it
    subject_ref = _subject_value("subject_ref")
    subject_kind = _subject_value("subject_kind")
    organisation = _subject_value("organisation")
    subject_name = _subject_value("subject_name")
    subject_version = _subject_value("subject_version")
    facts_revision = models.PositiveIntegerField(null=True, blank=True)
    regime = models.SlugField(max_length=64, db_index=False)
    rule_version = models.ForeignKey(
        "rules.RuleVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="determinations",
        db_index=False,  # determination_rule_version: the rows made under a version in force
    )
    rule_version_label = models.CharField(max_length=64, blank=True)
    rule_hash = Sha256Field(blank=True)
    as_of = models.DateField()
    # status and trigger as codes of their vocabularies: 2 bytes each (`rules.codes`)
    status = CodedField(vocabulary="status", choices=STATUS_CHOICES)
    tier = models.CharField(max_length=64, blank=True, help_text="The highest tier of the rule version reached, if any.")
    deciding_test = models.CharField(max_length=64, blank=True)
    # No index: a payload is read by its number, from the row. The number, not the digest: 4 bytes a
    # row where the digest took 33 (`NumberedOnce`); the row's hash covers the digest.
    payload = models.ForeignKey(
        Payload, on_delete=models.PROTECT, related_name="+", db_index=False,
        help_text="The payload (tests, quantities, caveats) as stored once, with its SHA-256.",
    )
    # No index: nothing looks determinations up by their snapshot (a snapshot is read by its number,
    # from the row).
    facts = models.ForeignKey(
        FactsSnapshot, on_delete=models.PROTECT, related_name="determinations", db_index=False,
    )
    trigger = CodedField(vocabulary="trigger", choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        db_index=False,  # determination_requested_by: the rows someone asked for, not every scheduled run's
    )
    run = models.ForeignKey(
        "rules.EvaluationRun", null=True, blank=True, on_delete=models.PROTECT, related_name="determinations",
        db_index=False,  # determination_run
    )
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    # The previous row's hash, which this row's hash covers, is that row's `row_sha256`: kept once, there
    # (`previous_sha256` below reads it back).
    row_sha256 = Sha256Field()

    objects = DeterminationManager()

    class Meta:
        ordering = ["sequence"]
        # A run determines each subject under each regime once, as of its own date: on both databases a
        # trigger refuses the row that would be the second (migration 0022). A unique index on (run,
        # subject_ref, regime) refused it before, at 84 bytes a row; the trigger finds a duplicate through
        # determination_latest_as_of, and an index on the run alone is a few bytes a row, PostgreSQL
        # keeping each run's rows under one key. SQLite drops a table's triggers when a migration remakes
        # the table: such a migration must create this one again (tests/rules/test_once_per_run.py fails
        # without it).
        indexes = [
            models.Index(fields=["run"], name="determination_run"),
            # most rows of a registry are of regimes not in force as of their date, made under no version:
            # only the others are kept, which every lookup by version (and a version's deletion) asks for
            models.Index(fields=["rule_version"], condition=models.Q(rule_version__isnull=False),
                         name="determination_rule_version"),
            models.Index(fields=["requested_by"], condition=models.Q(requested_by__isnull=False),
                         name="determination_requested_by"),
            models.Index(fields=["subject", "regime", "-as_of", "-sequence"], name="determination_latest_as_of"),
            models.Index(fields=["regime", "status"], name="determination_regime_status"),
            # an organisation's rows are its subjects' (`LoggedSubject.organisation`, indexed there)
            # the determinations list filtered by trigger, in the log's order: a page of a rare
            # trigger's rows is read from here, never found by walking the log in order past the
            # other triggers' rows, nor sorted after reading all of a common trigger's (BENCHMARKS.md)
            models.Index(fields=["trigger", "sequence"], name="determination_trigger_sequence"),
            # the determinations list filtered by the tier reached, in the log's order: only the rows that
            # reach a tier (a few in ten), so that a page, and the capped count of the list, read a range
            # of it in order instead of every row of the regime that reaches the tier
            models.Index(fields=["regime", "tier", "sequence"], condition=~models.Q(tier=""),
                         name="determination_tier_sequence"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.subject_ref} {self.regime}: {self.get_status_display()}"

    def data(self) -> dict[str, Any]:
        return payload_data(self.payload.content, as_of=self.as_of, subject=self.evaluated_subject())

    def evaluated_subject(self) -> dict[str, Any]:
        """The subject as the engine names it in an evaluation (`SubjectRef.to_dict`)."""
        return subject_named(self.subject_kind, self.organisation, self.subject_name, self.subject_version)

    @property
    def payload_text(self) -> str:
        return self.payload.content

    @property
    def payload_sha256(self) -> str:
        """The payload's digest, which the row's hash covers (the payload comes with the row)."""
        return self.payload.sha256

    @property
    def facts_sha256(self) -> str:
        """The facts snapshot's digest, which the row's hash covers, read once (`facts_sha256_filled`
        reads many rows' at once). Empty if the snapshot is missing, which `verify_log` reports."""
        if FACTS_SHA256 not in self.__dict__:
            facts_sha256_filled([self])
        return self.__dict__[FACTS_SHA256]

    @facts_sha256.setter
    def facts_sha256(self, value: str) -> None:
        self.__dict__[FACTS_SHA256] = value

    @property
    def previous_sha256(self) -> str:
        """The hash of the row before this one in the chain (the genesis hash for the first), which this
        row's hash covers: that row's `row_sha256`, read once (`previous_filled` reads many rows' at once).
        Empty if that row is missing, which `verify_log` reports."""
        if PREVIOUS not in self.__dict__:
            previous_filled([self])
        return self.__dict__[PREVIOUS]

    @previous_sha256.setter
    def previous_sha256(self, value: str) -> None:
        self.__dict__[PREVIOUS] = value

    def compute_row_sha256(self, previous_sha256: str | None = None) -> str:
        """The row's hash from its stored columns and the previous row's hash (`previous_sha256`, read
        from that row unless given): its payload is covered by its SHA-256, the payload's own text by
        that hash (`verify_chain` checks both)."""
        return row_sha256(
            previous_sha256=self.previous_sha256 if previous_sha256 is None else previous_sha256,
            fields=self.chained_fields(),
            payload_digest=self.payload_sha256,
        )

    def chained_fields(self) -> list[Any]:
        return chained_fields(
            self.sequence, self.subject_kind, self.subject_ref, self.organisation, self.subject_name,
            self.subject_version, self.facts_revision, self.regime, self.rule_version_id, self.rule_version_label,
            self.rule_hash, self.as_of, self.status, self.deciding_test, self.facts_sha256, self.trigger,
            self.requested_by_id, self.run_id, self.task_id, self.created_at, self.tier,
        )


PREVIOUS = "_previous_sha256"
FACTS_SHA256 = "_facts_sha256"


def previous_filled(rows: Iterable[Determination]) -> None:
    """Reads the previous row's hash of each of these rows that has not got it yet, in one query."""
    rows = [row for row in rows if PREVIOUS not in row.__dict__]
    wanted = sorted({row.sequence - 1 for row in rows if row.sequence > 1})
    found = dict(Determination.objects.filter(sequence__any=wanted).values_list("sequence", "row_sha256")) \
        if wanted else {}
    for row in rows:
        row.__dict__[PREVIOUS] = GENESIS_SHA256 if row.sequence == 1 else found.get(row.sequence - 1, "")


def digests_by_number(model: type[NumberedOnce], numbers: Iterable[int]) -> dict[int, str]:
    """The digests of these stored texts, by number (one query; those not stored are left out)."""
    wanted = sorted(set(numbers))
    return dict(model.objects.filter(id__any=wanted).values_list("id", "sha256")) if wanted else {}


def subjects_filled(rows: Iterable[Determination]) -> None:
    """Gives each of these rows its subject's values (`SUBJECT_NAMES`), read by number in one query, as
    a row read with its subject has them; a row whose subject is missing is left without them."""
    rows = list(rows)
    wanted = sorted({row.subject_id for row in rows})
    columns = list(SUBJECT_NAMES.values())
    found = {values[0]: values[1:] for values in
             LoggedSubject.objects.filter(id__any=wanted).values_list("id", *columns)} if wanted else {}
    for row in rows:
        values = found.get(row.subject_id)
        if values is not None:
            row.__dict__.update(zip(SUBJECT_NAMES, values, strict=True))


def facts_sha256_filled(rows: Iterable[Determination]) -> None:
    """Reads the facts snapshot's digest of each of these rows that has not got it yet, in one query."""
    rows = [row for row in rows if FACTS_SHA256 not in row.__dict__]
    found = digests_by_number(FactsSnapshot, (row.facts_id for row in rows))
    for row in rows:
        row.__dict__[FACTS_SHA256] = found.get(row.facts_id, "")


def chained_fields(
    sequence: int, subject_kind: str, subject_ref: str, organisation: str, subject_name: str, subject_version: str,
    facts_revision: int | None, regime: str, rule_version_id: int | None, rule_version_label: str, rule_hash: str,
    as_of: Any, status: str, deciding_test: str, facts_sha256: str, trigger: str, requested_by_id: int | None,
    run_id: int | None, task_id: str, created_at: Any, tier: str = "",
) -> list[Any]:
    """The columns a row's hash covers besides its payload, in the chain's order (the bulk writer
    calls this with the values it is about to write, before any model instance exists). The tier comes
    last and only when there is one, so a row without a tier (every row written before tiers existed)
    hashes as it always did, and giving or clearing a row's tier still breaks its hash."""
    fields = [
        sequence, subject_kind, subject_ref, organisation, subject_name, subject_version, facts_revision, regime,
        rule_version_id, rule_version_label, rule_hash, as_of.isoformat(), status, deciding_test, facts_sha256, trigger,
        requested_by_id, run_id, task_id, created_at.isoformat(timespec="microseconds"),
    ]
    if tier:
        fields.append(tier)
    return fields


def fields_json(fields: list[Any]) -> bytes:
    """The chained fields as compact JSON in UTF-8: the bytes `json.dumps(fields, separators=(",", ":"),
    ensure_ascii=False)` gives for strings, integers and nulls, written by orjson ten times faster."""
    try:
        return orjson.dumps(fields)
    except TypeError:
        return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def payload_sha256(payload: str) -> str:
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def row_sha256(*, previous_sha256: str, fields: list[Any], payload: str = "", payload_digest: str = "") -> str:
    """SHA-256 over the previous row's hash, the chained fields and the payload's own SHA-256
    (`payload_digest` when the caller has it already: the bulk writer's are worked out before the lock)."""
    digest = hashlib.sha256()
    digest.update(previous_sha256.encode())
    digest.update(fields_json(fields))
    digest.update((payload_digest or payload_sha256(payload)).encode())
    return digest.hexdigest()


class Confirmation(AppendOnlyRow):
    """A run's finding, as of its date, that the current determinations it names still hold: same
    rule version, same facts, same payload. One per chunk of a run, in place of a row per determination.

    `confirmed` names the rows by sequence, as JSON ranges `[[first, last], ...]` (ascending, disjoint).
    Confirmations are chained like the log's rows (`position`, `previous_sha256`, `row_sha256`), and
    each is anchored to the log's head when it was written (`log_sequence`, `log_sha256`): it can only
    name rows appended before it, and altering the log before it breaks its anchor."""

    position = models.BigIntegerField(unique=True, help_text="Position in the confirmations' chain, from 1.")
    run = models.ForeignKey("rules.EvaluationRun", null=True, blank=True, on_delete=models.PROTECT,
                            related_name="confirmations", db_index=False)
    as_of = models.DateField()
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    count = models.PositiveIntegerField(help_text="Determinations confirmed.")
    first_sequence = models.BigIntegerField(help_text="The lowest sequence confirmed.")
    last_sequence = models.BigIntegerField(help_text="The highest sequence confirmed.")
    confirmed = models.TextField(help_text="The sequences confirmed, as JSON ranges [[first, last], ...].")
    log_sequence = models.BigIntegerField(help_text="The log's length when this was written.")
    log_sha256 = models.CharField(max_length=64, help_text="The hash of the log's last row then.")
    previous_sha256 = models.CharField(max_length=64)
    row_sha256 = models.CharField(max_length=64)

    objects = AppendOnlyQuerySet.as_manager()
    noun = "confirmations"

    class Meta:
        ordering = ["position"]
        indexes = [models.Index(fields=["as_of", "first_sequence"], name="confirmation_as_of")]
        constraints = [models.UniqueConstraint(fields=["run", "first_sequence"], condition=models.Q(run__isnull=False),
                                               name="confirmation_once_per_run_rows")]

    def __str__(self) -> str:
        return f"confirmation {self.position}: {self.count} determination(s) as of {self.as_of}"

    def ranges(self) -> list[tuple[int, int]]:
        return [(int(first), int(last)) for first, last in json.loads(self.confirmed)]

    def chained_fields(self) -> list[Any]:
        return confirmation_fields(
            self.position, self.run_id, self.as_of, self.trigger, self.requested_by_id, self.task_id, self.created_at,
            self.count, self.first_sequence, self.last_sequence, self.log_sequence, self.log_sha256,
        )

    def compute_row_sha256(self) -> str:
        return row_sha256(previous_sha256=self.previous_sha256, fields=self.chained_fields(),
                          payload=self.confirmed)


def confirmation_fields(position: int, run_id: int | None, as_of: Any, trigger: str, requested_by_id: int | None,
                        task_id: str, created_at: Any, count: int, first_sequence: int, last_sequence: int,
                        log_sequence: int, log_sha256: str) -> list[Any]:
    """The columns a confirmation's hash covers besides its ranges, in the chain's order."""
    return ["confirmation", position, run_id, as_of.isoformat(), trigger, requested_by_id, task_id,
            created_at.isoformat(timespec="microseconds"), count, first_sequence, last_sequence, log_sequence,
            log_sha256]


def horizon_today() -> date:
    """Today (UTC), the date up to which a write brings the index of current determinations."""
    return timezone.now().date()


class LogHead(models.Model):
    """The chain's last row, and the confirmations' last; appending locks it so rows and
    confirmations join their chains one writer at a time."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    sequence = models.BigIntegerField(default=0)
    row_sha256 = models.CharField(max_length=64, default=GENESIS_SHA256)
    confirmation_position = models.BigIntegerField(default=0)
    confirmation_sha256 = models.CharField(max_length=64, default=GENESIS_SHA256)
    index_horizon = models.DateField(
        default=horizon_today,
        help_text="The index of current determinations keeps the newest row of each (subject, regime) dated on "
                  "or before this date (CurrentDetermination), and the earliest date of those dated after it "
                  "(DeterminationAhead); each write to the log moves it on to today (rules.current).",
    )


class CurrentDetermination(models.Model):
    """The newest determination of each (subject, regime) in the log dated on or before the index's
    horizon (`LogHead.index_horizon`, today as of the last write), in `rules.current`'s order (newest
    as-of date, then last appended), with what the workspace counts of it. Derived from the log, never
    a record of its own: `decision_log.append` keeps it in the same transaction as the rows it appends,
    `manage.py verify_log` checks it against the log, and `rules.current.rebuild_index` makes it again
    from the log. It answers "current as of D" for every subject whose entry is as of D or earlier
    under the version in force then, and that has no determination dated after the horizon and on or
    before D (`DeterminationAhead`); the others are read from the log (`rules.current.current_in_force`)."""

    subject_ref = models.CharField(max_length=500)
    regime = models.SlugField(max_length=64, db_index=False)
    # the key: one row of the log is the entry of one (subject, regime) at most, and a key of its own
    # would be one more column and index per entry
    sequence = models.BigIntegerField(primary_key=True, help_text="The determination's position in the chain.")
    as_of = models.DateField()
    rule_version = models.ForeignKey(
        "rules.RuleVersion", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
        related_name="+", db_index=False,
    )
    subject_kind = CodedField(vocabulary="subject_kind")
    organisation = models.SlugField(max_length=64, db_index=False)
    status = CodedField(vocabulary="status", choices=STATUS_CHOICES)
    tier = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subject_ref", "regime"], name="current_determination_subject_regime"),
        ]
        indexes = [
            models.Index(fields=["organisation"], name="current_determination_org"),
            # the entries not answering for "current as of D" under the versions in force: a few ranges
            models.Index(fields=["regime", "rule_version", "as_of"], name="current_version_as_of"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.subject_ref} {self.regime}"


class DeterminationAhead(models.Model):
    """A (subject, regime) with determinations dated after the index's horizon (`LogHead.index_horizon`),
    and the earliest of their as-of dates. Derived from the log, like `CurrentDetermination`, and kept
    with it. A run dated in the future, or a lab's evaluation as of a later date, does not displace the
    subject's current entry: as of a date before this one the index still answers; as of this date or
    after, the subject is ranked from the log until the horizon passes it (`rules.current`)."""

    subject_ref = models.CharField(max_length=500)
    regime = models.SlugField(max_length=64, db_index=False)
    organisation = models.SlugField(max_length=64, db_index=False)
    as_of = models.DateField(help_text="The earliest as-of date of the subject's determinations under this regime "
                                       "after the index's horizon.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subject_ref", "regime"], name="determination_ahead_subject_regime"),
        ]
        indexes = [models.Index(fields=["as_of"], name="determination_ahead_as_of")]

    def __str__(self) -> str:
        return f"{self.subject_ref} {self.regime} from {self.as_of}"
