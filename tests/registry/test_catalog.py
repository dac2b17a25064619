"""The accelerator catalog is the CSV's, with every two-figure cell resolved and its reason kept."""
from __future__ import annotations

import csv
import filecmp
from pathlib import Path

import pytest
from django.conf import settings

from registry.catalog import CatalogError, parse_catalog
from registry.models import Accelerator

pytestmark = pytest.mark.django_db


def test_migrate_loads_every_csv_slug():
    with open(settings.REGISTRY_ACCELERATOR_CSV, newline="") as handle:
        slugs = {row["slug"] for row in csv.DictReader(handle)}
    assert slugs == set(Accelerator.objects.values_list("slug", flat=True))


def test_h100_sxm_readings_of_theoretical_maximum():
    h100 = Accelerator.objects.get(slug="nvidia-h100-sxm")
    assert h100.dense_max_ops_per_second == pytest.approx(1.979e15)  # INT8 dense, the fastest format
    assert h100.dense_16bit_ops_per_second == pytest.approx(9.894e14)
    assert h100.sparse_max_ops_per_second == pytest.approx(3.9578e15)
    # 50,000 H100s are about 1e20 ops/s at the fastest dense format
    assert 50_000 * h100.dense_max_ops_per_second == pytest.approx(9.895e19)


def test_two_figure_cell_records_the_choice_and_why():
    gaudi3 = Accelerator.objects.get(slug="intel-gaudi3")
    assert gaudi3.dense_16bit_ops_per_second == pytest.approx(1.835e15)
    assert "Intel" in gaudi3.figure_choices["fp16_bf16_dense_tflops"]


def test_two_figure_cell_without_a_recorded_choice_fails_naming_the_cell(tmp_path):
    source = Path(settings.REGISTRY_ACCELERATOR_CSV)
    rows = list(csv.DictReader(source.open(newline="")))
    rows[0]["fp64_tflops"] = "7.8 (vendor) / 7.9 (other)"
    target = tmp_path / "accelerators.csv"
    with target.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    choices = tmp_path / "choices.yaml"
    choices.write_text("cells: {}\n")
    with pytest.raises(CatalogError, match=rf"{rows[0]['slug']}\.fp64_tflops"):
        parse_catalog(target, choices)


def test_shipped_csv_is_the_shared_catalog():
    shared = settings.SHARED_DIR / "data" / "accelerators.csv"
    if not shared.exists():
        pytest.skip("../shared is not beside this checkout")
    assert filecmp.cmp(shared, settings.REGISTRY_ACCELERATOR_CSV, shallow=False)
