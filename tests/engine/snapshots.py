"""Snapshot builders for engine tests: a compact description in, a full snapshot out.

Every interchange field defaults to "not given" (None) so that a case states only the facts it
is about. The accelerator figures are those of shared/data/accelerators.csv for the H100 SXM.
"""

from __future__ import annotations

from typing import Any

ACCELERATORS: dict[str, dict[str, float]] = {
    "nvidia-h100-sxm": {"dense_max": 1.979e15, "dense_16bit": 9.894e14, "sparse_max": 3.9578e15},
    "nvidia-a100-sxm4": {"dense_max": 6.24e14, "dense_16bit": 3.12e14, "sparse_max": 1.248e15},
}

ORGANISATION: dict[str, Any] = {"slug": "acme", "name": "Acme AI", "country": "US",
                                "annual_revenue_usd": 6.0e8, "revenue_year": None}

MODEL_FIELDS = (
    "parameter_count", "active_parameter_count", "training_tokens", "training_compute_ops",
    "training_compute_uncertainty", "base_model", "fine_tuning_compute_ops", "training_hardware",
    "training_compute_cost_usd", "training_completed_on", "released_on", "derivation", "weights_published",
)


def model(**facts: Any) -> dict[str, Any]:
    """A model record: general-purpose text model of Acme unless the facts say otherwise."""
    record: dict[str, Any] = {field: None for field in MODEL_FIELDS}
    record.update(organisation="acme", name="Model", version="1", general_purpose=True,
                  primarily_biological_sequence_data=False, modalities=["text"])
    record.update(facts)
    return record


def ref(record: dict[str, Any]) -> str:
    return f"{record['organisation']}/{record['name']}@{record['version']}"


def _chain(subject: dict[str, Any], lineage: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Fill in base_model references along a lineage (nearest first) unless given."""
    bases = [model(**{"name": f"Base-{i + 1}", **facts}) for i, facts in enumerate(lineage)]
    chain = [subject, *bases]
    for child, parent in zip(chain, chain[1:], strict=False):
        if child.get("base_model") is None:
            child["base_model"] = ref(parent)
    return subject, bases


def model_snapshot(facts: dict[str, Any] | None = None, *, lineage: list[dict[str, Any]] | None = None,
                   organisation: dict[str, Any] | None = None) -> dict[str, Any]:
    subject, bases = _chain(model(**(facts or {})), lineage or [])
    return {"kind": "model", "organisation": {**ORGANISATION, **(organisation or {})}, "model": subject,
            "lineage": bases, "accelerators": ACCELERATORS}


def group(**facts: Any) -> dict[str, Any]:
    record = {"name": "a", "datacenter": "dc-1", "accelerator": "nvidia-h100-sxm", "accelerator_count": 1000,
              "accelerators_per_node": 8, "network_gbps": 400, "peak_ops_per_second": None}
    record.update(facts)
    return record


def cluster_snapshot(facts: dict[str, Any] | None = None, *, organisation: dict[str, Any] | None = None
                     ) -> dict[str, Any]:
    facts = dict(facts or {})
    groups = [group(**{"name": chr(ord("a") + i), **g}) for i, g in enumerate(facts.pop("groups", [{}]))]
    record = {"name": "Hall A", "used_for_ai_training": True, "operational_from": "2023-06-01",
              "groups": groups, "links": facts.pop("links", [])}
    record.update(facts)
    return {"kind": "cluster", "organisation": {**ORGANISATION, **(organisation or {})}, "cluster": record,
            "accelerators": ACCELERATORS}


def organisation_snapshot(organisation: dict[str, Any] | None = None, *,
                          models: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    entries = []
    for i, entry in enumerate(models or []):
        facts = {"name": f"Model-{i + 1}", **(entry.get("model") or {})}
        subject, bases = _chain(model(**facts), entry.get("lineage") or [])
        entries.append({"model": subject, "lineage": bases})
    return {"kind": "organisation", "organisation": {**ORGANISATION, **(organisation or {})}, "models": entries,
            "accelerators": ACCELERATORS}


def snapshot_from_facts(facts: dict[str, Any]) -> dict[str, Any]:
    """A case's `facts` block -> a snapshot: `cluster:` makes a cluster, `models:` an organisation;
    `designations:` are the subject's, as the snapshot builder writes them; `related_designations:`
    those of its base models (or an organisation's models), by model reference."""
    if "cluster" in facts:
        snapshot = cluster_snapshot(facts["cluster"], organisation=facts.get("organisation"))
    elif "models" in facts or facts.get("kind") == "organisation":
        snapshot = organisation_snapshot(facts.get("organisation"), models=facts.get("models"))
    else:
        snapshot = model_snapshot(facts.get("model"), lineage=facts.get("lineage"), organisation=facts.get("organisation"))
    if facts.get("designations"):
        snapshot["designations"] = [{key: str(value) for key, value in d.items()} for d in facts["designations"]]
    if facts.get("related_designations"):
        snapshot["related_designations"] = {
            ref: [{key: str(value) for key, value in d.items()} for d in held]
            for ref, held in facts["related_designations"].items()}
    return snapshot
