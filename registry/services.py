"""Writes to the registry: submissions from the import command, the API and the admin.

A submission is validated whole before anything is written; then every record is stored in one
transaction. A record whose facts equal its latest revision is left alone; a changed one gets a
new revision (who, when, what changed) and the current row is updated to match it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count

from .facts import (
    changed_fields,
    cluster_facts,
    facts_sha256,
    model_facts,
    organisation_facts,
)
from .interchange import MODEL_REF, Problem, model_ref, validate_records
from .models import (
    Accelerator,
    AcceleratorGroup,
    AIModel,
    Cluster,
    ClusterRevision,
    ModelRevision,
    NetworkLink,
    Organisation,
    OrganisationRevision,
)
from .signals import subjects_changed

LINEAGE_LOCK_KEY = 71402611  # any fixed number: the PostgreSQL advisory lock lineage changes take


class RegistryValidationError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class SubmissionResult:
    created: dict[str, int] = field(default_factory=lambda: {"organisations": 0, "models": 0, "clusters": 0})
    revised: dict[str, int] = field(default_factory=lambda: {"organisations": 0, "models": 0, "clusters": 0})
    unchanged: dict[str, int] = field(default_factory=lambda: {"organisations": 0, "models": 0, "clusters": 0})
    objects: list[tuple[str, Any, str]] = field(default_factory=list)  # (section, object, outcome)
    changed_subjects: list[str] = field(default_factory=list)

    def record(self, section: str, obj: Any, outcome: str) -> None:
        getattr(self, outcome)[section] += 1
        self.objects.append((section, obj, outcome))
        if outcome != "unchanged":
            self.changed_subjects.append(obj.subject_ref)

    def summary(self) -> str:
        parts = []
        for section in ("organisations", "models", "clusters"):
            parts.append(
                f"{section}: {self.created[section]} created, {self.revised[section]} revised, "
                f"{self.unchanged[section]} unchanged"
            )
        return "; ".join(parts)


class RecordExists(Exception):
    """With `only_new`, a record of the document is stored already; nothing was written."""

    def __init__(self, section: str, ref: str) -> None:
        super().__init__(f"{ref} exists already")
        self.section = section
        self.ref = ref


@dataclass
class _Known:
    """What the cross-record checks read, kept for the writes: no row is read twice."""

    organisations: dict[str, Organisation] = field(default_factory=dict)  # stored, by slug
    accelerators: dict[str, Accelerator] = field(default_factory=dict)  # the document's, by slug
    models: dict[str, AIModel] = field(default_factory=dict)  # stored models of the lineages named, by ref


def _check_references(
    cleaned: dict[str, list[dict[str, Any]]], *, organisation_scope: str | None,
    organisations: Iterable[Organisation] = (),
) -> tuple[list[Problem], _Known]:
    """Cross-record checks: organisations, accelerators and base models exist; no lineage cycle.

    Reads only what the document names (its organisations, accelerators and lineages) and is not
    among the `organisations` given, and returns those rows for the writes."""
    problems: list[Problem] = []
    known = _Known(organisations={org.slug: org for org in organisations})
    known_orgs = {rec["slug"] for rec in cleaned["organisations"]}
    seen_orgs: set[str] = set()
    for index, rec in enumerate(cleaned["organisations"]):
        if rec["slug"] in seen_orgs:
            problems.append(Problem(f"organisations[{index}].slug", f"{rec['slug']!r} appears twice"))
        seen_orgs.add(rec["slug"])
        if organisation_scope and rec["slug"] != organisation_scope:
            problems.append(Problem(f"organisations[{index}].slug", f"you may only submit for {organisation_scope!r}"))
    referenced = {rec["organisation"] for rec in cleaned["models"] + cleaned["clusters"]}
    if referenced - set(known.organisations):
        known.organisations.update(
            (org.slug, org) for org in Organisation.objects.filter(slug__in=referenced - set(known.organisations)).order_by())
    known_orgs |= set(known.organisations)
    accelerators = {(rec.get("training_hardware") or {}).get("accelerator") for rec in cleaned["models"]}
    accelerators |= {group.get("accelerator") for rec in cleaned["clusters"] for group in rec["groups"]}
    accelerators.discard(None)
    if accelerators:
        known.accelerators = {a.slug: a for a in Accelerator.objects.filter(slug__in=accelerators)}

    def check_org(path: str, slug: str) -> None:
        if organisation_scope and slug != organisation_scope:
            problems.append(Problem(path, f"you may only submit for {organisation_scope!r}, got {slug!r}"))
        elif slug not in known_orgs:
            problems.append(Problem(path, f"unknown organisation {slug!r}"))

    def check_accelerator(path: str, slug: str | None) -> None:
        if slug is not None and slug not in known.accelerators:
            problems.append(Problem(path, f"unknown accelerator {slug!r}: not in the catalog"))

    doc_models: dict[str, int] = {}
    for index, rec in enumerate(cleaned["models"]):
        ref = model_ref(rec)
        if ref in doc_models:
            problems.append(Problem(f"models[{index}]", f"{ref} appears twice"))
        doc_models[ref] = index
        check_org(f"models[{index}].organisation", rec["organisation"])
        hardware = rec.get("training_hardware")
        if hardware:
            check_accelerator(f"models[{index}].training_hardware.accelerator", hardware.get("accelerator"))

    # Lineage: the document's own base links over the stored ones, read only up the lineages the
    # document names (one query per level), never the whole registry.
    base_of: dict[str, str | None] = {ref: cleaned["models"][index].get("base_model") for ref, index in doc_models.items()}
    wanted = {base for base in base_of.values() if base and base not in base_of}
    while wanted:
        stored = _stored_models(wanted)
        known.models.update(stored)
        for ref, model in stored.items():
            base_of.setdefault(ref, model.base_model.ref if model.base_model else None)
        wanted = {base for base in (base_of[ref] for ref in stored) if base and base not in base_of}
    for ref, index in doc_models.items():
        base = cleaned["models"][index].get("base_model")
        path = f"models[{index}].base_model"
        if base is None:
            continue
        if base == ref:
            problems.append(Problem(path, "a model cannot be its own base model"))
            continue
        if base not in base_of:
            problems.append(Problem(path, f"unknown base model {base!r}"))
            continue
        chain, cursor = [ref], base
        while cursor is not None and cursor not in chain:
            chain.append(cursor)
            cursor = base_of.get(cursor)
        if cursor is not None:
            problems.append(Problem(path, "makes a lineage cycle: " + " → ".join(chain + [cursor])))

    seen_clusters: set[tuple[str, str]] = set()
    for index, rec in enumerate(cleaned["clusters"]):
        key = (rec["organisation"], rec["name"])
        if key in seen_clusters:
            problems.append(Problem(f"clusters[{index}]", f"{key[0]}/{key[1]} appears twice"))
        seen_clusters.add(key)
        check_org(f"clusters[{index}].organisation", rec["organisation"])
        for g, group in enumerate(rec["groups"]):
            check_accelerator(f"clusters[{index}].groups[{g}].accelerator", group.get("accelerator"))
    return problems, known


def _check_limits(cleaned: dict[str, list[dict[str, Any]]]) -> list[Problem]:
    """The registry's limits (settings): REGISTRY_MAX_MODELS_PER_ORGANISATION models in an organisation,
    REGISTRY_MAX_LINEAGE_DEPTH base models above any model, its stored descendants' included. One
    count query; the lineages are read only when the document names base models."""
    max_models, max_depth = settings.REGISTRY_MAX_MODELS_PER_ORGANISATION, settings.REGISTRY_MAX_LINEAGE_DEPTH
    records = {model_ref(rec): (index, rec) for index, rec in enumerate(cleaned["models"])}
    if not records:
        return []
    problems: list[Problem] = []
    by_org: dict[str, list[str]] = {}
    for ref, (_index, rec) in records.items():
        by_org.setdefault(rec["organisation"], []).append(ref)
    counts = dict(AIModel.objects.filter(organisation__slug__in=list(by_org)).values_list("organisation__slug")
                  .annotate(count=Count("pk")).order_by())
    crowded = [slug for slug, refs in by_org.items() if counts.get(slug, 0) + len(refs) > max_models]
    with_base = any(rec.get("base_model") for _index, rec in records.values())
    stored = _stored_models(set(records)) if crowded or with_base else {}
    for slug in crowded:
        new = [records[ref][0] for ref in by_org[slug] if ref not in stored]
        total = counts.get(slug, 0) + len(new)
        if total > max_models:
            first_over = new[max(0, max_models - counts.get(slug, 0))]
            problems.append(Problem(f"models[{first_over}].organisation", f"{slug!r} would have {total} models: an "
                                    f"organisation may have at most {max_models} (REGISTRY_MAX_MODELS_PER_ORGANISATION)"))
    if not with_base:
        return problems
    base_of: dict[str, str | None] = {ref: rec.get("base_model") for ref, (_index, rec) in records.items()}
    wanted = {base for base in base_of.values() if base and base not in base_of}
    while wanted:  # up the lineages the document names, one query a level
        found = _stored_models(wanted)
        base_of.update((ref, model.base_model.ref if model.base_model else None) for ref, model in found.items())
        wanted = {base for base in (base_of[ref] for ref in found) if base and base not in base_of}
    for ref, (index, rec) in records.items():
        depth, seen, cursor = 0, {ref}, base_of.get(ref)
        while cursor is not None and cursor not in seen and depth <= max_depth:  # a cycle is refused elsewhere
            seen.add(cursor)
            depth, cursor = depth + 1, base_of.get(cursor)
        model = stored.get(ref)
        moved = model is not None and rec.get("base_model") != (model.base_model.ref if model.base_model else None)
        if moved and depth <= max_depth:
            # a stored model given a new base moves its descendants down with it
            level, below = [model.pk], 0
            while depth + below <= max_depth and (level := list(AIModel.objects.filter(base_model_id__in=level)
                                                                .values_list("pk", flat=True))):
                below += 1
            depth += below
        if depth > max_depth:
            problems.append(Problem(f"models[{index}].base_model", f"makes a lineage deeper than {max_depth} base models "
                                    "(REGISTRY_MAX_LINEAGE_DEPTH)"))
    return problems


def _stored_models(refs: set[str]) -> dict[str, AIModel]:
    """Those of `refs` that are stored, by ref, with their organisation and base model: one query."""
    keys = [match.groupdict() for match in map(MODEL_REF.match, refs) if match]
    if not keys:
        return {}
    candidates = AIModel.objects.select_related("organisation", "base_model__organisation").filter(
        organisation__slug__in={k["organisation"] for k in keys}, name__in={k["name"] for k in keys},
        version__in={k["version"] for k in keys})
    return {model.ref: model for model in candidates if model.ref in refs}


def _model_order(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Base models before the models derived from them."""
    by_ref = {model_ref(rec): rec for rec in records}
    ordered: list[dict[str, Any]] = []
    placed: set[str] = set()

    def place(ref: str) -> None:
        if ref in placed:
            return
        base = by_ref[ref].get("base_model")
        if base in by_ref:
            place(base)
        placed.add(ref)
        ordered.append(by_ref[ref])

    for ref in by_ref:
        place(ref)
    return ordered


@dataclass
class _Writer:
    """One submission's writes: who and how, the rows read by the checks, what was written."""

    known: _Known
    actor: Any
    via: str
    result: SubmissionResult
    only_new: bool = False

    def organisation(self, slug: str) -> Organisation:
        org = self.known.organisations.get(slug)
        if org is None:  # written earlier in this submission, or created since the check
            org = self.known.organisations[slug] = Organisation.objects.get(slug=slug)
        return org

    def model(self, ref: str) -> AIModel:
        model = self.known.models.get(ref)
        if model is None:
            match = MODEL_REF.match(ref)
            assert match is not None  # validated earlier
            model = AIModel.objects.get(organisation__slug=match["organisation"], name=match["name"],
                                        version=match["version"])
        return model


def _write_organisation(facts: dict[str, Any], writer: _Writer) -> None:
    values = {k: facts[k] for k in ("name", "country", "annual_revenue_usd", "revenue_year", "source")}

    def update(org: Organisation) -> None:
        for key, value in values.items():
            setattr(org, key, value)
        org.save()

    org = _write_revisioned(
        section="organisations",
        lookup=lambda: Organisation.objects.select_for_update().filter(slug=facts["slug"]).first(),
        create=lambda: Organisation.objects.create(slug=facts["slug"], **values),
        update=update,
        revision_model=OrganisationRevision,
        revision_fk="organisation",
        facts=facts,
        writer=writer,
    )
    writer.known.organisations[org.slug] = org


def _model_values(facts: dict[str, Any], writer: _Writer) -> dict[str, Any]:
    hardware = facts["training_hardware"] or {}
    return {
        "parameter_count": facts["parameter_count"],
        "active_parameter_count": facts["active_parameter_count"],
        "training_tokens": facts["training_tokens"],
        "training_compute_ops": facts["training_compute_ops"],
        "training_compute_uncertainty": facts["training_compute_uncertainty"],
        "general_purpose": facts["general_purpose"],
        "primarily_biological_sequence_data": facts["primarily_biological_sequence_data"],
        "modalities": facts["modalities"],
        "base_model": writer.model(facts["base_model"]) if facts["base_model"] else None,
        "derivation": facts["derivation"] or "",
        "fine_tuning_compute_ops": facts["fine_tuning_compute_ops"],
        "training_accelerator": writer.known.accelerators[hardware["accelerator"]] if hardware.get("accelerator") else None,
        "training_accelerator_count": hardware.get("accelerator_count"),
        "training_hours": hardware.get("training_hours"),
        "training_utilization": hardware.get("utilization"),
        "training_compute_cost_usd": facts["training_compute_cost_usd"],
        "training_completed_on": facts["training_completed_on"],
        "released_on": facts["released_on"],
        "source": facts["source"],
        "notes": facts["notes"],
    }


def _write_revisioned(
    *,
    section: str,
    lookup: Callable[[], Any],
    create: Callable[[], Any],
    update: Callable[[Any], None],
    revision_model: type,
    revision_fk: str,
    facts: dict[str, Any],
    writer: _Writer,
) -> Any:
    """Creates, revises or leaves alone one record. The object returned carries the facts and digest
    of its latest revision as `latest_facts` and `latest_sha256` (as `api.access` annotates them), so
    the caller can answer without reading it back."""
    digest = facts_sha256(facts)
    # Only new records: no lookup; an existing one fails the insert on its unique key (RecordExists).
    obj = None if writer.only_new else lookup()
    if obj is None:
        obj = create()
        revision_model.objects.create(
            **{revision_fk: obj}, number=1, facts=facts, facts_sha256=digest, submitted_by=writer.actor,
            submitted_via=writer.via,
        )
        outcome = "created"
    else:
        latest = obj.revisions.order_by("-number").first()
        if latest is not None and latest.facts_sha256 == digest:
            outcome = "unchanged"
        else:
            obj.revision += 1
            update(obj)
            revision_model.objects.create(
                **{revision_fk: obj},
                number=obj.revision,
                facts=facts,
                facts_sha256=digest,
                changed_fields=changed_fields(latest.facts if latest else None, facts),
                submitted_by=writer.actor,
                submitted_via=writer.via,
            )
            outcome = "revised"
    obj.latest_facts, obj.latest_sha256 = facts, digest
    writer.result.record(section, obj, outcome)
    return obj


def _write_model(facts: dict[str, Any], writer: _Writer) -> None:
    organisation = writer.organisation(facts["organisation"])
    values = _model_values(facts, writer)

    def update(model: AIModel) -> None:
        for key, value in values.items():
            setattr(model, key, value)
        model.full_clean(exclude=["organisation", "base_model", "training_accelerator"], validate_unique=False)
        model.save()

    model = _write_revisioned(
        section="models",
        lookup=lambda: AIModel.objects.select_for_update().filter(
            organisation=organisation, name=facts["name"], version=facts["version"]
        ).first(),
        create=lambda: AIModel.objects.create(organisation=organisation, name=facts["name"], version=facts["version"], **values),
        update=update,
        revision_model=ModelRevision,
        revision_fk="model",
        facts=facts,
        writer=writer,
    )
    writer.known.models[model.ref] = model  # a base model of a later record of this document


def _replace_topology(cluster: Cluster, facts: dict[str, Any], accelerators: dict[str, Accelerator], *,
                      new: bool) -> None:
    if not new:
        cluster.links.all().delete()
        cluster.groups.all().delete()
    groups = []
    for group in facts["groups"]:
        peak = group["peak_ops_per_second"] or {}
        groups.append(AcceleratorGroup(
            cluster=cluster,
            name=group["name"],
            datacenter=group["datacenter"],
            accelerator=accelerators[group["accelerator"]] if group["accelerator"] else None,
            accelerator_count=group["accelerator_count"],
            accelerators_per_node=group["accelerators_per_node"],
            network_gbps=group["network_gbps"],
            peak_dense_max_ops_per_second=peak.get("dense_max"),
            peak_dense_16bit_ops_per_second=peak.get("dense_16bit"),
            peak_sparse_max_ops_per_second=peak.get("sparse_max"),
        ))
    if connection.features.can_return_rows_from_bulk_insert:
        AcceleratorGroup.objects.bulk_create(groups)  # one statement; the ids come back for the links
    else:
        for group in groups:
            group.save(force_insert=True)
    by_name = {group.name: group for group in groups}
    if facts["links"]:
        NetworkLink.objects.bulk_create(
            NetworkLink(cluster=cluster, from_group=by_name[link["from"]], to_group=by_name[link["to"]], gbps=link["gbps"])
            for link in facts["links"]
        )


def _write_cluster(facts: dict[str, Any], writer: _Writer) -> None:
    organisation = writer.organisation(facts["organisation"])
    values = {k: facts[k] for k in ("used_for_ai_training", "operational_from", "source", "notes")}
    accelerators = writer.known.accelerators

    def create() -> Cluster:
        cluster = Cluster.objects.create(organisation=organisation, name=facts["name"], **values)
        _replace_topology(cluster, facts, accelerators, new=True)
        return cluster

    def update(cluster: Cluster) -> None:
        for key, value in values.items():
            setattr(cluster, key, value)
        cluster.save()
        _replace_topology(cluster, facts, accelerators, new=False)

    _write_revisioned(
        section="clusters",
        lookup=lambda: Cluster.objects.select_for_update().filter(organisation=organisation, name=facts["name"]).first(),
        create=create,
        update=update,
        revision_model=ClusterRevision,
        revision_fk="cluster",
        facts=facts,
        writer=writer,
    )


def _first_stored(cleaned: dict[str, list[dict[str, Any]]]) -> tuple[str, str] | None:
    """(section, reference) of the first record of the document that is stored, if any."""
    for rec in cleaned["organisations"]:
        if Organisation.objects.filter(slug=rec["slug"]).exists():
            return "organisations", f"organisation:{rec['slug']}"
    for rec in cleaned["models"]:
        if AIModel.objects.filter(organisation__slug=rec["organisation"], name=rec["name"], version=rec["version"]).exists():
            return "models", f"model:{model_ref(rec)}"
    for rec in cleaned["clusters"]:
        if Cluster.objects.filter(organisation__slug=rec["organisation"], name=rec["name"]).exists():
            return "clusters", f"cluster:{rec['organisation']}/{rec['name']}"
    return None


def registry_submit(
    document: Any,
    *,
    actor: Any = None,
    via: str,
    organisation_scope: str | None = None,
    only_new: bool = False,
    organisations: Iterable[Organisation] = (),
    progress: Callable[[int], None] | None = None,
) -> SubmissionResult:
    """Validates the whole interchange document, then stores it in one transaction.

    Raises RegistryValidationError listing every problem, having written nothing. With
    `organisation_scope`, every record must belong to that organisation (a lab's token). With
    `only_new`, every record must be new: one that is stored already raises RecordExists, having
    written nothing. Each record's row is locked while it is revised, so concurrent revisions are
    numbered in order. `organisations` are rows the caller has read already (a lab's own, with its
    token), so that the checks need not read them again.

    The statements, for one new record: the checks read the organisations, accelerators and
    lineages the document names (none when it names none); then the record's row, its first
    revision and what the `subjects_changed` receivers write, in one transaction.
    """
    cleaned, problems = validate_records(document)
    known = _Known()
    if cleaned:
        more, known = _check_references(cleaned, organisation_scope=organisation_scope, organisations=organisations)
        problems += more or _check_limits(cleaned)
    if problems:
        raise RegistryValidationError(problems)
    tick = progress or (lambda n: None)
    for attempt in (1, 2):
        result = SubmissionResult()
        try:
            with transaction.atomic():
                if _lineage_lock(cleaned) or attempt == 2:  # checked again under the lock, or after a conflict
                    problems, known = _check_references(cleaned, organisation_scope=organisation_scope,
                                                        organisations=organisations)
                    if problems or (problems := _check_limits(cleaned)):
                        raise RegistryValidationError(problems)
                writer = _Writer(known=known, actor=actor, via=via, result=result, only_new=only_new)
                for rec in cleaned["organisations"]:
                    _write_organisation(organisation_facts(rec), writer)
                    tick(1)
                for rec in _model_order(cleaned["models"]):
                    _write_model(model_facts(rec), writer)
                    tick(1)
                for rec in cleaned["clusters"]:
                    _write_cluster(cluster_facts(rec), writer)
                    tick(1)
                if result.changed_subjects:
                    subjects_changed.send(sender=registry_submit, subjects=list(result.changed_subjects), actor=actor,
                                          via=via, outcomes={o.subject_ref: outcome for _s, o, outcome in result.objects})
            return result
        except IntegrityError:
            # A concurrent submission created one of these records after this one looked for it: written
            # again, the record is found and revised (or left alone) like any other. With `only_new`,
            # the record found is the answer.
            if only_new and (stored := _first_stored(cleaned)) is not None:
                raise RecordExists(*stored) from None
            if attempt == 2:
                raise
    return result


def _lineage_lock(cleaned: dict[str, list[dict[str, Any]]]) -> bool:
    """Two concurrent submissions could each make one model the other's base (A→B, B→A), each passing
    the cycle check against the lineage before the other. One that sets a base model takes this
    transaction-scoped lock and checks the lineage again under it; true if it took the lock."""
    if connection.vendor != "postgresql" or not any(rec.get("base_model") for rec in cleaned["models"]):
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LINEAGE_LOCK_KEY])
    return True


def record_count(document: Any) -> int:
    if not isinstance(document, dict):
        return 0
    return sum(len(document.get(key) or []) for key in ("organisations", "models", "clusters") if isinstance(document.get(key), list))


FACTS_OF: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "organisation": organisation_facts,
    "model": model_facts,
    "cluster": cluster_facts,
}


def iter_latest_facts(revision_model: type, fk: str, objects: Iterable[Any]) -> list[dict[str, Any]]:
    """Each object's latest revision's facts, in canonical types (jsonb prints 1.5e13 as an integer)."""
    ids = [obj.pk for obj in objects]
    latest: dict[int, dict[str, Any]] = {}
    for revision in revision_model.objects.filter(**{f"{fk}__in": ids}).order_by(fk, "number"):
        latest[getattr(revision, f"{fk}_id")] = revision.facts
    normalise = FACTS_OF[fk]
    return [normalise(latest[pk]) for pk in ids if pk in latest]


def registry_export() -> dict[str, Any]:
    """The whole registry in the interchange format: every record's latest revision, as submitted."""
    organisations = list(Organisation.objects.order_by("slug"))
    models = list(AIModel.objects.select_related("organisation").order_by("organisation__slug", "name", "version"))
    clusters = list(Cluster.objects.select_related("organisation").order_by("organisation__slug", "name"))
    return {
        "format": "compute-threshold-registry/v1",
        "organisations": iter_latest_facts(OrganisationRevision, "organisation", organisations),
        "models": iter_latest_facts(ModelRevision, "model", models),
        "clusters": iter_latest_facts(ClusterRevision, "cluster", clusters),
    }


def current_facts(obj: Organisation | AIModel | Cluster) -> dict[str, Any]:
    """The canonical facts of a record's current row (what an admin edit leaves it as)."""
    if isinstance(obj, Organisation):
        return organisation_facts({f: getattr(obj, f) for f in ("slug", "name", "country", "annual_revenue_usd", "revenue_year", "source")})
    if isinstance(obj, AIModel):
        record = {f: getattr(obj, f) for f in (
            "name", "version", "parameter_count", "active_parameter_count", "training_tokens",
            "training_compute_ops", "training_compute_uncertainty", "general_purpose",
            "primarily_biological_sequence_data", "modalities", "fine_tuning_compute_ops",
            "training_compute_cost_usd", "training_completed_on", "released_on", "source", "notes",
        )}
        record["organisation"] = obj.organisation.slug
        record["base_model"] = obj.base_model.ref if obj.base_model else None
        record["derivation"] = obj.derivation or None
        if obj.training_accelerator_id or obj.training_accelerator_count or obj.training_hours or obj.training_utilization:
            record["training_hardware"] = {
                "accelerator": obj.training_accelerator.slug if obj.training_accelerator else None,
                "accelerator_count": obj.training_accelerator_count,
                "training_hours": obj.training_hours,
                "utilization": obj.training_utilization,
            }
        return model_facts(record)
    groups = list(obj.groups.select_related("accelerator").order_by("id"))
    names = {group.pk: group.name for group in groups}
    return cluster_facts({
        "organisation": obj.organisation.slug,
        "name": obj.name,
        "used_for_ai_training": obj.used_for_ai_training,
        "operational_from": obj.operational_from,
        "source": obj.source,
        "notes": obj.notes,
        "groups": [
            {
                "name": group.name,
                "datacenter": group.datacenter,
                "accelerator": group.accelerator.slug if group.accelerator else None,
                "accelerator_count": group.accelerator_count,
                "accelerators_per_node": group.accelerators_per_node,
                "network_gbps": group.network_gbps,
                "peak_ops_per_second": {
                    "dense_max": group.peak_dense_max_ops_per_second,
                    "dense_16bit": group.peak_dense_16bit_ops_per_second,
                    "sparse_max": group.peak_sparse_max_ops_per_second,
                } if group.peak_dense_max_ops_per_second else None,
            }
            for group in groups
        ],
        "links": [
            {"from": names[link.from_group_id], "to": names[link.to_group_id], "gbps": link.gbps}
            for link in obj.links.order_by("id")
        ],
    })


REVISION_MODELS: dict[type, tuple[type, str]] = {
    Organisation: (OrganisationRevision, "organisation"),
    AIModel: (ModelRevision, "model"),
    Cluster: (ClusterRevision, "cluster"),
}


def revision_record(obj: Organisation | AIModel | Cluster, *, actor: Any, via: str) -> bool:
    """After an edit of the current row (the admin's), keep it as a new revision if its facts changed."""
    revision_model, fk = REVISION_MODELS[type(obj)]
    facts = current_facts(obj)
    digest = facts_sha256(facts)
    latest = revision_model.objects.filter(**{fk: obj}).order_by("-number").first()
    if latest is not None and latest.facts_sha256 == digest:
        return False
    number = (latest.number + 1) if latest else 1
    revision_model.objects.create(
        **{fk: obj},
        number=number,
        facts=facts,
        facts_sha256=digest,
        changed_fields=changed_fields(latest.facts if latest else None, facts),
        submitted_by=actor,
        submitted_via=via,
    )
    type(obj).objects.filter(pk=obj.pk).update(revision=number)
    obj.revision = number
    subjects_changed.send(sender=revision_record, subjects=[obj.subject_ref], actor=actor, via=via,
                          outcomes={obj.subject_ref: "created" if number == 1 else "revised"})
    return True
