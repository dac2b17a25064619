"""Publication of a rule version (and the re-evaluation it starts), and which subjects a change of
facts affects."""
from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from registry.models import AIModel, Cluster, Organisation

from .. import signals
from ..engine import Library
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


def rule_version_publish(*, version: RuleVersion, actor: Any) -> EvaluationRun:
    """Publishes a draft and creates the re-evaluation of every subject under its regime."""
    from ..engine import lint
    from ..library_store import engine_version

    with transaction.atomic():
        locked = RuleVersion.objects.select_for_update().get(pk=version.pk)
        if locked.is_published:
            raise ValueError(f"{locked} is already published")
        candidate = engine_version(locked)
        candidate.published = True
        library = published_library()
        problems = lint(Library([*library, candidate]))
        mine = [p for p in problems if p.severity == "error"
                and (p.file == candidate.origin or candidate.regime_slug in p.message)]
        if mine:
            raise ValueError("; ".join(str(p) for p in mine))
        locked.state = RuleVersionState.PUBLISHED
        locked.published_at = timezone.now()
        locked.published_by = actor
        locked.save()
        signals.rule_version_published.send(sender=RuleVersion, version=locked, actor=actor)
        as_of = max(today(), locked.effective_from) if locked.effective_from else today()
        return run_create(kind=Trigger.PUBLICATION, as_of=as_of, regimes=[locked.regime], rule_version=locked,
                          requested_by=actor)
