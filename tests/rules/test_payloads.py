"""Payloads packed against their rule version's dictionary: the exact text back, the strings that
may name a model found as a search of the whole text would find them, one dictionary per key."""
from __future__ import annotations

import json

import orjson
import pytest

from rules.bulk_write import written_fields
from rules.decision_log import canonical, sha256_text
from rules.models import Payload, PayloadDictionary
from rules.payloads import DictionaryKey, PayloadText, names, packed_rows, quantities, quantities_of, texts, unpacked

pytestmark = pytest.mark.django_db

TEXTS = [
    canonical({"quantities": {"a": {"value": 10**26 + 1}, "b": {"value": None}}, "runs": [{"model": "org/base@1"}]}),
    canonical({"notes": ['facts of [rival/Secret@2] are missing', 'a "quoted@" word'], "key@": 1.5e25}),
    canonical({"reason": 'ends in a backslash \\', "next": "org/x@3"}),
    canonical({"nothing": "to name here", "n": 1}),
]


@pytest.mark.parametrize("text", TEXTS)
def test_names_hold_every_model_a_search_of_the_whole_text_finds(text):
    found = names(text)
    for ref in ("org/base@1", "rival/Secret@2", "org/x@3", "quoted@"):
        quoted = orjson.dumps(ref).decode()
        bracketed = f"[{quoted[1:-1]}]"
        assert (quoted in found or bracketed in found) == (quoted in text or bracketed in text), ref
    # each line is one whole JSON string of the text
    for line in filter(None, found.split("\n")):
        assert line in text and isinstance(json.loads(line), str) and "@" in line


def test_payloads_pack_against_one_dictionary_per_key_and_unpack_to_the_exact_text():
    model = DictionaryKey("eu-ai-act", "f" * 64, "model", "covered")
    cluster = DictionaryKey("eu-ai-act", "f" * 64, "cluster", "covered")
    same = TEXTS[0]
    payloads = {sha256_text(text): PayloadText(text, model, quantities(text)) for text in TEXTS}
    payloads[sha256_text(same + " ")] = PayloadText(same + " ", cluster, quantities(same))  # the same text, another key
    rows = packed_rows(payloads)
    Payload.objects.bulk_create([Payload(**dict(zip([f.attname for f in written_fields(Payload)], row,
                                                     strict=True))) for row in rows])
    assert PayloadDictionary.objects.count() == 2  # one per key, though their payloads are alike
    for dictionary in PayloadDictionary.objects.all():
        assert sha256_text(dictionary.text) == dictionary.sha256
    stored = texts(payloads)
    assert stored == {sha: payload.text for sha, payload in payloads.items()}
    for payload in Payload.objects.all():
        assert payload.text is None
        if payload.sha256 == sha256_text(same):  # the dictionary's own payload: only a reference to it is stored
            assert len(payload.packed) < 30 < len(same)
        assert unpacked(payload.text, payload.packed, payload.dictionary_id) == payload.content
        assert payload.names == names(payload.content)
        assert payload.quantities == quantities(payload.content)
    # a later batch under a key that has its dictionary packs against it
    later = canonical({"quantities": {"a": {"value": 3}}, "runs": [{"model": "org/other@1"}]})
    packed_rows({sha256_text(later): PayloadText(later, model, quantities(later))})
    assert PayloadDictionary.objects.count() == 2


def test_quantities_keep_only_those_with_a_value_as_the_text_writes_them():
    data = json.loads(TEXTS[0])
    assert quantities_of(data) == quantities(TEXTS[0]) == '{"a":{"value":100000000000000000000000001}}'
