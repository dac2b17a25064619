"""The rules app's records: rule versions, the decision log, evaluation runs and their outbox."""
from .decision_log import AppendOnlyError, Determination, FactsSnapshot, LogHead
from .rule_version import RuleVersion
from .runs import EvaluationRun, PendingEvaluation, RunChunk, StatusChange

__all__ = [
    "AppendOnlyError",
    "Determination",
    "FactsSnapshot",
    "LogHead",
    "RuleVersion",
    "EvaluationRun",
    "PendingEvaluation",
    "RunChunk",
    "StatusChange",
]
