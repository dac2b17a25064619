"""Run triggers and audit-event actions are defined once (rules.models.runs.Trigger,
accounts.models.AuditAction), and every model field, serializer and filter that holds a status, an
outcome, a trigger or an action takes its choices from its one definition."""

from __future__ import annotations

import pytest

from accounts.models import AuditAction, AuditEvent
from api.filters import DeterminationFilter
from api.serializers import rules as api_rules
from rules.engine.vocabulary import OUTCOME_CHOICES, STATUS_CHOICES, Status
from rules.models import Determination, EvaluationRun, PendingEvaluation, StatusChange
from rules.models.runs import Trigger

from ..engine.conftest import REPO
from ..engine.test_vocabulary import app_modules, string_constants

# README, "Decision log and jobs": what triggered a determination.
README_TRIGGERS = {"submission", "publication", "schedule", "manual"}
# The audit trail's actions as the accounts tests and the security review read them.
AUDIT_ACTIONS = {
    "token.issued", "token.revoked", "role.changed", "record.created", "record.revised",
    "rule_version.published", "user.privileges_changed", "group.permissions_changed",
    "fulfilment.recorded", "fulfilment.reviewed", "incident.recorded",
}


def choices_of(model, name: str) -> list[tuple[str, str]]:
    return list(model._meta.get_field(name).choices)


def test_the_triggers_are_the_ones_the_decision_log_records() -> None:
    assert set(Trigger.values) == README_TRIGGERS


def test_the_audit_actions_are_the_ones_the_trail_records() -> None:
    assert set(AuditAction.values) == AUDIT_ACTIONS


@pytest.mark.parametrize(("model", "field"), [
    (Determination, "status"), (StatusChange, "from_status"), (StatusChange, "to_status"),
])
def test_status_fields_take_their_choices_from_the_vocabulary(model, field) -> None:
    assert choices_of(model, field) == STATUS_CHOICES


@pytest.mark.parametrize(("model", "field"), [
    (Determination, "trigger"), (PendingEvaluation, "trigger"), (EvaluationRun, "kind"),
])
def test_trigger_fields_take_their_choices_from_the_triggers(model, field) -> None:
    assert choices_of(model, field) == Trigger.choices


def test_the_audit_event_action_takes_its_choices_from_the_actions() -> None:
    assert choices_of(AuditEvent, "action") == AuditAction.choices


def test_the_api_offers_the_vocabulary_s_words() -> None:
    assert list(api_rules.DeterminationOut().fields["status"].choices) == [value for value, _ in STATUS_CHOICES]
    assert list(api_rules.TestOutcomeOut().fields["outcome"].choices) == [value for value, _ in OUTCOME_CHOICES]
    assert list(api_rules.DeterminationOut().fields["trigger"].choices) == Trigger.values
    assert list(api_rules.RunOut().fields["kind"].choices) == Trigger.values
    assert set(api_rules.StatusChangeOut().fields["to_status"].choices) == set(Status)
    assert DeterminationFilter.base_filters["status"].extra["choices"] == STATUS_CHOICES


def test_no_module_spells_an_audit_action_outside_its_definition() -> None:
    defining = REPO / "accounts" / "models.py"
    found = [f"{path.relative_to(REPO)}:{line}: {value!r}" for path in app_modules() if path != defining
             for line, value in string_constants(path) if value in AUDIT_ACTIONS]
    assert found == [], "use accounts.models.AuditAction instead of:\n" + "\n".join(found)


def test_no_evaluation_module_spells_a_trigger_outside_its_definition() -> None:
    # `bench` names its load scenarios ("submission") in words of its own, so only the apps that
    # start, record and show evaluations are read.
    defining = REPO / "rules" / "models" / "runs.py"
    found = [f"{path.relative_to(REPO)}:{line}: {value!r}" for path in app_modules()
             if path != defining and path.relative_to(REPO).parts[0] in ("rules", "reports", "api", "workspace")
             for line, value in string_constants(path) if value in README_TRIGGERS]
    assert found == [], "use rules.models.runs.Trigger instead of:\n" + "\n".join(found)
