"""The rule library from the command line: list regimes and versions, show one, lint them all."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from rules.engine import RuleLibraryError, lint, load_library
from rules.engine.formatting import format_quantity


class Command(BaseCommand):
    help = (
        "rules list: every regime and version with its period and hash; rules show SLUG [VERSION]: "
        "parameters, tests and quoted texts; rules lint: check the library (exit 1 on any error)."
    )

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="List regimes and their versions.")
        show = sub.add_parser("show", help="Show a regime's version (the latest to take effect when VERSION is omitted).")
        show.add_argument("slug")
        show.add_argument("version", nargs="?")
        sub.add_parser("lint", help="Lint the library: overlaps, citations, units, operators, contract ids.")

    def handle(self, *args: Any, **options: Any) -> None:
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
        else:  # the latest to take effect; a text never in force only when the regime has no other
            dated = [v for v in versions if v.effective_from is not None]
            version = (dated or list(versions))[-1]
        out = self.stdout.write
        out(f"{version.regime_title} [{version.regime_slug}@{version.version_id}]")
        out(f"  {version.instrument.get('citation', '')}")
        out(f"  {version.instrument.get('url', '')}")
        out(f"  status {version.legal_status}; in force {version.effective_from or 'never'} to "
            f"{version.effective_to or 'open'}; last verified {version.last_verified_on}; provenance {version.provenance}")
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
