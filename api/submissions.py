"""A registry write from the API: the request body becomes a one-record interchange document and
goes through `registry_submit`, so the API and the import command validate identically."""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from registry.designations import NOT_A_REGULATOR
from registry.services import IDENTITY, RecordExists, RegistryValidationError, identity_problems, record_save

from .exceptions import Conflict, FieldErrors

_RECORD_PATH = re.compile(r"^(?:organisations|models|clusters)\[0\]\.?")


def field_of(path: str) -> str | None:
    """`models[0].training_hardware.utilization` → `training_hardware.utilization`; the record itself → None."""
    field = _RECORD_PATH.sub("", path)
    return field or None


def storable_text(value: Any) -> bool:
    """A string the database can hold and look up (no NUL, no lone surrogate); the validator says why not."""
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def body_record(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise FieldErrors([{"field": None, "message": "the body must be a JSON object: one record of the interchange format"}])
    return dict(data)


def lab_body_record(data: Any) -> dict[str, Any]:
    """A lab's record: one carrying `designations` is refused, naming the field (a regulator records
    designations, at /api/v1/designations/)."""
    record = body_record(data)
    if "designations" in record:
        raise FieldErrors([{"field": "designations", "message": NOT_A_REGULATOR}])
    return record


def record_submit(*, kind: str, record: dict[str, Any], actor: Any, organisation_scope: str | None,
                  only_new: bool = False, organisations: Iterable[Any] = ()) -> tuple[Any, str]:
    """Validates and stores one record; returns (object, "created" | "revised" | "unchanged").

    The object carries its latest revision's facts and digest (`latest_facts`, `latest_sha256`).
    Raises FieldErrors naming each field and its problem, having written nothing; with `only_new`,
    Conflict when the record is stored already, having written nothing.
    """
    try:
        return record_save(kind=kind, record=record, current=None, actor=actor, via="api",
                           organisation_scope=organisation_scope, only_new=only_new, organisations=organisations)
    except RegistryValidationError as exc:
        raise FieldErrors([{"field": field_of(p.path), "message": p.message} for p in exc.problems]) from None
    except RecordExists as exc:
        raise Conflict(f"{exc.ref} exists already: revise it with PUT or PATCH") from None


def identity_keep(*, kind: str, record: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """A revision keeps the record's identity: a field left out is filled in, a changed one refused."""
    problems = identity_problems(kind, record, current)
    if problems:
        raise FieldErrors([{"field": field_of(p.path), "message": p.message} for p in problems])
    for name in IDENTITY[kind]:
        record[name] = current[name]
    return record
