"""Bulk writes of interchange records into an empty registry: the rows and first revisions that
`registry.services.registry_submit` would write, in batches of a few thousand rows per query."""
from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.color import no_style
from django.db import connection, transaction

from registry.facts import cluster_facts, facts_sha256, model_facts, organisation_facts
from registry.interchange import model_ref
from registry.mapping import ACCELERATOR, row_values
from registry.models import (
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
from registry.models.base import SubmissionChannel
from registry.names import name_skeleton
from rules import bulk_write

TABLES = (Organisation, OrganisationRevision, AIModel, ModelRevision, Cluster, ClusterRevision, AcceleratorGroup, NetworkLink)


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


class RegistryWriter:
    """Assigns ids itself (the registry must be empty) so lineage and topology need no read-back."""

    def __init__(self, *, batch: int = 5000) -> None:
        if Organisation.objects.exists() or AIModel.objects.exists() or Cluster.objects.exists():
            raise ValueError("the synthetic registry is written into an empty registry only")
        self.batch = batch
        self.accelerators = dict(Accelerator.objects.values_list("slug", "pk"))
        self.model_ids: dict[str, int] = {}
        self.org_ids: dict[str, int] = {}
        self.next_id = {table: 1 for table in TABLES}
        self.pending: dict[type, list[Any]] = {table: [] for table in TABLES}
        self.counts = {"organisations": 0, "models": 0, "clusters": 0}

    def _id(self, table: type) -> int:
        value = self.next_id[table]
        self.next_id[table] += 1
        return value

    def _resolve(self, how: str, value: str) -> int | None:
        """The id a reference of the facts names (`registry.mapping.Resolve`): rows are written by id."""
        return self.accelerators.get(value) if how == ACCELERATOR else self.model_ids[value]

    def _revision(self, table: type, fk: str, owner: int, facts: dict[str, Any]) -> None:
        self.pending[table].append(table(
            id=self._id(table), **{f"{fk}_id": owner}, number=1, facts=facts, facts_sha256=facts_sha256(facts),
            changed_fields={}, submitted_via=SubmissionChannel.IMPORT,
        ))

    def add(self, organisation: dict[str, Any], models: list[dict[str, Any]], clusters: list[dict[str, Any]]) -> None:
        facts = organisation_facts(organisation)
        org_id = self.org_ids[facts["slug"]] = self._id(Organisation)
        self.pending[Organisation].append(Organisation(
            id=org_id, slug=facts["slug"], name_skeleton=name_skeleton(facts["name"]),
            **row_values("organisation", facts, resolve=self._resolve),
        ))
        self._revision(OrganisationRevision, "organisation", org_id, facts)
        for record in models:
            self._add_model(org_id, model_facts(record))
        for record in clusters:
            self._add_cluster(org_id, cluster_facts(record))
        self.counts["organisations"] += 1
        self.counts["models"] += len(models)
        self.counts["clusters"] += len(clusters)
        if len(self.pending[AIModel]) + len(self.pending[AcceleratorGroup]) >= self.batch:
            self.flush()

    def _add_model(self, org_id: int, facts: dict[str, Any]) -> None:
        model_id, ref = self._id(AIModel), model_ref(facts)
        self.model_ids[ref] = model_id
        self.pending[AIModel].append(AIModel(
            id=model_id, organisation_id=org_id, name_skeleton=name_skeleton(facts["name"]),
            stored_subject_ref=f"model:{ref}",
            **row_values("model", facts, resolve=self._resolve),
        ))
        self._revision(ModelRevision, "model", model_id, facts)

    def _add_cluster(self, org_id: int, facts: dict[str, Any]) -> None:
        cluster_id = self._id(Cluster)
        self.pending[Cluster].append(Cluster(
            id=cluster_id, organisation_id=org_id, name_skeleton=name_skeleton(facts["name"]),
            stored_subject_ref=f"cluster:{facts['organisation']}/{facts['name']}",
            **row_values("cluster", facts, resolve=self._resolve),
        ))
        group_ids = {}
        for group in facts["groups"]:
            group_ids[group["name"]] = group_id = self._id(AcceleratorGroup)
            self.pending[AcceleratorGroup].append(AcceleratorGroup(
                id=group_id, cluster_id=cluster_id, **row_values("group", group, resolve=self._resolve)))
        for link in facts["links"]:
            self.pending[NetworkLink].append(NetworkLink(
                id=self._id(NetworkLink), cluster_id=cluster_id, from_group_id=group_ids[link["from"]],
                to_group_id=group_ids[link["to"]], gbps=link["gbps"],
            ))
        self._revision(ClusterRevision, "cluster", cluster_id, facts)

    def flush(self) -> None:
        """Writes what is pending, parents before children, in one transaction (COPY on PostgreSQL)."""
        with transaction.atomic():
            for table in TABLES:
                rows, self.pending[table] = self.pending[table], []
                if not rows:
                    continue
                if bulk_write.has_copy():
                    fields = table._meta.concrete_fields
                    bulk_write.copy_rows(table._meta.db_table, bulk_write.columns(table), (
                        [field.get_db_prep_save(field.pre_save(row, True), connection) for field in fields]
                        for row in rows
                    ))
                else:
                    table.objects.bulk_create(rows, batch_size=2000)

    def finish(self) -> None:
        """Moves each table's id sequence past the ids written here."""
        statements = connection.ops.sequence_reset_sql(no_style(), list(TABLES))
        if statements:
            with connection.cursor() as cursor:
                for sql in statements:
                    cursor.execute(sql)
