"""How far a subject is from each threshold: for a model, the operations left before each
compute threshold (in reference-accelerator hours at 100 % utilization and in USD); for a
cluster, how many more accelerators of its largest component's kind reach each threshold.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date
from fractions import Fraction
from typing import Any

from .cluster import OPERATORS
from .defaults import default, price_in_force
from .evaluate import evaluate_subject
from .exact import exact, plain_tree
from .library import RuleVersion
from .quantities import PRICE_RANGE_VALUE, SECONDS_PER_HOUR, price_figure
from .subject import QUANTITIES, Subject

READINGS = ("dense_max", "dense_16bit")


def max_dense_parameters(*, training_tokens: float, threshold_ops: float) -> float:
    """Largest dense model trainable on `training_tokens` within `threshold_ops` (C = 6·P·D)."""
    return threshold_ops / (default("architecture_ops_per_parameter_token") * training_tokens)


@dataclass(slots=True)
class ModelHeadroom:
    """Operations left before one model threshold, and what they would take."""

    regime: str
    test: str
    quantity: str
    value: float | None
    operator: str
    threshold: float | None
    parameter: str | None
    already_above: bool | None
    remaining_ops: float | None
    reference_accelerator: str
    accelerator_hours: dict[str, float | None]
    usd: dict[str, float | None]
    usd_low: dict[str, float | None]
    usd_high: dict[str, float | None]
    max_dense_parameters: float | None
    note: str

    def to_dict(self) -> dict[str, Any]:
        return plain_tree(asdict(self))  # exact figures as JSON numbers


@dataclass(slots=True)
class ClusterHeadroom:
    """Accelerators a cluster would need to add to its largest component to reach one threshold."""

    regime: str
    test: str
    value: float | None
    operator: str
    threshold: float | None
    parameter: str | None
    reading: str
    already_above: bool | None
    remaining_ops_per_second: float | None
    accelerator: str | None
    more_accelerators: int | None
    note: str

    def to_dict(self) -> dict[str, Any]:
        return plain_tree(asdict(self))  # exact figures as JSON numbers


def _model_items(subject: Subject, regime: str, version: RuleVersion, as_of: date,
                 reference: str, peaks: dict[str, Any]) -> list[ModelHeadroom]:
    items = []
    tokens = subject.snapshot["model"].get("training_tokens")
    price = price_in_force(reference, as_of)
    evaluation = evaluate_subject(subject, version=version, regime=regime, as_of=as_of)
    for outcome in evaluation.tests:
        for spec, (left, right, _, _) in zip(outcome.specs, outcome.records, strict=True):
            if not spec.numeric or QUANTITIES.get(spec.quantity_name or "", None) is None:
                continue
            if QUANTITIES[spec.quantity_name].unit != "ops" or spec.parameter_side != "right":
                continue
            threshold, value = right.value, left.value
            above = None if value is None or threshold is None else OPERATORS[spec.operator](value, threshold)
            remaining = None if above is None or above else threshold - value
            hours = {reading: (remaining / (peaks[reading] * SECONDS_PER_HOUR)
                               if remaining is not None and peaks.get(reading) else None) for reading in READINGS}
            usd_low = {reading: (hours[reading] * price.low if hours[reading] is not None and price else None)
                       for reading in READINGS}
            usd_high = {reading: (hours[reading] * price.high if hours[reading] is not None and price else None)
                        for reading in READINGS}
            usd = {reading: (PRICE_RANGE_VALUE[default("price_range_value")](usd_low[reading], usd_high[reading])
                             if usd_low[reading] is not None else None) for reading in READINGS}
            note = (f"{reference}-hours at 100 % utilization; USD at "
                    + (f"${price_figure(price.low)}–${price_figure(price.high)}/h "
                       f"(published prices {price.period}, {price.provenance})"
                       if price else f"no published price for {reference} on {as_of}"))
            if above:
                note = "already above the threshold"
            elif value is None:
                note = "value unknown: " + ", ".join(left.missing or ("not applicable",))
            items.append(ModelHeadroom(
                regime, outcome.id, spec.quantity, value, spec.operator, threshold, spec.parameter, above,
                remaining, reference, hours, usd, usd_low, usd_high,
                max_dense_parameters(training_tokens=tokens, threshold_ops=threshold)
                if tokens and threshold is not None else None, note))
    return items


def _cluster_items(subject: Subject, regime: str, version: RuleVersion, as_of: date) -> list[ClusterHeadroom]:
    items = []
    evaluation = evaluate_subject(subject, version=version, regime=regime, as_of=as_of)
    for outcome in evaluation.tests:
        for spec, (left, right, _, _) in zip(outcome.specs, outcome.records, strict=True):
            if spec.quantity_name != "cluster_peak_ops_per_second" or not spec.numeric:
                continue
            quantity = subject.quantity(spec.quantity_name, spec.arguments)
            reading, threshold, value = spec.arguments.reading, right.value, left.value
            kind = quantity.inputs.get("component_accelerator")
            peak = (subject.accelerators.get(kind) or {}).get(reading) or (subject.accelerators.get(kind) or {}).get(
                "dense_max")
            above = None if value is None or threshold is None else OPERATORS[spec.operator](value, threshold)
            remaining = None if above is None or above else threshold - value
            more, note = None, ""
            if above:
                more, note = 0, "already above the threshold"
            elif remaining is not None and peak:
                ratio = Fraction(exact(remaining)) / exact(peak)  # exact: a whole multiple is not rounded off
                more = math.floor(ratio) + 1 if spec.operator == ">" else math.ceil(ratio)
                note = f"{kind} at {reading}, added to the largest component, on its network"
            elif remaining is not None:
                note = f"no {reading} figure for {kind}"
            items.append(ClusterHeadroom(regime, outcome.id, value, spec.operator, threshold, spec.parameter, reading,
                                         above, remaining, kind, more, note))
    return items


def headroom(snapshot: dict[str, Any], *, versions: dict[str, RuleVersion | None],
             as_of: date) -> list[ModelHeadroom] | list[ClusterHeadroom]:
    """Headroom of a model or cluster to every threshold of the versions given (None: skipped)."""
    subject = Subject(snapshot)
    reference = default("reference_accelerator")
    peaks = subject.accelerators.get(reference) or {}
    items: list = []
    for regime, version in versions.items():
        if version is None:
            continue
        if subject.kind == "model":
            items.extend(_model_items(subject, regime, version, as_of, reference, peaks))
        elif subject.kind == "cluster":
            items.extend(_cluster_items(subject, regime, version, as_of))
    return items
