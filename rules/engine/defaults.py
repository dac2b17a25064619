"""The engine's data files (defaults.yaml, prices.yaml, contract.yaml), loaded once and checked."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from .schema import PROVENANCE
from .yamlsafe import load_strict

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class Default:
    """One interpretive default: its value, where it comes from, and the caveat reports print."""

    name: str
    value: Any
    citation: str
    caveat: str


PROVENANCE_LABELS: tuple[str, ...] = tuple(PROVENANCE["enum"])  # the labels of SOURCES.md, as rule files use them
SOURCE_KINDS = ("provider-list-price", "secondary")


class PriceTableError(ValueError):
    """rules/engine/prices.yaml breaks its format; the message names the entry, the field and the problem."""


@dataclass(frozen=True, slots=True)
class PriceSource:
    """One published figure a price range rests on, where it was seen, and what kind of source it is."""

    url: str
    title: str
    figure: str
    refers_to: str
    kind: str


@dataclass(frozen=True, slots=True)
class Price:
    """The range of published cloud prices per accelerator-hour in one period, with its sources."""

    accelerator: str
    low: float
    high: float
    effective_from: date
    effective_to: date | None
    sources: tuple[PriceSource, ...]
    caveat: str
    provenance: str

    @property
    def period(self) -> str:
        """`2024-01-01 to 2025-01-01` (the end exclusive), or `from 2024-01-01`."""
        start = self.effective_from.isoformat()
        return f"{start} to {self.effective_to.isoformat()}" if self.effective_to else f"from {start}"


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


_PRICE_KEYS = {"effective_from", "effective_to", "usd_per_accelerator_hour", "sources", "provenance", "caveat"}
_SOURCE_KEYS = {"url", "title", "figure", "refers_to", "kind"}


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PriceTableError(f"{where}: must be a non-empty string")
    return value.strip()


def _day(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise PriceTableError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


def _keys(entry: Any, allowed: set[str], required: set[str], where: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise PriceTableError(f"{where}: must be a mapping")
    unknown, missing = sorted(set(entry) - allowed), sorted(required - set(entry))
    if unknown:
        raise PriceTableError(f"{where}: unknown field {', '.join(unknown)}")
    if missing:
        raise PriceTableError(f"{where}: missing {', '.join(missing)}")
    return entry


def _price(slug: str, entry: Any, where: str) -> Price:
    entry = _keys(entry, _PRICE_KEYS, _PRICE_KEYS - {"effective_to"}, where)
    start = _day(entry["effective_from"], f"{where}.effective_from")
    end = _day(entry["effective_to"], f"{where}.effective_to") if entry.get("effective_to") is not None else None
    if end is not None and end <= start:
        raise PriceTableError(f"{where}.effective_to: {end} is not after effective_from {start}")
    band = _keys(entry["usd_per_accelerator_hour"], {"low", "high"}, {"low", "high"},
                 f"{where}.usd_per_accelerator_hour")
    for end_name in ("low", "high"):
        figure = band[end_name]
        if isinstance(figure, bool) or not isinstance(figure, int | float) or not 0 < figure < float("inf"):
            raise PriceTableError(f"{where}.usd_per_accelerator_hour.{end_name}: {figure!r} is not a positive number")
    if band["low"] > band["high"]:
        raise PriceTableError(f"{where}.usd_per_accelerator_hour: low {band['low']} is above high {band['high']}")
    sources = entry["sources"]
    if not isinstance(sources, list) or not sources:
        raise PriceTableError(f"{where}.sources: at least one source is required (url, title, figure, refers_to, kind)")
    found = []
    for index, source in enumerate(sources):
        at = f"{where}.sources[{index}]"
        source = _keys(source, _SOURCE_KEYS, _SOURCE_KEYS, at)
        if source["kind"] not in SOURCE_KINDS:
            raise PriceTableError(f"{at}.kind: {source['kind']!r} is not one of {', '.join(SOURCE_KINDS)}")
        found.append(PriceSource(*(_text(source[key], f"{at}.{key}")
                                   for key in ("url", "title", "figure", "refers_to", "kind"))))
    if entry["provenance"] not in PROVENANCE_LABELS:
        raise PriceTableError(f"{where}.provenance: {entry['provenance']!r} is not one of {', '.join(PROVENANCE_LABELS)}")
    return Price(slug, band["low"], band["high"], start, end, tuple(found), _text(entry["caveat"], f"{where}.caveat"),
                 entry["provenance"])


def parse_price_table(raw: Any, *, origin: str = "rules/engine/prices.yaml") -> dict[str, tuple[Price, ...]]:
    """Check a price table (the format of prices.yaml) and return its periods per accelerator, earliest
    first; a `PriceTableError` names the entry, the field and the problem."""
    if not isinstance(raw, dict) or raw.get("schema") != 2 or not isinstance(raw.get("prices"), dict):
        raise PriceTableError(f"{origin}: expected `schema: 2` and a `prices` mapping of accelerator slugs")
    table = {}
    for slug, entries in raw["prices"].items():
        where = f"{origin}: prices.{slug}"
        if not isinstance(entries, list) or not entries:
            raise PriceTableError(f"{where}: must be a non-empty list of periods")
        periods = sorted((_price(slug, entry, f"{where}[{index}]") for index, entry in enumerate(entries)),
                         key=lambda price: price.effective_from)
        for before, after in zip(periods, periods[1:], strict=False):
            if before.effective_to is None or before.effective_to > after.effective_from:
                raise PriceTableError(f"{where}: the period {before.period} overlaps the one {after.period}")
        table[slug] = tuple(periods)
    return table


@functools.cache
def price_table() -> dict[str, tuple[Price, ...]]:
    """Price ranges per accelerator slug, earliest period first (rules/engine/prices.yaml, checked)."""
    return parse_price_table(_read("prices.yaml"))


def price_in_force(accelerator: str, on: date) -> Price | None:
    """The price range of `accelerator` for the period containing `on`, or None where none was found."""
    for price in price_table().get(accelerator, ()):
        if price.effective_from <= on and (price.effective_to is None or on < price.effective_to):
            return price
    return None


@functools.cache
def contract() -> dict[str, Any]:
    """DESIGN.md's regimes, test ids and subject kinds."""
    return _read("contract.yaml")
