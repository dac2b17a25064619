"""Shapes every part of the API shares: the error body."""
from __future__ import annotations

from rest_framework import serializers


class FieldProblemSerializer(serializers.Serializer):
    field = serializers.CharField(
        allow_null=True, help_text="The request field, nested as `training_hardware.utilization`; null for the whole request."
    )
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """Every error response: a summary and each problem with the field it concerns."""

    detail = serializers.CharField()
    errors = FieldProblemSerializer(many=True)
