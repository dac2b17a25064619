"""What each subject owes on a date, worked out from the decision log, and the stored states.

- `obligations_as_of`: every obligation (each occurrence of a recurring or incident-driven one) of
  the subjects' current determinations on a date, with its due date, how that was worked out, its
  status and the fulfilments recorded for it;
- `refresh_states`: brings `ObligationState` up to date and appends an `ObligationStatusChange`
  for each change (called after every run, so after every submission's evaluation);
- `refresh_due_states`: the same for the subjects whose states may have changed since they were
  stored (`subjects_due`: by the date, `changes_on`, or by something new about them), leaving the
  others alone (the nightly run's finish, the daily reminders);
- `declared_obligations`: the obligations a regime's published versions declare (what a fulfilment may name).

The dates and statuses themselves are the engine's (`rules.engine.obligations`); this module reads
the determinations, the subjects' dated facts from the snapshots the determinations were made on,
and the incidents, fulfilments and reviews recorded.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

import orjson
from django.db import OperationalError, connection, transaction
from django.db.models import DateTimeField, Func
from django.utils import timezone

from registry.interchange import subject_parts
from rules import payloads, snapshots
from rules.bulk_write import create_rows, update_rows
from rules.engine.library import RuleVersion as EngineVersion
from rules.engine.obligations import (
    DatedFacts,
    FulfilmentFact,
    IncidentFact,
    Obligation,
    next_change,
    occurrences,
    reaches,
    with_fulfilments,
)
from rules.engine.vocabulary import ObligationStatus, Status
from rules.library_store import published_library
from rules.memory import collector_paused
from rules.selectors import current_determinations

from .models import REFRESH_NEXT, Fulfilment, Incident, ObligationState, ObligationStatusChange, ReviewDecision

log = logging.getLogger(__name__)

# A designation the due rules run from (`designated`): a decision that a subject is covered, never
# one lifting a presumption.
DESIGNATION_KINDS = ("systemic-risk-designation", "covered-frontier-model")


@dataclass(frozen=True, slots=True)
class FulfilmentView:
    id: int
    fulfilled_on: date
    reference: str
    accepted: bool | None  # the latest review: accepted, rejected, or not reviewed yet
    document_sha256: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "fulfilled_on": self.fulfilled_on.isoformat(), "reference": self.reference,
                "accepted": self.accepted, "document_sha256": self.document_sha256 or None}


class ObligationView(NamedTuple):
    """One obligation (one occurrence of it) of one subject on a date. A named tuple, not a dataclass:
    a first refresh at N = 100,000 makes half a million, and a frozen dataclass's `__init__` sets each
    of its seventeen fields by a call of its own."""

    subject: str
    subject_kind: str
    organisation: str
    regime: str
    obligation: str
    occurrence: str
    title: str
    citation: str
    quote: str
    provenance: str
    due_on: date | None
    due_reason: str
    status: str
    fulfilments: tuple[FulfilmentView, ...]
    determination_id: int | None
    rule_version_label: str
    # the first day after the date worked out on which this may read differently, the subject's
    # determination, facts and records staying as they are (None: never by the date alone)
    changes_on: date | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return self.subject, self.regime, self.obligation, self.occurrence

    def as_json(self) -> dict[str, Any]:
        """DESIGN.md "Obligations (v1)"'s object, with the occurrence, the determination and the rule version."""
        parts = subject_parts(self.subject) or (self.subject_kind, self.organisation, None, None)
        return {
            "subject": dict(zip(("kind", "organisation", "name", "version"), parts, strict=True)),
            "regime": self.regime,
            "obligation": self.obligation,
            "occurrence": self.occurrence,
            "title": self.title,
            "citation": self.citation,
            "due_on": self.due_on.isoformat() if self.due_on else None,
            "due_reason": self.due_reason,
            "status": self.status,
            "fulfilments": [f.as_json() for f in self.fulfilments],
            "determination": self.determination_id,
            "rule_version": self.rule_version_label,
        }


def declared_obligations(regime: str) -> dict[str, dict[str, Any]]:
    """Obligation id -> its title, due rule kind, whether it is incident-driven or recurring, what it
    attaches to, and the versions declaring it, over the regime's published versions (latest wins)."""
    found: dict[str, dict[str, Any]] = {}
    for version in published_library().versions(regime):
        for obligation in version.obligations:
            entry = found.setdefault(obligation.id, {"versions": []})
            entry.update(
                title=obligation.title, due_kind=obligation.due_kind, incident_driven=obligation.incident_driven,
                recurring=obligation.recurring, attaches_to=dict([obligation.attaches_to]),
                applies_to=obligation.applies_to, citation=obligation.citation or "",
            )
            entry["versions"].append(version.version_id)
    return found


def _date(value: Any) -> date | None:
    if not value:
        return None
    try:
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    except ValueError:
        return None


def _model_ref(model: dict[str, Any], organisation: str) -> str:
    return f"{model.get('organisation') or organisation}/{model.get('name')}@{model.get('version')}"


def _designation_dates(snapshot: dict[str, Any], *, regime: str) -> list[date]:
    """The days the regime's designations of the subject that bring it under the due rules were decided."""
    return [d for entry in snapshot.get("designations") or ()
            if entry.get("regime") == regime and entry.get("kind") in DESIGNATION_KINDS
            and (d := _date(entry.get("decided_on"))) is not None]


def _models_dated(snapshot: dict[str, Any]) -> list[tuple[date, dict[str, Any], date | None, date | None]]:
    """An organisation's models with a date: (the day it came into existence, the model, its training's
    completion, its release)."""
    dated = []
    for entry in snapshot.get("models") or ():
        model = entry.get("model") or {}
        completed, released = _date(model.get("training_completed_on")), _date(model.get("released_on"))
        if (born := completed or released) is not None:
            dated.append((born, model, completed, released))
    return dated


def dated_facts(snapshot: dict[str, Any], *, regime: str, as_of: date) -> DatedFacts:
    """A subject's dated facts from its snapshot: a model's own dates; an organisation's are those of
    its model that came into existence first among those existing on `as_of` (named in the reason)."""
    kind = snapshot.get("kind")
    designated_on = min((d for d in _designation_dates(snapshot, regime=regime) if d <= as_of), default=None)
    if kind == "model":
        model = snapshot.get("model") or {}
        return DatedFacts(_date(model.get("training_completed_on")), _date(model.get("released_on")), designated_on)
    if kind == "organisation":
        organisation = (snapshot.get("organisation") or {}).get("slug") or ""
        dated = [(born, _model_ref(model, organisation), completed, released)
                 for born, model, completed, released in _models_dated(snapshot) if born <= as_of]
        if dated:
            _, ref, completed, released = min(dated)
            return DatedFacts(completed, released, designated_on, of=f", its model {ref}")
    return DatedFacts(designated_on=designated_on)


def dated_facts_change(snapshot: dict[str, Any], *, regime: str, as_of: date) -> date | None:
    """The first day after `as_of` on which `dated_facts` of the same snapshot may differ: a designation
    decided, or (an organisation's) a model coming into existence, after it."""
    later = _designation_dates(snapshot, regime=regime)
    if snapshot.get("kind") == "organisation":
        later += [born for born, *_ in _models_dated(snapshot)]
    return min((d for d in later if d > as_of), default=None)


def _snapshots(numbers: set[int]) -> dict[int, dict[str, Any]]:
    """The facts the determinations were made on, by the snapshot's number, as stored (a subject's own
    dates are at the top of its snapshot, so the lineage stored by reference is not read back in), in
    one query."""
    # orjson reads an integer beyond 64 bits as a float: only dates and designations are read here
    return {number: orjson.loads(text) for number, text in snapshots.numbered_texts(numbers).items()}


def _incidents(organisations: set[str]) -> dict[str, list[IncidentFact]]:
    by_subject: dict[str, list[IncidentFact]] = defaultdict(list)
    # every incident, those discovered after `as_of` too: the engine reads only those discovered by then,
    # and the day the next is discovered is a day the answer changes (`next_change`)
    rows = (Incident.objects.filter(organisation__slug__in=organisations)
            .select_related("organisation", "model__organisation", "cluster__organisation"))
    for incident in rows:
        by_subject[incident.subject_ref].append(IncidentFact(incident.pk, incident.discovered_on, incident.severity))
    return by_subject


def _fulfilments(organisations: set[str], regimes: set[str]) -> dict[tuple[str, str, str, str], list[FulfilmentView]]:
    found: dict[tuple[str, str, str, str], list[FulfilmentView]] = defaultdict(list)
    rows = (Fulfilment.objects.filter(organisation__slug__in=organisations, regime__in=regimes)
            .select_related("organisation", "model__organisation", "cluster__organisation")
            .prefetch_related("reviews").order_by("fulfilled_on", "pk"))
    for fulfilment in rows:
        reviews = sorted(fulfilment.reviews.all(), key=lambda r: (r.reviewed_at, r.pk))
        accepted = None if not reviews else reviews[-1].decision == ReviewDecision.ACCEPTED
        found[(fulfilment.subject_ref, fulfilment.regime, fulfilment.obligation, fulfilment.occurrence)].append(
            FulfilmentView(fulfilment.pk, fulfilment.fulfilled_on, fulfilment.reference, accepted,
                           fulfilment.document_sha256))
    return found


def _text(obligation: Obligation) -> tuple[str, str]:
    text = obligation.text or {}
    return (text.get("text") or "").strip(), text.get("provenance") or ""


def _in_force_from(library: Any, version: EngineVersion) -> date | None:
    """The day the law a version states took effect: a correction of part of an earlier version's
    period (`corrects`) states the same law from the corrected version's first day."""
    seen = {version.version_id}
    while version.corrects and version.corrects not in seen:
        corrected = next((v for v in library.versions(version.regime_slug) if v.version_id == version.corrects), None)
        if corrected is None:
            break
        seen.add(corrected.version_id)
        version = corrected
    return version.effective_from


def _reads_designation_only(version: EngineVersion, test_id: str) -> bool:
    test = next((t for t in version.tests if t.id == test_id), None)
    return test is not None and not test.compiled.quantities and "designated(" in test.condition


def _by_designation(obligation: Obligation, version: EngineVersion, met: set[str]) -> bool:
    """Whether the subject reaches the obligation's tier by a regulator's designation alone (every met
    test that reaches it reads a designation and no quantity): it came under the obligation on the day
    the designation was decided."""
    tier = version.tier(obligation.attaches_to[1]) if obligation.attaches_to[0] == "tier" else None
    reached_by = [test_id for test_id in (tier.reached_when if tier else ()) if test_id in met]
    return bool(reached_by) and all(_reads_designation_only(version, test_id) for test_id in reached_by)


class _CurrentRow(NamedTuple):
    """What the obligations read of a current determination (the field names of `Determination`)."""

    pk: int
    subject_ref: str
    subject_kind: str
    organisation: str
    regime: str
    status: str
    tier: str
    rule_hash: str
    rule_version_label: str
    facts_id: int
    payload_id: int


def _attached_rank(version: EngineVersion, obligation: Obligation) -> int | None:
    """The rank of the tier the obligation attaches to (None when it attaches to a test)."""
    what, target = obligation.attaches_to
    tier = version.tier(target) if what == "tier" else None
    return tier.rank if tier else None


def _met_tests(determinations: list[_CurrentRow]) -> dict[int, set[str]]:
    """Determination id → the tests it meets, from its payload (payloads read in one query). Only a
    covered determination meets a test: the others are not read."""
    texts = payloads.numbered_texts(d.payload_id for d in determinations)
    met: dict[int, set[str]] = {}
    for determination in determinations:
        # orjson reads an integer beyond 64 bits as a float: only test ids and outcomes are read here
        tests = orjson.loads(texts[determination.payload_id]).get("tests") or ()
        met[determination.pk] = {t["id"] for t in tests if t.get("outcome") == "met"}
    return met


def _not_reached(determination: _CurrentRow, obligation: Obligation) -> str:
    what, target = obligation.attaches_to
    reached = f"tier {determination.tier}" if determination.tier else "no tier"
    if what == "test":
        return f"the determination ({determination.status}) does not meet the test {target}"
    return f"the determination ({determination.status}, {reached}) does not reach the tier {target}"


@collector_paused()
def obligations_as_of(*, as_of: date, subject_refs: list[str] | None = None, regimes: list[str] | None = None,
                      organisation: str | None = None) -> list[ObligationView]:
    """Every obligation of the subjects' current determinations on `as_of` (the determination of record
    per subject and regime under the version in force, `rules.current`), in subject, regime and file order."""
    determinations = current_determinations(as_of=as_of, organisation=organisation, subject_refs=subject_refs)
    if regimes is not None:
        determinations = determinations.filter(regime__in=list(regimes))
    library = published_library()
    versions = {version.content_hash: version for version in library}
    # only the determinations under a version that declares obligations, as plain rows; the payloads are
    # read below only for those that meet a test (covered ones)
    declaring = [sha for sha, version in versions.items() if version.obligations]
    rows = (determinations.select_related(None).filter(rule_hash__in=declaring).order_by("subject_ref", "regime")
            .values_list(*_CurrentRow._fields))
    current = list(map(_CurrentRow._make, rows))
    # per version and subject kind, its obligations, each with the rank of the tier it attaches to (None: a test)
    owed = {(sha, kind): tuple((obligation, _attached_rank(versions[sha], obligation))
                               for obligation in versions[sha].obligations_for(kind))
            for sha, kind in {(d.rule_hash, d.subject_kind) for d in current}}
    wanted = [(d, versions[d.rule_hash]) for d in current if owed[(d.rule_hash, d.subject_kind)]]
    if not wanted:
        return []
    organisations = {d.organisation for d, _ in wanted}
    incidents = _incidents(organisations)
    fulfilments = _fulfilments(organisations, {d.regime for d, _ in wanted})
    reached: list[tuple[_CurrentRow, EngineVersion, Obligation, bool, bool]] = []
    met_tests = _met_tests([d for d, _ in wanted if d.status == Status.COVERED])
    for determination, version in wanted:
        tier = version.tier(determination.tier) if determination.tier else None
        met = met_tests.get(determination.pk, set())
        for obligation, attached_rank in owed[(determination.rule_hash, determination.subject_kind)]:
            reach = reaches(obligation, tier_rank=tier.rank if tier else None, attached_rank=attached_rank,
                            met_tests=met)
            reached.append((determination, version, obligation, reach, reach and _by_designation(obligation, version, met)))
    made_on = _snapshots({d.facts_id for d, _, _, reach, _ in reached if reach and d.facts_id})
    facts: dict[int, tuple[DatedFacts, date | None]] = {}
    views: list[ObligationView] = []
    texts: dict[int, tuple[str, str]] = {}
    not_reached: dict[tuple[str, str, tuple[str, str]], str] = {}
    for determination, version, obligation, reach, by_designation in reached:
        quote, provenance = texts.get(id(obligation)) or texts.setdefault(id(obligation), _text(obligation))
        common = dict(subject=determination.subject_ref, subject_kind=determination.subject_kind,
                      organisation=determination.organisation, regime=determination.regime,
                      obligation=obligation.id, title=obligation.title, citation=obligation.citation or "",
                      quote=quote, provenance=provenance, determination_id=determination.pk,
                      rule_version_label=determination.rule_version_label or version.version_id)
        if not reach:
            said = (determination.status, determination.tier, obligation.attaches_to)
            reason = not_reached.get(said) or not_reached.setdefault(said, _not_reached(determination, obligation))
            views.append(ObligationView(occurrence="", due_on=None, due_reason=reason,
                                        status=ObligationStatus.NOT_APPLICABLE, fulfilments=(), **common))
            continue
        if determination.pk not in facts:
            snapshot = made_on.get(determination.facts_id) or {}
            facts[determination.pk] = (dated_facts(snapshot, regime=determination.regime, as_of=as_of),
                                       dated_facts_change(snapshot, regime=determination.regime, as_of=as_of))
        subject_facts, facts_change = facts[determination.pk]
        designated = subject_facts.designated_on if by_designation else None
        due = dict(facts=subject_facts, in_force_from=_in_force_from(library, version),
                   incidents=tuple(incidents.get(determination.subject_ref, ())),
                   not_before=(designated, f"the designation was decided on {designated}") if designated else None)
        found = occurrences(obligation, as_of=as_of, **due)
        recorded = [tuple(fulfilments.get((determination.subject_ref, determination.regime, obligation.id,
                                           occurrence.occurrence), ())) for occurrence in found]
        # every occurrence of the obligation reads differently from the same day on: one may arise
        changes_on = min(filter(None, (facts_change, next_change(
            obligation, as_of=as_of, found=found, fulfilled_on=tuple(f.fulfilled_on for made in recorded for f in made),
            **due))), default=None)
        for occurrence, made in zip(found, recorded, strict=True):
            status = with_fulfilments(occurrence, tuple(FulfilmentFact(f.fulfilled_on, f.accepted) for f in made),
                                      as_of=as_of)
            views.append(ObligationView(occurrence=occurrence.occurrence, due_on=occurrence.due_on,
                                        due_reason=occurrence.due_reason, status=status, fulfilments=made,
                                        changes_on=changes_on, **common))
    return views


STATE_FIELDS = ("subject_kind", "organisation", "title", "citation", "rule_version_label", "due_on", "due_reason",
                "status", "as_of", "determination_id")
KEY_FIELDS = ("subject_ref", "regime", "obligation", "occurrence")
# what a refresh compares: a state found with the same values is left alone
COMPARED_FIELDS = tuple(name for name in STATE_FIELDS if name != "as_of")


# How long a refresh waits for the records being written before it works out its views (`_records_settled`)
RECORDS_SETTLED_TIMEOUT = "30s"


class _ClockTimestamp(Func):
    """PostgreSQL's clock as the statement runs (not as its transaction began)."""

    template = "clock_timestamp()"
    output_field = DateTimeField()


def database_now() -> datetime:
    """The time by the database's clock, the one clock every process writing states shares (application
    hosts' clocks may disagree by more than the moments a refresh compares): PostgreSQL's; on SQLite,
    which one host writes, the application's."""
    if connection.vendor != "postgresql":
        return timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def marked_now() -> Any:
    """What a state's `updated_at` is set to in an `UPDATE`: the database's clock when the statement
    runs, so after any lock it waited for (`database_now`)."""
    return _ClockTimestamp() if connection.vendor == "postgresql" else timezone.now()


def _records_settled() -> datetime:
    """The database's time once every transaction writing to the states has finished: a record marks its
    subject's states in its own transaction (`recording._mark`), so the views worked out next see every
    record whose mark is older than this time, and a mark made later is newer than it. PostgreSQL waits
    for them with a SHARE lock on the table, taken and let go at once (new writers wait for it as long).
    Inside a caller's transaction the lock would be held to its end, so there, as on SQLite, and when the
    writers have not finished within `RECORDS_SETTLED_TIMEOUT`, it is only the database's time."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return database_now()
    table = connection.ops.quote_name(ObligationState._meta.db_table)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{RECORDS_SETTLED_TIMEOUT}'")
            cursor.execute(f"LOCK TABLE {table} IN SHARE MODE")
            cursor.execute("SELECT clock_timestamp()")
            return cursor.fetchone()[0]
    except OperationalError:
        log.warning("records still being written after %s: obligation states refreshed without waiting for them",
                    RECORDS_SETTLED_TIMEOUT)
        return database_now()


@collector_paused()
def refresh_states(*, as_of: date, subject_refs: Iterable[str] | None = None, run: Any = None) -> int:
    """Brings each obligation's stored state up to `as_of` for these subjects (default: every subject)
    and appends a status change for each obligation whose status changed (or that first arose);
    returns the number of changes. A state whose obligation no longer arises is removed."""
    refs = sorted(set(subject_refs)) if subject_refs is not None else None
    started = _records_settled()
    views = obligations_as_of(as_of=as_of, subject_refs=refs)
    with transaction.atomic():
        stored = ObligationState.objects.select_for_update()
        if refs is not None:
            stored = stored.filter(subject_ref__in=refs)
        # the stored states as plain rows: a model instance is made only for a state that changes
        existing = {row[1:5]: row for row in stored.order_by().values_list("pk", *KEY_FIELDS, *COMPARED_FIELDS,
                                                                            "changes_on", "updated_at")}
        # a state written since the views were worked out (by a record's refresh, another run's) may be
        # newer than they are: it is left as it is, and worked out again at the next refresh
        raced = {key: row for key, row in existing.items() if row[-1] > started}
        changes, created, updated, moved = [], [], [], []
        now = database_now()
        for view in views:
            if view.key in raced:
                continue
            row = existing.pop(view.key, None)
            values = {"subject_kind": view.subject_kind, "organisation": view.organisation, "title": view.title[:300],
                      "citation": view.citation[:200], "rule_version_label": view.rule_version_label,
                      "due_on": view.due_on, "due_reason": view.due_reason[:400], "status": str(view.status),
                      "determination_id": view.determination_id}
            if row is None:
                created.append({"subject_ref": view.subject, "regime": view.regime, "obligation": view.obligation,
                                "occurrence": view.occurrence, "as_of": as_of, "updated_at": now,
                                "changes_on": view.changes_on, **values})
                if view.status != ObligationStatus.NOT_APPLICABLE:
                    changes.append((view, ""))
                continue
            before = dict(zip(COMPARED_FIELDS, row[5:-2], strict=True))
            # a state found as it was is left alone (its `as_of` stays the date it was last found changed):
            # the nightly refresh of an unchanged registry rewrites nothing but the day it is next due
            if before != values:
                updated.append(ObligationState(pk=row[0], subject_ref=view.subject, regime=view.regime,
                                               obligation=view.obligation, occurrence=view.occurrence, as_of=as_of,
                                               updated_at=now, changes_on=view.changes_on, **values))
            elif row[-2] != view.changes_on:
                moved.append(ObligationState(pk=row[0], changes_on=view.changes_on, updated_at=now))
            if before["status"] != view.status:
                changes.append((view, before["status"]))
        # a first refresh creates every state and a change for most: written by COPY, not as model instances
        create_rows(ObligationState, created)
        if updated:
            update_rows(ObligationState, updated, STATE_FIELDS + ("changes_on", "updated_at"))
        if moved:
            update_rows(ObligationState, moved, ("changes_on", "updated_at"))
        if raced:
            ObligationState.objects.filter(pk__in=[row[0] for row in raced.values()]).update(changes_on=REFRESH_NEXT)
        gone = [row[0] for key, row in existing.items() if key not in raced]
        if gone:
            ObligationState.objects.filter(pk__in=gone).delete()
        run_id = run.pk if run is not None else None
        create_rows(ObligationStatusChange, [
            {"subject_ref": view.subject, "organisation": view.organisation, "regime": view.regime,
             "obligation": view.obligation, "occurrence": view.occurrence, "from_status": previous,
             "to_status": str(view.status), "due_on": view.due_on, "as_of": as_of, "run_id": run_id,
             "determination_id": view.determination_id, "recorded_at": now}
            for view, previous in changes
        ])
    return len(changes)


def subjects_due(*, as_of: date) -> tuple[set[str], int]:
    """The subjects whose stored states may no longer be what `as_of` gives, with no run having appended
    a determination for them to say so, and how many subjects owe obligations at all (a current
    determination under a version declaring obligations for its kind). Due are the subjects with:
    - a state whose `changes_on` has come (a period arising, a due date passing, a new quarter, a
      reason naming the date; `REFRESH_NEXT`, a record made about the subject);
    - states not made from their current determination, or none for it: a refresh that failed after a
      run, a version that took effect or lapsed, a determination no longer current."""
    due = set(ObligationState.objects.filter(changes_on__lte=as_of).order_by().values_list("subject_ref", flat=True)
              .distinct())
    versions = {version.content_hash: version for version in published_library() if version.obligations}
    rows = (current_determinations(as_of=as_of).select_related(None).filter(rule_hash__in=list(versions))
            .order_by().values_list("pk", "subject_ref", "subject_kind", "regime", "rule_hash"))
    current = {(ref, regime, pk) for pk, ref, kind, regime, sha in rows if versions[sha].obligations_for(kind)}
    stored = set(ObligationState.objects.order_by().values_list("subject_ref", "regime", "determination_id").distinct())
    due.update(ref for ref, _, _ in current ^ stored)
    return due, len({ref for ref, _, _ in current})


def refresh_due_states(*, as_of: date, subject_refs: Iterable[str] = (), run: Any = None) -> int:
    """`refresh_states` for the subjects `subjects_due` names and `subject_refs` (those a run appended a
    determination for), leaving alone every other subject, whose states read on `as_of` as they were
    stored: what the nightly run's finish and the daily reminders do. Every subject when they are at
    least half of those owing obligations (as cheap, and no list of references in each query), or when
    a state was found changed on a day after `as_of` (the states were worked out for a later day)."""
    if ObligationState.objects.filter(as_of__gt=as_of).exists():
        return refresh_states(as_of=as_of, run=run)
    due, owing = subjects_due(as_of=as_of)
    due.update(subject_refs)
    if not due:
        return 0
    if 2 * len(due) >= owing:
        return refresh_states(as_of=as_of, run=run)
    return refresh_states(as_of=as_of, subject_refs=due, run=run)
