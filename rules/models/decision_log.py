"""The decision log: one append-only row per determination, chained by hashes.

Each row's `row_sha256` covers its own content and the previous row's hash, so altering or
removing any row breaks every hash after it (`manage.py verify_log` names the first). Rows are
never updated or deleted: the model and its queryset refuse, and on PostgreSQL a trigger refuses
even raw SQL.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson
from django.conf import settings
from django.db import models

from rules.engine.vocabulary import STATUS_CHOICES

from .runs import Trigger

GENESIS_SHA256 = "0" * 64


class AppendOnlyError(Exception):
    """An attempt to change or remove a row of the decision log."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("the decision log is append-only: rows are never updated")

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        # refused before QuerySet.bulk_update opens its atomic block, which would leave the
        # caller's transaction unusable
        raise AppendOnlyError("the decision log is append-only: rows are never updated")

    def delete(self) -> Any:
        raise AppendOnlyError("the decision log is append-only: rows are never deleted")

    def _raw_delete(self, using: Any) -> Any:
        raise AppendOnlyError("the decision log is append-only: rows are never deleted")


class FactsSnapshot(models.Model):
    """The submitted facts a determination was made on, stored once per distinct content."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    facts = models.TextField(help_text="Canonical JSON of the engine's input snapshot.")

    objects = AppendOnlyQuerySet.as_manager()

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("the decision log is append-only: facts snapshots are never updated")
        kwargs.setdefault("force_insert", True)
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("the decision log is append-only: facts snapshots are never deleted")

    def data(self) -> dict[str, Any]:
        """The snapshot as the engine was given it: lineage stored by reference is read back in."""
        from ..snapshots import expand_text

        return expand_text(self.facts)


class Determination(models.Model):
    sequence = models.BigIntegerField(unique=True, help_text="Position in the chain, from 1.")
    subject_kind = models.CharField(max_length=16)
    # Indexes are few on purpose: each one is paid on every row appended (see `Meta.indexes`).
    subject_ref = models.CharField(max_length=500)
    organisation = models.SlugField(max_length=64, db_index=False)
    subject_name = models.CharField(max_length=200, blank=True)
    subject_version = models.CharField(max_length=64, blank=True)
    facts_revision = models.PositiveIntegerField(null=True, blank=True)
    regime = models.SlugField(max_length=64, db_index=False)
    rule_version = models.ForeignKey(
        "rules.RuleVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="determinations"
    )
    rule_version_label = models.CharField(max_length=64, blank=True)
    rule_hash = models.CharField(max_length=64, blank=True)
    as_of = models.DateField()
    status = models.CharField(max_length=16, choices=STATUS_CHOICES)
    tier = models.CharField(max_length=64, blank=True, help_text="The highest tier of the rule version reached, if any.")
    deciding_test = models.CharField(max_length=64, blank=True)
    payload = models.TextField(help_text="Canonical JSON: tests, quantities, sensitivity, readings, caveats.")
    # No index: nothing looks determinations up by their snapshot (a snapshot is read by its hash,
    # from the row), and a random 64-character key is among the dearest to keep on every append.
    facts = models.ForeignKey(
        FactsSnapshot, on_delete=models.PROTECT, db_column="facts_sha256", related_name="determinations",
        db_index=False,
    )
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    run = models.ForeignKey(
        "rules.EvaluationRun", null=True, blank=True, on_delete=models.PROTECT, related_name="determinations",
        db_index=False,  # determination_once_per_run_subject_regime leads with run
    )
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    previous_sha256 = models.CharField(max_length=64)
    row_sha256 = models.CharField(max_length=64)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "subject_ref", "regime"],
                condition=models.Q(run__isnull=False),
                name="determination_once_per_run_subject_regime",
            ),
            models.UniqueConstraint(fields=["row_sha256"], name="determination_row_sha256_unique"),
        ]
        indexes = [
            models.Index(fields=["subject_ref", "regime", "-as_of", "-sequence"], name="determination_latest_as_of"),
            models.Index(fields=["regime", "status"], name="determination_regime_status"),
            models.Index(fields=["organisation"], name="determination_organisation"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.subject_ref} {self.regime}: {self.get_status_display()}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("the decision log is append-only: rows are never updated")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("the decision log is append-only: rows are never deleted")

    def data(self) -> dict[str, Any]:
        return json.loads(self.payload)

    def compute_row_sha256(self) -> str:
        return row_sha256(
            previous_sha256=self.previous_sha256,
            fields=self.chained_fields(),
            payload=self.payload,
        )

    def chained_fields(self) -> list[Any]:
        return chained_fields(
            self.sequence, self.subject_kind, self.subject_ref, self.organisation, self.subject_name,
            self.subject_version, self.facts_revision, self.regime, self.rule_version_id, self.rule_version_label,
            self.rule_hash, self.as_of, self.status, self.deciding_test, self.facts_id, self.trigger,
            self.requested_by_id, self.run_id, self.task_id, self.created_at, self.tier,
        )


def chained_fields(
    sequence: int, subject_kind: str, subject_ref: str, organisation: str, subject_name: str, subject_version: str,
    facts_revision: int | None, regime: str, rule_version_id: int | None, rule_version_label: str, rule_hash: str,
    as_of: Any, status: str, deciding_test: str, facts_id: str, trigger: str, requested_by_id: int | None,
    run_id: int | None, task_id: str, created_at: Any, tier: str = "",
) -> list[Any]:
    """The columns a row's hash covers besides its payload, in the chain's order (the bulk writer
    calls this with the values it is about to write, before any model instance exists). The tier comes
    last and only when there is one, so a row without a tier (every row written before tiers existed)
    hashes as it always did, and giving or clearing a row's tier still breaks its hash."""
    fields = [
        sequence, subject_kind, subject_ref, organisation, subject_name, subject_version, facts_revision, regime,
        rule_version_id, rule_version_label, rule_hash, as_of.isoformat(), status, deciding_test, facts_id, trigger,
        requested_by_id, run_id, task_id, created_at.isoformat(timespec="microseconds"),
    ]
    if tier:
        fields.append(tier)
    return fields


def fields_json(fields: list[Any]) -> bytes:
    """The chained fields as compact JSON in UTF-8: the bytes `json.dumps(fields, separators=(",", ":"),
    ensure_ascii=False)` gives for strings, integers and nulls, written by orjson ten times faster."""
    try:
        return orjson.dumps(fields)
    except TypeError:
        return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def payload_sha256(payload: str) -> str:
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def row_sha256(*, previous_sha256: str, fields: list[Any], payload: str = "", payload_digest: str = "") -> str:
    """SHA-256 over the previous row's hash, the chained fields and the payload's own SHA-256
    (`payload_digest` when the caller has it already: the bulk writer's are worked out before the lock)."""
    digest = hashlib.sha256()
    digest.update(previous_sha256.encode())
    digest.update(fields_json(fields))
    digest.update((payload_digest or payload_sha256(payload)).encode())
    return digest.hexdigest()


class LogHead(models.Model):
    """The chain's last row; appending locks it so rows join the chain one writer at a time."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    sequence = models.BigIntegerField(default=0)
    row_sha256 = models.CharField(max_length=64, default=GENESIS_SHA256)
