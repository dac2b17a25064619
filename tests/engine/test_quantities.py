"""Quantities: each method's value, band, worked formula and missing facts."""

from __future__ import annotations

from datetime import date

import pytest

from rules.engine.cluster import cluster_peak_ops_per_second
from rules.engine.defaults import price_in_force
from rules.engine.subject import Arguments, Subject

from .snapshots import ACCELERATORS, cluster_snapshot, model_snapshot, organisation_snapshot

HARDWARE = {"accelerator": "nvidia-h100-sxm", "accelerator_count": 16384, "training_hours": 1300, "utilization": 0.4}


def quantity(snapshot: dict, name: str, arguments=None):
    return Subject(snapshot).quantity(name, arguments)


def test_architecture_estimate_shows_its_arithmetic_and_carries_a_30_percent_band() -> None:
    found = quantity(model_snapshot({"parameter_count": 4.05e11, "training_tokens": 1.56e13}), "training_compute_ops")
    assert found.method == "architecture-based"
    assert found.value == pytest.approx(3.7908e25)
    assert (found.low, found.high) == pytest.approx((0.7 * 3.7908e25, 1.3 * 3.7908e25))
    assert found.formula == "6 × 4.05e11 parameters × 1.56e13 tokens = 3.79e25 ops"


def test_mixture_of_experts_uses_active_parameters() -> None:
    found = quantity(model_snapshot({"parameter_count": 6.71e11, "active_parameter_count": 3.7e10,
                                     "training_tokens": 1.48e13}), "training_compute_ops")
    assert found.value == pytest.approx(6 * 3.7e10 * 1.48e13)
    assert "active parameters (mixture of experts)" in found.formula
    assert found.inputs["parameters_kind"] == "active"


def test_reported_figure_wins_and_has_no_band_unless_given() -> None:
    facts = {"training_compute_ops": 5e25, "parameter_count": 1e12, "training_tokens": 1e13}
    found = quantity(model_snapshot(facts), "training_compute_ops")
    assert (found.method, found.value, found.low, found.high) == ("reported", 5 * 10**25, 5 * 10**25, 5 * 10**25)
    banded = quantity(model_snapshot({**facts, "training_compute_uncertainty": 0.3}), "training_compute_ops")
    assert (banded.low, banded.high) == pytest.approx((3.5e25, 6.5e25))


def test_bands_are_exact_and_never_go_below_zero() -> None:
    facts = {"training_compute_ops": 5e25}
    banded = quantity(model_snapshot({**facts, "training_compute_uncertainty": 0.3}), "training_compute_ops")
    assert (banded.low, banded.high) == (35 * 10**24, 65 * 10**24)  # exactly, not 3.4999999999999996e25
    full = quantity(model_snapshot({**facts, "training_compute_uncertainty": 1.0}), "training_compute_ops")
    assert (full.low, full.high) == (0, 10**26)
    # refused on input (interchange, admin, database); a snapshot that carries one still gives no negative band
    beyond = quantity(model_snapshot({**facts, "training_compute_uncertainty": 1.5}), "training_compute_ops")
    assert (beyond.low, beyond.high) == (0, 125 * 10**24)
    assert beyond.to_dict()["low"] == 0


def test_estimates_are_exact_products_of_the_figures_as_written() -> None:
    found = quantity(model_snapshot({"parameter_count": 4.05e11, "training_tokens": 1.56e13}), "training_compute_ops")
    assert found.value == 6 * 405_000_000_000 * 15_600_000_000_000
    hardware = quantity(model_snapshot({"training_hardware": HARDWARE}), "training_compute_ops")
    peak = ACCELERATORS["nvidia-h100-sxm"]["dense_16bit"]
    assert hardware.value * 10 == 16384 * 1300 * 3600 * int(peak) * 4  # utilization 0.4 is 4/10 exactly
    assert isinstance(hardware.to_dict()["value"], int)


def test_hardware_estimate_uses_the_16bit_dense_peak_that_utilization_is_measured_against() -> None:
    found = quantity(model_snapshot({"training_hardware": HARDWARE}), "training_compute_ops")
    assert found.method == "hardware-based"
    assert found.value == pytest.approx(16384 * 1300 * 3600 * 9.894e14 * 0.4)
    assert "(dense_16bit)" in found.formula and "0.4 utilization" in found.formula


def test_hardware_estimate_names_what_it_lacks() -> None:
    found = quantity(model_snapshot({"training_hardware": {**HARDWARE, "utilization": None}}), "training_compute_ops")
    assert found.value is None
    assert "models.training_hardware.utilization" in found.missing


def test_lineage_sum_adds_values_and_bands() -> None:
    snapshot = model_snapshot({"name": "FT", "fine_tuning_compute_ops": 1e25},
                              lineage=[{"parameter_count": 1e12, "training_tokens": 1e13}])
    found = quantity(snapshot, "cumulative_training_compute_ops")
    assert found.method == "lineage-sum"
    assert found.value == pytest.approx(7e25)
    assert (found.low, found.high) == pytest.approx((1e25 + 4.2e25, 1e25 + 7.8e25))
    assert found.formula.startswith("acme/FT@1 1e25 (reported) + acme/Base-1@1 6e25 (architecture-based)")


def test_fine_tuning_quantities_do_not_apply_to_a_base_model() -> None:
    snapshot = model_snapshot({"training_compute_ops": 1e25})
    assert quantity(snapshot, "fine_tuning_compute_ops").applicable is False
    assert quantity(snapshot, "base_model_cumulative_training_compute_ops").applicable is False


def test_a_fine_tune_without_its_own_figure_uses_reported_training_compute() -> None:
    snapshot = model_snapshot({"name": "FT", "training_compute_ops": 2e24}, lineage=[{"training_compute_ops": 1e25}])
    found = quantity(snapshot, "fine_tuning_compute_ops")
    assert found.value == 2 * 10**24
    assert "taken as the modification run" in found.notes[0]


def test_a_distilled_model_does_not_count_its_teacher() -> None:
    snapshot = model_snapshot({"name": "Student", "derivation": "distillation", "fine_tuning_compute_ops": 3e24},
                              lineage=[{"name": "Teacher", "training_compute_ops": 2e26}])
    assert quantity(snapshot, "cumulative_training_compute_ops").value == 3 * 10**24
    assert quantity(snapshot, "base_model_cumulative_training_compute_ops").value == 2 * 10**26


def test_cost_band_is_the_published_price_range_in_force_at_the_start_of_training() -> None:
    snapshot = model_snapshot({"training_hardware": HARDWARE, "training_completed_on": "2024-07-01"})
    found = quantity(snapshot, "compute_cost_usd")
    price = price_in_force("nvidia-h100-sxm", date(2024, 5, 7))
    assert found.method == "price-table"
    assert found.inputs["training_started_on"] == "2024-05-07"
    assert (found.low, found.high) == pytest.approx((16384 * 1300 * price.low, 16384 * 1300 * price.high))
    assert found.value == pytest.approx((found.low + found.high) / 2)
    assert found.inputs["usd_per_accelerator_hour"] == {"low": price.low, "high": price.high}
    assert found.inputs["price_period"] == {"effective_from": "2024-01-01", "effective_to": "2025-01-01"}
    assert found.inputs["price_sources"] and all(s["url"] and s["kind"] for s in found.inputs["price_sources"])
    assert found.notes[0].startswith(f"Price range for nvidia-h100-sxm, 2024-01-01 to 2025-01-01, is {price.provenance}:")
    assert "midpoint" in found.formula and "published prices 2024-01-01 to 2025-01-01" in found.formula


def test_cost_follows_the_period_training_started_in() -> None:
    def cost(completed: str):
        return quantity(model_snapshot({"training_hardware": HARDWARE, "training_completed_on": completed}),
                        "compute_cost_usd")
    # 1300 h before 2024-02-24 is 2023-12-31; before 2024-02-25, 2024-01-01
    before, after = cost("2024-02-24"), cost("2024-02-25")
    assert before.inputs["price_period"]["effective_to"] == "2024-01-01"
    assert after.inputs["price_period"]["effective_from"] == "2024-01-01"
    hours = 16384 * 1300
    assert before.low == pytest.approx(hours * price_in_force("nvidia-h100-sxm", date(2023, 12, 31)).low)
    assert after.low == pytest.approx(hours * price_in_force("nvidia-h100-sxm", date(2024, 1, 1)).low)


def test_cost_without_a_published_price_for_the_period_names_the_missing_price() -> None:
    snapshot = model_snapshot({"training_hardware": {**HARDWARE, "accelerator": "nvidia-a100-sxm4"},
                               "training_completed_on": "2023-06-01"})
    found = quantity(snapshot, "compute_cost_usd")
    assert (found.value, found.low, found.high) == (None, None, None)
    assert found.missing == ["models.training_compute_cost_usd", "prices.nvidia-a100-sxm4@2023-04-07"]
    assert "no published price" in found.formula


def test_cost_falls_back_to_the_release_date() -> None:
    snapshot = model_snapshot({"training_hardware": HARDWARE, "released_on": "2024-07-23"})
    assert quantity(snapshot, "compute_cost_usd").inputs["start_basis"].startswith("released_on")


def test_cost_without_figures_names_both_facts() -> None:
    found = quantity(model_snapshot({}), "compute_cost_usd")
    assert found.value is None
    assert found.missing == ["models.training_compute_cost_usd", "models.training_hardware"]


def test_reported_cost_is_taken_as_is() -> None:
    found = quantity(model_snapshot({"training_compute_cost_usd": 1.2e8, "training_hardware": HARDWARE}),
                     "compute_cost_usd")
    assert (found.method, found.value, found.low, found.high) == ("reported", 1.2e8, 1.2e8, 1.2e8)


def _cluster(groups, links=(), **arguments):
    cluster = cluster_snapshot({"groups": groups, "links": list(links)})["cluster"]
    options = {"network_threshold_gbps": 100.0, "network_operator": ">", "reading": "dense_max", **arguments}
    return cluster_peak_ops_per_second(cluster, accelerators=ACCELERATORS, **options)


def test_cluster_sums_the_largest_connected_component() -> None:
    found = _cluster([{"accelerator_count": 100}, {"accelerator_count": 50}, {"accelerator_count": 120}],
                     links=[{"from": "a", "to": "b", "gbps": 400}])
    assert found.value == pytest.approx(150 * 1.979e15)
    assert found.inputs["component"] == ["a", "b"]


def test_cluster_mixed_accelerators_sum_each_peak() -> None:
    found = _cluster([{"accelerator_count": 100}, {"accelerator_count": 100, "accelerator": "nvidia-a100-sxm4"}],
                     links=[{"from": "a", "to": "b", "gbps": 400}])
    assert found.value == pytest.approx(100 * 1.979e15 + 100 * 6.24e14)


def test_cluster_unknown_link_is_a_band_and_named() -> None:
    found = _cluster([{"accelerator_count": 100}, {"accelerator_count": 100}], links=[{"from": "a", "to": "b", "gbps": None}])
    assert (found.low, found.high) == pytest.approx((100 * 1.979e15, 200 * 1.979e15))
    assert found.missing == ["clusters.links[0].gbps"]


def test_cluster_reading_without_a_figure_falls_back_to_dense_max_and_says_so() -> None:
    own = {"dense_max": 1e15, "dense_16bit": 5e14, "sparse_max": None}
    found = _cluster([{"accelerator": None, "accelerator_count": 10, "peak_ops_per_second": own}], reading="sparse_max")
    assert found.value == pytest.approx(1e16)
    assert "no sparse_max figure: dense_max used" in found.notes[0]


def test_cluster_group_without_accelerator_is_unbounded_above() -> None:
    found = _cluster([{"accelerator": None, "accelerator_count": 10}])
    assert (found.low, found.high) == (0.0, None)
    assert found.missing == ["clusters.groups[0].accelerator"]


def test_cluster_quantity_is_cached_per_arguments() -> None:
    subject = Subject(cluster_snapshot({"groups": [{"accelerator_count": 10}]}))
    dense = subject.quantity("cluster_peak_ops_per_second", Arguments(100.0, ">", "dense_max"))
    assert subject.quantity("cluster_peak_ops_per_second", Arguments(100.0, ">", "dense_max")) is dense
    sixteen = subject.quantity("cluster_peak_ops_per_second", Arguments(100.0, ">", "dense_16bit"))
    assert sixteen.value == pytest.approx(10 * 9.894e14)


def test_organisation_max_cumulative_over_its_models() -> None:
    snapshot = organisation_snapshot(models=[{"model": {"training_compute_ops": 1e24}},
                                             {"model": {"fine_tuning_compute_ops": 1e25},
                                              "lineage": [{"training_compute_ops": 5e25}]}])
    found = quantity(snapshot, "organisation_max_cumulative_training_compute_ops")
    assert found.value == pytest.approx(6e25)
    assert quantity(snapshot, "annual_revenue_usd").value == 6e8


def test_base_model_cost_is_the_base_models_own_run() -> None:
    snapshot = model_snapshot({"name": "FT", "fine_tuning_compute_ops": 1e25, "training_compute_cost_usd": 2e6},
                              lineage=[{"training_compute_ops": 2e26, "training_compute_cost_usd": 1.5e8}])
    assert quantity(snapshot, "base_model_compute_cost_usd").value == 1.5e8
    assert quantity(model_snapshot({}), "base_model_compute_cost_usd").applicable is False
    orphan = model_snapshot({"base_model": "x/Y@1"})
    assert quantity(orphan, "base_model_compute_cost_usd").missing == ["models[x/Y@1]"]
