"""The engine's data files (defaults.yaml, prices.yaml, contract.yaml), loaded once and checked."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from .yamlsafe import load_strict

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class Default:
    """One interpretive default: its value, where it comes from, and the caveat reports print."""

    name: str
    value: Any
    citation: str
    caveat: str


@dataclass(frozen=True, slots=True)
class Price:
    """A price per accelerator-hour in force from one date to another, with its source."""

    accelerator: str
    usd_per_accelerator_hour: float
    effective_from: date
    effective_to: date | None
    source: str
    caveat: str
    provenance: str


def _read(name: str) -> Any:
    path = HERE / name
    return load_strict(path.read_text(encoding="utf-8"), origin=f"rules/engine/{name}")


@functools.cache
def defaults() -> dict[str, Default]:
    """The interpretive defaults by name."""
    raw = _read("defaults.yaml")
    table = {}
    for name, entry in raw.items():
        if isinstance(entry, dict):
            table[name] = Default(name, entry["value"], entry.get("citation", ""), entry.get("caveat", ""))
        else:
            table[name] = Default(name, entry, "", "")
    return table


def default(name: str) -> Any:
    """The value of one interpretive default."""
    return defaults()[name].value


@functools.cache
def price_table() -> dict[str, tuple[Price, ...]]:
    """Dated prices per accelerator slug, earliest first."""
    raw = _read("prices.yaml")
    table = {}
    for slug, entries in raw["prices"].items():
        table[slug] = tuple(sorted(
            (
                Price(
                    accelerator=slug,
                    usd_per_accelerator_hour=float(entry["usd_per_accelerator_hour"]),
                    effective_from=date.fromisoformat(entry["effective_from"]),
                    effective_to=date.fromisoformat(entry["effective_to"]) if entry.get("effective_to") else None,
                    source=entry["source"].strip(),
                    caveat=entry["caveat"].strip(),
                    provenance=entry["provenance"],
                )
                for entry in entries
            ),
            key=lambda price: price.effective_from,
        ))
    return table


def price_in_force(accelerator: str, on: date) -> Price | None:
    """The price per accelerator-hour of `accelerator` in force on `on`, or None."""
    for price in price_table().get(accelerator, ()):
        if price.effective_from <= on and (price.effective_to is None or on < price.effective_to):
            return price
    return None


@functools.cache
def contract() -> dict[str, Any]:
    """DESIGN.md's regimes, test ids and subject kinds."""
    return _read("contract.yaml")
