"""SHA-256 digests in the decision log: 64 hexadecimal characters wherever the product reads or shows
them, 32 bytes where PostgreSQL stores them.

A determination named five digests (its rule version's, its facts', its payload's, the previous
row's and its own). Written in hexadecimal they were 325 of a row's 476 bytes; as `bytea` they took
165. It keeps two now, 66 bytes: the previous row's is that row's own (migration rules.0019), and
the facts snapshot and payload are referred to by number, their digests kept once, with them
(rules.0025). Nothing else changes: the row's hash covers the hexadecimal text as it always did, and
the ORM gives the same strings back (`Sha256Field.from_db_value`). SQLite, the embedded default,
keeps them as text.

Paths that bypass the ORM convert: `field__any` with `looked_up`, COPY with `computed`.
"""
from __future__ import annotations

import re
from typing import Any

from django.core import checks
from django.db import models

HEX = re.compile(r"[0-9a-f]{64}")
# What a lookup sends for a value that is not a digest begins with this, and is never 32 bytes long
# (nor empty): it matches nothing, as the text it stood for matched nothing when digests were text.
NOT_A_DIGEST = b"not a SHA-256 digest: "


def binary(connection: Any) -> bool:
    """Whether this database stores digests as bytes."""
    return connection.vendor == "postgresql"


def stored(value: str | None) -> bytes | None:
    """A digest as PostgreSQL stores it: 32 bytes, or none for the empty text (a row without a rule version)."""
    if value is None:
        return None
    if value == "":
        return b""
    if len(value) == 64 and HEX.fullmatch(value):
        return bytes.fromhex(value)
    raise ValueError(f"not a SHA-256 digest in lowercase hexadecimal: {value[:80]!r}")


def computed(value: str | None) -> bytes | None:
    """A digest this product computed (`hashlib`'s lowercase hexadecimal, or empty) as PostgreSQL stores
    it, without `stored`'s checks: for the bulk writers, a quarter of its time per value. Anything but
    hexadecimal still raises `ValueError`."""
    return None if value is None else bytes.fromhex(value)


def looked_up(value: Any) -> Any:
    """A value compared with stored digests: the digest's bytes, or bytes no digest has."""
    if isinstance(value, str):
        try:
            return stored(value)
        except ValueError:
            marked = NOT_A_DIGEST + value.encode()
            return marked if len(marked) != 32 else marked + b"."
    return value


def shown(value: Any) -> Any:
    """A stored digest as the product shows it: lowercase hexadecimal."""
    if isinstance(value, memoryview | bytes):
        return bytes(value).hex()
    return value


class Sha256Field(models.CharField):
    """A SHA-256 digest: lowercase hexadecimal in Python (or empty), `bytea` on PostgreSQL.

    Saving anything but a digest or the empty text raises `ValueError`; looking one up matches
    nothing. A foreign key to a model keyed by a digest stores it the same way (`rel_db_type`)."""

    description = "SHA-256 digest"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 64)
        super().__init__(*args, **kwargs)

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        if self.max_length != 64:
            errors.append(checks.Error("a SHA-256 digest is 64 hexadecimal characters: max_length must be 64",
                                       obj=self, id="rules.E001"))
        return errors

    def db_type(self, connection: Any) -> str | None:
        return "bytea" if binary(connection) else super().db_type(connection)

    def rel_db_type(self, connection: Any) -> str | None:
        return self.db_type(connection)

    def cast_db_type(self, connection: Any) -> str | None:
        return self.db_type(connection)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return shown(value)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        value = super().get_db_prep_value(value, connection, prepared)
        return looked_up(value) if binary(connection) else value

    def get_db_prep_save(self, value: Any, connection: Any) -> Any:
        value = self.get_prep_value(value)
        digest = stored(value)  # refuses anything but a digest, on every database
        return digest if binary(connection) else value


def is_digest(field: Any) -> bool:
    """Whether a model field (or a foreign key's) stores a digest as `Sha256Field` does."""
    target = getattr(field, "target_field", None) if field.is_relation else None
    return isinstance(target if target is not None else field, Sha256Field)
