"""evaluate(): status, the DESIGN.md JSON shape, not_in_force and not_covered, evaluate_many."""

from __future__ import annotations

import json
from datetime import date

from rules.engine import quantities
from rules.engine.evaluate import evaluate, evaluate_many

from .snapshots import cluster_snapshot, model_snapshot, organisation_snapshot

AS_OF = date(2024, 6, 1)


def test_to_dict_is_the_design_json_shape(real_library) -> None:
    version = real_library.get("us-eo-14110", "2023-10-30")
    snapshot = model_snapshot({"name": "Acme-1", "parameter_count": 4.05e11, "training_tokens": 1.56e13})
    document = json.loads(json.dumps(evaluate(snapshot, version=version, regime="us-eo-14110", as_of=AS_OF).to_dict()))
    assert document["subject"] == {"kind": "model", "organisation": "acme", "name": "Acme-1", "version": "1"}
    assert (document["regime"], document["rule_version"], document["rule_hash"]) == (
        "us-eo-14110", "2023-10-30", version.content_hash)
    assert document["as_of"] == "2024-06-01"
    assert document["status"] == "not_covered"
    test = document["tests"][0]
    assert {key: test[key] for key in ("id", "outcome", "quantity", "operator", "threshold", "citation", "missing")} == {
        "id": "model-general", "outcome": "not_met", "quantity": "cumulative_training_compute_ops", "operator": ">",
        "threshold": 10**26, "citation": "EO 14110 §4.2(b)(i)", "missing": []}
    assert test["value"] == 6 * 405_000_000_000 * 15_600_000_000_000  # exact: 3.7908e25
    assert test["method"] == "architecture-based"
    assert test["quote"]["source"] == "SOURCES.md §1.3"
    assert "cumulative_training_compute_ops" in document["quantities"]
    assert any("30 %" in caveat for caveat in document["caveats"])
    assert document["sensitivity"]["status_would_differ"] is False


def test_no_version_is_not_in_force() -> None:
    evaluation = evaluate(model_snapshot({"training_compute_ops": 2e26}), version=None, regime="us-ca-sb1047",
                          as_of=AS_OF)
    assert evaluation.status == "not_in_force"
    assert evaluation.to_dict()["tests"] == [] and evaluation.rule_hash is None


def test_a_regime_without_tests_for_the_kind_is_not_applicable_with_a_reason(real_library) -> None:
    version = real_library.get("us-eo-14110", "2023-10-30")
    evaluation = evaluate(organisation_snapshot(), version=version, regime="us-eo-14110", as_of=AS_OF)
    assert (evaluation.status, evaluation.tests, evaluation.tier) == ("not_applicable", [], None)
    assert evaluation.reason == "us-eo-14110 version 2023-10-30 has no test for an organisation"
    document = evaluation.to_dict()
    assert (document["status"], document["reason"], document["tier"]) == (
        "not_applicable", "us-eo-14110 version 2023-10-30 has no test for an organisation", None)


def test_a_subject_with_tests_has_no_reason(real_library) -> None:
    version = real_library.get("us-eo-14110", "2023-10-30")
    document = evaluate(model_snapshot({"training_compute_ops": 2e26}), version=version, regime="us-eo-14110",
                        as_of=AS_OF).to_dict()
    assert (document["status"], document["reason"]) == ("covered", None)


def test_only_tests_for_the_subject_kind_run(real_library) -> None:
    version = real_library.get("us-eo-14110", "2023-10-30")
    evaluation = evaluate(cluster_snapshot({"groups": [{"accelerator_count": 10}]}), version=version,
                          regime="us-eo-14110", as_of=AS_OF)
    assert [test.id for test in evaluation.tests] == ["cluster"]
    assert evaluation.tests[0].throughput_reading == "dense_max"
    assert evaluation.tests[0].reading == version.test("cluster").reading


def test_the_headline_is_the_first_comparison(real_library) -> None:
    version = real_library.get("us-ny-raise", "2025-12-19")
    snapshot = model_snapshot({"training_compute_ops": 2e26, "training_compute_cost_usd": 5e7})
    test = evaluate(snapshot, version=version, regime="us-ny-raise", as_of=date(2027, 6, 1)).tests[0]
    assert (test.quantity, test.value, test.threshold, test.outcome) == (
        "cumulative_training_compute_ops", 2 * 10**26, 10**26, "not_met")
    comparisons = test.to_dict()["comparisons"]
    assert [(row["quantity"], row["outcome"]) for row in comparisons] == [
        ("cumulative_training_compute_ops", "met"), ("compute_cost_usd", "not_met")]


def test_a_draft_or_out_of_force_version_says_it_is_a_preview(real_library) -> None:
    version = real_library.get("us-ca-sb1047", "2024-09-03")
    evaluation = evaluate(model_snapshot({"training_compute_ops": 2e26, "training_compute_cost_usd": 2e8}),
                          version=version, regime="us-ca-sb1047", as_of=AS_OF)
    assert evaluation.status == "covered"
    assert any("not in force" in note for note in evaluation.notes)


def test_evaluate_many_computes_each_quantity_once_per_subject(real_library, monkeypatch) -> None:
    calls = []
    original = quantities.lineage_sum

    def counting(*args, **kwargs):
        calls.append(args[0]["name"])
        return original(*args, **kwargs)

    monkeypatch.setattr(quantities, "lineage_sum", counting)
    as_of = date(2027, 6, 1)
    versions = {slug: real_library.in_force(slug, as_of) for slug in real_library.regimes()}
    snapshots = [model_snapshot({"name": f"M{i}", "training_compute_ops": 1e24 * (i + 1)}) for i in range(3)]
    evaluations = list(evaluate_many(snapshots, versions=versions, as_of=as_of))
    assert len(evaluations) == 3 * len(versions)
    assert calls == ["M0", "M1", "M2"]


def test_a_test_resting_on_a_paraphrase_says_so_in_the_determination(real_library) -> None:
    version = real_library.get("us-ny-raise", "2027-01-01")
    evaluation = evaluate(model_snapshot({"training_compute_ops": 2e26}), version=version, regime="us-ny-raise",
                          as_of=date(2027, 6, 1))
    document = evaluation.to_dict()
    (test,) = document["tests"]
    assert test["quote"] is None
    assert test["paraphrase"]["provenance"] == "SECONDARY"
    assert test["caveat"].startswith("Rests on a SECONDARY description")
    assert f"test frontier-model: {test['caveat']}" in document["caveats"]


def test_a_test_with_verbatim_text_carries_no_test_caveat(real_library) -> None:
    version = real_library.get("us-eo-14110", "2023-10-30")
    document = evaluate(model_snapshot({"training_compute_ops": 2e26}), version=version, regime="us-eo-14110",
                        as_of=AS_OF).to_dict()
    assert all(test["caveat"] is None and test["paraphrase"] is None for test in document["tests"])
    assert not any(caveat.startswith("test ") for caveat in document["caveats"])


def test_the_decision_log_form_leaves_the_paraphrase_text_to_the_version(real_library) -> None:
    version = real_library.get("us-ny-raise", "2027-01-01")
    evaluation = evaluate(model_snapshot({"training_compute_ops": 2e26}), version=version, regime="us-ny-raise",
                          as_of=date(2027, 6, 1))
    (test,) = evaluation.to_dict(version_text=False)["tests"]
    assert test["paraphrase"] == {"source": "SOURCES.md §6.1 (amended_2026, frontier_model_compute) and §6.4",
                                  "provenance": "SECONDARY"}
    assert test["caveat"] == version.test("frontier-model").caveat


def test_a_margin_of_two_integers_is_the_float_nearest_the_exact_quotient() -> None:
    """A test's margin is value / threshold as the float nearest the exact quotient, whether the two
    are divided as ints or through fractions, for figures of any size."""
    from fractions import Fraction

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from rules.engine.evaluate import _margin

    figures = st.integers(-(10**40), 10**40) | st.sampled_from([10**26, 10**26 + 1, 10**25, 10**23, 3 * 10**25 + 7, 1, -1])

    @settings(max_examples=2000, deadline=None, database=None, derandomize=True)
    @given(figures, figures.filter(bool))
    def nearest(value, threshold):
        assert _margin(value, threshold) == float(Fraction(value, threshold))

    nearest()
    assert _margin(10**26 + 1, 10**26) == 1.0 and _margin(10**25, 10**26) == 0.1
    assert _margin(3, Fraction(1, 3)) == 9.0 and _margin(None, 10**26) is None and _margin(5, 0) is None
    assert _margin(5, True) is None
    # a ratio no float can hold is not shown
    assert _margin(10**400, 1) is None and _margin(10**30, Fraction(1, 10**300)) is None


def test_a_figure_over_a_threshold_made_of_a_vanishingly_small_one_is_determined(real_library) -> None:
    """The EU downstream-modifier threshold is a third of the base model's compute: a base model
    reporting 5e-324 operations (the smallest float) makes a threshold that the fine-tune's figure
    exceeds by more than a float can hold. The test is met, and its margin is not shown."""
    version = real_library.get("eu-ai-act", "2025-08-02")
    snapshot = model_snapshot({"fine_tuning_compute_ops": 9 * 10**26, "derivation": "fine-tune"},
                              lineage=[{"training_compute_ops": 5e-324, "organisation": "rival"}])
    evaluation = evaluate(snapshot, version=version, regime="eu-ai-act", as_of=date(2026, 12, 7))
    test = next(test for test in evaluation.tests if test.id == "downstream-modifier")
    assert (test.outcome, test.margin) == ("met", None)
    assert json.loads(json.dumps(evaluation.to_dict()))["tests"][2]["margin"] is None
