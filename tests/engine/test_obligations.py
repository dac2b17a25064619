"""Obligations in the rule files and their due dates, worked out by the engine alone: each kind of due
rule on the day before, on and after its due date, and the refusals of a malformed obligation."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rules.engine.library import Library, parse_rule_version
from rules.engine.lint import ERROR, lint
from rules.engine.obligations import (
    DatedFacts,
    FulfilmentFact,
    IncidentFact,
    Obligation,
    Period,
    next_change,
    occurrences,
    parse_due,
    reaches,
    with_fulfilments,
)
from rules.engine.schema import RuleFileErrors

from .conftest import REAL_LIBRARY

EU = REAL_LIBRARY / "eu-ai-act" / "2025-08-02.yaml"
CHAPTER_V = date(2025, 8, 2)


def eu_text() -> str:
    return EU.read_text(encoding="utf-8")


def obligation(real_library, regime: str, name: str):
    version = next(v for v in real_library.versions(regime) if v.obligation(name) is not None)
    return version, version.obligation(name)


def statuses(ob, facts, days, *, in_force_from=CHAPTER_V, incidents=()):
    return [[(o.occurrence, o.due_on, o.status) for o in occurrences(ob, as_of=day, facts=facts,
                                                                      in_force_from=in_force_from, incidents=incidents)]
            for day in days]


# -- the real library -------------------------------------------------------------------------------

def test_the_library_declares_the_contracts_obligations(real_library):
    declared = {(v.regime_slug, o.id) for v in real_library for o in v.obligations}
    assert {("eu-ai-act", "art-52-1-notification"), ("eu-ai-act", "art-53-provider-obligations"),
            ("eu-ai-act", "art-55-systemic-risk-obligations"), ("us-ca-sb53", "frontier-ai-framework"),
            ("us-ca-sb53", "transparency-report"), ("us-ca-sb53", "critical-safety-incident-report"),
            ("us-ny-raise", "disclosure-statement"), ("us-bis-702-nprm", "quarterly-notification")} <= declared


def test_every_obligation_quotes_its_text_or_paraphrases_it_with_a_caveat(real_library):
    for version in real_library:
        for ob in version.obligations:
            assert ob.citation and ob.due, ob.id
            if ob.quote:
                assert ob.quote["provenance"] in ("V-OFFICIAL", "V-COPY", "V-QUOTED") and ob.quote["source"], ob.id
            else:
                assert ob.paraphrase["provenance"] in ("SECONDARY", "UNVERIFIED") and ob.caveat, ob.id


@pytest.mark.parametrize(("as_of", "status"), [
    (date(2026, 3, 14), "due"), (date(2026, 3, 15), "due"), (date(2026, 3, 16), "overdue")])
def test_art_52_1_is_due_14_days_after_the_threshold_is_met(real_library, as_of, status):
    _, ob = obligation(real_library, "eu-ai-act", "art-52-1-notification")
    facts = DatedFacts(training_completed_on=date(2026, 3, 1), released_on=date(2026, 5, 1))
    assert statuses(ob, facts, [as_of]) == [[("", date(2026, 3, 15), status)]]


def test_before_the_threshold_is_met_art_52_1_is_not_yet_due(real_library):
    _, ob = obligation(real_library, "eu-ai-act", "art-52-1-notification")
    facts = DatedFacts(training_completed_on=date(2026, 3, 1))
    [found] = occurrences(ob, as_of=date(2026, 2, 28), facts=facts, in_force_from=CHAPTER_V)
    assert (found.status, found.due_on) == ("not_yet_due", None)


def test_a_threshold_met_before_chapter_v_applied_runs_from_2025_08_02(real_library):
    _, ob = obligation(real_library, "eu-ai-act", "art-52-1-notification")
    facts = DatedFacts(training_completed_on=date(2025, 6, 1), released_on=date(2025, 9, 1))
    [found] = occurrences(ob, as_of=date(2025, 8, 17), facts=facts, in_force_from=CHAPTER_V)
    assert (found.due_on, found.status) == (date(2025, 8, 16), "overdue")
    assert found.due_reason == ("14 days after the threshold was met on 2025-06-01 (training completed); "
                                "the version took effect on 2025-08-02")


@pytest.mark.parametrize("name", ["art-52-1-notification", "art-53-provider-obligations",
                                  "art-55-systemic-risk-obligations"])
@pytest.mark.parametrize(("placed", "due_on"), [
    (date(2025, 8, 1), date(2027, 8, 2)),  # placed on the market the day before: Art 111(3)
    (date(2025, 8, 2), None),  # placed that day: the general rule
])
def test_art_111_3_gives_models_placed_on_the_market_before_2025_08_02_until_2027_08_02(
        real_library, name, placed, due_on):
    _, ob = obligation(real_library, "eu-ai-act", name)
    facts = DatedFacts(training_completed_on=date(2025, 7, 1), released_on=placed)
    days = [date(2027, 8, 1), date(2027, 8, 2), date(2027, 8, 3)]
    found = statuses(ob, facts, days)
    if due_on:
        assert found == [[("", due_on, "due")], [("", due_on, "due")], [("", due_on, "overdue")]]
    else:
        assert all(o[0][1] != date(2027, 8, 2) and o[0][2] == "overdue" for o in found)


@pytest.mark.parametrize(("as_of", "found"), [
    (date(2026, 4, 30), ("", None, "not_yet_due")),
    (date(2026, 5, 1), ("", date(2026, 5, 1), "due")),
    (date(2026, 5, 2), ("", date(2026, 5, 1), "overdue")),
])
def test_the_transparency_report_is_due_before_or_when_deployed(real_library, as_of, found):
    version, ob = obligation(real_library, "us-ca-sb53", "transparency-report")
    facts = DatedFacts(training_completed_on=date(2026, 3, 1), released_on=date(2026, 5, 1))
    assert statuses(ob, facts, [as_of], in_force_from=version.effective_from) == [[found]]


def test_a_model_never_deployed_owes_its_transparency_report_on_no_date(real_library):
    version, ob = obligation(real_library, "us-ca-sb53", "transparency-report")
    facts = DatedFacts(training_completed_on=date(2026, 3, 1))
    [found] = occurrences(ob, as_of=date(2030, 1, 1), facts=facts, in_force_from=version.effective_from)
    assert (found.due_on, found.status) == (None, "not_yet_due")


def test_a_model_deployed_before_sb_53_took_effect_owes_no_transparency_report(real_library):
    version, ob = obligation(real_library, "us-ca-sb53", "transparency-report")
    facts = DatedFacts(training_completed_on=date(2025, 6, 1), released_on=date(2025, 12, 31))
    [found] = occurrences(ob, as_of=date(2026, 3, 1), facts=facts, in_force_from=version.effective_from)
    assert (found.status, found.due_on) == ("not_applicable", None)
    assert "2025-12-31 (released), before the version took effect on 2026-01-01" in found.due_reason
    on_the_day = DatedFacts(training_completed_on=date(2025, 6, 1), released_on=date(2026, 1, 1))
    [found] = occurrences(ob, as_of=date(2026, 1, 1), facts=on_the_day, in_force_from=version.effective_from)
    assert (found.status, found.due_on) == ("due", date(2026, 1, 1))


def test_a_framework_of_a_developer_whose_threshold_was_met_earlier_is_due_when_sb_53_took_effect(real_library):
    version, ob = obligation(real_library, "us-ca-sb53", "frontier-ai-framework")
    facts = DatedFacts(training_completed_on=date(2024, 6, 1), of=", its model acme/A@1")
    days = [date(2025, 12, 31), date(2026, 1, 1), date(2026, 1, 2)]
    assert statuses(ob, facts, days, in_force_from=version.effective_from) == [
        [("", date(2026, 1, 1), "not_yet_due")], [("", date(2026, 1, 1), "due")], [("", date(2026, 1, 1), "overdue")]]
    [found] = occurrences(ob, as_of=date(2026, 1, 2), facts=facts, in_force_from=version.effective_from)
    assert found.due_reason == ("before or when the threshold is met: met on 2024-06-01 (training completed, its "
                                "model acme/A@1); the version took effect on 2026-01-01")


@pytest.mark.parametrize(("severity", "days", "due_on"), [
    ("critical", [date(2026, 6, 15), date(2026, 6, 16), date(2026, 6, 17)], date(2026, 6, 16)),
    ("imminent_risk", [date(2026, 6, 1), date(2026, 6, 2), date(2026, 6, 3)], date(2026, 6, 2)),
])
def test_incident_reports_are_due_15_days_or_24_hours_after_discovery(real_library, severity, days, due_on):
    version, ob = obligation(real_library, "us-ca-sb53", "critical-safety-incident-report")
    incident = IncidentFact(7, date(2026, 6, 1), severity)
    found = statuses(ob, DatedFacts(), days, in_force_from=version.effective_from, incidents=(incident,))
    assert found == [[("incident-7", due_on, "due")], [("incident-7", due_on, "due")],
                     [("incident-7", due_on, "overdue")]]


def test_an_incident_of_another_severity_or_discovered_later_raises_no_report(real_library):
    version, ob = obligation(real_library, "us-ca-sb53", "critical-safety-incident-report")
    incidents = (IncidentFact(1, date(2026, 6, 1), "serious"), IncidentFact(2, date(2026, 7, 1), "critical"))
    [found] = occurrences(ob, as_of=date(2026, 6, 20), facts=DatedFacts(), in_force_from=version.effective_from,
                          incidents=incidents)
    assert (found.occurrence, found.status) == ("", "not_yet_due")


def test_a_quarterly_obligation_has_one_occurrence_per_quarter_from_when_it_arises(real_library):
    _, ob = obligation(real_library, "us-bis-702-nprm", "quarterly-notification")
    facts = DatedFacts(training_completed_on=date(2026, 2, 10))
    # the proposal was never in force: a preview, never due
    assert statuses(ob, facts, [date(2026, 9, 1)], in_force_from=None) == [[("", None, "not_yet_due")]]
    # were it in force from 2026-01-01: Q1 due April 15 (15 days after the quarter), Q2 July 15
    found = statuses(ob, facts, [date(2026, 4, 15), date(2026, 4, 16), date(2026, 7, 16)],
                     in_force_from=date(2026, 1, 1))
    assert found == [
        [("2026-Q1", date(2026, 4, 15), "due"), ("2026-Q2", date(2026, 7, 15), "due")],
        [("2026-Q1", date(2026, 4, 15), "overdue"), ("2026-Q2", date(2026, 7, 15), "due")],
        [("2026-Q1", date(2026, 4, 15), "overdue"), ("2026-Q2", date(2026, 7, 15), "overdue"),
         ("2026-Q3", date(2026, 10, 15), "due")],
    ]
    assert statuses(ob, facts, [date(2026, 2, 9)], in_force_from=date(2026, 1, 1)) == [[("", None, "not_yet_due")]]


@pytest.mark.parametrize(("fulfilments", "status"), [
    ((), "overdue"),
    ((FulfilmentFact(date(2026, 3, 15), None),), "fulfilled"),
    ((FulfilmentFact(date(2026, 3, 16), True),), "fulfilled_late"),
    ((FulfilmentFact(date(2026, 3, 10), False),), "overdue"),
    ((FulfilmentFact(date(2026, 4, 2), True),), "overdue"),  # after the as-of date: not yet
])
def test_fulfilments_make_an_obligation_fulfilled_or_fulfilled_late_unless_rejected(real_library, fulfilments, status):
    _, ob = obligation(real_library, "eu-ai-act", "art-52-1-notification")
    [found] = occurrences(ob, as_of=date(2026, 4, 1), facts=DatedFacts(training_completed_on=date(2026, 3, 1)),
                          in_force_from=CHAPTER_V)
    assert with_fulfilments(found, fulfilments, as_of=date(2026, 4, 1)) == status


def test_an_obligation_reaches_its_tier_and_the_tiers_above_it(real_library):
    version, ob = obligation(real_library, "eu-ai-act", "art-53-provider-obligations")
    gpai, systemic = version.tier("gpai").rank, version.tier("gpai-systemic-risk").rank
    assert reaches(ob, tier_rank=gpai, attached_rank=gpai, met_tests=set())
    assert reaches(ob, tier_rank=systemic, attached_rank=gpai, met_tests=set())
    assert not reaches(ob, tier_rank=None, attached_rank=gpai, met_tests=set())
    _, art55 = obligation(real_library, "eu-ai-act", "art-55-systemic-risk-obligations")
    assert not reaches(art55, tier_rank=gpai, attached_rank=systemic, met_tests=set())


@pytest.mark.parametrize(("text", "start", "end"), [
    ("14 days", date(2026, 3, 1), date(2026, 3, 15)), ("24 hours", date(2026, 3, 1), date(2026, 3, 2)),
    ("2 weeks", date(2026, 3, 1), date(2026, 3, 15)), ("1 month", date(2026, 1, 31), date(2026, 2, 28)),
    ("1 year", date(2024, 2, 29), date(2025, 2, 28)),
])
def test_periods_are_counted_in_days_months_and_years(text, start, end):
    assert Period.parse(text, path="p").after(start) == end


# -- refusals ---------------------------------------------------------------------------------------

def parse_with(old: str, new: str):
    text = eu_text()
    assert old in text
    return parse_rule_version(text.replace(old, new, 1), origin="eu.yaml")


@pytest.mark.parametrize(("old", "new", "path", "message"), [
    ("attaches_to: {tier: gpai-systemic-risk}", "attaches_to: {tier: frontier}",
     "obligations[2].attaches_to.tier", "obligation art-55-systemic-risk-obligations: no tier 'frontier'"),
    ("attaches_to: {test: systemic-risk-presumption}", "attaches_to: {test: presumption}",
     "obligations[0].attaches_to.test", "obligation art-52-1-notification: no test 'presumption'"),
    ("attaches_to: {tier: gpai}", "attaches_to: {test: gpai-nope}",
     "obligations[1].attaches_to.test", "obligation art-53-provider-obligations: no test 'gpai-nope'"),
    ('{after: threshold_met, period: "14 days"}', '{after: trained, period: "14 days"}',
     "obligations[0].due[1].after", "'trained' is not a dated fact"),
    ('{after: threshold_met, period: "14 days"}', '{after: threshold_met, period: "two weeks"}',
     "obligations[0].due[1].period", "'two weeks' is not a period"),
    ('{after: threshold_met, period: "14 days"}', '{after: threshold_met}',
     "obligations[0].due[1].period", "needs a period"),
    ("{on_or_before: 2027-08-02, when: {placed_on_market_before: 2025-08-02}}\n      - {after",
     "{on_or_before: 2027-08-02}\n      - {after", "obligations[0].due[0]", "only the last rule"),
])
def test_a_malformed_obligation_is_refused_naming_it_and_the_field(old, new, path, message):
    with pytest.raises(RuleFileErrors) as refused:
        parse_with(old, new)
    [error] = refused.value.errors
    assert error.path == path and message in error.reason and "art-" in error.reason


def test_the_schema_refuses_an_obligation_attached_to_two_things():
    with pytest.raises(RuleFileErrors) as refused:
        parse_with("attaches_to: {tier: gpai}", "attaches_to: {tier: gpai, test: gpai-indicative}")
    assert refused.value.errors[0].path == "obligations[1].attaches_to"


@pytest.mark.parametrize(("old", "new", "code", "path"), [
    ('    citation: "Reg. (EU) 2024/1689, Art 52(1); Art 111(3)"\n', "", "missing-citation", "obligations[0].citation"),
    ("    due:\n      - {on_or_before: 2027-08-02, when: {placed_on_market_before: 2025-08-02}}\n"
     "      - {after: threshold_met, period: \"14 days\"}\n", "", "missing-due-rule", "obligations[0].due"),
    ("  - id: art-52-1-notification", "  - id: art-52-notice", "unknown-obligation-id", "obligations[0].id"),
])
def test_the_lint_refuses_an_obligation_without_a_citation_or_a_due_rule(old, new, code, path):
    version = parse_with(old, new)
    problems = [p for p in lint(Library([version])) if p.severity == ERROR]
    assert [(p.code, p.path) for p in problems] == [(code, path)]
    assert "art-52" in problems[0].message


def test_parse_due_takes_one_rule_or_a_list():
    assert len(parse_due({"before": "deployed"}, path="due")) == 1
    with pytest.raises(ValueError, match="severity"):
        parse_due({"after": "threshold_met", "period": "1 day", "severity": {"imminent_risk": "1 day"}}, path="due")


# -- when an obligation's answer may next change ----------------------------------------------------

def _answer(ob, day, facts, *, in_force_from, incidents, not_before, fulfilments):
    """Everything a stored state keeps of the obligation on `day`: occurrences, due dates, reasons,
    statuses once the fulfilments are read."""
    return [(o.occurrence, o.due_on, o.due_reason, with_fulfilments(o, fulfilments, as_of=day))
            for o in occurrences(ob, as_of=day, facts=facts, in_force_from=in_force_from, incidents=incidents,
                                 not_before=not_before)]


def _next_change(ob, day, facts, *, in_force_from, incidents, not_before, fulfilments):
    found = occurrences(ob, as_of=day, facts=facts, in_force_from=in_force_from, incidents=incidents,
                        not_before=not_before)
    return next_change(ob, as_of=day, facts=facts, in_force_from=in_force_from, found=found, incidents=incidents,
                       not_before=not_before, fulfilled_on=tuple(f.fulfilled_on for f in fulfilments))


def _obligation(due):
    return Obligation(id="duty", title="A duty", attaches_to=("tier", "t"), applies_to="model", citation="s. 1",
                      quote=None, paraphrase=None, caveat=None, due=parse_due(due, path="due"), index=0)


def test_the_next_change_of_each_kind_of_due_rule_is_the_day_its_answer_changes(real_library):
    """On the day before, the answer is still the one worked out; on the day named, it differs."""
    facts = DatedFacts(training_completed_on=date(2026, 3, 1), released_on=date(2026, 4, 1))
    cases = [
        # 14 days after the threshold is met: due from 2026-03-01 to 2026-03-15, overdue from the 16th
        (obligation(real_library, "eu-ai-act", "art-52-1-notification")[1], date(2026, 3, 2), date(2026, 3, 16)),
        # a fixed date arises on the day the version takes effect (here 2026-06-01), and is overdue after it
        (_obligation({"on_or_before": "2026-09-30"}), date(2026, 2, 1), date(2026, 6, 1)),
        (_obligation({"on_or_before": "2026-09-30"}), date(2026, 6, 1), date(2026, 10, 1)),
        # a quarterly duty gains an occurrence on the first day of the next quarter
        (_obligation({"every": "quarter", "within": "15 days"}), date(2026, 5, 20), date(2026, 7, 1)),
        # a duty before deployment that is not yet deployed names the date: worked out again the next day
        (_obligation({"before": "deployed"}), date(2026, 3, 20), date(2026, 3, 21)),
    ]
    for ob, day, expected in cases:
        in_force = date(2026, 6, 1) if ob.due_kind == "on_or_before" else CHAPTER_V
        kwargs = dict(in_force_from=in_force, incidents=(), not_before=None, fulfilments=())
        assert _next_change(ob, day, facts, **kwargs) == expected, ob.id
        before = expected - timedelta(days=1)
        assert _answer(ob, before, facts, **kwargs) == _answer(ob, day, facts, **kwargs), ob.id
        assert _answer(ob, expected, facts, **kwargs) != _answer(ob, day, facts, **kwargs), ob.id


def test_a_fixed_date_already_passed_with_its_obligation_fulfilled_never_changes_by_the_date_alone():
    ob = _obligation({"on_or_before": "2027-08-02"})
    kwargs = dict(in_force_from=CHAPTER_V, incidents=(), not_before=None,
                  fulfilments=(FulfilmentFact(date(2027, 1, 5), True),))
    assert _next_change(ob, date(2027, 9, 1), DatedFacts(), **kwargs) is None


_DAYS = st.dates(min_value=date(2024, 6, 1), max_value=date(2028, 6, 30))
_PERIODS = st.sampled_from(["24 hours", "1 day", "14 days", "2 weeks", "3 months", "1 year"])
_SEVERITIES = st.sampled_from(["serious", "critical", "imminent_risk"])
_GENERAL = st.one_of(
    st.fixed_dictionaries({"after": st.sampled_from(["threshold_met", "placed_on_market", "deployed", "designated"]),
                           "period": _PERIODS}),
    st.fixed_dictionaries({"after": st.just("incident_discovered"), "period": _PERIODS},
                          optional={"severity": st.dictionaries(_SEVERITIES, _PERIODS, max_size=2),
                                    "incidents": st.lists(_SEVERITIES, max_size=2, unique=True)}),
    st.fixed_dictionaries({"before": st.sampled_from(["deployed", "placed_on_market", "threshold_met"])},
                          optional={"new_only": st.booleans()}),
    st.fixed_dictionaries({"on_or_before": _DAYS.map(date.isoformat)}),
    st.fixed_dictionaries({"every": st.just("quarter")}, optional={"within": _PERIODS}),
)


@st.composite
def _due(draw):
    general = draw(_GENERAL)
    if "after" in general and general["after"] == "incident_discovered" or not draw(st.booleans()):
        return general
    special = {"on_or_before": draw(_DAYS).isoformat(), "when": {"placed_on_market_before": draw(_DAYS).isoformat()}}
    return [special, general]


_NEAR = st.integers(min_value=-400, max_value=400)  # days from the as-of date: dates near it are the telling ones


_NONE = dict(completed=None, released=None, designated=None, not_before=None, fulfilments=[])


@settings(max_examples=500, deadline=None)
# due until the 14th day after the threshold was met, overdue from the next
@example(due={"after": "threshold_met", "period": "14 days"}, as_of=date(2026, 3, 5), in_force_from=-400,
         incidents=[], **{**_NONE, "completed": -3})
# one incident's report overdue, another incident's discovery still to come
@example(due={"after": "incident_discovered", "period": "15 days"}, as_of=date(2026, 3, 5), in_force_from=-400,
         incidents=[(-30, "serious"), (10, "critical")], **_NONE)
@given(due=_due(), as_of=_DAYS, completed=st.none() | _NEAR, released=st.none() | _NEAR, designated=st.none() | _NEAR,
       in_force_from=st.none() | _NEAR, not_before=st.none() | _NEAR,
       incidents=st.lists(st.tuples(_NEAR, _SEVERITIES), max_size=3),
       fulfilments=st.lists(st.tuples(_NEAR, st.sampled_from([True, False, None])), max_size=2))
def test_no_answer_changes_before_the_next_change(due, as_of, completed, released, designated, in_force_from,
                                                  not_before, incidents, fulfilments):
    """Whatever the due rule, the facts, incidents and fulfilments: every day from `as_of` up to the
    day before `next_change` (two years ahead when it says never) gives the same answer as `as_of`.
    What a refresh of the stored states relies on to leave a subject alone until then."""
    def near(offset):
        return None if offset is None else as_of + timedelta(days=offset)

    ob = _obligation(due)
    facts = DatedFacts(training_completed_on=near(completed), released_on=near(released), designated_on=near(designated))
    kwargs = dict(in_force_from=near(in_force_from),
                  not_before=(near(not_before), "designated") if not_before is not None else None,
                  incidents=tuple(IncidentFact(i, near(on), severity) for i, (on, severity) in enumerate(incidents)),
                  fulfilments=tuple(FulfilmentFact(near(on), accepted) for on, accepted in fulfilments))
    answer = _answer(ob, as_of, facts, **kwargs)
    change = _next_change(ob, as_of, facts, **kwargs)
    assert change is None or change > as_of
    until = change or as_of + timedelta(days=730)
    day = as_of + timedelta(days=1)
    while day < until:
        assert _answer(ob, day, facts, **kwargs) == answer, (day, change)
        day += timedelta(days=1)
