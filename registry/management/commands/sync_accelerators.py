"""Brings the accelerator catalog in step with registry/data/accelerators.csv (migrate does this too)."""
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from registry.catalog import CatalogError, catalog_sync


class Command(BaseCommand):
    help = "Load or refresh the accelerator catalog from registry/data/accelerators.csv."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            created, updated = catalog_sync()
        except CatalogError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"accelerators: {created} created, {updated} updated")
