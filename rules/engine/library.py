"""The rule library: versions of each regime parsed from cited YAML files, compiled once,
identified by content hash, and locked once published (rules/library/PUBLISHED.lock).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from .conditions import Compiled, ConditionError, compile_condition
from .defaults import default
from .exact import exact
from .obligations import DueRuleError, Obligation, parse_due
from .schema import RuleFileError, RuleFileErrors, RuleLibraryError, validate_document
from .subject import Arguments
from .yamlsafe import YamlRefused, compose_strict, node_line

LOCK_NAME = "PUBLISHED.lock"


@dataclass(frozen=True, slots=True)
class Parameter:
    """A number the law gives, with its unit, operator and citation."""

    id: str
    value: float  # to show; conditions compare the exact value the file writes (`exact`: "1/3" is a third)
    unit: str | None
    operator: str
    text_operator: str | None
    citation: str | None
    provenance: str | None
    reading: str | None


@dataclass(frozen=True, slots=True)
class RuleTest:
    """One test of a rule version: its compiled condition and the passage it encodes."""

    id: str
    title: str
    applies_to: str
    condition: str
    compiled: Compiled
    arguments: dict[str, Any]
    cluster_arguments: Arguments | None
    citation: str | None
    quote: dict[str, Any] | None
    reading: str | None
    index: int
    paraphrase: dict[str, Any] | None = None  # where SOURCES.md has no verbatim text (SECONDARY/UNVERIFIED)
    caveat: str | None = None  # the unverified point every determination under this test rests on


@dataclass(frozen=True, slots=True)
class Tier:
    """One tier of a regime version: reached when any of its tests is met (lowest tier first)."""

    id: str
    title: str
    applies_to: str
    reached_when: tuple[str, ...]
    rank: int


@dataclass(slots=True)
class RuleVersion:
    """A regime's tests as in force from one date (inclusive) to another (exclusive)."""

    regime_slug: str
    regime_title: str
    jurisdiction: str
    version_id: str
    title: str
    legal_status: str
    effective_from: date | None
    effective_to: date | None
    published_on: date | None
    last_verified_on: date
    provenance: str
    caveats: tuple[str, ...]
    instrument: dict[str, Any]
    parameters: dict[str, Parameter]
    readings: tuple[dict[str, Any], ...]
    tests: tuple[RuleTest, ...]
    content_hash: str
    origin: str
    document: dict[str, Any] = field(repr=False)
    published: bool = False
    tiers: tuple[Tier, ...] = ()
    obligations: tuple[Obligation, ...] = ()
    corrects: str | None = None  # the version id whose period this version corrects in part
    _by_kind: dict[str, tuple[RuleTest, ...]] = field(default_factory=dict, repr=False)

    def tests_for(self, kind: str) -> tuple[RuleTest, ...]:
        """The tests that apply to subjects of `kind`, in file order."""
        found = self._by_kind.get(kind)
        if found is None:
            found = self._by_kind[kind] = tuple(test for test in self.tests if test.applies_to == kind)
        return found

    def tiers_for(self, kind: str) -> tuple[Tier, ...]:
        """The tiers a subject of `kind` can reach, lowest first."""
        return tuple(tier for tier in self.tiers if tier.applies_to == kind)

    def in_force_on(self, as_of: date) -> bool:
        return (self.effective_from is not None and self.effective_from <= as_of
                and (self.effective_to is None or as_of < self.effective_to))

    def day_in_force(self, today: date) -> date:
        """The day nearest `today` on which this version is in force: today while it is, its first
        day while it is yet to come, its last day once its period is over (a past period, or a
        correction of one). Today for a text never in force (no `effective_from`)."""
        if self.effective_from is None or self.in_force_on(today):
            return today
        if today < self.effective_from:
            return self.effective_from
        return self.effective_to - timedelta(days=1)

    def test(self, test_id: str) -> RuleTest:
        return next(test for test in self.tests if test.id == test_id)

    def tier(self, tier_id: str) -> Tier | None:
        return next((tier for tier in self.tiers if tier.id == tier_id), None)

    def obligation(self, obligation_id: str) -> Obligation | None:
        return next((obligation for obligation in self.obligations if obligation.id == obligation_id), None)

    def obligations_for(self, kind: str) -> tuple[Obligation, ...]:
        """The obligations that fall on subjects of `kind`, in file order."""
        return tuple(obligation for obligation in self.obligations if obligation.applies_to == kind)


def content_hash(document: Any) -> str:
    """SHA-256 of the parsed document as canonical JSON (sorted keys, no whitespace, UTF-8)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _date(value: Any, *, origin: str, path: str, errors: list[RuleFileError]) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(RuleFileError(origin, path, f"{value!r} is not a calendar date"))
        return None


def _tests(document: dict[str, Any], node: Any, parameters: dict[str, Any], *, origin: str,
           errors: list[RuleFileError]) -> list[RuleTest]:
    tests, seen = [], set()
    # base_model_meets / any_model_meets name other tests: ids known up front, compiled runs linked after
    kinds = {raw["id"]: raw["applies_to"] for raw in document["tests"]}
    links: dict[str, Compiled] = {}
    for i, raw in enumerate(document["tests"]):
        path = f"tests[{i}]"
        if raw["id"] in seen:
            errors.append(RuleFileError(origin, f"{path}.id", f"duplicate test id {raw['id']!r}"))
        seen.add(raw["id"])
        arguments = raw.get("arguments") or {}
        cluster_arguments = None
        network = arguments.get("network_threshold")
        if network is not None:
            if network not in parameters:
                errors.append(RuleFileError(origin, f"{path}.arguments.network_threshold",
                                            f"{network!r} is not a parameter of this version"))
                continue
            cluster_arguments = Arguments(float(exact(parameters[network]["value"])), parameters[network]["operator"],
                                          arguments.get("reading") or default("cluster_reading"))
        try:
            compiled = compile_condition(
                raw["condition"], origin=origin, path=f"{path}.condition", test_id=raw["id"],
                applies_to=raw["applies_to"], parameters=parameters, arguments=cluster_arguments,
                file_line=node_line(node, ("tests", i, "condition")), tests=kinds, links=links,
                regime=document["regime"]["slug"])
        except ConditionError as exc:
            errors.append(exc)
            continue
        links.setdefault(raw["id"], compiled)
        tests.append(RuleTest(raw["id"], raw["title"], raw["applies_to"], raw["condition"], compiled, arguments,
                              cluster_arguments, raw.get("citation"), raw.get("quote"), raw.get("reading"), i,
                              raw.get("paraphrase"), raw.get("caveat")))
    return tests


def _a(kind: str) -> str:
    return ("an " if kind[:1] in "aeiou" else "a ") + kind


def _tiers(document: dict[str, Any], tests: list[RuleTest], *, origin: str,
           errors: list[RuleFileError]) -> list[Tier]:
    kinds = {test.id: test.applies_to for test in tests}
    tiers, seen = [], set()
    for i, raw in enumerate(document.get("tiers") or ()):
        path = f"tiers[{i}]"
        if raw["id"] in seen:
            errors.append(RuleFileError(origin, f"{path}.id", f"duplicate tier id {raw['id']!r}"))
        seen.add(raw["id"])
        for j, test_id in enumerate(raw["reached_when"]):
            kind = kinds.get(test_id)
            if kind is None:
                errors.append(RuleFileError(origin, f"{path}.reached_when[{j}]",
                                            f"no test {test_id!r} in this version ({', '.join(sorted(kinds))})"))
            elif kind != raw["applies_to"]:
                errors.append(RuleFileError(origin, f"{path}.reached_when[{j}]",
                                            f"test {test_id} applies to {_a(kind)}, the tier to {_a(raw['applies_to'])}"))
        tiers.append(Tier(raw["id"], raw["title"], raw["applies_to"], tuple(raw["reached_when"]), i))
    return tiers


def _obligations(document: dict[str, Any], tests: list[RuleTest], tiers: list[Tier], *, origin: str,
                 errors: list[RuleFileError]) -> list[Obligation]:
    kinds = {"test": {test.id: test.applies_to for test in tests}, "tier": {tier.id: tier.applies_to for tier in tiers}}
    obligations, seen = [], set()
    for i, raw in enumerate(document.get("obligations") or ()):
        path, name = f"obligations[{i}]", raw["id"]
        if name in seen:
            errors.append(RuleFileError(origin, f"{path}.id", f"duplicate obligation id {name!r}"))
        seen.add(name)
        (what, target), = raw["attaches_to"].items()
        applies_to = kinds[what].get(target)
        if applies_to is None:
            known = ", ".join(sorted(kinds[what])) or "none"
            errors.append(RuleFileError(origin, f"{path}.attaches_to.{what}",
                                        f"obligation {name}: no {what} {target!r} in this version ({known})"))
            continue
        try:
            due = parse_due(raw.get("due"), path=f"{path}.due")
        except DueRuleError as exc:
            errors.append(RuleFileError(origin, exc.path, f"obligation {name}: {exc}"))
            continue
        obligations.append(Obligation(name, raw["title"], (what, target), applies_to, raw.get("citation"),
                                      raw.get("quote"), raw.get("paraphrase"), raw.get("caveat"), due, i,
                                      raw.get("reading")))
    return obligations


def parse_rule_version(text: str, *, origin: str) -> RuleVersion:
    """Parse, validate and compile one rule file; raise RuleFileErrors listing every problem."""
    try:
        document, node = compose_strict(text, origin=origin)
    except YamlRefused as exc:
        raise RuleFileErrors([RuleFileError(origin, f"line {exc.line}" if exc.line else "", exc.reason)]) from None
    errors = validate_document(document, origin=origin)
    if errors:
        raise RuleFileErrors(errors)
    version = document["version"]
    dates = {key: _date(version.get(key), origin=origin, path=f"version.{key}", errors=errors)
             for key in ("effective_from", "effective_to", "published_on", "last_verified_on")}
    parameters = document["parameters"]
    tests = _tests(document, node, parameters, origin=origin, errors=errors)
    tiers = _tiers(document, tests, origin=origin, errors=errors)
    obligations = _obligations(document, tests, tiers, origin=origin, errors=errors)
    if errors:
        raise RuleFileErrors(errors)
    regime = document["regime"]
    return RuleVersion(
        regime_slug=regime["slug"], regime_title=regime["title"], jurisdiction=regime["jurisdiction"],
        version_id=version["id"], title=version["title"], legal_status=version["legal_status"],
        effective_from=dates["effective_from"], effective_to=dates["effective_to"],
        published_on=dates["published_on"], last_verified_on=dates["last_verified_on"],
        provenance=version["provenance"], caveats=tuple(version.get("caveats") or ()),
        instrument=document["instrument"],
        parameters={pid: Parameter(pid, float(exact(p["value"])), p.get("unit"), p["operator"], p.get("text_operator"),
                                   p.get("citation"), p.get("provenance"), p.get("reading"))
                    for pid, p in parameters.items()},
        readings=tuple(document.get("readings") or ()), tests=tuple(tests),
        content_hash=content_hash(document), origin=origin, document=document, tiers=tuple(tiers),
        obligations=tuple(obligations),
        corrects=version.get("corrects"),
    )


class Library:
    """Every rule version found under a root, by regime."""

    def __init__(self, versions: list[RuleVersion], *, root: Path | None = None) -> None:
        self.root = root
        self._by_regime: dict[str, list[RuleVersion]] = {}
        for version in versions:
            self._by_regime.setdefault(version.regime_slug, []).append(version)
        for found in self._by_regime.values():
            found.sort(key=lambda v: (v.effective_from or date.max, v.version_id))

    def __iter__(self) -> Iterator[RuleVersion]:
        for slug in self.regimes():
            yield from self._by_regime[slug]

    def regimes(self) -> list[str]:
        return sorted(self._by_regime)

    def versions(self, slug: str) -> tuple[RuleVersion, ...]:
        return tuple(self._by_regime.get(slug, ()))

    def get(self, slug: str, version_id: str) -> RuleVersion:
        for version in self._by_regime.get(slug, ()):
            if version.version_id == version_id:
                return version
        raise KeyError(f"{slug}@{version_id}")

    def in_force(self, slug: str, as_of: date, *, include_drafts: bool = False) -> RuleVersion | None:
        """The version in force on `as_of`: see `in_force_among`."""
        return in_force_among([v for v in self._by_regime.get(slug, ())
                               if v.published or include_drafts], as_of)

    def in_force_all(self, as_of: date, *, include_drafts: bool = False) -> dict[str, RuleVersion | None]:
        """Regime slug -> the version in force on `as_of` (None: not in force)."""
        return {slug: self.in_force(slug, as_of, include_drafts=include_drafts) for slug in self.regimes()}


def in_force_among(versions: list[RuleVersion], as_of: date) -> RuleVersion | None:
    """Which of one regime's versions is in force on `as_of`, when more than one period holds it.

    A correction (`corrects: <version id>`) replaces the version it corrects on the days of its
    own period, which lies inside that version's: on such a day every version that a version
    holding the day corrects is set aside (so a correction of a correction wins over both). Of
    what is left the latest to take effect wins: an open-ended version runs until its successor
    takes effect. Any other overlap is refused by the lint (`overlapping-versions`); should one
    reach here anyway, the latest to take effect still wins, then a draft (previewed) over a
    published version, then the greater version id, so the answer never depends on file order.
    """
    found = [v for v in versions if v.in_force_on(as_of)]
    if not found:
        return None
    corrected = {v.corrects for v in found if v.corrects}
    remaining = [v for v in found if v.version_id not in corrected] or found
    return max(remaining, key=lambda v: (v.effective_from, not v.published, v.version_id))


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def read_lock(root: Path) -> dict[str, str]:
    path = root / LOCK_NAME
    if not path.exists():
        return {}
    try:
        lock = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RuleFileErrors([RuleFileError(_display(path), f"line {exc.lineno}", f"not JSON: {exc.msg}")]) from None
    if not isinstance(lock, dict) or not all(isinstance(v, str) for v in lock.values()):
        raise RuleFileErrors([RuleFileError(_display(path), "", 'expected {"<slug>/<file>": "<sha256>"}')])
    return lock


def rule_files(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/*") if p.suffix in (".yaml", ".yml") and p.is_file())


def load_library(root: Path) -> Library:
    """Load and compile every rule file under `root`; refuse any edited published file."""
    root = Path(root)
    lock = read_lock(root)
    errors: list[RuleFileError] = []
    versions: list[RuleVersion] = []
    seen: dict[tuple[str, str], str] = {}
    for path in rule_files(root):
        relpath = path.relative_to(root).as_posix()
        origin = _display(path)
        try:
            version = parse_rule_version(path.read_text(encoding="utf-8"), origin=origin)
        except RuleFileErrors as exc:
            errors.extend(exc.errors)
            continue
        except UnicodeDecodeError as exc:
            errors.append(RuleFileError(origin, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})"))
            continue
        locked = lock.get(relpath)
        if locked is not None and locked != version.content_hash:
            errors.append(RuleFileError(origin, "", (
                f"published with hash {locked[:12]}… ({LOCK_NAME}) but its content hash is now "
                f"{version.content_hash[:12]}…: a published version is immutable; put the change in a new "
                "version file")))
            continue
        version.published = locked is not None
        key = (version.regime_slug, version.version_id)
        if key in seen:
            errors.append(RuleFileError(origin, "version.id", f"{version.version_id!r} already used by {seen[key]}"))
            continue
        seen[key] = origin
        versions.append(version)
    for relpath in sorted(set(lock) - {p.relative_to(root).as_posix() for p in rule_files(root)}):
        errors.append(RuleFileError(_display(root / relpath), "", f"listed in {LOCK_NAME} but the file is gone: "
                                                                  "a published version may not be deleted"))
    if errors:
        raise RuleFileErrors(errors)
    return Library(versions, root=root)


class PublishRefused(RuleLibraryError):
    """Publishing would change a published version."""


def write_lock(root: Path, lock: dict[str, str]) -> None:
    """Replace PUBLISHED.lock atomically (sorted, one entry a line)."""
    text = json.dumps(lock, sort_keys=True, indent=2) + "\n"
    handle, temporary = tempfile.mkstemp(dir=root, prefix=".PUBLISHED.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.replace(temporary, root / LOCK_NAME)


def publish_file(root: Path, relpath: str) -> str:
    """Lock a new rule file (`<slug>/<file>.yaml`) as published; return its content hash.

    Re-publishing an unchanged file is a no-op; a changed published file is refused: the change
    must become a new version file.
    """
    root = Path(root)
    path = root / relpath
    version = parse_rule_version(path.read_text(encoding="utf-8"), origin=_display(path))
    lock = read_lock(root)
    locked = lock.get(relpath)
    if locked == version.content_hash:
        return locked
    if locked is not None:
        raise PublishRefused(f"{_display(path)}: already published with hash {locked[:12]}…; its content changed "
                             f"({version.content_hash[:12]}…): publish the change as a new version file")
    lock[relpath] = version.content_hash
    write_lock(root, lock)
    return version.content_hash
