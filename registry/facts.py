"""Canonical facts: a record in the interchange format with every field present, whole numbers as
ints of any size (kept exactly: 100000000000000000000000000001 is not 1e26), other numbers as floats,
and dates in ISO form. Revisions store it, export writes it, the rules engine reads it."""
from __future__ import annotations

import hashlib
import json
import math
from datetime import date
from decimal import Decimal
from typing import Any

import msgspec

from . import mapping
from .mapping import fact_names

ORGANISATION_FIELDS = fact_names(mapping.ORGANISATION)
MODEL_FIELDS = fact_names(mapping.MODEL)
HARDWARE_FIELDS = fact_names(mapping.HARDWARE)
CLUSTER_FIELDS = fact_names(mapping.CLUSTER)
GROUP_FIELDS = fact_names(mapping.GROUP)
PEAK_FIELDS = fact_names(mapping.PEAK)
LINK_FIELDS = fact_names(mapping.LINK)


def whole_or_float(value: float) -> int | float:
    """A whole float as the int its shortest form writes (1.5e25 -> 15000000000000000000000000, as
    PostgreSQL's jsonb prints it), so the same facts hash the same on every database; else the float."""
    if math.isfinite(value) and value.is_integer():
        return int(Decimal(repr(float(value))))
    return float(value)


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return whole_or_float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _pick(record: dict[str, Any], fields: tuple[str, ...], read_back: bool = False) -> dict[str, Any]:
    """The fields, each present. A record read back from a revision (`read_back`: JSON's values, whole
    numbers as ints, as `FactsDecoder` gives them) holds nothing `_plain` would change, so its values
    are taken as they are; only the fields it lacks (added since it was stored) are filled in."""
    if read_back:
        return {name: record.get(name) for name in fields}
    return {name: _plain(record.get(name)) for name in fields}


def organisation_facts(record: dict[str, Any], *, read_back: bool = False) -> dict[str, Any]:
    facts = _pick(record, ORGANISATION_FIELDS, read_back)
    facts["country"] = facts["country"] or ""
    facts["source"] = facts["source"] or ""
    if facts["revenue_year"] is not None:
        facts["revenue_year"] = int(facts["revenue_year"])
    return facts


def model_facts(record: dict[str, Any], *, read_back: bool = False) -> dict[str, Any]:
    facts = _pick(record, MODEL_FIELDS, read_back)
    hardware = record.get("training_hardware")
    facts["training_hardware"] = _pick(hardware, HARDWARE_FIELDS, read_back) if hardware else None
    if facts["training_hardware"] and facts["training_hardware"]["accelerator_count"] is not None:
        facts["training_hardware"]["accelerator_count"] = int(facts["training_hardware"]["accelerator_count"])
    facts["modalities"] = list(record.get("modalities") or [])
    facts["derivation"] = record.get("derivation") or None
    facts["source"] = facts["source"] or ""
    facts["notes"] = facts["notes"] or ""
    return facts


def cluster_facts(record: dict[str, Any], *, read_back: bool = False) -> dict[str, Any]:
    facts = _pick(record, CLUSTER_FIELDS, read_back)
    groups = []
    for group in record.get("groups") or []:
        item = _pick(group, GROUP_FIELDS, read_back)
        item["accelerator_count"] = int(group["accelerator_count"])
        if item["accelerators_per_node"] is not None:
            item["accelerators_per_node"] = int(item["accelerators_per_node"])
        item["peak_ops_per_second"] = (
            _pick(group["peak_ops_per_second"], PEAK_FIELDS, read_back) if group.get("peak_ops_per_second") else None
        )
        groups.append(item)
    facts["groups"] = groups
    facts["links"] = [_pick(link, LINK_FIELDS, read_back) for link in record.get("links") or []]
    facts["source"] = facts["source"] or ""
    facts["notes"] = facts["notes"] or ""
    return facts


def _whole_or_float_of(text: str) -> int | float:
    """A number written with a point or an exponent, as both readers of stored facts read it."""
    return whole_or_float(float(text))


class FactsDecoder(json.JSONDecoder):
    """Reads facts back as they were written: whole numbers as ints of any size (never rounded to a
    float), other numbers as floats. A whole number written as a float (`3.8e+25`, in facts stored
    before figures were kept exactly) reads as the int its shortest form writes, as jsonb prints it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["parse_float"] = _whole_or_float_of
        super().__init__(*args, **kwargs)


_FACTS_DECODER = msgspec.json.Decoder(float_hook=_whole_or_float_of)


def facts_decoded(text: str | bytes) -> Any:
    """Stored facts read from their JSON text as `FactsDecoder` reads them, by one msgspec decoder
    made once: whole numbers written as digits are ints of any size, every other number goes through
    the same `whole_or_float`. What msgspec refuses and Python's reader takes (NaN, a lone surrogate)
    is read by `FactsDecoder`, so the values are the same whichever reads them."""
    try:
        return _FACTS_DECODER.decode(text)
    except msgspec.DecodeError:
        return json.loads(text, cls=FactsDecoder)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def facts_sha256(facts: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(facts).encode("utf-8")).hexdigest()


def changed_fields(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, list[Any]]:
    """Field → [before, after] for every top-level field that differs."""
    if before is None:
        return {}
    return {
        name: [before.get(name), after.get(name)]
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }
