"""Computing clusters: groups of accelerators in datacenters, and the network links between them."""
from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import F, Q

from ..names import SKELETON_MAX, name_skeleton
from .accelerator import Accelerator
from .base import RevisionBase
from .organisation import Organisation


class Cluster(models.Model):
    # no index of its own: the unique (organisation, name) and the skeleton index lead with it
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="clusters", db_index=False)
    name = models.CharField(max_length=200)
    name_skeleton = models.CharField(
        max_length=SKELETON_MAX, blank=True, editable=False,
        help_text="The name as it reads (registry.names): a new name with the skeleton of another of its organisation's clusters is refused.",
    )
    stored_subject_ref = models.CharField(
        max_length=500, editable=False,
        help_text="The subject ref the decision log names the cluster by (`cluster:ORG/NAME`), set when the "
                  "cluster is recorded (its organisation and name never change): the lists filtered by status "
                  "or tier join the log's index of current determinations on it.",
    )
    used_for_ai_training = models.BooleanField(null=True, blank=True)
    operational_from = models.DateField(null=True, blank=True)
    source = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    revision = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organisation__slug", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"], name="cluster_org_name_unique"),
            models.UniqueConstraint(fields=["stored_subject_ref"], name="cluster_stored_subject_ref_unique"),
            # a bulk insert bypasses save(): a cluster stored without its ref would drop out of the filtered lists
            models.CheckConstraint(condition=~Q(stored_subject_ref=""), name="cluster_stored_subject_ref_set"),
        ]
        indexes = [models.Index(fields=["organisation", "name_skeleton"], name="cluster_org_name_skeleton")]

    def __str__(self) -> str:
        return f"{self.organisation.slug}/{self.name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.name_skeleton = name_skeleton(self.name)
        if not self.stored_subject_ref:
            self.stored_subject_ref = self.subject_ref
        super().save(*args, **kwargs)

    @property
    def subject_ref(self) -> str:
        return f"cluster:{self.organisation.slug}/{self.name}"


class AcceleratorGroup(models.Model):
    """Accelerators of one kind in one datacenter, on nodes sharing one per-node network speed."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=100)
    datacenter = models.CharField(max_length=100)
    accelerator = models.ForeignKey(
        Accelerator, null=True, blank=True, on_delete=models.PROTECT, related_name="groups"
    )
    accelerator_count = models.PositiveIntegerField()
    accelerators_per_node = models.PositiveIntegerField(null=True, blank=True)
    network_gbps = models.FloatField(
        null=True, blank=True, help_text="Per-node network bandwidth in Gbit/s; empty when unknown."
    )
    peak_dense_max_ops_per_second = models.FloatField(null=True, blank=True)
    peak_dense_16bit_ops_per_second = models.FloatField(null=True, blank=True)
    peak_sparse_max_ops_per_second = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["cluster", "name"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "name"], name="group_cluster_name_unique"),
            models.CheckConstraint(condition=Q(accelerator_count__gt=0), name="group_accelerator_count_positive"),
            models.CheckConstraint(
                condition=Q(accelerators_per_node__isnull=True) | Q(accelerators_per_node__gt=0),
                name="group_accelerators_per_node_positive",
            ),
            models.CheckConstraint(
                condition=Q(network_gbps__isnull=True) | Q(network_gbps__gte=0), name="group_network_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(accelerator__isnull=False) | Q(peak_dense_max_ops_per_second__isnull=False, peak_dense_max_ops_per_second__gt=0),
                name="group_has_catalog_or_own_peak",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cluster} / {self.name}"


class NetworkLink(models.Model):
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="links")
    from_group = models.ForeignKey(AcceleratorGroup, on_delete=models.CASCADE, related_name="+")
    to_group = models.ForeignKey(AcceleratorGroup, on_delete=models.CASCADE, related_name="+")
    gbps = models.FloatField(help_text="Link bandwidth in Gbit/s.")

    class Meta:
        ordering = ["cluster", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(gbps__gt=0), name="link_gbps_positive"),
            models.CheckConstraint(condition=~Q(from_group=F("to_group")), name="link_joins_two_groups"),
        ]

    def __str__(self) -> str:
        return f"{self.from_group.name} ↔ {self.to_group.name} ({self.gbps:g} Gbit/s)"


class ClusterRevision(RevisionBase):
    # no index of its own: cluster_revision_unique leads with it
    cluster = models.ForeignKey(Cluster, on_delete=models.PROTECT, related_name="revisions", db_index=False)

    class Meta(RevisionBase.Meta):
        constraints = [models.UniqueConstraint(fields=["cluster", "number"], name="cluster_revision_unique")]

    def __str__(self) -> str:
        return f"{self.cluster} r{self.number}"
