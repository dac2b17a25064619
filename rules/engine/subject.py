"""One subject (a model, cluster or organisation snapshot) with its quantities and facts,
each computed once and shared by every regime evaluated on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

from . import quantities as q
from .cluster import cluster_peak_ops_per_second
from .exact import exact


@dataclass(frozen=True, slots=True)
class NameSpec:
    """A name a condition may use: which subject kinds have it, and what it is."""

    kinds: frozenset[str]
    type: str  # "number" | "bool" | "list"
    unit: str | None = None
    needs_network: bool = False


MODEL, CLUSTER, ORGANISATION = "model", "cluster", "organisation"
_M, _C, _O = frozenset({MODEL}), frozenset({CLUSTER}), frozenset({ORGANISATION})

QUANTITIES: dict[str, NameSpec] = {
    "training_compute_ops": NameSpec(_M, "number", "ops"),
    "cumulative_training_compute_ops": NameSpec(_M, "number", "ops"),
    "fine_tuning_compute_ops": NameSpec(_M, "number", "ops"),
    "base_model_cumulative_training_compute_ops": NameSpec(_M, "number", "ops"),
    "compute_cost_usd": NameSpec(_M, "number", "usd"),
    "base_model_compute_cost_usd": NameSpec(_M, "number", "usd"),
    "parameter_count": NameSpec(_M, "number", "parameters"),
    "active_parameter_count": NameSpec(_M, "number", "parameters"),
    "cluster_peak_ops_per_second": NameSpec(_C, "number", "ops_per_second", needs_network=True),
    "annual_revenue_usd": NameSpec(_O, "number", "usd"),
    "preceding_year_revenue_usd": NameSpec(_O, "number", "usd"),
    "organisation_max_cumulative_training_compute_ops": NameSpec(_O, "number", "ops"),
}
FACTS: dict[str, NameSpec] = {
    "general_purpose": NameSpec(_M, "bool"),
    "primarily_biological_sequence_data": NameSpec(_M, "bool"),
    "is_fine_tune": NameSpec(_M, "bool"),
    "is_distillation": NameSpec(_M, "bool"),
    "base_model_provider_is_another_organisation": NameSpec(_M, "bool"),
    "weights_published": NameSpec(_M, "bool"),
    "used_for_ai_training": NameSpec(_C, "bool"),
    "modalities": NameSpec(_M, "list"),
}


class Arguments(NamedTuple):
    """What a cluster quantity needs from its test: the network threshold and the reading."""

    network_threshold_gbps: float
    network_operator: str
    reading: str


class Operand(NamedTuple):
    """A number as a condition sees it: value, band, facts it lacked, whether it exists at all.
    Numbers are exact (ints and Fractions, `rules.engine.exact`)."""

    value: float | None
    low: float | None
    high: float | None
    missing: tuple[str, ...] = ()
    applicable: bool = True


class SubjectRef(NamedTuple):
    kind: str
    organisation: str | None
    name: str | None
    version: str | None

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()

    def __str__(self) -> str:
        if self.kind == MODEL:
            return f"model:{self.organisation}/{self.name}@{self.version}"
        if self.kind == CLUSTER:
            return f"cluster:{self.organisation}/{self.name}"
        return f"organisation:{self.organisation}"


def existence(kind: str, record: dict[str, Any]) -> tuple[date, str] | None:
    """The date a subject came into existence and the fact it is read from: a model's
    training_completed_on, else its released_on; a cluster's operational_from (None when not given,
    and for an organisation)."""
    fields = {MODEL: ("training_completed_on", "released_on"), CLUSTER: ("operational_from",)}.get(kind, ())
    for name in fields:
        value = record.get(name)
        if value:
            return (value if isinstance(value, date) else date.fromisoformat(str(value))), name
    return None


def subject_ref(snapshot: dict[str, Any]) -> SubjectRef:
    """The subject a snapshot describes, as DESIGN.md writes it."""
    kind = snapshot["kind"]
    organisation = (snapshot.get("organisation") or {}).get("slug")
    if kind == MODEL:
        model = snapshot["model"]
        return SubjectRef(kind, model.get("organisation") or organisation, model.get("name"), model.get("version"))
    if kind == CLUSTER:
        return SubjectRef(kind, organisation, snapshot["cluster"].get("name"), None)
    return SubjectRef(kind, organisation, None, None)


class Subject:
    """A snapshot plus a cache of the quantities derived from it.

    `prefix` starts the fact paths it names as missing: `models.` for the subject itself,
    `models[org/name@version].` for a base model or an organisation's model seen from another subject.
    `as_of` is the date the law is applied on (None: no date); `hypothetical` asks about the subject
    as it stands today rather than as the world stood on `as_of`.
    """

    __slots__ = ("snapshot", "kind", "ref", "accelerators", "prefix", "as_of", "hypothetical",
                 "_cache", "_operands", "_base", "_models")

    def __init__(self, snapshot: dict[str, Any], *, prefix: str = "models.", as_of: date | None = None,
                 hypothetical: bool = False) -> None:
        self.snapshot = snapshot
        self.as_of = as_of
        self.hypothetical = hypothetical
        self.kind = snapshot["kind"]
        self.ref = subject_ref(snapshot)
        self.accelerators = snapshot.get("accelerators") or {}
        self.prefix = prefix
        self._cache: dict[tuple, q.Quantity] = {}
        self._operands: dict[tuple, Operand] = {}
        self._base: tuple[Subject | None, tuple[str, ...]] | None = None
        self._models: list[Subject] | None = None

    def _model_subject(self, model: dict[str, Any], lineage: list[dict[str, Any]]) -> Subject:
        snapshot = {"kind": MODEL, "organisation": None, "model": model, "lineage": lineage,
                    "accelerators": self.accelerators}
        related = self.snapshot.get("related_designations")
        if related:
            # a base model or an organisation's model keeps the designations recorded for it, and
            # passes the map on down its own lineage
            snapshot["related_designations"] = related
            if related.get(q.model_ref(model)):
                snapshot["designations"] = related[q.model_ref(model)]
        return Subject(snapshot, prefix=f"models[{q.model_ref(model)}].", as_of=self.as_of,
                       hypothetical=self.hypothetical)

    def base_subject(self) -> tuple[Subject | None, tuple[str, ...]]:
        """A model's base model as a subject of its own (a fine-tune's original, a distillation's
        teacher): (None, ()) without a base model, (None, (its path,)) when it is not in the registry."""
        if self._base is None:
            model = self.snapshot.get("model") or {}
            lineage = self.snapshot.get("lineage") or []
            base_ref = model.get("base_model") if self.kind == MODEL else None
            if not base_ref:
                self._base = (None, ())
            elif not lineage:
                self._base = (None, (f"models[{base_ref}]",))
            else:
                self._base = (self._model_subject(lineage[0], lineage[1:]), ())
        return self._base

    def born_after_as_of(self) -> tuple[date, str] | None:
        """(date, field) when this subject came into existence after the as-of date; None when it
        existed then, its date is not known, or the question is hypothetical (the subject as it
        stands today)."""
        if self.as_of is None or self.hypothetical:
            return None
        record = self.snapshot.get("model") if self.kind == MODEL else self.snapshot.get("cluster")
        born = existence(self.kind, record or {})
        return born if born is not None and born[0] > self.as_of else None

    def model_entries(self) -> list[dict[str, Any]]:
        """An organisation's models that existed on the as-of date (all of them when hypothetical,
        without an as-of date, or for a model whose dates are not given)."""
        entries = (self.snapshot.get("models") or []) if self.kind == ORGANISATION else []
        if self.as_of is None or self.hypothetical:
            return list(entries)
        return [entry for entry in entries
                if (born := existence(MODEL, entry.get("model") or {})) is None or born[0] <= self.as_of]

    def models_left_out(self) -> list[str]:
        """The organisation's models left out because they did not exist yet on the as-of date."""
        kept = {id(entry) for entry in self.model_entries()}
        return [q.model_ref(entry["model"]) for entry in (self.snapshot.get("models") or [])
                if self.kind == ORGANISATION and id(entry) not in kept]

    def model_subjects(self) -> list[Subject]:
        """An organisation's models that existed on the as-of date, each a subject of its own (empty
        for a model or cluster)."""
        if self._models is None:
            self._models = [self._model_subject(entry["model"], entry.get("lineage") or [])
                            for entry in self.model_entries()]
        return self._models

    def quantity(self, name: str, arguments: Arguments | None = None) -> q.Quantity:
        key = (name, arguments)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._compute(name, arguments)
        return found

    def operand(self, name: str, arguments: Arguments | None = None) -> Operand:
        key = (name, arguments)
        operand = self._operands.get(key)
        if operand is None:
            found = self.quantity(name, arguments)
            operand = self._operands[key] = Operand(exact(found.value), exact(found.low), exact(found.high),
                                                    tuple(found.missing), found.applicable)
        return operand

    def _compute(self, name: str, arguments: Arguments | None) -> q.Quantity:
        snapshot, accelerators, prefix = self.snapshot, self.accelerators, self.prefix
        if self.kind == MODEL:
            model, lineage = snapshot["model"], snapshot.get("lineage") or []
            if name == "training_compute_ops":
                return q.own_training_run(model, prefix=prefix, accelerators=accelerators)
            if name == "cumulative_training_compute_ops":
                return q.lineage_sum(model, lineage, prefix=prefix, accelerators=accelerators)
            if name == "fine_tuning_compute_ops":
                return q.fine_tuning_run(model, prefix=prefix, accelerators=accelerators)
            if name == "base_model_cumulative_training_compute_ops":
                return q.base_model_cumulative(model, lineage, accelerators=accelerators)
            if name == "compute_cost_usd":
                return q.compute_cost(model, prefix=prefix)
            if name == "base_model_compute_cost_usd":
                return q.base_model_cost(model, lineage)
            if name in ("parameter_count", "active_parameter_count"):
                return q.reported_quantity(name, model.get(name), unit="parameters", path=prefix + name)
        if self.kind == CLUSTER and name == "cluster_peak_ops_per_second":
            return cluster_peak_ops_per_second(
                snapshot["cluster"], network_threshold_gbps=arguments.network_threshold_gbps,
                network_operator=arguments.network_operator, reading=arguments.reading,
                accelerators=accelerators)
        if self.kind == ORGANISATION:
            if name == "annual_revenue_usd":
                organisation = snapshot.get("organisation") or {}
                return q.reported_quantity(name, organisation.get(name), unit="usd",
                                           path="organisations.annual_revenue_usd")
            if name == "preceding_year_revenue_usd":
                return q.preceding_year_revenue(snapshot.get("organisation") or {}, as_of=self.as_of)
            if name == "organisation_max_cumulative_training_compute_ops":
                return q.organisation_max_cumulative(self.model_entries(), accelerators=accelerators)
        return q.not_applicable(name, QUANTITIES[name].unit or "", f"{name} does not apply to a {self.kind}")

    def flag(self, name: str) -> tuple[bool | None, tuple[str, ...]]:
        """A boolean fact, or (None, (fact path,)) when it was not given."""
        if self.kind == CLUSTER:
            value = self.snapshot["cluster"].get(name)
            return (None, (f"clusters.{name}",)) if value is None else (bool(value), ())
        model = self.snapshot.get("model") or {}
        if name == "is_fine_tune":
            # a modification of its base model; a distillation trains a new model from a teacher
            return bool(model.get("base_model")) and model.get("derivation") != "distillation", ()
        if name == "is_distillation":
            return model.get("derivation") == "distillation", ()
        if name == "base_model_provider_is_another_organisation":
            # false without a base model; undecided when the base is not in the registry
            base, missing = self.base_subject()
            if base is None:
                return (None, missing) if missing else (False, ())
            return (base.snapshot["model"].get("organisation") != model.get("organisation")), ()
        value = model.get(name)
        return (None, (f"{self.prefix}{name}",)) if value is None else (bool(value), ())

    def designated(self, regime: str | None, kind: str) -> bool:
        """Whether a designation of `kind` under `regime` is in effect on the as-of date: recorded
        for this subject and decided on or before it (with no as-of date, any recorded one)."""
        as_of = self.as_of.isoformat() if self.as_of is not None else None
        return any(
            entry.get("kind") == kind and (regime is None or entry.get("regime") == regime)
            and (as_of is None or str(entry.get("decided_on") or "9999-12-31") <= as_of)
            for entry in self.snapshot.get("designations") or ()
        )

    def items(self, name: str) -> tuple[list[str] | None, tuple[str, ...]]:
        """A list fact (modalities), or (None, (fact path,)) when it was not given."""
        value = (self.snapshot.get("model") or {}).get(name)
        return (None, (f"{self.prefix}{name}",)) if value is None else (list(value), ())
