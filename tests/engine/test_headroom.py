"""headroom(): how far a model or cluster is from each threshold."""

from __future__ import annotations

from datetime import date

import pytest

from rules.engine.defaults import price_in_force
from rules.engine.headroom import headroom, max_dense_parameters

from .snapshots import cluster_snapshot, model_snapshot

AS_OF = date(2024, 6, 1)


def test_max_dense_parameters_at_1e26_and_30e12_tokens() -> None:
    assert max_dense_parameters(training_tokens=30e12, threshold_ops=1e26) == pytest.approx(5.556e11, rel=1e-3)


def test_model_headroom_in_h100_hours_and_usd(real_library) -> None:
    versions = {"us-eo-14110": real_library.get("us-eo-14110", "2023-10-30")}
    items = headroom(model_snapshot({"training_compute_ops": 4e25, "training_tokens": 30e12}), versions=versions,
                     as_of=AS_OF)
    general = next(item for item in items if item.test == "model-general")
    assert (general.already_above, general.remaining_ops) == (False, pytest.approx(6e25))
    assert general.reference_accelerator == "nvidia-h100-sxm"
    assert general.accelerator_hours["dense_max"] == pytest.approx(6e25 / (1.979e15 * 3600))
    assert general.accelerator_hours["dense_16bit"] == pytest.approx(6e25 / (9.894e14 * 3600))
    price = price_in_force("nvidia-h100-sxm", AS_OF)
    hours = general.accelerator_hours["dense_max"]
    assert (general.usd_low["dense_max"], general.usd_high["dense_max"]) == pytest.approx(
        (hours * price.low, hours * price.high))
    assert general.usd["dense_max"] == pytest.approx(hours * (price.low + price.high) / 2)
    assert f"(published prices 2024-01-01 to 2025-01-01, {price.provenance})" in general.note
    assert general.max_dense_parameters == pytest.approx(5.556e11, rel=1e-3)
    assert "100 % utilization" in general.note
    biological = next(item for item in items if item.test == "model-biological")
    assert (biological.already_above, biological.remaining_ops) == (True, None)


def test_cluster_headroom_counts_accelerators_to_add(real_library) -> None:
    own = {"dense_max": 1e15, "dense_16bit": 5e14, "sparse_max": 2e15}
    snapshot = cluster_snapshot({"groups": [{"accelerator": "custom", "accelerator_count": 99000, "network_gbps": 400}]})
    snapshot["accelerators"] = {**snapshot["accelerators"], "custom": own}
    versions = {"us-eo-14110": real_library.get("us-eo-14110", "2023-10-30"),
                "us-bis-702-nprm": real_library.get("us-bis-702-nprm", "2024-09-11")}
    items = {item.regime: item for item in headroom(snapshot, versions=versions, as_of=AS_OF)}
    assert items["us-eo-14110"].more_accelerators == 1000  # at least 1e20
    assert items["us-bis-702-nprm"].more_accelerators == 1001  # greater than 1e20
    assert items["us-eo-14110"].accelerator == "custom"


def test_a_cluster_above_the_threshold_needs_none(real_library) -> None:
    versions = {"us-eo-14110": real_library.get("us-eo-14110", "2023-10-30")}
    item = headroom(cluster_snapshot({"groups": [{"accelerator_count": 100000}]}), versions=versions, as_of=AS_OF)[0]
    assert (item.already_above, item.more_accelerators) == (True, 0)


def test_model_headroom_without_a_published_price_has_no_usd(real_library) -> None:
    versions = {"us-eo-14110": real_library.get("us-eo-14110", "2023-10-30")}
    items = headroom(model_snapshot({"training_compute_ops": 4e25}), versions=versions, as_of=date(2022, 10, 1))
    general = next(item for item in items if item.test == "model-general")
    assert general.accelerator_hours["dense_max"] is not None
    assert general.usd == general.usd_low == general.usd_high == {"dense_max": None, "dense_16bit": None}
    assert "no published price for nvidia-h100-sxm on 2022-10-01" in general.note
