"""Determinations, evaluation runs, regimes and rule versions, the accelerator catalog, and the
evaluation request, as the API shows them."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from registry import interchange
from registry.models import Accelerator
from rules.engine.vocabulary import OUTCOME_CHOICES, STATUS_CHOICES
from rules.models.runs import RunStatus, Trigger
from rules.subjects import SubjectError, parse_subject

SUBJECT_KINDS = ("model", "cluster", "organisation")


class SubjectOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=SUBJECT_KINDS)
    organisation = serializers.CharField()
    name = serializers.CharField(allow_null=True)
    version = serializers.CharField(allow_null=True)


class TestOutcomeOut(serializers.Serializer):
    id = serializers.CharField(help_text="The test's stable id within its regime (DESIGN.md).")
    title = serializers.CharField(required=False)
    outcome = serializers.ChoiceField(choices=OUTCOME_CHOICES)
    quantity = serializers.CharField(allow_null=True, required=False)
    value = serializers.FloatField(allow_null=True, required=False)
    low = serializers.FloatField(allow_null=True, required=False)
    high = serializers.FloatField(allow_null=True, required=False)
    operator = serializers.CharField(allow_null=True, required=False)
    threshold = serializers.JSONField(required=False, help_text="A number, or the label of a non-numeric threshold.")
    parameter = serializers.CharField(allow_null=True, required=False)
    margin = serializers.FloatField(allow_null=True, required=False)
    citation = serializers.CharField(allow_null=True, required=False)
    quote = serializers.DictField(allow_null=True, required=False, help_text="The passage of the law the test encodes.")
    reading = serializers.CharField(allow_null=True, required=False)
    throughput_reading = serializers.CharField(allow_null=True, required=False)
    method = serializers.CharField(allow_null=True, required=False)
    formula = serializers.CharField(allow_null=True, required=False)
    missing = serializers.ListField(child=serializers.CharField(), required=False, help_text="Facts the test lacked.")
    comparisons = serializers.ListField(child=serializers.DictField(), required=False)
    sensitivity = serializers.DictField(required=False)


class DeterminationOut(serializers.Serializer):
    """One row of the decision log: the `evaluate` JSON of DESIGN.md plus its place in the chain."""

    id = serializers.IntegerField(help_text="The determination's id: its position in the hash chain (`sequence`).")
    url = serializers.URLField()
    sequence = serializers.IntegerField(help_text="Position in the hash chain, from 1.")
    subject = SubjectOut()
    subject_ref = serializers.CharField()
    regime = serializers.CharField()
    rule_version = serializers.CharField(allow_null=True)
    rule_hash = serializers.CharField(allow_null=True)
    as_of = serializers.DateField()
    status = serializers.ChoiceField(choices=STATUS_CHOICES)
    tier = serializers.CharField(allow_null=True, help_text="The highest tier of the rule version reached, or null.")
    tier_title = serializers.CharField(allow_null=True, help_text="That tier's title, e.g. 'GPAI model with systemic risk'.")
    reason = serializers.CharField(allow_null=True, help_text="Why the status is not_applicable; null otherwise.")
    deciding_test = serializers.CharField(allow_blank=True)
    tests = TestOutcomeOut(many=True)
    quantities = serializers.DictField()
    caveats = serializers.ListField(child=serializers.CharField())
    notes = serializers.ListField(child=serializers.CharField())
    facts_revision = serializers.IntegerField(allow_null=True)
    facts_sha256 = serializers.CharField()
    trigger = serializers.ChoiceField(choices=Trigger.choices)
    run = serializers.IntegerField(allow_null=True)
    run_url = serializers.URLField(allow_null=True)
    created_at = serializers.DateTimeField()
    previous_sha256 = serializers.CharField()
    row_sha256 = serializers.CharField()


class FlippedTestOut(serializers.Serializer):
    id = serializers.CharField()
    to = serializers.CharField()

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = {"id": serializers.CharField(), "from": serializers.CharField()}
        fields.update({k: v for k, v in super().get_fields().items() if k != "id"})
        return fields


class StatusChangeOut(serializers.Serializer):
    subject = serializers.CharField()
    organisation = serializers.CharField()
    regime = serializers.CharField()
    from_status = serializers.ChoiceField(choices=STATUS_CHOICES)
    to_status = serializers.ChoiceField(choices=STATUS_CHOICES)
    from_tier = serializers.CharField(allow_null=True, help_text="The tier reached before, or null.")
    to_tier = serializers.CharField(allow_null=True, help_text="The tier reached now, or null.")
    flipped_tests = FlippedTestOut(many=True)
    from_determination = serializers.IntegerField(help_text="The earlier determination's id (its position in the chain).")
    to_determination = serializers.IntegerField(help_text="The determination that changed it (its id, its position).")
    from_rule_version = serializers.CharField(allow_blank=True)
    to_rule_version = serializers.CharField(allow_blank=True)


class RunOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    kind = serializers.ChoiceField(choices=Trigger.choices)
    status = serializers.ChoiceField(choices=RunStatus.choices)
    as_of = serializers.DateField()
    regimes = serializers.ListField(child=serializers.CharField(), help_text="Empty means every regime.")
    subjects = serializers.ListField(child=serializers.CharField(), allow_null=True,
                                     help_text="Null means the whole registry.")
    total = serializers.IntegerField(help_text="Subjects to evaluate (for a lab: its own).")
    done = serializers.IntegerField(help_text="Subjects evaluated (for a lab: its own).")
    progress_percent = serializers.FloatField()
    changes_count = serializers.IntegerField(help_text="Status changes found (for a lab: its own).")
    changes_url = serializers.URLField()
    determinations_url = serializers.URLField()
    requested_by = serializers.CharField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class RunDetailOut(RunOut):
    changes = StatusChangeOut(many=True, help_text=(
        "The status changes the run found (for a lab: its own), by subject: the first API_MAX_PAGE_SIZE (500) "
        "of them; `changes_count` counts them all and `changes_url` pages through them all."))


class HypotheticalOut(serializers.Serializer):
    """A hypothetical evaluation: a preview, never a determination of record."""

    hypothetical = serializers.BooleanField(help_text="Always true: the subject as it stands today.")
    as_of = serializers.DateField(help_text="The date whose law was applied.")
    recorded = serializers.BooleanField(help_text="Always false: a preview is never recorded.")
    evaluations = serializers.ListField(
        child=serializers.DictField(),
        help_text="One `evaluate` JSON object (DESIGN.md) per regime, with `tier`, `tier_title` and `reason`.")


class ParameterOut(serializers.Serializer):
    id = serializers.CharField()
    value = serializers.FloatField()
    unit = serializers.CharField(allow_null=True)
    operator = serializers.CharField()
    text_operator = serializers.CharField(allow_null=True)
    citation = serializers.CharField(allow_null=True)
    provenance = serializers.CharField(allow_null=True)
    reading = serializers.CharField(allow_null=True)


class RuleTestOut(serializers.Serializer):
    id = serializers.CharField()
    title = serializers.CharField()
    applies_to = serializers.CharField()
    condition = serializers.CharField()
    arguments = serializers.DictField()
    citation = serializers.CharField(allow_null=True)
    quote = serializers.DictField(allow_null=True)
    reading = serializers.CharField(allow_null=True)


class RuleVersionSummaryOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    regime = serializers.CharField()
    version_id = serializers.CharField()
    title = serializers.CharField(allow_blank=True)
    state = serializers.ChoiceField(choices=("draft", "published"))
    legal_status = serializers.CharField()
    effective_from = serializers.DateField(allow_null=True)
    effective_to = serializers.DateField(allow_null=True, help_text="First day no longer in force.")
    content_sha256 = serializers.CharField()


class RuleVersionOut(RuleVersionSummaryOut):
    regime_title = serializers.CharField()
    jurisdiction = serializers.CharField(allow_null=True)
    published_on = serializers.DateField(allow_null=True)
    corrects = serializers.CharField(
        allow_null=True, help_text="The version id whose period this version corrects in part (it is the version in "
                                   "force on the days of its own period), or null.")
    last_verified_on = serializers.DateField(allow_null=True)
    provenance = serializers.CharField(allow_blank=True)
    origin = serializers.CharField()
    created_at = serializers.DateTimeField()
    published_at = serializers.DateTimeField(allow_null=True)
    instrument = serializers.DictField(allow_null=True)
    caveats = serializers.ListField(child=serializers.CharField())
    parameters = ParameterOut(many=True)
    tests = RuleTestOut(many=True)
    readings = serializers.ListField(child=serializers.DictField())
    problems = serializers.ListField(child=serializers.CharField(), help_text="Why a draft's file does not parse.")
    content = serializers.CharField(help_text="The rule file (YAML) exactly as published or drafted.")


class RegimeOut(serializers.Serializer):
    slug = serializers.CharField()
    url = serializers.URLField()
    title = serializers.CharField()
    jurisdiction = serializers.CharField(allow_null=True)
    versions_url = serializers.URLField()
    versions = RuleVersionSummaryOut(many=True)


class AcceleratorOut(serializers.ModelSerializer):
    class Meta:
        model = Accelerator
        exclude = ("id",)


class EvaluationRequest(serializers.Serializer):
    subject = serializers.CharField(
        max_length=500, allow_null=True, required=False, default=None,
        help_text="model:ORG/NAME@VERSION, cluster:ORG/NAME or organisation:ORG; null (regulators only): the whole registry.",
    )
    as_of = interchange.IsoDate(help_text="The date whose law applies (YYYY-MM-DD); default today.")
    regimes = serializers.ListField(
        child=serializers.SlugField(max_length=64), required=False, default=list, max_length=50,
        help_text="Regime slugs; empty: every regime.",
    )
    hypothetical = serializers.BooleanField(
        required=False, default=False,
        help_text="Apply the law of `as_of` to the subject as it stands today ('would it have been covered?'), "
                  "counting a model or cluster that did not exist yet on that date. A preview: answered at once "
                  "(200), never recorded in the decision log; needs a `subject`.",
    )

    def validate_subject(self, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return parse_subject(value).ref
        except SubjectError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["the body must be a JSON object"]})
        return super().to_internal_value(data)
