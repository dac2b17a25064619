"""Loads the accelerator catalog from `registry/data/accelerators.csv`, keyed by its `slug` column.

The CSV records figures as its sources gave them, sometimes two to a cell ("450 (Epoch) / 432
(Intel)"). A cell with one figure is read as it is; a cell with two must have its choice, and the
reason for it, in `accelerator_choices.yaml`, or loading fails naming the cell.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.db import transaction

TERA = 1e12
NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
FIGURE_COLUMNS = {
    "fp64_tflops": "fp64_ops_per_second",
    "fp32_tflops": "fp32_ops_per_second",
    "tf32_dense_tflops": "tf32_dense_ops_per_second",
    "fp16_bf16_dense_tflops": "dense_16bit_ops_per_second",
    "fp8_dense_tflops": "fp8_dense_ops_per_second",
    "int8_dense_tops": "int8_dense_ops_per_second",
    "fp4_dense_tflops": "fp4_dense_ops_per_second",
}
DENSE_FORMATS = (
    "tf32_dense_ops_per_second",
    "dense_16bit_ops_per_second",
    "fp8_dense_ops_per_second",
    "int8_dense_ops_per_second",
    "fp4_dense_ops_per_second",
    "fp32_ops_per_second",
    "fp64_ops_per_second",
)


class CatalogError(ValueError):
    pass


@dataclass(frozen=True)
class CellReading:
    value: float | None
    choice: str | None


def read_cell(slug: str, column: str, text: str, choices: dict[str, Any]) -> CellReading:
    text = text.strip()
    chosen = choices.get("cells", {}).get(slug, {}).get(column)
    if chosen is not None:
        return CellReading(float(chosen["value"]), f"{text!r} → {chosen['value']}: {chosen['why']}")
    if not text:
        return CellReading(None, None)
    numbers = NUMBER.findall(text)
    if len(numbers) != 1 or ("/" in text) or (" " in text and not re.fullmatch(r"[\d.]+\s*\(.*\)", text)):
        raise CatalogError(
            f"accelerators.csv: {slug}.{column}: {text!r} is not a single figure; "
            "record the figure to use and why in accelerator_choices.yaml"
        )
    return CellReading(float(numbers[0]), None)


def parse_catalog(csv_path: Path, choices_path: Path) -> list[dict[str, Any]]:
    """Every accelerator row as Accelerator field values, in ops/s."""
    choices = yaml.safe_load(choices_path.read_text()) or {}
    rows = []
    with csv_path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            slug = row["slug"].strip()
            fields: dict[str, Any] = {
                "slug": slug,
                "vendor": row["vendor"].strip(),
                "model_name": row["model"].strip(),
                "release_date": date.fromisoformat(row["release_date"]) if row["release_date"] else None,
                "source": row["source"].strip(),
                "notes": row["notes"].strip(),
            }
            figure_choices = {}
            for column, field in FIGURE_COLUMNS.items():
                reading = read_cell(slug, column, row[column], choices)
                fields[field] = reading.value * TERA if reading.value is not None else None
                if reading.choice:
                    figure_choices[column] = reading.choice
            memory = read_cell(slug, "memory_gb", row["memory_gb"].replace("GiB", "").strip(), choices)
            if memory.choice:
                figure_choices["memory_gb"] = memory.choice
            fields["memory_gb"] = memory.value
            dense = [fields[name] for name in DENSE_FORMATS if fields[name]]
            fields["dense_max_ops_per_second"] = max(dense) if dense else None
            sparse = choices.get("sparse_max_tflops", {}).get(slug)
            fields["sparse_max_ops_per_second"] = float(sparse["value"]) * TERA if sparse else None
            if sparse:
                figure_choices["sparse_peak_values"] = f"{sparse['value']}: {sparse['why']}"
            fields["figure_choices"] = figure_choices
            rows.append(fields)
    return rows


def catalog_sync(
    *, csv_path: Path | None = None, choices_path: Path | None = None
) -> tuple[int, int]:
    """Upserts the catalog from the CSV; returns (created, updated). Never deletes an accelerator."""
    from .models import Accelerator

    csv_path = csv_path or Path(settings.REGISTRY_ACCELERATOR_CSV)
    choices_path = choices_path or csv_path.with_name("accelerator_choices.yaml")
    rows = parse_catalog(csv_path, choices_path)
    created = updated = 0
    with transaction.atomic():
        existing = {a.slug: a for a in Accelerator.objects.all()}
        for fields in rows:
            current = existing.get(fields["slug"])
            if current is None:
                Accelerator.objects.create(**fields)
                created += 1
            elif any(getattr(current, key) != value for key, value in fields.items()):
                for key, value in fields.items():
                    setattr(current, key, value)
                current.save()
                updated += 1
    return created, updated


def sync_catalog_after_migrate(sender: Any, **kwargs: Any) -> None:
    """`migrate` keeps the catalog in step with the CSV shipped in the repo."""
    from django.db import connections

    from .models import Accelerator

    using = kwargs.get("using", "default")
    if Accelerator._meta.db_table not in connections[using].introspection.table_names():
        return
    catalog_sync()
