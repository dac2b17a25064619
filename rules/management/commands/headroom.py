"""How far a model or cluster is from each threshold, in the units people argue in."""
from __future__ import annotations

import json
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from rules.engine import headroom, max_dense_parameters
from rules.engine.defaults import default
from rules.engine.formatting import UNKNOWN, format_quantity
from rules.library_store import published_library
from rules.services import today, versions_for
from rules.subjects import SubjectError, accelerator_figures, snapshots_for


class Command(BaseCommand):
    help = (
        "Headroom of SUBJECT (model:ORG/NAME@VERSION or cluster:ORG/NAME) to every threshold in force on "
        "--as-of (default today; --all-versions uses each regime's latest version whatever its dates): the "
        "operations left, in reference-accelerator hours and USD for a model; the accelerators to add for a "
        "cluster. --tokens N instead prints the largest dense parameter count under each model threshold."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("subject", nargs="?")
        parser.add_argument("--as-of")
        parser.add_argument("--all-versions", action="store_true",
                            help="Use every regime's latest version, in force or not (proposed and vetoed texts too).")
        parser.add_argument("--tokens", help="A training token count, e.g. 30e12.")
        parser.add_argument("--format", choices=["table", "json"], default="table")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            as_of = date.fromisoformat(options["as_of"]) if options["as_of"] else today()
        except ValueError:
            raise CommandError(f"--as-of: {options['as_of']!r} is not a date written YYYY-MM-DD") from None
        library = published_library()
        if options["all_versions"]:
            versions = {slug: library.versions(slug)[-1] for slug in library.regimes()}
        else:
            versions = versions_for(library, as_of=as_of, regimes=None)
        if options["tokens"]:
            return self._tokens(options, versions)
        if not options["subject"]:
            raise CommandError("give a SUBJECT, or --tokens N")
        try:
            (item,) = snapshots_for([options["subject"]])
        except SubjectError as exc:
            raise CommandError(str(exc)) from exc
        if item.key.kind == "organisation":
            raise CommandError("headroom is for a model or a cluster")
        reference = default("reference_accelerator")
        item.snapshot["accelerators"].setdefault(reference, accelerator_figures()[reference])
        rows = [entry.to_dict() for entry in headroom(item.snapshot, versions=versions, as_of=as_of)]
        if options["format"] == "json":
            self.stdout.write(json.dumps(rows, indent=2))
            return
        self.stdout.write(f"Headroom of {item.key.ref} as of {as_of}")
        for row in rows:
            if row["value"] is None and row["threshold"] is None:
                continue  # a test this subject is not in scope of (e.g. a modification test for a base model)
            if row["already_above"]:
                row["note"] = ""
            if item.key.kind == "model":
                hours = row["accelerator_hours"]
                self.stdout.write(
                    f"  {row['regime']}/{row['test']}: {format_quantity(row['value'], 'ops')} {row['operator']} "
                    f"{format_quantity(row['threshold'], 'ops')}: "
                    + ("already above" if row["already_above"] else
                       f"{format_quantity(row['remaining_ops'], 'ops')} to go = "
                       + ", ".join(f"{format_quantity(v)} {row['reference_accelerator']}-hours at {k}" for k, v in hours.items())
                       + "; " + ", ".join(f"{format_quantity(v, 'usd')} to {format_quantity(row['usd_high'][k], 'usd')} ({k})"
                                          for k, v in row["usd_low"].items() if v is not None))
                    + (f" [{row['note']}]" if row["note"] else "")
                )
            else:
                self.stdout.write(
                    f"  {row['regime']}/{row['test']}: {format_quantity(row['value'], 'ops_per_second')} {row['operator']} "
                    f"{format_quantity(row['threshold'], 'ops_per_second')} ({row['reading']}): "
                    + ("already above" if row["already_above"] else
                       f"{row['more_accelerators']:,} more {row['accelerator']}" if row["more_accelerators"] is not None else UNKNOWN)
                    + (f" [{row['note']}]" if row["note"] else "")
                )

    def _tokens(self, options: dict[str, Any], versions: dict[str, Any]) -> None:
        from registry.interchange import InterchangeNumber

        try:
            tokens = InterchangeNumber(positive=True).to_internal_value(options["tokens"])
        except Exception as exc:  # DRF ValidationError carries the message
            raise CommandError(f"--tokens: {getattr(exc, 'detail', exc)}") from None
        rows = []
        for slug, version in versions.items():
            if version is None:
                continue
            for parameter in version.parameters.values():
                if parameter.unit == "ops":
                    rows.append({"regime": slug, "parameter": parameter.id, "operator": parameter.operator,
                                 "threshold": parameter.value,
                                 "max_dense_parameters": max_dense_parameters(training_tokens=tokens, threshold_ops=parameter.value)})
        if options["format"] == "json":
            self.stdout.write(json.dumps(rows, indent=2))
            return
        self.stdout.write(f"At {format_quantity(tokens)} training tokens (6 x parameters x tokens):")
        for row in rows:
            self.stdout.write(f"  {row['regime']}/{row['parameter']} ({row['operator']} {format_quantity(row['threshold'], 'ops')}): "
                              f"at most {format_quantity(row['max_dense_parameters'])} dense parameters")
