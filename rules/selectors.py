"""Reads of current statuses: the latest determination of record per subject and regime under the
version in force on a date, counted in SQL, and the runs and changes a regulator reviews.

"Current" is `rules.current`'s definition, among the determinations made under the rule version in
force on `as_of`: the newest as-of date no later than it, then the one appended last. A regime with
no version in force on that date has no current determinations: every subject is `not_in_force` there.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Count, Q, QuerySet, Sum

from .current import current_in_force, current_index, current_of, recorded_on
from .engine.vocabulary import DECIDED_STATUSES, Status
from .library_store import published_library
from .models import Confirmation, CurrentDetermination, Determination, EvaluationRun, RuleVersion, StatusChange
from .models.rule_version import RuleVersionState
from .visibility import changes_shown, determinations_shown

# the statuses a list filters on and the dashboard counts: those a test decides, then a subject the
# version in force has no test for or that did not exist yet
STATUSES = (*DECIDED_STATUSES, Status.NOT_APPLICABLE)
SUBJECT_KINDS = ("model", "cluster", "organisation")
# A rule file whose quotes were last checked against the sources more than a quarter ago is flagged.
VERIFICATION_STALE_AFTER = timedelta(days=90)


@dataclass
class RegimeInForce:
    """A regime's version in force on a date, and the subject kinds its tests apply to."""

    regime: str
    version: RuleVersion
    applies_to: tuple[str, ...]


@dataclass
class RegimeCounts:
    regime: RegimeInForce
    counts: dict[str, int] = field(default_factory=dict)
    subjects: int = 0
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)  # status → subject kind → subjects

    @property
    def determined(self) -> int:
        return sum(self.counts.values())

    @property
    def not_evaluated(self) -> int:
        return max(self.subjects - self.determined, 0)


def regimes_in_force(*, as_of: date) -> list[RegimeInForce]:
    """Every regime with a published version in force on `as_of`, by slug (two queries)."""
    library = published_library()
    engine_versions = {slug: v for slug, v in library.in_force_all(as_of).items() if v is not None}
    rows = {
        row.content_sha256: row
        for row in RuleVersion.objects.filter(
            state=RuleVersionState.PUBLISHED, content_sha256__in=[v.content_hash for v in engine_versions.values()]
        )
    }
    result = []
    for slug in sorted(engine_versions):
        version = engine_versions[slug]
        row = rows.get(version.content_hash)
        if row is None:
            continue
        kinds = tuple(kind for kind in SUBJECT_KINDS if any(test.applies_to == kind for test in version.tests))
        result.append(RegimeInForce(slug, row, kinds))
    return result


def published_thresholds(*, unit: str, kind: str) -> list[float]:
    """Every threshold in `unit` that a published version's test for a `kind` reads, in ascending
    order, in force or not: the lines the law draws (and proposals and vetoed bills beside it)."""
    library = published_library()
    values = {
        parameter.value
        for slug in library.regimes() for version in library.versions(slug)
        for test in version.tests_for(kind) for name in test.compiled.parameters
        if (parameter := version.parameters.get(name)) is not None and parameter.unit == unit
    }
    return sorted(values)


def tier_titles() -> dict[tuple[str, str], str]:
    """(regime slug, tier id) → the tier's title ("GPAI model with systemic risk"), over every published
    version (a tier keeps its title across versions; the latest version's wins)."""
    library = published_library()
    return {(slug, tier.id): tier.title
            for slug in library.regimes() for version in library.versions(slug) for tier in version.tiers}


def tiers_in_force(*, as_of: date, kind: str | None = None) -> list[tuple[RegimeInForce, str, str]]:
    """(regime in force, tier id, tier title) for every tier a version in force on `as_of` declares
    (for subjects of `kind`), lowest tier first within each regime."""
    library = published_library()
    found = []
    for regime in regimes_in_force(as_of=as_of):
        version = library.in_force(regime.regime, as_of)
        if version is None:
            continue
        tiers = version.tiers if kind is None else version.tiers_for(kind)
        found.extend((regime, tier.id, tier.title) for tier in tiers)
    return found


def current_determinations(
    *,
    as_of: date,
    regimes: Iterable[RegimeInForce] | None = None,
    organisation: str | None = None,
    subject_refs: Iterable[str] | None = None,
    withheld: Q | None = None,
) -> QuerySet[Determination]:
    """The current determination per (subject, regime) as one query (`rules.current.current_in_force`), less
    those `withheld` from the reader (`rules.visibility`): a withheld current one is not replaced by an older one."""
    regimes = list(regimes) if regimes is not None else regimes_in_force(as_of=as_of)
    current = current_in_force({r.regime: r.version.pk for r in regimes}, as_of=as_of, organisation=organisation,
                               subject_refs=subject_refs)
    return determinations_shown(current, withheld)


def current_statuses(*, as_of: date, regimes: list[RegimeInForce], organisation: str | None = None,
                     withheld: Q | None = None) -> QuerySet[Determination] | QuerySet[CurrentDetermination]:
    """What the counts and the list filters read of the current determinations (subject ref and kind,
    regime, status, tier): the index of current determinations when it answers for every subject and
    nothing is withheld from the reader (`rules.current.current_index`), else the determinations."""
    if withheld is None:
        index = current_index({r.regime: r.version.pk for r in regimes}, as_of=as_of, organisation=organisation)
        if index is not None:
            return index
    return current_determinations(as_of=as_of, regimes=regimes, organisation=organisation, withheld=withheld)


def current_counts(*, as_of: date, organisation: str | None = None, subject_totals: dict[str, int] | None = None,
                   withheld: Q | None = None) -> tuple[list[RegimeCounts], dict[tuple[str, str], dict[str, int]]]:
    """What the dashboard counts, from one grouped query of the current determinations, less those
    `withheld` from the reader (`rules.visibility`):
    - per regime in force: subjects covered, not covered, indeterminate and not applicable, counting
      only the subject kinds its tests apply to (`subject_totals`, kind → subjects in the registry,
      lets the caller show how many have no current determination yet);
    - (regime, tier id) → subject kind → subjects whose current determination reaches that tier."""
    regimes = regimes_in_force(as_of=as_of)
    rows = (
        current_statuses(as_of=as_of, regimes=regimes, organisation=organisation, withheld=withheld)
        .order_by().values("regime", "status", "tier", "subject_kind").annotate(n=Count("pk"))
    )
    result = {
        regime.regime: RegimeCounts(regime, subjects=sum((subject_totals or {}).get(k, 0) for k in regime.applies_to))
        for regime in regimes
    }
    tiers: dict[tuple[str, str], dict[str, int]] = {}
    for row in rows:
        regime, status, tier, kind, n = row["regime"], row["status"], row["tier"], row["subject_kind"], row["n"]
        if tier:
            reached = tiers.setdefault((regime, tier), {})
            reached[kind] = reached.get(kind, 0) + n
        if kind not in result[regime].regime.applies_to:  # counted only where the regime's tests apply
            continue
        counts = result[regime]
        counts.counts[status] = counts.counts.get(status, 0) + n
        by_kind = counts.by_kind.setdefault(status, {})
        by_kind[kind] = by_kind.get(kind, 0) + n
    return list(result.values()), tiers


def subject_statuses(*, subject_ref: str, as_of: date) -> dict[str, Determination]:
    """Regime slug → the subject's current determination, for every regime in force (one query)."""
    rows = current_determinations(as_of=as_of, subject_refs=[subject_ref]).select_related("rule_version")
    return {row.regime: row for row in rows}


def subject_determinations_on(*, subject_ref: str, as_of: date,
                              regimes: Iterable[RegimeInForce]) -> dict[str, Determination]:
    """Regime slug → the subject's determination recorded as of exactly `as_of` (made then, or confirmed
    then: `rules.current.recorded_on`) under the version of `regimes` in force then (the last appended,
    if the question was asked more than once); one query. A page
    headed "as of D" reads these, never a determination of another date."""
    regimes = list(regimes)
    rows = recorded_on(Determination.objects.filter(subject_ref=subject_ref,
                                                    rule_version_id__in=[r.version.pk for r in regimes]),
                       as_of=as_of, few=True)
    return {row.regime: row for row in current_of(rows, as_of=as_of).select_related("rule_version", "payload")}


def subject_history(*, subject_ref: str, withheld: Q | None = None) -> QuerySet[Determination]:
    """Every determination of a subject, newest first (paginate it), less those `withheld` from the reader."""
    return (
        determinations_shown(Determination.objects.filter(subject_ref=subject_ref), withheld)
        .select_related("rule_version", "run", "requested_by")
        .order_by("-sequence")
    )


def recent_runs(*, limit: int = 5) -> list[EvaluationRun]:
    return list(EvaluationRun.objects.select_related("rule_version", "requested_by").order_by("-created_at", "-id")[:limit])


def recent_status_changes(*, organisation: str | None = None, limit: int = 10,
                          withheld: Q | None = None) -> list[StatusChange]:
    """The latest status changes (of `organisation`'s subjects), less those between determinations
    `withheld` from the reader (`rules.visibility`; a lab's, so with its `organisation`)."""
    rows = StatusChange.objects.select_related("run").order_by("-id")
    if organisation is not None:
        rows = rows.filter(organisation=organisation)
    rows = changes_shown(rows, organisation_slug=organisation, withheld=withheld)
    return list(rows[:limit])


def stale_rule_versions(*, today: date, stale_after: timedelta = VERIFICATION_STALE_AFTER) -> list[RuleVersion]:
    """Published versions still in force or yet to come whose quotes were last checked long ago."""
    return list(
        RuleVersion.objects.filter(state=RuleVersionState.PUBLISHED)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=today))
        .filter(Q(last_verified_on__isnull=True) | Q(last_verified_on__lt=today - stale_after))
        .order_by("regime", "effective_from")
    )


def run_recorded(run: EvaluationRun) -> dict[str, int]:
    """What a run recorded in the decision log: determinations appended, and determinations it reached
    again unchanged and confirmed (two queries)."""
    confirmed = Confirmation.objects.filter(run=run).aggregate(n=Sum("count"))["n"] or 0
    return {"appended": Determination.objects.filter(run=run).count(), "confirmed": confirmed}
