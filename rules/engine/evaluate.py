"""Apply a rule version to a subject snapshot: each test's outcome with the values compared,
the regime's status, the quantities behind it, and how the status would move under the
band's ends and the other readings of "theoretical maximum".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any

from .conditions import ComparisonSpec, band_ends_follow
from .defaults import default, defaults
from .exact import Number, plain
from .library import RuleTest, RuleVersion, Tier
from .quantities import ARCHITECTURE, HARDWARE, PRICE, Quantity
from .subject import Operand, Subject, SubjectRef
from .vocabulary import DECIDING_OUTCOME, Outcome, Status

OUTCOME = {True: Outcome.MET, False: Outcome.NOT_MET, None: Outcome.INDETERMINATE}


def status_of(outcomes: Iterable[str]) -> Status:
    """covered if a test is met; else indeterminate if one is; else not_covered."""
    outcomes = list(outcomes)
    if Outcome.MET in outcomes:
        return Status.COVERED
    if Outcome.INDETERMINATE in outcomes:
        return Status.INDETERMINATE
    return Status.NOT_COVERED


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


class _View:
    """A view of a subject extends to its base model and, for an organisation, its models."""

    __slots__ = ()

    def base_subject(self) -> tuple:
        base, missing = self.subject.base_subject()
        return (None if base is None else self._view(base)), missing

    def model_subjects(self) -> list:
        return [self._view(model) for model in self.subject.model_subjects()]


class _BandEnd(_View):
    """The subject with every quantity pinned to one end of its band."""

    __slots__ = ("subject", "high")

    def _view(self, subject: Subject) -> _BandEnd:
        return _BandEnd(subject, high=self.high)

    def __init__(self, subject: Subject, *, high: bool) -> None:
        self.subject, self.high = subject, high

    def operand(self, name: str, arguments: Any = None) -> Operand:
        found = self.subject.operand(name, arguments)
        end = found.high if self.high else found.low
        return Operand(end, end, end, found.missing, found.applicable)

    def flag(self, name: str) -> tuple:
        return self.subject.flag(name)

    def items(self, name: str) -> tuple:
        return self.subject.items(name)

    def designated(self, regime: str | None, kind: str) -> bool:
        return self.subject.designated(regime, kind)


class _Reading(_View):
    """The subject with cluster quantities read at another reading (dense_16bit, sparse_max)."""

    __slots__ = ("subject", "reading")

    def _view(self, subject: Subject) -> _Reading:
        return _Reading(subject, reading=self.reading)

    def __init__(self, subject: Subject, *, reading: str) -> None:
        self.subject, self.reading = subject, reading

    def operand(self, name: str, arguments: Any = None) -> Operand:
        if arguments is not None:
            arguments = arguments._replace(reading=self.reading)
        return self.subject.operand(name, arguments)

    def flag(self, name: str) -> tuple:
        return self.subject.flag(name)

    def items(self, name: str) -> tuple:
        return self.subject.items(name)

    def designated(self, regime: str | None, kind: str) -> bool:
        return self.subject.designated(regime, kind)


def _run(test: RuleTest, view: Any) -> tuple[bool | None, tuple[str, ...], list]:
    records: list = [None] * len(test.compiled.comparisons)
    truth, missing = test.compiled.run(view, records)
    return truth, missing, records


@dataclass(slots=True)
class TestOutcome:
    """One test's outcome, its headline comparison and the passage it encodes."""

    id: str
    title: str
    outcome: str
    quantity: str
    value: float | None
    low: float | None
    high: float | None
    operator: str
    threshold: Any
    parameter: str | None
    margin: float | None
    citation: str | None
    quote: dict[str, Any] | None
    reading: str | None
    paraphrase: dict[str, Any] | None
    caveat: str | None
    throughput_reading: str | None
    method: str | None
    formula: str | None
    missing: list[str]
    sensitivity: dict[str, str]
    specs: list[ComparisonSpec] = field(repr=False)
    records: list = field(repr=False)
    subject: Subject = field(repr=False)

    def comparisons(self) -> list[dict[str, Any]]:
        """Every comparison of the condition, in source order, with its values."""
        rows = []
        for spec, (left, right, truth, missing) in zip(self.specs, self.records, strict=True):
            quantity = self.subject.quantity(spec.quantity_name, spec.arguments) if spec.quantity_name else None
            row = {"quantity": spec.quantity, "operator": spec.operator, "threshold_label": spec.threshold_label,
                   "parameter": spec.parameter, "outcome": OUTCOME[truth], "missing": list(missing)}
            if spec.numeric:
                row.update(value=plain(left.value), low=plain(left.low), high=plain(left.high),
                           threshold=plain(right.value), threshold_low=plain(right.low),
                           threshold_high=plain(right.high), margin=_margin(left.value, right.value),
                           method=quantity.method if quantity else None,
                           applicable=left.applicable and right.applicable)
                if truth is None:
                    row["reason"] = "facts missing" if missing else "uncertainty band straddles the threshold"
            rows.append(row)
        return rows

    def to_dict(self, *, version_text: bool = True) -> dict[str, Any]:
        quote, paraphrase = self.quote, self.paraphrase
        if not version_text:  # the version's own words are kept once, with the version
            quote = {key: value for key, value in quote.items() if key != "text"} if quote else quote
            paraphrase = ({key: value for key, value in paraphrase.items() if key != "text"}
                          if paraphrase else paraphrase)
        data = {
            "id": self.id, "title": self.title, "outcome": self.outcome, "quantity": self.quantity,
            "value": plain(self.value), "low": plain(self.low), "high": plain(self.high), "operator": self.operator,
            "threshold": plain(self.threshold), "parameter": self.parameter, "margin": self.margin,
            "citation": self.citation, "quote": dict(quote) if quote else None,
            "paraphrase": dict(paraphrase) if paraphrase else None, "caveat": self.caveat,
            **({"reading": self.reading} if version_text else {}), "throughput_reading": self.throughput_reading, "method": self.method, "formula": self.formula,
            "missing": list(self.missing), "comparisons": self.comparisons(),
            "sensitivity": dict(self.sensitivity),
        }
        return data


def _margin(value: Number | None, threshold: Any) -> float | None:
    """value / threshold, as a float (a ratio to show, never compared): the float nearest the exact
    quotient. Two ints are divided as they are, which Python rounds correctly, to the same float as
    through `Fraction` at a sixth of the time; other numbers go through `Fraction`. None where there is
    no ratio, or none a float can hold (a figure over a threshold made of a vanishingly small one)."""
    if value is None or isinstance(threshold, bool) or not isinstance(threshold, (int, float, Fraction)) or not threshold:
        return None
    try:
        if type(value) is int and type(threshold) is int:
            return value / threshold
        return float(Fraction(value) / Fraction(threshold))
    except OverflowError:
        return None


def _outcome(test: RuleTest, subject: Subject) -> TestOutcome:
    truth, missing, records = _run(test, subject)
    specs = test.compiled.comparisons
    head = next((i for i, spec in enumerate(specs) if spec.numeric), 0)
    spec, (left, right, _, _) = specs[head], records[head]
    quantity: Quantity | None = subject.quantity(spec.quantity_name, spec.arguments) if spec.quantity_name else None
    outcome = OUTCOME[truth]
    sensitivity = {"actual": outcome}
    # an end that is the same object as the other is equal to it (most thresholds): no exact comparison
    banded = any(each.numeric and ((rec[0].low is not rec[0].high and rec[0].low != rec[0].high)
                                   or (rec[1].low is not rec[1].high and rec[1].low != rec[1].high))
                 for each, rec in zip(specs, records, strict=True))
    if banded and (truth is None or not band_ends_follow(test.compiled, records)):
        for name, high in (("band_low", False), ("band_high", True)):
            sensitivity[name] = OUTCOME[_run(test, _BandEnd(subject, high=high))[0]]
    else:  # no band, or decided over the bands and so at each end of them
        sensitivity["band_low"] = sensitivity["band_high"] = outcome
    if test.cluster_arguments is not None:
        for reading in default("sensitivity_readings"):
            if reading != test.cluster_arguments.reading:
                sensitivity[reading] = OUTCOME[_run(test, _Reading(subject, reading=reading))[0]]
    quote = test.quote
    return TestOutcome(
        id=test.id, title=test.title, outcome=outcome, quantity=spec.quantity,
        # as the JSON gives them: compared exactly, shown as int (whole) or float
        value=plain(left.value) if spec.numeric else None, low=plain(left.low) if spec.numeric else None,
        high=plain(left.high) if spec.numeric else None, operator=spec.operator,
        threshold=plain(right.value) if spec.numeric else spec.threshold_label, parameter=spec.parameter,
        margin=_margin(left.value, right.value) if spec.numeric else None, citation=test.citation,
        quote=quote, reading=test.reading, paraphrase=test.paraphrase, caveat=test.caveat,
        throughput_reading=test.cluster_arguments.reading if test.cluster_arguments else None,
        method=quantity.method if quantity else None, formula=quantity.formula if quantity else None,
        missing=_unique(missing) if truth is None else [], sensitivity=sensitivity,
        specs=specs, records=records, subject=subject,
    )


@dataclass(slots=True)
class Evaluation:
    """A regime applied to one subject on one as-of date."""

    subject: SubjectRef
    regime: str
    rule_version: str | None
    rule_hash: str | None
    as_of: date
    status: str
    tests: list[TestOutcome]
    quantities: dict[str, Quantity]
    sensitivity: dict[str, Any]
    readings: Sequence[dict[str, Any]]
    caveats: list[str]
    notes: list[str]
    published: bool | None = None
    tier: str | None = None
    tier_title: str | None = None
    reason: str | None = None
    tier_tests: tuple[str, ...] = ()  # the tests that reach the tier recorded

    def deciding_test(self) -> TestOutcome | None:
        """The test the status rests on: for a covered status, a met test of the highest tier reached
        (else the first met test); for an indeterminate one, the first undecided test."""
        wanted = DECIDING_OUTCOME.get(self.status)
        if wanted is None:
            return None
        candidates = [test for test in self.tests if test.outcome == wanted]
        return next((test for test in candidates if test.id in self.tier_tests), candidates[0] if candidates else None)

    def to_dict(self, *, version_text: bool = True) -> dict[str, Any]:
        """The DESIGN.md `evaluate` JSON object (plus explanation keys). Without `version_text`, the
        rule version's own words (its readings, each test's reading and quoted passage) are left
        out: the decision log keeps them once, with the version."""
        data = {
            "subject": self.subject.to_dict(), "regime": self.regime, "rule_version": self.rule_version,
            "rule_hash": self.rule_hash, "as_of": self.as_of.isoformat(), "status": self.status,
            "tier": self.tier, "tier_title": self.tier_title, "reason": self.reason,
            "tests": [test.to_dict(version_text=version_text) for test in self.tests],
            "quantities": {key: quantity.to_dict() for key, quantity in self.quantities.items()},
            "sensitivity": self.sensitivity,
            **({"readings": [dict(reading) for reading in self.readings]} if version_text else {}),
            "caveats": self.caveats, "notes": self.notes, "published": self.published,
        }
        return data


def _engine_caveats(quantities: Iterable[Quantity], version: RuleVersion, tests: list[RuleTest]) -> list[str]:
    table = defaults()
    quantities = list(quantities)
    methods = set()
    for quantity in quantities:
        methods.add(quantity.method)
        for run in quantity.inputs.get("runs", ()) if isinstance(quantity.inputs, dict) else ():
            methods.add(run["method"])
    caveats = list(version.caveats)
    if methods & {ARCHITECTURE, HARDWARE}:
        caveats.append(table["estimate_uncertainty"].caveat)
    if ARCHITECTURE in methods:
        caveats.append(table["architecture_ops_per_parameter_token"].caveat)
    if HARDWARE in methods:
        caveats.append(table["hardware_estimate_reading"].caveat)
    if PRICE in methods:
        caveats.append(table["price_range_value"].caveat)
        caveats.extend(quantity.inputs["price_caveat"] for quantity in quantities if quantity.method == PRICE)
    if any(test.cluster_arguments and "reading" not in test.arguments for test in tests):
        caveats.append(table["cluster_reading"].caveat)
    # a determination that rests on a test with unverified wording says so
    caveats.extend(f"test {test.id}: {test.caveat}" for test in tests if test.caveat)
    return _unique(caveats)


# Quantities whose notes are a reading the determination must state, not only show in its quantities.
_NOTED = frozenset({"preceding_year_revenue_usd"})


def highest_tier(tiers: Iterable[Tier], outcomes: Iterable[TestOutcome]) -> Tier | None:
    """The highest tier whose tests include one that is met (tiers are declared lowest first)."""
    met = {outcome.id for outcome in outcomes if outcome.outcome == Outcome.MET}
    reached = [tier for tier in tiers if met.intersection(tier.reached_when)]
    return max(reached, key=lambda tier: tier.rank) if reached else None


def evaluate_subject(subject: Subject, *, version: RuleVersion | None, regime: str, as_of: date) -> Evaluation:
    """`evaluate` for a Subject already built (its quantities are shared across regimes)."""
    if version is None:
        return Evaluation(subject.ref, regime, None, None, as_of, Status.NOT_IN_FORCE, [], {}, {}, [], [],
                          [f"no version of {regime} is in force on {as_of.isoformat()}"])
    notes = []
    if not version.in_force_on(as_of):
        notes.append(f"version {version.version_id} is not in force on {as_of.isoformat()}: evaluated as a preview")
    if not version.published:
        notes.append(f"version {version.version_id} is a draft: a preview, never a determination of record")
    tests = list(version.tests_for(subject.kind))
    readings = version.readings  # the version's own, shared: copied by `to_dict`
    if not tests:
        article = "an" if subject.kind[:1] in "aeiou" else "a"
        reason = f"{regime} version {version.version_id} has no test for {article} {subject.kind}"
        return Evaluation(subject.ref, regime, version.version_id, version.content_hash, as_of,
                          Status.NOT_APPLICABLE, [], {}, {"status_would_differ": False}, readings,
                          list(version.caveats), notes, version.published, reason=reason)
    born = subject.born_after_as_of()
    if born is not None:
        reason = (f"{subject.ref} did not exist yet on {as_of.isoformat()}: its {born[1]} is "
                  f"{born[0].isoformat()}")
        return Evaluation(subject.ref, regime, version.version_id, version.content_hash, as_of,
                          Status.NOT_APPLICABLE, [], {}, {"status_would_differ": False}, readings,
                          list(version.caveats), notes, version.published, reason=reason)
    if subject.hypothetical:
        notes.append(f"hypothetical: the law of {as_of.isoformat()} applied to the subject as it stands today "
                     "(a preview, never a determination of record)")
    left_out = subject.models_left_out()
    if left_out:
        notes.append(f"left out, as they did not exist yet on {as_of.isoformat()}: " + ", ".join(left_out))
    outcomes = [_outcome(test, subject) for test in tests]
    status = status_of(outcome.outcome for outcome in outcomes)
    scenarios = _unique(key for outcome in outcomes for key in outcome.sensitivity if key != "actual")
    sensitivity: dict[str, Any] = {
        scenario: status_of(o.sensitivity.get(scenario, o.outcome) for o in outcomes) for scenario in scenarios}
    sensitivity["status_would_differ"] = any(value != status for value in sensitivity.values())
    quantities: dict[str, Quantity] = {}
    for test in tests:
        for name, arguments in test.compiled.quantities:
            key = name if name not in quantities or quantities[name] is subject.quantity(name, arguments) else (
                f"{name}[{arguments.network_operator}{arguments.network_threshold_gbps:g} Gbit/s]")
            quantities.setdefault(key, subject.quantity(name, arguments))
    notes.extend(_unique(note for quantity in quantities.values() if quantity.name in _NOTED for note in quantity.notes))
    tier = highest_tier(version.tiers_for(subject.kind), outcomes)
    return Evaluation(subject.ref, regime, version.version_id, version.content_hash, as_of, status, outcomes,
                      quantities, sensitivity, readings, _engine_caveats(quantities.values(), version, tests),
                      notes, version.published, tier=tier.id if tier else None,
                      tier_title=tier.title if tier else None, tier_tests=tier.reached_when if tier else ())


def evaluate(snapshot: dict[str, Any], *, version: RuleVersion | None, regime: str, as_of: date,
             hypothetical: bool = False) -> Evaluation:
    """Apply `version` of `regime` to one subject snapshot (version None: not in force)."""
    return evaluate_subject(Subject(snapshot, as_of=as_of, hypothetical=hypothetical), version=version,
                            regime=regime, as_of=as_of)


def evaluate_many(snapshots: Iterable[dict[str, Any]], *, versions: dict[str, RuleVersion | None],
                  as_of: date, hypothetical: bool = False) -> Iterator[Evaluation]:
    """Every subject under every regime; each subject's quantities are computed once."""
    for snapshot in snapshots:
        subject = Subject(snapshot, as_of=as_of, hypothetical=hypothetical)
        for regime, version in versions.items():
            yield evaluate_subject(subject, version=version, regime=regime, as_of=as_of)
