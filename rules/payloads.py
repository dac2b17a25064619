"""Payloads packed against their rule version's dictionary.

Determinations under one rule version say much the same thing: the version's caveats, each test's
title, citation, operators and threshold labels, the shape of the quantities. What is the same is
stored once, as a dictionary (`PayloadDictionary`: the first payload stored for a regime, rule
version, kind of subject and status, headed by those four, under its own SHA-256); each payload
is stored as Zstandard's compression of its text against that dictionary, so only what differs
takes room. Unpacking gives back the exact text, whose SHA-256 is the one the row's hash covers:
`verify_log` unpacks every payload and checks that hash, and each dictionary's.

A packed payload cannot be read in SQL, so it keeps beside it the few strings that may name a
model (`names`: what the release scope of another organisation's unreleased models looks for) and
its quantities' values (`quantities`: what the reports' charts read).
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, TypeVar

import zstandard
from django.db import models

from .bulk_write import written_fields
from .models import Payload, PayloadDictionary

LEVEL = 3

Key = TypeVar("Key")


class DictionaryKey(NamedTuple):
    """What payloads share a dictionary: the regime, the rule version's hash, the kind of subject and
    the status (payloads of one status are most alike: the same tests met, the same notes)."""

    regime: str
    rule_hash: str
    subject_kind: str
    status: str


def names(text: str) -> str:
    """The strings of a payload's text that may name a model, one per line, as written in it: each
    JSON string holding an "@" (model references, "org/name@version", are written so, alone or in
    brackets inside a message). In JSON an "@" is only ever inside a string, and a quote inside a
    string is escaped, so the string is found from each "@" to the unescaped quotes around it."""
    found: dict[str, None] = {}
    at = text.find("@")
    while at != -1:
        start, end = _unescaped_quote(text, at, -1), _unescaped_quote(text, at, 1)
        if start == -1 or end == -1:
            break
        found[text[start:end + 1]] = None
        at = text.find("@", end + 1)
    return "\n".join(found)


def _unescaped_quote(text: str, position: int, step: int) -> int:
    """The nearest quote before (`step` -1) or after (1) the position that no backslash escapes."""
    while True:
        position = text.rfind('"', 0, position) if step < 0 else text.find('"', position + 1)
        if position == -1:
            return -1
        backslashes = 0
        while position - 1 - backslashes >= 0 and text[position - 1 - backslashes] == "\\":
            backslashes += 1
        if backslashes % 2 == 0:
            return position


_local = threading.local()


def _cache(name: str) -> dict[Any, Any]:
    """This thread's cache by dictionary hash: a dictionary's text never changes (it is stored under
    its hash), so each thread keeps what it made of those it has read."""
    cache = getattr(_local, name, None)
    if cache is None:
        cache = {}
        setattr(_local, name, cache)
    return cache


def _dictionary(sha256: str, model: type[models.Model] = PayloadDictionary) -> zstandard.ZstdCompressionDict:
    """The dictionary stored under this hash in `model`'s table (payloads' or facts snapshots')."""
    cache = _cache("dictionaries")
    found = cache.get((model, sha256))
    if found is None:
        text = model.objects.values_list("text", flat=True).get(sha256=sha256)
        found = cache[(model, sha256)] = zstandard.ZstdCompressionDict(text.encode(),
                                                                       dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        found.precompute_compress(level=LEVEL)
    return found


def _decompressor(sha256: str, model: type[models.Model] = PayloadDictionary) -> zstandard.ZstdDecompressor:
    cache = _cache("decompressors")
    found = cache.get((model, sha256))
    if found is None:
        found = cache[(model, sha256)] = zstandard.ZstdDecompressor(dict_data=_dictionary(sha256, model))
    return found


def compressor(sha256: str, model: type[models.Model] = PayloadDictionary) -> zstandard.ZstdCompressor:
    """A compressor against the dictionary stored under this hash, writing only what unpacking needs."""
    return zstandard.ZstdCompressor(level=LEVEL, dict_data=_dictionary(sha256, model),
                                    write_checksum=False, write_dict_id=False)


def decompressed(packed: Any, sha256: str, model: type[models.Model] = PayloadDictionary) -> str:
    """The text packed against the dictionary stored under this hash."""
    return _decompressor(sha256, model).decompress(bytes(packed)).decode()


def first_stored(first: dict[Key, str], *, read: Callable[[], dict[Key, str]],
                 make: Callable[[Key, str], models.Model]) -> dict[Key, str]:
    """The dictionary (its hash) for each key: the one stored (`read` gives them by key), else the row
    `make` builds of `first`'s text for it, stored now (the first stored wins, whichever transaction
    stores it). Payloads' and facts snapshots' dictionaries alike."""
    found = read()
    missing = [make(key, first[key]) for key in first if key not in found]
    if missing:
        type(missing[0]).objects.bulk_create(missing, ignore_conflicts=True)
        found = read()
    return found


def packer(model: type[models.Model]) -> Callable[[str, str], bytes]:
    """Packs a text against the dictionary of `model`'s table stored under a hash, one compressor
    per dictionary."""
    compressors: dict[str, zstandard.ZstdCompressor] = {}

    def pack(dictionary: str, text: str) -> bytes:
        found = compressors.get(dictionary)
        if found is None:
            found = compressors[dictionary] = compressor(dictionary, model)
        return found.compress(text.encode())

    return pack


def _dictionaries_for(keys: dict[DictionaryKey, str]) -> dict[DictionaryKey, str]:
    """The payload dictionary (its hash) for each key (`first_stored`), each headed by its key, so that
    the same payload under two keys makes two dictionaries."""
    from .decision_log import sha256_text

    def read() -> dict[DictionaryKey, str]:
        rows = PayloadDictionary.objects.filter(
            regime__in={key.regime for key in keys}, rule_hash__in={key.rule_hash for key in keys},
        ).values_list("regime", "rule_hash", "subject_kind", "status", "sha256")
        return {DictionaryKey(*row[:4]): row[4] for row in rows}

    def make(key: DictionaryKey, text: str) -> PayloadDictionary:
        headed = f"{key.regime} {key.rule_hash} {key.subject_kind} {key.status}\n{text}"
        return PayloadDictionary(sha256=sha256_text(headed), regime=key.regime, rule_hash=key.rule_hash,
                                 subject_kind=key.subject_kind, status=key.status, text=headed)

    return first_stored(keys, read=read, make=make)


class PayloadText(NamedTuple):
    """A payload ready to store: its canonical text, the key of the dictionary it is packed against,
    and its quantities' values (`quantities`, worked out from the data the text was written from)."""

    text: str
    key: DictionaryKey
    quantities: str


def packed_rows(payloads: dict[str, PayloadText]) -> list[tuple[Any, ...]]:
    """The payload rows (every column, in order) for these texts by hash, each packed against its
    dictionary, storing any dictionary not stored yet."""
    first: dict[DictionaryKey, str] = {}
    for text, key, _ in payloads.values():
        first.setdefault(key, text)
    chosen = _dictionaries_for(first)
    pack = packer(PayloadDictionary)
    rows = []
    for sha, (text, key, quantified) in payloads.items():
        dictionary = chosen[key]
        values = {"sha256": sha, "text": None, "packed": pack(dictionary, text),
                  "dictionary_id": dictionary, "names": names(text), "quantities": quantified}
        rows.append(tuple(values[field.attname] for field in written_fields(Payload)))
    return rows


def quantities_of(data: dict[str, Any]) -> str:
    """A payload's quantities that have a value, by name, from its data (canonical JSON)."""
    from .decision_log import canonical

    found = data.get("quantities") or {}
    return canonical({name: {"value": quantity["value"]} for name, quantity in found.items()
                      if isinstance(quantity, dict) and quantity.get("value") is not None})


def quantities(text: str) -> str:
    """A payload's quantities that have a value, by name, from its text (what `verify_log` checks)."""
    return quantities_of(json.loads(text))


def unpacked(text: str | None, packed: Any, dictionary: str | None) -> str:
    """A stored payload's text: as stored, or unpacked against its dictionary."""
    if packed is None:
        return text or ""
    return decompressed(packed, dictionary)


STORED = ("sha256", "text", "packed", "dictionary_id")


def texts(shas: Iterable[str]) -> dict[str, str]:
    """The texts of these payloads by hash (one query; those not stored are left out)."""
    wanted = list(set(shas))
    rows = Payload.objects.filter(sha256__any=wanted).values_list(*STORED) if wanted else ()
    return {sha: unpacked(text, packed, dictionary) for sha, text, packed, dictionary in rows}


def numbered_texts(numbers: Iterable[int]) -> dict[int, str]:
    """The texts of these payloads by number (one query; those not stored are left out)."""
    wanted = sorted(set(numbers))
    rows = Payload.objects.filter(id__any=wanted).values_list("id", *STORED[1:]) if wanted else ()
    return {number: unpacked(*stored) for number, *stored in rows}
