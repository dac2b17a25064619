"""Designations in and out: the request body is one designation of the interchange format; the
response adds who recorded it, when and through what, and its withdrawal if it was withdrawn."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from registry import interchange


class DesignationIn(interchange.DesignationRecord):
    pass


class WithdrawalOut(serializers.Serializer):
    reason = serializers.CharField()
    withdrawn_at = serializers.DateTimeField()


class DesignationOut(serializers.Serializer):
    id = serializers.IntegerField()
    subject = serializers.CharField(source="subject_ref", help_text="model:ORG/NAME@VERSION, cluster:ORG/NAME or organisation:ORG")
    regime = serializers.CharField()
    kind = serializers.CharField()
    decided_on = serializers.DateField(help_text="The decision's date: it takes effect from this date.")
    reference = serializers.CharField()
    recorded_via = serializers.CharField()
    recorded_at = serializers.DateTimeField()
    withdrawal = serializers.SerializerMethodField(
        help_text="Null, or the correction of a designation recorded in error: it then counts for no date.")

    def get_withdrawal(self, obj: Any) -> dict[str, Any] | None:
        withdrawal = getattr(obj, "withdrawal", None)
        return WithdrawalOut(withdrawal).data if withdrawal is not None else None
