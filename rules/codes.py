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

from typing import Any

from django.core import checks
from django.db import models

VOCABULARIES: dict[str, tuple[str, ...]] = {
    "status": ("covered", "indeterminate", "not_applicable", "not_covered", "not_in_force"),
    "trigger": ("manual", "publication", "schedule", "submission"),
    "subject_kind": ("cluster", "model", "organisation"),
}
# what a lookup sends for a text not of the vocabulary: no row has it
NO_CODE = 0


def code(vocabulary: str, text: str) -> int:
    """The code a text of the vocabulary is stored as (`KeyError` for one that is not of it)."""
    return CODES[vocabulary][text]


def text(vocabulary: str, value: int | None) -> str | None:
    """The text a stored code stands for; a code no text has (written by raw SQL) as its digits."""
    if value is None:
        return None
    return TEXTS[vocabulary].get(value, str(value))


CODES = {name: {word: place for place, word in enumerate(words, start=1)} for name, words in VOCABULARIES.items()}
TEXTS = {name: {place: word for word, place in codes.items()} for name, codes in CODES.items()}


class CodedField(models.CharField):
    """A text of a closed vocabulary (`VOCABULARIES`): the text in Python, its code (`smallint`) in the
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
        if self.vocabulary not in VOCABULARIES:
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
        return CODES[self.vocabulary].get(value, NO_CODE)

    def get_db_prep_save(self, value: Any, connection: Any) -> Any:
        if value is not None and value not in CODES[self.vocabulary]:
            raise ValueError(f"{self.name}: {value!r} is not one of {', '.join(VOCABULARIES[self.vocabulary])}")
        return super().get_db_prep_save(value, connection)
