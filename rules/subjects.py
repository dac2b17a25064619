"""Subjects as the engine sees them: references parsed, and snapshots of the registry's facts.

A snapshot is built from each record's latest revision (the facts as submitted), never from the
current row, so a determination can be replayed from the snapshot it stores. Building works in
chunks with a bounded number of queries per chunk, whatever the chunk's size. A subject's
designations not withdrawn (`registry.models.Designation`) are its snapshot's `designations`.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import ExpressionWrapper, F, TextField

from registry.facts import cluster_facts, facts_decoded, model_facts, organisation_facts
from registry.interchange import subject_parts
from registry.models import (
    Accelerator,
    AIModel,
    Cluster,
    ClusterRevision,
    Designation,
    ModelRevision,
    Organisation,
    OrganisationRevision,
)

from .engine.quantities import model_ref


class SubjectError(ValueError):
    pass


@dataclass(frozen=True)
class SubjectKey:
    kind: str
    organisation: str
    name: str | None = None
    version: str | None = None

    @property
    def ref(self) -> str:
        if self.kind == "model":
            return f"model:{self.organisation}/{self.name}@{self.version}"
        if self.kind == "cluster":
            return f"cluster:{self.organisation}/{self.name}"
        return f"organisation:{self.organisation}"


def parse_subject(ref: str) -> SubjectKey:
    parts = subject_parts(ref.strip())
    if parts is None:
        raise SubjectError(
            f"{ref!r} is not a subject: write model:ORG/NAME@VERSION, cluster:ORG/NAME or organisation:ORG"
        )
    return SubjectKey(*parts)


@dataclass
class SubjectSnapshot:
    key: SubjectKey
    subject_id: int
    revision: int
    snapshot: dict[str, Any]


def accelerator_figures() -> dict[str, dict[str, float | None]]:
    return {a.slug: a.peak_figures() for a in Accelerator.objects.all()}


def _latest(revision_model: type, fk: str, ids: Iterable[int]) -> dict[int, tuple[int, dict[str, Any]]]:
    """Object id → (revision number, facts) of its latest revision: one query."""
    ids = list(ids)
    if not ids:
        return {}
    # the facts as their stored text, read by `facts_decoded` rather than the field's own reader, which
    # makes a `FactsDecoder` for every row: the same values, for about half the CPU
    rows = revision_model.objects.filter(**{f"{fk}_id__any": ids, "number": F(f"{fk}__revision")}).values_list(
        f"{fk}_id", "number", ExpressionWrapper(F("facts"), output_field=TextField())
    )
    return {pk: (number, facts_decoded(text)) for pk, number, text in rows}


def designations_of(subject_kind: str, ids: Iterable[int]) -> dict[int, list[dict[str, str]]]:
    """Subject id → its designations not withdrawn, as a snapshot carries them (sorted by regime, date,
    kind and reference): one query for any number of subjects of one kind."""
    ids = list(ids)
    if not ids:
        return {}
    column = {"model": "model_id", "cluster": "cluster_id", "organisation": "organisation_id"}[subject_kind]
    rows = Designation.objects.filter(**{"subject_kind": subject_kind, f"{column}__any": ids,
                                         "withdrawal__isnull": True}).values_list(
        column, "regime", "kind", "decided_on", "reference").order_by()
    held: dict[int, list[dict[str, str]]] = {}
    for pk, regime, kind, decided_on, reference in rows:
        held.setdefault(pk, []).append({"regime": regime, "kind": kind, "decided_on": decided_on.isoformat(),
                                        "reference": reference})
    for designations in held.values():
        designations.sort(key=lambda d: (d["regime"], d["decided_on"], d["kind"], d["reference"]))
    return held


def _with_designations(snapshot: dict[str, Any], designations: list[dict[str, str]] | None) -> dict[str, Any]:
    """A subject with designations carries them as `designations`; one without has no such key, so
    its snapshot (and its hash) is what it was before designations were recorded."""
    if designations:
        snapshot["designations"] = designations
    return snapshot


def _with_related_designations(snapshot: dict[str, Any], related: dict[str, list[dict[str, str]]]) -> None:
    """The designations of the other models a snapshot holds (base models along the lineage, an
    organisation's models), by model reference, as `related_designations`: a test applied to a base
    model (base_model_meets) reads that model's own designations. Absent when there are none."""
    if related:
        snapshot["related_designations"] = dict(sorted(related.items()))


class SnapshotBuilder:
    """Builds snapshots for a chunk of subjects; caches organisations, lineage and the catalog."""

    def __init__(self) -> None:
        self.accelerators = accelerator_figures()
        self._org_facts: dict[str, dict[str, Any]] = {}
        self._model_facts: dict[int, dict[str, Any]] = {}
        self._model_base: dict[int, int | None] = {}

    def _organisations(self, slugs: Iterable[str]) -> None:
        wanted = set(slugs) - set(self._org_facts)
        if not wanted:
            return
        orgs = dict(Organisation.objects.filter(slug__any=list(wanted)).values_list("pk", "slug"))
        for pk, (_, facts) in _latest(OrganisationRevision, "organisation", orgs).items():
            self._org_facts[orgs[pk]] = organisation_facts(facts, read_back=True)

    def _models(self, ids: Iterable[int]) -> None:
        """Facts of these models and all their ancestors: one pair of queries per lineage level."""
        wanted = set(ids) - set(self._model_facts)
        while wanted:
            bases = dict(AIModel.objects.filter(id__any=wanted).values_list("pk", "base_model_id"))
            for pk, (_, facts) in _latest(ModelRevision, "model", wanted).items():
                self._model_facts[pk] = model_facts(facts, read_back=True)
            self._model_base.update(bases)
            wanted = {base for base in bases.values() if base is not None} - set(self._model_facts)

    def _lineage_ids(self, pk: int) -> list[int]:
        chain, seen, cursor = [], {pk}, self._model_base.get(pk)
        while cursor is not None and cursor not in seen:
            seen.add(cursor)
            chain.append(cursor)
            cursor = self._model_base.get(cursor)
        return chain

    def _related_designations(self, ids: dict[Any, list[int]]) -> dict[Any, dict[str, list[dict[str, str]]]]:
        """For each key, the designations of the models listed for it, by model reference: one query."""
        held = designations_of("model", {pk for pks in ids.values() for pk in pks})
        return {key: {model_ref(self._model_facts[pk]): held[pk] for pk in pks if pk in held and pk in self._model_facts}
                for key, pks in ids.items()}

    def _lineage(self, pk: int) -> list[dict[str, Any]]:
        chain, seen, cursor = [], {pk}, self._model_base.get(pk)
        while cursor is not None and cursor not in seen:
            seen.add(cursor)
            chain.append(self._model_facts[cursor])
            cursor = self._model_base.get(cursor)
        return chain

    def _used_accelerators(self, slugs: Iterable[str | None]) -> dict[str, dict[str, float | None]]:
        return {slug: self.accelerators[slug] for slug in slugs if slug and slug in self.accelerators}

    def _model_snapshot(self, pk: int) -> dict[str, Any]:
        facts = self._model_facts[pk]
        lineage = self._lineage(pk)
        slugs = [(m.get("training_hardware") or {}).get("accelerator") for m in [facts, *lineage]]
        return {
            "kind": "model",
            "organisation": self._org_facts.get(facts["organisation"], {"slug": facts["organisation"]}),
            "model": facts,
            "lineage": lineage,
            "accelerators": self._used_accelerators(slugs),
        }

    def models(self, models: list[AIModel]) -> Iterator[SubjectSnapshot]:
        self._models(m.pk for m in models)
        self._organisations(self._model_facts[m.pk]["organisation"] for m in models if m.pk in self._model_facts)
        designations = designations_of("model", (m.pk for m in models))
        related = self._related_designations({m.pk: self._lineage_ids(m.pk) for m in models if m.pk in self._model_facts})
        for model in models:
            if model.pk not in self._model_facts:
                continue
            key = SubjectKey("model", model.organisation.slug, model.name, model.version)
            snapshot = _with_designations(self._model_snapshot(model.pk), designations.get(model.pk))
            _with_related_designations(snapshot, related.get(model.pk) or {})
            yield SubjectSnapshot(key, model.pk, model.revision, snapshot)

    def clusters(self, clusters: list[Cluster]) -> Iterator[SubjectSnapshot]:
        latest = _latest(ClusterRevision, "cluster", [c.pk for c in clusters])
        self._organisations(c.organisation.slug for c in clusters)
        designations = designations_of("cluster", (c.pk for c in clusters))
        for cluster in clusters:
            if cluster.pk not in latest:
                continue
            number, raw = latest[cluster.pk]
            facts = cluster_facts(raw, read_back=True)
            groups = []
            for group in facts["groups"]:
                group = dict(group)
                if group["peak_ops_per_second"] is None and group["accelerator"] in self.accelerators:
                    group["peak_ops_per_second"] = dict(self.accelerators[group["accelerator"]])
                groups.append(group)
            facts["groups"] = groups
            snapshot = {
                "kind": "cluster",
                "organisation": self._org_facts.get(cluster.organisation.slug, {"slug": cluster.organisation.slug}),
                "cluster": facts,
                "accelerators": self._used_accelerators(g["accelerator"] for g in groups),
            }
            _with_designations(snapshot, designations.get(cluster.pk))
            yield SubjectSnapshot(SubjectKey("cluster", cluster.organisation.slug, cluster.name), cluster.pk, number, snapshot)

    def organisations(self, organisations: list[Organisation]) -> Iterator[SubjectSnapshot]:
        self._organisations(o.slug for o in organisations)
        model_ids: dict[int, list[int]] = {}
        for pk, org_id in AIModel.objects.filter(organisation__in=organisations).values_list("pk", "organisation_id"):
            model_ids.setdefault(org_id, []).append(pk)
        self._models(pk for ids in model_ids.values() for pk in ids)
        designations = designations_of("organisation", (o.pk for o in organisations))
        related = self._related_designations({
            org_id: [member for pk in pks if pk in self._model_facts for member in (pk, *self._lineage_ids(pk))]
            for org_id, pks in model_ids.items()})
        for org in organisations:
            if org.slug not in self._org_facts:
                continue
            models = [
                {"model": self._model_facts[pk], "lineage": self._lineage(pk)}
                for pk in sorted(model_ids.get(org.pk, [])) if pk in self._model_facts
            ]
            slugs = [(m.get("training_hardware") or {}).get("accelerator") for item in models for m in [item["model"], *item["lineage"]]]
            snapshot = {
                "kind": "organisation",
                "organisation": self._org_facts[org.slug],
                "models": models,
                "accelerators": self._used_accelerators(slugs),
            }
            _with_designations(snapshot, designations.get(org.pk))
            _with_related_designations(snapshot, related.get(org.pk) or {})
            yield SubjectSnapshot(SubjectKey("organisation", org.slug), org.pk, org.revision, snapshot)


def resolve_subjects(
    refs: Iterable[str], *, skip_unknown: bool = False
) -> tuple[list[AIModel], list[Cluster], list[Organisation]]:
    """The registry records behind subject refs, in the refs' order: one query per kind of subject.
    An unknown subject is an error naming it, or is left out with `skip_unknown`."""
    keys = [parse_subject(ref) for ref in refs]
    wanted = {kind: [key for key in keys if key.kind == kind] for kind in ("model", "cluster", "organisation")}
    found: dict[SubjectKey, Any] = {}
    if wanted["model"]:
        candidates = AIModel.objects.select_related("organisation").filter(
            organisation__slug__in={k.organisation for k in wanted["model"]},
            name__in={k.name for k in wanted["model"]}, version__in={k.version for k in wanted["model"]})
        found.update((SubjectKey("model", m.organisation.slug, m.name, m.version), m) for m in candidates)
    if wanted["cluster"]:
        candidates = Cluster.objects.select_related("organisation").filter(
            organisation__slug__in={k.organisation for k in wanted["cluster"]},
            name__in={k.name for k in wanted["cluster"]})
        found.update((SubjectKey("cluster", c.organisation.slug, c.name), c) for c in candidates)
    if wanted["organisation"]:
        candidates = Organisation.objects.filter(slug__in={k.organisation for k in wanted["organisation"]})
        found.update((SubjectKey("organisation", o.slug), o) for o in candidates)
    unknown = [key.ref for key in keys if key not in found]
    if unknown and not skip_unknown:
        raise SubjectError("unknown subject(s): " + ", ".join(unknown))
    models, clusters, organisations = (
        [found[key] for key in wanted[kind] if key in found] for kind in ("model", "cluster", "organisation")
    )
    return models, clusters, organisations


def snapshots_for_ids(
    *, model_ids: Iterable[int] = (), cluster_ids: Iterable[int] = (), organisation_ids: Iterable[int] = (),
    builder: SnapshotBuilder | None = None,
) -> list[SubjectSnapshot]:
    """Snapshots for a chunk of a run, by record id: a bounded number of queries for any chunk size."""
    builder = builder or SnapshotBuilder()
    # Only the identity of each record: its facts come from its latest revision.
    identity = ("id", "name", "revision", "organisation__slug")
    models = list(AIModel.objects.select_related("organisation").only(*identity, "version")
                  .filter(id__any=list(model_ids)).order_by("pk"))
    clusters = list(Cluster.objects.select_related("organisation").only(*identity)
                    .filter(id__any=list(cluster_ids)).order_by("pk"))
    organisations = list(Organisation.objects.only("id", "slug", "revision")
                         .filter(id__any=list(organisation_ids)).order_by("pk"))
    return [*builder.models(models), *builder.clusters(clusters), *builder.organisations(organisations)]


def snapshots_for(refs: Iterable[str] | None = None, *, builder: SnapshotBuilder | None = None) -> list[SubjectSnapshot]:
    """Snapshots for the given subjects, or for the whole registry when `refs` is None."""
    builder = builder or SnapshotBuilder()
    if refs is None:
        models = list(AIModel.objects.select_related("organisation").order_by("pk"))
        clusters = list(Cluster.objects.select_related("organisation").order_by("pk"))
        organisations = list(Organisation.objects.order_by("pk"))
    else:
        models, clusters, organisations = resolve_subjects(refs)
    return [*builder.models(models), *builder.clusters(clusters), *builder.organisations(organisations)]
