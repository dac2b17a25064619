"""Fulfilments of obligations, their reviews, and incidents, in and out. The input serializers
describe the request bodies (the checks themselves are obligations.recording's, shared with the
admin and the commands)."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from obligations.models import IncidentSeverity, ReviewDecision

SUBJECT_HELP = "model:ORG/NAME@VERSION, cluster:ORG/NAME or organisation:ORG"


class FulfilmentIn(serializers.Serializer):
    subject = serializers.CharField(help_text=SUBJECT_HELP)
    regime = serializers.SlugField(help_text="The regime's slug, e.g. eu-ai-act.")
    obligation = serializers.SlugField(help_text="An obligation id the regime declares, e.g. art-52-1-notification.")
    occurrence = serializers.CharField(
        required=False, allow_blank=True,
        help_text="For a recurring obligation its period (2027-Q1); for an incident-driven one incident-<id> "
                  "(an incident of this subject); empty for a one-off obligation.")
    fulfilled_on = serializers.DateField(help_text="The date the obligation was met; never after today.")
    reference = serializers.CharField(max_length=200, help_text="The filing's reference, e.g. a submission number.")
    document = serializers.FileField(
        required=False, help_text="A copy of the filing (multipart/form-data only); kept with its SHA-256.")


class ReviewOut(serializers.Serializer):
    decision = serializers.ChoiceField(choices=ReviewDecision.choices)
    reason = serializers.CharField()
    reviewed_via = serializers.CharField()
    reviewed_at = serializers.DateTimeField()


class FulfilmentOut(serializers.Serializer):
    id = serializers.IntegerField()
    subject = serializers.CharField(source="subject_ref", help_text=SUBJECT_HELP)
    organisation = serializers.CharField(source="organisation.slug")
    regime = serializers.CharField()
    obligation = serializers.CharField()
    occurrence = serializers.CharField()
    fulfilled_on = serializers.DateField()
    reference = serializers.CharField()
    document_name = serializers.CharField()
    document_sha256 = serializers.CharField(help_text="The document's SHA-256 (hex); empty when none was uploaded.")
    document_size = serializers.IntegerField(allow_null=True, help_text="The document's size in bytes.")
    recorded_via = serializers.CharField()
    recorded_at = serializers.DateTimeField()
    accepted = serializers.SerializerMethodField(
        help_text="The latest review's decision: true (accepted), false (rejected) or null (not reviewed).")
    reviews = serializers.SerializerMethodField(help_text="Every review, oldest first; the latest counts.")

    def _reviews(self, obj: Any) -> list[Any]:
        return list(obj.reviews.all())

    def get_accepted(self, obj: Any) -> bool | None:
        reviews = self._reviews(obj)
        return None if not reviews else reviews[-1].decision == ReviewDecision.ACCEPTED

    def get_reviews(self, obj: Any) -> list[dict[str, Any]]:
        return ReviewOut(self._reviews(obj), many=True).data


class ReviewIn(serializers.Serializer):
    decision = serializers.ChoiceField(choices=ReviewDecision.choices)
    reason = serializers.CharField(max_length=400, help_text="Why it is accepted or rejected.")


class IncidentIn(serializers.Serializer):
    subject = serializers.CharField(help_text=SUBJECT_HELP)
    discovered_on = serializers.DateField(help_text="The date the incident was discovered; never after today.")
    severity = serializers.ChoiceField(choices=IncidentSeverity.choices)
    summary = serializers.CharField(max_length=400, help_text="What happened, in a sentence or two.")
    reference = serializers.CharField(required=False, allow_blank=True, max_length=200,
                                      help_text="The lab's own reference for it.")


class IncidentOut(serializers.Serializer):
    id = serializers.IntegerField()
    occurrence = serializers.SerializerMethodField(
        help_text="What a fulfilment of an incident report names as its occurrence: incident-<id>.")
    subject = serializers.CharField(source="subject_ref", help_text=SUBJECT_HELP)
    organisation = serializers.CharField(source="organisation.slug")
    discovered_on = serializers.DateField()
    severity = serializers.ChoiceField(choices=IncidentSeverity.choices)
    summary = serializers.CharField()
    reference = serializers.CharField()
    recorded_via = serializers.CharField()
    recorded_at = serializers.DateTimeField()

    def get_occurrence(self, obj: Any) -> str:
        return f"incident-{obj.pk}"
