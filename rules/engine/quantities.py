"""Quantities the law asks about, derived from a subject's facts by a named method, with a band.

Each function returns a `Quantity`: value, uncertainty band [low, high], unit, method, the worked
arithmetic as text, its inputs, and the facts it lacked. Arithmetic is exact (`exact`: ints and
Fractions, a float taken as the decimal it writes); a band's low end is never below zero. Fact paths follow the interchange:
`models.training_tokens` for the subject model, `models[org/name@version].x` for another model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any

from .defaults import default, price_in_force
from .exact import at_least_zero, exact, plain, plain_tree
from .formatting import formula_number

SECONDS_PER_HOUR = 3600
REPORTED = "reported"
ARCHITECTURE = "architecture-based"
HARDWARE = "hardware-based"
LINEAGE = "lineage-sum"
PRICE = "price-table"
NOT_APPLICABLE = "not-applicable"
MISSING = "missing"


@dataclass(slots=True)
class Quantity:
    """A derived number with its band; `applicable` False means it does not exist for the subject."""

    name: str
    value: float | None
    low: float | None
    high: float | None
    unit: str
    method: str
    formula: str
    inputs: dict[str, Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    applicable: bool = True
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "value": plain(self.value), "low": plain(self.low), "high": plain(self.high),
            "unit": self.unit, "method": self.method, "formula": self.formula,
            "inputs": plain_tree(self.inputs), "missing": list(self.missing),
            "applicable": self.applicable, "notes": list(self.notes),
        }


def banded(value: float, fraction: float | None) -> tuple[float, float]:
    """(low, high) of `value` with a relative uncertainty `fraction` (0.3 = +/-30 %), exactly; the low
    end is never below zero (an uncertainty above 1 is refused as input, and clamped here)."""
    value = exact(value)
    if not fraction:
        return value, value
    fraction = exact(fraction)
    return at_least_zero(exact(value * (1 - fraction))), exact(value * (1 + fraction))


def model_ref(model: dict[str, Any]) -> str:
    return f"{model.get('organisation')}/{model.get('name')}@{model.get('version')}"


def missing_quantity(name: str, unit: str, missing: list[str], formula: str) -> Quantity:
    return Quantity(name, None, None, None, unit, MISSING, formula, missing=missing)


def not_applicable(name: str, unit: str, why: str) -> Quantity:
    return Quantity(name, None, None, None, unit, NOT_APPLICABLE, why, applicable=False)


def reported_quantity(name: str, value: float | None, *, unit: str, path: str,
                      uncertainty: float | None = None) -> Quantity:
    """A figure as submitted, with the submitter's own band if any."""
    if value is None:
        return missing_quantity(name, unit, [path], f"{path} not given")
    value = exact(value)
    low, high = banded(value, uncertainty)
    band = f" ± {formula_number(uncertainty * 100)} % (submitter's uncertainty)" if uncertainty else ""
    return Quantity(name, value, low, high, unit, REPORTED, f"{formula_number(value)} {unit} as reported{band}",
                    inputs={path: value})


def _date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def architecture_estimate(model: dict[str, Any], *, name: str, prefix: str) -> Quantity:
    """6 x active parameters x tokens (Guidelines Annex A.2.2); active, never total, for MoE."""
    active = model.get("active_parameter_count")
    parameters = active if active is not None else model.get("parameter_count")
    tokens = model.get("training_tokens")
    missing = ([] if parameters is not None else [prefix + "parameter_count"]) + (
        [] if tokens is not None else [prefix + "training_tokens"])
    if missing:
        return missing_quantity(name, "ops", missing, "architecture-based estimate needs parameters and tokens")
    factor, parameters, tokens = exact(default("architecture_ops_per_parameter_token")), exact(parameters), exact(tokens)
    value = factor * parameters * tokens
    low, high = banded(value, default("estimate_uncertainty"))
    kind = "active parameters (mixture of experts)" if active is not None else "parameters"
    formula = f"{formula_number(factor)} × {formula_number(parameters)} {kind} × {formula_number(tokens)} tokens = {formula_number(value)} ops"
    inputs = {"parameters": parameters, "parameters_kind": "active" if active is not None else "total",
              "training_tokens": tokens, "ops_per_parameter_token": factor}
    return Quantity(name, value, low, high, "ops", ARCHITECTURE, formula, inputs=inputs)


def accelerator_peak(accelerator: str | None, *, reading: str, accelerators: dict[str, Any],
                     own: dict[str, Any] | None = None) -> tuple[float | None, str, str | None]:
    """(peak ops/s per accelerator, reading used, note) at `reading`, falling back to dense_max."""
    figures = own if own else accelerators.get(accelerator or "")
    if not figures:
        return None, reading, None
    peak = figures.get(reading)
    if peak is None and reading != "dense_max":
        peak = figures.get("dense_max")
        return peak, "dense_max", f"{accelerator or 'own figures'} has no {reading} figure: dense_max used"
    return peak, reading, None


def hardware_estimate(model: dict[str, Any], *, name: str, prefix: str,
                      accelerators: dict[str, Any]) -> Quantity:
    """accelerators x hours x 3600 x peak x utilization (Guidelines Annex A.2.1: C = N·L·H·U)."""
    hardware = model.get("training_hardware")
    path = prefix + "training_hardware"
    if not hardware:
        return missing_quantity(name, "ops", [path], "hardware-based estimate needs training_hardware")
    reading = default("hardware_estimate_reading")
    slug = hardware.get("accelerator")
    peak, used, note = accelerator_peak(slug, reading=reading, accelerators=accelerators,
                                        own=hardware.get("peak_ops_per_second"))
    count, hours, utilization = (hardware.get(key) for key in ("accelerator_count", "training_hours", "utilization"))
    missing = [f"{path}.{key}" for key, val in (("accelerator_count", count), ("training_hours", hours),
                                                  ("utilization", utilization)) if val is None]
    if peak is None:
        missing.append(f"{path}.accelerator" if not slug else f"accelerators.{slug}.{reading}")
    if missing:
        return missing_quantity(name, "ops", missing, "hardware-based estimate incomplete")
    count, hours, peak, utilization = exact(count), exact(hours), exact(peak), exact(utilization)
    value = exact(count * hours * SECONDS_PER_HOUR * peak * utilization)
    low, high = banded(value, default("estimate_uncertainty"))
    formula = (f"{formula_number(count)} {slug or 'accelerators'} × {formula_number(hours)} h × {SECONDS_PER_HOUR} s/h × "
               f"{formula_number(peak)} ops/s ({used}) × {formula_number(utilization)} utilization = {formula_number(value)} ops")
    inputs = {"accelerator": slug, "accelerator_count": count, "training_hours": hours,
              "peak_ops_per_second": peak, "reading": used, "utilization": utilization}
    return Quantity(name, value, low, high, "ops", HARDWARE, formula, inputs=inputs,
                    notes=[note] if note else [])


def own_training_run(model: dict[str, Any], *, prefix: str, accelerators: dict[str, Any],
                     name: str = "training_compute_ops") -> Quantity:
    """This model's own run: for a fine-tune, the modification run; else the original run."""
    uncertainty = model.get("training_compute_uncertainty")
    has_base = bool(model.get("base_model"))
    reported_fields = (["fine_tuning_compute_ops"] if has_base else []) + ["training_compute_ops"]
    for field_name in reported_fields:
        if model.get(field_name) is not None:
            quantity = reported_quantity(name, model[field_name], unit="ops", path=prefix + field_name,
                                         uncertainty=uncertainty)
            if has_base and field_name == "training_compute_ops":
                quantity.notes.append("reported training_compute_ops taken as the modification run "
                                      "(no fine_tuning_compute_ops given)")
            return quantity
    architecture = architecture_estimate(model, name=name, prefix=prefix)
    if architecture.value is not None:
        return architecture
    hardware = hardware_estimate(model, name=name, prefix=prefix, accelerators=accelerators)
    if hardware.value is not None:
        return hardware
    missing = [prefix + reported_fields[0]] + architecture.missing + hardware.missing
    return missing_quantity(name, "ops", missing, "no reported figure and no estimate possible")


def lineage_sum(model: dict[str, Any], lineage: list[dict[str, Any]], *, prefix: str,
                accelerators: dict[str, Any], name: str = "cumulative_training_compute_ops") -> Quantity:
    """This model's run plus every base model's along the lineage; values and bands add."""
    lineage = counted_lineage(model, lineage)
    chain = [(model, prefix)] + [(base, f"models[{model_ref(base)}].") for base in lineage]
    runs = [(member, own_training_run(member, prefix=path, accelerators=accelerators)) for member, path in chain]
    missing = [path for _, run in runs for path in run.missing]
    last = chain[-1][0]
    unknown_base = bool(last.get("base_model")) and last.get("derivation") != "distillation"
    if unknown_base:
        missing.append(f"models[{last['base_model']}]")
    complete = not missing
    low = exact(sum(run.low for _, run in runs if run.low is not None))
    value = exact(sum(run.value for _, run in runs)) if complete else None
    high = exact(sum(run.high for _, run in runs)) if complete else None
    terms = " + ".join(f"{model_ref(member)} {formula_number(run.value)} ({run.method})" for member, run in runs)
    if unknown_base:
        terms += f" + {last['base_model']} unknown (not in the registry)"
    formula = f"{terms} = {formula_number(value) if complete else 'at least ' + formula_number(low)} ops"
    if len(runs) == 1 and not unknown_base:
        formula = runs[0][1].formula
    inputs = {"runs": [{"model": model_ref(member), "value": run.value, "low": run.low, "high": run.high,
                        "method": run.method, "formula": run.formula} for member, run in runs]}
    estimates = {run.method for _, run in runs} - {REPORTED, MISSING}
    method = runs[0][1].method if len(runs) == 1 else LINEAGE
    quantity = Quantity(name, value, low if low or complete else None, high, "ops", method, formula,
                        inputs=inputs, missing=missing)
    if len(runs) > 1 and estimates:
        quantity.notes.append("lineage includes estimates: " + ", ".join(sorted(estimates)))
    return quantity


def counted_lineage(model: dict[str, Any], lineage: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bases whose compute counts: the chain stops at a distillation, whose teacher's
    training is not this model's (Guidelines Annex A.1 excludes parent models used in distillation)."""
    counted: list[dict[str, Any]] = []
    member = model
    for base in lineage:
        if member.get("derivation") == "distillation":
            break
        counted.append(base)
        member = base
    return counted


def fine_tuning_run(model: dict[str, Any], *, prefix: str, accelerators: dict[str, Any]) -> Quantity:
    """The modification run of a model that has a base model; not applicable to a base model."""
    if not model.get("base_model"):
        return not_applicable("fine_tuning_compute_ops", "ops", "the model has no base model: no modification run")
    return own_training_run(model, prefix=prefix, accelerators=accelerators, name="fine_tuning_compute_ops")


def base_model_cumulative(model: dict[str, Any], lineage: list[dict[str, Any]], *,
                          accelerators: dict[str, Any]) -> Quantity:
    """The base model's cumulative training compute (its run plus its own bases)."""
    name = "base_model_cumulative_training_compute_ops"
    base_ref = model.get("base_model")
    if not base_ref:
        return not_applicable(name, "ops", "the model has no base model")
    if not lineage:
        return missing_quantity(name, "ops", [f"models[{base_ref}]"], f"base model {base_ref} not in the registry")
    base = lineage[0]
    return lineage_sum(base, lineage[1:], prefix=f"models[{model_ref(base)}].", accelerators=accelerators,
                       name=name)


PRICE_RANGE_VALUE = {"midpoint": lambda low, high: Fraction(low + high) / 2}  # exact


def price_figure(usd: float) -> str:
    """A price per accelerator-hour as the table gives it: `2.00`, `12.29`, `1.844`."""
    return f"{usd:.2f}" if round(usd, 2) == usd else f"{usd:g}"


def compute_cost(model: dict[str, Any], *, prefix: str) -> Quantity:
    """Own run's cost: reported, else accelerator-hours x the range of published cloud prices for the
    period in which training started (band low to high, value per default("price_range_value"))."""
    name, unit = "compute_cost_usd", "usd"
    if model.get("training_compute_cost_usd") is not None:
        return reported_quantity(name, model["training_compute_cost_usd"], unit=unit,
                                 path=prefix + "training_compute_cost_usd")
    hardware = model.get("training_hardware") or {}
    slug, count, hours = hardware.get("accelerator"), hardware.get("accelerator_count"), hardware.get("training_hours")
    if not (slug and count is not None and hours is not None):
        return missing_quantity(name, unit, [prefix + "training_compute_cost_usd", prefix + "training_hardware"],
                                "no reported cost and no accelerator-hours to price")
    completed, released = _date(model.get("training_completed_on")), _date(model.get("released_on"))
    if completed is not None:
        start = (datetime.combine(completed, datetime.min.time()) - timedelta(hours=float(hours))).date()
        basis = "training_completed_on minus training_hours"
    elif released is not None:
        start, basis = released, "released_on (no training_completed_on)"
    else:
        return missing_quantity(name, unit, [prefix + "training_compute_cost_usd", prefix + "training_completed_on"],
                                "no date to choose the price in force at the start of training")
    price = price_in_force(slug, start)
    if price is None:
        return missing_quantity(name, unit, [prefix + "training_compute_cost_usd", f"prices.{slug}@{start}"],
                                f"no published price for {slug} on {start} in rules/engine/prices.yaml")
    # The law's "average market price" lies somewhere in the range of published prices: the band is
    # that range; the value is its midpoint, for reading only (the tests are decided on the band).
    accelerator_hours = exact(exact(count) * exact(hours))
    low, high = exact(accelerator_hours * exact(price.low)), exact(accelerator_hours * exact(price.high))
    value = exact(PRICE_RANGE_VALUE[default("price_range_value")](low, high))
    formula = (f"{formula_number(count)} × {formula_number(hours)} h = {formula_number(accelerator_hours)} {slug}-hours × "
               f"${price_figure(price.low)}–${price_figure(price.high)}/h (published prices {price.period}, "
               f"{price.provenance}) = ${formula_number(low)}–${formula_number(high)}; "
               f"midpoint ${formula_number(value)}")
    caveat = f"Price range for {slug}, {price.period}, is {price.provenance}: {price.caveat}"
    inputs = {"accelerator": slug, "accelerator_hours": accelerator_hours, "training_started_on": start.isoformat(),
              "start_basis": basis,
              "usd_per_accelerator_hour": {"low": price.low, "high": price.high},
              "price_period": {"effective_from": price.effective_from.isoformat(),
                               "effective_to": price.effective_to.isoformat() if price.effective_to else None},
              "price_sources": [{"url": source.url, "title": source.title, "figure": source.figure,
                                 "refers_to": source.refers_to, "kind": source.kind} for source in price.sources],
              "price_provenance": price.provenance, "price_caveat": caveat}
    return Quantity(name, value, low, high, unit, PRICE, formula, inputs=inputs, notes=[caveat])


def base_model_cost(model: dict[str, Any], lineage: list[dict[str, Any]]) -> Quantity:
    """The base model's own training run's cost (reported, or from the price table)."""
    name = "base_model_compute_cost_usd"
    base_ref = model.get("base_model")
    if not base_ref:
        return not_applicable(name, "usd", "the model has no base model")
    if not lineage:
        return missing_quantity(name, "usd", [f"models[{base_ref}]"], f"base model {base_ref} not in the registry")
    found = compute_cost(lineage[0], prefix=f"models[{model_ref(lineage[0])}].")
    found.name = name
    return found


def organisation_max_cumulative(entries: list[dict[str, Any]], *, accelerators: dict[str, Any]) -> Quantity:
    """The largest cumulative training compute among the organisation's models."""
    name = "organisation_max_cumulative_training_compute_ops"
    if not entries:
        return not_applicable(name, "ops", "the organisation has no models in the registry")
    sums = [lineage_sum(entry["model"], entry.get("lineage") or [], prefix=f"models[{model_ref(entry['model'])}].",
                        accelerators=accelerators) for entry in entries]
    missing = [path for quantity in sums for path in quantity.missing]
    lows = [quantity.low for quantity in sums if quantity.low is not None]
    low = max(lows) if lows else None
    value = max(quantity.value for quantity in sums) if not missing else None
    high = max(quantity.high for quantity in sums) if not missing else None
    best = max(sums, key=lambda quantity: quantity.low or 0.0)
    best_ref = best.inputs["runs"][0]["model"]
    formula = f"max over {len(sums)} models: {best_ref} {formula_number(best.value)} ops"
    inputs = {"models": [{"model": quantity.inputs["runs"][0]["model"], "value": quantity.value,
                          "low": quantity.low, "high": quantity.high, "method": quantity.method} for quantity in sums]}
    return Quantity(name, value, low, high, "ops", "maximum", formula, inputs=inputs, missing=missing)


def preceding_year_revenue(organisation: dict[str, Any], *, as_of: date | None) -> Quantity:
    """The organisation's annual gross revenue for the calendar year before `as_of` (SB 53's "in the
    preceding calendar year"): `annual_revenue_usd` when its `revenue_year` is that year; the figure
    as given, with a note saying it is taken as that year's, when no year is declared; otherwise
    missing, naming the fact for that year and the year that was given."""
    name, path = "preceding_year_revenue_usd", "organisations.annual_revenue_usd"
    if as_of is None:
        return not_applicable(name, "usd", "no as-of date: the preceding calendar year is not known")
    wanted = as_of.year - 1
    value, year = organisation.get("annual_revenue_usd"), organisation.get("revenue_year")
    if year is not None and int(year) != wanted:
        return missing_quantity(
            name, "usd", [f"{path} for {wanted}"],
            f"{path} is given for {int(year)}, not for {wanted}, the calendar year preceding "
            f"{as_of.isoformat()}")
    if value is None:
        return missing_quantity(name, "usd", [f"{path} for {wanted}"], f"{path} for {wanted} not given")
    if year is None:
        note = (f"organisations.revenue_year is not declared: the revenue as given is taken as "
                f"{wanted}'s, the calendar year preceding {as_of.isoformat()} (today's reading)")
        return Quantity(name, value, value, value, "usd", REPORTED,
                        f"{formula_number(value)} usd as reported, year not declared: taken as {wanted}'s",
                        inputs={path: value, "organisations.revenue_year": None}, notes=[note])
    return Quantity(name, value, value, value, "usd", REPORTED,
                    f"{formula_number(value)} usd as reported for {wanted}",
                    inputs={path: value, "organisations.revenue_year": int(year)})
