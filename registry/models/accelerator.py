"""The accelerator catalog: peak throughput per format, from `registry/data/accelerators.csv`."""
from __future__ import annotations

from django.db import models
from django.db.models import Q

PEAK_FIELDS = (
    "fp64_ops_per_second",
    "fp32_ops_per_second",
    "tf32_dense_ops_per_second",
    "dense_16bit_ops_per_second",
    "fp8_dense_ops_per_second",
    "int8_dense_ops_per_second",
    "fp4_dense_ops_per_second",
)


class Accelerator(models.Model):
    """One accelerator type with its peak figures, in operations per second per accelerator."""

    slug = models.SlugField(max_length=64, unique=True)
    vendor = models.CharField(max_length=64)
    model_name = models.CharField(max_length=128)
    release_date = models.DateField(null=True, blank=True)
    fp64_ops_per_second = models.FloatField(null=True, blank=True)
    fp32_ops_per_second = models.FloatField(null=True, blank=True)
    tf32_dense_ops_per_second = models.FloatField(null=True, blank=True)
    dense_16bit_ops_per_second = models.FloatField(
        null=True, blank=True, help_text="FP16/BF16 dense (no sparsity)."
    )
    fp8_dense_ops_per_second = models.FloatField(null=True, blank=True)
    int8_dense_ops_per_second = models.FloatField(null=True, blank=True)
    fp4_dense_ops_per_second = models.FloatField(null=True, blank=True)
    dense_max_ops_per_second = models.FloatField(
        null=True,
        blank=True,
        help_text="The fastest dense figure over every integer or floating-point format.",
    )
    sparse_max_ops_per_second = models.FloatField(
        null=True, blank=True, help_text="The fastest figure with 2:4 structured sparsity, where known."
    )
    memory_gb = models.FloatField(null=True, blank=True)
    source = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    figure_choices = models.JSONField(
        default=dict,
        blank=True,
        help_text="Where the source gave two figures for one cell: the one chosen and why.",
    )

    class Meta:
        ordering = ["vendor", "slug"]
        constraints = [
            models.CheckConstraint(
                condition=Q(dense_max_ops_per_second__isnull=True) | Q(dense_max_ops_per_second__gt=0),
                name="accelerator_dense_max_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.vendor} {self.model_name}"

    def peak_figures(self) -> dict[str, float | None]:
        """The three readings of "theoretical maximum" the engine knows, per accelerator."""
        return {
            "dense_max": self.dense_max_ops_per_second,
            "dense_16bit": self.dense_16bit_ops_per_second,
            "sparse_max": self.sparse_max_ops_per_second,
        }
