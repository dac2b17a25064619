"""Closed vocabularies of the decision log (a determination's status, its trigger, its subject's kind)
stored as small integers: 2 bytes a value where its text took 7 to 15, in every row and in the indexes
that lead with it.

Nothing else changes: the product reads and writes the text (`CodedField.from_db_value` gives it back,
lookups and saves send the code), and a row's hash covers the text as it always did. A text that is not
of the vocabulary is never stored (saving it raises `ValueError`, naming the field) and, looked up,
matches nothing. Paths that bypass the ORM convert: COPY with `rules.bulk_write.stored_values`, raw SQL
with `code` and `text`.

Codes are the texts' places in their vocabulary in sorted order, from 1, so that the rows sort by code
as they sorted by text. A code is never changed or reused: a new text is added at the end of its
vocabulary, and sorts last.
"""
from __future__ import annotations

import functools
from typing import Any

from django.core import checks
from django.db import models


@functools.cache
def vocabularies() -> dict[str, tuple[str, ...]]:
    """Each vocabulary's texts in the order of their codes (read from their definitions, once)."""
    from .engine.vocabulary import Status
    from .models.runs import Trigger

    return {
        "status": tuple(status.value for status in (Status.COVERED, Status.INDETERMINATE, Status.NOT_APPLICABLE,
                                                    Status.NOT_COVERED, Status.NOT_IN_FORCE)),
        "trigger": tuple(trigger.value for trigger in (Trigger.MANUAL, Trigger.PUBLICATION, Trigger.SCHEDULE,
                                                       Trigger.SUBMISSION)),
        "subject_kind": ("cluster", "model", "organisation"),
    }


# what a lookup sends for a text not of the vocabulary: no row has it
NO_CODE = 0


@functools.cache
def codes_of(vocabulary: str) -> dict[str, int]:
    """Each text of the vocabulary and the code it is stored as."""
    return {word: place for place, word in enumerate(vocabularies()[vocabulary], start=1)}


@functools.cache
def _texts_of(vocabulary: str) -> dict[int, str]:
    return {place: word for word, place in codes_of(vocabulary).items()}


def code(vocabulary: str, text: str) -> int:
    """The code a text of the vocabulary is stored as (`KeyError` for one that is not of it)."""
    return codes_of(vocabulary)[text]


def text(vocabulary: str, value: int | None) -> str | None:
    """The text a stored code stands for; a code no text has (written by raw SQL) as its digits."""
    if value is None:
        return None
    return _texts_of(vocabulary).get(value, str(value))


class CodedField(models.CharField):
    """A text of a closed vocabulary (`vocabularies`): the text in Python, its code (`smallint`) in the
    database. Lookups, forms, filters and serializers treat it as the text field it was."""

    description = "a text of a closed vocabulary, stored as its code"

    def __init__(self, *args: Any, vocabulary: str, **kwargs: Any) -> None:
        self.vocabulary = vocabulary
        kwargs.setdefault("max_length", 16)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[Any, ...]:
        name, path, args, kwargs = super().deconstruct()
        kwargs["vocabulary"] = self.vocabulary
        return name, path, args, kwargs

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        if self.vocabulary not in vocabularies():
            errors.append(checks.Error(f"{self.name}: no vocabulary named {self.vocabulary!r}", obj=self))
        return errors

    def db_type(self, connection: Any) -> str:
        return "smallint"

    def cast_db_type(self, connection: Any) -> str:
        return "smallint"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str | None:
        return text(self.vocabulary, value) if isinstance(value, int) else value

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None:
            return None
        return codes_of(self.vocabulary).get(value, NO_CODE)

    def get_db_prep_save(self, value: Any, connection: Any) -> Any:
        if value is not None and value not in codes_of(self.vocabulary):
            raise ValueError(f"{self.name}: {value!r} is not one of {', '.join(codes_of(self.vocabulary))}")
        return super().get_db_prep_save(value, connection)
