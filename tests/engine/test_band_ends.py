"""A test decided over its figures' bands is not evaluated again at each end of them where the
condition lets the ends follow (`conditions.band_ends_follow`): the sensitivity it records must be
what evaluating at each end gives, for every test of every version in the library, over the lawyer-
readable cases and over generated subjects near every threshold."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.engine.conditions import compile_condition
from rules.engine.evaluate import OUTCOME, _BandEnd, _outcome, _run
from rules.engine.subject import Subject
from rules.engine.yamlsafe import load_strict

from .snapshots import cluster_snapshot, model_snapshot, organisation_snapshot, snapshot_from_facts

CASES = Path(__file__).resolve().parent / "cases"
AS_OF = date(2026, 12, 7)


def _band_ends_as_evaluated(library, snapshot, as_of) -> int:
    """Checks every test of every version that applies to the snapshot's kind; the number of those
    decided over their bands whose condition lets the ends follow."""
    followed = 0
    for version in library:
        for test in version.tests_for(snapshot["kind"]):
            outcome = _outcome(test, Subject(snapshot, as_of=as_of))
            banded = any(spec.numeric and (rec[0].low != rec[0].high or rec[1].low != rec[1].high)
                         for spec, rec in zip(outcome.specs, outcome.records, strict=True))
            for name, high in (("band_low", False), ("band_high", True)):
                at_end = OUTCOME[_run(test, _BandEnd(Subject(snapshot, as_of=as_of), high=high))[0]] if banded \
                    else outcome.outcome
                assert outcome.sensitivity[name] == at_end, (version.regime_slug, version.version_id, test.id, name)
            followed += banded and outcome.outcome != "indeterminate" and test.compiled.ends_follow
    return followed


def test_every_case_records_the_outcome_at_each_end_of_its_bands(real_library) -> None:
    followed = 0
    for path in sorted(CASES.glob("*.yaml")):
        for case in load_strict(path.read_text(encoding="utf-8"), origin=str(path))["cases"]:
            followed += _band_ends_as_evaluated(real_library, snapshot_from_facts(case["facts"]),
                                                  date.fromisoformat(case["as_of"]))
    assert followed > 20  # the cases do reach the tests whose ends follow


NEAR = [10**23, 10**25, 10**26, 10**8, 5 * 10**6, 5 * 10**8, 10**20]
figures = st.one_of(
    st.none(),
    st.sampled_from(NEAR).flatmap(lambda t: st.sampled_from([t - 1, t, t + 1, t * 7 // 10, t * 13 // 10, t * 3 // 2, t // 3])),
    st.integers(0, 10**27),
    st.floats(0, 1e27, allow_nan=False),
)
uncertainties = st.sampled_from([None, 0, 0.1, 0.3, 0.5, 0.99])
model_facts = st.fixed_dictionaries({
    "training_compute_ops": figures, "fine_tuning_compute_ops": figures, "training_compute_uncertainty": uncertainties,
    "parameter_count": st.one_of(st.none(), st.integers(10**6, 10**13)),
    "training_tokens": st.one_of(st.none(), st.integers(10**9, 10**14)),
    "training_compute_cost_usd": figures,
    "general_purpose": st.one_of(st.none(), st.booleans()),
    "derivation": st.sampled_from([None, "fine-tune", "distillation"]),
    "modalities": st.sampled_from([["text"], ["image"], ["protein"], []]),
    "primarily_biological_sequence_data": st.booleans(),
})


@settings(max_examples=400, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(model_facts, st.lists(st.tuples(model_facts, st.sampled_from(["acme", "rival"])).map(
    lambda pair: {**pair[0], "organisation": pair[1]}), max_size=2), st.booleans(),
       st.sampled_from([None, "systemic-risk-designation", "rebuttal-accepted"]))
def test_generated_models_record_the_outcome_at_each_end_of_their_bands(real_library, facts, lineage, unknown_base,
                                                                         designation) -> None:
    if unknown_base:  # the lineage ends in a model not in the registry: its sums are known only from below
        if lineage:
            lineage = [*lineage[:-1], {**lineage[-1], "base_model": "elsewhere/Unknown@1", "derivation": "fine-tune"}]
        else:
            facts = {**facts, "base_model": "elsewhere/Unknown@1"}
    snapshot = model_snapshot(facts, lineage=lineage)
    if designation:
        snapshot["designations"] = [{"regime": "eu-ai-act", "kind": designation, "decided_on": "2026-01-01"}]
    _band_ends_as_evaluated(real_library, snapshot, AS_OF)


@settings(max_examples=60, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.fixed_dictionaries({
    "accelerator_count": st.sampled_from([1000, 25_000, 50_000, 50_540, 50_600, 100_000]),
    "network_gbps": st.sampled_from([None, 100, 400]),
    "accelerator": st.sampled_from(["nvidia-h100-sxm", "nvidia-a100-sxm4", "not-in-the-catalog"])}),
    min_size=1, max_size=3),
    st.lists(model_facts, max_size=3), st.sampled_from([None, 4 * 10**8, 5 * 10**8, 6 * 10**8, 5 * 10**8 + 1]))
def test_generated_clusters_and_organisations_record_the_outcome_at_each_end_of_their_bands(
        real_library, groups, models, revenue) -> None:
    _band_ends_as_evaluated(real_library, cluster_snapshot({"groups": groups}), AS_OF)
    organisation = {"annual_revenue_usd": revenue, "revenue_year": 2025}
    _band_ends_as_evaluated(real_library, organisation_snapshot(organisation, models=[{"model": m} for m in models]),
                            AS_OF)


def test_only_products_of_figures_let_the_ends_follow() -> None:
    """A quotient, a number chosen by `if`, `known` of a figure and a test of another model each keep
    the ends evaluated; products, facts, designations and `if` between conditions do not."""
    parameters = {"limit": {"value": 1e25}, "share": {"value": 0.5}}

    def follows(source: str) -> bool:
        return compile_condition(source, origin="test", path="condition", test_id="t", applies_to="model",
                                 parameters=parameters, tests={"t": "model", "u": "model"}, links={},
                                 regime="eu-ai-act").ends_follow

    assert follows("cumulative_training_compute_ops > limit")
    assert follows("cumulative_training_compute_ops > share * limit and general_purpose == true")
    assert follows('(if known(general_purpose) then general_purpose == true else true) and not designated("x")')
    assert not follows("cumulative_training_compute_ops / share > limit")
    assert not follows("cumulative_training_compute_ops > (if general_purpose == true then limit else share * limit)")
    assert not follows("known(cumulative_training_compute_ops) and cumulative_training_compute_ops > limit")
    assert not follows('cumulative_training_compute_ops > limit and base_model_meets("u")')
