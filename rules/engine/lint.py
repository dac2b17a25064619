"""Checks a rule library must pass before a version is published: `python -m rules.engine lint [ROOT]`.

Overlapping versions (other than a correction inside the period it corrects), corrections that
cannot be placed, tests and obligations without citation or quote, obligations without a due rule,
parameters without unit, a comparison whose operator is not the parameter's, test and obligation
ids outside the DESIGN.md contract, and the like.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .conditions import MIRROR
from .defaults import contract
from .library import Library, RuleVersion
from .subject import QUANTITIES

ERROR, WARNING = "error", "warning"
NEVER_IN_FORCE = ("proposed", "vetoed", "superseded")
WEAK_PROVENANCE = ("V-QUOTED", "SECONDARY", "UNVERIFIED")
UNQUOTABLE = ("SECONDARY", "UNVERIFIED")  # SOURCES.md gives these as paraphrase, never as quotation


@dataclass(frozen=True, slots=True)
class LintProblem:
    """One problem: where (file and path), what kind (code), and what to do about it."""

    file: str
    path: str
    code: str
    message: str
    severity: str = ERROR

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.severity} {self.code}: {self.message}"


def _overlaps(a: RuleVersion, b: RuleVersion) -> bool:
    """Both in force on some day. An open-ended version (effective_to null) runs until a later
    version takes effect: a published file is immutable, so a successor supersedes it rather than
    editing it. Two versions starting the same day, or an explicit end past the successor's
    start, overlap."""
    if a.effective_from is None or b.effective_from is None:
        return False
    first, second = sorted((a, b), key=lambda version: version.effective_from)
    if first.effective_from == second.effective_from:
        return True
    return first.effective_to is not None and second.effective_from < first.effective_to


def _corrections(versions: tuple[RuleVersion, ...]) -> dict[str, set[str]]:
    """Version id -> the ids it corrects, directly or through a correction it corrects in turn."""
    direct = {version.version_id: version.corrects for version in versions if version.corrects}
    chains: dict[str, set[str]] = {}
    for version_id in direct:
        seen, step = set(), direct.get(version_id)
        while step is not None and step not in seen:
            seen.add(step)  # a chain that comes back to `version_id` is a cycle: it holds itself
            step = direct.get(step)
        chains[version_id] = seen
    return chains


def _within(inner: RuleVersion, outer: RuleVersion) -> bool:
    """`inner`'s period (closed) lies inside `outer`'s."""
    return (inner.effective_from is not None and inner.effective_to is not None and outer.effective_from is not None
            and outer.effective_from <= inner.effective_from
            and (outer.effective_to is None or inner.effective_to <= outer.effective_to))


def _correction_problems(versions: tuple[RuleVersion, ...], slug: str) -> Iterable[LintProblem]:
    by_id = {version.version_id: version for version in versions}
    chains = _corrections(versions)
    for version in versions:
        if not version.corrects:
            continue
        path, corrected = "version.corrects", by_id.get(version.corrects)
        if version.corrects == version.version_id:
            yield LintProblem(version.origin, path, "unknown-corrected-version",
                              f"{slug} version {version.version_id} names itself as the version it corrects")
        elif version.version_id in chains[version.version_id]:
            yield LintProblem(version.origin, path, "unknown-corrected-version",
                              f"{slug} version {version.version_id} corrects itself through {version.corrects}: "
                              "corrections may not form a cycle")
        elif corrected is None:
            yield LintProblem(version.origin, path, "unknown-corrected-version",
                              f"{slug} has no version {version.corrects!r} to correct "
                              f"({', '.join(sorted(by_id)) or 'none'})")
        elif version.effective_from is None or version.effective_to is None:
            yield LintProblem(version.origin, path, "correction-outside-period",
                              f"{slug} version {version.version_id} corrects {corrected.version_id} but gives no "
                              "closed period (effective_from and effective_to) for the correction")
        elif not _within(version, corrected):
            yield LintProblem(version.origin, path, "correction-outside-period",
                              f"{slug} version {version.version_id} ({version.effective_from} to "
                              f"{version.effective_to}) corrects {corrected.version_id} but its period is not inside "
                              f"{corrected.version_id}'s ({corrected.effective_from or 'never'} to "
                              f"{corrected.effective_to or 'open'})")


def _regime_problems(library: Library, slug: str) -> Iterable[LintProblem]:
    versions = library.versions(slug)
    yield from _correction_problems(versions, slug)
    corrects = _corrections(versions)
    for i, first in enumerate(versions):
        for second in versions[i + 1:]:
            # a correction holds part of the period of the version it corrects (its period is checked above)
            if (first.version_id in corrects.get(second.version_id, ())
                    or second.version_id in corrects.get(first.version_id, ())):
                continue
            if _overlaps(first, second):
                yield LintProblem(second.origin, "version.effective_from", "overlapping-versions",
                                  f"{slug} versions {first.version_id} ({first.effective_from} to "
                                  f"{first.effective_to or 'open'}) and {second.version_id} ({second.effective_from} "
                                  f"to {second.effective_to or 'open'}) are both in force on "
                                  f"{max(first.effective_from, second.effective_from)}")


def _version_problems(version: RuleVersion) -> Iterable[LintProblem]:
    origin = version.origin
    known = contract()["regimes"]
    if version.regime_slug not in known:
        yield LintProblem(origin, "regime.slug", "unknown-regime", f"{version.regime_slug} is not a DESIGN.md regime")
    is_file = Path(origin).suffix in (".yaml", ".yml")
    folder = Path(origin).parent.name
    if is_file and folder and folder != version.regime_slug:
        yield LintProblem(origin, "regime.slug", "misplaced-file", f"file is under {folder}/, not {version.regime_slug}/")
    if is_file and Path(origin).stem != version.version_id:
        yield LintProblem(origin, "version.id", "file-name", f"file is named {Path(origin).name}, version id is "
                                                             f"{version.version_id}", WARNING)
    start, end = version.effective_from, version.effective_to
    if start is not None and end is not None and end <= start:
        yield LintProblem(origin, "version.effective_to", "empty-period",
                          f"effective_to {end} is not after effective_from {start}")
    if start is None and end is not None:
        yield LintProblem(origin, "version.effective_to", "empty-period", "effective_to without effective_from")
    if version.legal_status in NEVER_IN_FORCE and start is not None:
        yield LintProblem(origin, "version.effective_from", "never-in-force",
                          f"a {version.legal_status} text was never in force: effective_from should be null")
    if version.provenance in WEAK_PROVENANCE and not version.caveats:
        yield LintProblem(origin, "version.caveats", "missing-caveat",
                          f"provenance {version.provenance} but no caveat says which point it rests on")
    for pid, parameter in version.parameters.items():
        path = f"parameters.{pid}"
        if not parameter.unit:
            yield LintProblem(origin, f"{path}.unit", "missing-unit", f"parameter {pid} has no unit")
        if not (parameter.citation or "").strip():
            yield LintProblem(origin, f"{path}.citation", "missing-citation", f"parameter {pid} has no citation")
    used = {name for test in version.tests for name in test.compiled.parameters}
    used |= {test.arguments.get("network_threshold") for test in version.tests}
    for pid in sorted(set(version.parameters) - used):
        yield LintProblem(origin, f"parameters.{pid}", "unused-parameter", f"no test reads {pid}", WARNING)
    expected_ids = known.get(version.regime_slug)
    for test in version.tests:
        yield from _test_problems(version, test, expected_ids)
    declared = contract().get("obligations", {}).get(version.regime_slug)
    for obligation in version.obligations:
        yield from _obligation_problems(version, obligation, declared)


def _obligation_problems(version: RuleVersion, obligation, expected_ids: list[str] | None) -> Iterable[LintProblem]:
    """An obligation needs its citation, its text (quoted, or a paraphrase with its caveat) and a due rule."""
    origin, path, name = version.origin, f"obligations[{obligation.index}]", obligation.id
    if expected_ids is None or name not in expected_ids:
        yield LintProblem(origin, f"{path}.id", "unknown-obligation-id",
                          f"obligation {name} is not a {version.regime_slug} obligation id of the contract "
                          f"({', '.join(expected_ids or []) or 'none'})")
    if not (obligation.citation or "").strip():
        yield LintProblem(origin, f"{path}.citation", "missing-citation", f"obligation {name} has no citation")
    if not obligation.due:
        yield LintProblem(origin, f"{path}.due", "missing-due-rule",
                          f"obligation {name} has no due rule (after, before, on_or_before or every)")
    quote = obligation.quote
    quoted = bool(quote and (quote.get("text") or "").strip())
    if not quoted and not obligation.paraphrase:
        yield LintProblem(origin, f"{path}.quote", "missing-quote",
                          f"obligation {name} quotes no passage (and gives no paraphrase marked SECONDARY or UNVERIFIED)")
    elif quoted and not (quote.get("source") or "").strip():
        yield LintProblem(origin, f"{path}.quote.source", "missing-quote-source",
                          f"obligation {name}: quote has no source")
    if quoted and quote.get("provenance") in UNQUOTABLE:
        yield LintProblem(origin, f"{path}.quote.provenance", "quote-not-verbatim",
                          f"obligation {name}: a {quote['provenance']} passage is no verbatim text; give it as a paraphrase")
    if obligation.paraphrase and not obligation.caveat:
        yield LintProblem(origin, f"{path}.caveat", "missing-caveat",
                          f"obligation {name} rests on a {obligation.paraphrase['provenance']} paraphrase but no caveat "
                          "says so")


def _test_problems(version: RuleVersion, test, expected_ids: list[str] | None) -> Iterable[LintProblem]:
    origin, path = version.origin, f"tests[{test.index}]"
    if expected_ids is not None and test.id not in expected_ids:
        yield LintProblem(origin, f"{path}.id", "unknown-test-id",
                          f"{test.id} is not a {version.regime_slug} test id of DESIGN.md ({', '.join(expected_ids)})")
    if test.applies_to not in contract()["applies_to"]:
        yield LintProblem(origin, f"{path}.applies_to", "unknown-applies-to",
                          f"{test.applies_to!r} is not one of {', '.join(contract()['applies_to'])}")
    if not (test.citation or "").strip():
        yield LintProblem(origin, f"{path}.citation", "missing-citation", f"test {test.id} has no citation")
    quoted = bool(test.quote and (test.quote.get("text") or "").strip())
    if not quoted and not test.paraphrase:
        yield LintProblem(origin, f"{path}.quote", "missing-quote",
                          f"test {test.id} quotes no passage (and gives no paraphrase marked SECONDARY or UNVERIFIED)")
    elif quoted and not (test.quote.get("source") or "").strip():
        yield LintProblem(origin, f"{path}.quote.source", "missing-quote-source", f"test {test.id}: quote has no source")
    if quoted and test.quote.get("provenance") in UNQUOTABLE:
        yield LintProblem(origin, f"{path}.quote.provenance", "quote-not-verbatim",
                          f"test {test.id}: a {test.quote['provenance']} passage is no verbatim text; "
                          "give it as a paraphrase")
    if test.paraphrase and not test.caveat:
        yield LintProblem(origin, f"{path}.caveat", "missing-caveat",
                          f"test {test.id} rests on a {test.paraphrase['provenance']} paraphrase but no caveat "
                          "says so to the determinations it makes")
    names_cluster = any(name == "cluster_peak_ops_per_second" for name, _ in test.compiled.quantities)
    network = test.arguments.get("network_threshold")
    if (test.applies_to == "cluster" or names_cluster) and not network:
        yield LintProblem(origin, f"{path}.arguments.network_threshold", "missing-network-threshold",
                          f"cluster test {test.id} names no network threshold parameter")
    if network and version.parameters[network].unit != "gbit_per_second":
        yield LintProblem(origin, f"{path}.arguments.network_threshold", "unit-mismatch",
                          f"network threshold {network} is in {version.parameters[network].unit}, not gbit_per_second")
    for spec in test.compiled.comparisons:
        if spec.parameter is None or not spec.numeric:
            continue
        written = spec.operator if spec.parameter_side == "right" else MIRROR[spec.operator]
        # every parameter on the threshold's side, each branch of an `if` included
        for pid in spec.threshold_parameters or (spec.parameter,):
            declared = version.parameters[pid]
            if written != declared.operator:
                yield LintProblem(origin, f"{path}.condition", "operator-mismatch",
                                  f"test {test.id} compares {spec.quantity} {spec.operator} {spec.threshold_label} "
                                  f"(line {spec.line}:{spec.column}) but {pid} is declared "
                                  f"{declared.operator!r} ({declared.text_operator or 'no text_operator'})")
        parameter = version.parameters[spec.parameter]
        unit = QUANTITIES[spec.quantity_name].unit if spec.quantity_name in QUANTITIES else None
        if (unit and parameter.unit and parameter.unit != "ratio" and unit != parameter.unit
                and spec.threshold_label == spec.parameter):
            yield LintProblem(origin, f"{path}.condition", "unit-mismatch",
                              f"test {test.id} compares {spec.quantity_name} ({unit}) with {spec.parameter} "
                              f"({parameter.unit})")
    for literal, line, column in test.compiled.literals:
        yield LintProblem(origin, f"{path}.condition", "number-in-condition",
                          f"test {test.id} writes the number {literal} (line {line}:{column}): a number from the "
                          "law belongs in parameters, with its citation", WARNING)
    if not test.compiled.comparisons[0].numeric:
        first_numeric = next((spec for spec in test.compiled.comparisons if spec.numeric), None)
        if first_numeric is not None:
            yield LintProblem(origin, f"{path}.condition", "headline-not-first",
                              f"test {test.id}: the first comparison is not numeric; the headline is taken from "
                              f"{first_numeric.quantity} {first_numeric.operator} {first_numeric.threshold_label}",
                              WARNING)


def lint(library: Library) -> list[LintProblem]:
    """Every problem in the library, regime by regime, in file order."""
    problems: list[LintProblem] = []
    for slug in library.regimes():
        for version in library.versions(slug):
            problems.extend(_version_problems(version))
        problems.extend(_regime_problems(library, slug))
    return problems
