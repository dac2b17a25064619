"""Publication of a rule version (and the re-evaluation it starts), and which subjects a change of
facts affects."""
from __future__ import annotations

import dataclasses
from typing import Any

from django.db import transaction
from django.utils import timezone

from registry.models import AIModel, Cluster, Organisation

from .. import signals
from ..engine import Library
from ..engine import RuleVersion as EngineVersion
from ..library_store import published_library
from ..models import EvaluationRun, RuleVersion
from ..models.rule_version import RuleVersionState
from ..models.runs import Trigger
from .chunks import KINDS, today
from .runs import run_create


def affected_subjects(records: dict[str, list[int]]) -> dict[str, list[int]]:
    """The records a change of these records' facts affects, by kind (`KINDS`) and id: themselves,
    the models derived from a changed model (any depth) and the organisations of the changed and
    derived models. By id, never by reference: a record whose name cannot be read back as a
    reference is found like any other. Records since removed are left out; one query per lineage
    level."""
    wanted = {kind: list(dict.fromkeys(records.get(kind, []))) for kind in KINDS}
    models = AIModel.objects.filter(pk__in=wanted["model"]).only("pk", "organisation_id")
    by_pk = {m.pk: m for m in models}
    result = {
        "model": [pk for pk in wanted["model"] if pk in by_pk],
        "cluster": sorted(set(Cluster.objects.filter(pk__in=wanted["cluster"]).values_list("pk", flat=True)),
                          key=wanted["cluster"].index),
        "organisation": sorted(set(Organisation.objects.filter(pk__in=wanted["organisation"])
                                   .values_list("pk", flat=True)), key=wanted["organisation"].index),
    }
    known, organisations = set(result["model"]), {m.organisation_id for m in by_pk.values()}
    frontier = list(known)
    while frontier:
        derived = [(pk, organisation) for pk, organisation in AIModel.objects.filter(base_model_id__in=frontier)
                   .order_by("pk").values_list("pk", "organisation_id") if pk not in known]
        known.update(pk for pk, _ in derived)
        result["model"].extend(pk for pk, _ in derived)
        organisations.update(organisation for _, organisation in derived)
        frontier = [pk for pk, _ in derived]
    mentioned = set(result["organisation"])
    result["organisation"] += list(Organisation.objects.filter(pk__in=organisations - mentioned)
                                   .order_by("slug").values_list("pk", flat=True))
    return result


def publication_problems(candidate: EngineVersion) -> list[str]:
    """The lint's errors that would refuse publishing `candidate` beside the published library (a
    period overlapping another version's that it does not correct, a missing citation, ...)."""
    from ..engine import lint

    published = dataclasses.replace(candidate, published=True)
    problems = lint(Library([*published_library(), published]))
    return [str(p) for p in problems if p.severity == "error"
            and (p.file == candidate.origin or candidate.regime_slug in p.message)]


def rule_version_publish(*, version: RuleVersion, actor: Any) -> EvaluationRun:
    """Publishes a draft and creates the re-evaluation of every subject under its regime, as of the
    day nearest today on which the version is in force (`RuleVersion.day_in_force`: for a correction
    of a past period, the period's last day)."""
    from ..library_store import engine_version

    with transaction.atomic():
        locked = RuleVersion.objects.select_for_update().get(pk=version.pk)
        if locked.is_published:
            raise ValueError(f"{locked} is already published")
        candidate = engine_version(locked)
        mine = publication_problems(candidate)
        if mine:
            raise ValueError("; ".join(mine))
        locked.state = RuleVersionState.PUBLISHED
        locked.published_at = timezone.now()
        locked.published_by = actor
        locked.save()
        signals.rule_version_published.send(sender=RuleVersion, version=locked, actor=actor)
        as_of = candidate.day_in_force(today())
        return run_create(kind=Trigger.PUBLICATION, as_of=as_of, regimes=[locked.regime], rule_version=locked,
                          requested_by=actor)
