"""AI models, with their lineage: a fine-tune or distillation names its base model."""
from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import F, Q

from ..names import SKELETON_MAX, name_skeleton
from .accelerator import Accelerator
from .base import RevisionBase
from .organisation import Organisation


class Derivation(models.TextChoices):
    FINE_TUNING = "fine_tuning", "Fine-tuning or other modification"
    DISTILLATION = "distillation", "Knowledge distillation"


def _null_or_positive(field: str) -> Q:
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gt": 0})


def _null_or_non_negative(field: str) -> Q:
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": 0})


class AIModel(models.Model):
    """The latest revision of a model's submitted facts; earlier ones are in `revisions`."""

    # no index of its own: the unique (organisation, name, version) and the skeleton index lead with it
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="models", db_index=False)
    name = models.CharField(max_length=200)
    version = models.CharField(max_length=64)
    name_skeleton = models.CharField(
        max_length=SKELETON_MAX, blank=True, editable=False,
        help_text="The name as it reads (registry.names): a new name with the skeleton of another of its organisation's models is refused.",
    )
    stored_subject_ref = models.CharField(
        max_length=500, editable=False,
        help_text="The subject ref the decision log names the model by (`model:ORG/NAME@VERSION`), set when the "
                  "model is recorded (its organisation, name and version never change): the lists filtered by "
                  "status or tier join the log's index of current determinations on it.",
    )
    parameter_count = models.FloatField(null=True, blank=True)
    active_parameter_count = models.FloatField(
        null=True, blank=True, help_text="Parameters active per token (mixture of experts)."
    )
    training_tokens = models.FloatField(null=True, blank=True)
    training_compute_ops = models.FloatField(
        null=True, blank=True, help_text="Reported integer or floating-point operations of training."
    )
    training_compute_uncertainty = models.FloatField(
        null=True, blank=True, help_text="Relative uncertainty of the reported figure (0.3 = ±30 %; at most 1, ±100 %)."
    )
    general_purpose = models.BooleanField(
        null=True, blank=True, help_text="Declared trained on broad data and designed for generality."
    )
    primarily_biological_sequence_data = models.BooleanField(
        null=True, blank=True, default=None,
        help_text="Declared trained primarily on biological sequence data; empty when not declared.",
    )
    weights_published = models.BooleanField(
        null=True, blank=True, default=None,
        help_text="Declared that the model's weights are published (open weights); empty when not declared.",
    )
    modalities = models.JSONField(default=list, blank=True)
    base_model = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="derived_models"
    )
    derivation = models.CharField(max_length=16, choices=Derivation.choices, blank=True)
    fine_tuning_compute_ops = models.FloatField(null=True, blank=True)
    training_accelerator = models.ForeignKey(
        Accelerator, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    training_accelerator_count = models.PositiveIntegerField(null=True, blank=True)
    training_hours = models.FloatField(null=True, blank=True)
    training_utilization = models.FloatField(
        null=True, blank=True, help_text="Model FLOPs utilization, in (0, 1]."
    )
    training_compute_cost_usd = models.FloatField(null=True, blank=True)
    training_completed_on = models.DateField(null=True, blank=True)
    released_on = models.DateField(null=True, blank=True)
    source = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    revision = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organisation__slug", "name", "version"]
        verbose_name = "AI model"
        indexes = [models.Index(fields=["organisation", "name_skeleton"], name="model_org_name_skeleton")]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "name", "version"], name="model_org_name_version_unique"
            ),
            models.UniqueConstraint(fields=["stored_subject_ref"], name="model_stored_subject_ref_unique"),
            # a bulk insert bypasses save(): a model stored without its ref would drop out of the filtered lists
            models.CheckConstraint(condition=~Q(stored_subject_ref=""), name="model_stored_subject_ref_set"),
            models.CheckConstraint(condition=_null_or_positive("parameter_count"), name="model_parameter_count_positive"),
            models.CheckConstraint(
                condition=_null_or_positive("active_parameter_count"), name="model_active_parameter_count_positive"
            ),
            models.CheckConstraint(condition=_null_or_positive("training_tokens"), name="model_training_tokens_positive"),
            models.CheckConstraint(
                condition=_null_or_non_negative("training_compute_ops"), name="model_training_compute_non_negative"
            ),
            models.CheckConstraint(
                condition=_null_or_non_negative("fine_tuning_compute_ops"), name="model_fine_tuning_compute_non_negative"
            ),
            models.CheckConstraint(  # 1 is ±100 %: a band that reaches zero, never below it
                condition=Q(training_compute_uncertainty__isnull=True)
                | (Q(training_compute_uncertainty__gte=0) & Q(training_compute_uncertainty__lte=1)),
                name="model_uncertainty_at_most_one",
                violation_error_message="training_compute_uncertainty must be in [0, 1] (1 is ±100 %%)",
            ),
            models.CheckConstraint(
                condition=_null_or_positive("training_accelerator_count"), name="model_accelerator_count_positive"
            ),
            models.CheckConstraint(condition=_null_or_positive("training_hours"), name="model_training_hours_positive"),
            models.CheckConstraint(
                condition=Q(training_utilization__isnull=True)
                | (Q(training_utilization__gt=0) & Q(training_utilization__lte=1)),
                name="model_utilization_in_unit_interval",
            ),
            models.CheckConstraint(
                condition=_null_or_non_negative("training_compute_cost_usd"), name="model_cost_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(base_model__isnull=True) | ~Q(base_model=F("pk")), name="model_not_its_own_base"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation.slug}/{self.name}@{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.set_stored_fields()
        super().save(*args, **kwargs)

    def set_stored_fields(self) -> None:
        """The columns derived from others, as stored: the name's skeleton (confusable names) and the
        subject reference (set once: a model's identity does not change)."""
        self.name_skeleton = name_skeleton(self.name)
        if not self.stored_subject_ref:
            self.stored_subject_ref = self.subject_ref

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any) -> AIModel:
        instance = super().from_db(db, field_names, values)
        # the stored base, so that clean() walks the descendants only when it changes
        instance._loaded_base_model_id = instance.__dict__.get("base_model_id")
        return instance

    def clean(self) -> None:
        from django.conf import settings
        from django.core.exceptions import ValidationError

        cursor, seen, depth = self.base_model, {self.pk}, 0
        while cursor is not None:
            if cursor.pk in seen:
                raise ValidationError({"base_model": "makes a lineage cycle"})
            seen.add(cursor.pk)
            depth += 1
            cursor = cursor.base_model
        limit = settings.REGISTRY_MAX_LINEAGE_DEPTH
        moved = self.pk is not None and self.base_model_id is not None and (
            self.base_model_id != getattr(self, "_loaded_base_model_id", None))
        level, below = [self.pk] if moved else [], 0
        while depth + below <= limit and level:  # a model given a new base moves its descendants down with it
            level = list(AIModel.objects.filter(base_model_id__in=level).values_list("pk", flat=True))
            below += bool(level)
        if depth + below > limit:
            raise ValidationError({"base_model": f"makes a lineage deeper than {limit} base models "
                                                 "(REGISTRY_MAX_LINEAGE_DEPTH)"})
        most = settings.REGISTRY_MAX_MODELS_PER_ORGANISATION
        if self._state.adding and self.organisation_id is not None and (
                AIModel.objects.filter(organisation_id=self.organisation_id).count() >= most):
            # not keyed by field: the organisation is not on every form (a lab's is set for it)
            raise ValidationError(f"organisation: {self.organisation.slug!r} has {most} models already, the most "
                                  "an organisation may have (REGISTRY_MAX_MODELS_PER_ORGANISATION)")

    def lineage(self) -> list[AIModel]:
        """Base model, its base, and so on: nearest first."""
        chain, cursor = [], self.base_model
        while cursor is not None and cursor not in chain:
            chain.append(cursor)
            cursor = cursor.base_model
        return chain

    @property
    def ref(self) -> str:
        """The interchange reference: `organisation/name@version`."""
        return f"{self.organisation.slug}/{self.name}@{self.version}"

    @property
    def subject_ref(self) -> str:
        return f"model:{self.ref}"


class ModelRevision(RevisionBase):
    # no index of its own: model_revision_unique leads with it
    model = models.ForeignKey(AIModel, on_delete=models.PROTECT, related_name="revisions", db_index=False)

    class Meta(RevisionBase.Meta):
        constraints = [models.UniqueConstraint(fields=["model", "number"], name="model_revision_unique")]

    def __str__(self) -> str:
        return f"{self.model} r{self.number}"
