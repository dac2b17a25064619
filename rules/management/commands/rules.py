"""The rule library from the command line: list regimes and versions, show one, lint them all, and
preview a workspace draft's impact as of a date."""
from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from rules.engine import RuleLibraryError, lint, load_library
from rules.engine.formatting import format_quantity


class Command(BaseCommand):
    help = (
        "rules list: every regime and version with its period and hash; rules show SLUG [VERSION]: "
        "parameters, tests and quoted texts; rules lint: check the library (exit 1 on any error); "
        "rules preview SLUG VERSION [--as-of DATE]: a draft's impact against the version it would replace "
        "on that date (by default a day of the draft's own period), writing nothing."
    )

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="List regimes and their versions.")
        show = sub.add_parser("show", help="Show a regime's version (the latest to take effect when VERSION is omitted).")
        show.add_argument("slug")
        show.add_argument("version", nargs="?")
        sub.add_parser("lint", help="Lint the library: overlaps, citations, units, operators, contract ids.")
        preview = sub.add_parser(
            "preview", help="A draft's impact (the workspace's preview): what would refuse its publication, what it "
                            "changes in the law, and the subjects whose status or tests would change. Writes nothing.")
        preview.add_argument("slug")
        preview.add_argument("version", help="the draft's version id")
        preview.add_argument("--as-of", dest="as_of", default=None,
                             help="YYYY-MM-DD, a day of the draft's period; by default the day of its period "
                                  "nearest today (today while it is in force, its last day once it is over)")
        preview.add_argument("--id", dest="draft_id", type=int, default=None,
                             help="the draft's id, when several drafts have that version id")
        preview.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "preview":
            self._preview(options)
            return
        try:
            library = load_library(settings.REGISTRY_RULE_LIBRARY)
        except RuleLibraryError as exc:
            raise CommandError(str(exc)) from exc
        getattr(self, f"_{options['action']}")(library, options)

    def _list(self, library: Any, options: dict[str, Any]) -> None:
        for version in library:
            period = f"{version.effective_from or 'never'} to {version.effective_to or 'open'}"
            state = "published" if version.published else "draft"
            self.stdout.write(
                f"{version.regime_slug:18} {version.version_id:17} {version.legal_status:12} {period:26} "
                f"{state:9} {version.content_hash[:16]}  {version.provenance}"
                + (f"  corrects {version.corrects}" if version.corrects else "")
            )

    def _show(self, library: Any, options: dict[str, Any]) -> None:
        versions = library.versions(options["slug"])
        if not versions:
            raise CommandError(f"unknown regime {options['slug']!r}; known: {', '.join(library.regimes())}")
        if options["version"]:
            try:
                version = library.get(options["slug"], options["version"])
            except KeyError:
                raise CommandError(f"{options['slug']} has no version {options['version']!r}") from None
        else:  # the latest to take effect, a correction of part of a period only when the regime has
            # no other; a text never in force only when the regime has no dated one
            dated = [v for v in versions if v.effective_from is not None]
            version = ([v for v in dated if not v.corrects] or dated or list(versions))[-1]
        out = self.stdout.write
        out(f"{version.regime_title} [{version.regime_slug}@{version.version_id}]")
        out(f"  {version.instrument.get('citation', '')}")
        out(f"  {version.instrument.get('url', '')}")
        out(f"  status {version.legal_status}; in force {version.effective_from or 'never'} to "
            f"{version.effective_to or 'open'}; last verified {version.last_verified_on}; provenance {version.provenance}")
        if version.corrects:
            out(f"  corrects {version.regime_slug}@{version.corrects} for that period")
        out(f"  sha256 {version.content_hash}")
        out("Parameters:")
        for parameter in version.parameters.values():
            words = f'"{parameter.text_operator}"' if parameter.text_operator else "words not seen"
            out(f"  {parameter.id}: {parameter.operator} {format_quantity(parameter.value, parameter.unit)} "
                f"({words}, {parameter.citation}, {parameter.provenance})")
        out("Tests:")
        for test in version.tests:
            out(f"  {test.id} [{test.applies_to}]: {test.title}")
            out(f"    condition: {test.condition}")
            out(f"    {test.citation}:")
            for line in ((test.quote or {}).get("text") or "").strip().splitlines():
                out(f"      > {line}")
            if test.paraphrase:
                out(f"    paraphrase ({test.paraphrase['provenance']}, not the text): {test.paraphrase['text']}")
            if test.caveat:
                out(f"    caveat: {test.caveat}")
            if test.reading:
                out(f"    reading: {test.reading}")
        if version.caveats:
            out("Caveats:")
            for caveat in version.caveats:
                out(f"  - {caveat}")

    def _lint(self, library: Any, options: dict[str, Any]) -> None:
        problems = lint(library)
        for problem in problems:
            self.stdout.write(str(problem))
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise CommandError(f"{len(errors)} error(s) in the rule library")
        self.stdout.write(f"rule library clean: {sum(1 for _ in library)} version(s), {len(problems)} warning(s)")

    def _preview(self, options: dict[str, Any]) -> None:
        from django.utils import timezone

        from rules.library_store import engine_version
        from rules.models import RuleVersion
        from rules.models.rule_version import RuleVersionState
        from rules.previews import PreviewInputError, draft_preview, preview_as_of

        drafts = RuleVersion.objects.filter(regime=options["slug"], version_id=options["version"],
                                            state=RuleVersionState.DRAFT).order_by("pk")
        if options["draft_id"] is not None:
            drafts = drafts.filter(pk=options["draft_id"])
        found = list(drafts)
        if not found:
            raise CommandError(f"no draft {options['slug']}@{options['version']}"
                               + (f" with id {options['draft_id']}" if options["draft_id"] is not None else ""))
        if len(found) > 1:
            raise CommandError(f"{len(found)} drafts are {options['slug']}@{options['version']} (ids "
                               f"{', '.join(str(d.pk) for d in found)}): choose one with --id")
        draft = found[0]
        try:
            as_of = preview_as_of(engine_version(draft), today=timezone.now().date(), requested=options["as_of"])
        except PreviewInputError as exc:
            raise CommandError(f"--as-of: {exc.message}") from None
        preview = draft_preview(draft=draft, as_of=as_of)
        if options["format"] == "json":
            self.stdout.write(json.dumps(preview.to_dict(), indent=2, ensure_ascii=False))
            return
        out, found_differences = self.stdout.write, preview.differences
        out(f"{draft.regime}@{draft.version_id} (draft) against {preview.current_label}, as of {as_of.isoformat()}")
        if preview.corrects:
            out(f"  corrects {draft.regime}@{preview.corrects} for its period")
        if preview.blockers:
            out("Publication refused until these are fixed:")
            for problem in preview.blockers:
                out(f"  {problem}")
        for row in found_differences.parameters:
            out(f"  parameter {row['parameter']}: {row['current']} -> {row['draft']} ({row['citation']})")
        for row in found_differences.tests_added:
            out(f"  test added {row['id']} [{row['applies_to']}]: {row['condition']}")
        for row in found_differences.tests_removed:
            out(f"  test removed {row['id']} [{row['applies_to']}]: {row['condition']}")
        for row in found_differences.tests_changed:
            out(f"  test changed {row['id']}: {row['current']} -> {row['draft']}")
        for row in found_differences.tiers:
            out(f"  tier {row['id']}: {row['current']} -> {row['draft']}")
        out(f"Subjects whose status would change ({len(preview.status_changes)} of {preview.subjects_evaluated}):")
        for change in preview.status_changes:
            flips = ", ".join(f"{f['id']}: {f['from'] or 'absent'} -> {f['to'] or 'absent'}" for f in change["flipped"])
            out(f"  {change['subject_ref']}: {change['from_status']} -> {change['to_status']} ({flips})")
        out(f"Subjects whose test outcomes change but not their status: {len(preview.test_changes)}")
