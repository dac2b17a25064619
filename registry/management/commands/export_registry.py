"""Writes the whole registry as an interchange document; importing it gives the same registry."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from registry.selectors import registry_export


class Command(BaseCommand):
    help = ("Export the registry (each record's latest revision, and the designations not withdrawn) as "
            "interchange JSON, to --out or standard output.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--out", help="File to write; standard output when omitted.")

    def handle(self, *args: Any, **options: Any) -> None:
        text = json.dumps(registry_export(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"
        if options["out"]:
            Path(options["out"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"Wrote {options['out']}")
        else:
            self.stdout.write(text, ending="")
