"""Facts snapshots as the decision log stores them: a model's ancestors by reference, not by copy.

The engine reads a snapshot with its whole lineage (`lineage`: the base model's facts, its base's,
and so on). Stored that way a chain of depth D costs D² facts, and an organisation's snapshot D²
too. So each model that has a base is stored with `base_snapshot`: the SHA-256 of a lineage node
`{"kind": "lineage", "model": <the base's facts>, "accelerators": <its figures>, "base_snapshot": <the
next node's SHA-256, when it has a base>}`, each node stored once in the same content-addressed table.
The hashes nest, so a determination's `facts_sha256` still covers every ancestor's facts. Reading
expands them back into the snapshot the engine was given; a snapshot without references (every row
written before, and every model without a base) is stored and read exactly as it was.

Snapshots of one kind (model, cluster, organisation, lineage node) say much the same thing: the same
fields, the accelerator catalog's figures. Each is stored as Zstandard's compression of its text
against its kind's dictionary (`FactsDictionary`: the first snapshot of the kind stored, headed by
the kind), as payloads are (`rules.payloads`); unpacking gives back the exact text its hash covers.
Snapshots stored before they were packed keep their text.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

LINEAGE = "lineage"
BASE = "base_snapshot"

Encode = Callable[[Any], str]
Digest = Callable[[str], str]


class SnapshotReferenceError(ValueError):
    """A stored snapshot names a lineage node that is not stored."""


def _slug(model: dict[str, Any]) -> str | None:
    return (model.get("training_hardware") or {}).get("accelerator")


def _figures(models: Iterable[dict[str, Any]], accelerators: dict[str, Any]) -> dict[str, Any]:
    """The catalog figures these models use, in the order the snapshot builder writes them."""
    return {slug: accelerators[slug] for slug in map(_slug, models) if slug and slug in accelerators}


class FactsText(NamedTuple):
    """A snapshot's text ready to store, with its kind: the dictionary it is packed against."""

    text: str
    kind: str


class Compactor:
    """Turns expanded snapshots into stored texts, sharing lineage nodes between the snapshots of
    one batch (a chain of D models stores D nodes, not D²). `texts` gathers every text, with its
    kind, by its hash."""

    def __init__(self, *, encode: Encode, digest: Digest) -> None:
        self.encode, self.digest = encode, digest
        self.texts: dict[str, FactsText] = {}
        # a stored text's hash -> the lineage nodes it refers to, directly or through other nodes: with
        # its own text, they hold every fact of the snapshot it was made from
        self.parts: dict[str, tuple[str, ...]] = {}
        # (id of a base's facts, hash of the node after it) -> the base's node: facts dicts are shared
        # between the snapshots of one build and stay alive while the batch is prepared
        self._nodes: dict[tuple[int, str | None], str] = {}

    def _store(self, value: Any) -> str:
        text = self.encode(value)
        sha = self.digest(text)
        if sha not in self.texts:
            self.texts[sha] = FactsText(text, str(value.get("kind") or ""))
        return sha

    def _chain(self, lineage: list[dict[str, Any]], accelerators: dict[str, Any]) -> str:
        """The hash of the node for lineage[0], storing the nodes of the chain not stored yet."""
        after: str | None = None
        for base in reversed(lineage):
            key = (id(base), after)
            sha = self._nodes.get(key)
            if sha is None:
                node = {"kind": LINEAGE, "model": base, "accelerators": _figures([base], accelerators)}
                if after is not None:
                    node[BASE] = after
                sha = self._nodes[key] = self._store(node)
                self.parts.setdefault(sha, (*([after] if after else ()), *self.parts.get(after or "", ())))
            after = sha
        assert after is not None
        return after

    def _entry(self, model: dict[str, Any], lineage: list[dict[str, Any]], accelerators: dict[str, Any]) -> dict[str, Any]:
        return {"model": model, BASE: self._chain(lineage, accelerators)} if lineage else {"model": model, "lineage": []}

    def compact(self, snapshot: dict[str, Any]) -> str:
        """Stores the snapshot (its lineage by reference) and returns the hash a determination records."""
        kind, accelerators = snapshot.get("kind"), snapshot.get("accelerators") or {}
        if kind == "model" and snapshot.get("lineage"):
            stored = {key: value for key, value in snapshot.items() if key != "lineage"}
            stored.update(self._entry(snapshot["model"], snapshot["lineage"], accelerators))
            stored["accelerators"] = _figures([snapshot["model"]], accelerators)
        elif kind == "organisation" and any(entry.get("lineage") for entry in snapshot.get("models") or []):
            entries = snapshot["models"]
            stored = dict(snapshot)
            stored["models"] = [self._entry(e["model"], e.get("lineage") or [], accelerators) for e in entries]
            stored["accelerators"] = _figures((e["model"] for e in entries), accelerators)
        else:
            return self._store(snapshot)
        sha = self._store(stored)
        self.parts.setdefault(sha, tuple(dict.fromkeys(
            node for head in references(stored) for node in (head, *self.parts[head]))))
        return sha


def references(data: dict[str, Any]) -> list[str]:
    """The lineage nodes a stored snapshot or node names directly."""
    if BASE in data:
        return [data[BASE]]
    return [entry[BASE] for entry in data.get("models") or () if isinstance(entry, dict) and BASE in entry]


def may_refer(text: str) -> bool:
    """Cheap test before parsing: only a text that mentions the key can hold a reference."""
    return f'"{BASE}"' in text


Fetch = Callable[[list[str]], dict[str, str]]


def expand(data: dict[str, Any], fetch: Fetch) -> dict[str, Any]:
    """The snapshot as the engine was given it: each `base_snapshot` replaced by the lineage it names.
    `fetch` reads stored texts by hash; nodes are read one level of every chain at a time."""
    if not references(data) or data.get("kind") not in ("model", "organisation"):
        return data  # stored whole, or a lineage snapshot itself
    entries = [data] if data.get("kind") == "model" else [e for e in data["models"] if BASE in e]
    chains: list[list[dict[str, Any]]] = [[] for _ in entries]
    figures: dict[str, Any] = dict(data.get("accelerators") or {})
    cursors = [entry[BASE] for entry in entries]
    nodes: dict[str, dict[str, Any]] = {}
    while any(cursors):
        wanted = sorted({sha for sha in cursors if sha and sha not in nodes})
        found = fetch(wanted) if wanted else {}
        for sha in wanted:
            if sha not in found:
                raise SnapshotReferenceError(f"lineage snapshot {sha} is not stored")
            nodes[sha] = json.loads(found[sha])
        for index, sha in enumerate(cursors):
            if sha:
                node = nodes[sha]
                chains[index].append(node["model"])
                figures.update(node.get("accelerators") or {})
                cursors[index] = node.get(BASE)
    for entry, chain in zip(entries, chains, strict=True):
        del entry[BASE]
        entry["lineage"] = chain
    members = [data["model"], *data["lineage"]] if data.get("kind") == "model" else [
        m for e in data["models"] for m in [e["model"], *(e.get("lineage") or [])]]
    data["accelerators"] = dict(sorted(_figures(members, figures).items()))
    if data.get("kind") == "organisation":
        data["models"] = [{"lineage": e.get("lineage") or [], "model": e["model"]} for e in data["models"]]
    # keys sorted, as a snapshot stored whole reads back from its canonical text
    return dict(sorted(data.items()))


def fetch_stored(shas: list[str]) -> dict[str, str]:
    """Stored snapshot texts by hash, from the decision log's content-addressed table."""
    return texts(shas)


def expand_text(text: str, fetch: Fetch = fetch_stored) -> dict[str, Any]:
    """A stored snapshot's text, expanded."""
    data = json.loads(text)
    return expand(data, fetch) if may_refer(text) else data


# What a facts snapshot's text is read back from.
STORED = ("sha256", "facts", "packed", "dictionary_id")


def _dictionaries_for(first: dict[str, str]) -> dict[str, str]:
    """The dictionary (its hash) for each kind (`rules.payloads.first_stored`), headed by the kind."""
    from .decision_log import sha256_text
    from .models import FactsDictionary
    from .payloads import first_stored

    def read() -> dict[str, str]:
        return dict(FactsDictionary.objects.filter(kind__in=list(first)).values_list("kind", "sha256"))

    def make(kind: str, text: str) -> FactsDictionary:
        headed = f"facts {kind}\n{text}"
        return FactsDictionary(sha256=sha256_text(headed), kind=kind, text=headed)

    return first_stored(first, read=read, make=make)


def packed_rows(snapshots: dict[str, FactsText]) -> list[tuple[Any, ...]]:
    """The snapshot rows (every column, in order) for these texts by hash, each packed against its
    kind's dictionary, storing any dictionary not stored yet."""
    from . import bulk_write
    from .models import FactsDictionary, FactsSnapshot
    from .payloads import packer

    first: dict[str, str] = {}
    for text, kind in snapshots.values():
        first.setdefault(kind, text)
    chosen = _dictionaries_for(first) if first else {}
    pack = packer(FactsDictionary)
    columns = [field.attname for field in bulk_write.written_fields(FactsSnapshot)]
    rows = []
    for sha, (text, kind) in snapshots.items():
        values = {"sha256": sha, "facts": None, "packed": pack(chosen[kind], text), "dictionary_id": chosen[kind]}
        rows.append(tuple(values[column] for column in columns))
    return rows


def unpacked(facts: str | None, packed: Any, dictionary: str | None) -> str:
    """A stored snapshot's text: as stored, or unpacked against its dictionary."""
    if packed is None:
        return facts or ""
    from .models import FactsDictionary
    from .payloads import decompressed

    return decompressed(packed, dictionary, FactsDictionary)


def texts(shas: Iterable[str]) -> dict[str, str]:
    """The texts of these snapshots by hash (one query; those not stored are left out)."""
    from .models import FactsSnapshot

    wanted = list(set(shas))
    rows = FactsSnapshot.objects.filter(sha256__any=wanted).values_list(*STORED) if wanted else ()
    return {sha: unpacked(facts, packed, dictionary) for sha, facts, packed, dictionary in rows}


def numbered_texts(numbers: Iterable[int]) -> dict[int, str]:
    """The texts of these snapshots by number (one query; those not stored are left out)."""
    from .models import FactsSnapshot

    wanted = sorted(set(numbers))
    rows = FactsSnapshot.objects.filter(id__any=wanted).values_list("id", *STORED[1:]) if wanted else ()
    return {number: unpacked(*stored) for number, *stored in rows}
