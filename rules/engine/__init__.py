"""The rules engine: a pure-Python library (no Django) that loads cited rule files, derives the
quantities the law asks about, and decides each subject's status under each regime.
"""

from .evaluate import Evaluation, TestOutcome, evaluate, evaluate_many, evaluate_subject
from .headroom import headroom, max_dense_parameters
from .library import Library, RuleVersion, load_library, parse_rule_version, publish_file
from .lint import LintProblem, lint
from .schema import RuleFileError, RuleFileErrors, RuleLibraryError
from .subject import Subject, subject_ref
from .whatif import Change, what_if

__all__ = [
    "Change", "Evaluation", "Library", "LintProblem", "RuleFileError", "RuleFileErrors", "RuleLibraryError",
    "RuleVersion", "Subject", "TestOutcome", "evaluate", "evaluate_many", "evaluate_subject", "headroom",
    "lint", "load_library", "max_dense_parameters", "parse_rule_version", "publish_file", "subject_ref",
    "what_if",
]
