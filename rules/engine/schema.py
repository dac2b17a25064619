"""The JSON Schema of rule files (schema 1) and the errors that name file, path and reason."""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator

DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
NULLABLE_DATE = {"anyOf": [DATE, {"type": "null"}]}
# A parameter's value: a number, or an exact ratio the text gives in words ("a third": "1/3"), which
# no decimal writes exactly.
RATIO_PATTERN = r"^[1-9][0-9]*/[1-9][0-9]*$"
PROVENANCE = {"enum": ["V-OFFICIAL", "V-COPY", "V-QUOTED", "SECONDARY", "UNVERIFIED"]}
# a paraphrase stands where SOURCES.md has no verbatim text: only these labels may carry one
PARAPHRASE_PROVENANCE = {"enum": ["SECONDARY", "UNVERIFIED"]}
# `passed`: passed by the legislature, its enactment not verified; `superseded`: replaced before it
# ever took effect; `not-enforced`: on the books, its rescission announced, not enforced
LEGAL_STATUSES = ["enacted", "proposed", "passed", "vetoed", "revoked", "guidance", "superseded", "not-enforced"]
TEXT = {"type": "string", "minLength": 1}
NULLABLE_TEXT = {"type": ["string", "null"]}
READINGS = ["dense_max", "dense_16bit", "sparse_max"]

QUOTE = {
    "type": ["object", "null"],
    "additionalProperties": False,
    "required": ["text", "source", "provenance"],
    "properties": {
        "text": {"type": ["string", "null"]},
        "source": NULLABLE_TEXT,
        "provenance": PROVENANCE,
    },
}
PARAPHRASE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["text", "source", "provenance"],
    "properties": {"text": TEXT, "source": TEXT, "provenance": PARAPHRASE_PROVENANCE},
}

RULE_FILE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema", "regime", "version", "instrument", "parameters", "tests"],
    "properties": {
        "schema": {"const": 1},
        "regime": {
            "type": "object",
            "additionalProperties": False,
            "required": ["slug", "title", "jurisdiction"],
            "properties": {
                "slug": {"type": "string", "pattern": r"^[a-z0-9]+(-[a-z0-9]+)*$"},
                "title": TEXT,
                "jurisdiction": {"type": "string", "pattern": r"^[A-Z]{2}(-[A-Z]{2})?$"},
            },
        },
        "version": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "title", "legal_status", "effective_from", "effective_to",
                         "last_verified_on", "provenance"],
            "properties": {
                "id": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]*$"},
                "title": TEXT,
                "legal_status": {"enum": LEGAL_STATUSES},
                "effective_from": NULLABLE_DATE,
                "effective_to": NULLABLE_DATE,
                "published_on": NULLABLE_DATE,
                # the id of an earlier version of this regime whose period this one corrects in part
                "corrects": {"anyOf": [{"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]*$"},
                                       {"type": "null"}]},
                "last_verified_on": DATE,
                "provenance": PROVENANCE,
                "caveats": {"type": "array", "items": TEXT},
            },
        },
        "instrument": {
            "type": "object",
            "additionalProperties": False,
            "required": ["citation"],
            "properties": {
                "citation": TEXT,
                "url": {"type": ["string", "null"]},
                "status_history": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["date", "event", "provenance"],
                        "properties": {"date": DATE, "event": TEXT, "provenance": PROVENANCE},
                    },
                },
            },
        },
        "parameters": {
            "type": "object",
            "propertyNames": {"pattern": r"^[a-z][a-z0-9_]*$"},
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["value", "operator", "citation"],
                "properties": {
                    "value": {"type": ["number", "string"], "pattern": RATIO_PATTERN},
                    "unit": {"enum": ["ops", "ops_per_second", "gbit_per_second", "usd", "ratio",
                                      "parameters"]},
                    "operator": {"enum": [">", ">=", "<", "<="]},
                    "text_operator": NULLABLE_TEXT,
                    "citation": NULLABLE_TEXT,
                    "provenance": PROVENANCE,
                    "reading": NULLABLE_TEXT,
                },
            },
        },
        "readings": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "text"],
                "properties": {"id": TEXT, "text": TEXT},
            },
        },
        "tiers": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "title", "applies_to", "reached_when"],
                "properties": {
                    "id": {"type": "string", "pattern": r"^[a-z0-9]+(-[a-z0-9]+)*$"},
                    "title": TEXT,
                    "applies_to": {"enum": ["model", "cluster", "organisation"]},
                    "reached_when": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                },
            },
        },
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "title", "applies_to", "condition", "citation", "quote"],
                "properties": {
                    "id": {"type": "string", "pattern": r"^[a-z0-9]+(-[a-z0-9]+)*$"},
                    "title": TEXT,
                    "applies_to": {"type": "string"},
                    "condition": TEXT,
                    "arguments": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "network_threshold": {"type": "string"},
                            "reading": {"enum": READINGS},
                        },
                    },
                    "citation": NULLABLE_TEXT,
                    "quote": QUOTE,
                    "paraphrase": PARAPHRASE,
                    "caveat": TEXT,
                    "reading": NULLABLE_TEXT,
                },
            },
        },
        "obligations": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "title", "attaches_to"],
                "properties": {
                    "id": {"type": "string", "pattern": r"^[a-z0-9]+(-[a-z0-9]+)*$"},
                    "title": TEXT,
                    "attaches_to": {
                        "type": "object",
                        "additionalProperties": False,
                        "minProperties": 1,
                        "maxProperties": 1,
                        "properties": {"tier": TEXT, "test": TEXT},
                    },
                    "citation": NULLABLE_TEXT,
                    "quote": QUOTE,
                    "paraphrase": PARAPHRASE,
                    "caveat": TEXT,
                    "reading": NULLABLE_TEXT,
                    # the due rule (rules.engine.obligations reads it and names what is wrong): one
                    # mapping, or a list whose rules with `when` come before the general one
                    "due": {"type": ["object", "array", "null"]},
                },
            },
        },
    },
}

_VALIDATOR = Draft202012Validator(RULE_FILE_SCHEMA)


class RuleLibraryError(Exception):
    """Base of every error the rule library raises."""


class RuleFileError(RuleLibraryError):
    """One problem in one rule file, at one path: `file: path: reason`."""

    def __init__(self, file: str, path: str, reason: str) -> None:
        self.file = file
        self.path = path
        self.reason = reason
        super().__init__(f"{file}: {path}: {reason}" if path else f"{file}: {reason}")


class RuleFileErrors(RuleLibraryError):
    """Every problem found in one or more rule files, one per line."""

    def __init__(self, errors: list[RuleFileError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(error) for error in errors))


def format_path(parts: Any) -> str:
    """`['tests', 2, 'citation']` -> `tests[2].citation`."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _describe(error: Any) -> tuple[list, str]:
    path = list(error.absolute_path)
    kind = error.validator
    if kind == "required":
        match = re.match(r"^'(.+)' is a required property$", error.message)
        return path + ([match.group(1)] if match else []), "required"
    if kind == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return path + extra[:1], "unknown key (not in schema 1)"
    if "propertyNames" in error.schema_path:
        return path + [error.instance], "a parameter id is lowercase snake_case"
    if kind in ("enum", "const"):
        allowed = error.validator_value if kind == "enum" else [error.validator_value]
        return path, f"{error.instance!r} is not one of {', '.join(map(str, allowed))}"
    if kind == "type":
        wanted = error.validator_value
        wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
        return path, f"must be {wanted}, not {type(error.instance).__name__} {error.instance!r}"
    if kind == "pattern":
        if error.validator_value == DATE["pattern"]:
            return path, f"{error.instance!r} is not a date (YYYY-MM-DD)"
        if error.validator_value == RATIO_PATTERN:
            return path, f"{error.instance!r} is not a number or a ratio written as whole numbers (\"1/3\")"
        return path, f"{error.instance!r} does not match {error.validator_value}"
    if kind == "anyOf" and error.schema is NULLABLE_DATE:
        return path, f"{error.instance!r} is not a date (YYYY-MM-DD) or null"
    if kind == "minLength":
        return path, "must not be empty"
    return path, error.message


def _path_order(error: Any) -> list:
    return [(1, part, "") if isinstance(part, int) else (0, 0, str(part)) for part in error.absolute_path]


def validate_document(document: Any, *, origin: str) -> list[RuleFileError]:
    """Every schema-1 violation in a parsed rule file, in document order."""
    if not isinstance(document, dict):
        return [RuleFileError(origin, "", "a rule file is a mapping (schema: 1, regime, version, ...)")]
    if document.get("schema") != 1:
        return [RuleFileError(origin, "schema", f"unsupported schema {document.get('schema')!r}: expected 1")]
    errors = []
    for error in sorted(_VALIDATOR.iter_errors(document), key=_path_order):
        path, reason = _describe(error)
        errors.append(RuleFileError(origin, format_path(path), reason))
    return errors
