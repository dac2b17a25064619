"""rules/engine/prices.yaml: sourced price ranges per accelerator and period, checked on load."""

from __future__ import annotations

import copy
from datetime import date

import pytest

from rules.engine.defaults import (
    PROVENANCE_LABELS,
    SOURCE_KINDS,
    PriceTableError,
    parse_price_table,
    price_in_force,
    price_table,
)

SOURCE = {"url": "https://example.org/prices", "title": "A price page", "figure": "8 x H100 $24/h = $3.00 per GPU-hour",
          "refers_to": "2024-06", "kind": "provider-list-price"}
PERIOD = {"effective_from": "2024-01-01", "effective_to": "2025-01-01",
          "usd_per_accelerator_hour": {"low": 2.0, "high": 3.0}, "sources": [SOURCE],
          "provenance": "SECONDARY", "caveat": "Seen in a copy of the page."}


def table(**changes) -> dict:
    period = {**copy.deepcopy(PERIOD), **changes}
    return {"schema": 2, "prices": {"nvidia-h100-sxm": [period]}}


def test_a_well_formed_table_loads() -> None:
    price = parse_price_table(table())["nvidia-h100-sxm"][0]
    assert (price.low, price.high, price.effective_from, price.effective_to) == (
        2.0, 3.0, date(2024, 1, 1), date(2025, 1, 1))
    assert price.sources[0].kind == "provider-list-price" and price.period == "2024-01-01 to 2025-01-01"


def test_a_range_whose_low_end_is_above_its_high_end_is_refused() -> None:
    with pytest.raises(PriceTableError, match=r"prices\.nvidia-h100-sxm\[0\]\.usd_per_accelerator_hour: low 3\.1 is above high 3"):
        parse_price_table(table(usd_per_accelerator_hour={"low": 3.1, "high": 3.0}))
    assert parse_price_table(table(usd_per_accelerator_hour={"low": 3.0, "high": 3.0}))  # a single figure is a range


def test_a_period_without_a_source_is_refused() -> None:
    with pytest.raises(PriceTableError, match=r"\[0\]\.sources: at least one source is required"):
        parse_price_table(table(sources=[]))
    without = copy.deepcopy(PERIOD)
    del without["sources"]
    with pytest.raises(PriceTableError, match=r"\[0\]: missing sources"):
        parse_price_table({"schema": 2, "prices": {"nvidia-h100-sxm": [without]}})


@pytest.mark.parametrize(("changes", "message"), [
    ({"sources": [{**SOURCE, "url": ""}]}, r"sources\[0\]\.url: must be a non-empty string"),
    ({"sources": [{**SOURCE, "kind": "guess"}]}, r"sources\[0\]\.kind: 'guess' is not one of"),
    ({"sources": [{k: v for k, v in SOURCE.items() if k != "refers_to"}]}, r"sources\[0\]: missing refers_to"),
    ({"provenance": "RECALLED"}, r"provenance: 'RECALLED' is not one of"),
    ({"caveat": " "}, r"caveat: must be a non-empty string"),
    ({"usd_per_accelerator_hour": {"low": 0, "high": 3.0}}, r"low: 0 is not a positive number"),
    ({"usd_per_accelerator_hour": {"low": 2.0}}, r"usd_per_accelerator_hour: missing high"),
    ({"usd_per_accelerator_hour": 1.79}, r"usd_per_accelerator_hour: must be a mapping"),
    ({"effective_to": "2023-12-31"}, r"effective_to: 2023-12-31 is not after effective_from 2024-01-01"),
    ({"effective_from": "2024-13-01"}, r"effective_from: '2024-13-01' is not a date"),
    ({"source": "recalled"}, r"unknown field source"),
])
def test_a_malformed_period_is_refused_naming_the_field(changes: dict, message: str) -> None:
    with pytest.raises(PriceTableError, match=message):
        parse_price_table(table(**changes))


def test_overlapping_periods_of_one_accelerator_are_refused() -> None:
    raw = table()
    raw["prices"]["nvidia-h100-sxm"].append({**copy.deepcopy(PERIOD), "effective_from": "2024-12-01",
                                            "effective_to": "2026-01-01"})
    with pytest.raises(PriceTableError, match="overlaps"):
        parse_price_table(raw)
    raw["prices"]["nvidia-h100-sxm"][1]["effective_from"] = "2025-01-01"
    assert len(parse_price_table(raw)["nvidia-h100-sxm"]) == 2


def test_the_old_single_price_format_is_refused() -> None:
    with pytest.raises(PriceTableError, match="schema: 2"):
        parse_price_table({"schema": 1, "prices": {}})


def test_the_engine_table_has_sourced_ranges_and_no_self_derived_price() -> None:
    prices = [price for periods in price_table().values() for price in periods]
    assert prices
    for price in prices:
        assert 0 < price.low <= price.high and price.effective_to is not None
        assert price.provenance in PROVENANCE_LABELS and price.caveat
        assert price.sources and all(source.kind in SOURCE_KINDS and source.url.startswith("http")
                                     for source in price.sources)
    # the project's own "28 million H100-hours ~ $50M" sum is no source
    assert not any("back-of-envelope" in source.title + source.figure for price in prices for source in price.sources)


def test_price_in_force_uses_inclusive_start_and_exclusive_end() -> None:
    assert price_in_force("nvidia-h100-sxm", date(2024, 12, 31)).effective_from == date(2024, 1, 1)
    assert price_in_force("nvidia-h100-sxm", date(2025, 1, 1)).effective_from == date(2025, 1, 1)
    assert price_in_force("nvidia-h100-sxm", date(2022, 12, 31)) is None
    assert price_in_force("nvidia-v100-sxm2", date(2024, 6, 1)) is None
