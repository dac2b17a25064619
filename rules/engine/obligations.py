"""Obligations a rule version declares, and their due dates and statuses on a date (pure Python).

A rule file's `obligations` name, for each one, the tier or test it attaches to and a due rule:

- `{after: FACT, period: "14 days"}`: a period after a dated fact of the subject;
- `{after: incident_discovered, period: "15 days", severity: {imminent_risk: "24 hours"}}`: one
  occurrence per incident, each due a period after its discovery (a shorter one for a severity);
- `{before: deployed}`: due when the model is deployed (placed on the market); with `new_only: true`
  only for a model deployed once the version is in force;
- `{on_or_before: DATE, when: {placed_on_market_before: DATE}}`: a fixed date for a class of subjects;
- `{every: quarter, within: "15 days"}`: one occurrence per calendar quarter from when it arises,
  each due a period after the quarter ends.

`due` is one rule or a list of them: the first whose `when` holds applies (a rule without `when` is
the general rule, last). A period never runs before the version is in force.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from .vocabulary import ObligationStatus

# The dated facts a due rule may run from (DESIGN.md "Obligations (v1)").
DATED_FACTS = ("threshold_met", "placed_on_market", "deployed", "designated")
INCIDENT_DISCOVERED = "incident_discovered"
AFTER_FACTS = (*DATED_FACTS, INCIDENT_DISCOVERED)
BEFORE_FACTS = ("deployed", "placed_on_market", "threshold_met")
INCIDENT_SEVERITIES = ("serious", "critical", "imminent_risk")
RECURRENCES = ("quarter",)
CONDITIONS = ("placed_on_market_before",)
PERIOD_PATTERN = re.compile(r"^([1-9][0-9]{0,3}) (hour|hours|day|days|week|weeks|month|months|year|years)$")

BEFORE_WORDS = {
    "deployed": ("the model is deployed", "deployed on"),
    "placed_on_market": ("the model is placed on the market", "placed on the market on"),
    "threshold_met": ("the threshold is met", "met on"),
}
FACT_WORDS = {
    "threshold_met": "the threshold was met",
    "placed_on_market": "the model was placed on the market",
    "deployed": "the model was deployed",
    "designated": "the designation was decided",
}


class DueRuleError(ValueError):
    """A due rule that cannot be read: `path` names the key, the message the problem."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Period:
    """A period written in a rule file: `14 days`, `24 hours`, `2 weeks`, `3 months`."""

    count: int
    unit: str  # hour, day, week, month, year

    @classmethod
    def parse(cls, text: Any, *, path: str) -> Period:
        match = PERIOD_PATTERN.match(text) if isinstance(text, str) else None
        if match is None:
            raise DueRuleError(path, f"{text!r} is not a period (a whole number and hours, days, weeks, months or "
                                     "years: \"14 days\", \"24 hours\")")
        return cls(int(match.group(1)), match.group(2).rstrip("s"))

    def __str__(self) -> str:
        return f"{self.count} {self.unit}{'' if self.count == 1 else 's'}"

    def after(self, start: date) -> date:
        """The last day of the period that starts on `start`: dates only, so 24 hours after a
        discovery on D ends on D + 1, and 14 days on D + 14."""
        if self.unit == "hour":
            return start + timedelta(days=-(-self.count // 24))
        if self.unit in ("day", "week"):
            return start + timedelta(days=self.count * (7 if self.unit == "week" else 1))
        months = self.count * (12 if self.unit == "year" else 1)
        year, month = divmod(start.month - 1 + months, 12)
        year, month = start.year + year, month + 1
        return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, slots=True)
class AfterFact:
    """A period after a dated fact (for incidents: after each incident's discovery)."""

    fact: str
    period: Period
    severity: tuple[tuple[str, Period], ...] = ()  # severity -> its own period
    incidents: tuple[str, ...] = ()  # the severities of incident it runs from; empty: every incident

    def period_for(self, severity: str) -> Period:
        return dict(self.severity).get(severity, self.period)


@dataclass(frozen=True, slots=True)
class BeforeFact:
    """Before, or when, a dated fact happens: due on its date. With `new_only`, a subject whose fact
    came before the version took effect owes nothing under it (a "new" model's duty)."""

    fact: str
    new_only: bool = False


@dataclass(frozen=True, slots=True)
class FixedDate:
    """A fixed date, for the subjects `when` describes."""

    on_or_before: date


@dataclass(frozen=True, slots=True)
class Recurring:
    """One occurrence per calendar period from when the obligation arises, each due `within` after the
    period ends (on its last day without `within`)."""

    every: str
    within: Period | None


DueKind = AfterFact | BeforeFact | FixedDate | Recurring


@dataclass(frozen=True, slots=True)
class DueRule:
    kind: DueKind
    placed_on_market_before: date | None = None  # `when`: the class of subjects it is for; None: every subject

    def holds_for(self, facts: DatedFacts) -> bool:
        if self.placed_on_market_before is None:
            return True
        placed = facts.released_on
        return placed is not None and placed < self.placed_on_market_before


@dataclass(frozen=True, slots=True)
class Obligation:
    """One obligation of a rule version: what it attaches to, where it comes from, and its due rules."""

    id: str
    title: str
    attaches_to: tuple[str, str]  # ("tier", id) or ("test", id)
    applies_to: str  # the subject kind of that tier or test
    citation: str | None
    quote: dict[str, Any] | None
    paraphrase: dict[str, Any] | None
    caveat: str | None
    due: tuple[DueRule, ...]
    index: int
    reading: str | None = None

    @property
    def incident_driven(self) -> bool:
        return any(isinstance(rule.kind, AfterFact) and rule.kind.fact == INCIDENT_DISCOVERED for rule in self.due)

    @property
    def recurring(self) -> bool:
        return any(isinstance(rule.kind, Recurring) for rule in self.due)

    @property
    def due_kind(self) -> str:
        """`after`, `before`, `on_or_before`, `every` or `incident` (the general rule's kind)."""
        if self.incident_driven:
            return "incident"
        if not self.due:
            return ""
        kind = self.due[-1].kind
        return {AfterFact: "after", BeforeFact: "before", FixedDate: "on_or_before", Recurring: "every"}[type(kind)]

    @property
    def text(self) -> dict[str, Any] | None:
        """The quoted passage, else the paraphrase."""
        if self.quote and (self.quote.get("text") or "").strip():
            return self.quote
        return self.paraphrase


def _date(value: Any, *, path: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise DueRuleError(path, f"{value!r} is not a date (YYYY-MM-DD)") from None


def _known(value: Any, allowed: tuple[str, ...], *, path: str, what: str) -> str:
    if value not in allowed:
        raise DueRuleError(path, f"{value!r} is not {what} ({', '.join(allowed)})")
    return value


def parse_due_rule(raw: Any, *, path: str) -> DueRule:
    """One due rule as the rule file writes it; DueRuleError names the key and the problem."""
    if not isinstance(raw, dict):
        raise DueRuleError(path, "a due rule is a mapping ({after: ..., period: ...}, {before: deployed}, "
                                 "{on_or_before: DATE}, {every: quarter})")
    when = raw.get("when")
    placed_before = None
    if when is not None:
        if not isinstance(when, dict) or set(when) != {"placed_on_market_before"}:
            raise DueRuleError(f"{path}.when", f"a condition is one of {', '.join(CONDITIONS)}")
        placed_before = _date(when["placed_on_market_before"], path=f"{path}.when.placed_on_market_before")
    keys = set(raw) - {"when"}
    if "after" in raw:
        extra = keys - {"after", "period", "severity", "incidents"}
        if extra:
            raise DueRuleError(f"{path}.{sorted(extra)[0]}", "not a key of an `after` rule (after, period, severity, "
                                                              "incidents, when)")
        fact = _known(raw["after"], AFTER_FACTS, path=f"{path}.after", what="a dated fact")
        if "period" not in raw:
            raise DueRuleError(f"{path}.period", "an `after` rule needs a period")
        period = Period.parse(raw["period"], path=f"{path}.period")
        severity = raw.get("severity") or {}
        incidents = raw.get("incidents") or []
        if (severity or incidents) and fact != INCIDENT_DISCOVERED:
            key = "severity" if severity else "incidents"
            raise DueRuleError(f"{path}.{key}", f"only a rule after {INCIDENT_DISCOVERED} reads an incident's severity")
        if not isinstance(severity, dict):
            raise DueRuleError(f"{path}.severity", "a mapping of severity to period ({imminent_risk: \"24 hours\"})")
        if not isinstance(incidents, list):
            raise DueRuleError(f"{path}.incidents", "a list of incident severities")
        periods = tuple(
            (_known(name, INCIDENT_SEVERITIES, path=f"{path}.severity", what="an incident severity"),
             Period.parse(text, path=f"{path}.severity.{name}"))
            for name, text in severity.items()
        )
        kinds = tuple(_known(name, INCIDENT_SEVERITIES, path=f"{path}.incidents[{i}]", what="an incident severity")
                      for i, name in enumerate(incidents))
        return DueRule(AfterFact(fact, period, periods, kinds), placed_before)
    if "before" in raw:
        if keys - {"before", "new_only"}:
            raise DueRuleError(f"{path}.{sorted(keys - {'before', 'new_only'})[0]}",
                               "a `before` rule has no other key but new_only and when")
        new_only = raw.get("new_only", False)
        if not isinstance(new_only, bool):
            raise DueRuleError(f"{path}.new_only", f"true or false, not {new_only!r}")
        return DueRule(BeforeFact(_known(raw["before"], BEFORE_FACTS, path=f"{path}.before", what="a dated fact "
                                         "a rule may precede"), new_only), placed_before)
    if "on_or_before" in raw:
        if keys != {"on_or_before"}:
            raise DueRuleError(f"{path}.{sorted(keys - {'on_or_before'})[0]}",
                               "an `on_or_before` rule has no other key but when")
        return DueRule(FixedDate(_date(raw["on_or_before"], path=f"{path}.on_or_before")), placed_before)
    if "every" in raw:
        extra = keys - {"every", "within"}
        if extra:
            raise DueRuleError(f"{path}.{sorted(extra)[0]}", "an `every` rule has only every, within and when")
        every = _known(raw["every"], RECURRENCES, path=f"{path}.every", what="a recurrence")
        within = Period.parse(raw["within"], path=f"{path}.within") if "within" in raw else None
        return DueRule(Recurring(every, within), placed_before)
    raise DueRuleError(path, "a due rule names after, before, on_or_before or every")


def parse_due(raw: Any, *, path: str) -> tuple[DueRule, ...]:
    """`due`: one rule, or a list whose rules with `when` come before the general rule."""
    if raw is None:
        return ()
    raws = raw if isinstance(raw, list) else [raw]
    rules = tuple(parse_due_rule(item, path=f"{path}[{i}]" if isinstance(raw, list) else path)
                  for i, item in enumerate(raws))
    for i, rule in enumerate(rules[:-1]):
        if rule.placed_on_market_before is None:
            raise DueRuleError(f"{path}[{i}]", "only the last rule of a list may apply to every subject (no `when`)")
    if rules and rules[-1].placed_on_market_before is not None:
        raise DueRuleError(f"{path}[{len(rules) - 1}]" if isinstance(raw, list) else path,
                           "the last rule (the general one) has no `when`")
    incident = [isinstance(r.kind, AfterFact) and r.kind.fact == INCIDENT_DISCOVERED for r in rules]
    if any(incident) and not all(incident):
        raise DueRuleError(path, "an incident-driven obligation runs every rule from incident_discovered")
    return rules


# -- a subject's dated facts ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DatedFacts:
    """What a due date runs from: a model's dates (an organisation's, read from its models), and a
    designation's decision date."""

    training_completed_on: date | None = None
    released_on: date | None = None
    designated_on: date | None = None
    of: str = ""  # whose dates they are, when not the subject's own (an organisation's model)

    def fact(self, name: str) -> tuple[date, str] | None:
        """(date, what it is read from) for a dated fact, or None when it is not known."""
        if name == "threshold_met":
            if self.training_completed_on is not None:
                return self.training_completed_on, f"training completed{self.of}"
            return (self.released_on, f"released{self.of}") if self.released_on is not None else None
        if name in ("placed_on_market", "deployed"):
            return (self.released_on, f"released{self.of}") if self.released_on is not None else None
        if name == "designated":
            return (self.designated_on, "designation decided") if self.designated_on is not None else None
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class IncidentFact:
    id: int
    discovered_on: date
    severity: str


@dataclass(frozen=True, slots=True)
class FulfilmentFact:
    fulfilled_on: date
    accepted: bool | None  # the latest review: accepted, rejected, or none yet

    @property
    def standing(self) -> bool:
        return self.accepted is not False


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One occurrence of an obligation on a date, before its fulfilments are read."""

    occurrence: str  # "" for a one-off, "2027-Q1" for a period, "incident-<id>"
    due_on: date | None
    due_reason: str
    status: str  # not_yet_due, due or overdue (not_applicable: a `new_only` rule's fact came before the version)
    incident: int | None = None


def _status(as_of: date, arises_on: date | None, due_on: date | None) -> str:
    if arises_on is None or due_on is None or as_of < arises_on:
        return ObligationStatus.NOT_YET_DUE
    return ObligationStatus.DUE if as_of <= due_on else ObligationStatus.OVERDUE


def _quarter(day: date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def _quarter_end(year: int, quarter: int) -> date:
    month = quarter * 3
    return date(year, month, calendar.monthrange(year, month)[1])


def occurrences(obligation: Obligation, *, as_of: date, facts: DatedFacts, in_force_from: date | None,
                incidents: tuple[IncidentFact, ...] = (), not_before: tuple[date, str] | None = None) -> list[Occurrence]:
    """The obligation's occurrences on `as_of` for a subject its tier or test reaches, each with its due
    date, how that was worked out, and its status before any fulfilment is read. Facts dated after
    `as_of` are not known yet on that date. No period runs before the version is in force, nor before
    `not_before` (the date the subject came under the obligation otherwise than by the dated fact, such
    as a designation, with its words)."""
    rule = next((rule for rule in obligation.due if rule.holds_for(facts)), None)
    if rule is None:
        return [Occurrence("", None, "no due rule applies to this subject", ObligationStatus.NOT_YET_DUE)]
    if in_force_from is None:
        return [Occurrence("", None, "the version is not in force (it never took effect)",
                           ObligationStatus.NOT_YET_DUE)]
    kind = rule.kind
    floor, floor_words = in_force_from, f"the version took effect on {in_force_from}"
    if not_before is not None and not_before[0] > floor:
        floor, floor_words = not_before

    def start_of(fact_on: date) -> date:
        return max(fact_on, floor)

    def clamped(text: str, fact_on: date) -> str:
        return text if fact_on >= floor else f"{text}; {floor_words}"

    def known(name: str) -> tuple[date, str] | None:
        found = facts.fact(name)
        return found if found is not None and found[0] <= as_of else None

    if isinstance(kind, FixedDate):
        placed = facts.released_on
        reason = f"on or before {kind.on_or_before}"
        if rule.placed_on_market_before is not None:
            reason += (f" for a model placed on the market before {rule.placed_on_market_before} "
                       f"(placed on the market on {placed})")
        return [Occurrence("", kind.on_or_before, reason, _status(as_of, floor, kind.on_or_before))]
    if isinstance(kind, BeforeFact):
        found = known(kind.fact)
        event, verb = BEFORE_WORDS[kind.fact]
        if found is None:
            return [Occurrence("", None, f"before or when {event}: not yet as of {as_of}", ObligationStatus.NOT_YET_DUE)]
        fact_on, source = found
        if kind.new_only and fact_on < in_force_from:
            return [Occurrence("", None, f"{verb} {fact_on} ({source}), before the version took effect on "
                                         f"{in_force_from}: the obligation falls on what is {verb.removesuffix(' on')} "
                                         "from then on", ObligationStatus.NOT_APPLICABLE)]
        due_on = start_of(fact_on)
        reason = clamped(f"before or when {event}: {verb} {fact_on} ({source})", fact_on)
        return [Occurrence("", due_on, reason, _status(as_of, due_on, due_on))]
    if isinstance(kind, AfterFact) and kind.fact == INCIDENT_DISCOVERED:
        found_incidents = [incident for incident in incidents
                           if incident.discovered_on <= as_of and (not kind.incidents or incident.severity in kind.incidents)]
        if not found_incidents:
            return [Occurrence("", None, f"{kind.period} after an incident is discovered: none recorded as of {as_of}",
                               ObligationStatus.NOT_YET_DUE)]
        result = []
        for incident in sorted(found_incidents, key=lambda i: (i.discovered_on, i.id)):
            period = kind.period_for(incident.severity)
            start = start_of(incident.discovered_on)
            due_on = period.after(start)
            severity = incident.severity.replace("_", " ")
            reason = clamped(f"{period} after the incident ({severity}) was discovered on {incident.discovered_on}",
                             incident.discovered_on)
            result.append(Occurrence(f"incident-{incident.id}", due_on, reason, _status(as_of, start, due_on),
                                     incident=incident.id))
        return result
    if isinstance(kind, AfterFact):
        found = known(kind.fact)
        if found is None:
            return [Occurrence("", None, f"{kind.period} after {FACT_WORDS[kind.fact].replace(' was ', ' is ')}: "
                                         f"not yet as of {as_of}", ObligationStatus.NOT_YET_DUE)]
        fact_on, source = found
        start = start_of(fact_on)
        due_on = kind.period.after(start)
        reason = clamped(f"{kind.period} after {FACT_WORDS[kind.fact]} on {fact_on} ({source})", fact_on)
        return [Occurrence("", due_on, reason, _status(as_of, start, due_on))]
    assert isinstance(kind, Recurring)
    found = facts.fact("threshold_met")
    start = start_of(found[0]) if found is not None else floor
    if as_of < start:
        return [Occurrence("", None, f"every {kind.every} from {start}", ObligationStatus.NOT_YET_DUE)]
    result = []
    year, quarter = _quarter(start)
    last = _quarter(as_of)
    while (year, quarter) <= last:
        end = _quarter_end(year, quarter)
        due_on = kind.within.after(end) if kind.within else end
        reason = (f"{kind.within} after the end of {year}-Q{quarter} ({end})" if kind.within
                  else f"by the end of {year}-Q{quarter}")
        result.append(Occurrence(f"{year}-Q{quarter}", due_on, f"{reason}, every {kind.every} from {start}",
                                 _status(as_of, start, due_on)))
        year, quarter = (year + 1, 1) if quarter == 4 else (year, quarter + 1)
    return result


def with_fulfilments(occurrence: Occurrence, fulfilments: tuple[FulfilmentFact, ...], *, as_of: date) -> str:
    """The occurrence's status on `as_of` once its fulfilments are read: a fulfilment dated on or
    before `as_of` and not rejected by its latest review makes it fulfilled (on or before the due
    date) or fulfilled late; a rejected one counts for nothing."""
    standing = [f for f in fulfilments if f.standing and f.fulfilled_on <= as_of]
    if not standing:
        return occurrence.status
    first = min(f.fulfilled_on for f in standing)
    if occurrence.due_on is None or first <= occurrence.due_on:
        return ObligationStatus.FULFILLED
    return ObligationStatus.FULFILLED_LATE


def _next_quarter(day: date) -> date:
    year, quarter = _quarter(day)
    return date(year + 1, 1, 1) if quarter == 4 else date(year, quarter * 3 + 1, 1)


def next_change(obligation: Obligation, *, as_of: date, facts: DatedFacts, in_force_from: date | None,
                found: list[Occurrence] | tuple[Occurrence, ...], incidents: tuple[IncidentFact, ...] = (),
                not_before: tuple[date, str] | None = None, fulfilled_on: tuple[date, ...] = ()) -> date | None:
    """The first day after `as_of` on which the obligation's occurrences (`found`, worked out on
    `as_of` by `occurrences`), their due dates, reasons or statuses (`with_fulfilments` over
    fulfilments dated `fulfilled_on`) may read differently while the subject's facts, incidents and
    fulfilments stay as they are; None when the date alone never changes them.

    `occurrences` and `with_fulfilments` read the date only by comparing it with the dates given to
    them and those they work out (a fact known from its date, a period arising on its start, due
    until its due date, a new quarter on its first day) and by naming it in a reason ("not yet as
    of ..."): the next of those dates is when their answer may change. It may come earlier than the
    change (a reason naming the date is worked out again the next day), never later."""
    rule = next((rule for rule in obligation.due if rule.holds_for(facts)), None)  # as `occurrences` picks it
    days: set[date | None] = set(fulfilled_on)
    kind = rule.kind if rule is not None and in_force_from is not None else None
    if kind is not None:
        days.update((in_force_from, not_before[0] if not_before else None))
    # a fact dated after `as_of` is named "not yet as of" it in the reason: the next day is a candidate below
    if isinstance(kind, AfterFact) and kind.fact == INCIDENT_DISCOVERED:
        days.update(incident.discovered_on for incident in incidents)
    elif isinstance(kind, Recurring):
        days.update(((facts.fact("threshold_met") or (None,))[0], _next_quarter(as_of)))
    named = as_of.isoformat()
    for occurrence in found:
        if occurrence.due_on is not None:
            days.add(occurrence.due_on + timedelta(days=1))
        if named in occurrence.due_reason:
            days.add(as_of + timedelta(days=1))
    return min((day for day in days if day is not None and day > as_of), default=None)


def reaches(obligation: Obligation, *, tier_rank: int | None, attached_rank: int | None,
            met_tests: frozenset[str] | set[str]) -> bool:
    """Whether a determination reaches what the obligation attaches to: its tier or a higher one
    (`tier_rank` the determination's, `attached_rank` the obligation's tier's), or its test met."""
    what, _ = obligation.attaches_to
    if what == "test":
        return obligation.attaches_to[1] in met_tests
    return tier_rank is not None and attached_rank is not None and tier_rank >= attached_rank
