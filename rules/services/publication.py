"""Publication of a rule version (and the re-evaluation it starts), and which subjects a change of
facts affects."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from registry.models import AIModel

from .. import signals
from ..engine import Library
from ..library_store import published_library
from ..models import EvaluationRun, RuleVersion
from ..models.rule_version import RuleVersionState
from ..models.runs import RunKind
from ..subjects import resolve_subjects
from .chunks import today
from .runs import run_create


def affected_subjects(refs: Iterable[str]) -> list[str]:
    """A changed model also changes the models derived from it and its organisation's subject.
    Unknown subjects (a record since removed) are left out; one pair of queries per lineage level."""
    refs = list(dict.fromkeys(refs))
    models, clusters, organisations = resolve_subjects(refs, skip_unknown=True)
    known = {obj.subject_ref for obj in (*models, *clusters, *organisations)}
    result = [ref for ref in refs if ref in known]
    frontier, slugs = models, {m.organisation.slug for m in models}
    while frontier:
        derived = [m for m in AIModel.objects.filter(base_model__in=frontier).select_related("organisation")
                   if m.subject_ref not in known]
        known.update(m.subject_ref for m in derived)
        result.extend(m.subject_ref for m in derived)
        slugs.update(m.organisation.slug for m in derived)
        frontier = derived
    return result + [f"organisation:{slug}" for slug in sorted(slugs) if f"organisation:{slug}" not in known]


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
        return run_create(kind=RunKind.PUBLICATION, as_of=as_of, regimes=[locked.regime], rule_version=locked,
                          requested_by=actor)
