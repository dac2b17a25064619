"""A synthetic registry for the benchmark: organisations, models with lineage chains, mixture-of-
experts and biological models, and clusters spread over several datacenters.

Records are interchange-format dictionaries (DESIGN.md, "Interchange (v1)"), drawn from a seeded
generator so a size and a seed always give the same registry. `document()` returns them as one
interchange document (small sizes, for `registry_submit`); `write_registry()` stores them straight
into an empty registry in batches, with the same rows and revisions `registry_submit` would write.
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from registry import mapping

MODELS_PER_ORGANISATION = 100
ACCELERATORS = (
    "nvidia-a100-sxm4", "nvidia-h100-sxm", "nvidia-h100-pcie", "nvidia-h200-sxm", "nvidia-b200",
    "nvidia-gb200", "amd-mi300x", "google-tpu-v5p", "aws-trainium2", "intel-gaudi3",
)
MODALITIES = (["text"], ["text", "image"], ["text", "image", "audio"], ["code"], ["image"])
FIRST_DAY = date(2019, 1, 1)


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return float(f"{math.exp(rng.uniform(math.log(low), math.log(high))):.4g}")


def _day(rng: random.Random) -> str:
    return (FIRST_DAY + timedelta(days=rng.randrange(0, 8 * 365))).isoformat()


@dataclass
class _Organisation:
    """What the generator remembers of one organisation while drawing its models."""

    slug: str
    refs: list[str] = field(default_factory=list)
    last_derived: str | None = None


def _record(table: tuple[mapping.Field, ...], **values: Any) -> dict[str, Any]:
    """A record with the fields of its table in `registry.mapping`, in order: those not given are null."""
    names = mapping.fact_names(table)
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(f"not fields of the record: {', '.join(unknown)}")
    return {name: values.get(name) for name in names}


def organisation_count(models: int, clusters: int) -> int:
    return max(1, math.ceil(max(models, clusters) / MODELS_PER_ORGANISATION))


def _organisation_record(rng: random.Random, index: int) -> dict[str, Any]:
    revenue = _log_uniform(rng, 1e6, 2e11) if rng.random() < 0.8 else None
    return _record(
        mapping.ORGANISATION, slug=f"org-{index:05d}", name=f"Synthetic Organisation {index}",
        country=rng.choice(["US", "EU", "GB", "CN", "JP"]), annual_revenue_usd=revenue,
        revenue_year=2025 if revenue is not None else None, source="synthetic",
    )


def _base_model_record(rng: random.Random, org: str, name: str) -> dict[str, Any]:
    """A model trained from scratch: reported, architecture-based, mixture-of-experts, hardware-based or biological."""
    kind = rng.random()
    parameters = _log_uniform(rng, 1e8, 2e12)
    record = _record(
        mapping.MODEL, organisation=org, name=name, version=str(rng.randint(1, 3)), parameter_count=parameters,
        general_purpose=rng.choice([True, True, True, False, None]), primarily_biological_sequence_data=False,
        modalities=list(rng.choice(MODALITIES)),
        training_compute_cost_usd=_log_uniform(rng, 1e5, 5e8) if rng.random() < 0.4 else None,
        released_on=_day(rng), source="synthetic", notes="",
    )
    if kind < 0.25:  # reported figure, sometimes with the submitter's own band
        record["training_compute_ops"] = _log_uniform(rng, 1e21, 5e27)
        record["training_compute_uncertainty"] = rng.choice([None, None, 0.1, 0.3, 0.5])
        record["training_tokens"] = _log_uniform(rng, 1e10, 3e13)
    elif kind < 0.55:  # architecture-based: 6 x parameters x tokens
        record["training_tokens"] = _log_uniform(rng, 1e10, 4e13)
    elif kind < 0.70:  # mixture of experts: active parameters, never total
        record["active_parameter_count"] = float(f"{parameters * rng.uniform(0.03, 0.3):.4g}")
        record["training_tokens"] = _log_uniform(rng, 1e11, 4e13)
    elif kind < 0.85:  # hardware-based: accelerators x hours x peak x utilization
        record["training_hardware"] = _record(
            mapping.HARDWARE, accelerator=rng.choice(ACCELERATORS), accelerator_count=rng.choice([64, 512, 2048, 8192, 16384, 50000]),
            training_hours=float(rng.randint(24, 3000)), utilization=rng.choice([None, 0.3, 0.4, 0.5]),
        )
    elif kind < 0.93:  # trained primarily on biological sequence data
        record.update(primarily_biological_sequence_data=True, modalities=["protein"], general_purpose=False,
                      training_tokens=_log_uniform(rng, 1e9, 1e13))
    else:  # facts missing: only the parameter count is known
        record["general_purpose"] = None
    return record


def _derived_model_record(rng: random.Random, org: str, name: str, base: str) -> dict[str, Any]:
    """A fine-tune or distillation of another model of the same organisation."""
    record = _base_model_record(rng, org, name)
    record.update(base_model=base, derivation=rng.choice(["fine_tuning", "fine_tuning", "distillation"]),
                  primarily_biological_sequence_data=False, training_hardware=None, active_parameter_count=None)
    if rng.random() < 0.5:
        record.update(fine_tuning_compute_ops=_log_uniform(rng, 1e19, 5e25), training_compute_ops=None)
    else:
        record.update(training_tokens=_log_uniform(rng, 1e8, 2e12), training_compute_ops=None,
                      training_compute_uncertainty=None)
    return record


def _model_records(rng: random.Random, org: _Organisation, count: int, start: int) -> Iterator[dict[str, Any]]:
    for index in range(start, start + count):
        name = f"model-{index:07d}"
        if org.refs and rng.random() < 0.3:
            # half extend the organisation's latest chain (lineage depth grows), half branch anywhere
            base = org.last_derived if org.last_derived and rng.random() < 0.5 else rng.choice(org.refs)
            record = _derived_model_record(rng, org.slug, name, base)
            org.last_derived = f"{org.slug}/{name}@{record['version']}"
        else:
            record = _base_model_record(rng, org.slug, name)
        org.refs.append(f"{org.slug}/{name}@{record['version']}")
        yield record


def _cluster_record(rng: random.Random, org: str, index: int) -> dict[str, Any]:
    datacenters = [f"dc-{n}" for n in range(1, rng.randint(1, 3) + 1)]
    groups = []
    for g in range(rng.randint(1, 4)):
        group = _record(
            mapping.GROUP, name=f"g{g}", datacenter=rng.choice(datacenters), accelerator=rng.choice(ACCELERATORS),
            accelerator_count=int(_log_uniform(rng, 64, 150000)), accelerators_per_node=8,
            network_gbps=rng.choice([None, 100.0, 200.0, 400.0, 800.0]),
        )
        if rng.random() < 0.1:  # the operator's own figures instead of the catalog's
            dense = _log_uniform(rng, 1e14, 5e15)
            group.update(accelerator=None, peak_ops_per_second=_record(
                mapping.PEAK, dense_max=dense, dense_16bit=dense / 2, sparse_max=dense * 2))
        groups.append(group)
    links = [
        _record(mapping.LINK, **{"from": groups[g - 1]["name"], "to": groups[g]["name"],
                                 "gbps": rng.choice([50.0, 100.0, 200.0, 400.0, 800.0, 3200.0])})
        for g in range(1, len(groups)) if rng.random() < 0.7
    ]
    return _record(
        mapping.CLUSTER, organisation=org, name=f"cluster-{index:06d}", used_for_ai_training=rng.choice([True, True, True, False, None]),
        groups=groups, links=links, operational_from=_day(rng), source="synthetic", notes="",
    )


def generate(*, models: int, clusters: int, seed: int = 1) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]]:
    """(organisation, its models, its clusters) for each organisation, models spread evenly."""
    rng = random.Random(seed)
    count = organisation_count(models, clusters)
    model_start = cluster_start = 0
    for index in range(count):
        org_record = _organisation_record(rng, index)
        org = _Organisation(org_record["slug"])
        n_models = models // count + (1 if index < models % count else 0)
        n_clusters = clusters // count + (1 if index < clusters % count else 0)
        model_records = list(_model_records(rng, org, n_models, model_start))
        cluster_records = [_cluster_record(rng, org.slug, cluster_start + c) for c in range(n_clusters)]
        model_start += n_models
        cluster_start += n_clusters
        yield org_record, model_records, cluster_records


def document(*, models: int, clusters: int, seed: int = 1) -> dict[str, Any]:
    """The synthetic registry as one interchange document (for small sizes)."""
    doc: dict[str, Any] = {"organisations": [], "models": [], "clusters": []}
    for org, model_records, cluster_records in generate(models=models, clusters=clusters, seed=seed):
        doc["organisations"].append(org)
        doc["models"] += model_records
        doc["clusters"] += cluster_records
    return doc


def write_registry(
    *, models: int, clusters: int, seed: int = 1, batch: int = 5000, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Stores the synthetic registry in an empty registry; returns the number of each record written."""
    from .writer import RegistryWriter

    writer = RegistryWriter(batch=batch)
    for org, model_records, cluster_records in generate(models=models, clusters=clusters, seed=seed):
        writer.add(org, model_records, cluster_records)
        if progress:
            progress(1 + len(model_records) + len(cluster_records))
    writer.flush()
    writer.finish()
    return writer.counts
