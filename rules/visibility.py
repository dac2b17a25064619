"""What a lab sees of another organisation's model through its own models' lineages: what that
organisation has released (`released_on` on or before today). Determinations and status changes that
rest on another organisation's unreleased model are withheld from the lab; a regulator sees everything.

The one rule, read by the API (`api.access`) and the workspace (`workspace.admin.scoping`) alike: each
passes the lab's organisation (id and slug); `organisation_id=None` (a regulator) withholds nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from django.db.models import Q, QuerySet
from django.utils import timezone

from registry.models import AIModel, ModelRevision

from .models import Determination


@dataclass(frozen=True)
class Unreleased:
    """Another organisation's models a lab's lineages reach that are not released (no `released_on`, or
    one after today): `foreign` their refs (`org/name@version`), `own` the lab's subject refs whose
    figures rest on them (its models above them, and its organisation)."""

    foreign: frozenset[str] = frozenset()
    own: frozenset[str] = frozenset()


NOTHING_WITHHELD = Unreleased()


def _split_ref(ref: Any) -> tuple[str, str, str] | None:
    if not isinstance(ref, str) or "/" not in ref or "@" not in ref:
        return None
    organisation, _, rest = ref.partition("/")
    name, _, version = rest.rpartition("@")
    return (organisation, name, version) if organisation and name and version else None


def unreleased_elsewhere(*, organisation_id: int | None, organisation_slug: str | None) -> Unreleased:
    """What of other organisations' models a lab may not see through its own models' lineages.

    Reads up every lineage the lab's models have now, and every base model its revisions ever named
    (an earlier determination may rest on one): one query per lineage level. No organisation (a
    regulator) withholds nothing."""
    if organisation_id is None:
        return NOTHING_WITHHELD
    columns = ("pk", "base_model_id", "organisation_id", "released_on", "organisation__slug", "name", "version")
    rows: dict[int, tuple[Any, ...]] = {}
    own = list(AIModel.objects.filter(organisation_id=organisation_id).values_list(*columns))
    rows.update((row[0], row) for row in own)
    # the base models its revisions named, by the subject ref each model keeps: one indexed IN, however many
    named = [f"model:{ref}" for ref in ModelRevision.objects.filter(model__organisation_id=organisation_id)
             .exclude(facts__base_model=None).values_list("facts__base_model", flat=True).distinct()
             if _split_ref(ref) is not None]
    wanted = {row[1] for row in own if row[1] is not None} - set(rows)
    extra: Q | None = Q(pk__in=wanted) | Q(stored_subject_ref__in=named)
    while extra is not None:
        found = list(AIModel.objects.filter(extra).values_list(*columns))
        rows.update((row[0], row) for row in found)
        wanted = {row[1] for row in found if row[1] is not None} - set(rows)
        extra = Q(pk__in=wanted) if wanted else None
    today = timezone.now().date()
    withheld = {pk for pk, row in rows.items()
                if row[2] != organisation_id and (row[3] is None or row[3] > today)}
    if not withheld:
        return NOTHING_WITHHELD
    tainted = set()
    for pk, base, *_ in own:
        seen = {pk}
        while base is not None and base not in seen and base in rows:
            if base in withheld:
                tainted.add(pk)
                break
            seen.add(base)
            base = rows[base][1]

    def ref(pk: int) -> str:
        return "{}/{}@{}".format(*rows[pk][4:])

    own_refs = {f"model:{ref(pk)}" for pk in tainted}
    if own_refs:
        own_refs.add(f"organisation:{organisation_slug}")
    return Unreleased(foreign=frozenset(ref(pk) for pk in withheld), own=frozenset(own_refs))


def _payload_names(ref: str) -> Q:
    """Determinations whose payload names this model (as a run of a lineage sum, or a fact it lacked):
    a packed payload's `names` hold every string of it that can, one stored as text is searched whole."""
    quoted = orjson.dumps(ref).decode()
    bracketed = f"[{quoted[1:-1]}]"
    return (Q(payload__names__contains=quoted) | Q(payload__names__contains=bracketed)
            | Q(payload__text__contains=quoted) | Q(payload__text__contains=bracketed))


def withheld_condition(unreleased: Unreleased) -> Q | None:
    """The determinations that rest on another organisation's unreleased model (None: there are none):
    those naming it in their figures, and its organisation's, whose largest lineage sum may include it."""
    if not unreleased.foreign:
        return None
    withheld = Q(pk__in=[])
    for ref in sorted(unreleased.foreign):
        withheld |= _payload_names(ref)
    models = sorted(subject.removeprefix("model:") for subject in unreleased.own if subject.startswith("model:"))
    for ref in models:
        withheld |= Q(subject_kind="organisation") & _payload_names(ref)
    return withheld


def determinations_withheld(*, organisation_id: int | None, organisation_slug: str | None) -> Q | None:
    """The lab's determinations withheld from it (None: there are none, or a regulator)."""
    return withheld_condition(unreleased_elsewhere(organisation_id=organisation_id, organisation_slug=organisation_slug))


def determinations_shown(determinations: QuerySet, withheld: Q | None) -> QuerySet:
    """`determinations` less those `withheld` (a condition from `determinations_withheld`)."""
    return determinations if withheld is None else determinations.exclude(withheld)


def changes_shown(changes: QuerySet, *, organisation_slug: str | None, withheld: Q | None) -> QuerySet:
    """Status changes less those between determinations withheld from the lab."""
    if withheld is None:
        return changes
    hidden = Determination.objects.filter(organisation=organisation_slug).filter(withheld).values("pk")
    return changes.exclude(to_determination__in=hidden).exclude(from_determination__in=hidden)
