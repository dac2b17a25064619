"""Names that read alike: a record's name skeleton, for refusing a new name that could be mistaken
for one its organisation (or, for organisations, the registry) already has ("Асме-1" in Cyrillic
for "Acme-1"). Confusable pairs come from the `confusables` package (Unicode's confusables.txt)."""
from __future__ import annotations

import unicodedata
from functools import lru_cache

import confusables

SKELETON_MAX = 800  # a 200-character name whose characters each read as up to four ASCII ones


@lru_cache(maxsize=4096)
def _character_skeleton(char: str) -> str:
    if char.isascii():
        return char.lower()
    forms = confusables.normalize(char, prioritize_alpha=True)
    return forms[0] if forms else char.lower()


def name_skeleton(name: str) -> str:
    """The name as it reads: NFKC-normalised, each character replaced by the ASCII one it can be
    mistaken for, case folded. Two names with one skeleton are confusable."""
    return "".join(_character_skeleton(char) for char in unicodedata.normalize("NFKC", name))[:SKELETON_MAX]
