"""Writes to the registry: submissions from the import command, the API and the admin.

A submission is validated whole before anything is written; then every record is stored in one
transaction. A record whose facts equal its latest revision is left alone; a changed one gets a
new revision (who, when, what changed) and the current row is updated to match it.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from . import mapping
from .batch import InsertBatch
from .designations import NOT_A_REGULATOR, designation_problems, write_designations
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
    OrganisationModelCount,
    OrganisationRevision,
)
from .names import name_skeleton
from .signals import subjects_changed

LINEAGE_LOCK_KEY = 71402611  # any fixed number: the PostgreSQL advisory lock lineage changes take
# The largest quantity derived from one record's facts (a product like 6 x parameters x tokens, a
# cluster's summed peak): far beyond anything physical, and low enough that a quantity's uncertainty
# band and a lineage's sum of them stay finite. A record whose facts make more is refused.
MAX_DERIVED = 1e300
SECONDS_PER_HOUR = 3600.0


def _as_float(value: float) -> float:
    """A figure (an exact int of any size) as a double for this bound check; beyond a double, infinite."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _too_large(*factors: float | None) -> bool:
    present = [_as_float(f) for f in factors if f is not None]
    if len(present) < len(factors):
        return False
    product = math.prod(present)
    return not math.isfinite(product) or product > MAX_DERIVED


def _peak_of(accelerator: Accelerator | None, own: dict[str, Any] | None) -> float | None:
    figures = [v for v in (own or (accelerator.peak_figures() if accelerator else {})).values() if v is not None]
    return max(figures) if figures else None


def _overflow_problems(cleaned: dict[str, list[dict[str, Any]]], accelerators: dict[str, Accelerator]) -> list[Problem]:
    """Facts each valid alone whose product is no number (1e300 parameters x 1e300 tokens): refused
    by the field that makes it, never evaluated to a determination with no value."""
    problems: list[Problem] = []
    limit = f"{MAX_DERIVED:g}"
    for index, rec in enumerate(cleaned["models"]):
        parameters = rec.get("active_parameter_count") or rec.get("parameter_count")
        if _too_large(6.0, parameters, rec.get("training_tokens")):
            problems.append(Problem(f"models[{index}].training_tokens",
                                    f"6 x parameters x training_tokens exceeds {limit} ops: not a training run"))
        reported = [rec.get("training_compute_ops"), rec.get("fine_tuning_compute_ops")]
        band = 1.0 + (rec.get("training_compute_uncertainty") or 0.0)
        if any(_too_large(value, band) for value in reported) or _too_large(sum(v or 0.0 for v in reported)):
            problems.append(Problem(f"models[{index}].training_compute_ops",
                                    f"the compute with its uncertainty band exceeds {limit} ops"))
        hardware = rec.get("training_hardware") or {}
        peak = _peak_of(accelerators.get(hardware.get("accelerator") or ""), None)
        if _too_large(hardware.get("accelerator_count"), hardware.get("training_hours"), SECONDS_PER_HOUR, peak,
                      hardware.get("utilization") or 1.0):
            problems.append(Problem(f"models[{index}].training_hardware.training_hours",
                                    f"accelerators x hours x peak exceeds {limit} ops: not a training run"))
    for index, rec in enumerate(cleaned["clusters"]):
        total = 0.0
        for g, group in enumerate(rec["groups"]):
            peak = _peak_of(accelerators.get(group.get("accelerator") or ""), group.get("peak_ops_per_second"))
            if _too_large(group["accelerator_count"], peak):
                problems.append(Problem(f"clusters[{index}].groups[{g}].accelerator_count",
                                        f"accelerators x peak exceeds {limit} ops/s"))
            elif peak is not None:
                total += group["accelerator_count"] * _as_float(peak)
        if _too_large(total):
            problems.append(Problem(f"clusters[{index}].groups", f"the cluster's summed peak exceeds {limit} ops/s"))
    return problems


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
    changed_records: list[Any] = field(default_factory=list)  # the records behind changed_subjects, in order
    designations: list[tuple[Any, str]] = field(default_factory=list)  # (Designation, "recorded" | "unchanged")

    def record(self, section: str, obj: Any, outcome: str) -> None:
        getattr(self, outcome)[section] += 1
        self.objects.append((section, obj, outcome))
        if outcome != "unchanged":
            self.changed_subjects.append(obj.subject_ref)
            self.changed_records.append(obj)

    def record_designation(self, designation: Any, outcome: str) -> None:
        """A designation recorded re-evaluates its subject, as a revision of the subject would."""
        self.designations.append((designation, outcome))
        subject = designation.subject
        if outcome == "recorded" and subject.subject_ref not in self.changed_subjects:
            self.changed_subjects.append(subject.subject_ref)
            self.changed_records.append(subject)

    def summary(self) -> str:
        parts = []
        for section in ("organisations", "models", "clusters"):
            parts.append(
                f"{section}: {self.created[section]} created, {self.revised[section]} revised, "
                f"{self.unchanged[section]} unchanged"
            )
        if self.designations:
            recorded = sum(1 for _d, outcome in self.designations if outcome == "recorded")
            parts.append(f"designations: {recorded} recorded, {len(self.designations) - recorded} unchanged")
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
    model_counts: dict[str, int] = field(default_factory=dict)  # stored models of the document's organisations, by slug


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
        if base not in base_of or not _base_model_visible(known.models.get(base), organisation_scope):
            # another lab's unreleased model answers as one that does not exist: nothing about it leaks
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
        for part, limit in (("groups", settings.CLUSTER_MAX_GROUPS), ("links", settings.CLUSTER_MAX_LINKS)):
            if len(rec[part]) > limit:
                problems.append(Problem(f"clusters[{index}].{part}",
                                        f"at most {limit:,} {part} per cluster, got {len(rec[part]):,}"))
        for g, group in enumerate(rec["groups"]):
            check_accelerator(f"clusters[{index}].groups[{g}].accelerator", group.get("accelerator"))
    problems += _overflow_problems(cleaned, known.accelerators)
    problems += _confusable_names(cleaned, known)
    return problems, known


def _stored_organisation_ids(slugs: Iterable[str], known: _Known) -> dict[int, str]:
    """The slugs, by id, of those of `slugs` that are stored organisations (read already by the
    reference checks): a new or unknown organisation has no stored records to compare with."""
    return {known.organisations[slug].pk: slug for slug in slugs if slug in known.organisations}


def _confusable_names(cleaned: dict[str, list[dict[str, Any]]], known: _Known) -> list[Problem]:
    """A name that reads like another one (same skeleton, other spelling) of the same organisation's
    models or clusters, or like another organisation's name, is refused: one query per section, by
    the organisations' ids (their rows are read already). The models' query also counts each
    organisation's models, into `known.model_counts`, for REGISTRY_MAX_MODELS_PER_ORGANISATION."""
    problems: list[Problem] = []
    orgs = cleaned["organisations"]
    if orgs:
        wanted = {name_skeleton(rec["name"]) for rec in orgs}
        taken: dict[str, list[tuple[str, str]]] = {}
        for slug, name, skeleton in Organisation.objects.filter(name_skeleton__in=wanted).values_list(
                "slug", "name", "name_skeleton"):
            taken.setdefault(skeleton, []).append((slug, name))
        for index, rec in enumerate(orgs):
            skeleton = name_skeleton(rec["name"])
            clash = [(slug, name) for slug, name in taken.get(skeleton, []) if slug != rec["slug"]]
            if clash:
                slug, name = clash[0]
                how = "is the name" if name == rec["name"] else f"reads like {name!r}, the name"
                problems.append(Problem(f"organisations[{index}].name", f"{rec['name']!r} {how} of organisation {slug!r}"))
            taken.setdefault(skeleton, []).append((rec["slug"], rec["name"]))
    for section, table, noun in (("models", AIModel, "model"), ("clusters", Cluster, "cluster")):
        records = cleaned[section]
        if not records:
            continue
        wanted = {name_skeleton(rec["name"]) for rec in records}
        named: dict[tuple[str, str], set[str]] = {}
        slug_of = _stored_organisation_ids({rec["organisation"] for rec in records}, known)
        counts: dict[str, int] = {}
        for org_id, name, skeleton, count in _stored_names(table, slug_of, wanted) if slug_of else ():
            if name is None:
                counts[slug_of[org_id]] = count
            else:
                named.setdefault((slug_of[org_id], skeleton), set()).add(name)
        if table is AIModel:
            known.model_counts = counts
        for index, rec in enumerate(records):
            key = (rec["organisation"], name_skeleton(rec["name"]))
            others = sorted(named.get(key, set()) - {rec["name"]})
            if others:
                problems.append(Problem(f"{section}[{index}].name", f"{rec['name']!r} reads like {others[0]!r}, a "
                                        f"{noun} {rec['organisation']!r} already has: choose a name that cannot be "
                                        "mistaken for it"))
            named.setdefault(key, set()).add(rec["name"])
    return problems


def _base_model_visible(model: AIModel | None, organisation_scope: str | None) -> bool:
    """A lab may name another organisation's model as a base only once it is released (on or before
    today); its own models, the document's own, and any model for a regulator, always."""
    if model is None or organisation_scope is None or model.organisation.slug == organisation_scope:
        return True
    return model.released_on is not None and model.released_on <= timezone.localdate()


def _stored_names(table: type[AIModel] | type[Cluster], slug_of: dict[int, str],
                  skeletons: set[str]) -> list[tuple[int, str | None, str | None, int | None]]:
    """(organisation id, name, skeleton, None) for each stored record of these organisations whose
    name has one of these skeletons (an indexed lookup); for models, in the same statement,
    (organisation id, None, None, count) for each organisation that has had models, the count
    read from what the database keeps (`OrganisationModelCount`: a lookup, where counting would
    take a step per model). Written from the models' columns rather than compiled by the ORM for
    every submission (twice the time of the statement itself); values are bound as parameters."""
    quote = connection.ops.quote_name
    meta = table._meta
    db_table = quote(meta.db_table)
    organisation, name, skeleton = (quote(meta.get_field(f).column) for f in ("organisation", "name", "name_skeleton"))
    ids, wanted = list(slug_of), sorted(skeletons)
    in_ids = ", ".join(["%s"] * len(ids))
    sql = (f"SELECT {organisation}, {name}, {skeleton}, NULL FROM {db_table} "
           f"WHERE {organisation} IN ({in_ids}) AND {skeleton} IN ({', '.join(['%s'] * len(wanted))})")
    params: list[Any] = [*ids, *wanted]
    if table is AIModel:
        counts, counted, count = _model_count_names()
        sql += f" UNION ALL SELECT {counted}, NULL, NULL, {count} FROM {counts} WHERE {counted} IN ({in_ids})"
        params += ids
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _check_limits(cleaned: dict[str, list[dict[str, Any]]], known: _Known) -> list[Problem]:
    """The registry's limits (settings): REGISTRY_MAX_MODELS_PER_ORGANISATION models in an organisation
    (counted by the reference checks, `known.model_counts`), REGISTRY_MAX_LINEAGE_DEPTH base models
    above any model, its stored descendants' included. No query unless the document names base
    models (their lineages) or an organisation would pass its limit (which of its models are stored)."""
    max_models, max_depth = settings.REGISTRY_MAX_MODELS_PER_ORGANISATION, settings.REGISTRY_MAX_LINEAGE_DEPTH
    records = {model_ref(rec): (index, rec) for index, rec in enumerate(cleaned["models"])}
    if not records:
        return []
    problems: list[Problem] = []
    by_org: dict[str, list[str]] = {}
    for ref, (_index, rec) in records.items():
        by_org.setdefault(rec["organisation"], []).append(ref)
    counts = known.model_counts
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
    """Those of `refs` that are stored, by ref, with their organisation and base model: one query, by
    the subject ref each model keeps (never every model matching one of the refs' organisations, names
    and versions taken apart)."""
    wanted = [f"model:{ref}" for ref in refs if MODEL_REF.match(ref)]
    if not wanted:
        return {}
    found = AIModel.objects.select_related("organisation", "base_model__organisation").filter(
        stored_subject_ref__in=wanted)
    return {model.ref: model for model in found}


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
    # new rows written together, with what the `subjects_changed` receivers add, in one statement
    batch: InsertBatch | None = None

    def insert(self, obj: Any) -> Any:
        """A new row: added to the submission's batch, or saved now if it has none."""
        if self.batch is not None:
            return self.batch.add(obj)
        obj.save(force_insert=True)
        return obj

    def organisation(self, slug: str) -> Organisation:
        org = self.known.organisations.get(slug)
        if org is None:  # written earlier in this submission, or created since the check
            org = self.known.organisations[slug] = Organisation.objects.get(slug=slug)
        return org

    def resolve(self, how: str, value: str) -> Any:
        """The row a reference of the facts names (`registry.mapping.Resolve`)."""
        return self.known.accelerators[value] if how == mapping.ACCELERATOR else self.model(value)

    def model(self, ref: str) -> AIModel:
        model = self.known.models.get(ref)
        if model is None:
            match = MODEL_REF.match(ref)
            assert match is not None  # validated earlier
            model = AIModel.objects.get(organisation__slug=match["organisation"], name=match["name"],
                                        version=match["version"])
        return model


def _write_organisation(facts: dict[str, Any], writer: _Writer) -> None:
    values = mapping.row_values("organisation", facts, resolve=writer.resolve)

    def update(org: Organisation) -> None:
        for key, value in values.items():
            setattr(org, key, value)
        org.save()

    org = _write_revisioned(
        section="organisations",
        lookup=lambda: Organisation.objects.select_for_update(no_key=True).filter(slug=facts["slug"]).first(),
        create=lambda: Organisation.objects.create(slug=facts["slug"], **values),
        update=update,
        revision_model=OrganisationRevision,
        revision_fk="organisation",
        facts=facts,
        writer=writer,
    )
    writer.known.organisations[org.slug] = org


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
        writer.insert(revision_model(
            **{revision_fk: obj}, number=1, facts=facts, facts_sha256=digest, submitted_by=writer.actor,
            submitted_via=writer.via,
        ))
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
    values = {key: value for key, value in mapping.row_values("model", facts, resolve=writer.resolve).items()
              if key not in ("name", "version")}

    def create() -> AIModel:
        model = AIModel(organisation=organisation, name=facts["name"], version=facts["version"], **values)
        model.set_stored_fields()  # what save() sets, for a row written with the batch
        return writer.insert(model)

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
        create=create,
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
    groups = [
        AcceleratorGroup(cluster=cluster, **mapping.row_values("group", group, resolve=lambda _how, slug: accelerators[slug]))
        for group in facts["groups"]
    ]
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
    values = {key: value for key, value in mapping.row_values("cluster", facts, resolve=writer.resolve).items()
              if key != "name"}
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
    may_designate: bool = False,
) -> SubmissionResult:
    """Validates the whole interchange document, then stores it in one transaction.

    Raises RegistryValidationError listing every problem, having written nothing. With
    `organisation_scope`, every record must belong to that organisation (a lab's token). With
    `only_new`, every record must be new: one that is stored already raises RecordExists, having
    written nothing. Each record's row is locked while it is revised, so concurrent revisions are
    numbered in order. `organisations` are rows the caller has read already (a lab's own, with its
    token), so that the checks need not read them again. Only with `may_designate` (a regulator: the
    import command, the admin, the API with a regulator token) may the document carry `designations`;
    otherwise it is refused, naming the field.

    The statements, for one new record: the checks read the organisations, accelerators and
    lineages the document names (none when it names none); then the record's row, its first
    revision and what the `subjects_changed` receivers write, in one transaction. New models alone
    (`only_new`, a lab's submission) are written with those rows in one statement (`registry.batch`),
    atomic on its own: no transaction is opened around it unless a base model's lineage lock needs one.
    """
    if isinstance(document, dict) and document.get("designations") not in (None, []) and (
            not may_designate or organisation_scope is not None):
        raise RegistryValidationError([Problem("designations", NOT_A_REGULATOR)])
    cleaned, problems = validate_records(document)
    known = _Known()
    if cleaned:
        more, known = _check_references(cleaned, organisation_scope=organisation_scope, organisations=organisations)
        problems += (more or _check_limits(cleaned, known)) + designation_problems(cleaned)
    if problems:
        raise RegistryValidationError(problems)
    tick = progress or (lambda n: None)
    for attempt in (1, 2):
        result = SubmissionResult()
        batch = InsertBatch() if only_new and _models_alone(cleaned) else None
        # A batch written in one statement, with no lineage lock to take, needs no transaction around it;
        # inside the caller's, a savepoint still keeps a refused statement from aborting the caller's.
        alone = (batch is not None and batch.in_one_statement and not _takes_lineage_lock(cleaned)
                 and not connection.in_atomic_block)
        try:
            with contextlib.nullcontext() if alone else transaction.atomic():
                if _lineage_lock(cleaned) or attempt == 2:  # checked again under the lock, or after a conflict
                    problems, known = _check_references(cleaned, organisation_scope=organisation_scope,
                                                        organisations=organisations)
                    if problems or (problems := _check_limits(cleaned, known)):
                        raise RegistryValidationError(problems)
                _lock_model_counts(cleaned, known)
                _lock_organisations(cleaned)
                writer = _Writer(known=known, actor=actor, via=via, result=result, only_new=only_new, batch=batch)
                for rec in cleaned["organisations"]:
                    _write_organisation(organisation_facts(rec), writer)
                    tick(1)
                for rec in _model_order(cleaned["models"]):
                    _write_model(model_facts(rec), writer)
                    tick(1)
                for rec in cleaned["clusters"]:
                    _write_cluster(cluster_facts(rec), writer)
                    tick(1)
                for designation, outcome in write_designations(cleaned["designations"], actor=actor, via=via):
                    result.record_designation(designation, outcome)
                    tick(1)
                if result.changed_subjects:
                    subjects_changed.send(sender=registry_submit, subjects=list(result.changed_subjects),
                                          records=list(result.changed_records), actor=actor,
                                          via=via, outcomes={o.subject_ref: outcome for _s, o, outcome in result.objects},
                                          batch=writer.batch)
                if writer.batch is not None:
                    writer.batch.execute()
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


def _model_count_names() -> tuple[str, str, str]:
    """The kept model counts' table, its organisation column and its count column, quoted."""
    meta, quote = OrganisationModelCount._meta, connection.ops.quote_name
    return quote(meta.db_table), quote(meta.get_field("organisation").column), quote(meta.get_field("count").column)


def _lock_organisations(cleaned: dict[str, list[dict[str, Any]]]) -> None:
    """A document revising several stored organisations takes their rows in the order of their ids
    before writing any (after the model counts, which every document of several organisations'
    models takes first). Each is otherwise locked as it is revised, in the document's order: two
    documents revising two organisations in opposite orders would each hold a row the other waits
    for (a deadlock, one of them refused). The lock is the one an `UPDATE` of columns other than the
    key takes (FOR NO KEY UPDATE): a concurrent document adding a model to the organisation checks
    its reference (FOR KEY SHARE) without waiting for it."""
    slugs = [rec["slug"] for rec in cleaned["organisations"]]
    if len(slugs) < 2 or connection.vendor != "postgresql":  # SQLite takes no row locks: nothing to order
        return
    list(Organisation.objects.select_for_update(no_key=True).filter(slug__in=slugs).order_by("pk")
         .values_list("pk", flat=True))


def _lock_model_counts(cleaned: dict[str, list[dict[str, Any]]], known: _Known) -> None:
    """A document of several stored organisations' models, on PostgreSQL, takes their model counts'
    rows (`OrganisationModelCount`) in the order of the organisations' ids before writing any model.
    The triggers that keep the counts lock each row as the organisation's first model is written, in
    the document's order: two such documents naming two organisations in opposite orders would
    otherwise each hold a row the other waits for (a deadlock, one of them refused)."""
    ids = sorted({known.organisations[rec["organisation"]].pk for rec in cleaned["models"]
                  if rec["organisation"] in known.organisations})
    if len(ids) < 2 or connection.vendor != "postgresql":
        return
    table, organisation, count = _model_count_names()
    with connection.cursor() as cursor:  # an existing row is locked by its no-op update, a new one by its insert
        cursor.execute(f"INSERT INTO {table} AS counted ({organisation}, {count}) "
                       f"SELECT id, 0 FROM unnest(%s::bigint[]) AS id ORDER BY id "
                       f"ON CONFLICT ({organisation}) DO UPDATE SET {count} = counted.{count}", [ids])


def _models_alone(cleaned: dict[str, list[dict[str, Any]]]) -> bool:
    """A document of new models only: their rows and revisions are plain inserts, written with the
    batch. Organisations, clusters (their topology) and designations are written through the ORM."""
    return bool(cleaned["models"]) and not (cleaned["organisations"] or cleaned["clusters"] or cleaned["designations"])


def _takes_lineage_lock(cleaned: dict[str, list[dict[str, Any]]]) -> bool:
    """Whether the document sets a base model, on PostgreSQL: its writes take the lineage lock."""
    return connection.vendor == "postgresql" and any(rec.get("base_model") for rec in cleaned["models"])


def _lineage_lock(cleaned: dict[str, list[dict[str, Any]]]) -> bool:
    """Two concurrent submissions could each make one model the other's base (A→B, B→A), each passing
    the cycle check against the lineage before the other. One that sets a base model takes this
    transaction-scoped lock and checks the lineage again under it; true if it took the lock."""
    if not _takes_lineage_lock(cleaned):
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LINEAGE_LOCK_KEY])
    return True


SECTIONS = {"organisation": "organisations", "model": "models", "cluster": "clusters"}
IDENTITY = {"organisation": ("slug",), "model": ("organisation", "name", "version"), "cluster": ("organisation", "name")}


def identity_problems(kind: str, record: dict[str, Any], current: dict[str, Any]) -> list[Problem]:
    """A revision keeps the record's identity (the fields its subject reference is made of): one
    that changes any of them is refused, whatever channel it came through."""
    section = SECTIONS[kind]
    return [
        Problem(f"{section}[0].{name}", f"cannot be changed by a revision (it is {current[name]!r}); "
                                        "submit a new record instead")
        for name in IDENTITY[kind]
        if name in record and record[name] != current[name]
    ]


def record_save(
    *,
    kind: str,
    record: dict[str, Any],
    current: dict[str, Any] | None,
    actor: Any,
    via: str,
    organisation_scope: str | None,
    only_new: bool = False,
    organisations: Iterable[Organisation] = (),
) -> tuple[Any, str]:
    """Stores one record (an admin save, an API request): `current` is the facts of the record it
    revises (None for a new one), whose identity it must keep. Validation, references, lineage,
    revisions and the outbox are `registry_submit`'s. Returns (object, "created" | "revised" |
    "unchanged"); raises RegistryValidationError (paths `models[0].name`), having written nothing."""
    if current is not None:
        problems = identity_problems(kind, record, current)
        if problems:
            raise RegistryValidationError(problems)
    document: dict[str, list[Any]] = {"organisations": [], "models": [], "clusters": []}
    document[SECTIONS[kind]] = [record]
    result = registry_submit(document, actor=actor, via=via, organisation_scope=organisation_scope,
                             only_new=only_new, organisations=organisations)
    _section, obj, outcome = result.objects[0]
    return obj, outcome


def record_count(document: Any) -> int:
    if not isinstance(document, dict):
        return 0
    return sum(len(document.get(key) or []) for key in ("organisations", "models", "clusters", "designations")
               if isinstance(document.get(key), list))


def designation_record(*, record: dict[str, Any], actor: Any, via: str) -> tuple[Any, str]:
    """Records one designation (the admin, the API with a regulator token): validated and written as a
    submission's are. Returns (Designation, "recorded" | "unchanged"); raises RegistryValidationError
    (paths `designations[0].kind`), having written nothing."""
    result = registry_submit({"designations": [record]}, actor=actor, via=via, may_designate=True)
    return result.designations[0]
