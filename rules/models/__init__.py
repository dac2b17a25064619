"""The rules app's records: rule versions, the decision log, evaluation runs and their outbox."""
from .decision_log import (
    AppendOnlyError,
    Confirmation,
    CurrentDetermination,
    Determination,
    DeterminationAhead,
    FactsDictionary,
    FactsSnapshot,
    LoggedSubject,
    LogHead,
    Payload,
    PayloadDictionary,
    facts_sha256_filled,
    previous_filled,
)
from .rule_version import RuleVersion
from .runs import EvaluationRun, PendingEvaluation, RunChunk, StatusChange

__all__ = [
    "AppendOnlyError",
    "Confirmation",
    "CurrentDetermination",
    "Determination",
    "DeterminationAhead",
    "FactsDictionary",
    "FactsSnapshot",
    "LoggedSubject",
    "LogHead",
    "Payload",
    "PayloadDictionary",
    "RuleVersion",
    "EvaluationRun",
    "PendingEvaluation",
    "RunChunk",
    "StatusChange",
    "facts_sha256_filled",
    "previous_filled",
]
